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
  const a = Array.from({ length: k }, () => new Float64Array(k + 1));
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let dot = 0;
      for (let t = 0; t < w.length; t++) dot += signs[i][t] * signs[j][t];
      a[i][j] = dot;
      a[j][i] = dot;
    }
    let rhs = 0;
    for (let t = 0; t < w.length; t++) rhs += signs[i][t] * w[t];
    a[i][k] = rhs;
  }
  const alpha = new Float64Array(k);
  const used = new Array<boolean>(k).fill(false);
  const pivotOf = new Int32Array(k).fill(-1);
  for (let col = 0; col < k; col++) {
    let best = -1;
    for (let r = 0; r < k; r++) if (!used[r] && (best < 0 || Math.abs(a[r][col]) > Math.abs(a[best][col]))) best = r;
    if (best < 0 || Math.abs(a[best][col]) < 1e-9 * w.length) continue; // dependent basis: α = 0
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

const squaredError = (w: ArrayLike<number>, fit: MultibitFit) => {
  let e = 0;
  for (let t = 0; t < w.length; t++) {
    let v = 0;
    for (let i = 0; i < fit.alphas.length; i++) v += fit.alphas[i] * fit.signs[i][t];
    e += (w[t] - v) ** 2;
  }
  return e;
};

/** The multi-bit fit of one group w with I bases (see the file comment); I = 0 gives no bases (q = 0). */
export function fitMultibit(w: ArrayLike<number>, bases: number, refine = 2): MultibitFit {
  const n = w.length;
  const signs: Int8Array[] = [];
  let alphas: Float64Array = new Float64Array(bases);
  const r = Float64Array.from(w);
  for (let i = 0; i < bases; i++) {
    const s = new Int8Array(n);
    let mean = 0;
    for (let t = 0; t < n; t++) { s[t] = r[t] >= 0 ? 1 : -1; mean += Math.abs(r[t]); }
    mean /= n;
    alphas[i] = mean;
    for (let t = 0; t < n; t++) r[t] -= mean * s[t];
    signs.push(s);
  }
  let fit: MultibitFit = { alphas, signs };
  if (bases === 0) return fit;
  const withAlphas = (a: Float64Array, s: Int8Array[]) => ({ alphas: a, signs: s });
  let err = squaredError(w, fit);
  for (let round = 0; round <= refine; round++) {
    const ls = withAlphas(leastSquaresAlphas(w, fit.signs), fit.signs);
    const lsErr = squaredError(w, ls);
    if (lsErr <= err) { fit = ls; err = lsErr; }
    if (round === refine) break;
    // β given α: each element takes the nearest of the 2^I sums Σ ±α_i.
    alphas = fit.alphas;
    const combos = 2 ** bases;
    const value = new Float64Array(combos);
    for (let code = 0; code < combos; code++) for (let i = 0; i < bases; i++) value[code] += ((code >> i) & 1 ? 1 : -1) * alphas[i];
    const next = Array.from({ length: bases }, () => new Int8Array(n));
    for (let t = 0; t < n; t++) {
      let best = 0;
      let dist = Infinity;
      for (let code = 0; code < combos; code++) {
        const d = Math.abs(value[code] - w[t]);
        if (d < dist) { dist = d; best = code; }
      }
      for (let i = 0; i < bases; i++) next[i][t] = (best >> i) & 1 ? 1 : -1;
    }
    const nb = withAlphas(alphas, next);
    const nbErr = squaredError(w, nb);
    if (nbErr <= err) { fit = nb; err = nbErr; } else break;
  }
  // α > 0 (flip the basis of a negative one), large to small.
  const order = Array.from(fit.alphas.keys()).sort((i, j) => Math.abs(fit.alphas[j]) - Math.abs(fit.alphas[i]));
  return {
    alphas: Float64Array.from(order, (i) => Math.abs(fit.alphas[i])),
    signs: order.map((i) => {
      if (fit.alphas[i] >= 0) return fit.signs[i];
      const flipped = new Int8Array(n);
      for (let t = 0; t < n; t++) flipped[t] = -fit.signs[i][t];
      return flipped;
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

/** q(w) with the straight-through estimator; the fit runs on the host. */
const multibitSTE = (w: tf.Tensor, bases: tf.Tensor, refine: number) => withGradient(([x]) => {
  const values = x.dataSync();
  const counts = bases.dataSync();
  return { value: tf.tensor(reconstructKernel(fitKernel(values, counts, refine), values.length), x.shape), gradFunc: (dy: tf.Tensor) => dy };
})(w);

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
