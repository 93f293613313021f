/**
 * DQ code files: the integer codes of every level for a set of images, and decoding them back
 * to the quantized features and to images. decode(encode(x)) reproduces the quantized features
 * exactly (the same codewords). Format: "LBDQ", a little-endian u32 header length, a JSON header
 * ({format, version, count, levels: [{name, grid, groups, codes}]}), then each level's indices as
 * little-endian uint16 in [image, y, x, group] order.
 */
import * as tf from '../../backend/tf.js';
import { LowbitError } from '../../errors.js';
import { DqModelOptions, decoderModel, encoderModel, quantizersOf } from './model.js';
import { mixtureMean } from './mixture.js';

export interface CodeLevel { name: string; grid: [number, number]; groups: number; codes: number }
export interface DqCodes { count: number; levels: CodeLevel[]; indices: Int32Array[] }

const MAGIC = 'LBDQ';

/** The codes of every level (bottom first) for images [N, 28, 28, 1]. */
export function encodeImages(model: tf.LayersModel, images: tf.Tensor4D): DqCodes {
  const qs = quantizersOf(model);
  const zs = [encoderModel(model).predict(images)].flat() as tf.Tensor[];
  const out: DqCodes = {
    count: images.shape[0],
    levels: qs.map((q, l) => ({ name: q.name, grid: [zs[l].shape[1]!, zs[l].shape[2]!] as [number, number], groups: q.groups, codes: q.codes })),
    indices: qs.map((q, l) => q.assign(zs[l])),
  };
  tf.dispose(zs);
  return out;
}

/** The quantized features of each level (bottom first) for the given codes. */
export function quantizedFeatures(model: tf.LayersModel, codes: DqCodes): tf.Tensor[] {
  const qs = quantizersOf(model);
  if (qs.length !== codes.levels.length) throw new LowbitError(`the codes have ${codes.levels.length} levels but the model has ${qs.length}`);
  return qs.map((q, l) => {
    const lv = codes.levels[l];
    if (lv.groups !== q.groups || lv.codes !== q.codes) throw new LowbitError(`level ${lv.name}: codes are for M = ${lv.groups}, K = ${lv.codes} but the model has M = ${q.groups}, K = ${q.codes}`);
    return q.lookup(codes.indices[l], [codes.count, ...lv.grid, q.groups * q.dim]);
  });
}

/** Decoded images [N, 28, 28, 1] in [0, 1] (the mixture mean). */
export function decodeCodes(model: tf.LayersModel, options: DqModelOptions, codes: DqCodes): tf.Tensor4D {
  const feats = quantizedFeatures(model, codes);
  const decoder = decoderModel(model, options);
  const out = tf.tidy(() => {
    const params = decoder.predict(feats) as tf.Tensor4D;
    const off = (params.shape[1] - 28) / 2;
    return mixtureMean(tf.slice(params, [0, off, off, 0], [-1, 28, 28, -1]));
  });
  tf.dispose(feats);
  return out;
}

export function serializeCodes(c: DqCodes): Uint8Array {
  const header = new TextEncoder().encode(JSON.stringify({ format: 'lowbit-dq-codes', version: 1, count: c.count, levels: c.levels }));
  const body = c.indices.map((idx) => new Uint8Array(Uint16Array.from(idx).buffer));
  const total = 8 + header.byteLength + body.reduce((a, b) => a + b.byteLength, 0);
  const out = new Uint8Array(total);
  out.set(new TextEncoder().encode(MAGIC), 0);
  new DataView(out.buffer).setUint32(4, header.byteLength, true);
  out.set(header, 8);
  let at = 8 + header.byteLength;
  for (const b of body) { out.set(b, at); at += b.byteLength; }
  return out;
}

export function parseCodes(bytes: Uint8Array, where: string): DqCodes {
  const bad = (why: string) => new LowbitError(`${where}: not a lowbit DQ code file (${why}); write one with 'lowbit dq encode'`);
  if (bytes.byteLength < 8 || new TextDecoder().decode(bytes.subarray(0, 4)) !== MAGIC) throw bad('bad magic');
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  let header: { format?: string; count: number; levels: CodeLevel[] };
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  } catch {
    throw bad('corrupt header');
  }
  if (header.format !== 'lowbit-dq-codes') throw bad(`format ${JSON.stringify(header.format)}`);
  let at = 8 + len;
  const indices = header.levels.map((lv) => {
    const n = header.count * lv.grid[0] * lv.grid[1] * lv.groups;
    if (at + 2 * n > bytes.byteLength) throw bad(`level ${lv.name} is truncated`);
    const copy = new Uint8Array(2 * n);
    copy.set(bytes.subarray(at, at + 2 * n));
    at += 2 * n;
    const idx = Int32Array.from(new Uint16Array(copy.buffer));
    if (idx.some((v) => v >= lv.codes)) throw bad(`level ${lv.name} has a code ≥ K = ${lv.codes}`);
    return idx;
  });
  return { count: header.count, levels: header.levels, indices };
}
