/** Sign binarization for activations (and weights without a scale). */
import * as tf from '../backend/tf.js';
import { insideMask, signPlusOne, withGradient } from './common.js';

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
