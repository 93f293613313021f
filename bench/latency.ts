/**
 * Inference latency and file sizes per export format, same net: onnxruntime-node fp32 vs QDQ
 * int8 vs the TF.js model (wasm and native), batch 1 and 64. Writes bench/results/latency-<name>.json.
 *
 *   node dist/bench/latency.js --model DIR [--name NAME] [--runs 50]
 */
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { tf, setBackend, backendAvailable, loadModelDir } from '../src/node.js';
import { onnxRunner, Runner, tfRunner } from '../src/export/verify.js';
import { writeOnnx, writePacked } from '../src/export/files.js';
import { arg } from './runner.js';

const dir = arg('model', '');
if (!dir) throw new Error('pass --model DIR (a lowbit model directory)');
const name = arg('name', dir.split('/').filter(Boolean).pop()!);
const runs = Number(arg('runs', '50'));
const outDir = join(dir, 'export');
const model = await loadModelDir(dir);
const files = { onnx: writeOnnx(model, 'float', outDir), qdq: writeOnnx(model, 'qdq', outDir), qonnx: writeOnnx(model, 'qonnx', outDir), packed: writePacked(model, outDir) };
const tfjsBytes = ['model.json', 'weights.bin'].reduce((n, f) => n + statSync(join(dir, f)).size, 0);

async function time(run: Runner, batch: number): Promise<number> {
  const x = new Float32Array(batch * 784).map((_, i) => (i % 97) / 97);
  const shape = [batch, 28, 28, 1];
  for (let i = 0; i < 5; i++) await run(x, shape);
  const t0 = performance.now();
  for (let i = 0; i < runs; i++) await run(x, shape);
  return (performance.now() - t0) / runs;
}

const rows: Array<{ runtime: string; batch: number; msPerBatch: number; imagesPerSecond: number }> = [];
const runners: Array<[string, () => Promise<Runner>]> = [
  ['onnxruntime-node fp32', () => onnxRunner(files.onnx.path)],
  ['onnxruntime-node QDQ int8', () => onnxRunner(files.qdq.path)],
  ['TF.js wasm', async () => { await setBackend('wasm'); return tfRunner(model); }],
  ...(backendAvailable('native') ? [['TF.js native', async () => { await setBackend('native'); return tfRunner(model); }] as [string, () => Promise<Runner>]] : []),
];
for (const [runtime, make] of runners) {
  const run = await make();
  for (const batch of [1, 64]) {
    const ms = await time(run, batch);
    rows.push({ runtime, batch, msPerBatch: ms, imagesPerSecond: (batch * 1000) / ms });
    process.stderr.write(`${runtime.padEnd(26)} batch ${String(batch).padEnd(3)} ${ms.toFixed(3).padStart(8)} ms  ${((batch * 1000) / ms).toFixed(0).padStart(7)} img/s\n`);
  }
}
let commit = 'unknown';
try { commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD']).toString().trim(); } catch { /* not a checkout */ }
const sizes = {
  'TF.js model.json + weights.bin (float32 latent weights)': tfjsBytes,
  'ONNX fp32': files.onnx.bytes, 'ONNX QDQ': files.qdq.bytes, 'QONNX': files.qonnx.bytes,
  'packed (bin + manifest)': files.packed.bytes, 'packed weights only': files.packed.weightBytes,
};
writeFileSync(`bench/results/latency-${name}.json`, `${JSON.stringify({ command: `node dist/bench/latency.js ${process.argv.slice(2).join(' ')}`, commit, model: dir, runs, rows, fileBytes: sizes, files: readdirSync(outDir) }, null, 2)}\n`);
for (const [k, v] of Object.entries(sizes)) process.stderr.write(`${k.padEnd(58)} ${v} bytes\n`);
tf.disposeVariables();
