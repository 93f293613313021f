/**
 * Inference speed of lowbit's bitwise runtime (src/runtime) against onnxruntime and TF.js on the
 * same model: latency at batch 1 (median of --runs runs) and throughput at batch 64 (median of
 * --batch-runs runs), for the runtime with each kernel backend (js, native, wasm when built),
 * onnxruntime-node fp32 and QDQ (graph optimizations 'all': QDQ runs as integer kernels), fp32 on
 * one thread,
 * onnxruntime-web's wasm backend fp32 (when it loads in Node), and TF.js (unpackModel) on wasm and
 * native. With --layers, also each binary convolution alone (the kernel, batch 1 and 64) against
 * onnxruntime-node fp32 Conv of the same shape. Writes bench/results/infer-<name>.json.
 *
 *   node dist/bench/infer.js --model DIR [--name NAME] [--runs 200] [--batch-runs 20] [--layers]
 *   node dist/bench/infer.js --build lenet5 --quantize binary|w1a2|w2a2|float [--name NAME] …
 *   node dist/bench/infer.js --build vgg-small --quantize binary --profile [--kernels native,wasm]
 *
 * --kernels picks the runtime's kernel backends (default native,wasm,js). --profile times each
 * step of the runtime's plan instead (median per step, batch 1 and 64, native kernels unless
 * --kernels says otherwise) next to onnxruntime-node fp32 (the whole model, and each convolution /
 * dense step's layer alone as an fp32 Conv of its geometry), and writes bench/results/profile-<name>.json.
 * --out FILE writes the result there instead (either mode).
 *
 * --build makes a model with random weights (speed does not depend on the weights; agreement is
 * checked on them anyway); --model takes a trained lowbit model directory.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import * as ort from 'onnxruntime-node';
import { tf, setBackend, backendAvailable, loadModelDir, buildModel, quantizeModel, dorefaModel } from '../src/node.js';
import { onnxRunner, Runner, tfRunner } from '../src/export/verify.js';
import { writeOnnx, writePacked } from '../src/export/files.js';
import { packModel, unpackModel } from '../src/export/packed.js';
import { encodeModel, OnnxGraph } from '../src/export/onnx-builder.js';
import { createRuntime, ConvGeometry, nativeKernelsAvailable, RuntimeKernels, runtimeKernels, wordsFor } from '../src/runtime/node.js';
import { arg } from './runner.js';
import { alqConfig } from '../src/methods/alq/method.js';

const dirArg = arg('model', '');
const build = arg('build', '');
const quantize = arg('quantize', 'binary');
if (!dirArg && !build) throw new Error('pass --model DIR (a lowbit model directory) or --build MODEL --quantize binary|w1a2|w2a2|float');
const name = arg('name', dirArg ? dirArg.split('/').filter(Boolean).pop()! : `${build}-${quantize}-random`);
const runs = Number(arg('runs', '200'));
const batchRuns = Number(arg('batch-runs', '20'));
const layersMode = process.argv.includes('--layers');

await setBackend(backendAvailable('native') ? 'native' : 'wasm');
async function makeModel(): Promise<tf.LayersModel> {
  if (dirArg) return loadModelDir(dirArg);
  const m = buildModel(build, { seed: 1 });
  const alq = await alqPreset(m, quantize);
  if (alq) return alq;
  switch (quantize) {
    case 'binary': return quantizeModel(m, { kernelQuantizer: 'binary', inputQuantizer: 'binary' });
    case 'w1a2': return dorefaModel(m, { wbits: 1, abits: 2 });
    case 'w2a2': return dorefaModel(m, { wbits: 2, abits: 2 });
    case 'float': return m;
    default: throw new Error(`--quantize ${quantize}: use binary, w1a2, w2a2 or float`);
  }
}

/**
 * --quantize alq<B>a<A> (e.g. alq2a2): ALQ's layers (alqConfig, first and last layer float) with
 * exactly B bases in every channel (the --alq-uniform form; random weights, no pruning) and DoReFa
 * A-bit inputs; null for the other presets. LOWBIT_MULTIBIT=0 runs its multi-bit layers on the
 * runtime's float path instead of the integer rows (src/runtime/multibit.ts).
 */
async function alqPreset(m: tf.LayersModel, preset: string): Promise<tf.LayersModel | null> {
  const match = /^alq(\d)a(\d+)$/.exec(preset);
  if (!match) return null;
  const bases = Number(match[1]);
  return quantizeModel(m, alqConfig({ alqBits: bases, wbits: bases, alqUniform: true, alqRefine: 2, abits: Number(match[2]) }));
}
const source = await makeModel();
const packed = packModel(source);
// The TF.js reference is the packed model unpacked (what the runtime must equal).
const model = await unpackModel(JSON.parse(JSON.stringify(packed.manifest)), packed.data);
const outDir = mkdtempSync(join(tmpdir(), 'lowbit-infer-'));
const files = { onnx: writeOnnx(model, 'float', outDir), qdq: writeOnnx(model, 'qdq', outDir), packed: writePacked(model, outDir) };
const [h, w, c] = (model.inputs[0].shape as number[]).slice(1);
const per = h * w * c;

const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
async function time(run: Runner, batch: number, count: number): Promise<number> {
  const x = new Float32Array(batch * per).map((_, i) => (i % 97) / 97);
  const shape = [batch, h, w, c];
  for (let i = 0; i < Math.min(10, count); i++) await run(x, shape);
  const t: number[] = [];
  for (let i = 0; i < count; i++) { const t0 = performance.now(); await run(x, shape); t.push(performance.now() - t0); }
  return median(t);
}

const profileMode = process.argv.includes('--profile');
const kernelNames = arg('kernels', profileMode ? 'native' : 'native,wasm,js').split(',');
const kernelSets: RuntimeKernels[] = [];
for (const k of ['native', 'wasm', 'js'] as const) {
  if (!kernelNames.includes(k)) continue;
  if (k === 'native' && !nativeKernelsAvailable()) continue;
  try { kernelSets.push(await runtimeKernels(k)); } catch (e) { process.stderr.write(`runtime ${k} kernels unavailable: ${(e as Error).message}\n`); }
}

let commit = 'unknown';
try {
  commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD']).toString().trim();
  if (execFileSync('git', ['status', '--porcelain', '--untracked-files=no']).toString().trim()) commit += '-dirty';
} catch { /* not a checkout */ }

if (profileMode) {
  // Per-step time of the runtime (median over the runs of each step's own time) next to the
  // whole run and onnxruntime-node fp32, at batch 1 (--runs) and 64 (--batch-runs).
  const out: Array<Record<string, unknown>> = [];
  const ortRun = await onnxRunner(files.onnx.path, 'all');
  const loadavg = (await import('node:os')).loadavg().map((v) => v.toFixed(2)).join(' ');
  for (const k of kernelSets) {
    const rt = createRuntime(packed, { kernels: k });
    for (const batch of [1, 64]) {
      const count = batch === 1 ? runs : batchRuns;
      const x = new Float32Array(batch * per).map((_, i) => (i % 97) / 97);
      const totalMs = await time(async (v, shape) => rt.run(v, shape[0]), batch, count);
      const ortMs = await time(ortRun, batch, count);
      const steps = rt.profile(x, count);
      const sum = steps.reduce((a, s) => a + s.medianMs, 0);
      const info = rt.steps;
      process.stderr.write(`\n${k.name} kernels, batch ${batch}: run ${totalMs.toFixed(3)} ms (median of ${count}), Σ step medians ${sum.toFixed(3)} ms, onnxruntime-node fp32 ${ortMs.toFixed(3)} ms → ${(ortMs / totalMs).toFixed(2)}×\n`);
      const rows = [];
      for (const st of steps) {
        // A fused pass (e.g. conv1+bn1+relu1+pool1, src/runtime/plan.ts PoolFusion) is labelled by its first step's layers and the next ones'.
        const s = info.find((i) => i.layers.join('+') === st.step) ?? info.find((i) => st.step.startsWith(`${i.layers.join('+')}+`));
        // The same layer alone on onnxruntime-node fp32: a Conv of its geometry (a dense layer as a
        // 1×1 Conv on a 1×1 image), the median of `count` runs, without its BatchNorm / ReLU.
        let ortLayerMs: number | null = null;
        if (s?.geometry && s.op !== 'depthwise') {
          const conv = await ortConv(s.geometry, batch);
          const t: number[] = [];
          for (let i = 0; i < count + 5; i++) { const t0 = performance.now(); await conv(); if (i >= 5) t.push(performance.now() - t0); }
          ortLayerMs = median(t);
        }
        rows.push({ step: st.step, op: s?.op ?? '', kernel: s?.kernel ?? '', output: s?.output ?? '', medianMs: st.medianMs, meanMs: st.ms, ortFp32LayerMs: ortLayerMs });
      }
      for (const r of rows) process.stderr.write(`  ${r.step.slice(0, 44).padEnd(45)} ${`${r.op}${r.kernel ? `/${r.kernel}` : ''}→${r.output}`.padEnd(22)} ${r.medianMs.toFixed(4).padStart(9)} ms ${((100 * r.medianMs) / sum).toFixed(1).padStart(5)} %${r.ortFp32LayerMs == null ? '' : `   onnxruntime fp32 Conv alone ${r.ortFp32LayerMs.toFixed(4)} ms`}\n`);
      out.push({ kernels: k.name, batch, runs: count, runMs: totalMs, ortFp32Ms: ortMs, speedup: ortMs / totalMs, steps: rows });
    }
  }
  const file = arg('out', `bench/results/profile-${name}.json`);
  writeFileSync(file, `${JSON.stringify({ command: `node dist/bench/infer.js ${process.argv.slice(2).join(' ')}`, commit, model: dirArg || `${build} (${quantize}, random weights)`, loadavgAtEnd: loadavg, ompNumThreads: process.env.OMP_NUM_THREADS ?? null, profiles: out }, null, 2)}\n`);
  process.stderr.write(`wrote ${file} (load average ${loadavg})\n`);
  tf.disposeVariables();
  process.exit(0);
}

/**
 * onnxruntime-node fp32 on one thread (intra- and inter-op), as the runtime's native kernels run
 * on lenet5-sized calls: the default session's two intra-op threads wait on each other when
 * other processes hold a core, so its batch-64 time swings with the machine's load.
 */
async function ortOneThreadRunner(path: string): Promise<Runner> {
  const { readFileSync } = await import('node:fs');
  const s = await ort.InferenceSession.create(readFileSync(path), { executionProviders: ['cpu'], graphOptimizationLevel: 'all', intraOpNumThreads: 1, interOpNumThreads: 1, logSeverityLevel: 3 });
  return async (x, shape) => (await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, shape) }))[s.outputNames[0]].data as Float32Array;
}

async function ortWebRunner(path: string): Promise<Runner> {
  const web = await import('onnxruntime-web') as unknown as typeof ort;
  const { readFileSync } = await import('node:fs');
  const s = await web.InferenceSession.create(readFileSync(path), { executionProviders: ['wasm'], logSeverityLevel: 3 });
  return async (x, shape) => (await s.run({ [s.inputNames[0]]: new web.Tensor('float32', x, shape) }))[s.outputNames[0]].data as Float32Array;
}

const rows: Array<{ runtime: string; batch: number; msPerBatch: number; imagesPerSecond: number }> = [];
const runners: Array<[string, () => Promise<Runner>]> = [
  ...kernelSets.map((k): [string, () => Promise<Runner>] => [`lowbit runtime (${k.name} kernels)`, async () => {
    const rt = createRuntime(packed, { kernels: k });
    return async (x, shape) => rt.run(x, shape[0]);
  }]),
  ['onnxruntime-node fp32', () => onnxRunner(files.onnx.path, 'all')],
  ['onnxruntime-node fp32 (1 thread)', () => ortOneThreadRunner(files.onnx.path)],
  ['onnxruntime-node QDQ', () => onnxRunner(files.qdq.path, 'all')],
  ['onnxruntime-web wasm fp32', () => ortWebRunner(files.onnx.path)],
  ['TF.js wasm', async () => { await setBackend('wasm'); return tfRunner(model); }],
  ...(backendAvailable('native') ? [['TF.js native', async () => { await setBackend('native'); return tfRunner(model); }] as [string, () => Promise<Runner>]] : []),
];
const skipped: Record<string, string> = {};
for (const [runtime, make] of runners) {
  let run: Runner;
  try { run = await make(); } catch (e) { skipped[runtime] = (e as Error).message.split('\n')[0]; process.stderr.write(`${runtime}: skipped (${skipped[runtime]})\n`); continue; }
  for (const batch of [1, 64]) {
    const ms = await time(run, batch, batch === 1 ? runs : batchRuns);
    rows.push({ runtime, batch, msPerBatch: ms, imagesPerSecond: (batch * 1000) / ms });
    process.stderr.write(`${runtime.padEnd(34)} batch ${String(batch).padEnd(3)} ${ms.toFixed(3).padStart(9)} ms  ${((batch * 1000) / ms).toFixed(0).padStart(8)} img/s\n`);
  }
}

/** An onnxruntime-node session running one fp32 Conv of geometry g (NCHW, random weights). */
async function ortConv(g: Omit<ConvGeometry, 'n'>, batch: number): Promise<() => Promise<void>> {
  const graph = new OnnxGraph();
  const input = graph.name('x');
  const wgt = graph.constant('w', Float32Array.from({ length: g.outC * g.c * g.kh * g.kw }, (_, i) => ((i % 7) - 3) / 3), [g.outC, g.c, g.kh, g.kw]);
  const padBottom = Math.max(0, (g.outH - 1) * g.strideH + g.kh - g.h - g.padTop);
  const padRight = Math.max(0, (g.outW - 1) * g.strideW + g.kw - g.w - g.padLeft);
  const y = graph.op('Conv', [input, wgt], { kernel_shape: [g.kh, g.kw], strides: [g.strideH, g.strideW], pads: [g.padTop, g.padLeft, padBottom, padRight] });
  const om = graph.build({ name: input, shape: [batch, g.c, g.h, g.w] }, { name: y, shape: [batch, g.outC, g.outH, g.outW] }, 13);
  const s = await ort.InferenceSession.create(encodeModel(om), { graphOptimizationLevel: 'all', logSeverityLevel: 3 });
  const feed = { [input]: new ort.Tensor('float32', new Float32Array(batch * g.c * g.h * g.w).fill(0.5), [batch, g.c, g.h, g.w]) };
  return async () => { await s.run(feed); };
}

const layers: Array<{ layer: string; geometry: Omit<ConvGeometry, 'n'>; batch: number; kernels: string; binaryMs: number; ortFp32Ms: number; speedup: number }> = [];
if (layersMode) {
  const rt = createRuntime(packed);
  for (const step of rt.steps.filter((s) => s.kernel === 'binary')) {
    const g0 = step.geometry!;
    for (const batch of [1, 64]) {
      const g: ConvGeometry = { n: batch, ...g0 };
      const x = new Uint32Array(batch * g.h * g.w * wordsFor(g.c)).map((_, i) => Math.imul(i + 1, 2654435761));
      const wgt = new Uint32Array(g.outC * g.kh * g.kw * wordsFor(g.c)).map((_, i) => Math.imul(i + 7, 2246822519));
      const out = new Int32Array(batch * g.outH * g.outW * g.outC);
      const count = batch === 1 ? runs : batchRuns;
      const conv = await ortConv(g0, batch);
      const ortTimes: number[] = [];
      for (let i = 0; i < count + 5; i++) { const t0 = performance.now(); await conv(); if (i >= 5) ortTimes.push(performance.now() - t0); }
      const ortMs = median(ortTimes);
      for (const k of kernelSets) {
        const t: number[] = [];
        for (let i = 0; i < count + 5; i++) { const t0 = performance.now(); k.binaryConv2d(x, wgt, g, out); if (i >= 5) t.push(performance.now() - t0); }
        const ms = median(t);
        layers.push({ layer: step.layers[0], geometry: g0, batch, kernels: k.name, binaryMs: ms, ortFp32Ms: ortMs, speedup: ortMs / ms });
        process.stderr.write(`${step.layers[0].padEnd(10)} ${`${g.h}×${g.w}×${g.c}→${g.outC} k${g.kh}`.padEnd(20)} batch ${String(batch).padEnd(3)} ${k.name.padEnd(7)} binary ${ms.toFixed(4).padStart(9)} ms  ort fp32 ${ortMs.toFixed(4).padStart(9)} ms  ×${(ortMs / ms).toFixed(1)}\n`);
      }
    }
  }
}

const native = kernelSets.find((k) => k.name === 'native') as (RuntimeKernels & { popcount?: string }) | undefined;
const result = {
  command: `node dist/bench/infer.js ${process.argv.slice(2).join(' ')}`, commit, model: dirArg || `${build} (${quantize}, random weights)`,
  runs, batchRuns, nativePopcount: native?.popcount ?? null, steps: createRuntime(packed).steps.map(({ layers: l, op, kernel, output }) => ({ layers: l, op, kernel, output })),
  rows, layers, skipped, packedBytes: packed.data.byteLength,
};
const outFile = arg('out', `bench/results/infer-${name}.json`);
writeFileSync(outFile, `${JSON.stringify(result, null, 2)}\n`);
process.stderr.write(`wrote ${outFile}\n`);
tf.disposeVariables();
