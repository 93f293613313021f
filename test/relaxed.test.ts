import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, buildModel, profileTrainStep } from '../src/index.js';
import { relaxedModel } from '../src/methods/srq/index.js';
import { relaxedQuantize, roundToGrid, relaxedGrid, bitShells, RelaxedOptions, learnedBits, expectedBits, sampleHardConcrete } from '../src/quantizers/relaxed.js';
import { expectedAverageBits, fixLearnedBits, readLearnedBits } from '../src/methods/srq/learned-bits.js';
import { isQuantLayer, QuantConv2D } from '../src/layers/quant-layers.js';
import { setNoiseState } from '../src/quantizers/noise.js';
import { ensureBackend } from '../src/index.js';

await ensureBackend(); // the browser-safe core starts no backend at import

const alpha = () => tf.scalar(0.5);
const sigma = () => tf.scalar(0.5 / 3);
const arr = (t: tf.Tensor) => Array.from(t.dataSync(), (v) => v + 0); // + 0 turns −0 into 0
const opts = (method: RelaxedOptions['method'], extra: Partial<RelaxedOptions> = {}): RelaxedOptions => ({ method, bits: 2, signed: true, training: true, ...extra });

test('grids and bit shells: 2-bit weights {−2,−1,0,1}·α, activations {0..3}·α; nested shells', () => {
  assert.deepEqual(relaxedGrid(2, true), [-2, -1, 0, 1]);
  assert.deepEqual(relaxedGrid(2, false), [0, 1, 2, 3]);
  assert.deepEqual(bitShells(relaxedGrid(3, true), true), [3, 3, 2, 1, 1, 2, 3, 3]);
});

test('test time: every method is round-and-clip on the grid', () => {
  const x = tf.tensor([-3, -0.7, -0.2, 0.1, 0.26, 0.9]);
  const expected = [-1, -0.5, 0, 0, 0.5, 0.5]; // round(x/α) clipped to [−2, 1]
  for (const m of ['rq', 'rq-st', 'srq'] as const) assert.deepEqual(arr(relaxedQuantize(x, alpha(), sigma(), opts(m, { training: false }))), expected);
});

test('SRQ forward equals round-and-clip (the mode of π); RQ-ST is on the grid; RQ lies in [g_min, g_max]', () => {
  setNoiseState(1);
  const x = tf.randomUniform([500], -1.5, 1.2, 'float32', 3);
  assert.deepEqual(arr(relaxedQuantize(x, alpha(), sigma(), opts('srq'))), arr(roundToGrid(x, alpha(), 2, true)));
  const st = arr(relaxedQuantize(x, alpha(), sigma(), opts('rq-st')));
  st.forEach((v) => assert.ok([-1, -0.5, 0, 0.5].includes(v), `RQ-ST value ${v}`));
  const rq = arr(relaxedQuantize(x, alpha(), sigma(), opts('rq', { temperature: 1 })));
  assert.ok(rq.every((v) => v >= -1 - 1e-6 && v <= 0.5 + 1e-6));
  assert.ok(rq.some((v) => ![-1, -0.5, 0, 0.5].includes(v)), 'the concrete relaxation leaves the grid');
});

test('no NaN or Inf in values or gradients for ±1e6, zeros and subnormals, with the full and the local grid', () => {
  const x = tf.tensor([1e6, -1e6, 0, 1e-40, -1e-42, 0.3]);
  for (const bits of [2, 8]) {
    for (const m of ['rq', 'rq-st', 'srq'] as const) {
      const f = (t: tf.Tensor, a: tf.Tensor, s: tf.Tensor) => tf.sum(relaxedQuantize(t, a, s, opts(m, { bits, dropBits: m === 'srq' ? 0.3 : 0 })));
      const grads = tf.grads(f)([x, alpha(), sigma()]);
      for (const g of grads) assert.ok(arr(g).every(Number.isFinite), `${m} ${bits}-bit gradient: ${arr(g)}`);
      assert.ok(arr(relaxedQuantize(x, alpha(), sigma(), opts(m, { bits }))).every(Number.isFinite));
    }
  }
});

test('SRQ backward: the multi-class STE gives a smooth, positive slope inside the grid and ∂/∂σ ≠ 0', () => {
  const x = tf.tensor([-0.6, -0.3, 0.1, 0.2]);
  const [gx, , gs] = tf.grads((t: tf.Tensor, a: tf.Tensor, s: tf.Tensor) => tf.sum(relaxedQuantize(t, a, s, opts('srq'))))([x, alpha(), sigma()]);
  arr(gx).forEach((v) => assert.ok(v > 0.3 && v < 1.6, `slope ${v}`));
  assert.ok(arr(gs).some((v) => Math.abs(v) > 1e-4));
});

test('DropBits: p = 1 keeps only the 1-bit core {−1, 0}; p = 0 changes nothing; the core is never dropped', () => {
  setNoiseState(5);
  const x = tf.randomUniform([400], -1.5, 1, 'float32', 9);
  const all = arr(relaxedQuantize(x, alpha(), sigma(), opts('srq', { dropBits: 1 })));
  all.forEach((v) => assert.ok(v === -0.5 || v === 0, `p=1 value ${v}`));
  assert.deepEqual(arr(relaxedQuantize(x, alpha(), sigma(), opts('srq', { dropBits: 0 }))), arr(roundToGrid(x, alpha(), 2, true)));
  const some = arr(relaxedQuantize(x, alpha(), sigma(), opts('srq', { dropBits: 0.5 })));
  assert.ok(some.some((v, i) => v !== arr(roundToGrid(x, alpha(), 2, true))[i]), 'p=0.5 drops some levels');
});

test('SRQ + DropBits and RQ layers: learned α and σ train, eval-mode kernels have ≤ 4 values, same seed → same weights, save/load', async () => {
  const { buildModel, quantizeModel, train, subset } = await import('../src/index.js');
  const { loadMnist, saveModelDir, modelDirHandler } = await import('../src/node.js');
  const { mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const full = loadMnist();
  const r = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
  const data = { ...full, train: subset(full.train, r(96), 784), val: subset(full.val, r(32), 784), test: subset(full.test, r(32), 784) };
  const run = async (kind: 'srq' | 'rq') => {
    const q = await quantizeModel(buildModel('lenet5', { seed: 1 }), {
      kernelQuantizer: { kind, bits: 2, dropBits: kind === 'srq' ? 0.2 : undefined }, inputQuantizer: { kind, bits: 2, initAlpha: 0.5 },
    });
    const counts: number[] = [];
    await train(q, data, { epochs: 1, batchSize: 32, learningRate: 1e-2, optimizer: { name: 'adam' }, schedule: { name: 'constant' }, weightDecay: 0, seed: 4, skipValidation: true },
      { onStep: () => counts.push(tf.memory().numTensors) });
    assert.ok(counts.every((c) => c === counts[0]), `${kind}: tensor counts drift: ${counts}`);
    return q;
  };
  for (const kind of ['srq', 'rq'] as const) {
    const a = await run(kind);
    const b = await run(kind);
    assert.deepEqual(a.getWeights().map(arr), b.getWeights().map(arr), `${kind}: same seed, same weights`);
    const conv2 = a.getLayer('conv2') as unknown as { quantizedKernel(): tf.Tensor; weights: tf.LayerVariable[] };
    const logAlpha = conv2.weights.find((w) => w.originalName.endsWith('kernel_log_alpha'))!.read().dataSync()[0];
    assert.notEqual(logAlpha, Math.log(0.05), `${kind}: α was trained`);
    const values = new Set(arr(conv2.quantizedKernel()));
    assert.ok(values.size <= 4, `${kind}: ${values.size} values`);
    const dir = mkdtempSync(join(tmpdir(), 'lowbit-srq-'));
    await saveModelDir(a, dir);
    const back = await tf.loadLayersModel(modelDirHandler(dir));
    const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 5);
    assert.deepEqual(arr(back.predict(x) as tf.Tensor), arr(a.predict(x) as tf.Tensor));
  }
});

test('SRQ recipe: all layers quantized, the first layer sees float pixels, α_w starts at the MSE-optimal step', async () => {
  const { buildModel, isQuantLayer } = await import('../src/index.js');
  const { relaxedModel, mseOptimalAlpha } = await import('../src/methods/srq/index.js');
  const teacher = buildModel('lenet5', { seed: 2 });
  const q = await relaxedModel(teacher, { method: 'srq', wbits: 2, abits: 2, dropBits: 0.1 });
  const quant = q.layers.filter(isQuantLayer);
  assert.deepEqual(quant.map((l) => [l.name, l.kernelBits, l.inputBits]), [['conv1', 2, 32], ['conv2', 2, 2], ['fc1', 2, 2], ['fc2', 2, 2]]);
  const w = teacher.getLayer('conv2').getWeights()[0];
  const alpha = mseOptimalAlpha(w, 2);
  const mse = (a: number) => tf.mean(tf.squaredDifference(roundToGrid(w, tf.scalar(a), 2, true), w)).dataSync()[0];
  assert.ok(mse(alpha) <= mse(alpha * 1.2) && mse(alpha) <= mse(alpha * 0.8), 'a local MSE minimum');
  const logAlpha = q.getLayer('conv2').weights.find((v) => v.originalName.endsWith('kernel_log_alpha'))!.read().dataSync()[0];
  assert.ok(Math.abs(Math.exp(logAlpha) - alpha) < 1e-6);
  // With a calibration batch, activation grids start at the MSE-optimal step for the teacher's activations.
  const batch = tf.randomUniform([16, 28, 28, 1], 0, 1, 'float32', 3);
  const calibrated = await relaxedModel(teacher, { method: 'srq', wbits: 2, abits: 2 }, batch);
  const inputAlpha = (name: string, m: typeof q) => Math.exp(m.getLayer(name).weights.find((v) => v.originalName.endsWith('input_log_alpha'))!.read().dataSync()[0]);
  assert.ok(Math.abs(inputAlpha('conv2', q) - 0.5) < 1e-6, 'without calibration: the constant');
  const probe = tf.model({ inputs: teacher.inputs, outputs: teacher.getLayer('conv2').input as tf.SymbolicTensor });
  const expected = mseOptimalAlpha(probe.predict(batch) as tf.Tensor, 2, false);
  assert.ok(Math.abs(inputAlpha('conv2', calibrated) - expected) < 1e-6 * expected, `calibrated α_a ${inputAlpha('conv2', calibrated)} vs ${expected}`);
});

test('learned bit-widths: hard-concrete gates, expected bits, read-off rule, closed gates keep only the core', () => {
  assert.equal(learnedBits([9, 9]), 4); // gates for bits 3 and 4 open
  assert.equal(learnedBits([9, -9, 9]), 3); // nesting: a closed gate closes every bit above it
  assert.equal(learnedBits([-9, 9]), 2); // the 2-bit grid is always kept
  assert.equal(learnedBits([0.5, 0.5]), 4); // E = 2 + 0.89 + 0.79 = 3.68
  assert.ok(Math.abs(expectedBits([tf.scalar(20), tf.scalar(20)]).dataSync()[0] - 4) < 1e-4);
  assert.ok(Math.abs(expectedBits([tf.scalar(-20), tf.scalar(20)]).dataSync()[0] - 2) < 1e-4);
  const z = sampleHardConcrete(tf.fill([1000], 0.5)).dataSync();
  assert.ok(z.every((v) => v >= 0 && v <= 1) && z.some((v) => v === 1) && z.some((v) => v > 0 && v < 1));
  // A 3-bit quantizer with its gate shut picks only 2-bit points {−2 … 1}·α; open: the full 3-bit grid.
  setNoiseState(1);
  const x = tf.tensor([-2.2, -0.4, 0.1, 0.6, 1.4]);
  const shut = relaxedQuantize(x, alpha(), sigma(), opts('srq', { bits: 3, bitGates: [tf.scalar(-20)] }));
  assert.deepEqual(arr(shut), [-1, -0.5, 0, 0.5, 0.5]);
  const open = relaxedQuantize(x, alpha(), sigma(), opts('srq', { bits: 3, bitGates: [tf.scalar(20)] }));
  assert.deepEqual(arr(open), arr(relaxedQuantize(x, alpha(), sigma(), opts('srq', { bits: 3 }))));
  assert.deepEqual(arr(open), [-2, -0.5, 0, 0.5, 1.5]);
  // The gate gets a finite, non-zero gradient through the multi-class STE.
  const g = tf.grad((la: tf.Tensor) => tf.sum(relaxedQuantize(x, alpha(), sigma(), opts('srq', { bits: 3, bitGates: [la] }))))(tf.scalar(0.5)).dataSync()[0];
  assert.ok(Number.isFinite(g) && g !== 0, `gate gradient ${g}`);
});

test('learned bits on a model: the penalty pulls the average down, fixed bits reproduce the gated model exactly', async () => {
  const teacher = buildModel('lenet5', { seed: 3 });
  const q = await relaxedModel(teacher, { method: 'srq', wbits: 4, abits: 32, learnBits: true });
  const before = expectedAverageBits(q).dataSync()[0];
  assert.ok(before > 3.6 && before < 3.8, `expected bits start at 2 + 0.89 + 0.89²: ${before}`);
  const vars = q.trainableWeights.filter((w) => /bit_gate/.test(w.originalName)).map((w) => w.read() as tf.Variable);
  // At a model-sized lr, 30 Adam steps must move the gates (they learn GATE_SCALE× faster).
  const opt = tf.train.adam(1e-3);
  for (let i = 0; i < 30; i++) opt.minimize(() => tf.square(tf.sub(expectedAverageBits(q), 2)) as tf.Scalar, false, vars);
  const after = readLearnedBits(q);
  assert.ok(after.averageBits <= 3, `average bits ${after.averageBits}`);
  assert.deepEqual(Object.keys(after.layers), q.layers.filter((l) => isQuantLayer(l)).map((l) => l.name));
  const fixed = await fixLearnedBits(q);
  for (const [name, bits] of Object.entries(after.layers)) assert.equal((fixed.getLayer(name) as QuantConv2D).kernelBits, bits);
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 2);
  assert.deepEqual(Array.from((fixed.predict(x) as tf.Tensor).dataSync()), Array.from((q.predict(x) as tf.Tensor).dataSync()));
  assert.throws(() => expectedAverageBits(teacher), /has no learned bit-width gates/);
});

test('DropBits backward: π is masked, so only surviving points carry the multi-class STE gradient (srq.md §3.2)', () => {
  // p = 1: only the core {−1, 0} survives. Reference: d/dx Σ_{i∈core} π_i(x)·g_i·α, π from logistic CDF
  // differences over the full grid [−2, 1] (RQ's ε fuzz, 1e-6, is below the tolerance), by central differences.
  const a = 0.5;
  const s = 0.5 / 3;
  const sig = (z: number) => 1 / (1 + Math.exp(-z));
  const pi = (x: number, g: number) => (sig((g * a + a / 2 - x) / s) - sig((g * a - a / 2 - x) / s)) / (sig((1 * a + a / 2 - x) / s) - sig((-2 * a - a / 2 - x) / s));
  const f = (x: number) => pi(x, -1) * -1 * a + pi(x, 0) * 0 * a;
  const xs = [-0.8, -0.4, -0.1, 0.2, 0.45];
  const expected = xs.map((x) => (f(x + 1e-4) - f(x - 1e-4)) / 2e-4);
  const grad = (dropBits: number) => arr(tf.grad((t: tf.Tensor) => tf.sum(relaxedQuantize(t, alpha(), sigma(), opts('srq', { dropBits }))))(tf.tensor(xs)));
  grad(1).forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-3, `x = ${xs[i]}: ${v} vs ${expected[i]}`));
  assert.ok(grad(0).some((v, i) => Math.abs(v - expected[i]) > 0.05), 'without drops the dropped points contribute');
});

test('training-step profile: with the fused kernels an SRQ step needs at most 1.5× the float step\'s memory; nothing leaks', async () => {
  const float = buildModel('lenet5', { seed: 0 });
  const before = tf.memory().numTensors;
  const f = await profileTrainStep(float, 32);
  assert.equal(tf.memory().numTensors, before, 'no tensor left behind');
  const srq = await relaxedModel(float, { method: 'srq', wbits: 2, abits: 2 });
  const s = await profileTrainStep(srq, 32);
  // The tfjs-ops reference (cpu) needed > 3× (per-grid-point tensors); the fused kernels (wasm, native) none of that.
  assert.ok(f.stepBytes > 0 && s.stepBytes <= 1.5 * f.stepBytes, `float ${f.stepBytes} B, srq ${s.stepBytes} B`);
  assert.ok(s.kernels.length > 0 && s.kernels.every((k, i) => i === 0 || k.ms <= s.kernels[i - 1].ms), 'kernel times, largest first');
  await assert.rejects(profileTrainStep(tf.sequential({ layers: [tf.layers.dense({ units: 3, inputShape: [4, 5] })] }), 8), /measured for classifiers/);
  srq.dispose();
  float.dispose();
});
