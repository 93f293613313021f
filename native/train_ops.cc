// Training kernels over TF.js wasm-heap memory that TF.js's wasm backend runs as slow kernels or
// as chains of ops: PReLU with per-channel α (forward, and its gradient in one pass instead of
// Greater, two Selects, two Multiplies, ZerosLike and a Sum), the gradient of average pooling,
// and concatenation / splitting along an axis (wasm's Concat copies one inner row at a time from
// JS; its SplitV is one Slice per part). Registered by src/backend/native.ts, which falls back to
// the wasm kernels where these do not apply; agreement with the wasm kernels and TF.js's PReLU
// gradient is tested in test/native-train-ops.test.ts, and BiTAT's fused sign (Sign below) against its op
// chain in test/native-sign.test.ts. Profile: docs/engine.md.
#include <node_api.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#include "parallel.h"
#include "napi_args.h"
#endif

namespace {

using lowbit::kParallelMin;  // native/parallel.h

using lowbit::ReadArgs;  // native/napi_args.h

// One row of PReLU, forward. Restrict parameters, selects and no-trapping-math (the compare may not
// raise FP exceptions; values are unchanged) let GCC vectorise it: a branch on the sign of random
// activations mispredicts half the time (10× slower than wasm's kernel, measured).
__attribute__((optimize("no-trapping-math"))) void PreluRow(size_t C, const float* __restrict x, const float* __restrict alpha, float* __restrict y) {
  for (size_t c = 0; c < C; c++) { const float v = x[c]; const float s = alpha[c] * v; y[c] = v < 0.0f ? s : v; }
}

// One row of its gradient: dx, and dα's terms added to acc.
__attribute__((optimize("no-trapping-math"))) void PreluGradRow(size_t C, const float* __restrict x, const float* __restrict alpha, const float* __restrict dy,
                  float* __restrict dx, double* __restrict acc) {
  for (size_t c = 0; c < C; c++) {
    const float v = x[c], g = dy[c];
    const bool pos = v > 0.0f;
    const float ga = g * alpha[c];
    const float gx = g * v;
    const float t = pos ? 0.0f : gx;
    dx[c] = pos ? g : ga;
    acc[c] += static_cast<double>(t);
  }
}

// params: pass (0 forward, 1 backward), R, C, xOff, alphaOff, outOff (forward: y; backward: dx),
// dyOff, dalphaOff. x is [R, C], α is [C] (one per last-axis channel).
// Forward, as TF.js's Prelu: y = x < 0 ? α·x : x.
// Backward, TF.js's Prelu gradient (tfjs-core Prelu_grad) in one pass: with mask = x > 0,
// dx = mask ? dy : dy·α; dα_c = Σ_r (mask ? 0 : dy·x), summed in float64 over a static schedule
// and added in thread order (deterministic).
napi_value Prelu(napi_env env, napi_callback_info info) {
  uint8_t* heap; const int32_t* p; size_t n;
  if (!ReadArgs(env, info, &heap, &p, &n) || n < 8) { napi_throw_error(env, nullptr, "lowbit native prelu: bad arguments"); return nullptr; }
  auto at = [&](int i) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[i])); };
  const int pass = p[0];
  const size_t R = static_cast<uint32_t>(p[1]), C = static_cast<uint32_t>(p[2]);
  const float* x = at(3);
  const float* alpha = at(4);
  float* out = at(5);
  const bool par = R * C >= kParallelMin;
  if (pass == 0) {
    #pragma omp parallel for schedule(static) if (par)
    for (size_t r = 0; r < R; r++) PreluRow(C, x + r * C, alpha, out + r * C);
    return nullptr;
  }
  const float* dy = at(6);
  float* dalpha = at(7);
  int threads = 1;
#ifdef _OPENMP
  if (par) threads = omp_get_max_threads();
#endif
  std::vector<double> partial(static_cast<size_t>(threads) * C, 0.0);
  #pragma omp parallel num_threads(threads) if (par)
  {
    int th = 0;
#ifdef _OPENMP
    th = omp_get_thread_num();
#endif
    double* acc = partial.data() + static_cast<size_t>(th) * C;
    #pragma omp for schedule(static)
    for (size_t r = 0; r < R; r++) PreluGradRow(C, x + r * C, alpha, dy + r * C, out + r * C, acc);
  }
  for (size_t c = 0; c < C; c++) {
    double s = 0;
    for (int t = 0; t < threads; t++) s += partial[static_cast<size_t>(t) * C + c];
    dalpha[c] = static_cast<float>(s);
  }
  return nullptr;
}

// params: B, H, W, C, OH, OW, KH, KW, SH, SW, dyOff, dxOff. The gradient of an average pool with
// no padding, as TF.js's wasm kernel computes it (bit-identical, tested): dx[b,h,w,c] = the sum of
// dy[b,oh,ow,c]·(1/(KH·KW)) over the windows (oh, ow) covering (h, w), rows then columns
// ascending. Parallel over images.
napi_value AvgPoolGrad(napi_env env, napi_callback_info info) {
  uint8_t* heap; const int32_t* p; size_t n;
  if (!ReadArgs(env, info, &heap, &p, &n) || n < 12) { napi_throw_error(env, nullptr, "lowbit native avgPoolGrad: bad arguments"); return nullptr; }
  const int B = p[0], H = p[1], W = p[2], C = p[3], OH = p[4], OW = p[5], KH = p[6], KW = p[7], SH = p[8], SW = p[9];
  const float* dy = reinterpret_cast<const float*>(heap + static_cast<uint32_t>(p[10]));
  float* dx = reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[11]));
  const float k = 1.0f / static_cast<float>(KH * KW);
  // Windows oh with oh·SH ≤ h < oh·SH + KH: from ⌈(h − KH + 1)/SH⌉ (at least 0) to ⌊h/SH⌋ (below OH).
  auto first = [](int v, int K, int S) { const int a = v - K + 1; return a <= 0 ? 0 : (a + S - 1) / S; };
  #pragma omp parallel for schedule(static) if (static_cast<size_t>(B) * H * W * C >= kParallelMin)
  for (int b = 0; b < B; b++) {
    std::vector<float> acc(C);
    for (int h = 0; h < H; h++) for (int w = 0; w < W; w++) {
      std::fill(acc.begin(), acc.end(), 0.0f);
      const int oh1 = std::min(h / SH, OH - 1), ow1 = std::min(w / SW, OW - 1);
      for (int oh = first(h, KH, SH); oh <= oh1; oh++) for (int ow = first(w, KW, SW); ow <= ow1; ow++) {
        const float* g = dy + ((static_cast<size_t>(b) * OH + oh) * OW + ow) * C;
        for (int c = 0; c < C; c++) acc[c] += g[c] * k;
      }
      float* d = dx + ((static_cast<size_t>(b) * H + h) * W + w) * C;
      std::copy(acc.begin(), acc.end(), d);
    }
  }
  return nullptr;
}

// params: direction (0 concat: parts → whole, 1 split: whole → parts), outer, parts, wholeOff,
// then per part: inner (elements per outer row), partOff. The whole is [outer, Σ inner]; part i is
// [outer, inner_i], its rows at column Σ_{j<i} inner_j of the whole's rows (a concat or split along
// one axis, the dims before it flattened into `outer`, the axis and the dims after it into `inner`).
napi_value AxisCopy(napi_env env, napi_callback_info info) {
  uint8_t* heap; const int32_t* p; size_t n;
  if (!ReadArgs(env, info, &heap, &p, &n) || n < 4 || n < 4 + 2 * static_cast<size_t>(p[2])) {
    napi_throw_error(env, nullptr, "lowbit native axisCopy: bad arguments"); return nullptr;
  }
  const int direction = p[0];
  const size_t outer = static_cast<uint32_t>(p[1]);
  const int parts = p[2];
  float* whole = reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[3]));
  std::vector<size_t> inner(parts), col(parts);
  std::vector<float*> ptr(parts);
  size_t total = 0;
  for (int i = 0; i < parts; i++) {
    inner[i] = static_cast<uint32_t>(p[4 + 2 * i]);
    ptr[i] = reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[5 + 2 * i]));
    col[i] = total;
    total += inner[i];
  }
  #pragma omp parallel for schedule(static) if (outer * total >= kParallelMin)
  for (size_t o = 0; o < outer; o++) {
    float* row = whole + o * total;
    for (int i = 0; i < parts; i++) {
      float* part = ptr[i] + o * inner[i];
      if (direction == 0) std::memcpy(row + col[i], part, inner[i] * sizeof(float));
      else std::memcpy(part, row + col[i], inner[i] * sizeof(float));
    }
  }
  return nullptr;
}

// params: n, oldMeanOff, oldVarOff, meanOff, varOff, outMeanOff, outVarOff, factor (float32 bits).
// Batch norm's two moving averages in one call, in tfjs-layers' float32 operation order:
// out = old − (old − value)·factor, factor = 1 − momentum (src/backend/native-batchnorm.ts).
napi_value MovingAverages(napi_env env, napi_callback_info info) {
  uint8_t* heap; const int32_t* p; size_t n;
  if (!ReadArgs(env, info, &heap, &p, &n) || n < 8) { napi_throw_error(env, nullptr, "lowbit native movingAverages: bad arguments"); return nullptr; }
  auto at = [&](int i) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[i])); };
  const size_t count = static_cast<uint32_t>(p[0]);
  float factor; std::memcpy(&factor, &p[7], sizeof factor);
  for (int k = 0; k < 2; k++) {
    const float* old = at(1 + k); const float* value = at(3 + k); float* out = at(5 + k);
    for (size_t i = 0; i < count; i++) out[i] = old[i] - (old[i] - value[i]) * factor;
  }
  return nullptr;
}

// The 1-bit sign of BiTAT's binarizers (src/quantizers/binary.ts; src/backend/sign-kernels.ts
// documents the formulas): t = x + b_c (b: RSign's per-channel threshold, or none), forward
// y = t ≥ 0 ? a_c : −a_c (a: the per-column scale of binary weights, or 1), backward
// dx = dy·g(t) with g the clipped STE [−1 ≤ t ≤ 1] (mode 0) or ApproxSign's max(0, 2 − 2|t|)
// (mode 1), in the reference op chain's float32 order (|t|·2, 2 − that, ReLU, dy·that), so values
// and dx are bit-identical to it. NaN t: y = −a (the chain's GreaterEqual is false), dx as the chain.
//
// One row each way; templates so that each variant is its own straight loop of selects, which GCC
// vectorises (restrict parameters, no-trapping-math: see PreluRow).
template <bool kThreshold, bool kScale>
__attribute__((optimize("no-trapping-math"))) void SignRow(size_t C, const float* __restrict x, const float* __restrict b,
                                                           const float* __restrict a, float* __restrict y) {
  for (size_t c = 0; c < C; c++) {
    const float t = kThreshold ? x[c] + b[c] : x[c];
    const float s = kScale ? a[c] : 1.0f;
    y[c] = t >= 0.0f ? s : -s;
  }
}

template <bool kThreshold, int kMode>
__attribute__((optimize("no-trapping-math"))) void SignGradRow(size_t C, const float* __restrict x, const float* __restrict b,
                                                               const float* __restrict dy, float* __restrict dx) {
  for (size_t c = 0; c < C; c++) {
    const float t = kThreshold ? x[c] + b[c] : x[c];
    float g;
    if (kMode == 0) {
      g = (t >= -1.0f && t <= 1.0f) ? 1.0f : 0.0f;
    } else {
      const float v = 2.0f - std::fabs(t) * 2.0f;
      g = v < 0.0f ? 0.0f : v;  // ReLU: NaN stays NaN
    }
    dx[c] = dy[c] * g;
  }
}

template <typename Row>
void SignRows(size_t R, size_t C, bool par, Row row) {
  #pragma omp parallel for schedule(static) if (par)
  for (size_t r = 0; r < R; r++) row(r);
}

// params: pass (0 forward, 1 backward), mode (backward: 0 clipped STE, 1 ApproxSign), R, C, xOff,
// thresholdOff (−1: none), scaleOff (−1: none; forward only), outOff (y or dx), dyOff (backward).
// x, y, dy and dx are [R, C]; threshold and scale are [C].
napi_value Sign(napi_env env, napi_callback_info info) {
  uint8_t* heap; const int32_t* p; size_t n;
  if (!ReadArgs(env, info, &heap, &p, &n) || n < 9) { napi_throw_error(env, nullptr, "lowbit native sign: bad arguments"); return nullptr; }
  auto at = [&](int i) { return p[i] < 0 ? nullptr : reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[i])); };
  const int pass = p[0], mode = p[1];
  const size_t R = static_cast<uint32_t>(p[2]), C = static_cast<uint32_t>(p[3]);
  const float* x = at(4);
  const float* b = at(5);
  const float* a = at(6);
  float* out = at(7);
  const float* dy = at(8);
  if (b != nullptr && a != nullptr) { napi_throw_error(env, nullptr, "lowbit native sign: a threshold or a scale, not both"); return nullptr; }
  const bool par = R * C >= kParallelMin;
  if (pass == 0) {
    if (b != nullptr) SignRows(R, C, par, [=](size_t r) { SignRow<true, false>(C, x + r * C, b, nullptr, out + r * C); });
    else if (a != nullptr) SignRows(R, C, par, [=](size_t r) { SignRow<false, true>(C, x + r * C, nullptr, a, out + r * C); });
    else SignRows(R, C, par, [=](size_t r) { SignRow<false, false>(C, x + r * C, nullptr, nullptr, out + r * C); });
  } else if (b != nullptr) {
    if (mode == 0) SignRows(R, C, par, [=](size_t r) { SignGradRow<true, 0>(C, x + r * C, b, dy + r * C, out + r * C); });
    else SignRows(R, C, par, [=](size_t r) { SignGradRow<true, 1>(C, x + r * C, b, dy + r * C, out + r * C); });
  } else {
    if (mode == 0) SignRows(R, C, par, [=](size_t r) { SignGradRow<false, 0>(C, x + r * C, nullptr, dy + r * C, out + r * C); });
    else SignRows(R, C, par, [=](size_t r) { SignGradRow<false, 1>(C, x + r * C, nullptr, dy + r * C, out + r * C); });
  }
  return nullptr;
}

// ReLU's gradient as TF.js computes it (tfjs-core Relu_grad: dy·cast(step(x), 'float32')) in one
// pass instead of a Step and a Multiply kernel: dx = dy·s, s = 1 where x > 0, 0 where x ≤ 0 and x
// itself where x is NaN (the native Step kernel's value, native/dnnl_addon.cc Unary op 8), so the
// products, signed zeros and NaNs included, are bit-identical to the two kernels
// (test/native-step-relu.test.ts). Selects and no-trapping-math: see PreluRow.
__attribute__((optimize("no-trapping-math"))) void ReluGradRange(size_t n, const float* __restrict x, const float* __restrict dy, float* __restrict dx) {
  for (size_t i = 0; i < n; i++) {
    const float v = x[i];
    const float s = v > 0.0f ? 1.0f : 0.0f;
    dx[i] = dy[i] * (v == v ? s : v);
  }
}

// params: n, xOff, dyOff, dxOff.
napi_value ReluGrad(napi_env env, napi_callback_info info) {
  uint8_t* heap; const int32_t* p; size_t n;
  if (!ReadArgs(env, info, &heap, &p, &n) || n < 4) { napi_throw_error(env, nullptr, "lowbit native reluGrad: bad arguments"); return nullptr; }
  auto at = [&](int i) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[i])); };
  const size_t count = static_cast<uint32_t>(p[0]);
  const float* x = at(1);
  const float* dy = at(2);
  float* dx = at(3);
  constexpr size_t kBlock = 4096;
  const size_t blocks = (count + kBlock - 1) / kBlock;
  #pragma omp parallel for schedule(static) if (count >= kParallelMin)
  for (size_t b = 0; b < blocks; b++) {
    const size_t i0 = b * kBlock, len = std::min(kBlock, count - i0);
    ReluGradRange(len, x + i0, dy + i0, dx + i0);
  }
  return nullptr;
}

// The gradient of a mean over a run of axes (TF.js's Mean gradient, tfjs-core Mean_grad:
// (reshape(dy)·ones(x.shape))/R, for global average pooling a full-size ones tensor filled in JS,
// a Multiply and a RealDiv): dx[o, r, c] = dy[o, c] / R in float32, R the reduced size, the same
// quotient RealDiv gives (dy·1 = dy), so bit-identical. params: outer, R, C, dyOff, dxOff, R as
// float32 bits. dx is [outer, R, C], dy [outer, C].
napi_value MeanGrad(napi_env env, napi_callback_info info) {
  uint8_t* heap; const int32_t* p; size_t n;
  if (!ReadArgs(env, info, &heap, &p, &n) || n < 6) { napi_throw_error(env, nullptr, "lowbit native meanGrad: bad arguments"); return nullptr; }
  const size_t outer = static_cast<uint32_t>(p[0]), R = static_cast<uint32_t>(p[1]), C = static_cast<uint32_t>(p[2]);
  const float* dy = reinterpret_cast<const float*>(heap + static_cast<uint32_t>(p[3]));
  float* dx = reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[4]));
  float divisor; std::memcpy(&divisor, &p[5], sizeof divisor);
  #pragma omp parallel for schedule(static) if (outer * R * C >= kParallelMin)
  for (size_t o = 0; o < outer; o++) {
    const float* g = dy + o * C;
    for (size_t r = 0; r < R; r++) {
      float* d = dx + (o * R + r) * C;
      for (size_t c = 0; c < C; c++) d[c] = g[c] / divisor;
    }
  }
  return nullptr;
}

// Per-channel float64 sums over the rows of an [R, C] matrix for the training batch norm, in
// native/dnnl_addon.cc channel_sums' order, so bit-identical to it: each thread takes OpenMP's
// schedule(static) block of rows, adds each channel's terms from 0.0 in row order, and the thread
// partials are added to 0.0 in a critical section (the same partials; two add commutatively). What
// differs is speed: the channels go in blocks of up to 16 whose accumulators stay in registers for
// the whole row block (channel_sums keeps them in a vector read and written every row). SumBlock is
// called inside a parallel region (an orphaned omp for).
template <int W, typename F>
inline void SumBlock(size_t R, size_t C, size_t c0, const F& term, double* part) {
  double acc[W];
  for (int j = 0; j < W; j++) acc[j] = 0.0;
  #pragma omp for schedule(static) nowait
  for (size_t r = 0; r < R; r++) {
    const size_t base = r * C + c0;
    for (int j = 0; j < W; j++) acc[j] += term(base + j, c0 + j);
  }
  for (int j = 0; j < W; j++) part[c0 + j] = acc[j];
}

// out[c] = Σ_r term(r·C + c, c), out zeroed by the caller; the threads' partials in thread order.
template <typename F>
void ChannelSum(size_t R, size_t C, const F& term, double* out) {
  const auto parts = lowbit::perThreadParts(R * C >= kParallelMin, std::vector<double>(C, 0.0), [&](std::vector<double>& part) {
    size_t c0 = 0;
    for (; c0 + 16 <= C; c0 += 16) SumBlock<16>(R, C, c0, term, part.data());
    for (; c0 + 4 <= C; c0 += 4) SumBlock<4>(R, C, c0, term, part.data());
    for (; c0 < C; c0++) SumBlock<1>(R, C, c0, term, part.data());
  });
  lowbit::addParts(parts, out);
}

// The training batch norm's forward (native/dnnl_addon.cc BatchNormTrain: μ = mean x,
// σ² = mean (x − μ)², y = (x − μ)·γ/√(σ² + ε) + β over the last axis), bit-identical to it
// (test/native-step-bn.test.ts), with ChannelSum's register-blocked passes.
// params as BatchNormTrain: R, C, xOff, scaleOff, offsetOff, yOff, meanOff, varOff, epsilon (float32 bits).
napi_value BatchNormForward(napi_env env, napi_callback_info info) {
  uint8_t* heap; const int32_t* p; size_t n;
  if (!ReadArgs(env, info, &heap, &p, &n) || n < 9) { napi_throw_error(env, nullptr, "lowbit native batchNormForward: bad arguments"); return nullptr; }
  const size_t R = static_cast<uint32_t>(p[0]), C = static_cast<uint32_t>(p[1]);
  auto at = [&](int i) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[i])); };
  const float* x = at(2); const float* scale = at(3); const float* shift = at(4);
  float* y = at(5); float* mean = at(6); float* var = at(7);
  float eps; std::memcpy(&eps, &p[8], sizeof eps);
  std::vector<double> sum(C, 0.0), sq(C, 0.0);
  ChannelSum(R, C, [x](size_t i, size_t) { return static_cast<double>(x[i]); }, sum.data());
  for (size_t c = 0; c < C; c++) mean[c] = static_cast<float>(sum[c] / R);
  const float* mu = mean;
  ChannelSum(R, C, [x, mu](size_t i, size_t c) { const double d = static_cast<double>(x[i]) - mu[c]; return d * d; }, sq.data());
  std::vector<float> mul(C);
  for (size_t c = 0; c < C; c++) {
    var[c] = static_cast<float>(sq[c] / R);
    mul[c] = scale[c] / std::sqrt(var[c] + eps);
  }
  const float* mp = mul.data();
  #pragma omp parallel for schedule(static) if (R * C >= kParallelMin)
  for (size_t r = 0; r < R; r++) {
    const float* __restrict xr = x + r * C; float* __restrict yr = y + r * C;
    for (size_t c = 0; c < C; c++) yr[c] = (xr[c] - mu[c]) * mp[c] + shift[c];
  }
  return nullptr;
}

// The gradient of BatchNormTrain through the batch statistics (native/dnnl_addon.cc
// BatchNormTrainGrad: dβ = Σ dy, dγ = r·Σ dy·(x − μ), dx = γr·(dy − dβ/N − (x − μ)·r·dγ/N) + dμ/N
// + dσ²·2(x − μ)/N, r = 1/√(σ² + ε)), bit-identical to it (test/native-step-bn.test.ts), with its
// two channel sums in one pass over x and dy instead of two (register blocking as in ChannelSum
// was slower here at 64 channels, measured).
// params as BatchNormTrainGrad: R, C, xOff, dyOff, scaleOff, meanOff, varOff, dmeanOff, dvarOff,
// dxOff, dscaleOff, doffsetOff, epsilon (float32 bits).
napi_value BatchNormGradOnePass(napi_env env, napi_callback_info info) {
  uint8_t* heap; const int32_t* p; size_t n;
  if (!ReadArgs(env, info, &heap, &p, &n) || n < 13) { napi_throw_error(env, nullptr, "lowbit native batchNormGrad: bad arguments"); return nullptr; }
  const size_t R = static_cast<uint32_t>(p[0]), C = static_cast<uint32_t>(p[1]);
  auto at = [&](int i) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[i])); };
  const float* x = at(2); const float* dy = at(3); const float* scale = at(4);
  const float* mean = at(5); const float* var = at(6); const float* dmean = at(7); const float* dvar = at(8);
  float* dx = at(9); float* dscale = at(10); float* doffset = at(11);
  float eps; std::memcpy(&eps, &p[12], sizeof eps);
  std::vector<double> sums(2 * C, 0.0);  // [Σ dy | Σ dy·(x − μ)]
  const double* sdy = sums.data();
  const double* sdyx = sums.data() + C;
  // One pass for both sums, each in channel_sums' order (per thread: its static row block, from 0.0;
  // then the threads in order). part = [Σ dy | Σ dy·(x − μ)].
  const auto parts = lowbit::perThreadParts(R * C >= kParallelMin, std::vector<double>(2 * C, 0.0), [&](std::vector<double>& part) {
    double* __restrict a1 = part.data();
    double* __restrict a2 = part.data() + C;
    #pragma omp for schedule(static) nowait
    for (size_t r = 0; r < R; r++) {
      const float* __restrict xr = x + r * C;
      const float* __restrict dyr = dy + r * C;
      for (size_t c = 0; c < C; c++) {
        const double g = static_cast<double>(dyr[c]);
        a1[c] += g;
        a2[c] += g * (static_cast<double>(xr[c]) - mean[c]);
      }
    }
  });
  lowbit::addParts(parts, sums.data());
  std::vector<float> a(C), b(C), k(C);  // dx = a·dy + b·(x − μ) + k
  for (size_t c = 0; c < C; c++) {
    const double rstd = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
    doffset[c] = static_cast<float>(sdy[c]);
    dscale[c] = static_cast<float>(rstd * sdyx[c]);
    a[c] = static_cast<float>(scale[c] * rstd);
    b[c] = static_cast<float>(-scale[c] * rstd * rstd * rstd * sdyx[c] / R + 2.0 * dvar[c] / R);
    k[c] = static_cast<float>(-scale[c] * rstd * sdy[c] / R + dmean[c] / static_cast<double>(R));
  }
  const float* ap = a.data(); const float* bp = b.data(); const float* kp = k.data();
  #pragma omp parallel for schedule(static) if (R * C >= kParallelMin)
  for (size_t r = 0; r < R; r++) {
    const float* __restrict xr = x + r * C; const float* __restrict dyr = dy + r * C; float* __restrict dxr = dx + r * C;
    for (size_t c = 0; c < C; c++) dxr[c] = ap[c] * dyr[c] + bp[c] * (xr[c] - mean[c]) + kp[c];
  }
  return nullptr;
}

}  // namespace

// Adds prelu, avgPoolGrad, axisCopy, movingAverages, sign, reluGrad, meanGrad, batchNormForward and batchNormGradOnePass to the addon's exports (called from dnnl_addon.cc's Init).
bool register_train_ops(napi_env env, napi_value exports) {
  const struct { const char* name; napi_callback fn; } functions[] = {
    {"prelu", Prelu}, {"avgPoolGrad", AvgPoolGrad}, {"axisCopy", AxisCopy}, {"movingAverages", MovingAverages},
    {"sign", Sign}, {"reluGrad", ReluGrad},
    {"meanGrad", MeanGrad}, {"batchNormGradOnePass", BatchNormGradOnePass}, {"batchNormForward", BatchNormForward},
  };
  for (const auto& f : functions) {
    napi_value fn;
    if (napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &fn) != napi_ok
        || napi_set_named_property(env, exports, f.name, fn) != napi_ok) return false;
  }
  return true;
}
