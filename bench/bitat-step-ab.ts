/**
 * A/B of BiTAT's fused sign kernels (src/backend/sign-kernels.ts) in one process: the BiTAT
 * last-stage training step (bench/bitat-stage.ts, as bench/profile-step.ts times it) with the fused
 * kernels ('fused') and with them unregistered, so that src/quantizers/binary.ts takes its op
 * chains ('chains', the code before the kernels). Rounds alternate the two, the order flipped every
 * round, so that the load of a shared machine hits both alike; it prints one JSON line with every
 * round's ms/step and the medians' ratio.
 *
 *   node dist/bench/bitat-step-ab.js [--model mobilenet-tiny] [--batch 64] [--steps 5] [--rounds 6]
 */
import { loadavg } from 'node:os';
import { setBackend, tf } from '../src/node.js';
import { RSIGN_FORWARD, SCALED_SIGN_FORWARD, SIGN_FORWARD } from '../src/backend/sign-kernels.js';
import type * as TF from '../src/backend/tf.js';
import { arg } from './runner.js';
import { bitatLastStage } from './bitat-stage.js';

const name = arg('model', 'mobilenet-tiny');
const B = Number(arg('batch', '64'));
const steps = Number(arg('steps', '5'));
const rounds = Number(arg('rounds', '6'));
await setBackend('native');
const { model, variables } = await bitatLastStage(name);
const x = tf.randomUniform([B, ...(model.inputs[0].shape.slice(1) as number[])], 0, 1, 'float32', 1);
const classes = model.outputs[0].shape[1] as number;
const y = tf.tidy(() => tf.oneHot(tf.randomUniform([B], 0, classes, 'int32', 2) as TF.Tensor1D, classes));
const optimizer = tf.train.adam(1e-3);
const step = () => {
  const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as TF.Tensor) as TF.Scalar, true, variables)!;
  cost.dataSync();
  cost.dispose();
};

const fusedNames = [SIGN_FORWARD, RSIGN_FORWARD, SCALED_SIGN_FORWARD];
const configs = fusedNames.map((n) => tf.getKernel(n, 'wasm')!);
const setFused = (on: boolean) => {
  for (const n of fusedNames) if (tf.getKernel(n, 'wasm') != null) tf.unregisterKernel(n, 'wasm');
  if (on) for (const c of configs) tf.registerKernel(c);
};

const times: Record<'fused' | 'chains', number[]> = { fused: [], chains: [] };
const kernels: Record<'fused' | 'chains', number> = { fused: 0, chains: 0 };
const load = [loadavg()[0]];
for (let r = 0; r < rounds; r++) {
  for (const mode of (r % 2 === 0 ? ['chains', 'fused'] : ['fused', 'chains']) as Array<'fused' | 'chains'>) {
    setFused(mode === 'fused');
    step();
    step(); // warm-up: new shapes' primitives, the optimizer's slots
    if (r === 0) kernels[mode] = (await tf.profile(step)).kernels.length;
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) step();
    times[mode].push((performance.now() - t0) / steps);
  }
}
setFused(true);
load.push(loadavg()[0]);
const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return (s[(s.length - 1) >> 1] + s[s.length >> 1]) / 2; };
process.stdout.write(`${JSON.stringify({
  command: `node dist/bench/bitat-step-ab.js ${process.argv.slice(2).join(' ')}`.trim(), model: name, batch: B, steps, rounds,
  msPerStep: times, kernelsPerStep: kernels, medianMs: { fused: median(times.fused), chains: median(times.chains) },
  speedup: median(times.chains) / median(times.fused), loadAverage1m: { start: load[0], end: load[1] },
})}\n`);
