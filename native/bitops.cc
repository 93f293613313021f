// The bitwise runtime's native kernels (src/runtime/kernels.ts is the contract): binary
// convolution by XOR + popcount over packed sign bits, int8 convolution with int32 sums, float
// convolutions. NHWC activations, output-channel-major weights, caller-owned typed arrays; the
// geometry comes as an Int32Array [n, h, w, c, kh, kw, strideH, strideW, padTop, padLeft, outH,
// outW, outC]. Padding taps are skipped (they contribute 0). Threads: OpenMP over output rows.
// The binary inner loop is compiled three times (AVX-512 VPOPCNTDQ, AVX2, baseline) and chosen
// at run time with __builtin_cpu_supports.
#include <node_api.h>
#include <algorithm>
#include <cstdint>
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
__attribute__((target("avx512f,avx512vpopcntdq"))) void binaryRowBlocked(const uint32_t* x, const uint32_t* wt, const Geometry& g, int b, int oy, int32_t* out) {
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
      _mm512_mask_storeu_epi32(o + blk * 16, rem >= 16 ? static_cast<__mmask16>(0xFFFF) : static_cast<__mmask16>((1u << rem) - 1), res);
    }
  }
}

napi_value BinaryConv2d(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value args[5];
  BITOPS_CALL(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  uint32_t *x, *w, *wt = nullptr;
  int32_t* out;
  size_t xl, wl, ol;
  Geometry g;
  if (argc < 4 || !typedArray(env, args[0], napi_uint32_array, &x, &xl) || !typedArray(env, args[1], napi_uint32_array, &w, &wl) ||
      !readGeometry(env, args[2], &g) || !typedArray(env, args[3], napi_int32_array, &out, &ol)) {
    napi_throw_type_error(env, nullptr, "binaryConv2d(x: Uint32Array, w: Uint32Array, geometry: Int32Array(13), out: Int32Array)");
    return nullptr;
  }
  const int words = (g.c + 31) / 32;
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * words || wl < static_cast<size_t>(g.oc) * g.kh * g.kw * words || ol < static_cast<size_t>(g.n) * g.oh * g.ow * g.oc) {
    napi_throw_range_error(env, nullptr, "binaryConv2d: an array is shorter than the geometry needs");
    return nullptr;
  }
  // Optional 5th argument: the weights interleaved 16 output channels at a time (binaryRowBlocked).
  size_t wtl = 0;
  const size_t blockedWords = static_cast<size_t>((g.oc + 15) / 16) * g.kh * g.kw * words * 16;
  if (argc >= 5 && popcountVariant == std::string("avx512vpopcntdq") && typedArray(env, args[4], napi_uint32_array, &wt, &wtl) && wtl >= blockedWords) {
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * g.kh * g.kw * words > (1 << 24))
    for (int b = 0; b < g.n; b++)
      for (int oy = 0; oy < g.oh; oy++) binaryRowBlocked(x, wt, g, b, oy, out);
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

napi_value Int8Conv2d(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value args[4];
  BITOPS_CALL(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  int8_t *x, *w;
  int32_t* out;
  size_t xl, wl, ol;
  Geometry g;
  if (argc < 4 || !typedArray(env, args[0], napi_int8_array, &x, &xl) || !typedArray(env, args[1], napi_int8_array, &w, &wl) ||
      !readGeometry(env, args[2], &g) || !typedArray(env, args[3], napi_int32_array, &out, &ol)) {
    napi_throw_type_error(env, nullptr, "int8Conv2d(x: Int8Array, w: Int8Array, geometry: Int32Array(13), out: Int32Array)");
    return nullptr;
  }
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * g.c || wl < static_cast<size_t>(g.oc) * g.kh * g.kw * g.c || ol < static_cast<size_t>(g.n) * g.oh * g.ow * g.oc) {
    napi_throw_range_error(env, nullptr, "int8Conv2d: an array is shorter than the geometry needs");
    return nullptr;
  }
#pragma omp parallel for collapse(2) schedule(static) if (static_cast<int64_t>(g.n) * g.oh * g.ow * g.oc * g.kh * g.kw * g.c > (1 << 22))
  for (int b = 0; b < g.n; b++)
    for (int oy = 0; oy < g.oh; oy++) int8Row(x, w, g, b, oy, out);
  return nullptr;
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

using FloatRow = void (*)(const float*, const float*, const float*, float*, const float*, const Geometry&, bool, int, int, float*);
const FloatRow floatRow = __builtin_cpu_supports("avx512f") ? floatRowAvx512 : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? floatRowAvx2 : floatRowBase;

napi_value FloatConv(napi_env env, napi_callback_info info, bool depthwise) {
  size_t argc = 5;
  napi_value args[5];
  BITOPS_CALL(env, napi_get_cb_info(env, info, &argc, args, nullptr, nullptr));
  float *x, *w, *out, *bias = nullptr;
  size_t xl, wl, ol, bl = 0;
  Geometry g;
  napi_valuetype bt = napi_null;
  if (argc >= 3) napi_typeof(env, args[2], &bt);
  if (argc < 5 || !typedArray(env, args[0], napi_float32_array, &x, &xl) || !typedArray(env, args[1], napi_float32_array, &w, &wl) ||
      (bt != napi_null && bt != napi_undefined && !typedArray(env, args[2], napi_float32_array, &bias, &bl)) ||
      !readGeometry(env, args[3], &g) || !typedArray(env, args[4], napi_float32_array, &out, &ol)) {
    napi_throw_type_error(env, nullptr, "floatConv2d(x, w, bias | null, geometry: Int32Array(13), out): Float32Arrays");
    return nullptr;
  }
  const size_t wNeed = depthwise ? static_cast<size_t>(g.kh) * g.kw * g.c : static_cast<size_t>(g.oc) * g.kh * g.kw * g.c;
  if (xl < static_cast<size_t>(g.n) * g.h * g.w * g.c || wl < wNeed || ol < static_cast<size_t>(g.n) * g.oh * g.ow * g.oc || (bias && bl < static_cast<size_t>(g.oc))) {
    napi_throw_range_error(env, nullptr, "floatConv2d: an array is shorter than the geometry needs");
    return nullptr;
  }
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
napi_value FloatDepthwiseConv2d(napi_env env, napi_callback_info info) { return FloatConv(env, info, true); }

}  // namespace

// Adds the runtime kernels to the addon's exports (called from the module's Init).
napi_value RegisterBitops(napi_env env, napi_value exports) {
  const struct { const char* name; napi_callback fn; } functions[] = {
    {"binaryConv2d", BinaryConv2d}, {"int8Conv2d", Int8Conv2d}, {"floatConv2d", FloatConv2d}, {"floatDepthwiseConv2d", FloatDepthwiseConv2d},
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
  BITOPS_CALL(env, napi_set_named_property(env, exports, "bitops", bitops));
  return exports;
}
