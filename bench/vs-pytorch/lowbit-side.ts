/**
 * The lowbit side of bench/vs-pytorch (issue 21): one row per process (its peak RSS is its own).
 * Trains `model` with `variant` through lowbit's training loop (Adam, MNIST batches) on the
 * native backend for `steps` steps after 2 warm-up steps and prints one JSON line; or, with
 * --probe, the sgemm peak of oneDNN through the addon (tf.matMul 1024×1024 on native → BatchMatMul).
 *
 *   node dist/bench/vs-pytorch/lowbit-side.js MODEL VARIANT BATCH STEPS [BACKEND]
 *   node dist/bench/vs-pytorch/lowbit-side.js --probe
 *
 * Variants, as bench/vs-pytorch/torch_side.py: float, dorefa-w1 (W1/A32), dorefa-w2a2, lsq-w2a2
 * (lowbit's "ste" method: LSQ on every layer, input pixels float), srq-w2a2.
 */
const { setBackend, dorefaModel, relaxedModel, loadMnist, buildModel, train, tf } = await import('../../src/node.js');

async function quantized(model: string, variant: string) {
  const float = buildModel(model, { seed: 0 });
  switch (variant) {
    case 'float': return float;
    case 'dorefa-w1': return dorefaModel(float, { wbits: 1, abits: 32 });
    case 'dorefa-w2a2': return dorefaModel(float, { wbits: 2, abits: 2 });
    case 'lsq-w2a2': return relaxedModel(float, { method: 'ste', wbits: 2, abits: 2 });
    case 'srq-w2a2': return relaxedModel(float, { method: 'srq', wbits: 2, abits: 2 });
    default: throw new Error(`unknown variant ${variant}: float, dorefa-w1, dorefa-w2a2, lsq-w2a2, srq-w2a2`);
  }
}

async function row(model: string, variant: string, batch: number, steps: number, backend: string): Promise<object> {
  await setBackend(backend);
  const data = loadMnist();
  const m = await quantized(model, variant);
  const warmup = 2;
  const stamps: number[] = [];
  await train(m, data, {
    epochs: 1, batchSize: batch, learningRate: 1e-3, optimizer: { name: 'adam' }, schedule: { name: 'constant' },
    weightDecay: 0, seed: 0, maxStepsPerEpoch: warmup + steps, skipValidation: true,
  }, { onStep: () => stamps.push(performance.now()) });
  const ms = (stamps[stamps.length - 1] - stamps[warmup - 1]) / steps;
  return { side: 'lowbit', model, variant, batch, steps, backend, imagesPerSecond: (batch * 1000) / ms, msPerStep: ms,
    peakRssMB: process.resourceUsage().maxRSS / 1024 };
}

async function probe(n = 1024, reps = 20): Promise<object> {
  await setBackend('native');
  const a = tf.randomUniform([n, n]);
  const b = tf.randomUniform([n, n]);
  let best = 0;
  for (let i = 0; i <= reps; i++) {
    const t = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync();
    const s = (performance.now() - t) / 1000;
    c.dispose();
    if (i > 0) best = Math.max(best, (2 * n ** 3) / s / 1e9);
  }
  return { side: 'lowbit', probe: `oneDNN sgemm ${n}x${n} float32 (tf.matMul on native)`, gflops: best };
}

const argv = process.argv.slice(2);
const out = argv[0] === '--probe' ? await probe() : await row(argv[0], argv[1], Number(argv[2]), Number(argv[3]), argv[4] ?? 'native');
process.stdout.write(`${JSON.stringify(out)}\n`);
