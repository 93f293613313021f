// The DQ auto-encoder's fused kernels over TF.js wasm-heap memory (a separate addon, lowbit_dq.node,
// loaded by src/methods/dq/native-kernels.ts, which also documents the parameter blocks):
//
// mixtureNll: the discretized logistic mixture NLL of src/methods/dq/mixture.ts (mixtureNllReference,
// the tfjs-ops chain this kernel is tested against in test/dq-fused.test.ts), with the crop of the
// 32×32 parameters to the 28×28 image folded in. Forward: −Σ_pixels logsumexp_k(log p_k + logsoftmax_k)
// per image. Backward: ∂params (zero on the cropped border) and ∂x in one pass, recomputing the
// forward's intermediates. Every elementwise step is the reference's float32 operation in the
// reference's order (std::exp/log/log1p as the native backend's unary kernels, native/dnnl_addon.cc
// Unary), so the per-pixel log-probabilities match it; the sums over pixels are float64. The gradient
// follows the reference's tape step by step, including the rounding residual (g − Σ_k ∂a_k) that its
// logsumexp sends to the max element through Max's Equal mask (docs/results/dq-speed.md: that Equal
// alone took 36 ms per step on wasm): near-cancelling terms (σ(a) − σ(b) of a sharp component) amplify
// any one-ulp difference, so matching the reference closely needs its exact operations.
//
// nearestCode: per position and group the nearest codeword (‖e‖² − 2 z·e, the ‖z‖² term added as the
// reference does), ties to the lowest index, and the looked-up codeword.
#include <node_api.h>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif
#include "parallel.h"
#include "napi_args.h"

namespace {

using lowbit::ReadArgs;  // native/napi_args.h

constexpr int kMaxMix = 64;

// TF.js's softplus thresholds, as the native backend's Softplus (native/dnnl_addon.cc Unary op 5).
inline float Softplus(float v, float threshold) {
  if (v > -threshold) return v;
  const float e = std::exp(v);
  return v < threshold ? e : std::log1p(e);
}
inline float Sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }
// tf.maximum as the native Maximum (NaN propagates).
inline float Maxf(float x, float y) { return (x != x || y != y) ? NAN : (x > y ? x : y); }

// One pixel's per-component quantities, shared by both passes.
struct Pixel {
  float xs;
  bool low, high;
};

// params: 0 pass (0 forward, 1 backward)  1 N  2 Hp  3 Wp  4 H  5 W  6 nMix  7 top  8 left
//         9 params [N, Hp, Wp, 3·nMix]  10 x [N, H, W, 1]  11 out (forward: nll [N]; backward: ∂params)
//         12 dy [N] (backward)  13 ∂x [N, H, W, 1] (backward)
napi_value MixtureNll(napi_env env, napi_callback_info info) {
  uint8_t* heap; const int32_t* p; size_t count;
  if (!ReadArgs(env, info, &heap, &p, &count) || count < 12) { napi_throw_error(env, nullptr, "lowbit dq mixtureNll: bad arguments"); return nullptr; }
  const int pass = p[0];
  const int64_t N = p[1], Hp = p[2], Wp = p[3], H = p[4], W = p[5];
  const int n = p[6];
  const int64_t top = p[7], left = p[8];
  if (n < 1 || n > kMaxMix || (pass == 1 && count < 14)) { napi_throw_error(env, nullptr, "lowbit dq mixtureNll: bad arguments"); return nullptr; }
  auto at = [&](int i) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[i])); };
  const float* __restrict params = at(9);
  const float* __restrict x = at(10);
  const int64_t C = 3 * n;
  const float threshold = std::log(1.1920928955078125e-7f) + 2.0f;
  const float h = static_cast<float>(1.0 / 255);
  const float lowEdge = static_cast<float>(-0.999), highEdge = static_cast<float>(0.999);
  const float floorP = static_cast<float>(1e-12);
  const float minLogScale = -7.0f;
  const int64_t rows = N * H;
  const bool par = static_cast<size_t>(rows * W * n) >= lowbit::parallelMinFor(32);

  if (pass == 0) {
    float* __restrict out = at(11);
    std::vector<double> rowSum(static_cast<size_t>(rows), 0.0);
    #pragma omp parallel for schedule(static) if (par)
    for (int64_t r = 0; r < rows; r++) {
      const int64_t img = r / H, y = r % H;
      double acc = 0;
      float v[kMaxMix], lsm[kMaxMix];
      for (int64_t xw = 0; xw < W; xw++) {
        const float* P = params + ((img * Hp + (y + top)) * Wp + (xw + left)) * C;
        const float xs = x[(img * H + y) * W + xw] * 2.0f - 1.0f;
        const bool low = xs < lowEdge, high = xs > highEdge;
        // logSoftmax (tfjs-core log_softmax): shifted = l − max; shifted − log(Σ exp(shifted)).
        float lmax = P[0];
        for (int k = 1; k < n; k++) lmax = Maxf(lmax, P[k]);
        float es = 0;
        for (int k = 0; k < n; k++) { lsm[k] = P[k] - lmax; es += std::exp(lsm[k]); }
        const float logEs = std::log(es);
        for (int k = 0; k < n; k++) {
          const float s = Maxf(P[2 * n + k], minLogScale);
          const float c = xs - P[n + k];
          const float inv = std::exp(-s);
          const float a = inv * (c + h), b = inv * (c - h);
          float lp;
          if (low) lp = a - Softplus(a, threshold);
          else if (high) lp = -Softplus(b, threshold);
          else lp = std::log(Maxf(Sigmoid(a) - Sigmoid(b), floorP));
          v[k] = lp + (lsm[k] - logEs);
        }
        // logSumExp (tfjs-core log_sum_exp): max + log(Σ exp(v − max)).
        float m = v[0];
        for (int k = 1; k < n; k++) m = Maxf(m, v[k]);
        float sum = 0;
        for (int k = 0; k < n; k++) sum += std::exp(v[k] - m);
        acc += static_cast<double>(m + std::log(sum));
      }
      rowSum[r] = acc;
    }
    for (int64_t i = 0; i < N; i++) {
      double s = 0;
      for (int64_t y = 0; y < H; y++) s += rowSum[i * H + y];
      out[i] = static_cast<float>(-s);
    }
    return nullptr;
  }

  float* __restrict dparams = at(11);
  const float* __restrict dy = at(12);
  float* __restrict dx = at(13);
  // The border the crop drops gets no gradient (the crop's pixels are all written below).
  #pragma omp parallel for schedule(static) if (par)
  for (int64_t r = 0; r < N * Hp; r++) {
    float* row = dparams + r * Wp * C;
    const int64_t y = r % Hp;
    if (y < top || y >= top + H) { std::memset(row, 0, sizeof(float) * Wp * C); continue; }
    std::memset(row, 0, sizeof(float) * left * C);
    std::memset(row + (left + W) * C, 0, sizeof(float) * (Wp - left - W) * C);
  }
  #pragma omp parallel for schedule(static) if (par)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t img = r / H, y = r % H;
    const float g = -dy[img];  // ∂(−Σ perPixel)
    float v[kMaxMix], lsm[kMaxMix], e[kMaxMix], invs[kMaxMix], as[kMaxMix], bs[kMaxMix], sas[kMaxMix], sbs[kMaxMix];
    for (int64_t xw = 0; xw < W; xw++) {
      const float* P = params + ((img * Hp + (y + top)) * Wp + (xw + left)) * C;
      float* D = dparams + ((img * Hp + (y + top)) * Wp + (xw + left)) * C;
      const float xs = x[(img * H + y) * W + xw] * 2.0f - 1.0f;
      const bool low = xs < lowEdge, high = xs > highEdge;
      // The forward pass, keeping what the gradient needs.
      float lmax = P[0];
      for (int k = 1; k < n; k++) lmax = Maxf(lmax, P[k]);
      float es = 0;
      for (int k = 0; k < n; k++) { lsm[k] = P[k] - lmax; es += std::exp(lsm[k]); }
      const float logEs = std::log(es);
      for (int k = 0; k < n; k++) {
        lsm[k] = lsm[k] - logEs;
        const float s = Maxf(P[2 * n + k], minLogScale);
        const float c = xs - P[n + k];
        const float inv = std::exp(-s);
        const float a = inv * (c + h), b = inv * (c - h);
        invs[k] = inv; as[k] = a; bs[k] = b;
        float lp;
        if (low) lp = a - Softplus(a, threshold);
        else if (high) lp = -Softplus(b, threshold);
        else {
          sas[k] = Sigmoid(a); sbs[k] = Sigmoid(b);
          lp = std::log(Maxf(sas[k] - sbs[k], floorP));
        }
        v[k] = lp + lsm[k];
      }
      float m = v[0];
      for (int k = 1; k < n; k++) m = Maxf(m, v[k]);
      float sum = 0;
      for (int k = 0; k < n; k++) { e[k] = std::exp(v[k] - m); sum += e[k]; }
      // log's gradient g/Σ, then exp's: ∂a_k = (g/Σ)·e_k; the max element(s) also get what reaches the max,
      // g − Σ_k ∂a_k (zero but for rounding), as tfjs's logSumExp gradient sends it through Max (an Equal mask).
      const float gs = g / sum;
      float daSum = 0;
      for (int k = 0; k < n; k++) { e[k] = gs * e[k]; daSum += e[k]; }
      const float toMax = g + (-daSum);
      for (int k = 0; k < n; k++) if (v[k] == m) e[k] = e[k] + toMax;
      float dvSum = 0;
      float dxs = 0;
      for (int k = 0; k < n; k++) {
        const float dv = e[k];
        dvSum += dv;
        // ∂ through the selected log-probability.
        const float c = xs - P[n + k];
        const float inv = invs[k];
        const float cp = c + h, cm = c - h;
        float da = 0, db = 0;
        if (low) {
          da = dv + (-dv) * Sigmoid(as[k]);  // a − softplus(a)
        } else if (high) {
          db = (-dv) * Sigmoid(bs[k]);  // −softplus(b)
        } else {
          const float sa = sas[k], sb = sbs[k];
          const float diff = sa - sb;
          if (diff >= floorP) {  // tf.maximum's gradient goes to its first input where a ≥ b
            const float dd = dv / diff;
            da = dd * (sa * (1.0f - sa));
            db = (-dd) * (sb * (1.0f - sb));
          }
        }
        const float dinv = da * cp + db * cm;
        const float dc = da * inv + db * inv;
        const float ds = -(dinv * inv);
        D[n + k] = -dc;
        D[2 * n + k] = P[2 * n + k] >= minLogScale ? ds : 0.0f;
        dxs += dc;
      }
      // logSoftmax's gradient (tfjs-core log_softmax): dy − Σdy·exp(logsoftmax).
      for (int k = 0; k < n; k++) D[k] = e[k] - dvSum * std::exp(lsm[k]);
      dx[(img * H + y) * W + xw] = dxs * 2.0f;
    }
  }
  return nullptr;
}

// params: 0 n (positions)  1 M (groups)  2 K (codes)  3 D (channels per group)
//         4 z [n, M·D]  5 codebooks [M, K, D]  6 idx [n, M] (int32)  7 q [n, M·D]
//         8 counts [M, K] (−1: none)  9 sums [M, K, D] (−1: none)
// Per position and group, d_k = (‖z‖² − 2·z·e_k) + ‖e_k‖² in float32 as nearestCodeIndices
// (src/quantizers/vector.ts) forms it, the squares and dot products summed in index order; the
// first k of the smallest d_k (tf.argMin's tie rule: the lowest index); q = e_k. Then, when asked,
// the per-group code counts and per-code sums of the assigned z (the EMA statistics that
// emaStep builds from one-hot products), summed in float64 over the positions in order (one
// thread: the same result for any thread count).
napi_value NearestCode(napi_env env, napi_callback_info info) {
  uint8_t* heap; const int32_t* p; size_t count;
  if (!ReadArgs(env, info, &heap, &p, &count) || count < 10) { napi_throw_error(env, nullptr, "lowbit dq nearestCode: bad arguments"); return nullptr; }
  const int64_t n = p[0], M = p[1], K = p[2], D = p[3];
  auto at = [&](int i) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[i])); };
  const float* __restrict z = at(4);
  const float* __restrict book = at(5);
  int32_t* __restrict idx = reinterpret_cast<int32_t*>(at(6));
  float* __restrict q = at(7);
  const int64_t C = M * D;
  std::vector<float> ee(static_cast<size_t>(M * K));
  for (int64_t g = 0; g < M * K; g++) {
    float s = 0;
    for (int64_t j = 0; j < D; j++) { const float v = book[g * D + j]; s += v * v; }
    ee[g] = s;
  }
  const bool par = static_cast<size_t>(n * M * K * D) >= lowbit::kParallelMin;
  #pragma omp parallel for schedule(static) if (par)
  for (int64_t i = 0; i < n; i++) {
    for (int64_t g = 0; g < M; g++) {
      const float* zg = z + i * C + g * D;
      float zz = 0;
      for (int64_t j = 0; j < D; j++) zz += zg[j] * zg[j];
      const float* bg = book + g * K * D;
      int64_t best = 0;
      float bestD = 0;
      for (int64_t k = 0; k < K; k++) {
        const float* e = bg + k * D;
        float dot = 0;
        for (int64_t j = 0; j < D; j++) dot += zg[j] * e[j];
        const float d = (zz - dot * 2.0f) + ee[g * K + k];
        if (k == 0 || d < bestD) { best = k; bestD = d; }
      }
      idx[i * M + g] = static_cast<int32_t>(best);
      std::memcpy(q + i * C + g * D, bg + best * D, sizeof(float) * D);
    }
  }
  if (p[8] >= 0 && p[9] >= 0) {
    float* counts = at(8);
    float* sums = at(9);
    std::vector<double> c(static_cast<size_t>(M * K), 0.0), s(static_cast<size_t>(M * K * D), 0.0);
    for (int64_t i = 0; i < n; i++) {
      for (int64_t g = 0; g < M; g++) {
        const int64_t code = g * K + idx[i * M + g];
        c[code] += 1;
        const float* zg = z + i * C + g * D;
        for (int64_t j = 0; j < D; j++) s[code * D + j] += zg[j];
      }
    }
    for (int64_t t = 0; t < M * K; t++) counts[t] = static_cast<float>(c[t]);
    for (int64_t t = 0; t < M * K * D; t++) sums[t] = static_cast<float>(s[t]);
  }
  return nullptr;
}

}  // namespace

// Adds `mixtureNll(heap, params)` and `nearestCode(heap, params)` to the addon's exports (called
// from dnnl_addon.cc's Init).
bool register_dq(napi_env env, napi_value exports) {
  const struct { const char* name; napi_callback fn; } functions[] = {{"mixtureNll", MixtureNll}, {"nearestCode", NearestCode}};
  for (const auto& f : functions) {
    napi_value fn;
    if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &fn) != napi_ok
        || napi_set_named_property(env, exports, f.name, fn) != napi_ok) return false;
  }
  return true;
}
