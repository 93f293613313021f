/**
 * In-memory image classification data: the pixels of each split (NHWC; float32, or uint8 bytes
 * converted per batch) and one Uint8Array of labels. Batches are gathered through a shuffled
 * index array, so an epoch never makes a second copy of the dataset.
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { Rng } from '../random.js';
import type { DataFileSpec } from './arrays.js';

/**
 * Pixels kept as bytes (uint8 sources: a 50k × 32 × 32 × 3 set is 150 MB, not 600): read as
 * byte / 255, then (x − mean[c]) / std[c] when `mean` and `std` are set. Plain data, so it
 * crosses to worker threads.
 */
export interface BytePixels {
  readonly bytes: Uint8Array;
  readonly mean?: readonly number[];
  readonly std?: readonly number[];
}

/** Training-time augmentation of an image set (see `augmentImages`). */
export interface Augmentation {
  /** Zero padding on every side before a random crop back to H × W (0: no crop). */
  readonly pad: number;
  /** Flip horizontally with probability ½. */
  readonly flip: boolean;
}

export interface ImageSet {
  /** Pixels, N × H × W × C: float32 (in [0, 1] for the built-in sets), or bytes. */
  readonly images: Float32Array | BytePixels;
  readonly labels: Uint8Array;
  readonly count: number;
  /** Augment this set's images when the training loop draws batches from it. */
  readonly augment?: Augmentation;
}

/** Row access to N × D float data: a Float32Array, or a store that reads rows on demand (e.g. from a file). */
export interface FloatRows {
  readonly length: number;
  subarray(begin: number, end: number): Float32Array;
}

/**
 * What the training loop consumes: inputs (images, or cached features) with labels, and
 * optionally a regression target per example (e.g. a teacher's features for distillation).
 */
export interface ExampleSet {
  readonly images: FloatRows | BytePixels;
  readonly labels: Uint8Array;
  readonly count: number;
  readonly targets?: FloatRows;
  /** Per-example target shape, when `targets` is set. */
  readonly targetShape?: number[];
  readonly augment?: Augmentation;
}

export interface DatasetSplits<S extends ExampleSet = ImageSet> {
  readonly name: string;
  /** Per-example input shape ([H, W, C] for images). */
  readonly shape: number[];
  readonly numClasses: number;
  readonly train: S;
  readonly val: S;
  readonly test: S;
  /** Where the data came from and how it was split, for lowbit.json and the README. */
  readonly description: string;
  /** Class names by label (image folders: the sub-folder names). */
  readonly classNames?: string[];
  /** The per-channel normalisation applied to the pixels, if any (a deployed model needs the same). */
  readonly normalization?: { mean: number[]; std: number[] };
  /** The user's files this was read from, and how (recorded so later commands reload them). */
  readonly source?: DataFileSpec;
}

/** Rows begin … end (element offsets) of a set's inputs as float32. */
export function readRows(rows: FloatRows | BytePixels, begin: number, end: number): Float32Array {
  if (!('bytes' in rows)) return rows.subarray(begin, end);
  const out = new Float32Array(end - begin);
  const { bytes, mean, std } = rows;
  if (mean == null || std == null) {
    for (let i = begin; i < end; i++) out[i - begin] = bytes[i] / 255;
  } else {
    const c = mean.length;
    for (let i = begin; i < end; i++) out[i - begin] = (bytes[i] / 255 - mean[i % c]) / std[i % c];
  }
  return out;
}

/** How many values a set's inputs hold. */
export function rowsLength(rows: FloatRows | BytePixels): number {
  return 'bytes' in rows ? rows.bytes.length : rows.length;
}

export function imageSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * n examples of a set as one [n, ...shape] tensor: the first n, or n spread evenly over the set
 * (`spread`; splits may be ordered by class). For calibration batches and figures.
 */
export function imageBatch(set: ExampleSet, shape: readonly number[], n: number, spread = false): tf.Tensor {
  const size = imageSize(shape);
  const k = Math.min(n, set.count);
  const out = new Float32Array(k * size);
  for (let i = 0; i < k; i++) {
    const j = spread ? Math.floor((i * set.count) / k) : i;
    out.set(readRows(set.images, j * size, (j + 1) * size), i * size);
  }
  return tf.tensor(out, [k, ...shape]);
}

/** Copies the listed examples of `set` into a new ImageSet (bytes stay bytes). */
export function subset(set: ImageSet, indices: ArrayLike<number>, pixelsPerImage: number): ImageSet {
  const src = 'bytes' in set.images ? set.images.bytes : set.images;
  const pixels = src instanceof Uint8Array ? new Uint8Array(indices.length * pixelsPerImage) : new Float32Array(indices.length * pixelsPerImage);
  const labels = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    const k = indices[i];
    pixels.set(src.subarray(k * pixelsPerImage, (k + 1) * pixelsPerImage), i * pixelsPerImage);
    labels[i] = set.labels[k];
  }
  const images = pixels instanceof Uint8Array ? { ...(set.images as BytePixels), bytes: pixels } : pixels;
  return { images, labels, count: indices.length, ...(set.augment ? { augment: set.augment } : {}) };
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
  x: tf.Tensor;
  /** One-hot labels, float32. */
  y: tf.Tensor2D;
  labels: Uint8Array;
  /** Regression targets, when the set has them. */
  target?: tf.Tensor;
}

function gather(rows: FloatRows | BytePixels, order: Int32Array, start: number, n: number, size: number): Float32Array {
  const out = new Float32Array(n * size);
  for (let i = 0; i < n; i++) {
    const k = order[start + i];
    out.set(readRows(rows, k * size, (k + 1) * size), i * size);
  }
  return out;
}

/**
 * Augments n images (NHWC, in place): per image, a random crop of H × W out of the image
 * zero-padded by `pad` on every side (padding is 0 in the model's input space, i.e. the mean
 * colour when normalised), then a horizontal flip with probability ½. Image i draws from
 * Rng(hash(seed, position of i in the epoch)), so a run is reproducible and resumes exactly.
 */
export function augmentImages(x: Float32Array, n: number, shape: readonly number[], a: Augmentation, seed: number, firstPosition: number): void {
  const [h, w, c] = shape;
  const size = h * w * c;
  const copy = new Float32Array(size);
  for (let i = 0; i < n; i++) {
    const rng = new Rng(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(firstPosition + i + 1, 0xc2b2ae35));
    const dy = a.pad > 0 ? rng.int(2 * a.pad + 1) - a.pad : 0;
    const dx = a.pad > 0 ? rng.int(2 * a.pad + 1) - a.pad : 0;
    const flip = a.flip && rng.next() < 0.5;
    if (dy === 0 && dx === 0 && !flip) continue;
    const img = x.subarray(i * size, (i + 1) * size);
    copy.set(img);
    for (let y = 0; y < h; y++) {
      const sy = y + dy;
      for (let xx = 0; xx < w; xx++) {
        const sx = (flip ? w - 1 - xx : xx) + dx;
        const o = (y * w + xx) * c;
        if (sy < 0 || sy >= h || sx < 0 || sx >= w) img.fill(0, o, o + c);
        else img.set(copy.subarray((sy * w + sx) * c, (sy * w + sx + 1) * c), o);
      }
    }
  }
}

/**
 * Yields batches over `set` in the order of `order` (a permutation or any index list).
 * Each batch is one small copy; the caller disposes its tensors. With `augment` (the training
 * loop, for a set that asks for it), images are augmented with that seed.
 */
export function* batches(set: ExampleSet, shape: readonly number[], numClasses: number, batchSize: number,
  order: Int32Array, startBatch = 0, augment?: { seed: number }): Generator<Batch> {
  const ppi = imageSize(shape);
  const tsize = set.targetShape ? imageSize(set.targetShape) : 0;
  for (let start = startBatch * batchSize; start < order.length; start += batchSize) {
    const n = Math.min(batchSize, order.length - start);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) labels[i] = set.labels[order[start + i]];
    const pixels = gather(set.images, order, start, n, ppi);
    if (augment != null && set.augment != null) augmentImages(pixels, n, shape, set.augment, augment.seed, start);
    const x = tf.tensor(pixels, [n, ...shape]);
    const y = tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(labels, 'int32'), numClasses), 'float32')) as tf.Tensor2D;
    const target = set.targets && set.targetShape ? tf.tensor(gather(set.targets, order, start, n, tsize), [n, ...set.targetShape]) : undefined;
    yield { x, y, labels, target };
  }
}

/** Disposes a batch's tensors. */
export function disposeBatch(b: Batch): void {
  tf.dispose([b.x, b.y, ...(b.target ? [b.target] : [])]);
}

/** The identity order 0 … n−1 (evaluation). */
export function sequentialOrder(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** A seeded permutation of 0 … n−1 (one training epoch). */
export function shuffledOrder(n: number, rng: Rng): Int32Array {
  return rng.shuffle(sequentialOrder(n));
}

/**
 * A fixed, class-balanced subset of exactly n training images (seed 0: the same for every run).
 * Each class gets its share of n in proportion to its size (largest remainders round up), at
 * least one image. n must be between the number of classes and the training set's size.
 */
export function balancedSubset(data: DatasetSplits, n: number): DatasetSplits {
  const total = data.train.count;
  const byClass = new Map<number, number[]>();
  data.train.labels.forEach((y, i) => {
    const list = byClass.get(y) ?? [];
    list.push(i);
    byClass.set(y, list);
  });
  const classes = [...byClass.keys()].sort((a, b) => a - b);
  if (!Number.isInteger(n) || n < classes.length || n > total) {
    throw new LowbitError(`a class-balanced training subset of ${n} images is impossible: ${data.name} has ${total} training images in ${classes.length} classes; ` +
      `pass --train-subset between ${classes.length} and ${total}`);
  }
  if (n === total) return data;
  // Largest-remainder apportionment with one image per class first, so the shares add up to n.
  const quota = classes.map((c) => 1 + ((n - classes.length) * byClass.get(c)!.length) / total);
  const share = quota.map((q, k) => Math.min(Math.floor(q), byClass.get(classes[k])!.length));
  let left = n - share.reduce((a, b) => a + b, 0);
  const byRemainder = classes.map((_, k) => k).sort((a, b) => (quota[b] - Math.floor(quota[b])) - (quota[a] - Math.floor(quota[a])) || a - b);
  while (left > 0) {
    for (const k of byRemainder) {
      if (left === 0) break;
      if (share[k] < byClass.get(classes[k])!.length) {
        share[k]++;
        left--;
      }
    }
  }
  const rng = new Rng(0);
  const picked: number[] = [];
  classes.forEach((c, k) => picked.push(...rng.shuffle(byClass.get(c)!).slice(0, share[k])));
  const indices = Int32Array.from(picked.sort((a, b) => a - b));
  return { ...data, train: subset(data.train, indices, imageSize(data.shape)),
    description: `${data.description}; training on a class-balanced subset of ${indices.length} images` };
}
