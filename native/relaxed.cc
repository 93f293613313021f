// The relaxed quantizers (RQ, RQ-ST, SRQ with DropBits and learned bit gates) as fused
// per-element kernels over TF.js wasm-heap memory: the categorical π over each element's local
// grid lives in a few registers of scratch, never in a [..., W] tensor. The math, the inputs and
// the parameter layout are the ones of src/backend/relaxed-kernels.ts (the wasm version, which
// documents every formula); both are tested against the tfjs-ops reference in
// src/quantizers/relaxed.ts (test/relaxed-fused.test.ts). OpenMP over elements.
#include <node_api.h>
#include <omp.h>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>
#include "expf.h"
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

// SRQ without DropBits or gates: its mode, the bin of x clipped to the grid, without a logit
// (bins have equal width α and the logistic is symmetric and unimodal, so the bin holding x has
// the most mass, and the grid's end bin when x lies beyond it). Used only where that holds in
// float32 too, i.e. where the two largest float32 logits are far apart compared with their
// rounding: σ ≤ 4α (wider σ flattens the logits towards ties), x at least kMargin of a bin from a
// decision boundary, and x/α at most kBeyond bins beyond the grid's ends. Near a boundary, at
// δ bins from it, adjacent logits differ by about δ·α/σ for narrow σ and δ·α²/(2σ²) ≥ δ/32 at
// σ = 4α, against float32 rounding of ≈ 1e-6 in the logits and ≈ 1.5e-5 in x/α on an 8-bit grid:
// δ = 2e-3 leaves a factor ≥ 30. Beyond the grid the end bin's logit leads the next by ≥ 0.047
// (σ = 4α, x one bin out) and by ≈ α/σ further out, while rounding grows as ≈ 4e-7·|x − ĝ|/σ: a
// factor ≥ 1e3 at 64 bins. test/relaxed-fused.test.ts checks the picks against the reference's
// argmax at these margins and ranges. Elsewhere the logits decide.
struct Pick { float r, rc; bool ok; };
inline __attribute__((always_inline)) Pick lanePick(const Setup& s, float xv) {
  constexpr float kMargin = 2e-3f, kBeyond = 64.f;
  const float r = xv / s.alpha;
  // Half to even, as tf.round; + 0 turns round(−0.4) = −0 into the grid point 0 the reference gives.
  const float rc = std::min<float>(std::max<float>(__builtin_rintf(r), s.lo), s.hi) + 0.f;
  const bool ok = r >= s.lo - kBeyond && r <= s.hi + kBeyond
    && !(rc > s.lo && r - (rc - 0.5f) < kMargin) && !(rc < s.hi && (rc + 0.5f) - r < kMargin);
  return { r, rc, ok };
}

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

  // SRQ without DropBits or gates: the slot of its mode by lanePick, or −1 (the logits decide).
  int fastPick(const Setup& s, size_t i) const {
    if (!s.fastMode) return -1;
    const Pick k = lanePick(s, s.x[i]);
    if (!k.ok) return -1;
    const int64_t base = s.local ? static_cast<int64_t>(k.rc) - s.h : s.lo;
    return static_cast<int>(static_cast<int64_t>(k.rc) - base);
  }

  // Fills G, edges, logits and survivals (and π where the forward needs it); returns the forward
  // value and the chosen slot.
  float forward(const Setup& s, size_t i, int* pick, bool needP) {
    if (!needP) {
      const int fp = fastPick(s, i);
      if (fp >= 0) {
        *pick = fp;
        return lanePick(s, s.x[i]).rc * s.alpha;
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

// ---- SRQ without DropBits or gates, 8 elements at a time ----
// The common case of an SRQ training step (every SRQ layer without DropBits or learned bits) in
// float32 lanes (GCC vector extensions: AVX2 registers where the CPU has them, two SSE halves
// otherwise, the same IEEE arithmetic either way; no FMA contraction under -std=c++17): forward
// takes lanePick's mode, backward the direct bin masses σ(b)·σ(−a), with one e^(−|edge|) per edge
// from vexpNeg below and no log. Lanes where lanePick or the direct masses do not apply (x within
// 2e-3 of a bin from a decision boundary or over 64 bins beyond the grid, masses under 1e-20) are
// redone by Element's float64 path. Per element the slot sums run in float32 (the reference is
// float32 throughout); the sums over elements for ∂L/∂α and ∂L/∂σ in float64.
constexpr int kLanes = 8;
typedef float v8f __attribute__((vector_size(32)));
typedef int32_t v8i __attribute__((vector_size(32)));

#define LOWBIT_INLINE inline __attribute__((always_inline))
LOWBIT_INLINE v8f splat(float v) { return v8f{v, v, v, v, v, v, v, v}; }
LOWBIT_INLINE v8f vload(const float* p) { v8f v; std::memcpy(&v, p, sizeof v); return v; }
LOWBIT_INLINE void vstore(float* p, v8f v) { std::memcpy(p, &v, sizeof v); }
LOWBIT_INLINE v8f vsel(v8i m, v8f a, v8f b) { return m ? a : b; }
LOWBIT_INLINE v8f vabs(v8f x) { return (v8f)((v8i)x & 0x7fffffff); }
LOWBIT_INLINE v8f vmin(v8f a, v8f b) { return vsel(b < a, b, a); }  // std::min's order: NaN a stays
LOWBIT_INLINE v8f vmax(v8f a, v8f b) { return vsel(a < b, b, a); }
// Round half to even (__builtin_rintf in the default rounding mode): adding and subtracting
// 1.5·2^23 rounds |x| < 2^22 to an integer; larger |x| (and NaN) are returned as they are.
LOWBIT_INLINE v8f vrint(v8f x) {
  const v8f c = splat(12582912.f);
  return vsel(vabs(x) < splat(4194304.f), (x + c) - c, x);
}

// e^x for x ≤ 0 (edges enter as −|e|): Cephes expf's range reduction and polynomial, relative
// error under 2e-7; x below −87.3 gives ≈ 1.2e-38 instead of a subnormal or 0 (such an edge's
// mass is then ~1e-38 instead of 0: no value or gradient changes beyond that).
LOWBIT_INLINE v8f vexpNeg(v8f x) {
  x = vmax(x, splat(-87.3f));
  const v8f n = vrint(x * 1.44269504088896341f);
  const v8f p = lowbit::expReduced(x, n);
  const v8i e = (__builtin_convertvector(n, v8i) + 127) << 23;
  return p * (v8f)e;
}

// lanePick for 8 lanes: the clipped bin rc and whether the shortcut holds (all-ones lanes).
struct VPick { v8f rc; v8i ok; };
LOWBIT_INLINE VPick vlanePick(const Setup& s, v8f xv) {
  constexpr float kMargin = 2e-3f, kBeyond = 64.f;  // as lanePick
  const v8f lo = splat(static_cast<float>(s.lo)), hi = splat(static_cast<float>(s.hi));
  const v8f r = xv / s.alpha;
  const v8f rc = vmin(vmax(vrint(r), lo), hi) + 0.f;
  const v8i ok = (r >= lo - kBeyond) & (r <= hi + kBeyond)
    & ~((rc > lo) & (r - (rc - 0.5f) < kMargin)) & ~((rc < hi) & ((rc + 0.5f) - r < kMargin));
  return { rc, ok };
}

LOWBIT_INLINE void forwardLanes(const Setup& s, const float* x, float* y, int32_t* ok) {
  const VPick k = vlanePick(s, vload(x));
  vstore(y, k.rc * s.alpha);
  std::memcpy(ok, &k.ok, sizeof k.ok);
}

// Each slot's σ(a_j), σ(−b_j), σ(b_j), σ(−a_j) and edges a_j, b_j for slots G_j = base + j.
template <int W>
struct LaneSig { v8f sa[W], sb[W], sbPos[W], saNeg[W], av[W], bv[W]; };

template <int W, bool Shared>
LOWBIT_INLINE void laneSigmoids(const Setup& s, float E, v8f xv, v8f base, LaneSig<W>& L) {
  v8f* sa = L.sa; v8f* sb = L.sb; v8f* sbPos = L.sbPos; v8f* saNeg = L.saNeg; v8f* av = L.av; v8f* bv = L.bv;
  const v8f zero = splat(0.f), one = splat(1.f);
  const v8f invSigma = splat(1.f / s.sigma);
  // Each slot's edges a_j, b_j in the reference's operation order up to the last step, a product
  // with 1/σ for the division (one rounding more on the edge itself; the cancellation in
  // (ĝ_j ∓ α/2) − x, which narrow σ magnifies, is rounded as the reference rounds it), with
  // t = e^(−|edge|), σ(edge) = 1/(1 + t) or t/(1 + t) and σ(−edge) the other one.
  if (Shared) {
    // b_j taken as a_(j+1): equal in exact arithmetic, apart by about 2·ulp(max|ĝ|)/σ in float32,
    // chosen only where that is under 4e-6 (lanesFor). The edges e_k (k = 0..W) then step by
    // α/σ, so beyond the two edges nearest x (the largest negative, the smallest non-negative:
    // one e^(−|e|) each) t steps by the factor E = e^(−α/σ) (relative error growing by an ulp or
    // so per step, plus the edges' rounding, as above).
    v8f e[W + 1], t[W + 1];
    v8i pos[W + 1];
    const v8f inf = splat(INFINITY);
    v8f eUp = inf, eDn = -inf;
    for (int j = 0; j <= W; j++) {
      e[j] = ((((base + static_cast<float>(j)) * s.alpha) - s.halfAlpha) - xv) * invSigma;
      pos[j] = e[j] >= zero;
      eUp = vsel(pos[j], vmin(eUp, e[j]), eUp);
      eDn = vsel(pos[j], eDn, vmax(eDn, e[j]));
    }
    const v8f tUp = vexpNeg(-vabs(eUp)), tDn = vexpNeg(-vabs(eDn));  // ±∞ where absent: unused
    const v8f Ev = splat(E);
    v8f run = tUp;
    v8i prevPos = (v8i)zero;
    for (int j = 0; j <= W; j++) { run = vsel(prevPos, run * Ev, tUp); t[j] = run; prevPos = pos[j]; }
    run = tDn;
    v8i nextNeg = (v8i)zero;
    for (int j = W; j >= 0; j--) { run = vsel(nextNeg, run * Ev, tDn); t[j] = vsel(pos[j], t[j], run); nextNeg = ~pos[j]; }
    v8f sp[W + 1], sn[W + 1];  // σ(e_k), σ(−e_k)
    for (int j = 0; j <= W; j++) {
      const v8f r = one / (one + t[j]);
      sp[j] = vsel(pos[j], r, t[j] * r);
      sn[j] = vsel(pos[j], t[j] * r, r);
    }
    for (int j = 0; j < W; j++) { sa[j] = sp[j]; saNeg[j] = sn[j]; sb[j] = sn[j + 1]; sbPos[j] = sp[j + 1]; av[j] = e[j]; bv[j] = e[j + 1]; }
  } else {
    for (int j = 0; j < W; j++) {
      const v8f g = (base + static_cast<float>(j)) * s.alpha;
      const v8f a = ((g - s.halfAlpha) - xv) * invSigma;
      const v8f b = ((g + s.halfAlpha) - xv) * invSigma;
      const v8f tA = vexpNeg(-vabs(a)), tB = vexpNeg(-vabs(b));
      // 1/(1 + tA) and 1/(1 + tB) from one division.
      const v8f pA = one + tA, pB = one + tB;
      const v8f R = one / (pA * pB);
      const v8f rA = pB * R, rB = pA * R;
      const v8i aPos = a >= zero, bPos = b >= zero;
      sa[j] = vsel(aPos, rA, tA * rA);
      saNeg[j] = vsel(aPos, tA * rA, rA);
      sb[j] = vsel(bPos, tB * rB, rB);
      sbPos[j] = vsel(bPos, rB, tB * rB);
      av[j] = a; bv[j] = b;
    }
  }
}

// dx per lane, and each lane's ∂L/∂α (without the STE term dy·G_k) and ∂L/∂σ terms.
template <int W, bool Shared>
LOWBIT_INLINE void backwardLanes(const Setup& s, float E, const float* x, const float* dy, float* dx, float* dA, float* dS, float* gk, int32_t* ok) {
  const v8f xv = vload(x);
  const VPick k = vlanePick(s, xv);
  const v8f lo = splat(static_cast<float>(s.lo)), hi = splat(static_cast<float>(s.hi));
  const v8f base = s.local ? k.rc - static_cast<float>(s.h) : lo;
  const v8f zero = splat(0.f), one = splat(1.f);
  const v8f invSigma = splat(1.f / s.sigma);
  LaneSig<W> L;
  laneSigmoids<W, Shared>(s, E, xv, base, L);
  const v8f* sa = L.sa; const v8f* sb = L.sb; const v8f* sbPos = L.sbPos; const v8f* saNeg = L.saNeg; const v8f* av = L.av; const v8f* bv = L.bv;
  v8f q[W];
  v8f S = zero, m = zero;
  for (int j = 0; j < W; j++) {
    const v8f G = base + static_cast<float>(j);
    q[j] = vsel((G >= lo) & (G <= hi), sbPos[j] * saNeg[j], zero);  // σ(b_j)·σ(−a_j)
    S = S + q[j];
    m = vmax(m, q[j]);
  }
  // D_j = p_j·(dy/(1 + Kε))·(ĝ_j − Σ_k p_k ĝ_k), with the slots counted from the mode k so the
  // difference is of small integers times α rather than of nearly equal products.
  const v8f invS = one / S;
  v8f gbar = zero;
  for (int j = 0; j < W; j++) { q[j] = q[j] * invS; gbar = gbar + q[j] * ((base + static_cast<float>(j)) - k.rc); }
  const v8f scale = vload(dy) * (s.alpha / s.norm);
  // Σ D_j(σ(−b_j)(G_j + ½) − σ(a_j)(G_j − ½)) = ½·Σ D_j(σ(a_j) + σ(−b_j)) − Σ D_j·G_j·(σ(a_j) − σ(−b_j)).
  v8f sx = zero, sG = zero, sH = zero, sS = zero;
  for (int j = 0; j < W; j++) {
    const v8f G = base + static_cast<float>(j);
    const v8f D = q[j] * scale * ((G - k.rc) - gbar);
    const v8f Du = D * (sa[j] - sb[j]);
    sx = sx + Du;
    sG = sG + Du * G;
    sH = sH + D * (sa[j] + sb[j]);
    sS = sS + D * (sa[j] * av[j] - sb[j] * bv[j]);
  }
  const v8f sA = sH * 0.5f - sG;
  vstore(dx, sx * invSigma);
  vstore(dA, sA * invSigma);
  vstore(dS, sS * invSigma);
  vstore(gk, k.rc);
  const v8i okAll = k.ok & (m >= splat(1e-20f));
  std::memcpy(ok, &okAll, sizeof okAll);
}

typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
LOWBIT_INLINE v4d lowHalf(v8f v) { return __builtin_convertvector(__builtin_shufflevector(v, v, 0, 1, 2, 3), v4d); }
LOWBIT_INLINE v4d highHalf(v8f v) { return __builtin_convertvector(__builtin_shufflevector(v, v, 4, 5, 6, 7), v4d); }

// One thread's share of blocks [b0, b1): the vector lanes, then Element's path for lanes they
// left. Backward adds its ∂L/∂α, ∂L/∂σ to *A, *Sg (per lane in float64, then summed).
template <int W, bool Shared>
LOWBIT_INLINE void blocksBody(const Setup& s, int pass, size_t b0, size_t b1, const float* dy, float* out, double* A, double* Sg) {
  Element e(s.W);
  float dA[kLanes], dS[kLanes], gk[kLanes];
  int32_t ok[kLanes];
  double unusedT = 0;
  const float E = static_cast<float>(std::exp(-static_cast<double>(s.alpha) / static_cast<double>(s.sigma)));
  v4d accA[2] = {}, accS[2] = {};
  for (size_t blk = b0; blk < b1; blk++) {
    const size_t i0 = blk * kLanes;
    if (pass == 0) {
      forwardLanes(s, s.x + i0, out + i0, ok);
      for (int l = 0; l < kLanes; l++) if (!ok[l]) { int pick; out[i0 + l] = e.forward(s, i0 + l, &pick, false); }
      continue;
    }
    backwardLanes<W, Shared>(s, E, s.x + i0, dy + i0, out + i0, dA, dS, gk, ok);
    v8i okv; std::memcpy(&okv, ok, sizeof okv);
    const v8f z = splat(0.f);
    const v8f dyv = vload(dy + i0), gv = vload(gk), av = vsel(okv, vload(dA), z), sv = vsel(okv, vload(dS), z);
    const v8f dyOk = vsel(okv, dyv, z);
    accA[0] += lowHalf(dyOk) * lowHalf(gv) + lowHalf(av);
    accA[1] += highHalf(dyOk) * highHalf(gv) + highHalf(av);
    accS[0] += lowHalf(sv);
    accS[1] += highHalf(sv);
    int all = 1;
    for (int l = 0; l < kLanes; l++) all &= ok[l] != 0;
    if (all) continue;
    for (int l = 0; l < kLanes; l++)
      if (!ok[l]) out[i0 + l] = static_cast<float>(e.backward(s, i0 + l, dy[i0 + l], A, Sg, &unusedT));
  }
  const v4d a = accA[0] + accA[1], sg = accS[0] + accS[1];
  *A += (a[0] + a[1]) + (a[2] + a[3]);
  *Sg += (sg[0] + sg[1]) + (sg[2] + sg[3]);
}

// ---- RQ, RQ-ST and SRQ with DropBits or learned bit gates, 8 elements at a time ----
// The same per-element math as Element (and src/backend/relaxed-kernels.ts), in float32 lanes:
// π from the direct bin masses σ(b_j)·σ(−a_j) (laneSigmoids, as SRQ's backwardLanes), no log1p;
// the logs the reference takes (log π', RQ's Gumbel −log(−log u), SRQ's log survival) by vlog
// below; the concrete sample's softmax by vexpNeg. A lane goes to Element's float64 path where the
// float32 assumptions fail: x not finite, the largest mass under 1e-20 (x far beyond the grid),
// a π' or Gumbel input not a normal float, or the forward's pick (SRQ's masked mode, RQ-ST's
// argmax z) within a margin of a tie that float32 rounding could flip (kTieLog, kTieZ).

// log x for positive normal x (zero, subnormal, negative, ∞ or NaN inputs: lanes the caller
// leaves to Element): Cephes logf's reduction to m ∈ [√½, √2) and polynomial, error about 1 ulp;
// m − 1 is exact, so log u keeps its relative accuracy for u near 1.
LOWBIT_INLINE v8f vlog(v8f x) {
  const v8i bits = (v8i)x;
  const v8i e0 = ((bits >> 23) & 0xff) - 126;
  const v8f m = (v8f)((bits & 0x007fffff) | 0x3f000000);  // [½, 1)
  const v8i small = m < splat(0.707106781186547524f);
  const v8f r = vsel(small, m + m, m) - 1.f;
  const v8f fe = __builtin_convertvector(e0 + small, v8f);  // small is −1 where true
  const v8f z = r * r;
  v8f y = splat(7.0376836292e-2f);
  y = y * r + -1.1514610310e-1f;
  y = y * r + 1.1676998740e-1f;
  y = y * r + -1.2420140846e-1f;
  y = y * r + 1.4249322787e-1f;
  y = y * r + -1.6668057665e-1f;
  y = y * r + 2.0000714765e-1f;
  y = y * r + -2.4999993993e-1f;
  y = y * r + 3.3333331174e-1f;
  y = y * r * z;
  y = y + fe * -2.12194440e-4f;
  y = y + z * -0.5f;
  return (r + y) + fe * 0.693359375f;
}

// SRQ's masked mode: the reference takes the argmax of float32 log π' + log max(s, 1e-30), whose
// terms reach ≈ 150 in magnitude (two clamped survivals) and round to ≈ 1e-5 there, ≈ 1e-6 for
// log π' alone; the lanes' own error is ≈ 1e-6. A lead under 1e-4 + 1e-6·|best| goes to Element.
// RQ-ST's argmax z: the reference's z and the lanes' both carry ≈ 1e-6 relative error (logs of
// magnitude ≤ 30/λ in float32); a lead under 1e-4 relative goes to Element.
constexpr float kTieLog = 1e-4f, kTieLogRel = 1e-6f, kTieZ = 1e-4f;
constexpr int kMaxShells = 8;  // nDrop, nGates ≤ 7 (8-bit grids)

// The DropBits and gate survivals of each slot, as Element::forward computes them (products in
// float32, as the reference's), and each slot's gate index (−1: none).
template <int W>
LOWBIT_INLINE void laneSurvival(const Setup& s, size_t i0, v8f base, v8f* sd, v8f* sl, v8i* li) {
  float bf[kLanes], cumD[kMaxShells][kLanes], cumG[kMaxShells];
  vstore(bf, base);
  for (int q = 0; q < s.nDrop; q++)
    for (int l = 0; l < kLanes; l++) {
      const float d = s.drop[s.dropPerElement ? q * s.n + i0 + l : q];
      cumD[q][l] = q == 0 ? d : cumD[q - 1][l] * d;
    }
  for (int q = 0; q < s.nGates; q++) cumG[q] = q == 0 ? s.gates[0] : cumG[q - 1] * s.gates[q];
  for (int j = 0; j < W; j++) {
    float d[kLanes], g[kLanes];
    int32_t k[kLanes];
    for (int l = 0; l < kLanes; l++) {
      const int shell = shell_of(static_cast<int64_t>(bf[l]) + j, s.is_signed);
      d[l] = 1; g[l] = 1; k[l] = -1;
      if (s.nDrop > 0 && shell > s.dropCore) { const int q = shell - s.dropCore - 1; d[l] = q < s.nDrop ? cumD[q][l] : 0; }
      if (s.nGates > 0 && shell > s.gateCore) {
        const int q = shell - s.gateCore - 1;
        if (q < s.nGates) { g[l] = cumG[q]; k[l] = q; } else g[l] = 0;
      }
    }
    sd[j] = vload(d); sl[j] = vload(g);
    std::memcpy(&li[j], k, sizeof k);
  }
}

// Forward (dy null: y into out) or backward (dx into out; per lane ∂L/∂α without the dy·gk term,
// ∂L/∂σ, gk, and the gates' T_k in T[k·8 + lane]) of 8 elements from i0; ok: lanes done here.
template <int W, bool Shared>
LOWBIT_INLINE void generalLanes(const Setup& s, float E, size_t i0, const float* dy, float* out, float* dA, float* dS, float* gk, float* T, int32_t* okOut) {
  const v8f xv = vload(s.x + i0);
  const v8f lo = splat(static_cast<float>(s.lo)), hi = splat(static_cast<float>(s.hi));
  const v8f zero = splat(0.f), one = splat(1.f);
  // Element::edges' base: half to even as nearbyint (vrint leaves |x/α| ≥ 2^22, which the clip
  // takes to lo or hi either way).
  const v8f base = s.local ? vmin(vmax(vrint(xv / s.alpha), lo), hi) - static_cast<float>(s.h) : lo;
  v8i ok = vabs(xv) < splat(INFINITY);  // false for ±∞ and NaN
  LaneSig<W> L;
  laneSigmoids<W, Shared>(s, E, xv, base, L);
  v8f p[W], pp[W], lp[W];
  v8f S = zero, m = zero;
  for (int j = 0; j < W; j++) {
    const v8f G = base + static_cast<float>(j);
    p[j] = vsel((G >= lo) & (G <= hi), L.sbPos[j] * L.saNeg[j], zero);  // σ(b_j)·σ(−a_j) ∝ e^(l_j)
    S = S + p[j];
    m = vmax(m, p[j]);
  }
  ok &= m >= splat(1e-20f);
  const v8f invS = one / S;
  v8f ppMin = splat(INFINITY);
  for (int j = 0; j < W; j++) {
    p[j] = p[j] * invS;
    pp[j] = (p[j] + s.eps) / s.norm;  // π'
    ppMin = vmin(ppMin, pp[j]);
    lp[j] = vlog(pp[j]);
  }
  ok &= ppMin >= splat(1e-37f);
  const bool backward = dy != nullptr;
  v8f yv, gkv;
  v8f D[W];
  const v8f dyv = backward ? vload(dy + i0) : zero;
  if (s.method == 2) {
    v8f sd[W], sl[W];
    v8i li[W];
    laneSurvival<W>(s, i0, base, sd, sl, li);
    // The reference's masked log π' and its argmax (first of equals), with the runner-up.
    v8f best = splat(-INFINITY), second = best, bi = zero;
    for (int j = 0; j < W; j++) {
      v8f v = lp[j];
      if (s.nDrop > 0) v = v + vlog(vmax(sd[j], splat(1e-30f)));
      if (s.nGates > 0) v = v + vlog(vmax(sl[j], splat(1e-30f)));
      const v8i gt = v > best;
      second = vsel(gt, best, vmax(second, v));
      best = vsel(gt, v, best);
      bi = vsel(gt, splat(static_cast<float>(j)), bi);
    }
    ok &= (best - second) >= kTieLog + kTieLogRel * vabs(best);
    gkv = base + bi;  // the picked grid integer
    yv = gkv * s.alpha;
    if (backward) {
      // Multi-class STE: ∂L/∂π'_j = dy·ĝ_j·s_j (s = s_drop·s_learn), so with ∂L/∂p = ∂L/∂π'/(1 + Kε)
      // D_j = p_j·(dy·α/(1 + Kε))·(G_j s_j − Σ_k p_k G_k s_k), taken with G counted from the pick
      // g*: (G_j − g*)s_j − Σ_k p_k(G_k − g*)s_k + g*·(s_j·P − Σ_k p_k s_k), P = Σ_k p_k (= 1), so
      // with every s_j = 1 the last term is exactly 0 (the same sum twice).
      v8f P = zero, Pw = zero, Ps = zero, sj[W];
      for (int j = 0; j < W; j++) {
        sj[j] = sd[j] * sl[j];
        P = P + p[j];
        Pw = Pw + p[j] * (((base + static_cast<float>(j)) - gkv) * sj[j]);
        Ps = Ps + p[j] * sj[j];
      }
      const v8f scale = dyv * (s.alpha / s.norm);
      for (int j = 0; j < W; j++) {
        const v8f G = base + static_cast<float>(j);
        D[j] = p[j] * scale * ((((G - gkv) * sj[j]) - Pw) + gkv * (sj[j] * P - Ps));
      }
      // A gate's T_k = Σ ĝ_j·dy·π'_j·s_drop,j over the slots of its shell.
      for (int q = 0; q < s.nGates; q++) {
        v8f t = zero;
        for (int j = 0; j < W; j++) {
          const v8f G = base + static_cast<float>(j);
          t = t + vsel(li[j] == q, dyv * (G * s.alpha) * pp[j] * sd[j], zero);
        }
        vstore(T + q * kLanes, t);
      }
    }
  } else {
    // The concrete sample z = softmax((log π' − log(−log u))/λ); u is element-major (n × W).
    v8f uj[W];
    {
      float ub[W][kLanes];
      const float* u = s.u + i0 * W;
      for (int l = 0; l < kLanes; l++) for (int j = 0; j < W; j++) ub[j][l] = u[l * W + j];
      for (int j = 0; j < W; j++) uj[j] = vload(ub[j]);
    }
    v8f z[W], zm = splat(-INFINITY);
    for (int j = 0; j < W; j++) {
      const v8f nl = -vlog(uj[j]);  // −log u
      ok &= (uj[j] >= splat(1.17549435e-38f)) & (nl >= splat(1.17549435e-38f));
      z[j] = (lp[j] - vlog(nl)) / s.temp;
      zm = vmax(zm, z[j]);
    }
    v8f Z = zero;
    for (int j = 0; j < W; j++) { z[j] = vexpNeg(z[j] - zm); Z = Z + z[j]; }
    v8f soft = zero, gsum = zero, grel = zero, zb = splat(-1.f), z2 = zb, bi = zero;
    for (int j = 0; j < W; j++) {
      z[j] = z[j] / Z;
      const v8f G = base + static_cast<float>(j);
      soft = soft + z[j] * (G * s.alpha);
      gsum = gsum + z[j] * G;
      grel = grel + z[j] * static_cast<float>(j);
      const v8i gt = z[j] > zb;
      z2 = vsel(gt, zb, vmax(z2, z[j]));
      zb = vsel(gt, z[j], zb);
      bi = vsel(gt, splat(static_cast<float>(j)), bi);
    }
    if (s.method == 1) {
      ok &= (zb - z2) >= zb * kTieZ;
      yv = (base + bi) * s.alpha;
    } else {
      yv = soft;
    }
    gkv = gsum;  // ∂L/∂α's Σ z_j G_j·dy
    if (backward) {
      // ∂L/∂π'_j = dy·z_j(ĝ_j − y_soft)/(λπ'_j), and π'_j(1 + Kε) = p_j + ε, so with
      // h_j = z_j·((G_j − base) − Σ_k z_k(G_k − base))·p_j/(p_j + ε):
      // D_j = (dy·α/λ)·(h_j − p_j·Σ_k h_k).
      v8f h[W], H = zero;
      for (int j = 0; j < W; j++) {
        h[j] = z[j] * (static_cast<float>(j) - grel) * (p[j] / (p[j] + s.eps));
        H = H + h[j];
      }
      const v8f scale = dyv * (s.alpha / s.temp);
      for (int j = 0; j < W; j++) D[j] = scale * (h[j] - p[j] * H);
    }
  }
  std::memcpy(okOut, &ok, sizeof ok);
  if (!backward) { vstore(out, yv); return; }
  // The common backward (Element::backward): Σ D_j(σ(a_j) − σ(−b_j)), and for ∂L/∂α
  // ½·Σ D_j(σ(a_j) + σ(−b_j)) − Σ D_j·G_j·(σ(a_j) − σ(−b_j)), ∂L/∂σ Σ D_j(σ(a_j)a_j − σ(−b_j)b_j), all /σ.
  const v8f invSigma = splat(1.f / s.sigma);
  v8f sx = zero, sG = zero, sH = zero, sS = zero;
  for (int j = 0; j < W; j++) {
    const v8f G = base + static_cast<float>(j);
    const v8f Du = D[j] * (L.sa[j] - L.sb[j]);
    sx = sx + Du;
    sG = sG + Du * G;
    sH = sH + D[j] * (L.sa[j] + L.sb[j]);
    sS = sS + D[j] * (L.sa[j] * L.av[j] - L.sb[j] * L.bv[j]);
  }
  vstore(out, sx * invSigma);
  vstore(dA, (sH * 0.5f - sG) * invSigma);
  vstore(dS, sS * invSigma);
  vstore(gk, gkv);
}

// One thread's share of blocks [b0, b1) on generalLanes, then Element's path for lanes they left.
// Backward adds ∂L/∂α, ∂L/∂σ and the gates' T_k to *A, *Sg, T (per lane in float64, then summed).
template <int W, bool Shared>
LOWBIT_INLINE void generalBody(const Setup& s, int pass, size_t b0, size_t b1, const float* dy, float* out, double* A, double* Sg, double* T) {
  Element e(s.W);
  float dA[kLanes], dS[kLanes], gk[kLanes], Tl[kMaxShells * kLanes];
  int32_t ok[kLanes];
  const float E = static_cast<float>(std::exp(-static_cast<double>(s.alpha) / static_cast<double>(s.sigma)));
  for (size_t blk = b0; blk < b1; blk++) {
    const size_t i0 = blk * kLanes;
    if (pass == 0) {
      generalLanes<W, Shared>(s, E, i0, nullptr, out + i0, dA, dS, gk, Tl, ok);
      for (int l = 0; l < kLanes; l++) if (!ok[l]) { int pick; out[i0 + l] = e.forward(s, i0 + l, &pick, false); }
      continue;
    }
    generalLanes<W, Shared>(s, E, i0, dy, out + i0, dA, dS, gk, Tl, ok);
    for (int l = 0; l < kLanes; l++) {
      if (!ok[l]) { out[i0 + l] = static_cast<float>(e.backward(s, i0 + l, dy[i0 + l], A, Sg, T)); continue; }
      *A += static_cast<double>(dy[i0 + l]) * gk[l] + dA[l];
      *Sg += dS[l];
      for (int q = 0; q < s.nGates; q++) T[q] += Tl[q * kLanes + l];
    }
  }
}


// The lane path for this call, or nullptr (Element's loop then does all of it).
// LOWBIT_RELAXED_LANES=0 turns it off (the A/B switch of bench/relaxed-srq-micro.mjs), =sse
// takes the baseline build on an AVX2 CPU (so its tests run here too), =unshared never shares
// edges (both variants are then tested on one grid).
enum class Lanes { off, base, best, unshared };
Lanes lanesMode() {
  static const Lanes mode = [] {
    const char* v = std::getenv("LOWBIT_RELAXED_LANES");
    if (v != nullptr && std::strcmp(v, "0") == 0) return Lanes::off;
    if (v != nullptr && std::strcmp(v, "sse") == 0) return Lanes::base;
    if (v != nullptr && std::strcmp(v, "unshared") == 0) return Lanes::unshared;
    return Lanes::best;
  }();
  return mode;
}

// GCC contracts a·b + c into one FMA where the target has it, even under -std=c++17
// (-ffp-contract=fast is its C++ default), which rounds ĝ_j = G_j·α differently from the
// reference: the AVX2 build is compiled without "fma".
// T (the gates' sums) is used by the general lanes only.
template <int W, bool Shared> __attribute__((target("avx2"))) void blocksAvx2(const Setup& s, int pass, size_t b0, size_t b1, const float* dy, float* out, double* A, double* Sg, double*) { blocksBody<W, Shared>(s, pass, b0, b1, dy, out, A, Sg); }
template <int W, bool Shared> void blocksBase(const Setup& s, int pass, size_t b0, size_t b1, const float* dy, float* out, double* A, double* Sg, double*) { blocksBody<W, Shared>(s, pass, b0, b1, dy, out, A, Sg); }
template <int W, bool Shared> __attribute__((target("avx2"))) void generalAvx2(const Setup& s, int pass, size_t b0, size_t b1, const float* dy, float* out, double* A, double* Sg, double* T) { generalBody<W, Shared>(s, pass, b0, b1, dy, out, A, Sg, T); }
template <int W, bool Shared> void generalBase(const Setup& s, int pass, size_t b0, size_t b1, const float* dy, float* out, double* A, double* Sg, double* T) { generalBody<W, Shared>(s, pass, b0, b1, dy, out, A, Sg, T); }

using BlocksFn = void (*)(const Setup&, int, size_t, size_t, const float*, float*, double*, double*, double*);
template <int W, bool Shared> BlocksFn pickBlocks(bool general) {
  const bool avx2 = lanesMode() == Lanes::best && __builtin_cpu_supports("avx2");
  if (general) return avx2 ? generalAvx2<W, Shared> : generalBase<W, Shared>;
  return avx2 ? blocksAvx2<W, Shared> : blocksBase<W, Shared>;
}
template <int W> BlocksFn pickBlocks(bool shared, bool general) { return shared ? pickBlocks<W, true>(general) : pickBlocks<W, false>(general); }

// SRQ without DropBits or gates (σ ≤ 4α): blocksBody. RQ, RQ-ST and SRQ with DropBits or gates
// (any σ; λ > 0): generalBody. Both for W = 2 … 8 slots.
BlocksFn lanesFor(const Setup& s) {
  if (lanesMode() == Lanes::off) return nullptr;
  const bool plainSrq = s.method == 2 && s.nDrop == 0 && s.nGates == 0;
  if (plainSrq && !s.fastMode) return nullptr;
  const bool general = !plainSrq;
  if (general && !(s.alpha > 0 && s.sigma > 0 && std::isfinite(s.alpha) && std::isfinite(s.sigma)
                   && s.nDrop <= kMaxShells && s.nGates <= kMaxShells && (s.method == 2 || (s.temp > 0 && std::isfinite(s.temp))))) return nullptr;
  // Shared edges where 2·ulp(max|ĝ|)/σ ≈ 1.2e-7·max|G|·α/σ stays under 4e-6 (laneSigmoids).
  const float maxG = static_cast<float>(std::max(std::abs(s.lo), std::abs(s.hi) + 1));
  const bool shared = lanesMode() != Lanes::unshared && maxG * s.alpha <= 32.f * s.sigma;
  switch (s.W) {
    case 2: return pickBlocks<2>(shared, general);
    case 3: return pickBlocks<3>(shared, general);
    case 4: return pickBlocks<4>(shared, general);
    case 5: return pickBlocks<5>(shared, general);
    case 6: return pickBlocks<6>(shared, general);
    case 7: return pickBlocks<7>(shared, general);
    case 8: return pickBlocks<8>(shared, general);
    default: return nullptr;
  }
}

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
  const float* dy = s.pass == 1 ? at(20) : nullptr;
  double dA = 0, dS = 0;
  std::vector<double> T(std::max(s.nGates, 1), 0.0);
  if (BlocksFn lanes = lanesFor(s)) {
    // Whole blocks of kLanes on the lane path, the tail (< kLanes elements) on Element's.
    const size_t blocks = s.n / kLanes;
    // Per thread [∂α, ∂σ, T_0, …], added in thread order after the region.
    const auto parts = lowbit::perThreadParts(s.n * s.W >= kParallelMin, std::vector<double>(2 + T.size(), 0.0), [&](std::vector<double>& part) {
      // Contiguous ranges of blocks per thread (as schedule(static)): one Element per range.
      const size_t nth = omp_get_num_threads(), tid = omp_get_thread_num();
      const size_t per = blocks / nth, extra = blocks % nth;
      const size_t b0 = tid * per + std::min(tid, extra), b1 = b0 + per + (tid < extra ? 1 : 0);
      if (b1 > b0) lanes(s, s.pass, b0, b1, dy, out, &part[0], &part[1], part.data() + 2);
      // The tail on thread 0 (always the same thread, so its terms join the same partial).
      if (tid == 0) {
        Element e(s.W);
        for (size_t i = blocks * kLanes; i < s.n; i++) {
          int pick;
          out[i] = s.pass == 0 ? e.forward(s, i, &pick, false) : static_cast<float>(e.backward(s, i, dy[i], &part[0], &part[1], part.data() + 2));
        }
      }
    });
    for (const auto& part : parts) {
      dA += part[0]; dS += part[1];
      for (size_t k = 0; k < T.size(); k++) T[k] += part[2 + k];
    }
    if (s.pass == 0) return nullptr;
  } else if (s.pass == 0) {
    #pragma omp parallel if (s.n * s.W >= kParallelMin)
    {
      Element e(s.W);
      int pick;
      #pragma omp for schedule(static)
      for (size_t i = 0; i < s.n; i++) out[i] = e.forward(s, i, &pick, false);
    }
    return nullptr;
  } else {
    const auto parts = lowbit::perThreadParts(s.n * s.W >= kParallelMin, std::vector<double>(2 + T.size(), 0.0), [&](std::vector<double>& part) {
      Element e(s.W);
      #pragma omp for schedule(static)
      for (size_t i = 0; i < s.n; i++) out[i] = static_cast<float>(e.backward(s, i, dy[i], &part[0], &part[1], part.data() + 2));
    });
    for (const auto& part : parts) {
      dA += part[0]; dS += part[1];
      for (size_t k = 0; k < T.size(); k++) T[k] += part[2 + k];
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
