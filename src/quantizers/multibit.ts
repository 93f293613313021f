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
import type { QuantizerKind } from './kind.js';
import { multibitInfo } from './kind-info.js';
import { fitKernel, reconstructKernel } from './multibit-fit.js';

export { leastSquaresAlphas, fitMultibit, fitKernel, reconstructKernel } from './multibit-fit.js';
export type { MultibitFit } from './multibit-fit.js';

/** Multi-bit binary bases per output channel: up to `bases` of them (1–8), `refine` alternating rounds (default 2). */
export interface MultibitSpec { kind: 'multibit'; bases: number; refine?: number }

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

/** multibit: weights only (the rest of the kind: multibitInfo in kind-info.ts). */
export const multibitKind: QuantizerKind<MultibitSpec> = {
  ...multibitInfo,
  apply(s, x, role, p, _t, ctx, where) {
    if (role === 'activation') throw new LowbitError(`${where}: multibit quantizes weights; for activations keep a uniform or DoReFa quantizer`);
    return tf.tidy(() => {
      const columns = ctx.outputChannels ?? x.shape[x.rank - 1];
      return tf.reshape(multibitSTE(tf.reshape(x, [-1, columns]), p[0], s.refine ?? 2), x.shape);
    });
  },
};
