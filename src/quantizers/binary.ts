/**
 * 1-bit quantizers: sign for activations (plain and ReActNet's RSign) and sign·scale for weights
 * with one scale per tensor or per output channel, optionally under a metric M (BiTAT).
 * On the native backend the sign and its gradient run as one fused kernel each way
 * (sign-fused.ts, src/backend/sign-kernels.ts); the op chains below (the *Reference functions)
 * are what every other backend runs, and what the fused path is tested against, bit for bit
 * (test/native-sign.test.ts).
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { binaryMeanScaled } from './dorefa.js';
import { detached, insideMask, signPlusOne, withGradient } from './common.js';
import { fusedSignApplies, signFused } from './sign-fused.js';
import type { QuantizerKind } from './kind.js';
import { binaryInfo, rsignInfo } from './kind-info.js';

/**
 * steSign (Larq's `ste_sign`; Courbariaux et al., "BinaryNet", arXiv:1602.02830): q(x) = sign(x)
 * with sign(0) = +1; gradient: the clipped STE, ∂L/∂x = ∂L/∂q · [|x| ≤ 1]. Values: {−1, +1}.
 */
export function steSign(x: tf.Tensor): tf.Tensor {
  return fusedSignApplies(x) ? signFused(x, { mode: 'ste' }) : steSignReference(x);
}

/** steSign as the tfjs-ops chain (any backend): the reference of the fused kernel. */
export const steSignReference = withGradient(([x], save) => {
  save([x]);
  return {
    value: signPlusOne(x),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, insideMask(saved[0], -1, 1)),
  };
});

/**
 * approxSign (Bi-Real Net, Liu et al., ECCV 2018, arXiv:1808.00278 §3.2; ReActNet's
 * `BinaryActivation`): q(x) = sign(x) with sign(0) = +1; gradient: the derivative of the
 * piecewise quadratic, 2 + 2x on [−1, 0), 2 − 2x on [0, 1), 0 elsewhere = max(0, 2 − 2|x|).
 */
export function approxSign(x: tf.Tensor): tf.Tensor {
  return fusedSignApplies(x) ? signFused(x, { mode: 'approx' }) : approxSignReference(x);
}

/** approxSign as the tfjs-ops chain (any backend): the reference of the fused kernel. */
export const approxSignReference = withGradient(([x], save) => {
  save([x]);
  return {
    value: signPlusOne(x),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.relu(tf.sub(2, tf.mul(tf.abs(saved[0]), 2)))),
  };
});

/**
 * RSign (ReActNet, Liu et al., ECCV 2020, arXiv:2003.03488 §3.2): q(x) = approxSign(x + b) with a
 * learned threshold b per channel (the last axis). Values: {−1, +1}; ∂q/∂b = ∂q/∂x.
 */
export function rsign(x: tf.Tensor, threshold: tf.Tensor): tf.Tensor {
  if (fusedSignApplies(x, threshold)) return signFused(x, { mode: 'approx', threshold });
  return rsignReference(x, threshold);
}

/** rsign as the tfjs-ops chain (any backend): the reference of the fused kernel. */
export function rsignReference(x: tf.Tensor, threshold: tf.Tensor): tf.Tensor {
  return approxSignReference(tf.add(x, threshold));
}

/** α·sign(z) (sign(0) = +1) with the clipped STE on z, ∂L/∂z = ∂L/∂q·[|z| ≤ 1], and no gradient to α. */
const scaledSignSTE = withGradient(([z, alpha], save) => {
  save([z, alpha]);
  return {
    value: tf.mul(signPlusOne(z), alpha),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [tf.mul(dy, insideMask(saved[0], -1, 1)), tf.zerosLike(saved[1])],
  };
});

/**
 * Per-output-channel binary weights of a kernel viewed as W [d_in, d_out] (one column per output
 * channel), optionally under a symmetric positive metric M [d_in, d_in] (BiTAT, bitat.md §1.3 —
 * a reconstruction):
 *   z_o = M·w_o,  b_o = sign(z_o) (sign(0) = +1),  α_o = ⟨b_o, M·w_o⟩ / ⟨b_o, M·b_o⟩,  q_o = α_o·b_o,
 * the least-squares scale under the metric M. Without M (M = I) this is XNOR-Net's / ReActNet's
 * α_o = mean|w_o| (Rastegari et al., arXiv:1603.05279). Gradient: the clipped STE on z
 * (ReActNet), then through M by autodiff, so M's parameters train too; α is a constant.
 * Values: exactly {−α_o, +α_o} per column.
 */
export function binaryChannel(w: tf.Tensor2D, metric?: tf.Tensor2D | null): tf.Tensor2D {
  if (!fusedSignApplies(w)) return binaryChannelReference(w, metric);
  // The fused path: the same values; α computed off the tape (its gradient is zero: the
  // reference's backward pass computes that zero through α's ops, this one skips them).
  return tf.tidy(() => {
    if (metric == null) return signFused(w, { mode: 'ste', scale: detached(() => tf.mean(tf.abs(w), 0, true)) }) as tf.Tensor2D;
    const z = tf.matMul(metric, w);
    const alpha = detached(() => {
      const b = signFused(z, { mode: 'ste' });
      return tf.div(tf.sum(tf.mul(b, z), 0, true), tf.sum(tf.mul(b, tf.matMul(metric, b)), 0, true));
    });
    return signFused(z, { mode: 'ste', scale: alpha }) as tf.Tensor2D;
  });
}

/** binaryChannel as the tfjs-ops chain (any backend): the reference of the fused path. */
export function binaryChannelReference(w: tf.Tensor2D, metric?: tf.Tensor2D | null): tf.Tensor2D {
  return tf.tidy(() => {
    if (metric == null) return scaledSignSTE(w, tf.mean(tf.abs(w), 0, true)) as tf.Tensor2D;
    const z = tf.matMul(metric, w);
    const b = signPlusOne(z);
    const alpha = tf.div(tf.sum(tf.mul(b, z), 0, true), tf.sum(tf.mul(b, tf.matMul(metric, b)), 0, true));
    return scaledSignSTE(z, alpha) as tf.Tensor2D;
  });
}

/** 1-bit: weights sign·mean|w| per tensor or per output channel ('channel'); activations sign. */
export interface BinarySpec { kind: 'binary'; scale?: 'tensor' | 'channel' }

/** ReActNet's RSign for activations: sign(x + b), a learned threshold b per channel. */
export interface RsignSpec { kind: 'rsign' }

/** binary (the rest of the kind: binaryInfo in kind-info.ts). */
export const binaryKind: QuantizerKind<BinarySpec> = {
  ...binaryInfo,
  apply(s, x, role, _p, _t, ctx) {
    if (role === 'activation') return steSign(x);
    if (s.scale !== 'channel') return binaryMeanScaled(x);
    return tf.tidy(() => tf.reshape(binaryChannel(tf.reshape(x, [-1, ctx.outputChannels ?? x.shape[x.rank - 1]]) as tf.Tensor2D, ctx.metric), x.shape));
  },
};

/** rsign (the rest of the kind: rsignInfo in kind-info.ts). */
export const rsignKind: QuantizerKind<RsignSpec> = {
  ...rsignInfo,
  apply(_s, x, role, p, _t, _c, where) {
    if (role === 'weight') throw new LowbitError(`${where}: rsign binarizes activations; for weights use {kind: 'binary', scale: 'channel'}`);
    return rsign(x, p[0]);
  },
};
