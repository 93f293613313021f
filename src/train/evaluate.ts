import * as tf from '../backend/tf.js';
import { ensureBackend } from '../backend/index.js';
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
 * Lets the event loop run (timers, input, rendering, a Worker's messages) between training
 * steps: setImmediate in Node, a MessageChannel message in a browser (setTimeout(0) is clamped
 * to 4 ms there).
 */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (f: () => void) => void };
  if (g.setImmediate != null) return new Promise((resolve) => g.setImmediate!(resolve));
  if (typeof MessageChannel !== 'undefined') {
    return new Promise((resolve) => {
      const channel = new MessageChannel();
      channel.port1.onmessage = () => { channel.port1.close(); resolve(); };
      channel.port2.postMessage(null);
    });
  }
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Mean loss over a whole split, in inference mode (default: cross-entropy on logits), and the
 * top-1 accuracy when the output is one logit per class (NaN otherwise). Each batch's sums are
 * read with `await data()`, and the event loop runs between batches.
 */
export async function evaluate(forward: Forward, set: ExampleSet, shape: readonly number[], numClasses: number,
  batchSize = 256, loss: AnyLossFn = crossEntropy): Promise<EvalResult> {
  await ensureBackend();
  let correct = 0;
  let lossSum = 0;
  let classifies = true;
  for (const b of batches(set, shape, numClasses, batchSize, sequentialOrder(set.count))) {
    const sums = tf.tidy(() => {
      const outputs = forward(b.x, false);
      const out = primaryOutput(outputs);
      classifies = out.rank === 2 && out.shape[1] === numClasses;
      const hits = classifies ? tf.sum(tf.cast(tf.equal(tf.argMax(out, 1), tf.argMax(b.y, 1)), 'float32')) : tf.scalar(0);
      return [hits, tf.mul(loss(outputs as never, b), b.labels.length)];
    });
    disposeBatch(b);
    const [c, l] = await Promise.all(sums.map((t) => t.data()));
    tf.dispose(sums);
    correct += c[0];
    lossSum += l[0];
    await yieldToEventLoop();
  }
  return { accuracy: classifies ? correct / set.count : NaN, loss: lossSum / set.count, count: set.count };
}
