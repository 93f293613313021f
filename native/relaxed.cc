// The relaxed quantizers (RQ, RQ-ST, SRQ with DropBits and learned bit gates) as fused
// per-element kernels over TF.js wasm-heap memory: the categorical π over each element's local
// grid lives in a few registers of scratch, never in a [..., W] tensor. The math, the inputs and
// the parameter layout are the ones of src/backend/relaxed-kernels.ts (the wasm version, which
// documents every formula); both are tested against the tfjs-ops reference in
// src/quantizers/relaxed.ts (test/relaxed-fused.test.ts). OpenMP over elements.
#include <node_api.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>
#include "parallel.h"

namespace {

// params (int32; floats as their float32 bits):
//  0 pass (0 forward, 1 backward)  1 method (0 rq, 1 rq-st, 2 srq)  2 n  3 lo  4 hi  5 h (−1: full grid)
//  6 signed  7 nDrop  8 dropPerElement  9 nGates  10 ε  11 1 + Kε  12 λ (temperature)
//  13 x  14 α  15 σ  16 u (RQ noise, n·W)  17 drop (nDrop·n or nDrop)  18 gates (nGates)
//  19 out (forward: y; backward: dx)  20 dy  21 dα  22 dσ  23 dgates
constexpr size_t kParams = 24;
// Work is counted in grid points (n·W), each a sigmoid and a few selects: native/parallel.h.
constexpr size_t kParallelMin = lowbit::parallelMinFor(8);

float f32(const int32_t* p, int i) { float v; std::memcpy(&v, &p[i], sizeof v); return v; }


int ceil_log2(int64_t m) { int k = 0; while ((int64_t(1) << k) < m) k++; return k; }

// The bit shell of grid integer G, as src/quantizers/relaxed.ts's shellOf computes it.
int shell_of(int64_t G, bool is_signed) {
  if (is_signed) return ceil_log2(G >= 0 ? G + 1 : -G) + 1;
  return G + 1 <= 1 ? 1 : std::max(ceil_log2(G + 1), 1);
}

struct Setup {
  int pass, method, lo, hi, h, W, K, nDrop, nGates, dropCore = 1, gateCore = 2;
  bool local, is_signed, dropPerElement, fastMode;
  size_t n;
  float alpha, sigma, halfAlpha, logWidth, eps, norm, temp;
  const float *x, *u, *drop, *gates;
};

// One element's categorical, survival and (backward) contributions. Each bin edge e (a_j, b_j;
// b_j and a_(j+1) are the same float32 number unless rounding parts them) costs one exp and one
// log1p: with t = e^(−|e|), logσ(e) = min(e, 0) − log1p(t), logσ(−e) = −max(e, 0) − log1p(t),
// σ(e) = 1/(1 + t) or t/(1 + t).
struct Element {
  std::vector<int64_t> G; std::vector<float> a, b, l, ta, tb; std::vector<double> p, pp, sd, sl, z, dpp, sa, sb;
  std::vector<int> learnIdx;
  bool haveSigmoids = false;  // sa = σ(a), sb = σ(−b) filled by directProbabilities
  explicit Element(int W) : G(W), a(W), b(W), l(W), ta(W), tb(W), p(W), pp(W), sd(W), sl(W), z(W), dpp(W), sa(W), sb(W), learnIdx(W) {}

  // π (p, p') from the logits; needs forward's logits.
  void probabilities(const Setup& s) {
    float m = -INFINITY;
    for (int j = 0; j < s.W; j++) m = std::max(m, l[j]);
    double S = 0;
    for (int j = 0; j < s.W; j++) { p[j] = std::exp(static_cast<double>(l[j]) - m); S += p[j]; }
    for (int j = 0; j < s.W; j++) { p[j] /= S; pp[j] = (p[j] + s.eps) / s.norm; }
  }

  // SRQ without DropBits or gates: π from the bin masses σ(b_j)·σ(−a_j) (∝ e^(logit_j); the common
  // factor 1 − e^(−α/σ) cancels), with no log1p or second exp. Only where the largest mass is not
  // tiny (x far beyond the grid underflows them: false, and the logits decide).
  // The backward's σ(a) and σ(−b) come out of the same reciprocals, one per edge.
  bool directProbabilities(const Setup& s, size_t i) {
    edges(s, i);
    double S = 0, m = 0;
    for (int j = 0; j < s.W; j++) {
      const double tA = ta[j], tB = tb[j];
      const double rA = 1 / (1 + tA), rB = 1 / (1 + tB);
      sa[j] = a[j] >= 0 ? rA : tA * rA;                   // σ(a)
      sb[j] = b[j] >= 0 ? tB * rB : rB;                   // σ(−b)
      double q = 0;
      if (G[j] >= s.lo && G[j] <= s.hi) q = (b[j] >= 0 ? rB : tB * rB) * (a[j] >= 0 ? tA * rA : rA);  // σ(b)·σ(−a)
      p[j] = q; S += q; m = std::max(m, q);
      sd[j] = 1; sl[j] = 1; learnIdx[j] = -1;
    }
    haveSigmoids = m >= 1e-20;
    if (!haveSigmoids) return false;
    for (int j = 0; j < s.W; j++) { p[j] /= S; pp[j] = (p[j] + s.eps) / s.norm; }
    return true;
  }

  // Fills G and the bin edges a, b with t = e^(−|edge|) (ta, tb): one exp per edge.
  void edges(const Setup& s, size_t i) {
    const float xv = s.x[i];
    int64_t base = s.lo;
    if (s.local) {
      const float r = std::nearbyint(xv / s.alpha);  // half to even, as tf.round
      base = static_cast<int64_t>(std::min<float>(std::max<float>(r, s.lo), s.hi)) - s.h;
    }
    for (int j = 0; j < s.W; j++) {
      const int64_t Gj = base + j;
      G[j] = Gj;
      const float g = static_cast<float>(Gj) * s.alpha;
      a[j] = ((g - s.halfAlpha) - xv) / s.sigma;
      b[j] = ((g + s.halfAlpha) - xv) / s.sigma;
      ta[j] = j > 0 && a[j] == b[j - 1] ? tb[j - 1] : std::exp(-std::fabs(a[j]));
      tb[j] = std::exp(-std::fabs(b[j]));
    }
  }

  // SRQ without DropBits or gates: its mode, the bin of x clipped to the grid, without a logit
  // (bins have equal width α and the logistic is symmetric and unimodal, so the bin holding x has
  // the most mass, and the grid's end bin when x lies beyond it). Used only where that holds in
  // float32 too: x/α within one bin of the grid, at least 1/100 of a bin from a decision boundary,
  // and σ ≤ 4α (wider σ flattens the logits towards float32 ties). Returns the slot, or −1
  // (then the logits decide, as before).
  int fastPick(const Setup& s, size_t i) const {
    if (!s.fastMode) return -1;
    const float r = s.x[i] / s.alpha;
    if (!(r >= s.lo - 1.f && r <= s.hi + 1.f)) return -1;
    const float rc = std::min<float>(std::max<float>(std::nearbyint(r), s.lo), s.hi);
    constexpr float kMargin = 1e-2f;
    if (rc > s.lo && r - (rc - 0.5f) < kMargin) return -1;
    if (rc < s.hi && (rc + 0.5f) - r < kMargin) return -1;
    const int64_t base = s.local ? static_cast<int64_t>(rc) - s.h : s.lo;
    return static_cast<int>(static_cast<int64_t>(rc) - base);
  }

  // Fills G, edges, logits and survivals (and π where the forward needs it); returns the forward
  // value and the chosen slot.
  float forward(const Setup& s, size_t i, int* pick, bool needP) {
    if (!needP) {
      const int fp = fastPick(s, i);
      if (fp >= 0) {
        const float r = s.x[i] / s.alpha;
        *pick = fp;
        return static_cast<float>(std::min<float>(std::max<float>(std::nearbyint(r), s.lo), s.hi)) * s.alpha;
      }
    }
    edges(s, i);
    for (int j = 0; j < s.W; j++) {
      const int64_t Gj = G[j];
      const float lsb = std::min(b[j], 0.f) - std::log1p(tb[j]);   // logσ(b)
      const float lsna = -std::max(a[j], 0.f) - std::log1p(ta[j]); // logσ(−a)
      float lj = lsb + lsna;
      lj = lj + s.logWidth;
      if (Gj < s.lo || Gj > s.hi) lj = lj + -1e30f;
      l[j] = lj;
    }
    const bool masked = s.nDrop > 0 || s.nGates > 0;
    if (masked) {
      for (int j = 0; j < s.W; j++) {
        const int shell = shell_of(G[j], s.is_signed);
        sd[j] = 1; sl[j] = 1; learnIdx[j] = -1;
        if (s.nDrop > 0 && shell > s.dropCore) {
          const int k = shell - s.dropCore - 1;
          double alive = 0;
          if (k < s.nDrop) { alive = 1; for (int q = 0; q <= k; q++) alive *= s.drop[s.dropPerElement ? q * s.n + i : q]; }
          sd[j] = alive;
        }
        if (s.nGates > 0 && shell > s.gateCore) {
          const int k = shell - s.gateCore - 1;
          double alive = 0;
          if (k < s.nGates) { alive = 1; learnIdx[j] = k; for (int q = 0; q <= k; q++) alive *= s.gates[q]; }
          sl[j] = alive;
        }
      }
    } else {
      for (int j = 0; j < s.W; j++) { sd[j] = 1; sl[j] = 1; learnIdx[j] = -1; }
    }
    if (s.method == 2) {  // SRQ: the mode of the (masked) π
      int best = 0;
      if (!masked) {
        for (int j = 1; j < s.W; j++) if (l[j] > l[best]) best = j;  // π' is monotone in the logits
        if (needP) probabilities(s);
      } else {
        probabilities(s);
        double bestV = -INFINITY;
        for (int j = 0; j < s.W; j++) {
          const double v = pp[j] * std::max(sd[j], 1e-30) * std::max(sl[j], 1e-30);
          if (v > bestV) { bestV = v; best = j; }
        }
      }
      *pick = best;
      return static_cast<float>(G[best]) * s.alpha;
    }
    // RQ: the concrete sample z = softmax((log π + Gumbel)/λ) with Gumbel = −log(−log u).
    probabilities(s);
    const float* u = s.u + i * s.W;
    double zm = -INFINITY;
    for (int j = 0; j < s.W; j++) {
      z[j] = (std::log(pp[j]) - std::log(-std::log(static_cast<double>(u[j])))) / s.temp;
      zm = std::max(zm, z[j]);
    }
    double Z = 0;
    for (int j = 0; j < s.W; j++) { z[j] = std::exp(z[j] - zm); Z += z[j]; }
    double soft = 0; int best = 0;
    for (int j = 0; j < s.W; j++) {
      z[j] /= Z;
      soft += z[j] * static_cast<double>(static_cast<float>(G[j]) * s.alpha);
      if (z[j] > z[best]) best = j;
    }
    *pick = best;
    return s.method == 1 ? static_cast<float>(G[best]) * s.alpha : static_cast<float>(soft);
  }

  // Accumulates this element's dα, dσ and per-gate T; returns dx.
  double backward(const Setup& s, size_t i, double dy, double* dA, double* dS, double* T) {
    int pick = fastPick(s, i);
    haveSigmoids = false;
    if (pick < 0 || !directProbabilities(s, i)) { haveSigmoids = false; forward(s, i, &pick, true); }
    if (s.method == 2) {
      // Multi-class STE: ∂L/∂probs_j = ĝ_j·dy with probs = π'·s_drop·s_learn; ∂L/∂α gets Σ r̃_j G_j·dy.
      for (int j = 0; j < s.W; j++) {
        const double dprobs = dy * static_cast<double>(static_cast<float>(G[j]) * s.alpha);
        dpp[j] = dprobs * sd[j] * sl[j];
        if (learnIdx[j] >= 0) T[learnIdx[j]] += dprobs * pp[j] * sd[j];
      }
      *dA += dy * static_cast<double>(G[pick]);
    } else {
      double soft = 0, gsum = 0;
      for (int j = 0; j < s.W; j++) { soft += z[j] * static_cast<double>(static_cast<float>(G[j]) * s.alpha); gsum += z[j] * G[j]; }
      *dA += dy * gsum;
      for (int j = 0; j < s.W; j++) dpp[j] = dy * z[j] * (static_cast<double>(static_cast<float>(G[j]) * s.alpha) - soft) / s.temp / pp[j];
    }
    double c = 0;
    for (int j = 0; j < s.W; j++) c += p[j] * dpp[j] / s.norm;
    double dx = 0, da = 0, ds = 0;
    for (int j = 0; j < s.W; j++) {
      if (p[j] == 0) continue;
      const double D = p[j] * (dpp[j] / s.norm - c);
      const double aj = a[j], bj = b[j];
      const double saj = haveSigmoids ? sa[j]
        : aj >= 0 ? 1 / (1 + static_cast<double>(ta[j])) : ta[j] / (1 + static_cast<double>(ta[j]));  // σ(a)
      const double sbj = haveSigmoids ? sb[j]
        : bj >= 0 ? tb[j] / (1 + static_cast<double>(tb[j])) : 1 / (1 + static_cast<double>(tb[j]));  // σ(−b)
      dx += D * (saj - sbj);
      da += D * (sbj * (G[j] + 0.5) - saj * (G[j] - 0.5));
      ds += D * (saj * aj - sbj * bj);
    }
    *dA += da / s.sigma;
    *dS += ds / s.sigma;
    return dx / s.sigma;
  }
};

napi_value Relaxed(napi_env env, napi_callback_info info) {
  size_t argc = 2; napi_value argv[2];
  void* data; size_t len; napi_typedarray_type type; size_t count; void* pdata; napi_value ab; size_t off;
  if (napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) != napi_ok || argc < 2
      || napi_get_arraybuffer_info(env, argv[0], &data, &len) != napi_ok
      || napi_get_typedarray_info(env, argv[1], &type, &count, &pdata, &ab, &off) != napi_ok
      || type != napi_int32_array || count < kParams) {
    napi_throw_error(env, nullptr, "lowbit native relaxed: bad arguments");
    return nullptr;
  }
  uint8_t* heap = static_cast<uint8_t*>(data);
  const int32_t* p = static_cast<const int32_t*>(pdata);
  auto at = [&](int i) { return reinterpret_cast<float*>(heap + static_cast<uint32_t>(p[i])); };
  Setup s;
  s.pass = p[0]; s.method = p[1]; s.n = static_cast<uint32_t>(p[2]); s.lo = p[3]; s.hi = p[4]; s.h = p[5];
  s.is_signed = p[6] != 0; s.nDrop = p[7]; s.dropPerElement = p[8] != 0; s.nGates = p[9];
  s.eps = f32(p, 10); s.norm = f32(p, 11); s.temp = f32(p, 12);
  s.K = s.hi - s.lo + 1;
  s.local = s.h >= 0;
  s.W = s.local ? 2 * s.h + 1 : s.K;
  s.x = at(13); s.alpha = *at(14); s.sigma = *at(15);
  s.u = s.method == 2 ? nullptr : at(16);
  s.drop = s.nDrop > 0 ? at(17) : nullptr;
  s.gates = s.nGates > 0 ? at(18) : nullptr;
  s.halfAlpha = s.alpha * 0.5f;
  s.fastMode = s.method == 2 && s.nDrop == 0 && s.nGates == 0 && s.alpha > 0 && s.sigma > 0
    && std::isfinite(s.alpha) && s.sigma <= 4 * s.alpha;
  s.logWidth = std::log(-std::expm1(-(s.alpha / s.sigma)));
  float* out = at(19);
  if (s.pass == 0) {
    #pragma omp parallel if (s.n * s.W >= kParallelMin)
    {
      Element e(s.W);
      int pick;
      #pragma omp for schedule(static)
      for (size_t i = 0; i < s.n; i++) out[i] = e.forward(s, i, &pick, false);
    }
    return nullptr;
  }
  const float* dy = at(20);
  double dA = 0, dS = 0;
  std::vector<double> T(std::max(s.nGates, 1), 0.0);
  #pragma omp parallel if (s.n * s.W >= kParallelMin)
  {
    Element e(s.W);
    double a = 0, sg = 0;
    std::vector<double> t(T.size(), 0.0);
    #pragma omp for schedule(static)
    for (size_t i = 0; i < s.n; i++) out[i] = static_cast<float>(e.backward(s, i, dy[i], &a, &sg, t.data()));
    #pragma omp critical
    {
      dA += a; dS += sg;
      for (size_t k = 0; k < T.size(); k++) T[k] += t[k];
    }
  }
  *at(21) = static_cast<float>(dA);
  *at(22) = static_cast<float>(dS);
  // Gates: alive_k = Π_{q≤k} z_q receives T_k; back through the running product.
  float* dg = at(23);
  if (s.nGates == 0) *dg = 0;  // the placeholder gates input
  double carry = 0;
  for (int k = s.nGates - 1; k >= 0; k--) {
    const double total = T[k] + carry;
    double before = 1;
    for (int q = 0; q < k; q++) before *= s.gates[q];
    dg[k] = static_cast<float>(total * before);
    carry = total * s.gates[k];
  }
  return nullptr;
}

}  // namespace

// Adds `relaxed(heap, params)` to the addon's exports (called from dnnl_addon.cc's Init).
bool register_relaxed(napi_env env, napi_value exports) {
  napi_value fn;
  return napi_create_function(env, "relaxed", NAPI_AUTO_LENGTH, Relaxed, nullptr, &fn) == napi_ok
      && napi_set_named_property(env, exports, "relaxed", fn) == napi_ok;
}
