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
