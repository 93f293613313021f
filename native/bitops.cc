// The bitwise runtime's native kernels (src/runtime/kernels.ts is the contract): binary
// convolution by XOR + popcount over packed sign bits, int8 convolution with int32 sums, float
// convolutions. NHWC activations, output-channel-major weights, caller-owned typed arrays; the
// geometry comes as an Int32Array [n, h, w, c, kh, kw, strideH, strideW, padTop, padLeft, outH,
// outW, outC]. Padding taps are skipped (they contribute 0). Threads: OpenMP over output rows.
// The binary inner loop is compiled three times (AVX-512 VPOPCNTDQ, AVX2, baseline) and chosen
// at run time with __builtin_cpu_supports.
#include <node_api.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <cstring>
#include <immintrin.h>
#include <vector>

namespace {

#define BITOPS_CALL(env, call)                                                   \
  do {                                                                           \
    if ((call) != napi_ok) {                                                     \
      napi_throw_error((env), nullptr, "lowbit bitops: N-API call failed");      \
      return nullptr;                                                            \
    }                                                                            \
  } while (0)

struct Geometry {
  int n, h, w, c, kh, kw, sh, sw, pt, pl, oh, ow, oc;
};

// The AVX2 binary convolution's epilogue (binaryRowAvx2, defined with the elementwise passes).
struct BinaryEpilogue {
  int32_t* out = nullptr;
  const int32_t* sg = nullptr;
  const int32_t* th = nullptr;
  uint32_t* bits = nullptr;
  const float* a = nullptr;
  const float* b = nullptr;
  bool relu = false;
  const float* res = nullptr;
  const float* alpha = nullptr;
  float* fout = nullptr;
};
void binaryConvAvx2(const uint32_t* x, const uint32_t* w, const Geometry& g, BinaryEpilogue e);
const bool hasAvx2Popcnt = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");

template <typename T>
bool typedArray(napi_env env, napi_value v, napi_typedarray_type want, T** data, size_t* length) {
  napi_typedarray_type type;
  void* ptr;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, &ptr, &buffer, &offset) != napi_ok || type != want) return false;
  *data = static_cast<T*>(ptr);
  return true;
}

bool readGeometry(napi_env env, napi_value v, Geometry* g) {
  int32_t* p;
  size_t len;
  if (!typedArray(env, v, napi_int32_array, &p, &len) || len != 13) return false;
  std::memcpy(g, p, sizeof(Geometry));
  return true;
}

// Argument readers shared by the N-API entry points: a typed array of one type (or null/undefined
// when `optional`), a geometry, a double, a bool. A missing or mistyped argument clears `ok`
// (the caller then throws its usage line); `opt` reads an optional extra array without that.
struct Args {
  napi_env env;
  napi_value v[16];
  size_t argc = 16;
  bool ok = true;
  Args(napi_env e, napi_callback_info info) : env(e) { ok = napi_get_cb_info(e, info, &argc, v, nullptr, nullptr) == napi_ok; }
  template <typename T>
  T* arr(size_t i, napi_typedarray_type type, size_t* len, bool optional = false) {
    *len = 0;
    if (!ok || i >= argc) { ok = false; return nullptr; }
    napi_valuetype t;
    napi_typeof(env, v[i], &t);
    if (optional && (t == napi_null || t == napi_undefined)) return nullptr;
    T* p = nullptr;
    if (!typedArray(env, v[i], type, &p, len)) ok = false;
    return p;
  }
  // Argument i when it is a typed array of `type`, else null (absent, another type: not an error).
  template <typename T>
  T* opt(size_t i, napi_typedarray_type type, size_t* len) {
    *len = 0;
    T* p = nullptr;
    if (!ok || i >= argc || !typedArray(env, v[i], type, &p, len)) return nullptr;
    return p;
  }
  bool geometry(size_t i, Geometry* g) {
    if (!ok || i >= argc || !readGeometry(env, v[i], g)) ok = false;
    return ok;
  }
  // The convolutions' first three arguments: x and w (typed arrays of `type`), the geometry.
  template <typename T>
  void conv(napi_typedarray_type type, T** x, size_t* xl, T** w, size_t* wl, Geometry* g) {
    *x = arr<T>(0, type, xl);
    *w = arr<T>(1, type, wl);
    geometry(2, g);
  }
  double num(size_t i) {
    double d = 0;
    if (!ok || i >= argc || napi_get_value_double(env, v[i], &d) != napi_ok) ok = false;
    return d;
  }
  bool flag(size_t i) {
    bool b = false;
    if (!ok || i >= argc || napi_get_value_bool(env, v[i], &b) != napi_ok) ok = false;
    return b;
  }
  napi_value fail(const char* usage) {
    napi_throw_type_error(env, nullptr, usage);
    return nullptr;
  }
  napi_value range(const char* what) {
    napi_throw_range_error(env, nullptr, what);
    return nullptr;
  }
  // A boolean result (the fused entry points' "done here").
  napi_value boolean(bool b) {
    napi_value r;
    return napi_get_boolean(env, b, &r) == napi_ok ? r : nullptr;
  }
};

// Σ popcount(a[k] XOR b[k]) over `words` 32-bit words, 64 bits at a time. Inlined into each
// target-specific convolution below, so the compiler emits POPCNT / VPOPCNTQ for that target.
static inline __attribute__((always_inline)) int xorPop(const uint32_t* a, const uint32_t* b, int words) {
  int s = 0;
  int k = 0;
  for (; k + 2 <= words; k += 2) {
    uint64_t x, y;
    std::memcpy(&x, a + k, 8);
    std::memcpy(&y, b + k, 8);
    s += __builtin_popcountll(x ^ y);
  }
  if (k < words) s += __builtin_popcount(a[k] ^ b[k]);
  return s;
}

// One output row (batch element b, row oy) of the binary convolution. Interior pixels (every tap
// in the image) gather their kh·kw taps into one contiguous patch (bit-level im2col), so each
// output channel is one run of kh·kw·words words against its contiguous weights; border pixels
// count kernel row by kernel row over the in-image taps.
static inline __attribute__((always_inline)) void binaryRowBody(const uint32_t* x, const uint32_t* w, const Geometry& g, int b, int oy, uint32_t* patch, int32_t* out) {
  const int words = (g.c + 31) / 32;
  const int rowRun = g.kw * words;
  const int patchWords = g.kh * rowRun;
  const int iy0 = oy * g.sh - g.pt;
  const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
  for (int ox = 0; ox < g.ow; ox++) {
    const int ix0 = ox * g.sw - g.pl;
    const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
    const int taps = std::max(0, ky1 - ky0) * std::max(0, kx1 - kx0);
    int32_t* o = out + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.oc;
    if (taps == g.kh * g.kw) {
      const uint32_t* xr = x + ((static_cast<int64_t>(b) * g.h + iy0) * g.w + ix0) * words;
      for (int ky = 0; ky < g.kh; ky++) std::memcpy(patch + ky * rowRun, xr + static_cast<int64_t>(ky) * g.w * words, rowRun * 4);
      const int full = g.c * taps;
      for (int oc = 0; oc < g.oc; oc++) o[oc] = full - 2 * xorPop(patch, w + static_cast<int64_t>(oc) * patchWords, patchWords);
      continue;
    }
    const int run = std::max(0, kx1 - kx0) * words;
    const uint32_t* xb = x + ((static_cast<int64_t>(b) * g.h + iy0) * g.w + ix0 + kx0) * words;
    for (int oc = 0; oc < g.oc; oc++) {
      const uint32_t* wb = w + (static_cast<int64_t>(oc) * g.kh * g.kw + kx0) * words;
      int differ = 0;
      // Taps kx0..kx1 of a kernel row are contiguous in x and w: one run of (kx1 − kx0)·words
      // words (unused high bits are 0 in both operands, so 64-bit pairs may straddle pixels).
      for (int ky = ky0; ky < ky1; ky++) differ += xorPop(xb + static_cast<int64_t>(ky) * g.w * words, wb + ky * g.kw * words, run);
      o[oc] = g.c * taps - 2 * differ;
    }
  }
}

// The row function compiled per target (OpenMP's outlined loop is not, so the target-specific
// code lives in these and the threaded loop calls one through a pointer, once per row).
__attribute__((target("avx512f,avx512vpopcntdq,popcnt"))) void binaryRowAvx512(const uint32_t* x, const uint32_t* w, const Geometry& g, int b, int oy, uint32_t* p, int32_t* out) { binaryRowBody(x, w, g, b, oy, p, out); }
__attribute__((target("avx2,popcnt"))) void binaryRowAvx2(const uint32_t* x, const uint32_t* w, const Geometry& g, int b, int oy, uint32_t* p, int32_t* out) { binaryRowBody(x, w, g, b, oy, p, out); }
void binaryRowBase(const uint32_t* x, const uint32_t* w, const Geometry& g, int b, int oy, uint32_t* p, int32_t* out) { binaryRowBody(x, w, g, b, oy, p, out); }

using BinaryRow = void (*)(const uint32_t*, const uint32_t*, const Geometry&, int, int, uint32_t*, int32_t*);

BinaryRow pickBinaryRow(const char** name) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512vpopcntdq")) { *name = "avx512vpopcntdq"; return binaryRowAvx512; }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt")) { *name = "avx2"; return binaryRowAvx2; }
  *name = "baseline";
  return binaryRowBase;
}

const char* popcountVariant = nullptr;
const BinaryRow binaryRow = pickBinaryRow(&popcountVariant);

void binaryConv(const uint32_t* x, const uint32_t* w, const Geometry& g, int32_t* out) {
  const int words = (g.c + 31) / 32;
  const int patchWords = g.kh * g.kw * words;
#pragma omp parallel if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * g.kh * g.kw * words > (1 << 22))
  {
    std::vector<uint32_t> patch(patchWords + 1);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < g.n; b++)
      for (int oy = 0; oy < g.oh; oy++) binaryRow(x, w, g, b, oy, patch.data(), out);
  }
}

// AVX-512 VPOPCNTDQ, output channels 16 at a time: weights interleaved as [⌈outC/16⌉][kh·kw·words][16]
// (`wt`, built once per layer by the caller), so each input word is broadcast and XOR-popcounted
// against 16 output channels' words in one instruction, accumulating 16 int32 lanes — no
// horizontal sums. Padding taps are skipped as everywhere else.
// With `sg`/`th`/`bits` (the next binary layer's sign bits, packThreshold fused): each block's 16
// results r become 16 bits sg·r > th in one comparison, written as one 16-bit half of a packed
// word; no int32 result is stored.
// affineInt on 16 int32 results in registers: fround(r·a + b) in double with explicitly rounded
// operations (never contracted into a fused multiply-add), ReLU: 0 where the double is < 0;
// stored under `valid`.
__attribute__((target("avx512f"))) static inline void affineStore16(__m512i res, const float* ea, const float* eb, bool relu, __mmask16 valid, float* dst) {
  const __m512 af = _mm512_maskz_loadu_ps(valid, ea), bf = _mm512_maskz_loadu_ps(valid, eb);
  const __m512d lo = _mm512_add_round_pd(_mm512_mul_round_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(res)), _mm512_cvtps_pd(_mm512_castps512_ps256(af)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                                         _mm512_cvtps_pd(_mm512_castps512_ps256(bf)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512d hi = _mm512_add_round_pd(_mm512_mul_round_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(res, 1)), _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(af), 1))), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC),
                                         _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(bf), 1))), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 f = _mm512_castps256_ps512(_mm512_cvtpd_ps(lo));
  f = _mm512_castpd_ps(_mm512_insertf64x4(_mm512_castps_pd(f), _mm256_castps_pd(_mm512_cvtpd_ps(hi)), 1));
  if (relu) {
    const __mmask8 nlo = _mm512_cmp_pd_mask(lo, _mm512_setzero_pd(), _CMP_LT_OQ), nhi = _mm512_cmp_pd_mask(hi, _mm512_setzero_pd(), _CMP_LT_OQ);
    f = _mm512_mask_mov_ps(f, static_cast<__mmask16>(nlo | (static_cast<unsigned>(nhi) << 8)), _mm512_setzero_ps());
  }
  _mm512_mask_storeu_ps(dst, valid, f);
}

// With `ea`/`eb` (affineInt fused): floats fround(r·a + b) (ReLU: 0 where r·a + b < 0) into `fout`,
// in double as affineInt computes them (explicitly rounded operations, never contracted).
__attribute__((target("avx512f,avx512bw,avx512vpopcntdq"))) void binaryRowBlocked(const uint32_t* x, const uint32_t* wt, const Geometry& g, int b, int oy, int32_t* out,
                                                                              const int32_t* sg = nullptr, const int32_t* th = nullptr, uint32_t* bits = nullptr,
                                                                              const float* ea = nullptr, const float* eb = nullptr, bool erelu = false, float* fout = nullptr) {
  const int outWords = (g.oc + 31) / 32;
  const int words = (g.c + 31) / 32;
  const int K = g.kh * g.kw * words;
  const int blocks = (g.oc + 15) / 16;
  const int iy0 = oy * g.sh - g.pt;
  const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
  for (int ox = 0; ox < g.ow; ox++) {
    const int ix0 = ox * g.sw - g.pl;
    const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
    const int taps = std::max(0, ky1 - ky0) * std::max(0, kx1 - kx0);
    const int run = std::max(0, kx1 - kx0) * words;
    int32_t* o = out + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.oc;
    const __m512i full = _mm512_set1_epi32(g.c * taps);
    for (int blk = 0; blk < blocks; blk++) {
      const uint32_t* wb = wt + static_cast<int64_t>(blk) * K * 16;
      __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
      for (int ky = ky0; ky < ky1; ky++) {
        const uint32_t* xr = x + ((static_cast<int64_t>(b) * g.h + iy0 + ky) * g.w + ix0 + kx0) * words;
        const uint32_t* wr = wb + static_cast<int64_t>((ky * g.kw + kx0) * words) * 16;
        int k = 0;
        for (; k + 2 <= run; k += 2) {
          acc0 = _mm512_add_epi32(acc0, _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(static_cast<int>(xr[k])), _mm512_loadu_si512(wr + k * 16))));
          acc1 = _mm512_add_epi32(acc1, _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(static_cast<int>(xr[k + 1])), _mm512_loadu_si512(wr + (k + 1) * 16))));
        }
        if (k < run) acc0 = _mm512_add_epi32(acc0, _mm512_popcnt_epi32(_mm512_xor_si512(_mm512_set1_epi32(static_cast<int>(xr[k])), _mm512_loadu_si512(wr + k * 16))));
      }
      const __m512i res = _mm512_sub_epi32(full, _mm512_slli_epi32(_mm512_add_epi32(acc0, acc1), 1));
      const int rem = g.oc - blk * 16;
      const __mmask16 valid = rem >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << rem) - 1);
      if (fout) {
        affineStore16(res, ea + blk * 16, eb + blk * 16, erelu, valid, fout + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.oc + blk * 16);
      } else if (bits) {
        const __m512i v = _mm512_mullo_epi32(_mm512_maskz_loadu_epi32(valid, sg + blk * 16), res);
        reinterpret_cast<uint16_t*>(bits + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * outWords)[blk] =
            _mm512_mask_cmpgt_epi32_mask(valid, v, _mm512_maskz_loadu_epi32(valid, th + blk * 16));
      } else {
        _mm512_mask_storeu_epi32(o + blk * 16, valid, res);
      }
    }
    if (bits && (blocks & 1)) reinterpret_cast<uint16_t*>(bits + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * outWords)[blocks] = 0;
  }
}

// binaryConv2dAffine(x, w, geometry, wt, a, b, relu, out: Float32Array): the binary convolution with
// affineInt fused (same conditions and return value as binaryConv2dThreshold).
napi_value BinaryConv2dAffine(napi_env env, napi_callback_info info) {
  Args A(env, info);
  uint32_t *x, *w;
  size_t xl, wl, wtl, al, bl, ol;
  Geometry g;
  A.conv(napi_uint32_array, &x, &xl, &w, &wl, &g);
  const uint32_t* wt = A.arr<uint32_t>(3, napi_uint32_array, &wtl);
  const float* a = A.arr<float>(4, napi_float32_array, &al);
  const float* bb = A.arr<float>(5, napi_float32_array, &bl);
  const bool relu = A.flag(6);
  float* out = A.arr<float>(7, napi_float32_array, &ol);
  // Optional: res (Float32Array, the output's shape: a residual Add fused) and alpha (Float32Array(oc): PReLU after it).
  size_t rl = 0, pl = 0;
  const float* res = A.argc > 8 ? A.arr<float>(8, napi_float32_array, &rl, true) : nullptr;
  const float* alpha = A.argc > 9 ? A.arr<float>(9, napi_float32_array, &pl, true) : nullptr;
  if (!A.ok) return A.fail("binaryConv2dAffine(x, w, geometry, wt, a, b, relu, out, res?: Float32Array | null, alpha?: Float32Array | null)");
  const int words = (g.c + 31) / 32;
  const size_t blockedWords = static_cast<size_t>((g.oc + 15) / 16) * g.kh * g.kw * words * 16;
  const size_t outLen = static_cast<size_t>(g.n) * g.oh * g.ow * g.oc;
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * words || wl < static_cast<size_t>(g.oc) * g.kh * g.kw * words || al < static_cast<size_t>(g.oc) || bl < static_cast<size_t>(g.oc) ||
      ol < outLen || (res && rl < outLen) || (alpha && pl < static_cast<size_t>(g.oc)))
    return A.range("binaryConv2dAffine: an array is shorter than the geometry needs");
  const bool avx512 = popcountVariant == std::string("avx512vpopcntdq") && __builtin_cpu_supports("avx512bw");
  // The AVX2 kernel: without AVX-512 VPOPCNTDQ, or with the residual / PReLU epilogue (which the AVX-512 row has not).
  if (hasAvx2Popcnt && (!avx512 || res || alpha)) {
    BinaryEpilogue e;
    e.a = a;
    e.b = bb;
    e.relu = relu;
    e.res = res;
    e.alpha = alpha;
    e.fout = out;
    binaryConvAvx2(x, w, g, e);
    return A.boolean(true);
  }
  if (!avx512 || res || alpha) return A.boolean(false);
  if (wtl < blockedWords) return A.range("binaryConv2dAffine: an array is shorter than the geometry needs");
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * g.kh * g.kw * words > (1 << 24))
  for (int b = 0; b < g.n; b++)
    for (int oy = 0; oy < g.oh; oy++) binaryRowBlocked(x, wt, g, b, oy, nullptr, nullptr, nullptr, nullptr, a, bb, relu, out);
  return A.boolean(true);
}

// binaryConv2dThreshold(x, w, geometry, wt, sign, t, out: Uint32Array): the binary convolution with
// packThreshold fused (AVX-512 VPOPCNTDQ, interleaved weights `wt`). Returns false, doing nothing,
// where that path does not exist (the caller then runs binaryConv2d and packThreshold).
napi_value BinaryConv2dThreshold(napi_env env, napi_callback_info info) {
  Args A(env, info);
  uint32_t *x, *w;
  size_t xl, wl, wtl, sl, tl, ol;
  Geometry g;
  A.conv(napi_uint32_array, &x, &xl, &w, &wl, &g);
  const uint32_t* wt = A.arr<uint32_t>(3, napi_uint32_array, &wtl);
  const int32_t* sg = A.arr<int32_t>(4, napi_int32_array, &sl);
  const int32_t* th = A.arr<int32_t>(5, napi_int32_array, &tl);
  uint32_t* out = A.arr<uint32_t>(6, napi_uint32_array, &ol);
  if (!A.ok) return A.fail("binaryConv2dThreshold(x, w, geometry, wt, sign, t, out)");
  const int words = (g.c + 31) / 32;
  const size_t blockedWords = static_cast<size_t>((g.oc + 15) / 16) * g.kh * g.kw * words * 16;
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * words || wl < static_cast<size_t>(g.oc) * g.kh * g.kw * words || sl < static_cast<size_t>(g.oc) || tl < static_cast<size_t>(g.oc) ||
      ol < static_cast<size_t>(g.n) * g.oh * g.ow * ((g.oc + 31) / 32))
    return A.range("binaryConv2dThreshold: an array is shorter than the geometry needs");
  if (popcountVariant != std::string("avx512vpopcntdq") || !__builtin_cpu_supports("avx512bw")) {
    if (!hasAvx2Popcnt) return A.boolean(false);
    BinaryEpilogue e;
    e.sg = sg;
    e.th = th;
    e.bits = out;
    binaryConvAvx2(x, w, g, e);
    return A.boolean(true);
  }
  if (wtl < blockedWords) return A.range("binaryConv2dThreshold: an array is shorter than the geometry needs");
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * g.kh * g.kw * words > (1 << 24))
  for (int b = 0; b < g.n; b++)
    for (int oy = 0; oy < g.oh; oy++) binaryRowBlocked(x, wt, g, b, oy, nullptr, sg, th, out);
  return A.boolean(true);
}

napi_value BinaryConv2d(napi_env env, napi_callback_info info) {
  Args A(env, info);
  uint32_t *x, *w;
  size_t xl, wl, ol;
  Geometry g;
  A.conv(napi_uint32_array, &x, &xl, &w, &wl, &g);
  int32_t* out = A.arr<int32_t>(3, napi_int32_array, &ol);
  if (!A.ok) return A.fail("binaryConv2d(x: Uint32Array, w: Uint32Array, geometry: Int32Array(13), out: Int32Array)");
  const int words = (g.c + 31) / 32;
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * words || wl < static_cast<size_t>(g.oc) * g.kh * g.kw * words || ol < static_cast<size_t>(g.n) * g.oh * g.ow * g.oc)
    return A.range("binaryConv2d: an array is shorter than the geometry needs");
  // Optional 5th argument: the weights interleaved 16 output channels at a time (binaryRowBlocked).
  size_t wtl = 0;
  const size_t blockedWords = static_cast<size_t>((g.oc + 15) / 16) * g.kh * g.kw * words * 16;
  const uint32_t* wt = popcountVariant == std::string("avx512vpopcntdq") ? A.opt<uint32_t>(4, napi_uint32_array, &wtl) : nullptr;
  if (wt && wtl >= blockedWords) {
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * g.kh * g.kw * words > (1 << 24))
    for (int b = 0; b < g.n; b++)
      for (int oy = 0; oy < g.oh; oy++) binaryRowBlocked(x, wt, g, b, oy, out);
    return nullptr;
  }
  if (!wt && hasAvx2Popcnt && popcountVariant != std::string("avx512vpopcntdq")) {
    BinaryEpilogue e;
    e.out = out;
    binaryConvAvx2(x, w, g, e);
    return nullptr;
  }
  binaryConv(x, w, g, out);
  return nullptr;
}

// One output row of the int8 convolution: int32 sums of int8 products over each kernel row's
// contiguous in-image taps (the compiler vectorises the inner loop for each target below).
static inline __attribute__((always_inline)) void int8RowBody(const int8_t* x, const int8_t* w, const Geometry& g, int b, int oy, int32_t* out) {
  const int iy0 = oy * g.sh - g.pt;
  const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
  for (int ox = 0; ox < g.ow; ox++) {
    const int ix0 = ox * g.sw - g.pl;
    const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
    int32_t* o = out + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.oc;
    const int run = std::max(0, kx1 - kx0) * g.c;
    for (int oc = 0; oc < g.oc; oc++) {
      int32_t acc = 0;
      for (int ky = ky0; ky < ky1; ky++) {
        const int8_t* xr = x + ((static_cast<int64_t>(b) * g.h + iy0 + ky) * g.w + ix0 + kx0) * g.c;
        const int8_t* wr = w + ((static_cast<int64_t>(oc) * g.kh + ky) * g.kw + kx0) * g.c;
        for (int k = 0; k < run; k++) acc += static_cast<int32_t>(xr[k]) * static_cast<int32_t>(wr[k]);
      }
      o[oc] = acc;
    }
  }
}

__attribute__((target("avx512f,avx512bw,avx512vl"))) void int8RowAvx512(const int8_t* x, const int8_t* w, const Geometry& g, int b, int oy, int32_t* out) { int8RowBody(x, w, g, b, oy, out); }
__attribute__((target("avx2"))) void int8RowAvx2(const int8_t* x, const int8_t* w, const Geometry& g, int b, int oy, int32_t* out) { int8RowBody(x, w, g, b, oy, out); }
void int8RowBase(const int8_t* x, const int8_t* w, const Geometry& g, int b, int oy, int32_t* out) { int8RowBody(x, w, g, b, oy, out); }

using Int8Row = void (*)(const int8_t*, const int8_t*, const Geometry&, int, int, int32_t*);
const Int8Row int8Row = __builtin_cpu_supports("avx512bw") ? int8RowAvx512 : __builtin_cpu_supports("avx2") ? int8RowAvx2 : int8RowBase;

// AVX-512 VNNI: each output pixel's kh·kw·c codes are gathered into one patch as unsigned
// x + 128 (x XOR 0x80), padded to K4·4 bytes; each 4-byte group is broadcast and `vpdpbusd` adds
// its 4 u8·s8 products for 16 output channels at once, against weights interleaved as
// [⌈outC/16⌉][K4][16][4] (`wp`, zero padded). Four pixels share each weight load. Padding taps hold
// x = 0, i.e. 128, so the sum is Σ (x + 128)·w = Σ x·w + 128·Σ w over all taps: subtracting
// 128·Σ w (`wsum`, per output channel, padded to 16) leaves the exact integer sum.
// With `ea`/`eb`: affineInt fused (floats into `fout`, as binaryRowBlocked).
// The P pixels' patches (x + 128 as unsigned bytes, padding taps 128, zero padded to K4·4) of the
// padded-weight int8 kernels (VNNI and AVX2).
template <int P>
static inline __attribute__((always_inline)) void int8Patches(const int8_t* x, uint8_t* patch, const Geometry& g, int b, int oy, int ox0) {
  const int K = g.kh * g.kw * g.c;
  const int K4 = (K + 3) / 4;
  const int iy0 = oy * g.sh - g.pt;
  for (int q = 0; q < P; q++) {
    uint8_t* pq = patch + q * K4 * 4;
    const int ix0 = (ox0 + q) * g.sw - g.pl;
    for (int ky = 0; ky < g.kh; ky++)
      for (int kx = 0; kx < g.kw; kx++) {
        const int iy = iy0 + ky, ix = ix0 + kx;
        uint8_t* pp = pq + (ky * g.kw + kx) * g.c;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) std::memset(pp, 0x80, g.c);
        else {
          const uint8_t* src = reinterpret_cast<const uint8_t*>(x) + ((static_cast<int64_t>(b) * g.h + iy) * g.w + ix) * g.c;
          for (int k = 0; k < g.c; k++) pp[k] = src[k] ^ 0x80;
        }
      }
    for (int k = K; k < K4 * 4; k++) pq[k] = 0x80;
  }
}

template <int P>
__attribute__((target("avx512f,avx512bw,avx512vnni"))) inline void int8PixelsVnni(const int8_t* x, const int8_t* wp, const int32_t* wsum, uint8_t* patch, const Geometry& g, int b, int oy, int ox0, int32_t* out,
                                                                                   const float* ea, const float* eb, bool erelu, float* fout) {
  const int K4 = (g.kh * g.kw * g.c + 3) / 4;
  int8Patches<P>(x, patch, g, b, oy, ox0);
  const int blocks = (g.oc + 15) / 16;
  for (int blk = 0; blk < blocks; blk++) {
    const int8_t* wb = wp + static_cast<int64_t>(blk) * K4 * 64;
    __m512i acc[P];
    for (int q = 0; q < P; q++) acc[q] = _mm512_setzero_si512();
    for (int k4 = 0; k4 < K4; k4++) {
      const __m512i wv = _mm512_loadu_si512(wb + static_cast<int64_t>(k4) * 64);
      for (int q = 0; q < P; q++) {
        int32_t four;
        std::memcpy(&four, patch + q * K4 * 4 + k4 * 4, 4);
        acc[q] = _mm512_dpbusd_epi32(acc[q], _mm512_set1_epi32(four), wv);
      }
    }
    const __m512i corr = _mm512_slli_epi32(_mm512_loadu_si512(wsum + blk * 16), 7);
    const int rem = g.oc - blk * 16;
    const __mmask16 valid = rem >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << rem) - 1);
    for (int q = 0; q < P; q++) {
      const int64_t at = ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox0 + q) * g.oc + blk * 16;
      if (fout) affineStore16(_mm512_sub_epi32(acc[q], corr), ea + blk * 16, eb + blk * 16, erelu, valid, fout + at);
      else _mm512_mask_storeu_epi32(out + at, valid, _mm512_sub_epi32(acc[q], corr));
    }
  }
}

__attribute__((target("avx512f,avx512bw,avx512vnni"))) void int8RowVnni(const int8_t* x, const int8_t* wp, const int32_t* wsum, uint8_t* patch, const Geometry& g, int b, int oy, int32_t* out,
                                                                         const float* ea = nullptr, const float* eb = nullptr, bool erelu = false, float* fout = nullptr) {
  int ox = 0;
  for (; ox + 4 <= g.ow; ox += 4) int8PixelsVnni<4>(x, wp, wsum, patch, g, b, oy, ox, out, ea, eb, erelu, fout);
  for (; ox < g.ow; ox++) int8PixelsVnni<1>(x, wp, wsum, patch, g, b, oy, ox, out, ea, eb, erelu, fout);
}

const bool hasVnni = __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512bw");

// AVX2 without VNNI: the VNNI kernel's patches, weight layout ([⌈outC/16⌉][K4][16][4], read as two
// halves of 8 channels) and correction, with `vpmaddubsw` (u8·s8 products added in pairs into
// int16) and `vpmaddwd` by 1 (pairs of those into int32) for `vpdpbusd`. vpmaddubsw saturates at
// ±32767, so the sums are exact only while every weight code is within ±64 (2·255·64 = 32640):
// int8Avx2Applies checks that once per weight array. 2-bit models' codes are far inside.
template <int P>
__attribute__((target("avx2"))) inline void int8PixelsAvx2(const int8_t* x, const int8_t* wp, const int32_t* wsum, uint8_t* patch, const Geometry& g, int b, int oy, int ox0, int32_t* out,
                                                           const float* ea, const float* eb, bool erelu, float* fout) {
  const int K4 = (g.kh * g.kw * g.c + 3) / 4;
  int8Patches<P>(x, patch, g, b, oy, ox0);
  const __m256i ones16 = _mm256_set1_epi16(1);
  for (int o0 = 0; o0 < g.oc; o0 += 8) {
    const int8_t* wb = wp + static_cast<int64_t>(o0 >> 4) * K4 * 64 + (o0 & 8) * 4;
    __m256i acc[P];
    for (int q = 0; q < P; q++) acc[q] = _mm256_setzero_si256();
    for (int k4 = 0; k4 < K4; k4++) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + static_cast<int64_t>(k4) * 64));
      for (int q = 0; q < P; q++) {
        int32_t four;
        std::memcpy(&four, patch + q * K4 * 4 + k4 * 4, 4);
        acc[q] = _mm256_add_epi32(acc[q], _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi32(four), wv), ones16));
      }
    }
    const __m256i corr = _mm256_slli_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wsum + o0)), 7);
    const int n = std::min(8, g.oc - o0);
    for (int q = 0; q < P; q++) {
      alignas(32) int32_t r[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(r), _mm256_sub_epi32(acc[q], corr));
      const int64_t at = ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox0 + q) * g.oc + o0;
      if (fout) {
        // affineInt's arithmetic (AffineInt below): double, no FMA on this target.
        for (int o = 0; o < n; o++) {
          const double v = static_cast<double>(r[o]) * ea[o0 + o] + eb[o0 + o];
          fout[at + o] = erelu && v < 0 ? 0.f : static_cast<float>(v);
        }
      } else {
        for (int o = 0; o < n; o++) out[at + o] = r[o];
      }
    }
  }
}

__attribute__((target("avx2"))) void int8RowAvx2Padded(const int8_t* x, const int8_t* wp, const int32_t* wsum, uint8_t* patch, const Geometry& g, int b, int oy, int32_t* out,
                                                       const float* ea = nullptr, const float* eb = nullptr, bool erelu = false, float* fout = nullptr) {
  int ox = 0;
  for (; ox + 4 <= g.ow; ox += 4) int8PixelsAvx2<4>(x, wp, wsum, patch, g, b, oy, ox, out, ea, eb, erelu, fout);
  for (; ox < g.ow; ox++) int8PixelsAvx2<1>(x, wp, wsum, patch, g, b, oy, ox, out, ea, eb, erelu, fout);
}

const bool hasInt8Avx2 = !hasVnni && __builtin_cpu_supports("avx2");

// Whether the AVX2 padded kernel is exact for these padded weights (every code within ±64); the
// answer is kept on the array (napi_wrap; runtime weights never change). The padding is 0.
void finalizeFits(napi_env, void* data, void*) { delete static_cast<bool*>(data); }
bool int8Avx2Applies(napi_env env, napi_value wpv, const int8_t* wp, size_t len) {
  if (!hasInt8Avx2) return false;
  void* p = nullptr;
  if (napi_unwrap(env, wpv, &p) == napi_ok && p != nullptr) return *static_cast<bool*>(p);
  bool fits = true;
  for (size_t i = 0; i < len && fits; i++) fits = wp[i] >= -64 && wp[i] <= 64;
  auto* f = new bool(fits);
  if (napi_wrap(env, wpv, f, finalizeFits, nullptr, nullptr) != napi_ok) delete f;
  return fits;
}

// One row of a padded-weight int8 kernel: VNNI where the CPU has it, else AVX2.
void int8RowPadded(const int8_t* x, const int8_t* wp, const int32_t* wsum, uint8_t* patch, const Geometry& g, int b, int oy, int32_t* out,
                   const float* ea = nullptr, const float* eb = nullptr, bool erelu = false, float* fout = nullptr) {
  if (hasVnni) int8RowVnni(x, wp, wsum, patch, g, b, oy, out, ea, eb, erelu, fout);
  else int8RowAvx2Padded(x, wp, wsum, patch, g, b, oy, out, ea, eb, erelu, fout);
}

// ---------------------------------------------------------------------------------------------
// Bit-serial int8 convolution (AVX-512 VPOPCNTDQ) for low-bit codes: the same integer sums as the
// int8 kernels, Σ w·x, computed from bit planes when the weight codes take few levels and the
// activation codes are small and non-negative (DoReFa W1/A2, W2/A2: issue 20's 2-bit models).
// Weight codes w = wmin + step·u with u < 2^BW (wmin, step per layer: the least code and the gcd
// of the differences), activation codes x < 2^BA (checked on every call, so any input is exact:
// otherwise the call falls back to the int8 kernels). Then
//   Σ w·x = wmin·Σ x + step·Σ_{i,j} 2^(i+j)·popcount(U_i AND X_j),
// with U_i, X_j the bit planes of a pixel's patch: its kh·kw·c codes in the weights' order
// (k = (ky·kw + kx)·c + ch), packed contiguously — no unused bits between taps, so lenet5's
// conv2 patch (5·5·20 = 500 codes) is 16 words per plane. Padding taps are 0 in every plane (x = 0),
// as they contribute nothing to the int8 sums either. Output channels 16 at a time as
// binaryRowBlocked: each patch word is broadcast and AND-popcounted against 16 channels' words
// (weights [⌈outC/16⌉][⌈K/32⌉][BW][16]), accumulating int32 lanes, 4 pixels sharing each weight load.
struct BitSerialWeights {
  int kh, kw, c, oc;
  int bw;  // weight planes (1 or 2); 0: the codes take too many levels (no bit-serial path)
  int wmin, step;
  int k32;  // 32-bit words per patch plane
  std::vector<uint32_t> planes;
  // The portable kernel's layout, built on its first use: [oc][bw][⌈K/64⌉] 64-bit words.
  std::vector<uint64_t> rows;
};

void finalizeBitSerial(napi_env, void* data, void*) { delete static_cast<BitSerialWeights*>(data); }

const bool hasBitSerial = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vpopcntdq");
// LOWBIT_BITSERIAL=0 keeps the int8 convolutions off the bit-serial path (to compare the two kernels).
const bool bitSerialEnabled = [] { const char* e = std::getenv("LOWBIT_BITSERIAL"); return e == nullptr || std::string(e) != "0"; }();

// The bit-plane weights of `w` (int8 codes [oc][kh][kw][c]), built on first use and kept on the
// weight array itself (napi_wrap: freed with it; runtime weights never change). Null when the
// array was first used under another geometry.
BitSerialWeights* bitSerialWeights(napi_env env, napi_value wv, const int8_t* w, const Geometry& g) {
  void* p = nullptr;
  if (napi_unwrap(env, wv, &p) == napi_ok && p != nullptr) {
    auto* s = static_cast<BitSerialWeights*>(p);
    return s->kh == g.kh && s->kw == g.kw && s->c == g.c && s->oc == g.oc ? s : nullptr;
  }
  auto* s = new BitSerialWeights{g.kh, g.kw, g.c, g.oc, 0, 0, 1, 0, {}, {}};
  const int K = g.kh * g.kw * g.c;
  const size_t total = static_cast<size_t>(g.oc) * K;
  int lo = 127, hi = -128;
  for (size_t i = 0; i < total; i++) { lo = std::min<int>(lo, w[i]); hi = std::max<int>(hi, w[i]); }
  int step = 0;
  for (size_t i = 0; i < total && step != 1; i++) { int a = w[i] - lo, b = step; while (b) { const int t = a % b; a = b; b = t; } step = a; }
  if (step == 0) step = 1;
  const int umax = total ? (hi - lo) / step : 0;
  const int bw = umax <= 1 ? 1 : umax <= 3 ? 2 : 0;
  s->wmin = total ? lo : 0;
  s->step = step;
  s->k32 = (K + 31) / 32;
  if (bw > 0) {
    const int blocks = (g.oc + 15) / 16;
    s->planes.assign(static_cast<size_t>(blocks) * s->k32 * bw * 16, 0u);
    for (int o = 0; o < g.oc; o++)
      for (int k = 0; k < K; k++) {
        const int u = (w[static_cast<size_t>(o) * K + k] - lo) / step;
        for (int i = 0; i < bw; i++)
          if ((u >> i) & 1) s->planes[((static_cast<size_t>(o >> 4) * s->k32 + (k >> 5)) * bw + i) * 16 + (o & 15)] |= 1u << (k & 31);
      }
  }
  s->bw = bw;
  if (napi_wrap(env, wv, s, finalizeBitSerial, nullptr, nullptr) != napi_ok) { delete s; return nullptr; }
  return s;
}

// Bits needed by the activation codes x (the bit length of their OR), or −1 when one is negative.
__attribute__((target("avx512f,avx512bw"))) int codeBits(const int8_t* x, size_t len) {
  __m512i acc = _mm512_setzero_si512();
  size_t i = 0;
  for (; i + 64 <= len; i += 64) acc = _mm512_or_si512(acc, _mm512_loadu_si512(x + i));
  if (i < len) acc = _mm512_or_si512(acc, _mm512_maskz_loadu_epi8((~0ULL) >> (64 - (len - i)), x + i));
  alignas(64) uint8_t b[64];
  _mm512_store_si512(b, acc);
  unsigned v = 0;
  for (int k = 0; k < 64; k++) v |= b[k];
  if (v & 0x80) return -1;
  int bits = 0;
  while (v >> bits) bits++;
  return bits;
}

// P pixels (ox0 … ox0 + P − 1 of row oy): their bit-plane patches, then all output channels.
// `patch`: P·BA·(⌈K/64⌉ + 1) 64-bit words of scratch.
template <int BW, int BA, int P>
__attribute__((target("avx512f,avx512bw,avx512vpopcntdq,popcnt"))) inline void bitSerialPixels(const int8_t* x, const BitSerialWeights& sw, uint64_t* patch, const Geometry& g, int b, int oy, int ox0,
                                                                                             int32_t* out, const float* ea, const float* eb, bool erelu, float* fout) {
  const int K = g.kh * g.kw * g.c;
  const int stride = (K + 63) / 64 + 1;
  const int iy0 = oy * g.sh - g.pt;
  const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
  int32_t sx[P];
  // Each pixel's codes first as one contiguous byte patch (im2col: kernel rows are contiguous runs
  // of x; padding taps 0), then each 64-code chunk of it gives one 64-bit word of every plane
  // (one byte test each): no bit shifting between taps.
  uint8_t* bytes = reinterpret_cast<uint8_t*>(patch + static_cast<size_t>(P) * BA * stride);
  const int K64 = (K + 63) / 64;
  for (int q = 0; q < P; q++) {
    uint64_t* pq = patch + static_cast<size_t>(q) * BA * stride;
    const int ix0 = (ox0 + q) * g.sw - g.pl;
    const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
    const int rowLen = g.kw * g.c;
    if (ky1 - ky0 != g.kh || kx1 - kx0 != g.kw) std::memset(bytes, 0, static_cast<size_t>(K64) * 64);
    if (kx1 > kx0) {
      const int len = (kx1 - kx0) * g.c;
      for (int ky = ky0; ky < ky1; ky++) {
        const int8_t* src = x + ((static_cast<int64_t>(b) * g.h + iy0 + ky) * g.w + ix0 + kx0) * g.c;
        uint8_t* dst = bytes + ky * rowLen + kx0 * g.c;
        for (int off = 0; off < len; off += 64) {
          const int m = std::min(64, len - off);
          const __mmask64 valid = m == 64 ? ~0ULL : (1ULL << m) - 1;
          _mm512_mask_storeu_epi8(dst + off, valid, _mm512_maskz_loadu_epi8(valid, src + off));
        }
      }
    }
    int32_t s = 0;
    for (int t = 0; t < K64; t++) {
      const int m = std::min(64, K - t * 64);
      const __m512i v = _mm512_maskz_loadu_epi8(m == 64 ? ~0ULL : (1ULL << m) - 1, bytes + t * 64);
      for (int j = 0; j < BA; j++) {
        const uint64_t bits = _mm512_test_epi8_mask(v, _mm512_set1_epi8(static_cast<char>(1 << j)));
        pq[j * stride + t] = bits;
        s += static_cast<int32_t>(__builtin_popcountll(bits)) << j;
      }
    }
    sx[q] = s;
  }
  constexpr int L = BW + BA - 1;
  const int k32 = sw.k32;
  const int blocks = (g.oc + 15) / 16;
  const __m512i vstep = _mm512_set1_epi32(sw.step);
  for (int blk = 0; blk < blocks; blk++) {
    const uint32_t* wb = sw.planes.data() + static_cast<size_t>(blk) * k32 * BW * 16;
    __m512i acc[P][L];
    for (int q = 0; q < P; q++)
      for (int l = 0; l < L; l++) acc[q][l] = _mm512_setzero_si512();
    for (int k = 0; k < k32; k++) {
      __m512i wv[BW];
      for (int i = 0; i < BW; i++) wv[i] = _mm512_loadu_si512(wb + (static_cast<size_t>(k) * BW + i) * 16);
      for (int q = 0; q < P; q++) {
        const uint32_t* pq = reinterpret_cast<const uint32_t*>(patch + static_cast<size_t>(q) * BA * stride);
        for (int j = 0; j < BA; j++) {
          const __m512i xv = _mm512_set1_epi32(static_cast<int>(pq[j * stride * 2 + k]));
          for (int i = 0; i < BW; i++) acc[q][i + j] = _mm512_add_epi32(acc[q][i + j], _mm512_popcnt_epi32(_mm512_and_si512(xv, wv[i])));
        }
      }
    }
    const int rem = g.oc - blk * 16;
    const __mmask16 valid = rem >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << rem) - 1);
    for (int q = 0; q < P; q++) {
      __m512i r = acc[q][L - 1];
      for (int l = L - 2; l >= 0; l--) r = _mm512_add_epi32(_mm512_slli_epi32(r, 1), acc[q][l]);
      r = _mm512_add_epi32(_mm512_mullo_epi32(r, vstep), _mm512_set1_epi32(sw.wmin * sx[q]));
      const int64_t at = ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox0 + q) * g.oc + blk * 16;
      if (fout) affineStore16(r, ea + blk * 16, eb + blk * 16, erelu, valid, fout + at);
      else _mm512_mask_storeu_epi32(out + at, valid, r);
    }
  }
}

template <int BW, int BA>
__attribute__((target("avx512f,avx512bw,avx512vpopcntdq,popcnt"))) void bitSerialRow(const int8_t* x, const BitSerialWeights& sw, uint64_t* patch, const Geometry& g, int b, int oy, int32_t* out,
                                                                                    const float* ea, const float* eb, bool erelu, float* fout) {
  int ox = 0;
  for (; ox + 4 <= g.ow; ox += 4) bitSerialPixels<BW, BA, 4>(x, sw, patch, g, b, oy, ox, out, ea, eb, erelu, fout);
  for (; ox < g.ow; ox++) bitSerialPixels<BW, BA, 1>(x, sw, patch, g, b, oy, ox, out, ea, eb, erelu, fout);
}

using BitSerialRow = void (*)(const int8_t*, const BitSerialWeights&, uint64_t*, const Geometry&, int, int, int32_t*, const float*, const float*, bool, float*);
const BitSerialRow bitSerialRows[2][2] = {{bitSerialRow<1, 1>, bitSerialRow<1, 2>}, {bitSerialRow<2, 1>, bitSerialRow<2, 2>}};

void runBitSerial(const BitSerialWeights& sw, int ba, const int8_t* x, const Geometry& g, int32_t* out, const float* ea, const float* eb, bool erelu, float* fout) {
  const BitSerialRow row = bitSerialRows[sw.bw - 1][ba - 1];
  const int K = g.kh * g.kw * g.c;
  // 4 pixels' planes, then one pixel's byte patch (⌈K/64⌉·64 bytes).
  const size_t scratch = static_cast<size_t>(4) * 2 * ((K + 63) / 64 + 1) + static_cast<size_t>((K + 63) / 64) * 8;
  // Threads only for long calls, as the int8 kernel (a parallel region on busy cores waits at its barrier).
#pragma omp parallel if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * K * sw.bw * ba > (int64_t{1} << 30) && g.n * g.oh > 1)
  {
    std::vector<uint64_t> patch(scratch);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < g.n; b++)
      for (int oy = 0; oy < g.oh; oy++) row(x, sw, patch.data(), g, b, oy, out, ea, eb, erelu, fout);
  }
}

// The portable bit-serial kernel (no AVX-512; int32 sums only): the same planes and sums, one
// output channel at a time with 64-bit popcounts over [bw][⌈K/64⌉] weight words. Compiled for
// AVX2 + POPCNT and for baseline x86-64 below, chosen at run time.
static inline __attribute__((always_inline)) void bitSerialRowPortableBody(const int8_t* x, const BitSerialWeights& sw, int ba, uint64_t* patch, const Geometry& g, int b, int oy, int32_t* out) {
  const int K = g.kh * g.kw * g.c;
  const int K64 = (K + 63) / 64;
  const int bw = sw.bw;
  const int iy0 = oy * g.sh - g.pt;
  const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
  for (int ox = 0; ox < g.ow; ox++) {
    std::memset(patch, 0, sizeof(uint64_t) * ba * K64);
    const int ix0 = ox * g.sw - g.pl;
    const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
    const int len = std::max(0, kx1 - kx0) * g.c;
    for (int ky = ky0; ky < ky1; ky++) {
      const int8_t* src = x + ((static_cast<int64_t>(b) * g.h + iy0 + ky) * g.w + ix0 + kx0) * g.c;
      const int pos = (ky * g.kw + kx0) * g.c;
      for (int t = 0; t < len; t++) {
        const unsigned v = static_cast<uint8_t>(src[t]);
        const int at = pos + t;
        for (int j = 0; j < ba; j++) patch[j * K64 + (at >> 6)] |= static_cast<uint64_t>((v >> j) & 1) << (at & 63);
      }
    }
    int32_t sx = 0;
    for (int j = 0; j < ba; j++)
      for (int t = 0; t < K64; t++) sx += static_cast<int32_t>(__builtin_popcountll(patch[j * K64 + t])) << j;
    int32_t* o = out + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.oc;
    for (int oc = 0; oc < g.oc; oc++) {
      const uint64_t* wo = sw.rows.data() + static_cast<size_t>(oc) * bw * K64;
      int32_t s = 0;
      for (int i = 0; i < bw; i++)
        for (int j = 0; j < ba; j++) {
          int32_t c = 0;
          for (int t = 0; t < K64; t++) c += __builtin_popcountll(wo[i * K64 + t] & patch[j * K64 + t]);
          s += c << (i + j);
        }
      o[oc] = sw.wmin * sx + sw.step * s;
    }
  }
}

__attribute__((target("avx2,popcnt"))) void bitSerialRowPortableAvx2(const int8_t* x, const BitSerialWeights& sw, int ba, uint64_t* p, const Geometry& g, int b, int oy, int32_t* out) { bitSerialRowPortableBody(x, sw, ba, p, g, b, oy, out); }
void bitSerialRowPortableBase(const int8_t* x, const BitSerialWeights& sw, int ba, uint64_t* p, const Geometry& g, int b, int oy, int32_t* out) { bitSerialRowPortableBody(x, sw, ba, p, g, b, oy, out); }
using BitSerialRowPortable = void (*)(const int8_t*, const BitSerialWeights&, int, uint64_t*, const Geometry&, int, int, int32_t*);
const BitSerialRowPortable bitSerialRowPortable = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt") ? bitSerialRowPortableAvx2 : bitSerialRowPortableBase;

void runBitSerialPortable(BitSerialWeights& sw, int ba, const int8_t* x, const Geometry& g, int32_t* out) {
  const int K = g.kh * g.kw * g.c;
  const int K64 = (K + 63) / 64;
  if (sw.rows.empty()) {
    // [oc][bw][K64] from the blocked planes ([blocks][k32][bw][16] 32-bit words).
    sw.rows.assign(static_cast<size_t>(g.oc) * sw.bw * K64, 0);
    for (int o = 0; o < g.oc; o++)
      for (int i = 0; i < sw.bw; i++)
        for (int k = 0; k < sw.k32; k++) {
          const uint64_t word = sw.planes[((static_cast<size_t>(o >> 4) * sw.k32 + k) * sw.bw + i) * 16 + (o & 15)];
          sw.rows[(static_cast<size_t>(o) * sw.bw + i) * K64 + (k >> 1)] |= word << (32 * (k & 1));
        }
  }
#pragma omp parallel if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * K * sw.bw * ba > (int64_t{1} << 30) && g.n * g.oh > 1)
  {
    std::vector<uint64_t> patch(static_cast<size_t>(2) * K64);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < g.n; b++)
      for (int oy = 0; oy < g.oh; oy++) bitSerialRowPortable(x, sw, ba, patch.data(), g, b, oy, out);
  }
}

// Bits needed by the activation codes (as codeBits), without AVX-512.
int codeBitsPortable(const int8_t* x, size_t len) {
  unsigned v = 0;
  for (size_t i = 0; i < len; i++) v |= static_cast<uint8_t>(x[i]);
  if (v & 0x80) return -1;
  int bits = 0;
  while (v >> bits) bits++;
  return bits;
}

// The int8 convolution of x and w (args[1]) on a bit-serial path: AVX-512 VPOPCNTDQ (int32 sums
// into `out`, or with `fout` affineInt's floats), or with `portable` the portable kernel (int32
// sums only). False, nothing written, when the path does not apply (weights of more than 4
// levels, activation codes negative or ≥ 4; AVX-512 VPOPCNTDQ missing for the first). `g` as the
// caller checked it (a dense layer already viewed as 1×n).
bool bitSerialConv(napi_env env, napi_value wv, const int8_t* x, const int8_t* w, const Geometry& g, int32_t* out, const float* ea, const float* eb, bool erelu, float* fout, bool portable = false) {
  if (!portable && !hasBitSerial) return false;
  if (portable && fout) return false;
  BitSerialWeights* sw = bitSerialWeights(env, wv, w, g);
  if (sw == nullptr || sw->bw == 0) return false;
  const size_t len = static_cast<size_t>(g.n) * g.h * g.w * g.c;
  const int ba = portable ? codeBitsPortable(x, len) : codeBits(x, len);
  if (ba < 0 || ba > 2) return false;
  if (portable) runBitSerialPortable(*sw, std::max(ba, 1), x, g, out);
  else runBitSerial(*sw, std::max(ba, 1), x, g, out, ea, eb, erelu, fout);
  return true;
}

// bitSerialConv2d(x: Int8Array, w: Int8Array, geometry: Int32Array(13), out: Int32Array, portable?: boolean):
// the int8 convolution on a bit-serial path only (whatever LOWBIT_BITSERIAL says; `portable`:
// the kernel for CPUs without AVX-512 VPOPCNTDQ): true when done, false (nothing written) where
// the path does not apply. For tests and benchmarks; int8Conv2d and int8Conv2dAffine take the
// bit-serial paths by themselves.
napi_value BitSerialConv2d(napi_env env, napi_callback_info info) {
  Args A(env, info);
  int8_t *x, *w;
  size_t xl, wl, ol;
  Geometry g;
  A.conv(napi_int8_array, &x, &xl, &w, &wl, &g);
  int32_t* out = A.arr<int32_t>(3, napi_int32_array, &ol);
  const bool portable = A.argc > 4 ? A.flag(4) : false;
  if (!A.ok) return A.fail("bitSerialConv2d(x: Int8Array, w: Int8Array, geometry: Int32Array(13), out: Int32Array, portable?: boolean)");
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * g.c || wl < static_cast<size_t>(g.oc) * g.kh * g.kw * g.c || ol < static_cast<size_t>(g.n) * g.oh * g.ow * g.oc)
    return A.range("bitSerialConv2d: an array is shorter than the geometry needs");
  return A.boolean(bitSerialConv(env, A.v[1], x, w, g, out, nullptr, nullptr, false, nullptr, portable));
}

napi_value Int8Conv2d(napi_env env, napi_callback_info info) {
  Args A(env, info);
  int8_t *x, *w;
  size_t xl, wl, ol;
  Geometry g;
  A.conv(napi_int8_array, &x, &xl, &w, &wl, &g);
  int32_t* out = A.arr<int32_t>(3, napi_int32_array, &ol);
  if (!A.ok) return A.fail("int8Conv2d(x: Int8Array, w: Int8Array, geometry: Int32Array(13), out: Int32Array)");
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * g.c || wl < static_cast<size_t>(g.oc) * g.kh * g.kw * g.c || ol < static_cast<size_t>(g.n) * g.oh * g.ow * g.oc)
    return A.range("int8Conv2d: an array is shorter than the geometry needs");
  // Optional 5th and 6th arguments (VNNI, AVX2): the weights interleaved [⌈outC/16⌉][K4][16][4], and Σ w
  // per output channel (padded to a multiple of 16).
  const int K = g.kh * g.kw * g.c;
  const int K4 = (K + 3) / 4;
  const size_t blocks16 = static_cast<size_t>((g.oc + 15) / 16);
  size_t wpl = 0, wsl = 0;
  const int8_t* wp = hasVnni || hasInt8Avx2 ? A.opt<int8_t>(4, napi_int8_array, &wpl) : nullptr;
  const int32_t* wsum = wp ? A.opt<int32_t>(5, napi_int32_array, &wsl) : nullptr;
  const bool padded = wp && wsum && wpl >= blocks16 * K4 * 64 && wsl >= blocks16 * 16 && (hasVnni || int8Avx2Applies(env, A.v[4], wp, wpl));
  // Low-bit codes (2-bit models): the bit-serial kernel, when it applies (bitSerialConv) — with
  // AVX-512 VPOPCNTDQ, or the portable one where there is no padded int8 kernel either (on AVX2 the
  // padded kernel is the faster: docs/results/runtime.md).
  if (bitSerialEnabled && (hasBitSerial || !padded)) {
    Geometry gb = g;
    if (gb.h == 1 && gb.w == 1 && gb.kh == 1 && gb.kw == 1 && gb.oh == 1 && gb.ow == 1) { gb.w = gb.ow = gb.n; gb.n = 1; }
    if (bitSerialConv(env, A.v[1], x, w, gb, out, nullptr, nullptr, false, nullptr, !hasBitSerial)) return nullptr;
  }
  if (padded) {
    // A dense layer (1×1 kernel on 1×1 images) is the same memory as a 1×1 convolution over one
    // 1×n image: so viewed, four batch rows share each weight load.
    if (g.h == 1 && g.w == 1 && g.kh == 1 && g.kw == 1 && g.oh == 1 && g.ow == 1) { g.w = g.ow = g.n; g.n = 1; }
    // Threads only for calls of about a millisecond or more (2^25 products) and several rows: a
    // parallel region on a machine whose cores are busy waits for a descheduled thread at its
    // barrier (measured: 10–30× slower steps at load average 9 on 2 cores,
    // bench/results/profile-*-after.json); on idle cores the second thread pays from about there
    // (bench/results/omp-bars/). OMP_NUM_THREADS=1 turns threads off on a busy machine.
#pragma omp parallel if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * K > (int64_t{1} << 25) && g.n * g.oh > 1)
    {
      std::vector<uint8_t> patch(4 * K4 * 4);
#pragma omp for collapse(2) schedule(static)
      for (int b = 0; b < g.n; b++)
        for (int oy = 0; oy < g.oh; oy++) int8RowPadded(x, wp, wsum, patch.data(), g, b, oy, out);
    }
    return nullptr;
  }
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * g.kh * g.kw * g.c > (1 << 22))
  for (int b = 0; b < g.n; b++)
    for (int oy = 0; oy < g.oh; oy++) int8Row(x, w, g, b, oy, out);
  return nullptr;
}

// int8Conv2dAffine(x, w, geometry, wp, wsum, a, b, relu, out: Float32Array): the padded-weight int8
// convolution (VNNI, or AVX2 where its codes fit) with affineInt fused. Returns false, doing nothing,
// where neither applies.
napi_value Int8Conv2dAffine(napi_env env, napi_callback_info info) {
  Args A(env, info);
  int8_t *x, *w;
  size_t xl, wl, wpl, wsl, al, bl, ol;
  Geometry g;
  A.conv(napi_int8_array, &x, &xl, &w, &wl, &g);
  const int8_t* wp = A.arr<int8_t>(3, napi_int8_array, &wpl);
  const int32_t* wsum = A.arr<int32_t>(4, napi_int32_array, &wsl);
  const float* a = A.arr<float>(5, napi_float32_array, &al);
  const float* bb = A.arr<float>(6, napi_float32_array, &bl);
  const bool relu = A.flag(7);
  float* out = A.arr<float>(8, napi_float32_array, &ol);
  if (!A.ok) return A.fail("int8Conv2dAffine(x, w, geometry, wp, wsum, a, b, relu, out)");
  if (!hasVnni && !hasInt8Avx2) return A.boolean(false);
  const int K = g.kh * g.kw * g.c;
  const int K4 = (K + 3) / 4;
  const size_t blocks16 = static_cast<size_t>((g.oc + 15) / 16);
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * g.c || wpl < blocks16 * K4 * 64 || wsl < blocks16 * 16 || al < static_cast<size_t>(g.oc) || bl < static_cast<size_t>(g.oc) ||
      ol < static_cast<size_t>(g.n) * g.oh * g.ow * g.oc)
    return A.range("int8Conv2dAffine: an array is shorter than the geometry needs");
  if (!hasVnni && !int8Avx2Applies(env, A.v[3], wp, wpl)) return A.boolean(false);
  if (g.h == 1 && g.w == 1 && g.kh == 1 && g.kw == 1 && g.oh == 1 && g.ow == 1) { g.w = g.ow = g.n; g.n = 1; }
  if (bitSerialEnabled && hasBitSerial && bitSerialConv(env, A.v[1], x, w, g, nullptr, a, bb, relu, out)) return A.boolean(true);
#pragma omp parallel if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * K > (int64_t{1} << 25) && g.n * g.oh > 1)
  {
    std::vector<uint8_t> patch(4 * K4 * 4);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < g.n; b++)
      for (int oy = 0; oy < g.oh; oy++) int8RowPadded(x, wp, wsum, patch.data(), g, b, oy, nullptr, a, bb, relu, out);
  }
  return A.boolean(true);
}

// One output row of the float convolution (depthwise: per channel), for each target below.
// With `wT` ([kh·kw·c][outC], the weights transposed) each pixel gathers its taps into a patch
// (zeros for padding) and accumulates patch[k]·wT[k][·] across output channels — vectorised over
// channels, for convolutions whose few input channels make per-channel dot products short.
static inline __attribute__((always_inline)) void floatRowBody(const float* x, const float* w, const float* wT, float* patch, const float* bias, const Geometry& g, bool depthwise, int b, int oy, float* out) {
  if (wT != nullptr) {
    const int K = g.kh * g.kw * g.c;
    const int iy0 = oy * g.sh - g.pt;
    for (int ox = 0; ox < g.ow; ox++) {
      const int ix0 = ox * g.sw - g.pl;
      for (int ky = 0; ky < g.kh; ky++)
        for (int kx = 0; kx < g.kw; kx++) {
          const int iy = iy0 + ky, ix = ix0 + kx;
          float* pp = patch + (ky * g.kw + kx) * g.c;
          // Plain loops, not memset/memcpy: with one to a few channels the calls cost more than the copy.
          if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) for (int k = 0; k < g.c; k++) pp[k] = 0.f;
          else { const float* src = x + ((static_cast<int64_t>(b) * g.h + iy) * g.w + ix) * g.c; for (int k = 0; k < g.c; k++) pp[k] = src[k]; }
        }
      float* o = out + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.oc;
      for (int oc = 0; oc < g.oc; oc++) o[oc] = bias ? bias[oc] : 0.f;
      for (int k = 0; k < K; k++) {
        const float pk = patch[k];
        const float* wr = wT + static_cast<int64_t>(k) * g.oc;
#pragma omp simd
        for (int oc = 0; oc < g.oc; oc++) o[oc] += pk * wr[oc];
      }
    }
    return;
  }
  const int iy0 = oy * g.sh - g.pt;
  const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
  for (int ox = 0; ox < g.ow; ox++) {
    const int ix0 = ox * g.sw - g.pl;
    const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
    float* o = out + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.oc;
    if (depthwise) {
      for (int ch = 0; ch < g.c; ch++) o[ch] = bias ? bias[ch] : 0.f;
      for (int ky = ky0; ky < ky1; ky++)
        for (int kx = kx0; kx < kx1; kx++) {
          const float* xr = x + ((static_cast<int64_t>(b) * g.h + iy0 + ky) * g.w + ix0 + kx) * g.c;
          const float* wr = w + (ky * g.kw + kx) * g.c;
          for (int ch = 0; ch < g.c; ch++) o[ch] += xr[ch] * wr[ch];
        }
      continue;
    }
    const int run = std::max(0, kx1 - kx0) * g.c;
    for (int oc = 0; oc < g.oc; oc++) {
      float acc = 0.f;
      for (int ky = ky0; ky < ky1; ky++) {
        const float* xr = x + ((static_cast<int64_t>(b) * g.h + iy0 + ky) * g.w + ix0 + kx0) * g.c;
        const float* wr = w + ((static_cast<int64_t>(oc) * g.kh + ky) * g.kw + kx0) * g.c;
#pragma omp simd reduction(+ : acc)
        for (int k = 0; k < run; k++) acc += xr[k] * wr[k];
      }
      o[oc] = bias ? acc + bias[oc] : acc;
    }
  }
}

__attribute__((target("avx512f,avx2,fma"))) void floatRowAvx512(const float* x, const float* w, const float* wT, float* p, const float* bias, const Geometry& g, bool d, int b, int oy, float* out) { floatRowBody(x, w, wT, p, bias, g, d, b, oy, out); }
__attribute__((target("avx2,fma"))) void floatRowAvx2(const float* x, const float* w, const float* wT, float* p, const float* bias, const Geometry& g, bool d, int b, int oy, float* out) { floatRowBody(x, w, wT, p, bias, g, d, b, oy, out); }
void floatRowBase(const float* x, const float* w, const float* wT, float* p, const float* bias, const Geometry& g, bool d, int b, int oy, float* out) { floatRowBody(x, w, wT, p, bias, g, d, b, oy, out); }

// The P pixels' patches (K = kh·kw·c values each, zeros outside the image) for the small-c
// convolutions below, where some tap of the P pixels falls outside the image.
static inline __attribute__((always_inline)) void smallCPatches(const float* x, const Geometry& g, int b, int iy0, int ox0, int P, int K, float* patch) {
  for (int q = 0; q < P; q++) {
    const int ix0 = (ox0 + q) * g.sw - g.pl;
    for (int ky = 0; ky < g.kh; ky++)
      for (int kx = 0; kx < g.kw; kx++) {
        const int iy = iy0 + ky, ix = ix0 + kx;
        float* pp = patch + q * K + (ky * g.kw + kx) * g.c;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) for (int k = 0; k < g.c; k++) pp[k] = 0.f;
        else { const float* src = x + ((static_cast<int64_t>(b) * g.h + iy) * g.w + ix) * g.c; for (int k = 0; k < g.c; k++) pp[k] = src[k]; }
      }
  }
}

// AVX-512, few input channels (first layers) and at most 64 output channels: the output
// channels' sums stay in NB zmm registers while the K = kh·kw·c patch values are broadcast and
// multiplied into them (weights [K][NB·16], padded with zeros). P = 4 pixels at a time share each
// weight load and give 4·NB independent FMA chains (one pixel alone waits on the FMA latency).
// Each output's additions run in the same order as floatRowBody's transposed path: bias, then
// k = 0 … K − 1. With `bits`: packSigns fused — the next binary layer's bits of
// (relu ? max(0, y) : y) + offset ≥ 0, 16 per comparison.
// Y: the last of the NB blocks holds at most 8 output channels and runs as 256-bit operations
// (half the work on cores that split 512-bit operations in two, e.g. lenet5's 20 = 16 + 4).
// `outRow` / `bitsRow`: where output row (b, oy) starts (a row of the output tensor, or a
// caller's scratch row).
template <int NB, bool Y, int P>
__attribute__((target("avx512f,avx512bw,avx512vl,fma"))) inline void smallCPixels(const float* x, const float* wP, const float* biasP, float* patch, const Geometry& g, int b, int oy, int ox0,
                                                                         float* outRow, bool relu, const float* offP, uint32_t* bitsRow) {
  constexpr int NZ = Y ? NB - 1 : NB;  // 512-bit blocks
  const int K = g.kh * g.kw * g.c;
  const int iy0 = oy * g.sh - g.pt;
  __m512 acc[P][NZ > 0 ? NZ : 1];
  __m256 accY[P];
  for (int q = 0; q < P; q++) {
    for (int j = 0; j < NZ; j++) acc[q][j] = _mm512_loadu_ps(biasP + j * 16);
    if (Y) accY[q] = _mm256_loadu_ps(biasP + NZ * 16);
  }
  // Every output's sum runs bias, then k = 0 … K − 1, whatever the vector width.
#define SMALLC_STEP(wr, xs, xstride)                                                               \
  do {                                                                                             \
    const float* wr_ = (wr);                                                                       \
    const float* xs_ = (xs);                                                                       \
    __m512 wv[NZ > 0 ? NZ : 1];                                                                    \
    for (int j = 0; j < NZ; j++) wv[j] = _mm512_loadu_ps(wr_ + j * 16);                            \
    const __m256 wy = Y ? _mm256_loadu_ps(wr_ + NZ * 16) : _mm256_setzero_ps();                   \
    for (int q = 0; q < P; q++) {                                                                  \
      const float v = xs_[q * static_cast<int64_t>(xstride)];                                      \
      const __m512 p = _mm512_set1_ps(v);                                                          \
      for (int j = 0; j < NZ; j++) acc[q][j] = _mm512_fmadd_ps(p, wv[j], acc[q][j]);               \
      if (Y) accY[q] = _mm256_fmadd_ps(_mm256_set1_ps(v), wy, accY[q]);                            \
    }                                                                                              \
  } while (0)
  const int ixFirst = ox0 * g.sw - g.pl, ixLast = (ox0 + P - 1) * g.sw - g.pl;
  if (iy0 >= 0 && iy0 + g.kh <= g.h && ixFirst >= 0 && ixLast + g.kw <= g.w) {
    // Every tap of the P pixels is in the image: broadcast straight from x (no patch), k in the same order.
    const float* xb = x + ((static_cast<int64_t>(b) * g.h + iy0) * g.w) * g.c;
    int k = 0;
    for (int ky = 0; ky < g.kh; ky++)
      for (int kx = 0; kx < g.kw; kx++)
        for (int ci = 0; ci < g.c; ci++, k++)
          SMALLC_STEP(wP + static_cast<int64_t>(k) * NB * 16, xb + (static_cast<int64_t>(ky) * g.w + ixFirst + kx) * g.c + ci, g.sw * g.c);
  } else {
    smallCPatches(x, g, b, iy0, ox0, P, K, patch);
    for (int k = 0; k < K; k++) SMALLC_STEP(wP + static_cast<int64_t>(k) * NB * 16, patch + k, K);
  }
#undef SMALLC_STEP
  const __m512 zero = _mm512_setzero_ps();
  const __m256 zeroY = _mm256_setzero_ps();
  const int remY = g.oc - NZ * 16;
  const __mmask8 validY = remY >= 8 ? static_cast<__mmask8>(0xFF) : static_cast<__mmask8>((1u << remY) - 1);
  for (int q = 0; q < P; q++) {
    const int64_t pix = ox0 + q;
    if (bitsRow) {
      uint16_t* ob = reinterpret_cast<uint16_t*>(bitsRow + pix * ((g.oc + 31) / 32));
      for (int j = 0; j < NZ; j++) {
        const int rem = g.oc - j * 16;
        const __mmask16 valid = rem >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << rem) - 1);
        __m512 y = acc[q][j];
        if (relu) y = _mm512_max_ps(zero, y);  // y < 0 ? 0 : y (NaN stays NaN, −0 stays −0)
        if (offP) y = _mm512_add_ps(y, _mm512_loadu_ps(offP + j * 16));
        ob[j] = _mm512_mask_cmp_ps_mask(valid, y, zero, _CMP_GE_OQ);
      }
      if (Y) {
        __m256 y = accY[q];
        if (relu) y = _mm256_max_ps(zeroY, y);
        if (offP) y = _mm256_add_ps(y, _mm256_loadu_ps(offP + NZ * 16));
        ob[NZ] = _mm256_mask_cmp_ps_mask(validY, y, zeroY, _CMP_GE_OQ);
      }
      if (NB & 1) ob[NB] = 0;
      continue;
    }
    float* o = outRow + pix * g.oc;
    for (int j = 0; j < NZ; j++) {
      const int rem = g.oc - j * 16;
      // relu: max(0, y) = y < 0 ? 0 : y, the plan's ReLU stage (NaN stays NaN, −0 stays −0).
      _mm512_mask_storeu_ps(o + j * 16, rem >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << rem) - 1), relu ? _mm512_max_ps(zero, acc[q][j]) : acc[q][j]);
    }
    if (Y) _mm256_mask_storeu_ps(o + NZ * 16, validY, relu ? _mm256_max_ps(zeroY, accY[q]) : accY[q]);
  }
}

// One output row (b, oy) into `outRow` (or its packed signs into `bitsRow`).
template <int NB, bool Y>
__attribute__((target("avx512f,avx512bw,avx512vl,fma"))) void floatRowSmallC(const float* x, const float* wP, const float* biasP, float* patch, const Geometry& g, int b, int oy, float* outRow,
                                                                      bool relu = false, const float* offP = nullptr, uint32_t* bitsRow = nullptr) {
  int ox = 0;
  // 12 pixels at a time where their 12·NB accumulators fit the 32 zmm registers with the weights (NB ≤ 2: 24 + 2).
  if (NB <= 2)
    for (; ox + 12 <= g.ow; ox += 12) smallCPixels<NB, Y, 12>(x, wP, biasP, patch, g, b, oy, ox, outRow, relu, offP, bitsRow);
  for (; ox + 4 <= g.ow; ox += 4) smallCPixels<NB, Y, 4>(x, wP, biasP, patch, g, b, oy, ox, outRow, relu, offP, bitsRow);
  for (; ox < g.ow; ox++) smallCPixels<NB, Y, 1>(x, wP, biasP, patch, g, b, oy, ox, outRow, relu, offP, bitsRow);
}

// The register-blocked float convolution's weights ([K][NB·16], zero padded), bias and offset
// (NB·16 each), from output-channel-major weights `w` ([oc][K]). `ok`: the path applies (AVX-512,
// fewer than 16 input channels, at most 64 output channels, at least 16 output pixels; with
// `needBw`, AVX-512 BW too); otherwise the arrays stay empty.
struct SmallCWeights {
  bool ok = false;
  int NB = 0;
  std::vector<float> wP, biasP, offP;
  SmallCWeights(const float* w, const float* bias, const float* offset, const Geometry& g, bool needBw) {
    const int K = g.kh * g.kw * g.c;
    if (!(g.c < 16 && static_cast<int64_t>(g.n) * g.oh * g.ow >= 16 && __builtin_cpu_supports("avx512f") && g.oc <= 64 && (!needBw || __builtin_cpu_supports("avx512bw")))) return;
    ok = true;
    NB = (g.oc + 15) / 16;
    wP.assign(static_cast<size_t>(K) * NB * 16, 0.f);
    biasP.assign(NB * 16, 0.f);
    for (int k = 0; k < K; k++)
      for (int oc = 0; oc < g.oc; oc++) wP[static_cast<size_t>(k) * NB * 16 + oc] = w[static_cast<size_t>(oc) * K + k];
    if (bias) for (int oc = 0; oc < g.oc; oc++) biasP[oc] = bias[oc];
    if (offset) {
      offP.assign(NB * 16, 0.f);
      for (int oc = 0; oc < g.oc; oc++) offP[oc] = offset[oc];
    }
  }
};

using SmallCRow = void (*)(const float*, const float*, const float*, float*, const Geometry&, int, int, float*, bool, const float*, uint32_t*);
// [NB − 1][Y]: NB blocks of 16 output channels, the last one 8 wide when Y.
const SmallCRow smallCRows[4][2] = {{floatRowSmallC<1, false>, floatRowSmallC<1, true>}, {floatRowSmallC<2, false>, floatRowSmallC<2, true>},
                                    {floatRowSmallC<3, false>, floatRowSmallC<3, true>}, {floatRowSmallC<4, false>, floatRowSmallC<4, true>}};
const bool hasAvx512f = __builtin_cpu_supports("avx512f");

// AVX-512 depthwise rows for 16, 32, 48 or 64 channels: each pixel's channel sums stay in NB zmm
// registers across its in-image taps (the same order as floatRowBody's depthwise loop: bias,
// then taps row by row).
template <int NB>
__attribute__((target("avx512f,fma"))) void depthwiseRowAvx512(const float* x, const float* w, const float* bias, const Geometry& g, int b, int oy, float* out) {
  const int iy0 = oy * g.sh - g.pt;
  const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
  for (int ox = 0; ox < g.ow; ox++) {
    const int ix0 = ox * g.sw - g.pl;
    const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
    __m512 acc[NB];
    for (int j = 0; j < NB; j++) acc[j] = bias ? _mm512_loadu_ps(bias + j * 16) : _mm512_setzero_ps();
    for (int ky = ky0; ky < ky1; ky++)
      for (int kx = kx0; kx < kx1; kx++) {
        const float* xr = x + ((static_cast<int64_t>(b) * g.h + iy0 + ky) * g.w + ix0 + kx) * (NB * 16);
        const float* wr = w + (ky * g.kw + kx) * (NB * 16);
        for (int j = 0; j < NB; j++) acc[j] = _mm512_fmadd_ps(_mm512_loadu_ps(xr + j * 16), _mm512_loadu_ps(wr + j * 16), acc[j]);
      }
    float* o = out + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * (NB * 16);
    for (int j = 0; j < NB; j++) _mm512_storeu_ps(o + j * 16, acc[j]);
  }
}

// AVX2 depthwise rows for 8, 16, …, 64 channels (CPUs without AVX-512, and every fused call):
// the same FMA sequence per channel as depthwiseRowAvx512 (bias, then the in-image taps row by
// row), so both give the same bits. With `res` (the output's shape) the residual Add is fused
// (float32 add), with `alpha` (per channel) a PReLU after it (v ≥ 0 ? v : alpha·v).
template <int NB>
__attribute__((target("avx2,fma"))) void depthwiseRowAvx2(const float* x, const float* w, const float* bias, const Geometry& g, int b, int oy, float* out, const float* res, const float* alpha) {
  constexpr int C = NB * 8;
  const int iy0 = oy * g.sh - g.pt;
  const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
  const __m256 zero = _mm256_setzero_ps();
  for (int ox = 0; ox < g.ow; ox++) {
    const int ix0 = ox * g.sw - g.pl;
    const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
    __m256 acc[NB];
    for (int j = 0; j < NB; j++) acc[j] = bias ? _mm256_loadu_ps(bias + j * 8) : _mm256_setzero_ps();
    for (int ky = ky0; ky < ky1; ky++)
      for (int kx = kx0; kx < kx1; kx++) {
        const float* xr = x + ((static_cast<int64_t>(b) * g.h + iy0 + ky) * g.w + ix0 + kx) * C;
        const float* wr = w + (ky * g.kw + kx) * C;
        for (int j = 0; j < NB; j++) acc[j] = _mm256_fmadd_ps(_mm256_loadu_ps(xr + j * 8), _mm256_loadu_ps(wr + j * 8), acc[j]);
      }
    const int64_t at = ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * C;
    for (int j = 0; j < NB; j++) {
      __m256 f = acc[j];
      if (res) f = _mm256_add_ps(f, _mm256_loadu_ps(res + at + j * 8));
      if (alpha) f = _mm256_blendv_ps(_mm256_mul_ps(_mm256_loadu_ps(alpha + j * 8), f), f, _mm256_cmp_ps(f, zero, _CMP_GE_OQ));
      _mm256_storeu_ps(out + at + j * 8, f);
    }
  }
}

using DepthwiseRowAvx2 = void (*)(const float*, const float*, const float*, const Geometry&, int, int, float*, const float*, const float*);
const DepthwiseRowAvx2 depthwiseRowsAvx2[8] = {depthwiseRowAvx2<1>, depthwiseRowAvx2<2>, depthwiseRowAvx2<3>, depthwiseRowAvx2<4>,
                                               depthwiseRowAvx2<5>, depthwiseRowAvx2<6>, depthwiseRowAvx2<7>, depthwiseRowAvx2<8>};
const bool hasAvx2Fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
bool depthwiseAvx2Applies(const Geometry& g) { return hasAvx2Fma && g.c % 8 == 0 && g.c <= 64 && g.oc == g.c; }

void depthwiseAvx2(const float* x, const float* w, const float* bias, const Geometry& g, float* out, const float* res, const float* alpha) {
  const DepthwiseRowAvx2 row = depthwiseRowsAvx2[g.c / 8 - 1];
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.c * g.kh * g.kw > (int64_t{1} << 25) && g.n * g.oh > 1)
  for (int b = 0; b < g.n; b++)
    for (int oy = 0; oy < g.oh; oy++) row(x, w, bias, g, b, oy, out, res, alpha);
}

// AVX2 form of the register-blocked float convolution (few input channels, at most 64 outputs;
// CPUs without AVX-512): NB blocks of 8 output channels in ymm registers, P pixels at a time
// sharing each weight load; weights [K][NB·8] zero padded. Each output's sum runs bias, then
// k = 0 … K − 1 as fused multiply-adds, the order of smallCPixels, so both give the same bits.
// `relu`: max(0, y) on the result (the plan's ReLU stage; NaN and −0 kept).
template <int NB, int P>
__attribute__((target("avx2,fma"))) inline void smallCPixelsAvx2(const float* x, const float* wP, const float* biasP, float* patch, const Geometry& g, int b, int oy, int ox0, float* outRow, bool relu,
                                                             const float* offP, uint32_t* bitsRow) {
  const int K = g.kh * g.kw * g.c;
  const int iy0 = oy * g.sh - g.pt;
  __m256 acc[P][NB];
  for (int q = 0; q < P; q++)
    for (int j = 0; j < NB; j++) acc[q][j] = _mm256_loadu_ps(biasP + j * 8);
#define SMALLC_AVX2_STEP(wr, xs, xstride)                                        \
  do {                                                                          \
    const float* wr_ = (wr);                                                    \
    const float* xs_ = (xs);                                                    \
    const int64_t xst_ = (xstride);                                             \
    __m256 wv[NB];                                                              \
    for (int j = 0; j < NB; j++) wv[j] = _mm256_loadu_ps(wr_ + j * 8);          \
    for (int q = 0; q < P; q++) {                                               \
      const __m256 p = _mm256_set1_ps(xs_[q * xst_]);                           \
      for (int j = 0; j < NB; j++) acc[q][j] = _mm256_fmadd_ps(p, wv[j], acc[q][j]); \
    }                                                                           \
  } while (0)
  const int ixFirst = ox0 * g.sw - g.pl, ixLast = (ox0 + P - 1) * g.sw - g.pl;
  if (iy0 >= 0 && iy0 + g.kh <= g.h && ixFirst >= 0 && ixLast + g.kw <= g.w) {
    const float* xb = x + ((static_cast<int64_t>(b) * g.h + iy0) * g.w) * g.c;
    int k = 0;
    for (int ky = 0; ky < g.kh; ky++)
      for (int kx = 0; kx < g.kw; kx++)
        for (int ci = 0; ci < g.c; ci++, k++) SMALLC_AVX2_STEP(wP + static_cast<int64_t>(k) * NB * 8, xb + (static_cast<int64_t>(ky) * g.w + ixFirst + kx) * g.c + ci, static_cast<int64_t>(g.sw) * g.c);
  } else {
    smallCPatches(x, g, b, iy0, ox0, P, K, patch);
    for (int k = 0; k < K; k++) SMALLC_AVX2_STEP(wP + static_cast<int64_t>(k) * NB * 8, patch + k, K);
  }
#undef SMALLC_AVX2_STEP
  const __m256 zero = _mm256_setzero_ps();
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  if (bitsRow) {
    // The next binary layer's packed signs, as packSigns: bit o = (relu ? max(0, y) : y) + off[o] ≥ 0
    // (max keeps NaN and −0 as `y < 0 ? 0 : y` does; float32 add, as fround of the double sum).
    const int words = (g.oc + 31) / 32;
    for (int q = 0; q < P; q++) {
      uint32_t wd[2] = {0u, 0u};
      for (int j = 0; j < NB; j++) {
        __m256 y = relu ? _mm256_max_ps(zero, acc[q][j]) : acc[q][j];
        if (offP) y = _mm256_add_ps(y, _mm256_loadu_ps(offP + j * 8));
        const int rem = g.oc - j * 8;
        unsigned m = static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(y, zero, _CMP_GE_OQ)));
        if (rem < 8) m &= (1u << rem) - 1;
        wd[j >> 2] |= m << ((j & 3) * 8);
      }
      uint32_t* ob = bitsRow + static_cast<int64_t>(ox0 + q) * words;
      for (int k = 0; k < words; k++) ob[k] = wd[k];
    }
    return;
  }
  for (int q = 0; q < P; q++) {
    float* o = outRow + static_cast<int64_t>(ox0 + q) * g.oc;
    for (int j = 0; j < NB; j++) {
      const __m256 y = relu ? _mm256_max_ps(zero, acc[q][j]) : acc[q][j];
      const int rem = g.oc - j * 8;
      if (rem >= 8) _mm256_storeu_ps(o + j * 8, y);
      else _mm256_maskstore_ps(o + j * 8, _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), lane), y);
    }
  }
}

template <int NB>
__attribute__((target("avx2,fma"))) void floatRowSmallCAvx2(const float* x, const float* wP, const float* biasP, float* patch, const Geometry& g, int b, int oy, float* outRow, bool relu,
                                                            const float* offP, uint32_t* bitsRow) {
  // P·NB = 8–12 accumulators: enough independent FMA chains to cover the FMA latency (with 6, the
  // chains bound the loop), while the accumulators and a broadcast fit the 16 ymm registers.
  constexpr int P = NB == 1 ? 8 : NB == 2 ? 6 : NB <= 4 ? 12 / NB : NB <= 6 ? 2 : 1;
  int ox = 0;
  for (; ox + P <= g.ow; ox += P) smallCPixelsAvx2<NB, P>(x, wP, biasP, patch, g, b, oy, ox, outRow, relu, offP, bitsRow);
  for (; ox < g.ow; ox++) smallCPixelsAvx2<NB, 1>(x, wP, biasP, patch, g, b, oy, ox, outRow, relu, offP, bitsRow);
}

using SmallCRowAvx2 = void (*)(const float*, const float*, const float*, float*, const Geometry&, int, int, float*, bool, const float*, uint32_t*);
const SmallCRowAvx2 smallCRowsAvx2[8] = {floatRowSmallCAvx2<1>, floatRowSmallCAvx2<2>, floatRowSmallCAvx2<3>, floatRowSmallCAvx2<4>,
                                         floatRowSmallCAvx2<5>, floatRowSmallCAvx2<6>, floatRowSmallCAvx2<7>, floatRowSmallCAvx2<8>};

// The AVX2 register-blocked float convolution over the whole batch (see smallCPixelsAvx2).
// `bits` (with the per-channel `offset`, or null): write the next binary layer's packed signs instead of `out`.
void smallCAvx2(const float* x, const float* w, const float* bias, const Geometry& g, float* out, bool relu, const float* offset = nullptr, uint32_t* bits = nullptr) {
  const int K = g.kh * g.kw * g.c;
  const int NB = (g.oc + 7) / 8;
  const int words = (g.oc + 31) / 32;
  std::vector<float> wP(static_cast<size_t>(K) * NB * 8, 0.f), biasP(NB * 8, 0.f), offP(offset ? NB * 8 : 0, 0.f);
  for (int k = 0; k < K; k++)
    for (int oc = 0; oc < g.oc; oc++) wP[static_cast<size_t>(k) * NB * 8 + oc] = w[static_cast<size_t>(oc) * K + k];
  if (bias) for (int oc = 0; oc < g.oc; oc++) biasP[oc] = bias[oc];
  if (offset) for (int oc = 0; oc < g.oc; oc++) offP[oc] = offset[oc];
  // A padded layer reads a zero-padded copy of its input, so that every pixel group takes the
  // direct path instead of gathering a patch (the patch holds the same zeros: same products).
  const int padB = std::max(0, (g.oh - 1) * g.sh + g.kh - g.h - g.pt), padR = std::max(0, (g.ow - 1) * g.sw + g.kw - g.w - g.pl);
  std::vector<float> xPad;
  Geometry gp = g;
  if (g.pt > 0 || g.pl > 0 || padB > 0 || padR > 0) {
    gp.h = g.pt + g.h + padB;
    gp.w = g.pl + g.w + padR;
    gp.pt = gp.pl = 0;
    xPad.assign(static_cast<size_t>(g.n) * gp.h * gp.w * g.c, 0.f);
    for (int b = 0; b < g.n; b++)
      for (int y = 0; y < g.h; y++)
        std::copy(x + ((static_cast<int64_t>(b) * g.h + y) * g.w) * g.c, x + ((static_cast<int64_t>(b) * g.h + y + 1) * g.w) * g.c,
                  xPad.begin() + ((static_cast<int64_t>(b) * gp.h + g.pt + y) * gp.w + g.pl) * g.c);
    x = xPad.data();
  }
  const SmallCRowAvx2 row = smallCRowsAvx2[NB - 1];
  // Threads from 2^23 multiply-adds, about half a millisecond here (see the int8 kernel).
#pragma omp parallel if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * K > (int64_t{1} << 23) && g.n * g.oh > 1)
  {
    std::vector<float> patch(8 * K);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < g.n; b++)
      for (int oy = 0; oy < g.oh; oy++) {
        const int64_t pix = (static_cast<int64_t>(b) * g.oh + oy) * g.ow;
        row(x, wP.data(), biasP.data(), patch.data(), gp, b, oy, out + pix * g.oc, relu, offset ? offP.data() : nullptr, bits ? bits + pix * words : nullptr);
      }
  }
}

using DepthwiseRow = void (*)(const float*, const float*, const float*, const Geometry&, int, int, float*);
const DepthwiseRow depthwiseRows[4] = {depthwiseRowAvx512<1>, depthwiseRowAvx512<2>, depthwiseRowAvx512<3>, depthwiseRowAvx512<4>};

using FloatRow = void (*)(const float*, const float*, const float*, float*, const float*, const Geometry&, bool, int, int, float*);
const FloatRow floatRow = __builtin_cpu_supports("avx512f") ? floatRowAvx512 : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? floatRowAvx2 : floatRowBase;

napi_value FloatConv(napi_env env, napi_callback_info info, bool depthwise) {
  Args A(env, info);
  size_t xl, wl, ol, bl = 0;
  Geometry g;
  const float* x = A.arr<float>(0, napi_float32_array, &xl);
  const float* w = A.arr<float>(1, napi_float32_array, &wl);
  const float* bias = A.arr<float>(2, napi_float32_array, &bl, true);
  A.geometry(3, &g);
  float* out = A.arr<float>(4, napi_float32_array, &ol);
  if (!A.ok) return A.fail("floatConv2d(x, w, bias | null, geometry: Int32Array(13), out): Float32Arrays");
  const size_t wNeed = depthwise ? static_cast<size_t>(g.kh) * g.kw * g.c : static_cast<size_t>(g.oc) * g.kh * g.kw * g.c;
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * g.c || wl < wNeed || ol < static_cast<size_t>(g.n) * g.oh * g.ow * g.oc || (bias && bl < static_cast<size_t>(g.oc)))
    return A.range("floatConv2d: an array is shorter than the geometry needs");
  // Few input channels and many output pixels: transpose the weights once and vectorise over
  // output channels (the transposition is amortised over the pixels).
  const int K = g.kh * g.kw * g.c;
  std::vector<float> wT;
  if (!depthwise && g.c < 16 && static_cast<int64_t>(g.n) * g.oh * g.ow >= 16) {
    wT.resize(static_cast<size_t>(K) * g.oc);
    for (int oc = 0; oc < g.oc; oc++)
      for (int k = 0; k < K; k++) wT[static_cast<size_t>(k) * g.oc + oc] = w[static_cast<size_t>(oc) * K + k];
  }
  const float* wTp = wT.empty() ? nullptr : wT.data();
  // floatConv2d(x, w, bias, geometry, out, relu, offset | null, bits): with `bits` (a Uint32Array)
  // the output is the next binary layer's packed signs instead of `out` (returns true), on the
  // register-blocked path only (otherwise false, nothing done).
  uint32_t* bits = nullptr;
  const float* offset = nullptr;
  bool relu = false;
  // floatConv2d(x, w, bias, geometry, out, relu: true): the same with ReLU applied to `out`
  // (true), again on the register-blocked path only.
  if (A.argc > 5) {
    size_t bitsl = 0, offl = 0;
    relu = A.flag(5);
    if (A.argc > 6) offset = A.arr<float>(6, napi_float32_array, &offl, true);
    if (A.argc > 7) bits = A.arr<uint32_t>(7, napi_uint32_array, &bitsl, true);
    if (!A.ok) return A.fail("floatConv2d(x, w, bias, geometry, out, relu: boolean, offset: Float32Array | null, bits: Uint32Array)");
    if ((bits && bitsl < static_cast<size_t>(g.n) * g.oh * g.ow * ((g.oc + 31) / 32)) || (offset && offl < static_cast<size_t>(g.oc)))
      return A.range("floatConv2d: the bits or offset array is shorter than the geometry needs");
  }
  if (wTp) {
    const SmallCWeights sc(w, bias, offset, g, bits != nullptr);
    if (sc.ok) {
      const float* offPp = offset ? sc.offP.data() : nullptr;
      const SmallCRow row = smallCRows[sc.NB - 1][g.oc - (sc.NB - 1) * 16 <= 8 && __builtin_cpu_supports("avx512vl") ? 1 : 0];
      const int words = (g.oc + 31) / 32;
      // Threads only for long calls (see the int8 kernel): ~64M multiply-adds, a few milliseconds.
#pragma omp parallel if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * K > (int64_t{1} << 26) && g.n * g.oh > 1)
      {
        std::vector<float> patch(12 * K);
#pragma omp for collapse(2) schedule(static)
        for (int b = 0; b < g.n; b++)
          for (int oy = 0; oy < g.oh; oy++) {
            const int64_t pix = (static_cast<int64_t>(b) * g.oh + oy) * g.ow;
            row(x, sc.wP.data(), sc.biasP.data(), patch.data(), g, b, oy, out + pix * g.oc, relu, offPp, bits ? bits + pix * words : nullptr);
          }
      }
      return A.boolean(true);
    }
  }
  // Without AVX-512: the AVX2 register-blocked path (float output, or the packed signs).
  if (wTp && hasAvx2Fma && g.oc <= 64) {
    smallCAvx2(x, w, bias, g, out, relu, offset, bits);
    return relu || bits ? A.boolean(true) : nullptr;
  }
  if (bits || relu) return A.boolean(false);
  if (depthwise && hasAvx512f && g.c % 16 == 0 && g.c <= 64 && g.oc == g.c) {
    const DepthwiseRow row = depthwiseRows[g.c / 16 - 1];
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.c * g.kh * g.kw > (int64_t{1} << 25) && g.n * g.oh > 1)
    for (int b = 0; b < g.n; b++)
      for (int oy = 0; oy < g.oh; oy++) row(x, w, bias, g, b, oy, out);
    return nullptr;
  }
  if (depthwise && depthwiseAvx2Applies(g)) {
    depthwiseAvx2(x, w, bias, g, out, nullptr, nullptr);
    return nullptr;
  }
#pragma omp parallel if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * g.kh * g.kw * (depthwise ? 1 : g.c) > (1 << 22))
  {
    std::vector<float> patch(wTp ? K : 0);
#pragma omp for collapse(2) schedule(static)
    for (int b = 0; b < g.n; b++)
      for (int oy = 0; oy < g.oh; oy++) floatRow(x, w, wTp, patch.data(), bias, g, depthwise, b, oy, out);
  }
  return nullptr;
}

napi_value FloatConv2d(napi_env env, napi_callback_info info) { return FloatConv(env, info, false); }

// floatDepthwiseConv2dResidual(x, w, bias | null, geometry, out, res | null, alpha | null): the depthwise
// convolution with a residual Add (res: the output's shape) and a per-channel PReLU fused (AVX2
// rows, the same convolution bits as floatDepthwiseConv2d). Returns false, doing nothing, where
// that path does not apply (channels not a multiple of 8 or above 64, no AVX2 / FMA).
napi_value FloatDepthwiseConv2dResidual(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t xl, wl, ol, bl = 0, rl = 0, al = 0;
  Geometry g;
  const float* x = A.arr<float>(0, napi_float32_array, &xl);
  const float* w = A.arr<float>(1, napi_float32_array, &wl);
  const float* bias = A.arr<float>(2, napi_float32_array, &bl, true);
  A.geometry(3, &g);
  float* out = A.arr<float>(4, napi_float32_array, &ol);
  const float* res = A.arr<float>(5, napi_float32_array, &rl, true);
  const float* alpha = A.arr<float>(6, napi_float32_array, &al, true);
  if (!A.ok) return A.fail("floatDepthwiseConv2dResidual(x, w, bias | null, geometry: Int32Array(13), out, res | null, alpha | null): Float32Arrays");
  const size_t outLen = static_cast<size_t>(g.n) * g.oh * g.ow * g.oc;
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * g.c || wl < static_cast<size_t>(g.kh) * g.kw * g.c || ol < outLen || (bias && bl < static_cast<size_t>(g.c)) ||
      (res && rl < outLen) || (alpha && al < static_cast<size_t>(g.c)))
    return A.range("floatDepthwiseConv2dResidual: an array is shorter than the geometry needs");
  if (!depthwiseAvx2Applies(g)) return A.boolean(false);
  depthwiseAvx2(x, w, bias, g, out, res, alpha);
  return A.boolean(true);
}
napi_value FloatDepthwiseConv2d(napi_env env, napi_callback_info info) { return FloatConv(env, info, true); }

// ---------------------------------------------------------------------------------------------
// The plan's elementwise passes (src/runtime/plan.ts), each the same arithmetic as the plan's
// JavaScript loop so that both give identical bits: JavaScript computes in double and rounds to
// float32 on each store, so these do too (double intermediates, one (float) cast per store; no
// FMA contraction — the pragma — because a fused multiply-add rounds once where JavaScript
// rounds twice). Single-threaded: they are memory passes, cheap next to the convolutions.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
// Floating-point exceptions are never inspected: let the compiler compute both sides of a
// select (v ≥ 0 ? v : α·v) and vectorise it, instead of a branch that mispredicts on random signs.
// This changes no value.
#pragma GCC optimize("no-trapping-math")


// affineInt(acc: Int32Array, a, b: Float32Array(c), relu: boolean, out: Float32Array): out = f32(acc·a + b), relu → 0 below 0.
napi_value AffineInt(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t nl, al, bl, ol;
  const int32_t* acc = A.arr<int32_t>(0, napi_int32_array, &nl);
  const float* a = A.arr<float>(1, napi_float32_array, &al);
  const float* b = A.arr<float>(2, napi_float32_array, &bl);
  const bool relu = A.flag(3);
  float* out = A.arr<float>(4, napi_float32_array, &ol);
  if (!A.ok) return A.fail("affineInt(acc: Int32Array, a: Float32Array, b: Float32Array, relu: boolean, out: Float32Array)");
  if (al == 0 || bl < al || nl % al != 0 || ol < nl) return A.range("affineInt: array lengths do not match");
  const size_t c = al;
  for (size_t i = 0; i < nl; i += c)
    for (size_t o = 0; o < c; o++) {
      const double v = static_cast<double>(acc[i + o]) * a[o] + b[o];
      const float f = static_cast<float>(v);
      out[i + o] = relu && v < 0 ? 0.f : f;
    }
  return nullptr;
}

// AVX-512 forms of packThreshold and packSigns for channel counts that are multiples of 16: one
// comparison gives 16 bits (the same comparisons as the scalar loops; NaN compares false in both).
const bool hasAvx512bw = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw");

__attribute__((target("avx512f,avx512bw"))) void packThresholdAvx512(const int32_t* acc, const int32_t* sg, const int32_t* t, size_t c, size_t pixels, uint32_t* out) {
  const size_t words = c / 32 + (c % 32 ? 1 : 0);
  for (size_t p = 0; p < pixels; p++) {
    const int32_t* r = acc + p * c;
    uint16_t* o = reinterpret_cast<uint16_t*>(out + p * words);
    for (size_t j = 0; j < c; j += 16) {
      const __m512i v = _mm512_mullo_epi32(_mm512_loadu_si512(sg + j), _mm512_loadu_si512(r + j));
      o[j / 16] = _mm512_cmpgt_epi32_mask(v, _mm512_loadu_si512(t + j));
    }
    if (c % 32) o[c / 16] = 0;
  }
}

__attribute__((target("avx512f,avx512bw"))) void packSignsAvx512(const float* x, size_t c, const float* off, bool relu, size_t pixels, uint32_t* out) {
  const size_t words = c / 32 + (c % 32 ? 1 : 0);
  const __m512 zero = _mm512_setzero_ps();
  for (size_t p = 0; p < pixels; p++) {
    const float* v = x + p * c;
    uint16_t* o = reinterpret_cast<uint16_t*>(out + p * words);
    for (size_t j = 0; j < c; j += 16) {
      __m512 y = _mm512_loadu_ps(v + j);
      // max(0, y) returns y when y is NaN and −0 for −0, as y < 0 ? 0 : y does.
      if (relu) y = _mm512_max_ps(zero, y);
      if (off) y = _mm512_add_ps(y, _mm512_loadu_ps(off + j));
      o[j / 16] = _mm512_cmp_ps_mask(y, zero, _CMP_GE_OQ);
    }
    if (c % 32) o[c / 16] = 0;
  }
}

// AVX2 forms of packThreshold and packSigns for any channel count: 8 channels per comparison
// (movemask), the channels after the last whole group of 8 by the scalar comparison. Same
// comparisons as the scalar loops (NaN compares false in both; max(0, y) as y < 0 ? 0 : y).
const bool hasAvx2 = __builtin_cpu_supports("avx2");

__attribute__((target("avx2"))) void packThresholdAvx2(const int32_t* acc, const int32_t* sg, const int32_t* t, size_t c, size_t pixels, uint32_t* out) {
  const size_t words = (c + 31) / 32, c8 = c & ~size_t{7};
  for (size_t p = 0; p < pixels; p++) {
    const int32_t* r = acc + p * c;
    uint32_t* o = out + p * words;
    for (size_t k = 0; k < words; k++) o[k] = 0;
    size_t j = 0;
    for (; j < c8; j += 8) {
      const __m256i v = _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(sg + j)), _mm256_loadu_si256(reinterpret_cast<const __m256i*>(r + j)));
      const unsigned m = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(t + j))))));
      o[j >> 5] |= m << (j & 31);
    }
    for (; j < c; j++) o[j >> 5] |= static_cast<uint32_t>(sg[j] * r[j] > t[j]) << (j & 31);
  }
}

__attribute__((target("avx2"))) void packSignsAvx2(const float* x, size_t c, const float* off, bool relu, size_t pixels, uint32_t* out) {
  const size_t words = (c + 31) / 32, c8 = c & ~size_t{7};
  const __m256 zero = _mm256_setzero_ps();
  for (size_t p = 0; p < pixels; p++) {
    const float* v = x + p * c;
    uint32_t* o = out + p * words;
    for (size_t k = 0; k < words; k++) o[k] = 0;
    size_t j = 0;
    for (; j < c8; j += 8) {
      __m256 y = _mm256_loadu_ps(v + j);
      if (relu) y = _mm256_max_ps(zero, y);
      if (off) y = _mm256_add_ps(y, _mm256_loadu_ps(off + j));
      o[j >> 5] |= static_cast<unsigned>(_mm256_movemask_ps(_mm256_cmp_ps(y, zero, _CMP_GE_OQ))) << (j & 31);
    }
    for (; j < c; j++) {
      float y = v[j];
      if (relu) y = y < 0 ? 0.f : y;
      if (off) y = y + off[j];
      o[j >> 5] |= static_cast<uint32_t>(y >= 0) << (j & 31);
    }
  }
}

// AVX2 binary convolution, 8 output channels at a time (CPUs without AVX-512 VPOPCNTDQ): weights
// interleaved as [⌈outC/8⌉][kh·kw·words][8] (zero padded), each input word broadcast and
// XOR-ed against 8 output channels' words; popcounts per byte by a nibble table (pshufb), summed
// into 32-bit lanes every 31 words. Per output: c·taps − 2·Σ popcount over the in-image taps, the
// same integers as binaryRowBody. Epilogues on the 8 results in registers:
// - `out`: the int32 results;
// - `bits`: packThreshold, bit o = sg[o]·r > th[o];
// - `fout`: affineInt, fround(r·a + b) in double (no FMA: this target has none, and the pragma
//   above forbids contraction), ReLU as max(0, v) on the double (v < 0 → +0, −0 and NaN kept, as
//   `relu && v < 0 ? 0 : f`); then, when given, + res (float32 add, the residual Add of the plan)
//   and PReLU with per-channel alpha (v ≥ 0 ? v : alpha·v in float32).
// The per-channel arrays are padded to whole blocks of 8 by the caller.

// The epilogue's form, fixed per call so that the rows carry no per-block branches: int32 results,
// threshold bits, or the affine epilogue (ReLU / residual / PReLU each present or not).
enum : int { EpOut = 0, EpBits = 1, EpAffine = 2, EpRelu = 4, EpRes = 8, EpAlpha = 16 };

// One block of 8 results r (output channels 8·blk …) of pixel `pix` through the epilogue. `ad`:
// the affine a and b as doubles, [blocks][a 8, b 8] (converted once per call, not per pixel).
template <int Ep>
__attribute__((target("avx2,popcnt"))) static inline __attribute__((always_inline)) void binaryEpilogueAvx2(const BinaryEpilogue& e, const double* ad, const Geometry& g, int64_t pix, int blk, __m256i r, uint32_t* ob) {
  const int rem = g.oc - blk * 8;
  const __m256i valid = _mm256_cmpgt_epi32(_mm256_set1_epi32(rem), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  const int o0 = blk * 8;
  if constexpr (Ep == EpOut) {
    int32_t* dst = e.out + pix * g.oc + o0;
    if (rem >= 8) _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst), r);
    else _mm256_maskstore_epi32(dst, valid, r);
  } else if constexpr (Ep == EpBits) {
    const __m256i v = _mm256_mullo_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.sg + o0)), r);
    const unsigned m = static_cast<unsigned>(_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_and_si256(valid, _mm256_cmpgt_epi32(v, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(e.th + o0)))))));
    ob[o0 >> 5] |= m << (o0 & 31);
  } else {
    const double* abk = ad + static_cast<int64_t>(blk) * 16;
    __m256d lo = _mm256_add_pd(_mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_castsi256_si128(r)), _mm256_loadu_pd(abk)), _mm256_loadu_pd(abk + 8));
    __m256d hi = _mm256_add_pd(_mm256_mul_pd(_mm256_cvtepi32_pd(_mm256_extracti128_si256(r, 1)), _mm256_loadu_pd(abk + 4)), _mm256_loadu_pd(abk + 12));
    if constexpr ((Ep & EpRelu) != 0) { lo = _mm256_max_pd(_mm256_setzero_pd(), lo); hi = _mm256_max_pd(_mm256_setzero_pd(), hi); }
    __m256 f = _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo));
    if constexpr ((Ep & EpRes) != 0) {
      const float* rp = e.res + pix * g.oc + o0;
      f = _mm256_add_ps(f, rem >= 8 ? _mm256_loadu_ps(rp) : _mm256_maskload_ps(rp, valid));
    }
    if constexpr ((Ep & EpAlpha) != 0) f = _mm256_blendv_ps(_mm256_mul_ps(_mm256_loadu_ps(e.alpha + o0), f), f, _mm256_cmp_ps(f, _mm256_setzero_ps(), _CMP_GE_OQ));
    float* dst = e.fout + pix * g.oc + o0;
    if (rem >= 8) _mm256_storeu_ps(dst, f);
    else _mm256_maskstore_ps(dst, valid, f);
  }
}

// Σ popcount(x[k] XOR w[j·wstride + k·8 + lane]) over `n` words for NB blocks of 8 output channels
// (one broadcast of each input word serves all NB) into int32 lanes acc[j]; the per-byte sums
// accB[j] are widened every 31 words (`pending` carries the count across calls), in segments so
// that the inner loop has no check.
template <int NB>
__attribute__((target("avx2,popcnt"))) static inline __attribute__((always_inline)) void popcountWordsAvx2(const uint32_t* xr, const uint32_t* wr, int64_t wstride, int n, __m256i* acc, __m256i* accB, int& pending) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low4 = _mm256_set1_epi8(0x0f), ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  int k = 0;
  while (k < n) {
    const int end = k + std::min(n - k, 31 - pending);
    pending += end - k;
    for (; k < end; k++) {
      const __m256i xv = _mm256_set1_epi32(static_cast<int>(xr[k]));
      for (int j = 0; j < NB; j++) {
        const __m256i v = _mm256_xor_si256(xv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wr + j * wstride + k * 8)));
        accB[j] = _mm256_add_epi8(accB[j], _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(v, low4)), _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4))));
      }
    }
    if (pending == 31) {
      for (int j = 0; j < NB; j++) {
        acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_maddubs_epi16(accB[j], ones8), ones16));
        accB[j] = _mm256_setzero_si256();
      }
      pending = 0;
    }
  }
}

__attribute__((target("avx2,popcnt"))) static inline __attribute__((always_inline)) __m256i widenBytesAvx2(__m256i acc32, __m256i accB) {
  return _mm256_add_epi32(acc32, _mm256_madd_epi16(_mm256_maddubs_epi16(accB, _mm256_set1_epi8(1)), _mm256_set1_epi16(1)));
}

// NB blocks of 8 output channels of one pixel (taps ky0…ky1 × kx0…kx1 of the kernel), through the epilogue.
template <int Ep, int NB>
__attribute__((target("avx2,popcnt"))) static inline __attribute__((always_inline)) void binaryBlocksAvx2(const uint32_t* x, const uint32_t* wt, const double* ad, const Geometry& g, const BinaryEpilogue& e,
                                                                                                          int b, int iy0, int ix0, int ky0, int ky1, int kx0, int run, int blk, int64_t pix, __m256i full, uint32_t* ob) {
  const int words = (g.c + 31) / 32;
  const int64_t wstride = static_cast<int64_t>(g.kh) * g.kw * words * 8;
  const uint32_t* wb = wt + blk * wstride;
  __m256i acc[NB], accB[NB];
  for (int j = 0; j < NB; j++) acc[j] = accB[j] = _mm256_setzero_si256();
  int pending = 0;
  for (int ky = ky0; ky < ky1; ky++) {
    const uint32_t* xr = x + ((static_cast<int64_t>(b) * g.h + iy0 + ky) * g.w + ix0 + kx0) * words;
    popcountWordsAvx2<NB>(xr, wb + static_cast<int64_t>((ky * g.kw + kx0) * words) * 8, wstride, run, acc, accB, pending);
  }
  for (int j = 0; j < NB; j++) binaryEpilogueAvx2<Ep>(e, ad, g, pix, blk + j, _mm256_sub_epi32(full, _mm256_slli_epi32(widenBytesAvx2(acc[j], accB[j]), 1)), ob);
}

template <int Ep>
__attribute__((target("avx2,popcnt"))) void binaryRowAvx2(const uint32_t* x, const uint32_t* wt, const double* ad, const Geometry& g, int b, int oy, const BinaryEpilogue& e) {
  const int words = (g.c + 31) / 32;
  const int outWords = (g.oc + 31) / 32;
  const int blocks = (g.oc + 7) / 8;
  const int iy0 = oy * g.sh - g.pt;
  const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
  for (int ox = 0; ox < g.ow; ox++) {
    const int ix0 = ox * g.sw - g.pl;
    const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
    const int taps = std::max(0, ky1 - ky0) * std::max(0, kx1 - kx0);
    const int run = std::max(0, kx1 - kx0) * words;
    const int64_t pix = (static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox;
    const __m256i full = _mm256_set1_epi32(g.c * taps);
    uint32_t* ob = Ep == EpBits ? e.bits + pix * outWords : nullptr;
    if (Ep == EpBits) for (int k = 0; k < outWords; k++) ob[k] = 0;
    int blk = 0;
    // Four blocks (32 output channels) per pass: one broadcast per input word, four independent chains.
    for (; blk + 4 <= blocks; blk += 4) binaryBlocksAvx2<Ep, 4>(x, wt, ad, g, e, b, iy0, ix0, ky0, ky1, kx0, run, blk, pix, full, ob);
    if (blk + 2 <= blocks) { binaryBlocksAvx2<Ep, 2>(x, wt, ad, g, e, b, iy0, ix0, ky0, ky1, kx0, run, blk, pix, full, ob); blk += 2; }
    if (blk < blocks) binaryBlocksAvx2<Ep, 1>(x, wt, ad, g, e, b, iy0, ix0, ky0, ky1, kx0, run, blk, pix, full, ob);
  }
}

// The 1×1, unpadded form (mobilenet's pointwise layers, resnet's projections): no tap bounds per
// pixel, and one word (≤ 32 channels) without the byte-sum bookkeeping.
template <int Ep>
__attribute__((target("avx2,popcnt"))) void binaryRow1x1Avx2(const uint32_t* x, const uint32_t* wt, const double* ad, const Geometry& g, int b, int oy, const BinaryEpilogue& e) {
  const int words = (g.c + 31) / 32;
  const int outWords = (g.oc + 31) / 32;
  const int blocks = (g.oc + 7) / 8;
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low4 = _mm256_set1_epi8(0x0f), ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
  const __m256i full = _mm256_set1_epi32(g.c);
  const uint32_t* xrow = x + (static_cast<int64_t>(b) * g.h + static_cast<int64_t>(oy) * g.sh) * g.w * words;
  for (int ox = 0; ox < g.ow; ox++) {
    const uint32_t* xp = xrow + static_cast<int64_t>(ox) * g.sw * words;
    const int64_t pix = (static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox;
    uint32_t* ob = Ep == EpBits ? e.bits + pix * outWords : nullptr;
    if (Ep == EpBits) for (int k = 0; k < outWords; k++) ob[k] = 0;
    if (words == 1) {
      const __m256i xv = _mm256_set1_epi32(static_cast<int>(xp[0]));
      for (int blk = 0; blk < blocks; blk++) {
        const __m256i v = _mm256_xor_si256(xv, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wt + static_cast<int64_t>(blk) * 8)));
        const __m256i cnt = _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(v, low4)), _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low4)));
        const __m256i pc = _mm256_madd_epi16(_mm256_maddubs_epi16(cnt, ones8), ones16);
        binaryEpilogueAvx2<Ep>(e, ad, g, pix, blk, _mm256_sub_epi32(full, _mm256_slli_epi32(pc, 1)), ob);
      }
    } else {
      for (int blk = 0; blk < blocks; blk++) {
        __m256i acc = _mm256_setzero_si256(), accB = _mm256_setzero_si256();
        int pending = 0;
        popcountWordsAvx2<1>(xp, wt + static_cast<int64_t>(blk) * words * 8, 0, words, &acc, &accB, pending);
        binaryEpilogueAvx2<Ep>(e, ad, g, pix, blk, _mm256_sub_epi32(full, _mm256_slli_epi32(widenBytesAvx2(acc, accB), 1)), ob);
      }
    }
  }
}

// The AVX2 binary convolution over the whole batch: interleaves `w` ([oc][kh·kw·words]) by 8
// output channels and pads the epilogue's per-channel arrays to whole blocks (copies made here;
// they are small next to the convolution).
void binaryConvAvx2(const uint32_t* x, const uint32_t* w, const Geometry& g, BinaryEpilogue e) {
  const int words = (g.c + 31) / 32;
  const int K = g.kh * g.kw * words;
  const int blocks = (g.oc + 7) / 8;
  std::vector<uint32_t> wt(static_cast<size_t>(blocks) * K * 8, 0u);
  for (int o = 0; o < g.oc; o++)
    for (int j = 0; j < K; j++) wt[(static_cast<size_t>(o >> 3) * K + j) * 8 + (o & 7)] = w[static_cast<size_t>(o) * K + j];
  const size_t padded = static_cast<size_t>(blocks) * 8;
  std::vector<int32_t> sgP, thP;
  std::vector<float> alphaP;
  auto padI = [&](const int32_t* src, std::vector<int32_t>& v) { if (!src) return static_cast<const int32_t*>(nullptr); v.assign(padded, 0); std::copy(src, src + g.oc, v.begin()); return static_cast<const int32_t*>(v.data()); };
  auto padF = [&](const float* src, std::vector<float>& v) { if (!src) return static_cast<const float*>(nullptr); v.assign(padded, 0.f); std::copy(src, src + g.oc, v.begin()); return static_cast<const float*>(v.data()); };
  e.sg = padI(e.sg, sgP);
  e.th = padI(e.th, thP);
  e.alpha = padF(e.alpha, alphaP);
  // The affine epilogue's a and b as doubles, per block [a 8, b 8] (zero padded).
  std::vector<double> ad;
  if (e.fout) {
    ad.assign(padded * 2, 0.0);
    for (int o = 0; o < g.oc; o++) {
      ad[static_cast<size_t>(o >> 3) * 16 + (o & 7)] = e.a[o];
      ad[static_cast<size_t>(o >> 3) * 16 + 8 + (o & 7)] = e.b[o];
    }
  }
  using Row = void (*)(const uint32_t*, const uint32_t*, const double*, const Geometry&, int, int, const BinaryEpilogue&);
  // [pointwise][epilogue form]: out, bits, then the eight affine forms (ReLU, residual, PReLU).
#define LOWBIT_ROWS(R) {R<EpOut>, R<EpBits>, R<EpAffine>, R<EpAffine | EpRelu>, R<EpAffine | EpRes>, R<EpAffine | EpRelu | EpRes>, \
                        R<EpAffine | EpAlpha>, R<EpAffine | EpRelu | EpAlpha>, R<EpAffine | EpRes | EpAlpha>, R<EpAffine | EpRelu | EpRes | EpAlpha>}
  static const Row rows[2][10] = {LOWBIT_ROWS(binaryRowAvx2), LOWBIT_ROWS(binaryRow1x1Avx2)};
#undef LOWBIT_ROWS
  const int form = e.out ? 0 : e.bits ? 1 : 2 + (e.relu ? 1 : 0) + (e.res ? 2 : 0) + (e.alpha ? 4 : 0);
  const Row row = rows[g.kh == 1 && g.kw == 1 && g.pt == 0 && g.pl == 0 ? 1 : 0][form];
  // Threads from 2^21 words (67M binary products, about half a millisecond on one AVX2 core), as
  // the int8 kernel's bar (bench/results/omp-bars/).
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * g.kh * g.kw * words > (1 << 21))
  for (int b = 0; b < g.n; b++)
    for (int oy = 0; oy < g.oh; oy++) row(x, wt.data(), ad.data(), g, b, oy, e);
}

// packThreshold(acc: Int32Array, sign: Int32Array(c), t: Int32Array(c), out: Uint32Array): bit o = sign[o]·acc > t[o].
napi_value PackThreshold(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t nl, sl, tl, ol;
  const int32_t* acc = A.arr<int32_t>(0, napi_int32_array, &nl);
  const int32_t* sg = A.arr<int32_t>(1, napi_int32_array, &sl);
  const int32_t* t = A.arr<int32_t>(2, napi_int32_array, &tl);
  uint32_t* out = A.arr<uint32_t>(3, napi_uint32_array, &ol);
  if (!A.ok) return A.fail("packThreshold(acc: Int32Array, sign: Int32Array, t: Int32Array, out: Uint32Array)");
  const size_t c = sl, words = (c + 31) / 32;
  if (c == 0 || tl < c || nl % c != 0 || ol < nl / c * words) return A.range("packThreshold: array lengths do not match");
  const size_t pixels = nl / c;
  if (hasAvx512bw && c % 16 == 0) { packThresholdAvx512(acc, sg, t, c, pixels, out); return nullptr; }
  if (hasAvx2) { packThresholdAvx2(acc, sg, t, c, pixels, out); return nullptr; }
  for (size_t p = 0; p < pixels; p++) {
    const int32_t* r = acc + p * c;
    for (size_t k = 0; k < words; k++) {
      const size_t o0 = k * 32, o1 = std::min(c, o0 + 32);
      uint32_t word = 0;
      for (size_t o = o0; o < o1; o++) word |= static_cast<uint32_t>(sg[o] * r[o] > t[o]) << (o & 31);
      out[p * words + k] = word;
    }
  }
  return nullptr;
}

// packSigns(x: Float32Array, c, offset: Float32Array | null, relu: boolean, out: Uint32Array): bit = f32((relu ? max(x, 0) : x) + offset) ≥ 0.
napi_value PackSigns(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t xl, fl, ol;
  const float* x = A.arr<float>(0, napi_float32_array, &xl);
  const size_t c = static_cast<size_t>(A.num(1));
  const float* off = A.arr<float>(2, napi_float32_array, &fl, true);
  const bool relu = A.flag(3);
  uint32_t* out = A.arr<uint32_t>(4, napi_uint32_array, &ol);
  if (!A.ok) return A.fail("packSigns(x: Float32Array, c: number, offset: Float32Array | null, relu: boolean, out: Uint32Array)");
  const size_t words = (c + 31) / 32;
  if (c == 0 || xl % c != 0 || (off && fl < c) || ol < xl / c * words) return A.range("packSigns: array lengths do not match");
  const size_t pixels = xl / c;
  if (hasAvx512bw && c % 16 == 0) { packSignsAvx512(x, c, off, relu, pixels, out); return nullptr; }
  if (hasAvx2) { packSignsAvx2(x, c, off, relu, pixels, out); return nullptr; }
  for (size_t p = 0; p < pixels; p++) {
    const float* v = x + p * c;
    for (size_t k = 0; k < words; k++) {
      const size_t o0 = k * 32, o1 = std::min(c, o0 + 32);
      uint32_t word = 0;
      for (size_t o = o0; o < o1; o++) {
        float y = v[o];
        if (relu) y = y < 0 ? 0.f : y;
        if (off) y = y + off[o];  // float32 add: the correctly rounded sum, = fround(double sum)
        word |= static_cast<uint32_t>(y >= 0) << (o & 31);
      }
      out[p * words + k] = word;
    }
  }
  return nullptr;
}

struct QuantArgs {
  const float* x;
  size_t xl, c;
  const float* off;
  double n;
  const float* scales;
  double zp, lo, hi, m;
  float* outF;
  int8_t* outI;
};

// The code of each value, exactly as ActivationQuantizer.codes computes it (double arithmetic,
// float32 roundings where it calls Math.fround).
template <bool OFF, bool N, bool ZP, int MODE>
static inline __attribute__((always_inline)) void quantBody(const QuantArgs& a) {
  for (size_t p = 0; p < a.xl; p += a.c)
    for (size_t ch = 0; ch < a.c; ch++) {
      const size_t i = p + ch;
      const float v = OFF ? static_cast<float>(static_cast<double>(a.x[i]) + a.off[ch]) : a.x[i];
      float u = N ? static_cast<float>(v * a.n) : static_cast<float>(static_cast<double>(v) / a.scales[ch]);
      if (ZP) u = static_cast<float>(u + a.zp);
      // Round half to even: adding and subtracting 1.5·2⁵² rounds in the default mode (half to
      // even) for |u| < 2⁵¹, without a libm call (baseline x86-64 has no roundsd); larger floats
      // are integers already. A nonzero u that rounds to zero gives +0 and u = ±0 keeps its sign,
      // as the JavaScript floor-based rounding does.
      const double ud = u;
      const double r = (ud + 6755399441055744.0) - 6755399441055744.0;
      double q = std::fabs(ud) < 2251799813685248.0 ? r : ud;
      q = ud == 0 ? ud : q;
      q = q < a.lo ? a.lo : q > a.hi ? a.hi : q;
      if (MODE == 0) a.outF[i] = static_cast<float>(q / a.n);
      else if (MODE == 1) a.outF[i] = static_cast<float>((q - a.zp) * a.scales[ch]);
      else a.outI[i] = static_cast<int8_t>(a.m * (q - a.zp));
    }
}

// The loop compiled for AVX-512 (8 doubles per operation) and for baseline x86-64; the same IEEE
// operations either way.
template <bool OFF, bool N, bool ZP, int MODE>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) void quantAvx512(const QuantArgs& a) { quantBody<OFF, N, ZP, MODE>(a); }
template <bool OFF, bool N, bool ZP, int MODE>
void quantBase(const QuantArgs& a) { quantBody<OFF, N, ZP, MODE>(a); }
template <bool OFF, bool N, bool ZP, int MODE>
void quantLoop(const QuantArgs& a) {
  if (hasAvx512bw) quantAvx512<OFF, N, ZP, MODE>(a);
  else quantBase<OFF, N, ZP, MODE>(a);
}

// The common case written out in AVX-512 (16 floats per operation): int8 codes m·q of a grid with
// step 1/n, no offset, zero point 0 (DoReFa, PACT, uniform). For an integer n < 2²⁴, fround(v·n)
// is the float32 product (the double product is exact), round half to even is `vrndscaleps`, the
// clip is min/max, and q's sign of zero does not reach an int8. NaN inputs give 0, as an
// Int8Array store of NaN does.
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) void quantInt8StepAvx512(const float* x, size_t len, float n, float lo, float hi, float m, int8_t* out) {
  const __m512 vn = _mm512_set1_ps(n), vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi), vm = _mm512_set1_ps(m);
  size_t i = 0;
  for (; i + 16 <= len; i += 16) {
    const __m512 v = _mm512_loadu_ps(x + i);
    __m512 q = _mm512_roundscale_ps(_mm512_mul_ps(v, vn), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    q = _mm512_mul_ps(_mm512_min_ps(_mm512_max_ps(q, vlo), vhi), vm);
    const __mmask16 ok = _mm512_cmp_ps_mask(v, v, _CMP_ORD_Q);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), _mm512_cvtepi32_epi8(_mm512_maskz_cvtps_epi32(ok, q)));
  }
  for (; i < len; i++) {
    const float v = x[i];
    if (v != v) { out[i] = 0; continue; }
    const double q0 = std::nearbyint(static_cast<double>(v * n));
    const double q = q0 < lo ? lo : q0 > hi ? hi : q0;
    out[i] = static_cast<int8_t>(m * q);
  }
}

// The codes of q.x (q.xl values, a multiple of q.c) in `mode` (quantize below); false for an unknown mode.
bool quantRun(const QuantArgs& q, int mode) {
  // One loop per combination of offset / ·n / zero point / output, so each is branch-free and vectorises.
  if (mode == 2 && !q.off && q.zp == 0 && q.n > 0 && q.n < 16777216 && hasAvx512bw && std::fabs(q.lo) < 256 && std::fabs(q.hi) < 256 && std::fabs(q.m) <= 2) {
    quantInt8StepAvx512(q.x, q.xl, static_cast<float>(q.n), static_cast<float>(q.lo), static_cast<float>(q.hi), static_cast<float>(q.m), q.outI);
    return true;
  }
  const int key = (q.off ? 1 : 0) | (q.n != 0 ? 2 : 0) | (q.zp != 0 ? 4 : 0);
  switch (mode * 8 + key) {
#define QCASE(M, K) case M * 8 + K: quantLoop<(K & 1) != 0, (K & 2) != 0, (K & 4) != 0, M>(q); break;
#define QMODE(M) QCASE(M, 0) QCASE(M, 1) QCASE(M, 2) QCASE(M, 3) QCASE(M, 4) QCASE(M, 5) QCASE(M, 6) QCASE(M, 7)
    QMODE(0) QMODE(1) QMODE(2)
#undef QMODE
#undef QCASE
    default: return false;
  }
  return true;
}

// quantize(x, c, offset | null, n, scales: Float32Array(c), zp, lo, hi, mode, m, out): the codes of
// ActivationQuantizer.codes (src/runtime/quantize.ts) — mode 0: q/n, 1: (q − zp)·scale, 2: int8 m·(q − zp).
napi_value Quantize(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t xl, fl, sl, ol;
  const float* x = A.arr<float>(0, napi_float32_array, &xl);
  const size_t c = static_cast<size_t>(A.num(1));
  const float* off = A.arr<float>(2, napi_float32_array, &fl, true);
  const double n = A.num(3);
  const float* scales = A.arr<float>(4, napi_float32_array, &sl);
  const double zp = A.num(5), lo = A.num(6), hi = A.num(7);
  const int mode = static_cast<int>(A.num(8));
  const double m = A.num(9);
  float* outF = nullptr;
  int8_t* outI = nullptr;
  if (A.ok && mode == 2) outI = A.arr<int8_t>(10, napi_int8_array, &ol);
  else outF = A.arr<float>(10, napi_float32_array, &ol);
  if (!A.ok) return A.fail("quantize(x, c, offset, n, scales, zp, lo, hi, mode, m, out)");
  if (c == 0 || xl % c != 0 || (off && fl < c) || sl < c || ol < xl) return A.range("quantize: array lengths do not match");
  if (!quantRun(QuantArgs{x, xl, c, off, n, scales, zp, lo, hi, m, outF, outI}, mode)) return A.range("quantize: mode is 0, 1 or 2");
  return nullptr;
}

// signs(x, c, offset | null, scales | null, factor, out: Float32Array | Int8Array): ±(factor·scale[ch]), + where x (+ offset) ≥ 0.
napi_value Signs(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t xl, fl, sl, ol;
  const float* x = A.arr<float>(0, napi_float32_array, &xl);
  const size_t c = static_cast<size_t>(A.num(1));
  const float* off = A.arr<float>(2, napi_float32_array, &fl, true);
  const float* scales = A.arr<float>(3, napi_float32_array, &sl, true);
  const double factor = A.num(4);
  napi_typedarray_type type = napi_float32_array;
  if (A.ok && A.argc > 5) { size_t l; void* d; napi_value buf; size_t o; if (napi_get_typedarray_info(env, A.v[5], &type, &l, &d, &buf, &o) != napi_ok) A.ok = false; }
  float* outF = nullptr;
  int8_t* outI = nullptr;
  if (A.ok && type == napi_int8_array) outI = A.arr<int8_t>(5, napi_int8_array, &ol);
  else outF = A.arr<float>(5, napi_float32_array, &ol);
  if (!A.ok) return A.fail("signs(x, c, offset, scales, factor, out: Float32Array | Int8Array)");
  if (c == 0 || xl % c != 0 || (off && fl < c) || (scales && sl < c) || ol < xl) return A.range("signs: array lengths do not match");
  // The two levels per channel, computed once (as float32 / int8 stores of the double ±h).
  std::vector<float> hf(c);
  std::vector<int8_t> hi(c);
  for (size_t ch = 0; ch < c; ch++) {
    const double h = scales ? scales[ch] * factor : factor;
    hf[ch] = static_cast<float>(h);
    hi[ch] = static_cast<int8_t>(h);
  }
  for (size_t p = 0; p < xl; p += c) {
    const float* xp = x + p;
    if (outF) {
      float* o = outF + p;
      if (off) for (size_t ch = 0; ch < c; ch++) o[ch] = xp[ch] + off[ch] >= 0 ? hf[ch] : -hf[ch];  // float add = fround(double add)
      else for (size_t ch = 0; ch < c; ch++) o[ch] = xp[ch] >= 0 ? hf[ch] : -hf[ch];
    } else {
      int8_t* o = outI + p;
      if (off) for (size_t ch = 0; ch < c; ch++) o[ch] = xp[ch] + off[ch] >= 0 ? hi[ch] : static_cast<int8_t>(-hi[ch]);
      else for (size_t ch = 0; ch < c; ch++) o[ch] = xp[ch] >= 0 ? hi[ch] : static_cast<int8_t>(-hi[ch]);
    }
  }
  return nullptr;
}

// affine(buf, a, b): in place, per channel (c = a.length), buf = f32(buf·a + b).
napi_value Affine(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t xl, al, bl;
  float* x = A.arr<float>(0, napi_float32_array, &xl);
  const float* a = A.arr<float>(1, napi_float32_array, &al);
  const float* b = A.arr<float>(2, napi_float32_array, &bl);
  if (!A.ok) return A.fail("affine(buf: Float32Array, a: Float32Array, b: Float32Array)");
  if (al == 0 || bl < al || xl % al != 0) return A.range("affine: array lengths do not match");
  for (size_t i = 0; i < xl; i += al)
    for (size_t o = 0; o < al; o++) x[i + o] = static_cast<float>(static_cast<double>(x[i + o]) * a[o] + b[o]);
  return nullptr;
}

// clamp(buf, max): in place, v < 0 → 0, v > max → max.
napi_value Clamp(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t xl;
  float* x = A.arr<float>(0, napi_float32_array, &xl);
  const double mx = A.num(1);
  if (!A.ok) return A.fail("clamp(buf: Float32Array, max: number)");
  for (size_t i = 0; i < xl; i++) { const float v = x[i]; x[i] = v < 0 ? 0.f : v > mx ? static_cast<float>(mx) : v; }
  return nullptr;
}

// prelu(buf, c, alpha, shiftIn | null, shiftOut | null): in place, the plan's 'prelu' stage.
napi_value Prelu(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t xl, al, il, ol;
  float* x = A.arr<float>(0, napi_float32_array, &xl);
  const size_t c = static_cast<size_t>(A.num(1));
  const float* alpha = A.arr<float>(2, napi_float32_array, &al);
  const float* sIn = A.arr<float>(3, napi_float32_array, &il, true);
  const float* sOut = A.arr<float>(4, napi_float32_array, &ol, true);
  if (!A.ok) return A.fail("prelu(buf, c, alpha, shiftIn | null, shiftOut | null)");
  if (c == 0 || al == 0 || xl % c != 0 || (sIn && il < c) || (sOut && ol < c)) return A.range("prelu: array lengths do not match");
  const bool perChannel = al == c;
  if (!sIn && !sOut && (perChannel || (al % c == 0 && xl % al == 0))) {
    // Plain PReLU: alpha·v in float32 is the correctly rounded product, = fround(double product).
    const size_t period = perChannel ? c : al;
    for (size_t i0 = 0; i0 < xl; i0 += period)
      for (size_t j = 0; j < period; j++) { const float v = x[i0 + j]; const float p = alpha[j] * v; x[i0 + j] = v >= 0 ? v : p; }
    return nullptr;
  }
  if (!perChannel && al % c == 0 && xl % al == 0) {
    // Per-element alpha (Keras' default [h, w, c]): index i mod al, walked without a division.
    for (size_t i0 = 0; i0 < xl; i0 += al)
      for (size_t j = 0; j < al; j += c)
        for (size_t ch = 0; ch < c; ch++) {
          const size_t i = i0 + j + ch;
          const double v = sIn ? static_cast<double>(x[i]) - sIn[ch] : static_cast<double>(x[i]);
          const double pv = alpha[j + ch] * v;
          const double y = v >= 0 ? v : pv;
          x[i] = static_cast<float>(sOut ? y + sOut[ch] : y);
        }
    return nullptr;
  }
  if (perChannel) {
    // RPReLU (shifts) per channel, in double as the plan's loop.
    for (size_t i = 0; i < xl; i += c)
      for (size_t ch = 0; ch < c; ch++) {
        const double v = sIn ? static_cast<double>(x[i + ch]) - sIn[ch] : static_cast<double>(x[i + ch]);
        const double pv = alpha[ch] * v;
        const double y = v >= 0 ? v : pv;
        x[i + ch] = static_cast<float>(sOut ? y + sOut[ch] : y);
      }
    return nullptr;
  }
  for (size_t i = 0; i < xl; i += c)
    for (size_t ch = 0; ch < c; ch++) {
      const double v = sIn ? static_cast<double>(x[i + ch]) - sIn[ch] : static_cast<double>(x[i + ch]);
      const double y = v >= 0 ? v : alpha[(i + ch) % al] * v;
      x[i + ch] = static_cast<float>(sOut ? y + sOut[ch] : y);
    }
  return nullptr;
}

// addInto(y, x): y += x (float32 adds).
napi_value AddInto(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t yl, xl;
  float* y = A.arr<float>(0, napi_float32_array, &yl);
  const float* x = A.arr<float>(1, napi_float32_array, &xl);
  if (!A.ok) return A.fail("addInto(y: Float32Array, x: Float32Array)");
  if (xl < yl) return A.range("addInto: x is shorter than y");
  for (size_t i = 0; i < yl; i++) y[i] = y[i] + x[i];
  return nullptr;
}

// add(y, a, b): y = a + b (float32 adds), the first two inputs of an Add in one pass.
napi_value Add(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t yl, al, bl;
  float* y = A.arr<float>(0, napi_float32_array, &yl);
  const float* a = A.arr<float>(1, napi_float32_array, &al);
  const float* b = A.arr<float>(2, napi_float32_array, &bl);
  if (!A.ok) return A.fail("add(y: Float32Array, a: Float32Array, b: Float32Array)");
  if (al < yl || bl < yl) return A.range("add: an input is shorter than y");
  for (size_t i = 0; i < yl; i++) y[i] = a[i] + b[i];
  return nullptr;
}

// Max pooling with AVX-512, 16 channels per comparison (the last block masked): the same
// o = x > o ? x : o per tap as the scalar loop — _mm512_max_ps(x, o) is exactly that, NaN and
// signed zeros included (it returns its second operand unless x > o).
__attribute__((target("avx512f"))) void maxPoolAvx512(const float* x, const Geometry& g, float* y) {
  const int blocks = (g.c + 15) / 16;
  const __mmask16 last = g.c % 16 ? static_cast<__mmask16>((1u << (g.c % 16)) - 1) : static_cast<__mmask16>(0xFFFF);
  for (int b = 0; b < g.n; b++)
    for (int oy = 0; oy < g.oh; oy++) {
      const int iy0 = oy * g.sh - g.pt;
      const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
      for (int ox = 0; ox < g.ow; ox++) {
        const int ix0 = ox * g.sw - g.pl;
        const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
        float* o = y + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.c;
        for (int j = 0; j < blocks; j++) {
          const __mmask16 m = j == blocks - 1 ? last : static_cast<__mmask16>(0xFFFF);
          __m512 acc = _mm512_set1_ps(-INFINITY);
          for (int ky = ky0; ky < ky1; ky++)
            for (int kx = kx0; kx < kx1; kx++)
              acc = _mm512_max_ps(_mm512_maskz_loadu_ps(m, x + ((static_cast<int64_t>(b) * g.h + iy0 + ky) * g.w + ix0 + kx) * g.c + j * 16), acc);
          _mm512_mask_storeu_ps(o + j * 16, m, acc);
        }
      }
    }
}

// pool(x, geometry: Int32Array(13), max: boolean, out): max or average pooling over in-image taps (the plan's pool()).
napi_value Pool(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t xl, ol;
  Geometry g;
  const float* x = A.arr<float>(0, napi_float32_array, &xl);
  A.geometry(1, &g);
  const bool mx = A.flag(2);
  float* y = A.arr<float>(3, napi_float32_array, &ol);
  if (!A.ok) return A.fail("pool(x: Float32Array, geometry: Int32Array(13), max: boolean, out: Float32Array)");
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * g.c || ol < static_cast<size_t>(g.n) * g.oh * g.ow * g.c) return A.range("pool: an array is shorter than the geometry needs");
  if (mx && hasAvx512bw) { maxPoolAvx512(x, g, y); return nullptr; }
  std::vector<double> sums(g.c);
  for (int b = 0; b < g.n; b++)
    for (int oy = 0; oy < g.oh; oy++) {
      const int iy0 = oy * g.sh - g.pt;
      const int ky0 = std::max(0, -iy0), ky1 = std::min(g.kh, g.h - iy0);
      for (int ox = 0; ox < g.ow; ox++) {
        const int ix0 = ox * g.sw - g.pl;
        const int kx0 = std::max(0, -ix0), kx1 = std::min(g.kw, g.w - ix0);
        float* o = y + ((static_cast<int64_t>(b) * g.oh + oy) * g.ow + ox) * g.c;
        if (mx) {
          for (int ch = 0; ch < g.c; ch++) o[ch] = -INFINITY;
          for (int ky = ky0; ky < ky1; ky++)
            for (int kx = kx0; kx < kx1; kx++) {
              const float* xi = x + ((static_cast<int64_t>(b) * g.h + iy0 + ky) * g.w + ix0 + kx) * g.c;
              for (int ch = 0; ch < g.c; ch++) o[ch] = xi[ch] > o[ch] ? xi[ch] : o[ch];
            }
        } else {
          const int count = (ky1 - ky0) * (kx1 - kx0);
          std::fill(sums.begin(), sums.end(), 0.0);
          for (int ky = ky0; ky < ky1; ky++)
            for (int kx = kx0; kx < kx1; kx++) {
              const float* xi = x + ((static_cast<int64_t>(b) * g.h + iy0 + ky) * g.w + ix0 + kx) * g.c;
              for (int ch = 0; ch < g.c; ch++) sums[ch] += xi[ch];
            }
          for (int ch = 0; ch < g.c; ch++) o[ch] = static_cast<float>(sums[ch] / count);
        }
      }
    }
  return nullptr;
}

// globalAveragePool(x, n, hw, c, out): float32 sums per image and channel, then / hw (the plan's 'gap').
napi_value GlobalAveragePool(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t xl, ol;
  const float* x = A.arr<float>(0, napi_float32_array, &xl);
  const size_t n = static_cast<size_t>(A.num(1)), hw = static_cast<size_t>(A.num(2)), c = static_cast<size_t>(A.num(3));
  float* y = A.arr<float>(4, napi_float32_array, &ol);
  if (!A.ok) return A.fail("globalAveragePool(x, n, hw, c, out)");
  if (xl < n * hw * c || ol < n * c) return A.range("globalAveragePool: an array is shorter than the shape needs");
  for (size_t b = 0; b < n; b++) {
    float* o = y + b * c;
    for (size_t ch = 0; ch < c; ch++) o[ch] = 0.f;
    for (size_t p = 0; p < hw; p++) {
      const float* xi = x + (b * hw + p) * c;
      for (size_t ch = 0; ch < c; ch++) o[ch] = o[ch] + xi[ch];
    }
    for (size_t ch = 0; ch < c; ch++) o[ch] = static_cast<float>(static_cast<double>(o[ch]) / hw);
  }
  return nullptr;
}

// concatInto(x, c, y, total, at): copies each pixel's c channels of x to channels at..at+c of y (total per pixel).
napi_value ConcatInto(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t xl, yl;
  const float* x = A.arr<float>(0, napi_float32_array, &xl);
  const size_t c = static_cast<size_t>(A.num(1));
  float* y = A.arr<float>(2, napi_float32_array, &yl);
  const size_t total = static_cast<size_t>(A.num(3)), at = static_cast<size_t>(A.num(4));
  if (!A.ok) return A.fail("concatInto(x, c, y, total, at)");
  if (c == 0 || total == 0 || at + c > total || xl % c != 0 || yl / total < xl / c) return A.range("concatInto: array lengths do not match");
  const size_t pixels = xl / c;
  for (size_t p = 0; p < pixels; p++) std::memcpy(y + p * total + at, x + p * c, c * sizeof(float));
  return nullptr;
}

// The max over one pooling window row band: pooled row (b, py) of pool geometry `pg` from conv
// output rows held in `ring` (row r at slot r % slots, each g.ow·g.oc floats) into `dst`
// (pg.ow·g.oc floats) — maxPoolAvx512's taps and comparisons, in its order.
__attribute__((target("avx512f"))) void maxPoolRowAvx512(const float* ring, int slots, const Geometry& pg, int py, float* dst) {
  const int c = pg.c;
  const int64_t rowLen = static_cast<int64_t>(pg.w) * c;
  const int blocks = (c + 15) / 16;
  const __mmask16 last = c % 16 ? static_cast<__mmask16>((1u << (c % 16)) - 1) : static_cast<__mmask16>(0xFFFF);
  const int iy0 = py * pg.sh - pg.pt;
  const int ky0 = std::max(0, -iy0), ky1 = std::min(pg.kh, pg.h - iy0);
  // The window's rows in the ring, top to bottom (rows[ky − ky0]).
  const float* rowsBuf[16];
  std::vector<const float*> rowsBig(pg.kh > 16 ? pg.kh : 0);
  const float** rows = pg.kh > 16 ? rowsBig.data() : rowsBuf;
  for (int ky = ky0; ky < ky1; ky++) rows[ky - ky0] = ring + ((iy0 + ky) % slots) * rowLen;
  const int nky = ky1 - ky0;
  for (int px = 0; px < pg.ow; px++) {
    const int ix0 = px * pg.sw - pg.pl;
    const int kx0 = std::max(0, -ix0), kx1 = std::min(pg.kw, pg.w - ix0);
    for (int j = 0; j < blocks; j++) {
      const __mmask16 m = j == blocks - 1 ? last : static_cast<__mmask16>(0xFFFF);
      __m512 acc = _mm512_set1_ps(-INFINITY);
      for (int r = 0; r < nky; r++) {
        const float* at = rows[r] + j * 16;
        for (int kx = kx0; kx < kx1; kx++) acc = _mm512_max_ps(_mm512_maskz_loadu_ps(m, at + static_cast<int64_t>(ix0 + kx) * c), acc);
      }
      _mm512_mask_storeu_ps(dst + static_cast<int64_t>(px) * c + j * 16, m, acc);
    }
  }
}

// floatConv2dPool(x, w, bias | null, geometry, relu, poolGeometry, out, offset | null, n, scales,
// zp, lo, hi, m): the float convolution (register-blocked path), ReLU when `relu`, max pooling of
// its output with `poolGeometry` ([n, oh, ow, oc, …] of the convolution's output), and with an
// Int8Array `out` the next layer's int8 codes of the pooled values (quantize's mode 2 with these
// arguments) — one pass, pooled row by pooled row: the convolution rows a pooling window needs go
// to a ring of rows (reused when windows overlap), never to a full-size tensor. Each step computes
// the next window's rows before pooling this one, and quantizes the pooled row before: a row is
// read a row's work after it was stored (read at once, the loads wait for the masked stores of
// 20-channel pixels, which they cannot take their data from; measured 0.1–0.3 ms per lenet5
// batch of 64). The
// same values as floatConv2d(…, relu) → pool → quantize, which run the same arithmetic. Returns
// false, doing nothing, where floatConv2d's register-blocked path does not apply (or without
// AVX-512 BW): the caller then runs the three passes.
napi_value FloatConv2dPool(napi_env env, napi_callback_info info) {
  Args A(env, info);
  size_t xl, wl, bl, ol = 0, fl = 0, sl = 0;
  Geometry g, pg;
  const float* x = A.arr<float>(0, napi_float32_array, &xl);
  const float* w = A.arr<float>(1, napi_float32_array, &wl);
  const float* bias = A.arr<float>(2, napi_float32_array, &bl, true);
  A.geometry(3, &g);
  const bool relu = A.flag(4);
  A.geometry(5, &pg);
  napi_typedarray_type type = napi_float32_array;
  if (A.ok && A.argc > 6) { size_t l; void* d; napi_value buf; size_t o; if (napi_get_typedarray_info(env, A.v[6], &type, &l, &d, &buf, &o) != napi_ok) A.ok = false; }
  float* outF = nullptr;
  int8_t* outI = nullptr;
  const float* off = nullptr;
  const float* scales = nullptr;
  double n = 0, zp = 0, lo = 0, hi = 0, m = 0;
  if (A.ok && type == napi_int8_array) {
    outI = A.arr<int8_t>(6, napi_int8_array, &ol);
    off = A.arr<float>(7, napi_float32_array, &fl, true);
    n = A.num(8);
    scales = A.arr<float>(9, napi_float32_array, &sl);
    zp = A.num(10), lo = A.num(11), hi = A.num(12), m = A.num(13);
  } else {
    outF = A.arr<float>(6, napi_float32_array, &ol);
  }
  if (!A.ok) return A.fail("floatConv2dPool(x, w, bias | null, geometry: Int32Array(13), relu: boolean, poolGeometry: Int32Array(13), out: Float32Array | Int8Array, offset | null, n, scales, zp, lo, hi, m)");
  const size_t pooled = static_cast<size_t>(pg.n) * pg.oh * pg.ow * pg.c;
  if (pg.n != g.n || pg.h != g.oh || pg.w != g.ow || pg.c != g.oc || pg.oc != g.oc || pg.kh < 1 || pg.kw < 1 || pg.oh < 0 || pg.ow < 0)
    return A.range("floatConv2dPool: the pool geometry is not over the convolution's output");
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * g.c || wl < static_cast<size_t>(g.oc) * g.kh * g.kw * g.c || (bias && bl < static_cast<size_t>(g.oc)) || ol < pooled ||
      (outI && ((off && fl < static_cast<size_t>(g.oc)) || sl < static_cast<size_t>(g.oc))))
    return A.range("floatConv2dPool: an array is shorter than the geometry needs");
  const SmallCWeights sc(w, bias, nullptr, g, true);
  if (!sc.ok) return A.boolean(false);
  const SmallCRow row = smallCRows[sc.NB - 1][g.oc - (sc.NB - 1) * 16 <= 8 && __builtin_cpu_supports("avx512vl") ? 1 : 0];
  const int K = g.kh * g.kw * g.c;
  const int64_t rowLen = static_cast<int64_t>(g.ow) * g.oc, pooledRow = static_cast<int64_t>(pg.ow) * g.oc;
  // Threads over images for long calls only, as floatConv2d.
#pragma omp parallel if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * K > (int64_t{1} << 26) && g.n > 1)
  {
    // The rows of two consecutive windows lie within kh + sh consecutive rows: that many slots.
    const int slots = pg.kh + pg.sh;
    std::vector<float> patch(12 * K), ring(static_cast<size_t>(slots) * rowLen), pooledRows(outI ? 2 * pooledRow : 0);
    std::vector<int> slot(slots);
    // The convolution rows of window py (those not in the ring already).
    auto convRows = [&](int b, int py) {
      const int iy0 = py * pg.sh - pg.pt;
      const int ky0 = std::max(0, -iy0), ky1 = std::min(pg.kh, pg.h - iy0);
      for (int ky = ky0; ky < ky1; ky++) {
        const int r = iy0 + ky;
        if (slot[r % slots] == r) continue;
        row(x, sc.wP.data(), sc.biasP.data(), patch.data(), g, b, r, ring.data() + (r % slots) * rowLen, relu, nullptr, nullptr);
        slot[r % slots] = r;
      }
    };
    auto codes = [&](int b, int py) {
      quantRun(QuantArgs{pooledRows.data() + (py & 1) * pooledRow, static_cast<size_t>(pooledRow), static_cast<size_t>(g.oc), off, n, scales, zp, lo, hi, m, nullptr,
                         outI + (static_cast<int64_t>(b) * pg.oh + py) * pooledRow}, 2);
    };
#pragma omp for schedule(static)
    for (int b = 0; b < g.n; b++) {
      std::fill(slot.begin(), slot.end(), -1);
      if (pg.oh > 0) convRows(b, 0);
      for (int py = 0; py < pg.oh; py++) {
        if (py + 1 < pg.oh) convRows(b, py + 1);
        if (outF) { maxPoolRowAvx512(ring.data(), slots, pg, py, outF + (static_cast<int64_t>(b) * pg.oh + py) * pooledRow); continue; }
        maxPoolRowAvx512(ring.data(), slots, pg, py, pooledRows.data() + (py & 1) * pooledRow);
        if (py > 0) codes(b, py - 1);
      }
      if (outI && pg.oh > 0) codes(b, pg.oh - 1);
    }
  }
  return A.boolean(true);
}

#pragma GCC pop_options

}  // namespace

// Adds the runtime kernels to the addon's exports (called from the module's Init).
napi_value RegisterBitops(napi_env env, napi_value exports) {
  const struct { const char* name; napi_callback fn; } functions[] = {
    {"binaryConv2d", BinaryConv2d}, {"int8Conv2d", Int8Conv2d}, {"bitSerialConv2d", BitSerialConv2d}, {"floatConv2d", FloatConv2d}, {"floatDepthwiseConv2d", FloatDepthwiseConv2d}, {"floatDepthwiseConv2dResidual", FloatDepthwiseConv2dResidual}, {"floatConv2dPool", FloatConv2dPool},
    {"binaryConv2dThreshold", BinaryConv2dThreshold}, {"binaryConv2dAffine", BinaryConv2dAffine}, {"int8Conv2dAffine", Int8Conv2dAffine}, {"affineInt", AffineInt}, {"packThreshold", PackThreshold}, {"packSigns", PackSigns}, {"quantize", Quantize}, {"signs", Signs},
    {"affine", Affine}, {"clamp", Clamp}, {"prelu", Prelu}, {"addInto", AddInto}, {"add", Add}, {"pool", Pool}, {"globalAveragePool", GlobalAveragePool},
    {"concatInto", ConcatInto},
  };
  napi_value bitops;
  BITOPS_CALL(env, napi_create_object(env, &bitops));
  for (const auto& f : functions) {
    napi_value fn;
    BITOPS_CALL(env, napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &fn));
    BITOPS_CALL(env, napi_set_named_property(env, bitops, f.name, fn));
  }
  napi_value variant;
  BITOPS_CALL(env, napi_create_string_utf8(env, popcountVariant, NAPI_AUTO_LENGTH, &variant));
  BITOPS_CALL(env, napi_set_named_property(env, bitops, "popcount", variant));
  // binaryConv2dAffine takes the residual / PReLU arguments (res, alpha).
  napi_value residual;
  BITOPS_CALL(env, napi_get_boolean(env, true, &residual));
  BITOPS_CALL(env, napi_set_named_property(env, bitops, "residualEpilogue", residual));
  napi_value vnni, int8Padded;
  BITOPS_CALL(env, napi_get_boolean(env, hasVnni, &vnni));
  BITOPS_CALL(env, napi_set_named_property(env, bitops, "vnni", vnni));
  // int8Conv2d / int8Conv2dAffine take the padded weights (wp, wsum): VNNI or AVX2.
  BITOPS_CALL(env, napi_get_boolean(env, hasVnni || hasInt8Avx2, &int8Padded));
  BITOPS_CALL(env, napi_set_named_property(env, bitops, "int8Padded", int8Padded));
  BITOPS_CALL(env, napi_set_named_property(env, exports, "bitops", bitops));
  return exports;
}
