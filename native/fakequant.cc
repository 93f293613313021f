// Fused uniform fake-quantizers over TF.js wasm-heap memory: DoReFa's k-bit activations and weights, and LSQ,
// forward (the quantized value) and backward (∂x, and LSQ's ∂step as a reduction), one pass
// each. The math, the op order and the parameter layout are those of
// src/backend/fakequant-kernels.ts (the wasm version, which documents every formula); both are
// tested against the tfjs-ops chains in src/quantizers/dorefa.ts and uniform.ts
// (test/fakequant-fused.test.ts). Loops of selects that the compiler vectorises (binding.gyp's
// -fno-trapping-math lets it if-convert them); OpenMP only for large tensors.
#include <node_api.h>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#include "expf.h"
#include "parallel.h"
#endif

namespace {

// params (int32; floats as their float32 bits):
//  0 method (0 DoReFa activation, 1 LSQ, 2 DoReFa k-bit weights, tanh included)  1 pass (0 forward, 1 backward)  2 count  3 q_min  4 q_max
//  5 n  6 g  7 x  8 step  9 out (forward: y; backward: dx)  10 dy  11 dstep
constexpr size_t kParams = 12;
using lowbit::kParallelMin;  // native/parallel.h

float f32(const int32_t* p, int i) { float v; std::memcpy(&v, &p[i], sizeof v); return v; }

// Round half to even (tf.round) under the default rounding mode: adding 2^23 leaves no fraction
// bits, so the addition rounds |v| to the nearest integer, ties to even. |v| ≥ 2^23 is an integer.
inline float round_even(float v) {
  const float a = std::fabs(v);
  const float r = std::copysign((a + 8388608.0f) - 8388608.0f, v);
  return a < 8388608.0f ? r : v;
}

// clip(v, lo, hi) as std::fmin(std::fmax(v, lo), hi) gives it (NaN → lo), written as selects so
// that GCC vectorises the loops (it does not vectorise fmin/fmax without -ffinite-math-only).
inline float clampf(float v, float lo, float hi) {
  const float a = v > lo ? v : lo;
  return a < hi ? a : hi;
}

// Σ term(i) over i < n, deterministic: each thread sums its static block of 8-element groups into
// 8 float64 accumulators (independent chains, so the adds pipeline and the group vectorises),
// the threads' sums are added in thread order, then the n mod 8 tail. `term` may also write its
// element's output.
template <typename Term>
double OrderedSum(int64_t n, bool par, Term term) {
  int threads = 1;
#ifdef _OPENMP
  if (par) threads = omp_get_max_threads();
#endif
  const int64_t groups = n / 8;
  std::vector<double> partial(threads, 0.0);
  #pragma omp parallel num_threads(threads) if (par)
  {
    int th = 0;
#ifdef _OPENMP
    th = omp_get_thread_num();
#endif
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    #pragma omp for schedule(static)
    for (int64_t b = 0; b < groups; b++) {
      for (int j = 0; j < 8; j++) acc[j] += term(b * 8 + j);
    }
    partial[th] = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  }
  double total = 0;
  for (double v : partial) total += v;
  for (int64_t i = groups * 8; i < n; i++) total += term(i);
  return total;
}

// max|t| over the tensor (exact in any order).
float MaxAbs(int64_t n, const float* __restrict t, bool par) {
  float m = 0;
  #pragma omp parallel for schedule(static) reduction(max : m) if (par)
  for (int64_t i = 0; i < n; i++) m = std::fmax(m, std::fabs(t[i]));
  return m;
}

// tanh(x) in float32 without a call, so the loops below vectorise (std::tanh is a scalar libm call:
// ~6 ms a step for lenet5's 425k weights at batch 64, bench/results/dorefa-tanh/). Cephes' tanhf:
// for |x| < 0.625 its odd polynomial x + x³·P(x²); above, (1 − e)/(1 + e) with e = e^(−2|x|)
// (no cancellation: e < 0.29), e from Cephes' expf reduction and polynomial with rint as the
// 1.5·2^23 trick; |x| ≥ 9 gives ±1 (e < 2^−25, as tanhf rounds it). Within 2 ulp of tanh (the
// test compares with TF.js's own Tanh). NaN stays NaN, ±0 stays ±0.
inline float tanh_f32(float x) {
  const float a = std::fabs(x);
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = (p * z) * x + x;
  // e = e^(−2a), 2a clamped to 87 (then e ≈ 1.6e-38, and the result rounds to 1 anyway).
  const float y = -(a < 43.5f ? a : 43.5f) * 2.0f;
  const float n = (y * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  const float q = lowbit::expReduced(y, n);
  int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale; std::memcpy(&scale, &bits, sizeof scale);
  const float e = q * scale;
  const float big = std::copysign((1.0f - e) / (1.0f + e), x);
  return a < 0.625f ? (a == 0.0f ? x : small) : (a == a ? big : x);
}

// DoReFa k-bit weights, tanh included, as src/quantizers/dorefa.ts's chain computes them:
// t = tanh(w), m2 = 2·max|t|, y = 2·(round((t/m2 + ½)·n)/n) − 1. Backward, the chain's autodiff
// step by step: du = (2·dy/n)·n, ∂t = du/m2 + [|t| = max|t|]·sign(t)·∂m, ∂m = 2·(−(Σ du·t)/m2²)
// (the Σ in float64), then TF.js's Tanh gradient ∂w = (1 − t·t)·∂t. t is recomputed in the
// backward pass (a weight tensor: cheap) instead of being kept between the passes.
napi_value DorefaWeight(int pass, int64_t n, float levels, const float* __restrict w, float* __restrict out,
                        const float* __restrict dy, bool par) {
  std::vector<float> tv(static_cast<size_t>(n));
  float* __restrict t = tv.data();
  #pragma omp parallel for schedule(static) if (par)
  for (int64_t i = 0; i < n; i++) t[i] = tanh_f32(w[i]);
  const float m = MaxAbs(n, t, par);
  const float m2 = m * 2.0f;
  if (pass == 0) {
    #pragma omp parallel for schedule(static) if (par)
    for (int64_t i = 0; i < n; i++) {
      const float u = t[i] / m2 + 0.5f;
      out[i] = (round_even(u * levels) / levels) * 2.0f - 1.0f;
    }
    return nullptr;
  }
  // du/m2 and the float32 terms du·t in one vectorised pass, then their float64 sum.
  std::vector<float> termv(static_cast<size_t>(n));
  float* __restrict terms = termv.data();
  #pragma omp parallel for schedule(static) if (par)
  for (int64_t i = 0; i < n; i++) {
    const float du = ((dy[i] * 2.0f) / levels) * levels;
    out[i] = du / m2;
    terms[i] = du * t[i];
  }
  const double total = OrderedSum(n, par, [terms](int64_t i) { return static_cast<double>(terms[i]); });
  const float dm = -(static_cast<float>(total) / (m2 * m2)) * 2.0f;
  #pragma omp parallel for schedule(static) if (par)
  for (int64_t i = 0; i < n; i++) {
    const float dt = std::fabs(t[i]) == m ? out[i] + dm * (t[i] > 0.0f ? 1.0f : -1.0f) : out[i];
    out[i] = (1.0f - t[i] * t[i]) * dt;
  }
  return nullptr;
}

napi_value FakeQuant(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  void* data; size_t len; napi_typedarray_type type; size_t count; void* pdata; napi_value ab; size_t off;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2
      || napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok
      || napi_get_typedarray_info(env, argv[1], &type, &count, &pdata, &ab, &off) != napi_ok
      || type != napi_int32_array || count < kParams) {
    napi_throw_error(env, nullptr, "lowbit native fakeQuant: bad arguments");
    return nullptr;
  }
  uint8_t* heap = static_cast<uint8_t*>(data);
  const int32_t* p = static_cast<const int32_t*>(pdata);
  auto at = [&](int i) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[i])); };
  const int method = p[0], pass = p[1];
  const int64_t n = static_cast<uint32_t>(p[2]);
  const float qMin = static_cast<float>(p[3]), qMax = static_cast<float>(p[4]);
  const float levels = f32(p, 5), g = f32(p, 6);
  const float* __restrict x = at(7);
  float* __restrict out = at(9);
  const bool par = n >= static_cast<int64_t>(kParallelMin);
  if (method == 0) {
    if (pass == 0) {
      #pragma omp parallel for schedule(static) if (par)
      for (int64_t i = 0; i < n; i++) {
        const float c = clampf(x[i], 0.0f, 1.0f);
        out[i] = round_even(c * levels) / levels;
      }
    } else {
      const float* __restrict dy = at(10);
      #pragma omp parallel for schedule(static) if (par)
      for (int64_t i = 0; i < n; i++) out[i] = dy[i] * ((x[i] >= 0.0f && x[i] <= 1.0f) ? 1.0f : 0.0f);
    }
    return nullptr;
  }
  if (method == 2) return DorefaWeight(pass, n, levels, x, out, pass == 1 ? at(10) : nullptr, par);
  const float s = *at(8);
  if (pass == 0) {
    #pragma omp parallel for schedule(static) if (par)
    for (int64_t i = 0; i < n; i++) {
      const float v = x[i] / s;
      out[i] = round_even(clampf(v, qMin, qMax)) * s;
    }
    return nullptr;
  }
  const float* __restrict dy = at(10);
  // ∂x and the float32 terms dy·e of ∂step in one vectorised pass, then ∂step summed in float64,
  // deterministically (OrderedSum). (One pass doing both ran scalar: ~10× slower.)
  std::vector<float> termv(static_cast<size_t>(n));
  float* __restrict terms = termv.data();
  #pragma omp parallel for schedule(static) if (par)
  for (int64_t i = 0; i < n; i++) {
    const float v = x[i] / s;
    const bool inside = v >= qMin && v <= qMax;
    out[i] = dy[i] * (inside ? 1.0f : 0.0f);
    const float e = inside ? round_even(v) - v : (v < qMin ? qMin : (v > qMax ? qMax : 0.0f));
    terms[i] = dy[i] * e;
  }
  const double total = OrderedSum(n, par, [terms](int64_t i) { return static_cast<double>(terms[i]); });
  *at(11) = static_cast<float>(total) * g;
  return nullptr;
}

}  // namespace

// Adds `fakeQuant(heap, params)` to the addon's exports (called from dnnl_addon.cc's Init).
bool register_fakequant(napi_env env, napi_value exports) {
  napi_value fn;
  return napi_create_function(env, "fakeQuant", NAPI_AUTO_LENGTH, FakeQuant, nullptr, &fn) == napi_ok
      && napi_set_named_property(env, exports, "fakeQuant", fn) == napi_ok;
}
