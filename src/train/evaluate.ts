import * as tf from '../backend/tf.js';
import { batches, ImageSet, sequentialOrder } from '../data/dataset.js';

export interface EvalResult {
  accuracy: number;
  loss: number;
  count: number;
}

/** A model's forward pass as a function of (images, training); defaults to `model.apply`. */
export type Forward = (x: tf.Tensor4D, training: boolean) => tf.Tensor;

export function modelForward(model: tf.LayersModel): Forward {
  return (x, training) => model.apply(x, { training }) as tf.Tensor;
}

/** Accuracy and mean cross-entropy of logits over a whole split, in inference mode. */
export function evaluate(forward: Forward, set: ImageSet, shape: [number, number, number], numClasses: number,
  batchSize = 256): EvalResult {
  let correct = 0;
  let lossSum = 0;
  for (const b of batches(set, shape, numClasses, batchSize, sequentialOrder(set.count))) {
    const [c, l] = tf.tidy(() => {
      const logits = forward(b.x, false);
      const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(b.y, 1)), 'float32'));
      const loss = tf.mul(tf.losses.softmaxCrossEntropy(b.y, logits), b.labels.length);
      return [hits.dataSync()[0], loss.dataSync()[0]];
    });
    correct += c;
    lossSum += l;
    tf.dispose([b.x, b.y]);
  }
  return { accuracy: correct / set.count, loss: lossSum / set.count, count: set.count };
}
