/** IDX files (the MNIST / Fashion-MNIST format), gzipped or not. Node-only. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { LowbitError } from '../errors.js';

const IMAGES_MAGIC = 0x00000803;
const LABELS_MAGIC = 0x00000801;

/** Finds `base` or `base.gz` in dir; null when neither exists. */
export function findIdxFile(dir: string, base: string): string | null {
  for (const name of [base, `${base}.gz`]) {
    const path = `${dir}/${name}`;
    if (existsSync(path)) return path;
  }
  return null;
}

function readBytes(path: string): Uint8Array {
  if (statSync(path).isDirectory()) throw new LowbitError(`${path} is a directory, not an IDX file; remove it or point --data-dir at the directory holding the files`);
  const raw = readFileSync(path);
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      return gunzipSync(raw);
    } catch (e) {
      throw new LowbitError(`${path}: corrupt gzip data (${(e as Error).message}); re-download or reinstall the file`);
    }
  }
  return raw;
}

export interface IdxImages { count: number; rows: number; cols: number; pixels: Uint8Array }

export function readIdxImages(path: string): IdxImages {
  const b = readBytes(path);
  if (b.length < 16) throw new LowbitError(`${path}: truncated IDX file (${b.length} bytes, the header alone is 16)`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const magic = v.getUint32(0);
  if (magic !== IMAGES_MAGIC) {
    throw new LowbitError(`${path}: bad magic number 0x${magic.toString(16).padStart(8, '0')}, expected 0x00000803 (IDX images)`);
  }
  const count = v.getUint32(4);
  const rows = v.getUint32(8);
  const cols = v.getUint32(12);
  const expected = 16 + count * rows * cols;
  if (b.length !== expected) {
    throw new LowbitError(`${path}: size mismatch: header says ${count} images of ${rows}×${cols} (${expected} bytes), file has ${b.length} bytes`);
  }
  return { count, rows, cols, pixels: b.subarray(16) };
}

export function readIdxLabels(path: string): Uint8Array {
  const b = readBytes(path);
  if (b.length < 8) throw new LowbitError(`${path}: truncated IDX file (${b.length} bytes, the header alone is 8)`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const magic = v.getUint32(0);
  if (magic !== LABELS_MAGIC) {
    throw new LowbitError(`${path}: bad magic number 0x${magic.toString(16).padStart(8, '0')}, expected 0x00000801 (IDX labels)`);
  }
  const count = v.getUint32(4);
  if (b.length !== 8 + count) {
    throw new LowbitError(`${path}: size mismatch: header says ${count} labels (${8 + count} bytes), file has ${b.length} bytes`);
  }
  return b.subarray(8);
}
