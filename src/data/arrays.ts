/**
 * Datasets from the user's own arrays, browser-safe: the .npy format (parsed here; it is small
 * and fully specified in numpy's NEP 1), resizing and channel conversion of NHWC pixels, label
 * checks, and the assembly of train / validation / test splits. Pixels from uint8 sources stay
 * uint8 in memory (`BytePixels`, read as byte / 255 per batch); float sources are used as given.
 * The Node-only reading of folders, PNG/JPEG, .npz and CSV files is in './files.js'.
 */
import { LowbitError } from '../errors.js';
import { BytePixels, DatasetSplits, ImageSet, imageSize, stratifiedSplit } from './dataset.js';

/** How a dataset was read from the user's files: recorded in lowbit.json so later commands reload it identically. */
export interface DataFileSpec {
  /** An image folder (one sub-folder per class), a .npz, an x.npy (y.npy beside it), or a .csv. */
  path: string;
  /** Resize every image to [H, W] (image folders, .npy/.npz); for CSV, the images' own size. */
  imageSize?: [number, number];
  /** Convert to 1 (grey, ITU-R BT.601 luma) or 3 (RGB, grey replicated) channels. */
  channels?: 1 | 3;
  /** Resampling for imageSize: bilinear (half-pixel centres, as tf.image.resizeBilinear) or nearest. Default bilinear. */
  resize?: 'bilinear' | 'nearest';
  /** Share of each class held out for validation (and again for test) when the files give no such set. Default 0.1. */
  valFraction?: number;
  /** Seed of that split (not the training seed: every run on the same files sees the same split). Default 0. */
  splitSeed?: number;
  /** Per-channel normalisation (x − mean) / std, with mean and std measured on the training split. */
  normalize?: boolean;
  /** Training-time augmentation: random crop after zero padding of `pad` pixels, and a horizontal flip with probability ½. */
  augment?: { pad: number; flip: boolean };
}

export const DEFAULT_VAL_FRACTION = 0.1;

/** Pixels of N images as decoded: uint8 (0–255) or float32 (taken as given). */
export interface RawImages {
  pixels: Uint8Array | Float32Array;
  count: number;
  /** [H, W, C]. */
  shape: [number, number, number];
}

/** One split as read from the files: images, integer labels, and where they came from (for messages). */
export interface RawSplit extends RawImages {
  labels: ArrayLike<number>;
  where: string;
}

// ---------------------------------------------------------------- .npy

export interface NpyArray {
  shape: number[];
  /** The numpy dtype descriptor, e.g. '|u1', '<f4'. */
  dtype: string;
  /** uint8 and float32 keep their type; every other numeric dtype is widened to float64. */
  data: Uint8Array | Float32Array | Float64Array;
}

const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

/** Parses a .npy file (format versions 1–3, little-endian or byte-sized numeric dtypes, C order). */
export function parseNpy(bytes: Uint8Array, where: string): NpyArray {
  const bad = (why: string) => new LowbitError(`${where}: ${why}`);
  if (bytes.length < 10 || NPY_MAGIC.some((b, i) => bytes[i] !== b)) throw bad('not a .npy file (no \\x93NUMPY magic); save it with numpy.save');
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  if (major < 1 || major > 3) throw bad(`.npy format version ${major} is not supported (1–3 are); save it with a current numpy`);
  if (start + headerLength > bytes.length) throw bad('truncated .npy header; save the array again');
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr == null || fortran == null || shapeText == null) throw bad(`unreadable .npy header ${JSON.stringify(header.trim())}; save it with numpy.save`);
  if (fortran === 'True') throw bad('the array is in Fortran order; save numpy.ascontiguousarray(x) instead');
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((n) => !Number.isSafeInteger(n) || n < 0)) throw bad(`bad shape (${shapeText}) in the .npy header`);
  const size = shape.reduce((a, b) => a * b, 1);
  const m = /^([<>|=])([uif])(\d+)$/.exec(descr);
  if (m == null) throw bad(`dtype ${descr} is not numeric; store x as uint8 or float32 and y as integers`);
  const [, order, kind, widthText] = m;
  const width = Number(widthText);
  if (order === '>' && width > 1) throw bad(`dtype ${descr} is big-endian; save x.astype('<f4') (or '<i8' labels) instead`);
  const body = start + headerLength;
  if (bytes.length - body < size * width) throw bad(`holds ${bytes.length - body} data bytes but shape (${shape.join(', ')}) of ${descr} needs ${size * width}; the file is truncated`);
  // uint8 and aligned float32 bodies are used in place (no second copy of a large x); a misaligned float32 body is copied out.
  const at = bytes.byteOffset + body;
  const dv = new DataView(bytes.buffer, at, size * width);
  let data: Uint8Array | Float32Array | Float64Array;
  if (kind === 'u' && width === 1) data = new Uint8Array(bytes.buffer, at, size);
  else if (kind === 'f' && width === 4) data = at % 4 === 0 ? new Float32Array(bytes.buffer, at, size) : new Float32Array(copyBytes(bytes.subarray(body, body + size * 4)).buffer);
  else {
    const read: ((i: number) => number) | undefined = ({
      i1: (i: number) => dv.getInt8(i), i2: (i: number) => dv.getInt16(i * 2, true), u2: (i: number) => dv.getUint16(i * 2, true),
      i4: (i: number) => dv.getInt32(i * 4, true), u4: (i: number) => dv.getUint32(i * 4, true),
      i8: (i: number) => Number(dv.getBigInt64(i * 8, true)), u8: (i: number) => Number(dv.getBigUint64(i * 8, true)),
      f8: (i: number) => dv.getFloat64(i * 8, true),
    } as Record<string, (i: number) => number>)[`${kind}${width}`];
    if (read == null) throw bad(`dtype ${descr} is not supported; store x as uint8 or float32 and y as integers`);
    data = new Float64Array(size);
    for (let i = 0; i < size; i++) data[i] = read(i);
  }
  return { shape, dtype: descr, data };
}

/** A fresh copy (Buffer.slice would be a view into the same memory). */
function copyBytes(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b.length);
  out.set(b);
  return out;
}

/** Writes a .npy file (version 1.0): for tests and for users generating data in JavaScript. */
export function encodeNpy(data: Uint8Array | Float32Array | Int32Array | BigInt64Array, shape: readonly number[]): Uint8Array {
  const descr = data instanceof Uint8Array ? '|u1' : data instanceof Float32Array ? '<f4' : data instanceof Int32Array ? '<i4' : '<i8';
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat(63 - ((header.length + 10) % 64)) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(NPY_MAGIC);
  out[6] = 1;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/** An x array (N×H×W×C, or N×H×W for grey) as images: uint8 kept, float32 checked for NaN/∞, other dtypes refused. */
export function npyImages(x: NpyArray, where: string): RawImages {
  if (!(x.data instanceof Uint8Array || x.data instanceof Float32Array)) {
    throw new LowbitError(`${where}: x has dtype ${x.dtype}; store images as uint8 (0–255) or float32 (x.astype('float32'))`);
  }
  const s = x.shape;
  if (s.length !== 3 && s.length !== 4) throw new LowbitError(`${where}: x has shape (${s.join(', ')}); images must be N×H×W×C (NHWC) or N×H×W`);
  const c = s.length === 4 ? s[3] : 1;
  if (c !== 1 && c !== 3) throw new LowbitError(`${where}: x has ${c} channels (shape ${s.join('×')}); images must be NHWC with 1 or 3 channels (channels-first data: x.transpose(0, 2, 3, 1))`);
  if (x.data instanceof Float32Array) checkFinite(x.data, [s[1], s[2], c], where);
  return { pixels: x.data, count: s[0], shape: [s[1], s[2], c] };
}

function checkFinite(pixels: Float32Array, shape: readonly number[], where: string): void {
  for (let i = 0; i < pixels.length; i++) {
    if (!Number.isFinite(pixels[i])) {
      throw new LowbitError(`${where}: image ${Math.floor(i / imageSize(shape))} holds ${pixels[i]} (value ${i}); replace NaN and infinite values before loading`);
    }
  }
}

/** A y array as class indices: one whole number 0…255 per example (shape N or N×1). */
export function npyLabels(y: NpyArray, where: string): ArrayLike<number> {
  if (!(y.shape.length === 1 || (y.shape.length === 2 && y.shape[1] === 1))) {
    throw new LowbitError(`${where}: y has shape (${y.shape.join(', ')}); give one class index per example (shape N; one-hot labels: y.argmax(1))`);
  }
  return y.data;
}

// ---------------------------------------------------------------- pixels

/** Resamples N images to [h, w]: bilinear with half-pixel centres (tf.image.resizeBilinear's halfPixelCenters), or nearest; uint8 results are rounded. */
export function resizeImages(src: RawImages, h: number, w: number, method: 'bilinear' | 'nearest' = 'bilinear'): RawImages {
  const [sh, sw, c] = src.shape;
  if (sh === h && sw === w) return src;
  const out = src.pixels instanceof Uint8Array ? new Uint8Array(src.count * h * w * c) : new Float32Array(src.count * h * w * c);
  const round = out instanceof Uint8Array;
  const axis = (n: number, sn: number) => Array.from({ length: n }, (_, i) => {
    const pos = Math.min(Math.max((i + 0.5) * (sn / n) - 0.5, 0), sn - 1);
    const lo = Math.floor(pos);
    return { lo, hi: Math.min(lo + 1, sn - 1), t: pos - lo, nearest: Math.min(Math.floor((i + 0.5) * (sn / n)), sn - 1) };
  });
  const ys = axis(h, sh);
  const xs = axis(w, sw);
  const p = src.pixels;
  for (let n = 0; n < src.count; n++) {
    const base = n * sh * sw * c;
    for (let i = 0; i < h; i++) {
      const yi = ys[i];
      for (let j = 0; j < w; j++) {
        const xj = xs[j];
        const o = ((n * h + i) * w + j) * c;
        for (let k = 0; k < c; k++) {
          let v: number;
          if (method === 'nearest') v = p[base + (yi.nearest * sw + xj.nearest) * c + k];
          else {
            const at = (y: number, x: number) => p[base + (y * sw + x) * c + k];
            const top = at(yi.lo, xj.lo) * (1 - xj.t) + at(yi.lo, xj.hi) * xj.t;
            const bottom = at(yi.hi, xj.lo) * (1 - xj.t) + at(yi.hi, xj.hi) * xj.t;
            v = top * (1 - yi.t) + bottom * yi.t;
          }
          out[o + k] = round ? Math.round(v) : v;
        }
      }
    }
  }
  return { pixels: out, count: src.count, shape: [h, w, c] };
}

/** Grey → RGB (replicated) or RGB → grey (ITU-R BT.601 luma 0.299 R + 0.587 G + 0.114 B; rounded for uint8). */
export function convertChannels(src: RawImages, channels: 1 | 3): RawImages {
  const [h, w, c] = src.shape;
  if (c === channels) return src;
  const n = src.count * h * w;
  const out = src.pixels instanceof Uint8Array ? new Uint8Array(n * channels) : new Float32Array(n * channels);
  const p = src.pixels;
  for (let i = 0; i < n; i++) {
    if (channels === 3) out.fill(p[i], i * 3, i * 3 + 3);
    else {
      const v = 0.299 * p[i * 3] + 0.587 * p[i * 3 + 1] + 0.114 * p[i * 3 + 2];
      out[i] = out instanceof Uint8Array ? Math.round(v) : v;
    }
  }
  return { pixels: out, count: src.count, shape: [h, w, channels] };
}

// ---------------------------------------------------------------- splits

/** Checks labels (whole numbers 0…255) and copies them into bytes. */
export function checkLabels(labels: ArrayLike<number>, count: number, where: string): Uint8Array {
  if (labels.length !== count) {
    throw new LowbitError(`${where}: ${count} images but ${labels.length} labels; x and y must have the same length`);
  }
  const out = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    const y = labels[i];
    if (!Number.isInteger(y) || y < 0 || y > 255) {
      throw new LowbitError(`${where}: label ${y} at index ${i} is not a class index; labels must be whole numbers 0…255 (map class names to 0, 1, 2, …)`);
    }
    out[i] = y;
  }
  return out;
}

/** Per-channel mean and standard deviation of the pixels as the model sees them (bytes / 255, floats as given). */
export function channelStats(pixels: Uint8Array | Float32Array, channels: number): { mean: number[]; std: number[] } {
  const scale = pixels instanceof Uint8Array ? 1 / 255 : 1;
  const sum = new Float64Array(channels);
  const sq = new Float64Array(channels);
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i] * scale;
    sum[i % channels] += v;
    sq[i % channels] += v * v;
  }
  const n = pixels.length / channels;
  const mean = Array.from(sum, (s) => s / n);
  // A constant channel keeps std 1 (no division by zero).
  const std = mean.map((m, k) => Math.sqrt(Math.max(sq[k] / n - m * m, 0)) || 1);
  return { mean, std };
}

function pick(src: RawSplit, labels: Uint8Array, indices: ArrayLike<number> | null): { pixels: Uint8Array | Float32Array; labels: Uint8Array; count: number } {
  if (indices == null) return { pixels: src.pixels, labels, count: src.count };
  const size = imageSize(src.shape);
  const pixels = src.pixels instanceof Uint8Array ? new Uint8Array(indices.length * size) : new Float32Array(indices.length * size);
  const out = new Uint8Array(indices.length);
  for (let i = 0; i < indices.length; i++) {
    pixels.set(src.pixels.subarray(indices[i] * size, (indices[i] + 1) * size), i * size);
    out[i] = labels[indices[i]];
  }
  return { pixels, labels: out, count: indices.length };
}

/**
 * Builds the three splits from what the files gave (train; validation and test when present),
 * after resizing and channel conversion. Missing validation / test sets are held out of the
 * training set per class (`valFraction` each, split seed `splitSeed`); when only a validation
 * set is given, it is also the test set. Uint8 pixels stay uint8.
 */
export function assembleDataset(given: { train: RawSplit; val?: RawSplit; test?: RawSplit }, spec: DataFileSpec, info: { name: string; classNames?: string[]; source: string }): DatasetSplits {
  const fraction = spec.valFraction ?? DEFAULT_VAL_FRACTION;
  if (!(fraction > 0 && fraction < 0.5)) throw new LowbitError(`--val-fraction must be between 0 and 0.5 (exclusive), got ${fraction}`);
  const prepare = (s: RawSplit): RawSplit => {
    let r: RawImages = s;
    if (spec.imageSize) r = resizeImages(r, spec.imageSize[0], spec.imageSize[1], spec.resize ?? 'bilinear');
    if (spec.channels) r = convertChannels(r, spec.channels);
    return { ...s, ...r };
  };
  const train = prepare(given.train);
  const val = given.val && prepare(given.val);
  const test = given.test && prepare(given.test);
  for (const s of [val, test]) {
    if (s && s.shape.join('×') !== train.shape.join('×')) {
      throw new LowbitError(`${s.where} holds ${s.shape.join('×')} images but ${train.where} holds ${train.shape.join('×')}; make them match or pass --image-size HxW and --channels`);
    }
  }
  const trainLabels = checkLabels(train.labels, train.count, train.where);
  const valLabels = val && checkLabels(val.labels, val.count, val.where);
  const testLabels = test && checkLabels(test.labels, test.count, test.where);
  if (train.count === 0) throw new LowbitError(`${train.where} holds no examples; give at least one image per class`);
  // A loop, not Math.max(...labels): spreading a large set's labels overflows the call stack.
  let numClasses = 0;
  for (const l of [trainLabels, valLabels, testLabels]) for (const y of l ?? []) numClasses = Math.max(numClasses, y + 1);
  if (info.classNames && info.classNames.length !== numClasses) throw new LowbitError(`${info.source}: ${info.classNames.length} class names for ${numClasses} classes`);
  let splits: Record<'train' | 'val' | 'test', { pixels: Uint8Array | Float32Array; labels: Uint8Array; count: number }>;
  let how: string;
  const splitSeed = spec.splitSeed ?? 0;
  if (val && test) {
    splits = { train: pick(train, trainLabels, null), val: pick(val, valLabels!, null), test: pick(test, testLabels!, null) };
    how = 'the given validation and test sets';
  } else if (val || test) {
    const { kept, heldOut } = val ? { kept: null, heldOut: null } : stratifiedSplit(trainLabels, fraction, splitSeed);
    const heldOutVal = heldOut && pick(train, trainLabels, heldOut);
    splits = {
      train: pick(train, trainLabels, kept),
      val: val ? pick(val, valLabels!, null) : heldOutVal!,
      test: test ? pick(test, testLabels!, null) : pick(val!, valLabels!, null),
    };
    how = val ? 'the given validation set (also the test set: none given)' : `validation held out of the training set (${fraction} per class, split seed ${splitSeed}), the given test set`;
  } else {
    // Neither given: validation and test are each `fraction` of every class.
    const first = stratifiedSplit(trainLabels, fraction, splitSeed);
    const rest = pick(train, trainLabels, first.kept);
    const second = stratifiedSplit(rest.labels, fraction / (1 - fraction), splitSeed + 1);
    const restSplit: RawSplit = { ...train, pixels: rest.pixels, count: rest.count, labels: rest.labels };
    splits = { train: pick(restSplit, rest.labels, second.kept), val: pick(restSplit, rest.labels, second.heldOut), test: pick(train, trainLabels, first.heldOut) };
    how = `validation and test held out of the training set (${fraction} of each class each, split seed ${splitSeed})`;
  }
  for (const s of ['val', 'test'] as const) {
    if (splits[s].count === 0) {
      throw new LowbitError(`${info.source}: too few images to hold out a ${s === 'val' ? 'validation' : 'test'} set (${train.count} in ${numClasses} classes at --val-fraction ${fraction}); add images, raise --val-fraction, or give x_val/x_test (a val/ or test/ folder)`);
    }
  }
  const shape = train.shape;
  const c = shape[2];
  const normalization = spec.normalize ? channelStats(splits.train.pixels, c) : undefined;
  const set = (s: { pixels: Uint8Array | Float32Array; labels: Uint8Array; count: number }, augment = false): ImageSet => ({
    images: toPixels(s.pixels, normalization), labels: s.labels, count: s.count,
    ...(augment && spec.augment ? { augment: spec.augment } : {}),
  });
  return {
    name: info.name, shape: [...shape], numClasses, train: set(splits.train, true), val: set(splits.val), test: set(splits.test),
    description: `${info.source}: ${shape.join('×')} images in ${numClasses} classes, ${splits.train.count} train / ${splits.val.count} validation / ${splits.test.count} test (${how})` +
      `${normalization ? '; normalised per channel' : ''}${spec.augment ? `; training augmentation: crop after ${spec.augment.pad}-pixel padding${spec.augment.flip ? ', horizontal flip' : ''}` : ''}`,
    ...(info.classNames ? { classNames: info.classNames } : {}),
    ...(normalization ? { normalization } : {}),
    source: spec,
  };
}

/** uint8 stays bytes (with the normalisation applied per batch); floats are normalised once, here. */
function toPixels(pixels: Uint8Array | Float32Array, norm?: { mean: number[]; std: number[] }): Float32Array | BytePixels {
  if (pixels instanceof Uint8Array) return { bytes: pixels, ...(norm ? { mean: norm.mean, std: norm.std } : {}) };
  if (norm == null) return pixels;
  const c = norm.mean.length;
  const out = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) out[i] = (pixels[i] - norm.mean[i % c]) / norm.std[i % c];
  return out;
}
