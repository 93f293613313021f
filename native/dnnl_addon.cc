// lowbit's native accelerator: oneDNN (2.x API) convolutions and matmuls over TF.js wasm-heap
// memory, zero-copy. Activations are NHWC, conv filters HWIO (depthwise: HW·C·M as hwigo), exactly
// TF.js's layouts. Primitives are cached by their parameters; oneDNN threads with OpenMP.
#include <node_api.h>
#include <dnnl.hpp>
#include <omp.h>
#include "parallel.h"
#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>
#include <string>
#include <unordered_map>
#include <vector>

using namespace dnnl;
using tag = memory::format_tag;
using dt = memory::data_type;

// Engine, stream and primitive cache live for the whole process and are never destroyed: static
// destructors would run in an arbitrary order at exit (a primitive outliving its engine crashes).
static engine& eng() { static engine* e = new engine(engine::kind::cpu, 0); return *e; }
static stream& strm() { static stream* s = new stream(eng()); return *s; }

// A primitive; for convolutions whose weights oneDNN wants in its own (blocked) layout, also the
// reorder between TF.js's HWIO filter and that layout, and a buffer holding the blocked copy.
struct Cached {
  primitive prim;
  bool blocked = false;
  memory::desc wei_blocked;
  primitive reorder;  // hwio → blocked (forward, backward-data) or blocked → hwio (backward-weights)
  std::shared_ptr<memory> wei_buf;
};
static std::unordered_map<std::string, Cached>& cache = *new std::unordered_map<std::string, Cached>();
// Worker threads may each load this addon: one lock guards the cache and the stream (each call
// already uses every core through OpenMP, so serialising calls costs nothing).
static std::mutex mu;

// Keyed by thread too: a oneDNN primitive sizes its (thread-local) scratchpad in the thread that
// creates it, so a primitive made by one worker thread must not run on another.
static std::string key_of(const char* kind, const int32_t* p, size_t n) {
  std::ostringstream tid;
  tid << std::this_thread::get_id();
  std::string k(kind);
  k += '@';
  k += tid.str();
  for (size_t i = 0; i < n; i++) { k += ','; k += std::to_string(p[i]); }
  return k;
}

// Runs a oneDNN primitive's creation and execution on one thread when its work (multiply-adds) is
// under lowbit::kDnnlParallelMin (native/parallel.h): oneDNN (OpenMP build) sizes its threading from
// omp_get_max_threads() both when a primitive is made and when it runs, and the cache key holds the
// shape, so a cached primitive always runs with the thread count it was made for.
struct OneThreadIf {
  int saved = 0;
  explicit OneThreadIf(bool one) { if (one) { saved = omp_get_max_threads(); omp_set_num_threads(1); } }
  ~OneThreadIf() { if (saved > 0) omp_set_num_threads(saved); }
};

#define NAPI_CALL(env, call) do { if ((call) != napi_ok) { napi_throw_error(env, nullptr, "lowbit native: N-API call failed: " #call); return nullptr; } } while (0)

// Reads (heap ArrayBuffer, Int32Array params) from the call arguments.
static bool read_args(napi_env env, napi_callback_info info, uint8_t** heap, int32_t** params, size_t* n) {
  size_t argc = 2; napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2) return false;
  void* data; size_t len;
  if (napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok) return false;
  *heap = static_cast<uint8_t*>(data);
  napi_typedarray_type type; size_t length; void* pdata; napi_value ab; size_t off;
  if (napi_get_typedarray_info(env, argv[1], &type, &length, &pdata, &ab, &off) != napi_ok || type != napi_int32_array) return false;
  *params = static_cast<int32_t*>(pdata); *n = length;
  return true;
}

// params: kind(0 fwd, 1 bwd-data, 2 bwd-weights), N, IC, IH, IW, OC, OH, OW, KH, KW, SH, SW, DH, DW,
//         PT, PL, PB, PR, groups, srcOff, weiOff, dstOff, biasOff(-1 = none), relu(0/1)
static napi_value Conv(napi_env env, napi_callback_info info) {
  std::lock_guard<std::mutex> lock(mu);
  uint8_t* heap; int32_t* pin; size_t n;
  if (!read_args(env, info, &heap, &pin, &n) || n < 24) { napi_throw_error(env, nullptr, "lowbit native conv: bad arguments"); return nullptr; }
  int32_t p[24];
  std::memcpy(p, pin, sizeof p);
  const int kind = p[0];
  // oneDNN 2.6/2.7's backward-weights for a 1×1 filter with a stride above 1 corrupts the C heap
  // (bench/conv1x1-crash.mjs; the process aborted at exit in about 1 run of 3). Such a filter sees
  // only the pixels (oh·SH − PT, ow·SW − PL): they are gathered (zeros in the padding) into
  // [N, OH, OW, IC] and the stride-1, unpadded 1×1 backward-weights runs on that copy.
  std::vector<float> gathered;
  uint8_t* srcPtr = heap + p[19];
  if (kind == 2 && p[8] == 1 && p[9] == 1 && (p[10] > 1 || p[11] > 1) && p[18] == 1) {
    const int64_t gN = p[1], gIC = p[2], gIH = p[3], gIW = p[4], gOH = p[6], gOW = p[7];
    const float* x = reinterpret_cast<const float*>(heap + p[19]);
    gathered.assign(static_cast<size_t>(gN * gOH * gOW * gIC), 0.f);
    for (int64_t b = 0; b < gN; b++)
      for (int64_t oh = 0; oh < gOH; oh++) {
        const int64_t ih = oh * p[10] - p[14];
        if (ih < 0 || ih >= gIH) continue;
        for (int64_t ow = 0; ow < gOW; ow++) {
          const int64_t iw = ow * p[11] - p[15];
          if (iw < 0 || iw >= gIW) continue;
          std::memcpy(&gathered[static_cast<size_t>(((b * gOH + oh) * gOW + ow) * gIC)], x + ((b * gIH + ih) * gIW + iw) * gIC, sizeof(float) * gIC);
        }
      }
    p[3] = p[6]; p[4] = p[7]; p[10] = p[11] = 1; p[14] = p[15] = p[16] = p[17] = 0;
    srcPtr = reinterpret_cast<uint8_t*>(gathered.data());
  }
  const memory::dim N = p[1], IC = p[2], IH = p[3], IW = p[4], OC = p[5], OH = p[6], OW = p[7], KH = p[8], KW = p[9];
  const memory::dims strides = {p[10], p[11]}, dil = {p[12] - 1, p[13] - 1}, padl = {p[14], p[15]}, padr = {p[16], p[17]};
  const memory::dim G = p[18];
  const int weiOff = p[20], dstOff = p[21], biasOff = p[22], relu = p[23];
  OneThreadIf small(static_cast<double>(N) * OH * OW * OC * (IC / G) * KH * KW < lowbit::kDnnlParallelMin);
  try {
    memory::desc src_md({N, IC, IH, IW}, dt::f32, tag::nhwc);
    memory::desc dst_md({N, OC, OH, OW}, dt::f32, tag::nhwc);
    memory::desc wei_md = G == 1 ? memory::desc({OC, IC, KH, KW}, dt::f32, tag::hwio)
                                 : memory::desc({G, OC / G, IC / G, KH, KW}, dt::f32, tag::hwigo);
    memory::desc bias_md({OC}, dt::f32, tag::a);
    const bool hasBias = biasOff >= 0;
    const std::string k = key_of("conv", p, 19) + (hasBias ? "b" : "") + (relu ? "r" : "");
    auto it = cache.find(k);
    if (it == cache.end()) {
      // Weights as `any`: oneDNN's direct JIT kernels (several times faster than its im2col+GEMM
      // fallback on NHWC activations) need filters in a blocked layout, reordered per call.
      memory::desc wei_any = G == 1 ? memory::desc({OC, IC, KH, KW}, dt::f32, tag::any)
                                    : memory::desc({G, OC / G, IC / G, KH, KW}, dt::f32, tag::any);
      auto fwd_d = hasBias && kind == 0
        ? convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src_md, wei_any, bias_md, dst_md, strides, dil, padl, padr)
        : convolution_forward::desc(prop_kind::forward_training, algorithm::convolution_direct, src_md, wei_any, dst_md, strides, dil, padl, padr);
      primitive_attr attr;
      if (relu) { post_ops ops; ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f); attr.set_post_ops(ops); }
      auto fwd_pd = convolution_forward::primitive_desc(fwd_d, attr, eng());
      Cached c;
      if (kind == 0) {
        c.prim = convolution_forward(fwd_pd);
        c.wei_blocked = fwd_pd.weights_desc();
      } else if (kind == 1) {
        auto pd = convolution_backward_data::primitive_desc(
          convolution_backward_data::desc(algorithm::convolution_direct, src_md, wei_any, dst_md, strides, dil, padl, padr), eng(), fwd_pd);
        c.prim = convolution_backward_data(pd);
        c.wei_blocked = pd.weights_desc();
      } else {
        auto pd = convolution_backward_weights::primitive_desc(
          convolution_backward_weights::desc(algorithm::convolution_direct, src_md, wei_any, dst_md, strides, dil, padl, padr), eng(), fwd_pd);
        c.prim = convolution_backward_weights(pd);
        c.wei_blocked = pd.diff_weights_desc();
      }
      c.blocked = c.wei_blocked != wei_md;
      if (c.blocked) {
        c.wei_buf = std::make_shared<memory>(c.wei_blocked, eng());
        c.reorder = kind == 2 ? primitive(reorder(reorder::primitive_desc(eng(), c.wei_blocked, eng(), wei_md)))
                              : primitive(reorder(reorder::primitive_desc(eng(), wei_md, eng(), c.wei_blocked)));
      }
      it = cache.emplace(k, c).first;
    }
    const Cached& c = it->second;
    memory src(src_md, eng(), srcPtr), wei(wei_md, eng(), heap + weiOff), dst(dst_md, eng(), heap + dstOff);
    if (c.blocked && kind != 2) c.reorder.execute(strm(), {{DNNL_ARG_FROM, wei}, {DNNL_ARG_TO, *c.wei_buf}});
    memory w = c.blocked ? *c.wei_buf : wei;
    std::unordered_map<int, memory> args;
    if (kind == 0) {
      args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DST, dst}};
      if (hasBias) args.insert({DNNL_ARG_BIAS, memory(bias_md, eng(), heap + biasOff)});
    } else if (kind == 1) {
      args = {{DNNL_ARG_DIFF_SRC, src}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_DIFF_DST, dst}};
    } else {
      args = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DIFF_WEIGHTS, w}, {DNNL_ARG_DIFF_DST, dst}};
    }
    c.prim.execute(strm(), args);
    if (c.blocked && kind == 2) c.reorder.execute(strm(), {{DNNL_ARG_FROM, w}, {DNNL_ARG_TO, wei}});
    strm().wait();
  } catch (const dnnl::error& e) {
    napi_throw_error(env, nullptr, (std::string("lowbit native conv: oneDNN error: ") + e.what()).c_str());
  }
  return nullptr;
}

// params: B, M, K, N, transA, transB, aBatch, bBatch, aOff, bOff, cOff, biasOff(-1), relu
static napi_value MatMul(napi_env env, napi_callback_info info) {
  std::lock_guard<std::mutex> lock(mu);
  uint8_t* heap; int32_t* p; size_t n;
  if (!read_args(env, info, &heap, &p, &n) || n < 13) { napi_throw_error(env, nullptr, "lowbit native matmul: bad arguments"); return nullptr; }
  const memory::dim B = p[0], M = p[1], K = p[2], N = p[3], aB = p[6], bB = p[7];
  const bool tA = p[4], tB = p[5];
  const int aOff = p[8], bOff = p[9], cOff = p[10], biasOff = p[11], relu = p[12];
  OneThreadIf small(static_cast<double>(B) * M * K * N < lowbit::kDnnlParallelMin);
  try {
    memory::desc a_md({aB, M, K}, dt::f32, tA ? memory::dims{M * K, 1, M} : memory::dims{M * K, K, 1});
    memory::desc b_md({bB, K, N}, dt::f32, tB ? memory::dims{K * N, 1, K} : memory::dims{K * N, N, 1});
    memory::desc c_md({B, M, N}, dt::f32, memory::dims{M * N, N, 1});
    memory::desc bias_md({1, 1, N}, dt::f32, memory::dims{N, N, 1});
    const bool hasBias = biasOff >= 0;
    const std::string k = key_of("mm", p, 8) + (hasBias ? "b" : "") + (relu ? "r" : "");
    auto it = cache.find(k);
    if (it == cache.end()) {
      auto d = hasBias ? matmul::desc(a_md, b_md, bias_md, c_md) : matmul::desc(a_md, b_md, c_md);
      primitive_attr attr;
      if (relu) { post_ops ops; ops.append_eltwise(1.f, algorithm::eltwise_relu, 0.f, 0.f); attr.set_post_ops(ops); }
      Cached c;
      c.prim = matmul(matmul::primitive_desc(d, attr, eng()));
      it = cache.emplace(k, c).first;
    }
    std::unordered_map<int, memory> args = {
      {DNNL_ARG_SRC, memory(a_md, eng(), heap + aOff)}, {DNNL_ARG_WEIGHTS, memory(b_md, eng(), heap + bOff)},
      {DNNL_ARG_DST, memory(c_md, eng(), heap + cOff)}};
    if (hasBias) args.insert({DNNL_ARG_BIAS, memory(bias_md, eng(), heap + biasOff)});
    it->second.prim.execute(strm(), args);
    strm().wait();
  } catch (const dnnl::error& e) {
    napi_throw_error(env, nullptr, (std::string("lowbit native matmul: oneDNN error: ") + e.what()).c_str());
  }
  return nullptr;
}

// Below this many elements a kernel runs on one thread (native/parallel.h).
using lowbit::kParallelMin;

// Per-channel sums over the rows of an [R, C] matrix, threaded: out[c] = Σ_r f(r, c), accumulated
// in T (float for TF.js's Sum/Mean, double for BatchNorm's statistics). Each thread sums a block
// of rows into its own vector (contiguous, vectorised; its own copy of f, see unary_loop), then
// the blocks add up in thread order (lowbit::perThreadParts).
template <typename T, typename F>
static void channel_sums(size_t R, size_t C, std::vector<T>& out, F f) {
  const auto parts = lowbit::perThreadParts(R * C >= kParallelMin, std::vector<T>(C, T(0)), [&](std::vector<T>& part) {
    const F g = f;
    #pragma omp for schedule(static) nowait
    for (size_t r = 0; r < R; r++) for (size_t c = 0; c < C; c++) part[c] += g(r, c);
  });
  std::fill(out.begin(), out.end(), T(0));
  lowbit::addParts(parts, out.data());
}

// params: R, C, srcOff, dstOff, mean(0/1)[, outer]. dst[o, c] = Σ_r src[(o·R + r)·C + c] (or the
// mean) for each of `outer` (default 1) blocks: a per-channel reduction over all NHWC positions
// (outer = 1), or over the middle axes, e.g. global average pooling's H and W (outer = batch),
// which TF.js's wasm Sum/Mean do by transposing first.
static napi_value Reduce(napi_env env, napi_callback_info info) {
  uint8_t* heap; int32_t* p; size_t n;
  if (!read_args(env, info, &heap, &p, &n) || n < 5) { napi_throw_error(env, nullptr, "lowbit native reduce: bad arguments"); return nullptr; }
  const size_t R = p[0], C = p[1], outer = n >= 6 ? static_cast<size_t>(p[5]) : 1;
  const float* src = reinterpret_cast<const float*>(heap + p[2]);
  float* dst = reinterpret_cast<float*>(heap + p[3]);
  const float scale = p[4] ? 1.f / static_cast<float>(R) : 1.f;
  if (outer == 1) {
    std::vector<float> total(C);
    channel_sums(R, C, total, [src, C](size_t r, size_t c) { return src[r * C + c]; });
    for (size_t c = 0; c < C; c++) dst[c] = total[c] * scale;
    return nullptr;
  }
  // Blocks in parallel, each summed over its rows in order (as channel_sums does on one thread).
  #pragma omp parallel for schedule(static) if (outer * R * C >= kParallelMin)
  for (size_t o = 0; o < outer; o++) {
    std::vector<float> total(C, 0.f);
    const float* s = src + o * R * C;
    for (size_t r = 0; r < R; r++) for (size_t c = 0; c < C; c++) total[c] += s[r * C + c];
    for (size_t c = 0; c < C; c++) dst[o * C + c] = total[c] * scale;
  }
  return nullptr;
}

// One window position's channels into the running max (and argmax) of one output pixel. Restrict
// parameters, selects and no-trapping-math let GCC vectorise them (as native/train_ops.cc's PReLU rows).
__attribute__((optimize("no-trapping-math"))) static void MaxRow(int C, const float* __restrict xs, float* __restrict yo) {
  for (int c = 0; c < C; c++) { const float v = xs[c], m = yo[c]; yo[c] = v > m ? v : m; }
}
// Greater, or the first −∞ while nothing was taken: the first position equal to the max. Bitwise on
// the compares, no branch.
__attribute__((optimize("no-trapping-math"))) static void MaxArgRow(int C, const float* __restrict xs, int32_t i0, float* __restrict yo, int32_t* __restrict ao) {
  for (int c = 0; c < C; c++) {
    const float v = xs[c], m = yo[c];
    const int32_t a = ao[c];
    const bool take = (v > m) | ((a < 0) & (v == m));
    yo[c] = take ? v : m;
    ao[c] = take ? i0 + c : a;
  }
}

// params: B, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL, xOff, yOff, argOff (-1 = none).
// y[b,oh,ow,c] = the max over the window's in-bounds positions as TF.js's cpu kernel computes it:
// start at −∞, take a value when it is greater (so NaN never wins and a window of NaNs or −∞ gives
// −∞; padding never counts). With argOff, arg[b,oh,ow,c] = the flat NHWC index into x of the first
// window position (row-major) whose value equals y, the element MaxPoolGrad's rescan would find
// (−1 when none does: a window of NaNs); the native MaxPoolGrad then scatters dy through it.
static napi_value MaxPool(napi_env env, napi_callback_info info) {
  uint8_t* heap; int32_t* p; size_t n;
  if (!read_args(env, info, &heap, &p, &n) || n < 15) { napi_throw_error(env, nullptr, "lowbit native maxPool: bad arguments"); return nullptr; }
  const int B = p[0], H = p[1], W = p[2], C = p[3], OH = p[4], OW = p[5], KH = p[6], KW = p[7], SH = p[8], SW = p[9], PT = p[10], PL = p[11];
  const float* x = reinterpret_cast<const float*>(heap + static_cast<uint32_t>(p[12]));
  float* y = reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[13]));
  int32_t* arg = p[14] >= 0 ? reinterpret_cast<int32_t*>(heap + static_cast<uint32_t>(p[14])) : nullptr;
  const size_t rows = static_cast<size_t>(B) * OH;
  #pragma omp parallel for schedule(static) if (static_cast<size_t>(B) * H * W * C >= kParallelMin)
  for (size_t r = 0; r < rows; r++) {
    const int b = static_cast<int>(r / OH), oh = static_cast<int>(r % OH);
    const int h0 = std::max(0, oh * SH - PT), h1 = std::min(H, oh * SH - PT + KH);
    for (int ow = 0; ow < OW; ow++) {
      const int w0 = std::max(0, ow * SW - PL), w1 = std::min(W, ow * SW - PL + KW);
      const size_t o = (r * OW + ow) * C;
      float* yo = y + o;
      for (int c = 0; c < C; c++) yo[c] = -INFINITY;
      if (arg == nullptr) {
        for (int h = h0; h < h1; h++) for (int w = w0; w < w1; w++) MaxRow(C, x + ((static_cast<size_t>(b) * H + h) * W + w) * C, yo);
      } else {
        int32_t* ao = arg + o;
        for (int c = 0; c < C; c++) ao[c] = -1;
        for (int h = h0; h < h1; h++) for (int w = w0; w < w1; w++) {
          const int32_t i0 = static_cast<int32_t>(((static_cast<size_t>(b) * H + h) * W + w) * C);
          MaxArgRow(C, x + i0, i0, yo, ao);
        }
      }
    }
  }
  return nullptr;
}

// params: B, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL, xOff, yOff, dyOff, dxOff[, argOff].
// dx[b,h,w,c] += dy[b,oh,ow,c] at the first window position whose input equals the pooled max
// (TF.js's rule), windows scanned row-major; with argOff (MaxPool's saved argmax for this x and
// y), at arg[b,oh,ow,c] instead of rescanning. Parallel over images; each image's dx is summed in
// output order on one thread (both paths, so their results are bit-identical).
static napi_value MaxPoolGrad(napi_env env, napi_callback_info info) {
  uint8_t* heap; int32_t* p; size_t n;
  if (!read_args(env, info, &heap, &p, &n) || n < 16) { napi_throw_error(env, nullptr, "lowbit native maxPoolGrad: bad arguments"); return nullptr; }
  const int B = p[0], H = p[1], W = p[2], C = p[3], OH = p[4], OW = p[5], KH = p[6], KW = p[7], SH = p[8], SW = p[9], PT = p[10], PL = p[11];
  const float* x = reinterpret_cast<const float*>(heap + static_cast<uint32_t>(p[12]));
  const float* y = reinterpret_cast<const float*>(heap + static_cast<uint32_t>(p[13]));
  const float* dy = reinterpret_cast<const float*>(heap + static_cast<uint32_t>(p[14]));
  float* dx = reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[15]));
  const int32_t* arg = n >= 17 && p[16] >= 0 ? reinterpret_cast<const int32_t*>(heap + static_cast<uint32_t>(p[16])) : nullptr;
  const size_t image = static_cast<size_t>(H) * W * C, outImage = static_cast<size_t>(OH) * OW * C;
  #pragma omp parallel for schedule(static) if (B > 1 && B * image >= kParallelMin)
  for (int b = 0; b < B; b++) {
    float* dxb = dx + (size_t)b * image;
    std::fill(dxb, dxb + image, 0.f);
    if (arg != nullptr) {
      const size_t o0 = (size_t)b * outImage;
      for (size_t o = o0; o < o0 + outImage; o++) if (arg[o] >= 0) dx[arg[o]] += dy[o];
      continue;
    }
    for (int oh = 0; oh < OH; oh++) for (int ow = 0; ow < OW; ow++) {
      const size_t o = (((size_t)b * OH + oh) * OW + ow) * C;
      for (int c = 0; c < C; c++) {
        const float m = y[o + c];
        bool done = false;
        for (int i = 0; i < KH && !done; i++) {
          const int h = oh * SH - PT + i;
          if (h < 0 || h >= H) continue;
          for (int j = 0; j < KW; j++) {
            const int w = ow * SW - PL + j;
            if (w < 0 || w >= W) continue;
            const size_t xi = (((size_t)b * H + h) * W + w) * C + c;
            if (x[xi] == m) { dxb[((size_t)h * W + w) * C + c] += dy[o + c]; done = true; break; }
          }
        }
      }
    }
  }
  return nullptr;
}

// Elementwise float32 kernels, threaded over large tensors (wasm runs these on one core).

template <typename F>
static void binary_loop(int mode, size_t outer, size_t inner, const float* a, const float* b, float* out, F f) {
  const size_t n = outer * inner;
  if (mode == 0) {
    #pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (size_t i = 0; i < n; i++) out[i] = f(a[i], b[i]);
  } else if (mode == 1) {  // b broadcast over the leading dims of a: b[i % inner]
    #pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (size_t o = 0; o < outer; o++) {
      const float* ao = a + o * inner; float* oo = out + o * inner;
      for (size_t i = 0; i < inner; i++) oo[i] = f(ao[i], b[i]);
    }
  } else {  // mode 2: a broadcast over the leading dims of b
    #pragma omp parallel for schedule(static) if (n >= kParallelMin)
    for (size_t o = 0; o < outer; o++) {
      const float* bo = b + o * inner; float* oo = out + o * inner;
      for (size_t i = 0; i < inner; i++) oo[i] = f(a[i], bo[i]);
    }
  }
}

// params: op, mode, outer, inner, aOff, bOff, outOff. op: 0 add, 1 sub, 2 mul, 3 div, 4 max, 5 min,
// 6 squared difference. mode 0: same shape (outer·inner elements); 1: b has the trailing `inner`
// elements' shape; 2: a has.
static napi_value Binary(napi_env env, napi_callback_info info) {
  uint8_t* heap; int32_t* p; size_t n;
  if (!read_args(env, info, &heap, &p, &n) || n < 7) { napi_throw_error(env, nullptr, "lowbit native binary: bad arguments"); return nullptr; }
  const int op = p[0], mode = p[1];
  const size_t outer = static_cast<uint32_t>(p[2]), inner = static_cast<uint32_t>(p[3]);
  const float* a = reinterpret_cast<const float*>(heap + static_cast<uint32_t>(p[4]));
  const float* b = reinterpret_cast<const float*>(heap + static_cast<uint32_t>(p[5]));
  float* out = reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[6]));
  switch (op) {
    case 0: binary_loop(mode, outer, inner, a, b, out, [](float x, float y) { return x + y; }); break;
    case 1: binary_loop(mode, outer, inner, a, b, out, [](float x, float y) { return x - y; }); break;
    case 2: binary_loop(mode, outer, inner, a, b, out, [](float x, float y) { return x * y; }); break;
    case 3: binary_loop(mode, outer, inner, a, b, out, [](float x, float y) { return x / y; }); break;
    // NaN propagates as in TF.js (Math.max/min semantics).
    case 4: binary_loop(mode, outer, inner, a, b, out, [](float x, float y) { return (x != x || y != y) ? NAN : std::max(x, y); }); break;
    case 5: binary_loop(mode, outer, inner, a, b, out, [](float x, float y) { return (x != x || y != y) ? NAN : std::min(x, y); }); break;
    case 6: binary_loop(mode, outer, inner, a, b, out, [](float x, float y) { const float d = x - y; return d * d; }); break;
    default: napi_throw_error(env, nullptr, "lowbit native binary: unknown op"); return nullptr;
  }
  return nullptr;
}

// Each thread works on its own copy of f: a lambda's captures read through a pointer could alias
// `out`, which stops GCC from vectorising (step(x, α) ran 10× slower).
template <typename F>
static void unary_loop(size_t n, const float* x, float* out, F f) {
  #pragma omp parallel if (n >= kParallelMin)
  {
    const F g = f;
    #pragma omp for schedule(static)
    for (size_t i = 0; i < n; i++) out[i] = g(x[i]);
  }
}

// params: op, n, xOff, outOff[, α as float32 bits]. op: 0 exp, 1 log, 2 neg, 3 sqrt, 4 abs,
// 5 softplus (TF.js's thresholds), 6 sigmoid, 7 relu, 8 step(α).
static napi_value Unary(napi_env env, napi_callback_info info) {
  uint8_t* heap; int32_t* p; size_t n;
  if (!read_args(env, info, &heap, &p, &n) || n < 4) { napi_throw_error(env, nullptr, "lowbit native unary: bad arguments"); return nullptr; }
  const size_t count = static_cast<uint32_t>(p[1]);
  const float* x = reinterpret_cast<const float*>(heap + static_cast<uint32_t>(p[2]));
  float* out = reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[3]));
  switch (p[0]) {
    case 0: unary_loop(count, x, out, [](float v) { return std::exp(v); }); break;
    case 1: unary_loop(count, x, out, [](float v) { return std::log(v); }); break;
    case 2: unary_loop(count, x, out, [](float v) { return -v; }); break;
    case 3: unary_loop(count, x, out, [](float v) { return std::sqrt(v); }); break;
    case 4: unary_loop(count, x, out, [](float v) { return std::fabs(v); }); break;
    case 5: {
      // TF.js: threshold = log(1.1920928955078125e-7) + 2; x > −threshold → x; x < threshold → eˣ; else log(1 + eˣ) (log1p: no rounding of 1 + eˣ).
      const float threshold = std::log(1.1920928955078125e-7f) + 2.0f;
      unary_loop(count, x, out, [threshold](float v) {
        if (v > -threshold) return v;
        const float e = std::exp(v);
        return v < threshold ? e : std::log1p(e);
      });
      break;
    }
    case 6: unary_loop(count, x, out, [](float v) { return 1.0f / (1.0f + std::exp(-v)); }); break;
    case 7: unary_loop(count, x, out, [](float v) { return v < 0.f ? 0.f : v; }); break;  // NaN stays NaN
    case 8: {  // step(x, α) = 1 if x > 0, α otherwise, NaN for NaN
      float alpha = 0.f;
      if (n >= 5) std::memcpy(&alpha, &p[4], sizeof alpha);
      unary_loop(count, x, out, [alpha](float v) { const float s = v > 0.f ? 1.f : alpha; return v == v ? s : v; });
      break;
    }
    default: napi_throw_error(env, nullptr, "lowbit native unary: unknown op"); return nullptr;
  }
  return nullptr;
}

// y[r, c] = (x[r, c] − mean[c])·mul[c] + add[c] over the rows of an [R, C] matrix (BatchNorm's
// normalisation with its per-channel factors folded), threaded.
static void normalize_rows(size_t R, size_t C, const float* x, const float* mean, const float* mul, const float* add, float* y) {
  #pragma omp parallel for schedule(static) if (R * C >= kParallelMin)
  for (size_t r = 0; r < R; r++) {
    const float* xr = x + r * C; float* yr = y + r * C;
    for (size_t c = 0; c < C; c++) yr[c] = (xr[c] - mean[c]) * mul[c] + add[c];
  }
}

// params: C, n, xOff, meanOff, varOff, offsetOff (-1 = none), scaleOff (-1 = none), outOff,
// epsilon (float32 bits). out = (x − mean_c)·scale_c/√(var_c + ε) + offset_c over NHWC channels c.
static napi_value BatchNorm(napi_env env, napi_callback_info info) {
  uint8_t* heap; int32_t* p; size_t n;
  if (!read_args(env, info, &heap, &p, &n) || n < 9) { napi_throw_error(env, nullptr, "lowbit native batchNorm: bad arguments"); return nullptr; }
  const size_t C = static_cast<uint32_t>(p[0]), count = static_cast<uint32_t>(p[1]);
  auto at = [&](int32_t off) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(off)); };
  const float* x = at(p[2]); const float* mean = at(p[3]); const float* var = at(p[4]);
  const float* offset = p[5] >= 0 ? at(p[5]) : nullptr; const float* scale = p[6] >= 0 ? at(p[6]) : nullptr;
  float* out = at(p[7]);
  float eps; std::memcpy(&eps, &p[8], sizeof eps);
  std::vector<float> mul(C), add(C);
  for (size_t c = 0; c < C; c++) {
    mul[c] = (scale ? scale[c] : 1.f) / std::sqrt(var[c] + eps);
    add[c] = offset ? offset[c] : 0.f;
  }
  normalize_rows(count / C, C, x, mean, mul.data(), add.data(), out);
  return nullptr;
}

// Training-mode batch norm over the last axis (what tfjs-layers' BatchNormalization computes with
// moments + batchNorm, in 3 passes instead of ~6 ops): μ_c = mean x, σ²_c = mean (x − μ)²
// (biased, as tf.moments), y = (x − μ)·γ/√(σ² + ε) + β.
// params: R, C, xOff, scaleOff, offsetOff, yOff, meanOff, varOff, epsilon (float32 bits).
static napi_value BatchNormTrain(napi_env env, napi_callback_info info) {
  uint8_t* heap; int32_t* p; size_t n;
  if (!read_args(env, info, &heap, &p, &n) || n < 9) { napi_throw_error(env, nullptr, "lowbit native batchNormTrain: bad arguments"); return nullptr; }
  const size_t R = static_cast<uint32_t>(p[0]), C = static_cast<uint32_t>(p[1]);
  auto at = [&](int32_t off) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(off)); };
  const float* x = at(p[2]); const float* scale = at(p[3]); const float* shift = at(p[4]);
  float* y = at(p[5]); float* mean = at(p[6]); float* var = at(p[7]);
  float eps; std::memcpy(&eps, &p[8], sizeof eps);
  std::vector<double> sum(C), sq(C);
  channel_sums(R, C, sum, [&](size_t r, size_t c) { return static_cast<double>(x[r * C + c]); });
  for (size_t c = 0; c < C; c++) mean[c] = static_cast<float>(sum[c] / R);
  channel_sums(R, C, sq, [&](size_t r, size_t c) { const double d = static_cast<double>(x[r * C + c]) - mean[c]; return d * d; });
  std::vector<float> mul(C);
  for (size_t c = 0; c < C; c++) {
    var[c] = static_cast<float>(sq[c] / R);
    mul[c] = scale[c] / std::sqrt(var[c] + eps);
  }
  normalize_rows(R, C, x, mean, mul.data(), shift, y);
  return nullptr;
}

// The gradient of BatchNormTrain through the batch statistics, with N = R and r = 1/√(σ² + ε):
// dβ = Σ dy, dγ = r·Σ dy·(x − μ),
// dx = γr·(dy − dβ/N − (x − μ)·r·dγ/N) + dμ/N + dσ²·2(x − μ)/N  (dμ, dσ²: gradients reaching
// the mean and variance outputs, e.g. 0).
// params: R, C, xOff, dyOff, scaleOff, meanOff, varOff, dmeanOff, dvarOff, dxOff, dscaleOff,
// doffsetOff, epsilon (float32 bits).
static napi_value BatchNormTrainGrad(napi_env env, napi_callback_info info) {
  uint8_t* heap; int32_t* p; size_t n;
  if (!read_args(env, info, &heap, &p, &n) || n < 13) { napi_throw_error(env, nullptr, "lowbit native batchNormTrainGrad: bad arguments"); return nullptr; }
  const size_t R = static_cast<uint32_t>(p[0]), C = static_cast<uint32_t>(p[1]);
  auto at = [&](int32_t off) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(off)); };
  const float* x = at(p[2]); const float* dy = at(p[3]); const float* scale = at(p[4]);
  const float* mean = at(p[5]); const float* var = at(p[6]); const float* dmean = at(p[7]); const float* dvar = at(p[8]);
  float* dx = at(p[9]); float* dscale = at(p[10]); float* doffset = at(p[11]);
  float eps; std::memcpy(&eps, &p[12], sizeof eps);
  std::vector<double> sdy(C), sdyx(C);
  channel_sums(R, C, sdy, [&](size_t r, size_t c) { return static_cast<double>(dy[r * C + c]); });
  channel_sums(R, C, sdyx, [&](size_t r, size_t c) { return static_cast<double>(dy[r * C + c]) * (static_cast<double>(x[r * C + c]) - mean[c]); });
  std::vector<float> a(C), b(C), k(C);  // dx = a·dy + b·(x − μ) + k
  for (size_t c = 0; c < C; c++) {
    const double rstd = 1.0 / std::sqrt(static_cast<double>(var[c]) + eps);
    doffset[c] = static_cast<float>(sdy[c]);
    dscale[c] = static_cast<float>(rstd * sdyx[c]);
    a[c] = static_cast<float>(scale[c] * rstd);
    b[c] = static_cast<float>(-scale[c] * rstd * rstd * rstd * sdyx[c] / R + 2.0 * dvar[c] / R);
    k[c] = static_cast<float>(-scale[c] * rstd * sdy[c] / R + dmean[c] / static_cast<double>(R));
  }
  #pragma omp parallel for schedule(static) if (R * C >= kParallelMin)
  for (size_t r = 0; r < R; r++) {
    const float* xr = x + r * C; const float* dyr = dy + r * C; float* dxr = dx + r * C;
    for (size_t c = 0; c < C; c++) dxr[c] = a[c] * dyr[c] + b[c] * (xr[c] - mean[c]) + k[c];
  }
  return nullptr;
}

// Adam's step for one float32 variable, in TF.js's operation order (float32 throughout):
// m' = m·β1 + g·(1−β1); v' = v·β2 + g²·(1−β2); θ' = (m'/(1−β1ᵗ)) / (√(v'/(1−β2ᵗ)) + ε)·(−lr) + θ.
// params: n, valueOff, mOff, vOff, gOff, accBeta1Off, accBeta2Off, outValueOff, outMOff, outVOff,
// then float32 bits of lr, β1, 1−β1, β2, 1−β2, ε (1−β computed in double, as in JS).
static napi_value AdamUpdate(napi_env env, napi_callback_info info) {
  uint8_t* heap; int32_t* p; size_t n;
  if (!read_args(env, info, &heap, &p, &n) || n < 16) { napi_throw_error(env, nullptr, "lowbit native adamUpdate: bad arguments"); return nullptr; }
  const size_t count = static_cast<uint32_t>(p[0]);
  auto at = [&](int32_t off) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(off)); };
  const float* value = at(p[1]); const float* m = at(p[2]); const float* v = at(p[3]); const float* g = at(p[4]);
  const float c1 = 1.f - *at(p[5]), c2 = 1.f - *at(p[6]);
  float* outValue = at(p[7]); float* outM = at(p[8]); float* outV = at(p[9]);
  float k[6];
  for (int i = 0; i < 6; i++) std::memcpy(&k[i], &p[10 + i], sizeof(float));
  const float negLr = -k[0], b1 = k[1], omb1 = k[2], b2 = k[3], omb2 = k[4], eps = k[5];
  #pragma omp parallel for schedule(static) if (count >= kParallelMin)
  for (size_t i = 0; i < count; i++) {
    const float mi = m[i] * b1 + g[i] * omb1;
    const float vi = v[i] * b2 + (g[i] * g[i]) * omb2;
    outM[i] = mi;
    outV[i] = vi;
    outValue[i] = ((mi / c1) / (std::sqrt(vi / c2) + eps)) * negLr + value[i];
  }
  return nullptr;
}

bool register_relaxed(napi_env env, napi_value exports);  // native/relaxed.cc
bool register_fakequant(napi_env env, napi_value exports);  // native/fakequant.cc
bool register_train_ops(napi_env env, napi_value exports);  // native/train_ops.cc
bool register_dq(napi_env env, napi_value exports);  // native/dq.cc
napi_value RegisterBitops(napi_env env, napi_value exports);  // native/bitops.cc: the bitwise runtime's kernels

static napi_value Init(napi_env env, napi_value exports) {
  const struct { const char* name; napi_callback fn; } functions[] = {
    {"conv", Conv}, {"matmul", MatMul}, {"reduce", Reduce}, {"batchNorm", BatchNorm},
    {"binary", Binary}, {"unary", Unary}, {"maxPool", MaxPool}, {"maxPoolGrad", MaxPoolGrad},
    {"batchNormTrain", BatchNormTrain}, {"batchNormTrainGrad", BatchNormTrainGrad}, {"adamUpdate", AdamUpdate},
  };
  for (const auto& f : functions) {
    napi_value fn;
    NAPI_CALL(env, napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &fn));
    NAPI_CALL(env, napi_set_named_property(env, exports, f.name, fn));
  }
  if (!register_relaxed(env, exports)) { napi_throw_error(env, nullptr, "lowbit native: registering relaxed failed"); return nullptr; }
  if (!register_fakequant(env, exports)) { napi_throw_error(env, nullptr, "lowbit native: registering fakeQuant failed"); return nullptr; }
  if (!register_train_ops(env, exports)) { napi_throw_error(env, nullptr, "lowbit native: registering train ops failed"); return nullptr; }
  if (!register_dq(env, exports)) { napi_throw_error(env, nullptr, "lowbit native: registering DQ kernels failed"); return nullptr; }
  napi_value v;
  const dnnl_version_t* ver = dnnl_version();
  std::string s = std::to_string(ver->major) + "." + std::to_string(ver->minor) + "." + std::to_string(ver->patch);
  NAPI_CALL(env, napi_create_string_utf8(env, s.c_str(), NAPI_AUTO_LENGTH, &v));
  NAPI_CALL(env, napi_set_named_property(env, exports, "dnnlVersion", v));
  return RegisterBitops(env, exports);
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
