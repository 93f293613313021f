/**
 * Vector quantization primitives (van den Oord et al., "Neural Discrete Representation
 * Learning", arXiv:1711.00937; EMA codebooks from its appendix and the Depthwise-Quantization
 * code, docs/methods/dq.md §1.2): nearest-codeword assignment, the straight-through output,
 * the EMA k-means update with Laplace smoothing, and usage statistics.
 */
import * as tf from '../backend/tf.js';
import { withGradient } from './common.js';

/** Identity forward, zero gradient (TF.js has no stop_gradient). */
export const stopGradient: (x: tf.Tensor) => tf.Tensor = withGradient(([x]) => ({
  value: x.clone(),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));

/**
 * Index of the nearest codeword (squared Euclidean, ‖z‖² − 2 z·e + ‖e‖²) of each row of
 * z [N, D] in codebook [K, D], on the device (int32 [N]): argmin has no gradient, so the
 * assignment never reaches the gradient tape.
 */
export function nearestCodeIndices(z: tf.Tensor2D, codebook: tf.Tensor2D): tf.Tensor1D {
  return tf.tidy(() => {
    const d = tf.add(tf.sub(tf.sum(tf.square(z), 1, true), tf.mul(tf.matMul(z, codebook, false, true), 2)),
      tf.reshape(tf.sum(tf.square(codebook), 1), [1, -1]));
    return tf.argMin(d, 1) as tf.Tensor1D;
  });
}

/** nearestCodeIndices read back to the host (for callers outside a forward pass). */
export function nearestCodes(z: tf.Tensor2D, codebook: tf.Tensor2D): Int32Array {
  return tf.tidy(() => Int32Array.from(nearestCodeIndices(z, codebook).dataSync()));
}

/** Codes per codeword: counts[k] = #{i : idx[i] = k}. */
export function codeCounts(idx: ArrayLike<number>, codes: number): Float64Array {
  const counts = new Float64Array(codes);
  for (let i = 0; i < idx.length; i++) counts[idx[i]]++;
  return counts;
}

/** exp(entropy) of the code histogram: K for uniform use, 1 when one code takes everything. */
export function perplexity(counts: ArrayLike<number>): number {
  let total = 0;
  for (let k = 0; k < counts.length; k++) total += counts[k];
  let h = 0;
  for (let k = 0; k < counts.length; k++) if (counts[k] > 0) h -= (counts[k] / total) * Math.log(counts[k] / total);
  return Math.exp(h);
}

export interface EmaState {
  /** N [K]: EMA of the per-code counts. */
  count: tf.Tensor1D;
  /** S [K, D]: EMA of the per-code sums of assigned vectors. */
  sum: tf.Tensor2D;
}

/**
 * One EMA k-means step (dq.md §1.2): N ← γN + (1−γ)n, S ← γS + (1−γ)Σz, Laplace smoothing
 * N' = (N + ε)/(ΣN + Kε)·ΣN, codebook e = S / N'. Returns the new state, codebook and N'.
 */
export function emaStep(state: EmaState, z: tf.Tensor2D, idx: Int32Array, decay: number, epsilon: number):
  { state: EmaState; codebook: tf.Tensor2D; smoothed: Float32Array } {
  return tf.tidy(() => {
    const k = state.count.shape[0];
    const onehot = tf.cast(tf.oneHot(tf.tensor1d(idx, 'int32'), k), 'float32') as tf.Tensor2D; // [N, K]
    const count = tf.add(tf.mul(state.count, decay), tf.mul(tf.sum(onehot, 0), 1 - decay)) as tf.Tensor1D;
    const sum = tf.add(tf.mul(state.sum, decay), tf.mul(tf.matMul(onehot, z, true, false), 1 - decay)) as tf.Tensor2D;
    const total = tf.sum(count);
    const smoothed = tf.mul(tf.div(tf.add(count, epsilon), tf.add(total, k * epsilon)), total) as tf.Tensor1D;
    const codebook = tf.div(sum, tf.reshape(smoothed, [-1, 1])) as tf.Tensor2D;
    return { state: { count, sum }, codebook, smoothed: smoothed.dataSync() as Float32Array };
  });
}
