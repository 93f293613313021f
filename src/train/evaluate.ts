import * as tf from '../backend/tf.js';
import { batches, disposeBatch, ExampleSet, sequentialOrder } from '../data/dataset.js';
import type { Batch } from '../data/dataset.js';

export interface EvalResult {
  accuracy: number;
  loss: number;
  count: number;
}

/** A model's forward pass as a function of (images, training); defaults to `model.apply`. */
export type Forward = (x: tf.Tensor, training: boolean) => tf.Tensor;

export function modelForward(model: tf.LayersModel): Forward {
  return (x, training) => model.apply(x, { training }) as tf.Tensor;
}

/** Loss of one batch given the forward output (mean over the batch). */
export type LossFn = (output: tf.Tensor, batch: Batch) => tf.Scalar;

export const crossEntropy: LossFn = (logits, batch) => tf.losses.softmaxCrossEntropy(batch.y, logits) as tf.Scalar;

/**
 * Mean loss over a whole split, in inference mode (default: cross-entropy on logits), and the
 * top-1 accuracy when the output is one logit per class (NaN otherwise).
 */
export function evaluate(forward: Forward, set: ExampleSet, shape: readonly number[], numClasses: number,
  batchSize = 256, loss: LossFn = crossEntropy): EvalResult {
  let correct = 0;
  let lossSum = 0;
  let classifies = true;
  for (const b of batches(set, shape, numClasses, batchSize, sequentialOrder(set.count))) {
    const [c, l] = tf.tidy(() => {
      const out = forward(b.x, false);
      classifies = out.rank === 2 && out.shape[1] === numClasses;
      const hits = classifies ? tf.sum(tf.cast(tf.equal(tf.argMax(out, 1), tf.argMax(b.y, 1)), 'float32')).dataSync()[0] : 0;
      return [hits, tf.mul(loss(out, b), b.labels.length).dataSync()[0]];
    });
    correct += c;
    lossSum += l;
    disposeBatch(b);
  }
  return { accuracy: classifies ? correct / set.count : NaN, loss: lossSum / set.count, count: set.count };
}
