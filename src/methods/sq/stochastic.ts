/**
 * Stochastic Quantization (SQ): Dong, Ni, Li, Chen, Zhu & Su, "Learning Accurate Low-Bit Deep
 * Neural Networks with Stochastic Quantization", BMVC 2017 (arXiv:1708.01001). How it works here,
 * and what is from the paper and what is ours: docs/methods/sq.md.
 *
 * Each training step, each quantized layer quantizes only r·C of its C output channels (the
 * kernel's columns); the others stay float. Channels are drawn without replacement by roulette
 * with probability p_i = f(1/e_i) / Σ_j f(1/e_j), e_i = ‖W_i − Q(W_i)‖₁ / ‖W_i‖₁ the channel's
 * relative quantization error, so channels that quantize well are quantized first. r rises over
 * training in stages (0.5 → 0.75 → 0.875 → 1 by default). Evaluation and export quantize every
 * channel.
 */
import * as tf from '../../backend/tf.js';
import { LowbitError } from '../../errors.js';
import { nextNoiseSeed } from '../../quantizers/noise.js';
import { Rng } from '../../random.js';

/** The paper's four choices of f in p_i ∝ f(1/e_i); 'linear' (f(x) = x) is its default. */
export const sqProbabilities = ['linear', 'constant', 'softmax', 'sigmoid'] as const;
export type SqProbability = typeof sqProbabilities[number];

/** The default SQ ratio schedule: the fraction of channels quantized in each stage. */
export const DEFAULT_SQ_SCHEDULE: readonly number[] = [0.5, 0.75, 0.875, 1];

/** e_i ≥ this (a channel that quantizes exactly would get an infinite 1/e_i). */
const MIN_ERROR = 1e-8;

/**
 * Selection probabilities from relative errors e_i, with x_i = 1/e_i:
 * constant p_i = 1/C; linear p_i = x_i / Σ x_j; softmax p_i = exp(x_i) / Σ exp(x_j);
 * sigmoid p_i = σ(x_i) / Σ σ(x_j). (The paper names the four functions and prefers linear; the
 * exact softmax and sigmoid forms over x = 1/e are our reading: docs/methods/sq.md.)
 */
export function selectionProbabilities(errors: ArrayLike<number>, f: SqProbability = 'linear'): Float64Array {
  const n = errors.length;
  const x = Float64Array.from(errors, (e) => 1 / Math.max(e, MIN_ERROR));
  let w: Float64Array;
  switch (f) {
    case 'constant': w = new Float64Array(n).fill(1); break;
    case 'linear': w = x; break;
    case 'softmax': {
      const max = Math.max(...x);
      w = x.map((v) => Math.exp(v - max));
      break;
    }
    case 'sigmoid': w = x.map((v) => 1 / (1 + Math.exp(-v))); break;
    default: throw new LowbitError(`unknown SQ probability '${String(f)}': choose ${sqProbabilities.join(', ')}`);
  }
  const total = w.reduce((a, b) => a + b, 0);
  return w.map((v) => v / total);
}

/**
 * k distinct indices drawn by roulette without replacement: each draw picks index i with
 * probability p_i / Σ_{j not yet drawn} p_j (one `rng.next()` per draw), in draw order.
 */
export function rouletteWithoutReplacement(p: ArrayLike<number>, k: number, rng: Rng): number[] {
  const left = Array.from(p);
  const picked: number[] = [];
  let total = left.reduce((a, b) => a + b, 0);
  for (let draw = 0; draw < Math.min(k, left.length); draw++) {
    let u = rng.next() * total;
    let pick = -1;
    for (let i = 0; i < left.length; i++) {
      if (left[i] <= 0) continue;
      pick = i;
      u -= left[i];
      if (u < 0) break;
    }
    if (pick < 0) pick = left.findIndex((_, i) => !picked.includes(i)); // every remaining p is 0
    picked.push(pick);
    total -= left[pick];
    left[pick] = 0;
  }
  return picked;
}

/**
 * The SQ ratio of an epoch (1-based) of `epochs`: the schedule's S stages split the epochs
 * evenly, stage = ⌈epoch·S/epochs⌉ − 1, so the last epoch always runs the last stage (r = 1).
 */
export function sqRatioAt(schedule: readonly number[], epoch: number, epochs: number): number {
  const s = schedule.length;
  return schedule[Math.min(s - 1, Math.max(0, Math.ceil((epoch * s) / epochs) - 1))];
}

/** Throws a LowbitError unless the schedule is ratios in (0, 1], non-decreasing, ending at 1. */
export function checkSqSchedule(schedule: readonly number[]): void {
  if (schedule.length === 0) throw new LowbitError('--sq-schedule needs at least one ratio, e.g. 0.5,0.75,0.875,1');
  for (const [i, r] of schedule.entries()) {
    if (!(r > 0 && r <= 1)) throw new LowbitError(`--sq-schedule: ratios are fractions of channels in (0, 1], got ${r}`);
    if (i > 0 && r < schedule[i - 1]) throw new LowbitError(`--sq-schedule: ratios must not decrease (${schedule[i - 1]} then ${r})`);
  }
  if (schedule[schedule.length - 1] !== 1) throw new LowbitError(`--sq-schedule must end at 1 (every channel quantized: evaluation and export quantize all of them), got ${schedule.join(',')}`);
}

/** Per channel (column of W [d_in, C]): e_i = ‖W_i − Q(W_i)‖₁ / ‖W_i‖₁. */
export function relativeErrors(latent: tf.Tensor2D, quantized: tf.Tensor2D): Float32Array {
  return tf.tidy(() => {
    const diff = tf.sum(tf.abs(tf.sub(latent, quantized)), 0);
    const norm = tf.maximum(tf.sum(tf.abs(latent), 0), 1e-12);
    return tf.div(diff, norm).dataSync() as Float32Array;
  });
}

/** The output channels SQ quantizes this step: round(r·C) of them, by roulette from the errors; `rng` supplies the draws. */
export function selectChannels(errors: ArrayLike<number>, ratio: number, f: SqProbability, rng: Rng): number[] {
  const k = Math.round(ratio * errors.length);
  if (k >= errors.length) return Array.from({ length: errors.length }, (_, i) => i);
  return rouletteWithoutReplacement(selectionProbabilities(errors, f), k, rng);
}

/**
 * The training-time kernel of an SQ layer (a QuantTransform.kernelMix): the quantized columns
 * for the selected channels, the latent ones for the rest. Gradients reach the latent weights
 * through the quantizer's own rule for quantized channels and directly for float ones. The draws
 * come from the quantizer noise sequence (seeded by the run's seed and checkpointed by the
 * training loop, so a resumed run draws the same channels).
 */
export function sqKernelMix(ratio: () => number, f: SqProbability, onSelect?: (channels: number[]) => void): (latent: tf.Tensor2D, quantized: tf.Tensor2D) => tf.Tensor2D {
  return (latent, quantized) => {
    const r = ratio();
    const columns = latent.shape[1];
    if (Math.round(r * columns) >= columns) return quantized;
    const chosen = selectChannels(relativeErrors(latent, quantized), r, f, new Rng(nextNoiseSeed()));
    onSelect?.(chosen);
    const mask = new Float32Array(columns);
    for (const c of chosen) mask[c] = 1;
    return tf.tidy(() => {
      const m = tf.tensor2d(mask, [1, columns]);
      return tf.add(tf.mul(quantized, m), tf.mul(latent, tf.sub(1, m))) as tf.Tensor2D;
    });
  };
}
