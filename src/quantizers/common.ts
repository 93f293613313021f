/** Shared pieces of the quantizers: bit-width validation and the straight-through estimator. */
import * as tf from '../backend/tf.js';

/** Bit-width validation (TF.js-free, in kind-info.ts with the kinds' validation). */
export { checkBits } from './kind-info.js';

/**
 * round(x) with the straight-through estimator: forward round half to even (tf.round, as ONNX
 * and numpy), backward ∂/∂x = 1. TF.js's own round has a zero gradient.
 */
export const roundSTE: (x: tf.Tensor) => tf.Tensor = withGradient(([x]) => {
  return { value: tf.round(x), gradFunc: (dy: tf.Tensor) => dy };
});

/** sign with sign(0) = +1: values in {−1, +1} (TF.js's sign gives 0 at 0). No gradient rule. */
export function signPlusOne(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.sub(tf.mul(tf.cast(tf.greaterEqual(x, 0), 'float32'), 2), 1));
}

/** 1 where lo ≤ x ≤ hi, else 0 (float32): the pass-through mask of clipped STEs. */
export function insideMask(x: tf.Tensor, lo: number | tf.Tensor, hi: number | tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.cast(tf.logicalAnd(tf.greaterEqual(x, lo), tf.lessEqual(x, hi)), 'float32'));
}

/** A pseudo-gradient rule: the gradient(s) of the inputs given dy and the saved tensors. */
export type GradRule = (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];

/** Typed wrapper over tf.customGrad: `f(inputs, save)` returns the value and its gradient rule. */
export function withGradient(
  f: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => { value: tf.Tensor; gradFunc: GradRule },
): (...inputs: tf.Tensor[]) => tf.Tensor {
  const g = tf.customGrad(((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const save = args.pop() as tf.GradSaveFunc;
    return f(args as tf.Tensor[], save);
  }) as unknown as Parameters<typeof tf.customGrad>[0]);
  return (...inputs: tf.Tensor[]) => g(...inputs);
}

/**
 * f() computed off the gradient tape (TF.js has no stop_gradient for a whole subgraph): run as
 * one custom op whose only input is a fresh constant, so nothing it returns is reachable from the
 * trained variables. For values whose choice carries no gradient (grid slots, code indices),
 * which comparisons and gathers then use without gradient functions of their own. Same values
 * as f() on the tape.
 */
export function detached<T extends tf.Tensor>(f: () => T): T {
  const anchor = tf.scalar(0);
  try {
    return withGradient(() => ({ value: f(), gradFunc: () => tf.scalar(0) }))(anchor) as T;
  } finally {
    anchor.dispose();
  }
}
