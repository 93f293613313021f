/**
 * The lowbit side of the DQ row of bench/vs-pytorch (issue 21): one row per process (its peak RSS is its own).
 * Builds the DQ auto-encoder with the DQ method's defaults (src/methods/dq/method.ts: M = 4, K = 32, 2 levels,
 * M·D = 32, width 32, 5 mixtures, EMA codebooks, N(0, 1) init) through lowbit's library API and trains it with
 * the one training loop and the DQ loss (Adam, lr 2e-3 as the method's trainDefaults) on Fashion-MNIST
 * training batches, for `steps` steps after 2 warm-up steps, on the native backend; prints one JSON line.
 * The twin is bench/vs-pytorch/dq_torch.py (the same step in plain PyTorch); bench/vs-pytorch/dq-driver.ts runs both.
 *
 *   node dist/bench/vs-pytorch/dq-side.js BATCH STEPS [BACKEND] [--profile]
 *
 * The images are kept as IDX bytes and read as byte / 255 per batch (as dq_torch.py reads them), so neither
 * side's peak RSS carries a float32 copy of the dataset. --profile: a kernel profile of the step instead (profileRow).
 */
import { execFileSync } from 'node:child_process';
import type * as TF from '../../src/backend/tf.js';
const { setBackend, getBackendName, buildDqAutoencoder, quantizersOf, encoderModel, dqLoss, train, tf, readIdxImages, readIdxLabels, fashionDataDir } = await import('../../src/node.js');
const { findIdxFile } = await import('../../src/data/idx.js');
const { DepthwiseQuantizer } = await import('../../src/layers/depthwise-quantizer.js');

/** DQ defaults of src/methods/dq/method.ts (the options the `lowbit dq train` command starts from). */
const OPTIONS = { groups: 4, codes: 32, levels: 2 as const, embedChannels: 32, width: 32, mixtures: 5, learning: 'ema' as const, init: 'normal' as const };

function fashionTrainBytes() {
  const dir = fashionDataDir();
  const images = findIdxFile(dir, 'train-images-idx3-ubyte');
  const labels = findIdxFile(dir, 'train-labels-idx1-ubyte');
  if (images == null || labels == null) throw new Error(`no Fashion-MNIST training files in ${dir} (set LOWBIT_DATA_DIR)`);
  const img = readIdxImages(images);
  const lab = readIdxLabels(labels);
  const train = { images: { bytes: img.pixels }, labels: Uint8Array.from(lab), count: img.count };
  const empty = { images: { bytes: new Uint8Array(0) }, labels: new Uint8Array(0), count: 0 };
  return { name: 'fashion-mnist', shape: [28, 28, 1], numClasses: 10, train, val: empty, test: empty, description: 'Fashion-MNIST training images (bytes)' };
}

const WARMUP = 2;

function trainConfig(batch: number, steps: number) {
  return {
    epochs: 1, batchSize: batch, learningRate: 2e-3, optimizer: { name: 'adam' as const }, schedule: { name: 'constant' as const },
    weightDecay: 0, seed: 0, maxStepsPerEpoch: steps, skipValidation: true, loss: dqLoss,
  };
}

async function row(batch: number, steps: number, backend: string): Promise<object> {
  await setBackend(backend);
  const data = fashionTrainBytes();
  const model = buildDqAutoencoder({ ...OPTIONS, seed: 0 });
  const stamps: number[] = [];
  const cpu: number[] = [];
  const losses: number[] = [];
  await train(model, data, trainConfig(batch, WARMUP + steps), {
    onStep: (info) => { stamps.push(performance.now()); const u = process.cpuUsage(); cpu.push((u.user + u.system) / 1000); losses.push(info.loss); },
  });
  const ms = (stamps[stamps.length - 1] - stamps[WARMUP - 1]) / steps;
  // CPU milliseconds of this process (all its threads) per step; it includes OpenMP threads spin-waiting, so it too rises under foreign load.
  const cpuMs = (cpu[cpu.length - 1] - cpu[WARMUP - 1]) / steps;
  return {
    side: 'lowbit', model: 'dq-autoencoder', batch, steps, backend: getBackendName(), options: OPTIONS,
    imagesPerSecond: (batch * 1000) / ms, msPerStep: ms, cpuMsPerStep: cpuMs, params: model.countParams(), firstLoss: losses[0], losses,
    lastStats: Object.fromEntries(quantizersOf(model).map((q) => [q.name, q.lastStats])),
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  };
}

function gitCommit(): string {
  try { return execFileSync('git', ['rev-parse', '--short=12', 'HEAD']).toString().trim(); } catch { return 'unknown'; }
}

const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

/** Median wall milliseconds of f over `reps` calls after one untimed call. */
function timeMs(f: () => void, reps = 5): number {
  f();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const s = performance.now();
    f();
    t.push(performance.now() - s);
  }
  return median(t);
}

/**
 * --profile: WARMUP steps, then `steps` steps under tf.profile (a second call of the training loop on the
 * same model, so a fresh Adam whose first step makes its slots); kernel milliseconds per step by kernel
 * name, and the step's wall time outside kernels (host work: the loop, the tape, the quantizers' host-side
 * statistics and restart bookkeeping, batch assembly). Then each quantizer timed alone on the features it
 * sees (the model's own encoder on a training batch): the nearest-code search with the read of the codes
 * (assignCodes + dataSync), and the whole training call (search, lookup, straight-through output, vq loss,
 * the host read, the statistics, the EMA step and dead-code restarts), outside the gradient tape.
 */
// Op-level entries (fusedConv2d__op, logSoftmax__op, the custom-gradient 'unnamed scope's) wrap kernels that are
// listed on their own: they are kept in the kernel table, marked, and left out of the sums.
const wrapper = (k: string) => k.endsWith('__op') || k.includes('scope');
const wrapperCall = (call: string) => wrapper(call.split(' [')[0]);

async function profileRow(batch: number, steps: number, backend: string): Promise<object> {
  await setBackend(backend);
  const data = fashionTrainBytes();
  const model = buildDqAutoencoder({ ...OPTIONS, seed: 0 });
  await train(model, data, trainConfig(batch, WARMUP));
  tf.env().set('CHECK_COMPUTATION_FOR_ERRORS', false); // the profiler would otherwise read every kernel's output back
  // Count the quantizers' call() during the profiled steps: TF.js's graph executor (tfjs-layers execute()) applies a
  // layer once per output tensor it needs, so a two-output layer such as DepthwiseQuantizer ([q, vqLoss]) may run twice.
  let quantizerCalls = 0;
  const call = DepthwiseQuantizer.prototype.call;
  DepthwiseQuantizer.prototype.call = function (this: InstanceType<typeof DepthwiseQuantizer>, ...args: Parameters<typeof call>) {
    quantizerCalls++;
    return call.apply(this, args);
  };
  const started = performance.now();
  const info = await tf.profile(async () => { await train(model, data, trainConfig(batch, steps)); });
  const msPerStep = (performance.now() - started) / steps;
  DepthwiseQuantizer.prototype.call = call;
  const perKernel = new Map<string, { ms: number; calls: number }>();
  const perShape = new Map<string, { ms: number; calls: number }>();
  for (const k of info.kernels) {
    for (const [map, key] of [[perKernel, k.name], [perShape, `${k.name} ${k.inputShapes.map((sh) => `[${(sh ?? []).join(',')}]`).join(' ')}`]] as const) {
      const e = map.get(key) ?? { ms: 0, calls: 0 };
      e.ms += k.kernelTimeMs as number;
      e.calls++;
      map.set(key, e);
    }
  }
  // The 40 costliest (kernel, input shapes) pairs: which tensors the time goes to (e.g. broadcasts the native kernels leave to wasm).
  const byShape = [...perShape].map(([call, e]) => ({ call, msPerStep: e.ms / steps, callsPerStep: e.calls / steps }))
    .filter((c) => !wrapperCall(c.call)).sort((a, b) => b.msPerStep - a.msPerStep).slice(0, 40);
  const kernels = [...perKernel].map(([kernel, e]) => ({ kernel, msPerStep: e.ms / steps, callsPerStep: e.calls / steps, ...(wrapper(kernel) ? { wrapsKernels: true } : {}) }))
    .sort((a, b) => b.msPerStep - a.msPerStep);
  const kernelMs = kernels.filter((k) => !wrapper(k.kernel)).reduce((a, k) => a + k.msPerStep, 0);
  const x = tf.tidy(() => tf.div(tf.tensor4d(Float32Array.from(data.train.images.bytes.subarray(0, batch * 784)), [batch, 28, 28, 1]), 255));
  const qs = quantizersOf(model);
  const zs = [encoderModel(model).predict(x)].flat() as TF.Tensor[];
  const quantizers = qs.map((q, l) => ({
    level: q.name, features: zs[l].shape,
    searchMs: timeMs(() => { tf.tidy(() => { q.assignCodes(zs[l]).dataSync(); }); }),
    trainingCallMs: timeMs(() => { tf.tidy(() => { tf.dispose(q.apply(zs[l], { training: true }) as TF.Tensor[]); }); }),
  }));
  tf.dispose([x, ...zs]);
  return {
    side: 'lowbit', model: 'dq-autoencoder', batch, steps, backend: getBackendName(), options: OPTIONS, profiled: true,
    command: `node dist/bench/vs-pytorch/dq-side.js ${process.argv.slice(2).join(' ')}`, commit: gitCommit(), date: new Date().toISOString(),
    msPerStep, kernelMsPerStep: kernelMs, outsideKernelsMsPerStep: msPerStep - kernelMs, kernels, byShape, quantizers, quantizerCallsPerStep: quantizerCalls / steps, quantizerLayers: qs.length,
    peakRssMB: process.resourceUsage().maxRSS / 1024,
  };
}

const argv = process.argv.slice(2);
const positional = argv.filter((a) => !a.startsWith('--'));
const [batch, steps, backend] = [Number(positional[0]), Number(positional[1]), positional[2] ?? 'native'];
process.stdout.write(`${JSON.stringify(argv.includes('--profile') ? await profileRow(batch, steps, backend) : await row(batch, steps, backend))}\n`);
