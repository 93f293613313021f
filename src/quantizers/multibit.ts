/**
 * Multi-bit binary bases for weights (ALQ's weight form: Qu, Zhou, Cheng & Thiele, "Adaptive
 * Loss-aware Quantization for Multi-bit Networks", CVPR 2020, arXiv:1912.08883; docs/methods/alq.md).
 *
 * Each group — here one output channel, the kernel's column w_c ∈ ℝⁿ viewed as [d_in, C] — is
 *   q(w_c) = Σ_{i=1..I_c} α_i·β_i,   β_i ∈ {−1, +1}ⁿ, α_i > 0,
 * with I_c bases (the group's bit-width; 0 … `bases`). I_c is a per-channel quantizer parameter
 * that the optimizer does not train: ALQ's method prunes it (src/methods/alq/alq.ts); the saved
 * model keeps it, so a reloaded model quantizes the same way.
 *
 * The fit (fitMultibit), recomputed from the latent weights on every forward pass:
 *   1. greedy: r ← w; for i = 1…I: β_i = sign(r) (sign(0) = +1), α_i = mean|r|, r ← r − α_i β_i;
 *   2. `refine` times: α ← argmin ‖w − Bα‖² (least squares given the bases), then each element's
 *      signs ← the combination of ±α nearest to it (β given α);
 *   3. a last least-squares α; negative α's flip their basis; α's sorted large to small.
 * Every step lowers (or keeps) ‖w − q(w)‖², so the fit is at least as good as the greedy one.
 * This fit minimises weight reconstruction; the paper's coordinate and basis steps minimise a
 * second-order model of the loss instead (a simplification, stated in docs/methods/alq.md).
 * Gradient: the straight-through estimator to the latent weights (∂L/∂w = ∂L/∂q).
 * Values: per channel, the 2^I_c sums Σ ±α_i.
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { withGradient } from './common.js';
import type { MultibitGrid, QuantizerKind } from './kind.js';

/** Multi-bit binary bases per output channel: up to `bases` of them (1–8), `refine` alternating rounds (default 2). */
export interface MultibitSpec { kind: 'multibit'; bases: number; refine?: number }

/** A group's fit: α's (large to small) and, per basis, the signs (±1) of its n values. */
export interface MultibitFit {
  alphas: Float64Array;
  signs: Int8Array[];
}

/**
 * α = (BᵀB)⁻¹Bᵀw for bases B = [β_1 … β_I] (the least-squares coordinates), by Gaussian
 * elimination with partial pivoting; a basis that duplicates others (a zero pivot) gets α = 0.
 */
export function leastSquaresAlphas(w: ArrayLike<number>, signs: readonly Int8Array[]): Float64Array {
  const k = signs.length;
  const codes = new Uint8Array(w.length);
  for (let i = 0; i < k; i++) for (let t = 0; t < w.length; t++) if (signs[i][t] > 0) codes[t] |= 1 << i;
  return solveAlphas(Float64Array.from(w), codes, k);
}

/*
 * The fit works on codes: element t's signs are the bits of codes[t] (bit i set ⇔ β_i[t] = +1),
 * so each pass over the n weights is one monomorphic loop. BᵀB comes from a histogram of the
 * codes (its entries are integers, exact in float64); Bᵀw and the squared error are summed in
 * element order, as a per-basis loop over Int8Array signs would, so the fit is the same.
 */

/** Least-squares α for the bases encoded in `codes` (see leastSquaresAlphas). */
function solveAlphas(w: Float64Array, codes: Uint8Array, k: number): Float64Array {
  const n = w.length;
  const count = new Float64Array(1 << k);
  const rhs = new Float64Array(k);
  for (let t = 0; t < n; t++) {
    const code = codes[t];
    count[code]++;
    for (let i = 0; i < k; i++) rhs[i] += (code >> i) & 1 ? w[t] : -w[t];
  }
  const a = Array.from({ length: k }, () => new Float64Array(k + 1));
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let dot = 0;
      for (let code = 0; code < count.length; code++) if (count[code] > 0) dot += ((code >> i) & 1) === ((code >> j) & 1) ? count[code] : -count[code];
      a[i][j] = dot;
      a[j][i] = dot;
    }
    a[i][k] = rhs[i];
  }
  const alpha = new Float64Array(k);
  const used = new Array<boolean>(k).fill(false);
  const pivotOf = new Int32Array(k).fill(-1);
  for (let col = 0; col < k; col++) {
    let best = -1;
    for (let r = 0; r < k; r++) if (!used[r] && (best < 0 || Math.abs(a[r][col]) > Math.abs(a[best][col]))) best = r;
    if (best < 0 || Math.abs(a[best][col]) < 1e-9 * n) continue; // dependent basis: α = 0
    used[best] = true;
    pivotOf[col] = best;
    for (let r = 0; r < k; r++) {
      if (r === best || a[r][col] === 0) continue;
      const f = a[r][col] / a[best][col];
      for (let c = col; c <= k; c++) a[r][c] -= f * a[best][c];
    }
  }
  for (let col = 0; col < k; col++) if (pivotOf[col] >= 0) alpha[col] = a[pivotOf[col]][k] / a[pivotOf[col]][col];
  return alpha;
}

/** The 2^k values Σ_i ±α_i, indexed by code (bit i set ⇔ +α_i), each summed in basis order. */
function codeValues(alphas: Float64Array): Float64Array {
  const k = alphas.length;
  const value = new Float64Array(1 << k);
  for (let code = 0; code < value.length; code++) {
    let v = 0;
    for (let i = 0; i < k; i++) v += ((code >> i) & 1 ? 1 : -1) * alphas[i];
    value[code] = v;
  }
  return value;
}

function squaredError(w: Float64Array, value: Float64Array, codes: Uint8Array): number {
  let e = 0;
  for (let t = 0; t < w.length; t++) { const d = w[t] - value[codes[t]]; e += d * d; }
  return e;
}

/** The multi-bit fit of one group w with I bases (see the file comment); I = 0 gives no bases (q = 0). */
export function fitMultibit(w: ArrayLike<number>, bases: number, refine = 2): MultibitFit {
  const n = w.length;
  if (bases === 0) return { alphas: new Float64Array(0), signs: [] };
  const x = Float64Array.from(w);
  // Greedy: β_i = sign(r) (sign(0) = +1), α_i = mean|r|, r ← r − α_i β_i.
  let codes = new Uint8Array(n);
  let alphas: Float64Array = new Float64Array(bases);
  const r = Float64Array.from(x);
  for (let i = 0; i < bases; i++) {
    let mean = 0;
    for (let t = 0; t < n; t++) { if (r[t] >= 0) codes[t] |= 1 << i; mean += Math.abs(r[t]); }
    mean /= n;
    alphas[i] = mean;
    for (let t = 0; t < n; t++) r[t] -= (codes[t] >> i) & 1 ? mean : -mean;
  }
  let err = squaredError(x, codeValues(alphas), codes);
  const combos = 1 << bases;
  for (let round = 0; round <= refine; round++) {
    const ls = solveAlphas(x, codes, bases);
    const lsErr = squaredError(x, codeValues(ls), codes);
    if (lsErr <= err) { alphas = ls; err = lsErr; }
    if (round === refine) break;
    // β given α: each element takes the nearest of the 2^I sums Σ ±α_i (the first on a tie).
    const value = codeValues(alphas);
    const next = new Uint8Array(n);
    for (let t = 0; t < n; t++) {
      let best = 0;
      let dist = Infinity;
      for (let code = 0; code < combos; code++) {
        const d = Math.abs(value[code] - x[t]);
        if (d < dist) { dist = d; best = code; }
      }
      next[t] = best;
    }
    const nbErr = squaredError(x, value, next);
    if (nbErr <= err) { codes = next; err = nbErr; } else break;
  }
  // α > 0 (flip the basis of a negative one), large to small.
  const order = Array.from(alphas.keys()).sort((i, j) => Math.abs(alphas[j]) - Math.abs(alphas[i]));
  return {
    alphas: Float64Array.from(order, (i) => Math.abs(alphas[i])),
    signs: order.map((i) => {
      const flip = alphas[i] < 0;
      const s = new Int8Array(n);
      for (let t = 0; t < n; t++) s[t] = ((codes[t] >> i) & 1) !== (flip ? 1 : 0) ? 1 : -1;
      return s;
    }),
  };
}

/** Per output channel of a kernel [d_in·…, C] (values in TF layout, channel = index mod C): each channel's fit with its own number of bases. */
export function fitKernel(values: ArrayLike<number>, bases: ArrayLike<number>, refine = 2): MultibitFit[] {
  const c = bases.length;
  const n = values.length / c;
  return Array.from({ length: c }, (_, ch) => {
    const w = new Float64Array(n);
    for (let t = 0; t < n; t++) w[t] = values[t * c + ch];
    return fitMultibit(w, Math.max(0, Math.round(bases[ch])), refine);
  });
}

/** The quantized kernel Σ α_i β_i of per-channel fits, in TF layout. */
export function reconstructKernel(fits: readonly MultibitFit[], count: number): Float32Array {
  const c = fits.length;
  const out = new Float32Array(count);
  for (let ch = 0; ch < c; ch++) {
    const f = fits[ch];
    for (let t = 0; t < count / c; t++) {
      let v = 0;
      for (let i = 0; i < f.alphas.length; i++) v += f.alphas[i] * f.signs[i][t];
      out[t * c + ch] = v;
    }
  }
  return out;
}

/**
 * The last fit per (kernel data, bases data): a TF.js tensor's data never changes in place (an
 * optimizer step or a pruning gives the variable new data), so evaluation passes between two
 * training steps reuse one fit instead of refitting per batch.
 */
const fitCache = new WeakMap<object, WeakMap<object, { refine: number; values: Float32Array }>>();

function quantizedValues(x: tf.Tensor, bases: tf.Tensor, refine: number): Float32Array {
  const xId = (x as unknown as { dataId: object }).dataId;
  const basesId = (bases as unknown as { dataId: object }).dataId;
  const cached = fitCache.get(basesId)?.get(xId);
  if (cached && cached.refine === refine) return cached.values;
  const values = x.dataSync();
  const fitted = reconstructKernel(fitKernel(values, bases.dataSync(), refine), values.length);
  if (!fitCache.has(basesId)) fitCache.set(basesId, new WeakMap());
  fitCache.get(basesId)!.set(xId, { refine, values: fitted });
  return fitted;
}

/** q(w) with the straight-through estimator; the fit runs on the host (once per kernel update). */
const multibitSTE = (w: tf.Tensor, bases: tf.Tensor, refine: number) => withGradient(([x]) => (
  { value: tf.tensor(quantizedValues(x, bases, refine), x.shape), gradFunc: (dy: tf.Tensor) => dy }
))(w);

/** multibit: weights only; one per-channel, untrained parameter holds each channel's number of bases. */
export const multibitKind: QuantizerKind<MultibitSpec> = {
  kind: 'multibit',
  validate(s, where) {
    if (!Number.isInteger(s.bases) || s.bases < 1 || s.bases > 8) throw new LowbitError(`${where}: multibit bases must be a whole number from 1 to 8, got ${JSON.stringify(s.bases)}`);
    if (s.refine != null && (!Number.isInteger(s.refine) || s.refine < 0)) throw new LowbitError(`${where}: multibit refine must be a whole number ≥ 0, got ${JSON.stringify(s.refine)}`);
  },
  precision: (s) => s.bases,
  params: (s) => [{ name: 'multibit_bases', init: s.bases, perChannel: true, trainable: false }],
  apply(s, x, role, p, _t, ctx, where) {
    if (role === 'activation') throw new LowbitError(`${where}: multibit quantizes weights; for activations keep a uniform or DoReFa quantizer`);
    return tf.tidy(() => {
      const columns = ctx.outputChannels ?? x.shape[x.rank - 1];
      return tf.reshape(multibitSTE(tf.reshape(x, [-1, columns]), p[0], s.refine ?? 2), x.shape);
    });
  },
  valueSet: (s) => `Σ_{i≤I_c} ±α_{c,i} per output channel c, I_c ≤ ${s.bases} bases`,
  grid(s, role, input): MultibitGrid | null {
    if (role === 'activation' || input.latent == null) return null;
    const bases = Int32Array.from(input.params[0], (b) => Math.max(0, Math.min(s.bases, Math.round(b))));
    const fits = fitKernel(input.latent, bases, s.refine ?? 2);
    const alphas = new Float32Array(bases.length * s.bases);
    fits.forEach((f, c) => f.alphas.forEach((a, i) => { alphas[c * s.bases + i] = a; }));
    return { type: 'multibit', bits: s.bases, bases, alphas, axis: -1 };
  },
};
