/**
 * The relaxed quantizers (RQ, RQ-ST, SRQ, with DropBits and learned bit gates) as two fused
 * kernels, forward and backward, that compute each element's categorical over its local grid in
 * a few scalars of scratch instead of [..., W] tensors. This file holds the wasm version (JS
 * loops over the wasm heap, browser-safe); native/relaxed.cc is the same math in C++ with OpenMP
 * (registered by native.ts). The cpu backend has neither: there src/quantizers/relaxed.ts keeps
 * its tfjs-ops path, the reference both kernels are tested against (test/relaxed-fused.test.ts).
 *
 * Per element x, with α, σ, grid [lo, hi] (K points), slots G_j = n(x) − h + j (j < W = 2h + 1,
 * n(x) = clip(round(x/α), lo, hi)) or the whole grid (h = −1):
 *   a_j = ((G_jα − α/2) − x)/σ, b_j = ((G_jα + α/2) − x)/σ          (float32, the reference's op order)
 *   l_j = logσ(b_j) + logσ(−a_j) + log(1 − e^(−α/σ))  (−1e30 off the grid),  p = softmax(l),
 *   π'_j = (p_j + ε)/(1 + Kε).
 * SRQ: y = α·G_k, k = argmax_j log π'_j + log s_j with s the DropBits/bit-gate survival; backward
 *   (multi-class STE) ∂L/∂π'_j = ĝ_j·dy·s_j, and ∂L/∂α += G_k·dy; a gate's T_k = Σ ĝ_j·dy·π'_j·s_drop,j
 *   over the slots of its shell.
 * RQ: z = softmax((log π' − log(−log u))/λ), y = Σ z_j ĝ_j (RQ-ST: ĝ at argmax z, gradient of the
 *   soft sum); backward ∂L/∂log π'_j = dy·z_j(ĝ_j − y)/λ, ∂L/∂α += dy·Σ z_j G_j.
 * Common backward, with D_j = p_j(∂L/∂p_j − Σ_k p_k ∂L/∂p_k) and ∂L/∂p_j = ∂L/∂π'_j/(1 + Kε):
 *   ∂L/∂x = Σ D_j(σ(a_j) − σ(−b_j))/σ,  ∂L/∂α += Σ D_j(σ(−b_j)(G_j + ½) − σ(a_j)(G_j − ½))/σ,
 *   ∂L/∂σ = Σ D_j(σ(a_j)a_j − σ(−b_j)b_j)/σ
 * (log(1 − e^(−α/σ)) shifts every l_j alike, so its gradient Σ_j D_j is 0). Softmaxes and
 * gradients are accumulated in float64.
 */
import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';
import { getKernel, registerKernel, util } from '@tensorflow/tfjs-core';

export const RELAXED_FORWARD = 'LowbitRelaxedQuantize';
export const RELAXED_BACKWARD = 'LowbitRelaxedQuantizeGrad';

/** The kernels' attributes (see relaxed-fused.ts). */
export interface RelaxedAttrs {
  method: 'rq' | 'rq-st' | 'srq';
  lo: number;
  hi: number;
  /** Local window half-width; −1 = the whole grid. */
  h: number;
  signed: boolean;
  nDrop: number;
  dropPerElement: boolean;
  nGates: number;
  epsilon: number;
  temperature: number;
}

interface HeapBackend extends KernelBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
}

const METHODS = { rq: 0, 'rq-st': 1, srq: 2 } as const;
const f32Bits = (v: number) => new Int32Array(Float32Array.from([v]).buffer)[0];

/**
 * The parameter block native/relaxed.cc reads: pass, attributes, then heap offsets of
 * x, α, σ, u, drop, gates, out (y or dx), dy, dα, dσ, dgates (−1 where absent).
 */
export function relaxedParams(pass: 0 | 1, n: number, a: RelaxedAttrs, offsets: number[]): Int32Array {
  const K = a.hi - a.lo + 1;
  return Int32Array.from([pass, METHODS[a.method], n, a.lo, a.hi, a.h, a.signed ? 1 : 0, a.nDrop, a.dropPerElement ? 1 : 0, a.nGates,
    f32Bits(a.epsilon), f32Bits(1 + K * a.epsilon), f32Bits(a.temperature), ...offsets, ...new Array<number>(11 - offsets.length).fill(-1)]);
}

const fr = Math.fround;
/** tf.round: half to even. */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}
function ceilLog2(m: number): number {
  let k = 0;
  while (2 ** k < m) k++;
  return k;
}
/**
 * A grid integer's bit shell, as relaxed.ts's shellOf computes it. Unsigned G ≤ −2 (off-grid
 * slots of a local window, π' = ε-fuzz only) count as shell 1; the reference's log of a negative
 * number is NaN there.
 */
export function shellOf(G: number, signed: boolean): number {
  if (signed) return ceilLog2(G >= 0 ? G + 1 : -G) + 1;
  return G + 1 <= 1 ? 1 : Math.max(ceilLog2(G + 1), 1);
}

/** One call's constants and inputs (views on the wasm heap). */
interface Setup {
  a: RelaxedAttrs; n: number; W: number; K: number; local: boolean;
  alpha: number; sigma: number; halfAlpha: number; logWidth: number; eps: number; norm: number; temp: number;
  x: Float32Array; u: Float32Array | null; drop: Float32Array | null; gates: Float32Array | null;
}

/**
 * One element's scratch: slots, edges, probabilities and survivals (native/relaxed.cc's Element).
 * Each bin edge e costs one exp and one log1p: with t = e^(−|e|), logσ(e) = min(e, 0) − log1p(t),
 * logσ(−e) = −max(e, 0) − log1p(t), σ(e) = 1/(1 + t) or t/(1 + t); b_j and a_(j+1) share theirs
 * when they are the same float32 number.
 */
class Element {
  G: Float64Array; av: Float64Array; bv: Float64Array; ta: Float64Array; tb: Float64Array; l: Float64Array; p: Float64Array; pp: Float64Array;
  sd: Float64Array; sl: Float64Array; z: Float64Array; dpp: Float64Array; learnIdx: Int32Array;
  constructor(W: number) {
    [this.G, this.av, this.bv, this.ta, this.tb, this.l, this.p, this.pp, this.sd, this.sl, this.z, this.dpp] = Array.from({ length: 12 }, () => new Float64Array(W));
    this.learnIdx = new Int32Array(W);
  }

  /** π (p, p') from the logits. */
  probabilities(s: Setup): void {
    let m = -Infinity;
    for (let j = 0; j < s.W; j++) if (this.l[j] > m) m = this.l[j];
    let S = 0;
    for (let j = 0; j < s.W; j++) { this.p[j] = Math.exp(this.l[j] - m); S += this.p[j]; }
    for (let j = 0; j < s.W; j++) { this.p[j] /= S; this.pp[j] = (this.p[j] + s.eps) / s.norm; }
  }

  /** Fills the scratch for element i (π too when needP or the method needs it); returns [value, chosen slot]. */
  forward(s: Setup, i: number, needP: boolean): [number, number] {
    const { a, W } = s;
    const xv = s.x[i];
    let base = a.lo;
    if (s.local) base = Math.min(Math.max(roundHalfEven(fr(xv / s.alpha)), a.lo), a.hi) - a.h;
    for (let j = 0; j < W; j++) {
      const G = base + j;
      this.G[j] = G;
      const g = fr(G * s.alpha);
      const av = fr(fr(fr(g - s.halfAlpha) - xv) / s.sigma);
      const bv = fr(fr(fr(g + s.halfAlpha) - xv) / s.sigma);
      this.av[j] = av;
      this.bv[j] = bv;
      this.ta[j] = j > 0 && av === this.bv[j - 1] ? this.tb[j - 1] : Math.exp(-Math.abs(av));
      this.tb[j] = Math.exp(-Math.abs(bv));
      const lsb = fr(Math.min(bv, 0) - Math.log1p(this.tb[j])); // logσ(b)
      const lsna = fr(-Math.max(av, 0) - Math.log1p(this.ta[j])); // logσ(−a)
      let l = fr(fr(lsb + lsna) + s.logWidth);
      if (G < a.lo || G > a.hi) l = fr(l + fr(-1e30));
      this.l[j] = l;
    }
    const masked = a.nDrop > 0 || a.nGates > 0;
    for (let j = 0; j < W; j++) {
      this.sd[j] = 1;
      this.sl[j] = 1;
      this.learnIdx[j] = -1;
      if (!masked) continue;
      const shell = shellOf(this.G[j], a.signed);
      if (a.nDrop > 0 && shell > 1) {
        const k = shell - 2;
        let alive = 0;
        if (k < a.nDrop) { alive = 1; for (let q = 0; q <= k; q++) alive *= s.drop![a.dropPerElement ? q * s.n + i : q]; }
        this.sd[j] = alive;
      }
      if (a.nGates > 0 && shell > 2) {
        const k = shell - 3;
        let alive = 0;
        if (k < a.nGates) { alive = 1; this.learnIdx[j] = k; for (let q = 0; q <= k; q++) alive *= s.gates![q]; }
        this.sl[j] = alive;
      }
    }
    if (a.method === 'srq') {
      let best = 0;
      if (!masked) {
        for (let j = 1; j < W; j++) if (this.l[j] > this.l[best]) best = j; // π' is monotone in the logits
        if (needP) this.probabilities(s);
      } else {
        this.probabilities(s);
        let bestV = -Infinity;
        for (let j = 0; j < W; j++) {
          const v = this.pp[j] * Math.max(this.sd[j], 1e-30) * Math.max(this.sl[j], 1e-30);
          if (v > bestV) { bestV = v; best = j; }
        }
      }
      return [fr(this.G[best] * s.alpha), best];
    }
    this.probabilities(s);
    let zm = -Infinity;
    for (let j = 0; j < W; j++) {
      this.z[j] = (Math.log(this.pp[j]) - Math.log(-Math.log(s.u![i * W + j]))) / s.temp;
      if (this.z[j] > zm) zm = this.z[j];
    }
    let Z = 0;
    for (let j = 0; j < W; j++) { this.z[j] = Math.exp(this.z[j] - zm); Z += this.z[j]; }
    let soft = 0;
    let best = 0;
    for (let j = 0; j < W; j++) {
      this.z[j] /= Z;
      soft += this.z[j] * fr(this.G[j] * s.alpha);
      if (this.z[j] > this.z[best]) best = j;
    }
    return [a.method === 'rq-st' ? fr(this.G[best] * s.alpha) : soft, best];
  }

  /** Element i's dx; adds its dα, dσ and gate sums into acc = [dα, dσ, T_0, …]. */
  backward(s: Setup, i: number, dy: number, acc: Float64Array): number {
    const { W } = s;
    const [, pick] = this.forward(s, i, true);
    if (s.a.method === 'srq') {
      for (let j = 0; j < W; j++) {
        const dprobs = dy * fr(this.G[j] * s.alpha);
        this.dpp[j] = dprobs * this.sd[j] * this.sl[j];
        if (this.learnIdx[j] >= 0) acc[2 + this.learnIdx[j]] += dprobs * this.pp[j] * this.sd[j];
      }
      acc[0] += dy * this.G[pick];
    } else {
      let soft = 0;
      let gsum = 0;
      for (let j = 0; j < W; j++) { soft += this.z[j] * fr(this.G[j] * s.alpha); gsum += this.z[j] * this.G[j]; }
      acc[0] += dy * gsum;
      for (let j = 0; j < W; j++) this.dpp[j] = (dy * this.z[j] * (fr(this.G[j] * s.alpha) - soft)) / s.temp / this.pp[j];
    }
    let c = 0;
    for (let j = 0; j < W; j++) c += (this.p[j] * this.dpp[j]) / s.norm;
    let dx = 0;
    let da = 0;
    let ds = 0;
    for (let j = 0; j < W; j++) {
      if (this.p[j] === 0) continue;
      const D = this.p[j] * (this.dpp[j] / s.norm - c);
      const av = this.av[j];
      const bv = this.bv[j];
      const ta = this.ta[j];
      const tb = this.tb[j];
      const sa = av >= 0 ? 1 / (1 + ta) : ta / (1 + ta); // σ(a)
      const sb = bv >= 0 ? tb / (1 + tb) : 1 / (1 + tb); // σ(−b)
      dx += D * (sa - sb);
      da += D * (sb * (this.G[j] + 0.5) - sa * (this.G[j] - 0.5));
      ds += D * (sa * av - sb * bv);
    }
    acc[0] += da / s.sigma;
    acc[1] += ds / s.sigma;
    return dx / s.sigma;
  }
}

/** Gate gradients: alive_k = Π_{q≤k} z_q receives T_k; back through the running product. */
export function gateGradients(T: ArrayLike<number>, gates: ArrayLike<number>): number[] {
  const out = new Array<number>(gates.length).fill(0);
  let carry = 0;
  for (let k = gates.length - 1; k >= 0; k--) {
    const total = T[k] + carry;
    let before = 1;
    for (let q = 0; q < k; q++) before *= gates[q];
    out[k] = total * before;
    carry = total * gates[k];
  }
  return out;
}

type Args = { inputs: Record<string, TensorInfo>; backend: KernelBackend; attrs: unknown };

function setup(b: HeapBackend, inputs: Record<string, TensorInfo>, a: RelaxedAttrs): Setup {
  const buffer = b.wasm.HEAPU8.buffer;
  const view = (t: TensorInfo) => new Float32Array(buffer, b.dataIdMap.get(t.dataId).memoryOffset, util.sizeFromShape(t.shape));
  const n = util.sizeFromShape(inputs.x.shape);
  const K = a.hi - a.lo + 1;
  const alpha = view(inputs.alpha)[0];
  const sigma = view(inputs.sigma)[0];
  return {
    a, n, K, local: a.h >= 0, W: a.h >= 0 ? 2 * a.h + 1 : K,
    alpha, sigma, halfAlpha: fr(alpha * 0.5), logWidth: fr(Math.log(-Math.expm1(-fr(alpha / sigma)))),
    eps: fr(a.epsilon), norm: fr(1 + K * a.epsilon), temp: fr(a.temperature),
    x: view(inputs.x), u: a.method === 'srq' ? null : view(inputs.u), drop: a.nDrop > 0 ? view(inputs.drop) : null, gates: a.nGates > 0 ? view(inputs.gates) : null,
  };
}

function wasmForward({ inputs, backend, attrs }: Args): TensorInfo {
  const b = backend as HeapBackend;
  const out = b.makeOutput(inputs.x.shape, 'float32');
  const s = setup(b, inputs, attrs as RelaxedAttrs); // after makeOutput: the heap may have grown
  const y = new Float32Array(b.wasm.HEAPU8.buffer, b.dataIdMap.get(out.dataId).memoryOffset, s.n);
  const e = new Element(s.W);
  for (let i = 0; i < s.n; i++) y[i] = e.forward(s, i, false)[0];
  return out;
}

function wasmBackward({ inputs, backend, attrs }: Args): TensorInfo[] {
  const b = backend as HeapBackend;
  const a = attrs as RelaxedAttrs;
  const outs = [inputs.x, inputs.alpha, inputs.sigma, inputs.gates].map((t) => b.makeOutput(t.shape, 'float32'));
  const s = setup(b, inputs, a);
  const buffer = b.wasm.HEAPU8.buffer;
  const view = (t: TensorInfo) => new Float32Array(buffer, b.dataIdMap.get(t.dataId).memoryOffset, util.sizeFromShape(t.shape));
  const [dx, dAlpha, dSigma, dGates] = outs.map(view);
  const dy = view(inputs.dy);
  const acc = new Float64Array(2 + a.nGates);
  const e = new Element(s.W);
  for (let i = 0; i < s.n; i++) dx[i] = e.backward(s, i, dy[i], acc);
  dAlpha[0] = acc[0];
  dSigma[0] = acc[1];
  dGates.fill(0);
  if (a.nGates > 0) dGates.set(gateGradients(acc.subarray(2), s.gates!));
  return outs;
}

/** Registers the wasm (JS) kernels once; native.ts swaps in the C++ ones over them. */
export function registerRelaxedWasmKernels(): void {
  if (getKernel(RELAXED_FORWARD, 'wasm') != null) return;
  registerKernel({ kernelName: RELAXED_FORWARD, backendName: 'wasm', kernelFunc: wasmForward as never });
  registerKernel({ kernelName: RELAXED_BACKWARD, backendName: 'wasm', kernelFunc: wasmBackward as never });
}
