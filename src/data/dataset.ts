/**
 * In-memory image classification data: one Float32Array of pixels in [0, 1] (NHWC) and one
 * Uint8Array of labels per split. Batches are gathered through a shuffled index array, so an
 * epoch never makes a second copy of the dataset.
 */
import * as tf from '../backend/tf.js';
import { Rng } from '../random.js';

export interface ImageSet {
  /** Pixels, N × H × W × C, in [0, 1]. */
  readonly images: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
}

export interface DatasetSplits {
  readonly name: string;
  /** Per-image shape [H, W, C]. */
  readonly shape: [number, number, number];
  readonly numClasses: number;
  readonly train: ImageSet;
  readonly val: ImageSet;
  readonly test: ImageSet;
  /** Where the data came from and how it was split, for lowbit.json and the README. */
  readonly description: string;
}

export function imageSize(shape: readonly number[]): number {
  return shape[0] * shape[1] * shape[2];
}

/** Copies the listed examples of `set` into a new ImageSet. */
export function subset(set: ImageSet, indices: ArrayLike<number>, pixelsPerImage: number): ImageSet {
  const images = new Float32Array(indices.length * pixelsPerImage);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    images.set(set.images.subarray(k * pixelsPerImage, (k + 1) * pixelsPerImage), i * pixelsPerImage);
    labels[i] = set.labels[k];
  }
  return { images, labels, count: indices.length };
}

/**
 * Seeded stratified split: within each class, a seeded shuffle, then the first
 * floor(fraction · classCount) examples go to the held-out part. Returns sorted index lists.
 */
export function stratifiedSplit(labels: Uint8Array, fraction: number, seed: number): { kept: Int32Array; heldOut: Int32Array } {
  const rng = new Rng(seed);
  const byClass = new Map<number, number[]>();
  labels.forEach((y, i) => {
    const list = byClass.get(y) ?? [];
    list.push(i);
    byClass.set(y, list);
  });
  const kept: number[] = [];
  const heldOut: number[] = [];
  for (const cls of [...byClass.keys()].sort((a, b) => a - b)) {
    const idx = rng.shuffle(byClass.get(cls)!);
    const n = Math.floor(idx.length * fraction);
    heldOut.push(...idx.slice(0, n));
    kept.push(...idx.slice(n));
  }
  const sorted = (a: number[]) => Int32Array.from(a.sort((x, y) => x - y));
  return { kept: sorted(kept), heldOut: sorted(heldOut) };
}

export interface Batch {
  x: tf.Tensor4D;
  /** One-hot labels, float32. */
  y: tf.Tensor2D;
  labels: Uint8Array;
}

/**
 * Yields batches over `set` in the order of `order` (a permutation or any index list).
 * Each batch is one small copy into reused buffers; the caller disposes x and y.
 */
export function* batches(set: ImageSet, shape: [number, number, number], numClasses: number, batchSize: number,
  order: Int32Array, startBatch = 0): Generator<Batch> {
  const ppi = imageSize(shape);
  for (let start = startBatch * batchSize; start < order.length; start += batchSize) {
    const n = Math.min(batchSize, order.length - start);
    const xb = new Float32Array(n * ppi);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const k = order[start + i];
      xb.set(set.images.subarray(k * ppi, (k + 1) * ppi), i * ppi);
      labels[i] = set.labels[k];
    }
    const x = tf.tensor4d(xb, [n, ...shape]);
    const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses), 'float32')) as tf.Tensor2D;
    yield { x, y, labels };
  }
}

/** The identity order 0 … n−1 (evaluation). */
export function sequentialOrder(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** A seeded permutation of 0 … n−1 (one training epoch). */
export function shuffledOrder(n: number, rng: Rng): Int32Array {
  return rng.shuffle(sequentialOrder(n));
}
