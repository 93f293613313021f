import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';

export type OptimizerName = 'adam' | 'sgd';

export interface OptimizerConfig {
  name: OptimizerName;
  /** Momentum for SGD (0 = plain SGD). */
  momentum?: number;
}

export function makeOptimizer(config: OptimizerConfig, learningRate: number): tf.Optimizer {
  switch (config.name) {
    case 'adam':
      return tf.train.adam(learningRate);
    case 'sgd':
      return (config.momentum ?? 0.9) > 0
        ? tf.train.momentum(learningRate, config.momentum ?? 0.9)
        : tf.train.sgd(learningRate);
    default:
      throw new LowbitError(`unknown optimizer '${(config as { name: string }).name}': choose adam or sgd`);
  }
}

/** Sets the learning rate used by the next applyGradients (TF.js reads the field on every step). */
export function setLearningRate(optimizer: tf.Optimizer, learningRate: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = learningRate;
}

/** Adam's state for one variable, bias-corrected: what loss-aware methods read as g and diag(H) (ALQ, docs/methods/alq.md). */
export interface AdamMoments {
  /** m̂ = m/(1 − β1ᵗ), the running mean of the gradient. */
  firstMoment: tf.Tensor;
  /** v̂ = v/(1 − β2ᵗ), the running mean of the squared gradient. */
  secondMoment: tf.Tensor;
  /** The learning rate of the last step. */
  learningRate: number;
  epsilon: number;
}

interface AdamState {
  learningRate: number;
  epsilon: number;
  accBeta1?: tf.Tensor;
  accBeta2?: tf.Tensor;
  accumulatedFirstMoment?: Array<{ originalName: string; variable: tf.Variable } | undefined>;
  accumulatedSecondMoment?: Array<{ originalName: string; variable: tf.Variable } | undefined>;
}

/**
 * The bias-corrected Adam moments of `variable` (new tensors the caller disposes), or null when
 * the optimizer is not Adam or has not updated that variable yet. Reads TF.js's AdamOptimizer
 * slots (`<variable name>/m`, `/v`), which the fused native update keeps identical.
 */
export function adamMoments(optimizer: tf.Optimizer, variable: tf.Variable): AdamMoments | null {
  if (!(optimizer instanceof tf.AdamOptimizer)) return null;
  const o = optimizer as unknown as AdamState;
  const find = (slots: AdamState['accumulatedFirstMoment'], suffix: string) => slots?.find((s) => s?.originalName === `${variable.name}/${suffix}`)?.variable;
  const m = find(o.accumulatedFirstMoment, 'm');
  const v = find(o.accumulatedSecondMoment, 'v');
  if (m == null || v == null || o.accBeta1 == null || o.accBeta2 == null) return null;
  const [b1, b2] = [o.accBeta1.dataSync()[0], o.accBeta2.dataSync()[0]];
  if (b1 >= 1) return null; // no step yet
  return {
    firstMoment: tf.tidy(() => tf.div(m, 1 - b1)), secondMoment: tf.tidy(() => tf.div(v, 1 - b2)),
    learningRate: o.learningRate, epsilon: o.epsilon,
  };
}
