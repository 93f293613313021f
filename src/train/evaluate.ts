import * as tf from '../backend/tf.js';
import { batches, disposeBatch, ExampleSet, sequentialOrder } from '../data/dataset.js';
import type { Batch } from '../data/dataset.js';

export interface EvalResult {
  accuracy: number;
  loss: number;
  count: number;
}

/**
 * A model's forward pass as a function of (images, training); defaults to `model.apply`. A
 * multi-output model gives an array (its first output is what accuracy is computed on).
 */
export type Forward = (x: tf.Tensor, training: boolean) => tf.Tensor | tf.Tensor[];

export function modelForward(model: tf.LayersModel): Forward {
  return (x, training) => model.apply(x, { training }) as tf.Tensor | tf.Tensor[];
}

/** The first output of a forward pass (the one accuracy is computed on). */
export function primaryOutput(out: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(out) ? out[0] : out;
}

/** Loss of one batch given the forward output (mean over the batch); multi-output models get the array. */
export type LossFn<O extends tf.Tensor | tf.Tensor[] = tf.Tensor> = (output: O, batch: Batch) => tf.Scalar;
/** A loss for a single- or a multi-output forward pass. */
export type AnyLossFn = LossFn<tf.Tensor> | LossFn<tf.Tensor[]>;

export const crossEntropy: LossFn = (logits, batch) => tf.losses.softmaxCrossEntropy(batch.y, logits) as tf.Scalar;

/**
 * Mean loss over a whole split, in inference mode (default: cross-entropy on logits), and the
 * top-1 accuracy when the output is one logit per class (NaN otherwise).
 */
export function evaluate(forward: Forward, set: ExampleSet, shape: readonly number[], numClasses: number,
  batchSize = 256, loss: AnyLossFn = crossEntropy): EvalResult {
  let correct = 0;
  let lossSum = 0;
  let classifies = true;
  for (const b of batches(set, shape, numClasses, batchSize, sequentialOrder(set.count))) {
    const [c, l] = tf.tidy(() => {
      const outputs = forward(b.x, false);
      const out = primaryOutput(outputs);
      classifies = out.rank === 2 && out.shape[1] === numClasses;
      const hits = classifies ? tf.sum(tf.cast(tf.equal(tf.argMax(out, 1), tf.argMax(b.y, 1)), 'float32')).dataSync()[0] : 0;
      return [hits, tf.mul(loss(outputs as never, b), b.labels.length).dataSync()[0]];
    });
    correct += c;
    lossSum += l;
    disposeBatch(b);
  }
  return { accuracy: classifies ? correct / set.count : NaN, loss: lossSum / set.count, count: set.count };
}
