/**
 * A checkpoint as one file, `checkpoint.lbck`: the bytes "LBCK", a little-endian u32 header
 * length, a JSON header (everything but tensor data, plus each tensor's byte range) and the raw
 * tensor bytes. Written atomically, so a kill -9 leaves either the old or the new file. Node-only.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { LowbitError } from '../errors.js';
import type { Checkpoint, CheckpointStore, StoredTensor } from '../train/checkpoint.js';
import { checkFingerprint, Fingerprint } from '../train/fingerprint.js';
import { writeFileAtomic } from './atomic.js';

export const CHECKPOINT_FILE = 'checkpoint.lbck';
/** A run's per-epoch log, one JSON EpochRecord per line (rewritten from the checkpoint's history). */
export { LOG_FILE } from '../run/store.js';
const MAGIC = 'LBCK';

interface TensorEntry { name: string; shape: number[]; dtype: 'float32' | 'int32'; offset: number; length: number }

export function encodeCheckpoint(ckpt: Checkpoint): Uint8Array[] {
  const blobs: Uint8Array[] = [];
  let offset = 0;
  const entries = (list: StoredTensor[]): TensorEntry[] => list.map((t) => {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    blobs.push(bytes);
    const e = { name: t.name, shape: t.shape, dtype: t.dtype, offset, length: bytes.byteLength };
    offset += bytes.byteLength;
    return e;
  });
  const header = {
    version: 1, epoch: ckpt.epoch, step: ckpt.step, rngState: ckpt.rngState, noiseState: ckpt.noiseState, history: ckpt.history,
    modelWeights: entries(ckpt.modelWeights), optimizerWeights: entries(ckpt.optimizerWeights), notes: ckpt.notes,
    optimizerScalars: ckpt.optimizerScalars, fingerprint: ckpt.fingerprint,
  };
  const json = Buffer.from(JSON.stringify(header));
  const head = new Uint8Array(8);
  head.set(Buffer.from(MAGIC), 0);
  new DataView(head.buffer).setUint32(4, json.byteLength, true);
  return [head, json, ...blobs];
}

export function decodeCheckpoint(bytes: Uint8Array, path: string): Checkpoint {
  const bad = (why: string) => new LowbitError(`${path}: not a usable lowbit checkpoint (${why}); delete it to start over`);
  if (bytes.length < 8 || Buffer.from(bytes.subarray(0, 4)).toString() !== MAGIC) throw bad('bad magic');
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true);
  if (8 + headerLength > bytes.length) throw bad('truncated header');
  let header: { epoch: number; step: number; rngState: number; noiseState?: number; history: Checkpoint['history'];
    modelWeights: TensorEntry[]; optimizerWeights: TensorEntry[]; notes?: unknown;
    optimizerScalars?: Record<string, number>; fingerprint?: Fingerprint };
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, 8 + headerLength)).toString());
  } catch {
    throw bad('corrupt header');
  }
  if (header == null || typeof header !== 'object' || !Array.isArray(header.modelWeights) || !Array.isArray(header.optimizerWeights) || !Array.isArray(header.history)) {
    throw bad('corrupt header');
  }
  const base = 8 + headerLength;
  const tensors = (list: TensorEntry[]): StoredTensor[] => list.map((e) => {
    if (base + e.offset + e.length > bytes.length) throw bad(`tensor ${e.name} is truncated`);
    const copy = new Uint8Array(e.length); // a copy: Buffer views share a pooled ArrayBuffer
    copy.set(bytes.subarray(base + e.offset, base + e.offset + e.length));
    const data = e.dtype === 'int32' ? new Int32Array(copy.buffer) : new Float32Array(copy.buffer);
    return { name: e.name, shape: e.shape, dtype: e.dtype, data };
  });
  return {
    epoch: header.epoch, step: header.step, rngState: header.rngState, ...(header.noiseState != null ? { noiseState: header.noiseState } : {}), history: header.history,
    modelWeights: tensors(header.modelWeights), optimizerWeights: tensors(header.optimizerWeights),
    ...(header.notes !== undefined ? { notes: header.notes } : {}),
    ...(header.optimizerScalars != null ? { optimizerScalars: header.optimizerScalars } : {}),
    ...(header.fingerprint != null ? { fingerprint: header.fingerprint } : {}),
  };
}

export interface FileCheckpointStoreOptions {
  /** Rewrite this log file (in the same directory) from the history of a loaded checkpoint. */
  log?: string;
}

export class FileCheckpointStore implements CheckpointStore {
  readonly path: string;
  private fingerprint: Fingerprint | null = null;

  constructor(dir: string, private readonly options: FileCheckpointStoreOptions = {}) {
    this.path = join(dir, CHECKPOINT_FILE);
  }

  exists(): boolean {
    return existsSync(this.path);
  }

  /**
   * Binds this store to a run's settings: checkpoints it saves carry them, and an existing
   * checkpoint written with other settings is refused (now, and on load) with a LowbitError
   * naming the fields that differ.
   */
  expectFingerprint(fingerprint: Fingerprint): void {
    this.fingerprint = fingerprint;
    if (existsSync(this.path)) checkFingerprint(decodeCheckpoint(readFileSync(this.path), this.path).fingerprint, fingerprint, this.path);
  }

  async load(): Promise<Checkpoint | null> {
    if (!existsSync(this.path)) return null;
    const ckpt = decodeCheckpoint(readFileSync(this.path), this.path);
    if (this.fingerprint) checkFingerprint(ckpt.fingerprint, this.fingerprint, this.path);
    // A kill between the checkpoint and the log leaves the log a line short: rewrite it.
    if (this.options.log) writeLog(join(dirname(this.path), this.options.log), ckpt.history);
    return ckpt;
  }

  async save(checkpoint: Checkpoint): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true }); // inside a run directory that exists
    writeFileAtomic(this.path, encodeCheckpoint(this.fingerprint ? { ...checkpoint, fingerprint: this.fingerprint } : checkpoint));
  }
}

/** Writes a log of epoch records, one JSON object per line (atomically). */
export function writeLog(path: string, history: readonly unknown[]): void {
  writeFileAtomic(path, history.map((r) => JSON.stringify(r)).join('\n') + (history.length > 0 ? '\n' : ''));
}
