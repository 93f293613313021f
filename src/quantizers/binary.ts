/**
 * 1-bit quantizers: sign for activations (plain and ReActNet's RSign) and sign·scale for weights
 * with one scale per tensor or per output channel, optionally under a metric M (BiTAT).
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { binaryMeanScaled } from './dorefa.js';
import { insideMask, signPlusOne, withGradient } from './common.js';
import type { QuantizerKind, UniformGrid } from './kind.js';

/**
 * steSign (Larq's `ste_sign`; Courbariaux et al., "BinaryNet", arXiv:1602.02830): q(x) = sign(x)
 * with sign(0) = +1; gradient: the clipped STE, ∂L/∂x = ∂L/∂q · [|x| ≤ 1]. Values: {−1, +1}.
 */
export const steSign = withGradient(([x], save) => {
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
export const approxSign = withGradient(([x], save) => {
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
  return approxSign(tf.add(x, threshold));
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

/** The bipolar grid {−s/2, +s/2}: codes {0, 1}, value = (code − ½)·s. */
function bipolar(scale: number | Float32Array, extra: Partial<UniformGrid> = {}): UniformGrid {
  return { type: 'uniform', bits: 1, signed: false, narrow: false, scale, zeroPoint: 0.5, axis: scale instanceof Float32Array ? -1 : null, ...extra };
}

/**
 * binary: weights ±E (E = mean|w| of the tensor) or ±α_o per output channel (binaryChannel,
 * optionally under BiTAT's metric); activations steSign. Grid: bipolar, scale 2E (per tensor) or
 * 2α_o (per channel), read off the quantized kernel; activations ±1.
 */
export const binaryKind: QuantizerKind<BinarySpec> = {
  kind: 'binary',
  naming: 'plain',
  validate(s, where) {
    if (s.scale != null && s.scale !== 'tensor' && s.scale !== 'channel') throw new LowbitError(`${where}: binary scale must be 'tensor' or 'channel', got ${JSON.stringify(s.scale)}`);
  },
  precision: () => 1,
  params: () => [],
  apply(s, x, role, _p, _t, ctx) {
    if (role === 'activation') return steSign(x);
    if (s.scale !== 'channel') return binaryMeanScaled(x);
    return tf.tidy(() => tf.reshape(binaryChannel(tf.reshape(x, [-1, ctx.outputChannels ?? x.shape[x.rank - 1]]) as tf.Tensor2D, ctx.metric), x.shape));
  },
  valueSet: (s, role) => (role === 'weight' ? (s.scale === 'channel' ? '{−α_o, +α_o} per output channel' : '{−E, +E}, E = mean|w|') : '{−1, +1}'),
  grid(s, role, input) {
    if (role === 'activation') return bipolar(2);
    const q = input.quantized;
    if (q == null) return null;
    if (s.scale !== 'channel') return bipolar(2 * Math.abs(q[0]) || 1);
    // ±α_o per output channel (the kernel's columns): α_o read off the first row.
    const scales = new Float32Array(input.channels);
    for (let o = 0; o < scales.length; o++) scales[o] = 2 * Math.abs(q[o]) || 1;
    return bipolar(scales);
  },
};

/** rsign: activations only, sign(x + b) with a learned threshold b per channel; grid ±1 after adding b. */
export const rsignKind: QuantizerKind<RsignSpec> = {
  kind: 'rsign',
  naming: 'plain',
  validate() {},
  precision: () => 1,
  params: () => [{ name: 'rsign_threshold', init: 0, perChannel: true }],
  apply(_s, x, role, p, _t, _c, where) {
    if (role === 'weight') throw new LowbitError(`${where}: rsign binarizes activations; for weights use {kind: 'binary', scale: 'channel'}`);
    return rsign(x, p[0]);
  },
  valueSet: () => '{−1, +1} (sign(x + b), learned b per channel)',
  grid: (_s, role, input) => (role === 'weight' ? null : bipolar(2, { offset: Float32Array.from(input.params[0]), learned: true })),
};
