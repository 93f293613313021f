/**
 * The teacher-feature cache of DCQ (docs/methods/dcq.md §2.2, pitfall 1): the float teacher's outputs at every
 * cut and its logits, computed once in inference mode (BatchNorm on moving statistics) for the
 * train, validation and test splits. Kept in SharedArrayBuffers (shared with worker threads, no
 * copy) while the total fits the memory budget, else spilled to files read row by row. Node-only.
 */
import { closeSync, mkdirSync, openSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../../backend/tf.js';
import { batches, DatasetSplits, FloatRows, imageSize, sequentialOrder } from '../../data/dataset.js';
import { featureModel } from './sections.js';

export type CachedRows =
  | { kind: 'memory'; buffer: SharedArrayBuffer }
  | { kind: 'file'; path: string; bytes: number };

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export interface FeatureCache {
  /** Per-example shape at each cut, then of the logits. */
  shapes: number[][];
  /** rows[split][k]: features at cut k (k = cuts.length: the logits). */
  rows: Record<Split, CachedRows[]>;
  bytes: number;
  seconds: number;
}

/** FloatRows over a cache file: each subarray call reads those rows from disk. */
class FileRows implements FloatRows {
  private fd: number | null = null;

  constructor(private readonly path: string, readonly length: number) {}

  subarray(begin: number, end: number): Float32Array {
    this.fd ??= openSync(this.path, 'r');
    const out = new Float32Array(end - begin);
    readSync(this.fd, new Uint8Array(out.buffer), 0, out.byteLength, begin * 4);
    return out;
  }
}

export function rowsOf(c: CachedRows): FloatRows {
  return c.kind === 'memory' ? new Float32Array(c.buffer) : new FileRows(c.path, c.bytes / 4);
}

export async function buildFeatureCache(teacher: tf.LayersModel, cuts: string[], data: DatasetSplits,
  options: { budgetBytes: number; dir: string | null; batchSize?: number }): Promise<FeatureCache> {
  const started = performance.now();
  const fm = featureModel(teacher, cuts);
  const shapes = (fm.outputs as tf.SymbolicTensor[]).map((o) => o.shape.slice(1) as number[]);
  const sizes = shapes.map(imageSize);
  const bytes = SPLITS.reduce((n, s) => n + data[s].count * sizes.reduce((a, b) => a + b, 0) * 4, 0);
  // Without a directory (an in-memory run) there is nowhere to spill: the features stay in memory.
  const inMemory = bytes <= options.budgetBytes || options.dir == null;
  if (!inMemory) mkdirSync(options.dir!, { recursive: true });
  const rows = {} as Record<Split, CachedRows[]>;
  for (const split of SPLITS) {
    const set = data[split];
    const sinks = sizes.map((size, k) => {
      const n = set.count * size * 4;
      if (inMemory) {
        const buffer = new SharedArrayBuffer(n);
        return { cached: { kind: 'memory', buffer } as CachedRows, view: new Float32Array(buffer), fd: -1 };
      }
      const path = join(options.dir!, `cut${k}-${split}.f32`);
      return { cached: { kind: 'file', path, bytes: n } as CachedRows, view: null, fd: openSync(path, 'w') };
    });
    let offset = 0;
    for (const b of batches(set, data.shape, data.numClasses, options.batchSize ?? 256, sequentialOrder(set.count))) {
      const outs = fm.predict(b.x) as tf.Tensor[];
      outs.forEach((t, k) => {
        const values = t.dataSync() as Float32Array;
        const sink = sinks[k];
        if (sink.view) sink.view.set(values, offset * sizes[k]);
        else writeSync(sink.fd, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
      });
      offset += b.labels.length;
      tf.dispose([...outs, b.x, b.y]);
    }
    for (const s of sinks) if (s.fd >= 0) closeSync(s.fd);
    rows[split] = sinks.map((s) => s.cached);
  }
  return { shapes, rows, bytes, seconds: (performance.now() - started) / 1000 };
}
