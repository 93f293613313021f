/**
 * The lowbit side of bench/vs-pytorch (issue 21): one row per process (its peak RSS is its own).
 * Trains `model` with `variant` through lowbit's training loop (Adam, MNIST batches) on the
 * native backend for `steps` steps after 2 warm-up steps and prints one JSON line; or, with
 * --probe, the sgemm peak of oneDNN through the addon (tf.matMul 1024×1024 on native → BatchMatMul).
 *
 *   node dist/bench/vs-pytorch/lowbit-side.js MODEL VARIANT BATCH STEPS [BACKEND]
 *   node dist/bench/vs-pytorch/lowbit-side.js --probe
 *
 * LOWBIT_BENCH_FAKEQUANT=reference trains with the DoReFa (activation, k-bit weight) and LSQ op chains instead of
 * their fused kernels (an A/B of the kernels; docs/engine.md).
 *
 * Variants, as bench/vs-pytorch/torch_side.py: float, dorefa-w1 (W1/A32), dorefa-w2a2, lsq-w2a2
 * (lowbit's "ste" method: LSQ on every layer, input pixels float), srq-w2a2, bitat-w1a1.
 *
 * bitat-w1a1 is one step of BiTAT's last stage (docs/methods/bitat.md §1.3–1.5, as
 * src/methods/bitat/run.ts trains it; the setup is bench/bitat-stage.ts).
 */
import type * as TF from '../../src/backend/tf.js';
const { setBackend, getBackendName, dorefaModel, relaxedModel, loadMnist, buildModel, train, tf } = await import('../../src/node.js');
const { bitatLastStage } = await import('../bitat-stage.js');

async function quantized(model: string, variant: string) {
  const float = buildModel(model, { seed: 0 });
  switch (variant) {
    case 'float': return float;
    case 'dorefa-w1': return dorefaModel(float, { wbits: 1, abits: 32 });
    case 'dorefa-w2a2': return dorefaModel(float, { wbits: 2, abits: 2 });
    case 'lsq-w2a2': return relaxedModel(float, { method: 'ste', wbits: 2, abits: 2 });
    case 'srq-w2a2': return relaxedModel(float, { method: 'srq', wbits: 2, abits: 2 });
    default: throw new Error(`unknown variant ${variant}: float, dorefa-w1, dorefa-w2a2, lsq-w2a2, srq-w2a2, bitat-w1a1`);
  }
}

/** The fused fake-quant kernels (src/backend/fakequant-kernels.ts); LOWBIT_BENCH_FAKEQUANT=reference removes them (A/B of the op chains). */
const FAKEQUANT_KERNELS = ['LowbitDorefaActQuant', 'LowbitDorefaActQuantGrad', 'LowbitDorefaWeightQuant', 'LowbitDorefaWeightQuantGrad', 'LowbitLsqQuant', 'LowbitLsqQuantGrad'];

async function row(model: string, variant: string, batch: number, steps: number, backend: string): Promise<object> {
  await setBackend(backend);
  const fakeQuant = process.env.LOWBIT_BENCH_FAKEQUANT === 'reference' ? 'reference' : 'fused';
  if (fakeQuant === 'reference') for (const k of FAKEQUANT_KERNELS) if (tf.getKernel(k, 'wasm') != null) tf.unregisterKernel(k, 'wasm');
  const data = loadMnist();
  const { model: m, variables } = variant === 'bitat-w1a1' ? await bitatLastStage(model) : { model: await quantized(model, variant), variables: undefined };
  const warmup = 2;
  // One epoch of MNIST batches bounds the timed steps (the loop stops at the epoch's end, and a
  // larger STEPS would divide a shorter run by it).
  const perEpoch = Math.ceil(data.train.count / batch);
  if (warmup + steps > perEpoch) {
    process.stderr.write(`lowbit-side: ${steps} steps + ${warmup} warm-up at batch ${batch} exceed one epoch of MNIST (${perEpoch} steps); use at most ${perEpoch - warmup}\n`);
    process.exit(2);
  }
  const stamps: number[] = [];
  const cpu: number[] = [];  // process CPU ms (user + system) at each step's end
  await train(m, data, {
    epochs: 1, batchSize: batch, learningRate: 1e-3, optimizer: { name: 'adam' }, schedule: { name: 'constant' },
    weightDecay: 0, seed: 0, maxStepsPerEpoch: warmup + steps, skipValidation: true, variables,
  }, { onStep: () => { stamps.push(performance.now()); const c = process.cpuUsage(); cpu.push((c.user + c.system) / 1000); } });
  const ms = (stamps[stamps.length - 1] - stamps[warmup - 1]) / steps;
  // CPU time per step: with OMP_NUM_THREADS=1 the step's own compute, which a time slice lost to
  // another process does not inflate (a shared machine's wall times do); it also counts V8's
  // helper threads (GC), and with more threads it sums them.
  const cpuMsPerStep = (cpu[cpu.length - 1] - cpu[warmup - 1]) / steps;
  return { side: 'lowbit', model, variant, batch, steps, backend, fakeQuant, imagesPerSecond: (batch * 1000) / ms, msPerStep: ms, cpuMsPerStep,
    peakRssMB: process.resourceUsage().maxRSS / 1024 };
}

/**
 * The sgemm peak probe, the same on both sides (torch_side.py probe()): C = A·B with
 * M = N = K = PROBE_N float32, 2 threads (the driver's OMP_NUM_THREADS), PROBE_WARMUP untimed
 * calls, then the best of PROBE_REPS; GFLOP/s = 2·M·N·K / seconds. Two routes into oneDNN:
 * its matmul primitive (tf.matMul → BatchMatMul on native) and its convolution as a GEMM
 * (a 1×1 conv over a 32×32 map: M = 1024 positions, K = N = 1024 channels).
 */
const PROBE_N = 1024;
const PROBE_WARMUP = 3;
const PROBE_REPS = 20;
function bestGflops(f: () => TF.Tensor): number {
  let best = 0;
  for (let i = 0; i < PROBE_WARMUP + PROBE_REPS; i++) {
    const t = performance.now();
    const c = f();
    c.dataSync();
    const s = (performance.now() - t) / 1000;
    c.dispose();
    if (i >= PROBE_WARMUP) best = Math.max(best, (2 * PROBE_N ** 3) / s / 1e9);
  }
  return best;
}

async function probe(): Promise<object> {
  await setBackend('native');
  const n = PROBE_N;
  const a = tf.randomUniform([n, n]);
  const b = tf.randomUniform([n, n]);
  const x = tf.reshape(a, [1, 32, 32, n]) as TF.Tensor4D;
  const f = tf.reshape(b, [1, 1, n, n]) as TF.Tensor4D;
  const routes = {
    'onednn-matmul': bestGflops(() => tf.matMul(a, b)),
    'onednn-conv1x1': bestGflops(() => tf.conv2d(x, f, 1, 'valid')),
  };
  return {
    side: 'lowbit', probe: `sgemm M=N=K=${n} float32, ${PROBE_WARMUP} warm-up, best of ${PROBE_REPS}`, routes,
    gflops: Math.max(...Object.values(routes)), threads: Number(process.env.OMP_NUM_THREADS ?? 0) || null,
    threadsNote: 'oneDNN (Debian libdnnl) with OpenMP: OMP_NUM_THREADS', backend: getBackendName(),
  };
}

const argv = process.argv.slice(2);
const out = argv[0] === '--probe' ? await probe() : await row(argv[0], argv[1], Number(argv[2]), Number(argv[3]), argv[4] ?? 'native');
process.stdout.write(`${JSON.stringify(out)}\n`);
