/** BatchNorm statistics re-estimation (after quantization changes what a layer sees). */
import * as tf from '../backend/tf.js';
import { batches, DatasetSplits, disposeBatch, shuffledOrder } from '../data/dataset.js';
import { Rng } from '../random.js';

/**
 * Replaces every BatchNormalization layer's moving mean and variance by their average over
 * `images` training images (a seeded sample): forward passes in training mode, no weight update.
 * The k-th batch enters with momentum k/(k+1), so the result is the plain mean of the batch
 * statistics, not an exponential average that remembers the old values.
 */
export function reestimateBatchNorm(model: tf.LayersModel, data: DatasetSplits, images: number, seed: number, batchSize = 128): void {
  const bns = model.layers.filter((l) => l.getClassName() === 'BatchNormalization') as unknown as Array<{ momentum: number }>;
  const saved = bns.map((l) => l.momentum);
  const order = shuffledOrder(data.train.count, new Rng(seed)).subarray(0, Math.min(images, data.train.count));
  let k = 0;
  try {
    for (const b of batches(data.train, data.shape, data.numClasses, batchSize, order)) {
      for (const l of bns) l.momentum = k / (k + 1);
      tf.tidy(() => { model.apply(b.x, { training: true }); });
      disposeBatch(b);
      k++;
    }
  } finally {
    bns.forEach((l, i) => { l.momentum = saved[i]; });
  }
}
