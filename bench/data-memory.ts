/**
 * Memory of a large user dataset (docs/data.md): writes a 50,000 × 32 × 32 × 3 uint8 `x.npy` and
 * its `y.npy` (10 classes) into a temporary folder, then measures this process's RSS growth while
 * `loadDataFiles` reads it (uint8 pixels stay uint8 in memory; floats are made per batch), and
 * while one epoch's worth of batches is read from it.
 *
 *   node --expose-gc dist/bench/data-memory.js [--count 50000]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg } from './runner.js';

const { loadDataFiles, setBackend } = await import('../src/node.js');
const { batches, disposeBatch, shuffledOrder } = await import('../src/data/dataset.js');
const { Rng } = await import('../src/random.js');
const { buildProvenance } = await import('../src/io/run-info.js');
const count = Number(arg('count', '50000'));
const [h, w, c] = [32, 32, 3];

/** A .npy v1.0 file: magic, header padded to a multiple of 64 bytes, then the C-order body. */
function npy(descr: string, shape: number[], body: Uint8Array): Buffer {
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1; head[7] = 0; head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), body]);
}

const dir = mkdtempSync(join(tmpdir(), 'lowbit-data-memory-'));
const mb = (b: number) => b / 2 ** 20;
const gc = (globalThis as { gc?: () => void }).gc;
try {
  {
    const x = new Uint8Array(count * h * w * c);
    let s = 12345;
    for (let i = 0; i < x.length; i++) { s = (s * 1103515245 + 12345) >>> 0; x[i] = s >>> 24; }
    const y = new Uint8Array(count);
    for (let i = 0; i < count; i++) y[i] = i % 10;
    writeFileSync(join(dir, 'x.npy'), npy('|u1', [count, h, w, c], x));
    writeFileSync(join(dir, 'y.npy'), npy('|u1', [count], y));
  }
  gc?.();
  const before = process.memoryUsage().rss;
  const started = performance.now();
  const data = loadDataFiles({ path: join(dir, 'x.npy') });
  const loadMs = performance.now() - started;
  gc?.();
  const afterLoad = process.memoryUsage().rss;
  let peak = afterLoad;
  let seen = 0;
  await setBackend('wasm');
  for (const b of batches(data.train, data.shape, data.numClasses, 128, shuffledOrder(data.train.count, new Rng(0)))) {
    seen += b.labels.length;
    disposeBatch(b);
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  const result = {
    command: `node --expose-gc dist/bench/data-memory.js --count ${count}`,
    provenance: buildProvenance(),
    shape: [count, h, w, c], fileMB: mb(count * h * w * c), gcExposed: gc != null,
    imagesBatched: seen, split: { train: data.train.count, val: data.val.count, test: data.test.count },
    rssGrowthAfterLoadMB: mb(afterLoad - before), rssGrowthPeakDuringEpochMB: mb(peak - before), loadSeconds: loadMs / 1000,
    note: 'RSS of this process (process.memoryUsage().rss) after a forced GC, minus the RSS before loadDataFiles; the peak is sampled after every batch of one pass over the training split',
  };
  process.stderr.write(`${JSON.stringify(result, null, 2)}\n`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/data-memory.json', `${JSON.stringify(result, null, 2)}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
