/** Ternary weight quantizers. */
import * as tf from '../backend/tf.js';
import { insideMask, withGradient } from './common.js';
import type { QuantizerKind } from './kind.js';
import { ternaryInfo } from './kind-info.js';

/**
 * Ternary Weight Networks (Li, Zhang & Liu, arXiv:1605.04711, 2016): Δ = 0.7·mean|w|,
 * α = mean{|w| : |w| > Δ}, q(w) = α·sign(w)·[|w| > Δ]. Gradient: STE (∂L/∂w = ∂L/∂q).
 * Values: {−α, 0, +α}.
 */
export const ternaryTWN = withGradient(([w]) => {
  const value = tf.tidy(() => {
    const a = tf.abs(w);
    const delta = tf.mul(tf.mean(a), 0.7);
    const mask = tf.cast(tf.greater(a, delta), 'float32');
    const alpha = tf.div(tf.sum(tf.mul(a, mask)), tf.maximum(tf.sum(mask), 1));
    return tf.mul(tf.mul(tf.sign(w), mask), alpha);
  });
  return { value, gradFunc: (dy: tf.Tensor) => dy };
});

/**
 * WRPN's symmetric 2-bit form (Mishra et al., arXiv:1709.01134, 2017; Distiller's formula):
 * q(w) = round((2^{k−1} − 1)·clip(w, −1, 1)) / (2^{k−1} − 1) with k = 2, i.e. round(clip(w, −1, 1)).
 * Gradient: STE inside [−1, 1], zero outside. Values: {−1, 0, +1}.
 */
export const ternaryWRPN = withGradient(([w], save) => {
  save([w]);
  return {
    value: tf.tidy(() => tf.round(tf.clipByValue(w, -1, 1))),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, insideMask(saved[0], -1, 1)),
  };
});

export interface TernaryOptions {
  /** 'twn' (default): {−α, 0, α}; 'wrpn': {−1, 0, 1}. */
  form?: 'twn' | 'wrpn';
}

export function ternary(w: tf.Tensor, options: TernaryOptions = {}): tf.Tensor {
  return (options.form ?? 'twn') === 'twn' ? ternaryTWN(w) : ternaryWRPN(w);
}

/** Ternary weights: TWN {−α, 0, α} (default) or WRPN {−1, 0, 1}. */
export interface TernarySpec { kind: 'ternary'; form?: 'twn' | 'wrpn' }

/** ternary (the rest of the kind: ternaryInfo in kind-info.ts). */
export const ternaryKind: QuantizerKind<TernarySpec> = {
  ...ternaryInfo,
  apply: (s, x) => ternary(x, { form: s.form }),
};
