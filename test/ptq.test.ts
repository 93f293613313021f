/** Post-training quantization: BatchNorm folding, observers, bias correction, the ptq method, export and verify, the CLI. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf, subset, DatasetSplits, runMethod, setBackend, isQuantLayer, getMethod, DEFAULT_TRAIN, LowbitError, buildModel } from '../src/index.js';
import { resolveOptions } from '../src/run/method.js';
import { runRecipe, validateRecipe } from '../src/recipes/run.js';
import { loadMnist, saveModelDir } from '../src/node.js';
import { batchNormFolds, foldBatchNorm } from '../src/layers/batchnorm-fold.js';
import { readRows } from '../src/data/dataset.js';
import {
  ACIQ_LAPLACE, aciqOptimalRatio, aciqThreshold, clipThreshold, minmaxThreshold, mseThreshold, percentileThreshold, postTrainingQuantize, rangeStats,
} from '../src/methods/ptq/index.js';
import { exportOnnx } from '../src/export/onnx-export.js';
import { encodeModel } from '../src/export/onnx-builder.js';
import { packModel, unpackModel } from '../src/export/packed.js';
import { compareRunners, onnxRunner, tfRunner } from '../src/export/verify.js';
import { firstPassOnly, relativeError } from './helpers.js';
import { floatModel } from '../src/layers/float-model.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const recipes = fileURLToPath(new URL('../../recipes/', import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'lowbit-ptq-'));


/** Gives every BatchNorm of `model` seeded, non-trivial γ, β, moving mean and variance. */
function randomizeBatchNorms(model: tf.LayersModel, seed: number): void {
  let s = seed;
  for (const l of model.layers.filter((x) => x.getClassName() === 'BatchNormalization')) {
    l.setWeights(l.weights.map((w) => {
      const name = w.originalName;
      const lo = name.endsWith('variance') ? 0.2 : name.endsWith('gamma') ? 0.5 : -0.5;
      return tf.randomUniform(w.shape as number[], lo, lo + 1, 'float32', s++);
    }));
  }
}

test('BatchNorm folding: functional and Sequential models agree with the unfolded ones to 1e-5 in inference; only foldable BatchNorms go', async () => {
  await setBackend('wasm');
  // Functional: Conv2D (no bias) → BN → ReLU; DepthwiseConv2D → BN; a residual Add; a BN after ReLU (not foldable); Dense → BN → Dense.
  const input = tf.input({ shape: [8, 8, 3] });
  const c1 = tf.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
  const r1 = tf.layers.reLU({ name: 'r1' }).apply(tf.layers.batchNormalization({ name: 'bn1' }).apply(c1)) as tf.SymbolicTensor;
  const d1 = tf.layers.depthwiseConv2d({ name: 'd1', kernelSize: 3, padding: 'same', depthMultiplier: 2 }).apply(r1) as tf.SymbolicTensor;
  const b2 = tf.layers.batchNormalization({ name: 'bn2', epsilon: 1e-5 }).apply(d1) as tf.SymbolicTensor;
  const c2 = tf.layers.conv2d({ name: 'c2', filters: 8, kernelSize: 1 }).apply(r1) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'add' }).apply([b2, c2]) as tf.SymbolicTensor;
  const b3 = tf.layers.batchNormalization({ name: 'bn3' }).apply(tf.layers.reLU({ name: 'r2' }).apply(sum)) as tf.SymbolicTensor;
  const f1 = tf.layers.dense({ name: 'f1', units: 6 }).apply(tf.layers.flatten().apply(b3)) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'f2', units: 5 }).apply(tf.layers.batchNormalization({ name: 'bn4', scale: false }).apply(f1)) as tf.SymbolicTensor;
  const functional = tf.model({ inputs: input, outputs: out });
  // Sequential: Conv2D → BN → ReLU → Flatten → Dense → BN.
  const sequential = tf.sequential({ layers: [
    tf.layers.conv2d({ inputShape: [8, 8, 3], filters: 3, kernelSize: 3, name: 's_conv' }), tf.layers.batchNormalization({ name: 's_bn1' }), tf.layers.reLU(),
    tf.layers.flatten(), tf.layers.dense({ units: 7, name: 's_fc' }), tf.layers.batchNormalization({ name: 's_bn2', center: false }), tf.layers.dense({ units: 3 }),
  ] });
  const x = tf.randomUniform([5, 8, 8, 3], -1, 1, 'float32', 7);
  for (const [model, folded, kept] of [[functional, ['bn1', 'bn2', 'bn4'], ['bn3']], [sequential, ['s_bn1', 's_bn2'], []]] as const) {
    randomizeBatchNorms(model, 3);
    assert.deepEqual(batchNormFolds(model).map((f) => f.batchNorm), folded);
    const { model: f, folds } = await foldBatchNorm(model);
    assert.deepEqual(folds.map((fold) => fold.batchNorm), folded);
    assert.deepEqual(f.layers.filter((l) => l.getClassName() === 'BatchNormalization').map((l) => l.name), kept);
    const want = tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync());
    const got = tf.tidy(() => (f.predict(x) as tf.Tensor).dataSync());
    const err = relativeError(got, want);
    assert.ok(err < 1e-5, `${model.name}: folded vs unfolded relative error ${err}`);
    // The exporter folds the same BatchNorms: its float graph has only the unfoldable ones.
    const onnx = exportOnnx(model, 'float').model;
    assert.equal(onnx.graph!.node!.filter((n) => n.opType === 'BatchNormalization').length, kept.length);
    f.dispose();
  }
  tf.dispose(x);
  functional.dispose();
  sequential.dispose();
});

test('observers on hand-computed inputs: minmax, percentile, mse, aciq', { skip: firstPassOnly }, () => {
  const s = (v: number[]) => rangeStats(Float32Array.from(v));
  // minmax: max|x| signed, max x unsigned.
  assert.equal(minmaxThreshold(s([-3, 1, 2]), true), 3);
  assert.equal(minmaxThreshold(s([0, 1, 2]), false), 2);
  // percentile, nearest rank ⌈p/100·n⌉: 1…100 at 90 → the 90th value; 99.5 → the 100th; |x| of [−5, 1, 2, 3, 4] at 80 → 4th of 1,2,3,4,5.
  const hundred = s(Array.from({ length: 100 }, (_, i) => i + 1));
  assert.equal(percentileThreshold(hundred, false, 90), 90);
  assert.equal(percentileThreshold(hundred, false, 99.5), 100);
  assert.equal(percentileThreshold(s([-5, 1, 2, 3, 4]), true, 80), 4);
  assert.equal(clipThreshold('percentile', s([-5, 1, 2, 3, 4]), { bits: 8, signed: true, percentile: 100 }), 5);
  // mse: thirty 1s and one 4 on a 2-bit unsigned grid (q_max 3), candidates α = 1, 2, 3, 4:
  // errors 9 (4 → 1), 30/9 + 4 (1 → 4/3, 4 → 2), 1 (4 → 3), 30/9 (1 → 4/3) → α = 3.
  const ones = s([...new Array(30).fill(1), 4]);
  assert.equal(mseThreshold(ones, { bits: 2, signed: false }, 4), 3);
  // aciq, Laplace, signed: b = mean|x − mean| = 24/10 = 2.4, 2 bits → 2.83·2.4.
  const lap = s([-1, -1, -1, -1, 1, 1, 1, 1, -8, 8]);
  assert.ok(Math.abs(aciqThreshold(lap, { bits: 2, signed: true }) - 2.83 * 2.4) < 1e-9);
  // aciq, unsigned (one tail): b = mean of the positive values = 28/9, 2 bits → the 3-bit constant 3.89.
  const relu = s([0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 20]);
  assert.ok(Math.abs(aciqThreshold(relu, { bits: 2, signed: false }) - (3.89 * 28) / 9) < 1e-9);
  // capped at the minmax threshold: 8 bits → 9.89·2.4 > 8.
  assert.equal(aciqThreshold(lap, { bits: 8, signed: true }), 8);
  // The paper's Laplace constants are the minimum of its error model; the Gaussian prior's (solved here) match ACIQ's 1.71/2.15/2.56/3.92.
  for (const [bits, ratio] of Object.entries(ACIQ_LAPLACE)) assert.ok(Math.abs(aciqOptimalRatio('laplace', Number(bits)) - ratio) < 0.01, `laplace ${bits} bits`);
  for (const [bits, ratio] of [[2, 1.71], [3, 2.15], [4, 2.56], [8, 3.92]]) assert.ok(Math.abs(aciqOptimalRatio('gaussian', bits) - ratio) < 0.015, `gaussian ${bits} bits: ${aciqOptimalRatio('gaussian', bits)}`);
});

/** A dataset of random 4×4×1 images. */
function randomData(n: number): DatasetSplits {
  const images = Float32Array.from({ length: n * 16 }, (_, i) => ((i * 7919) % 101) / 100);
  const set = { images, labels: Uint8Array.from({ length: n }, (_, i) => i % 3), count: n };
  return { name: 'random', shape: [4, 4, 1], numClasses: 3, train: set, val: set, test: set, description: 'random' };
}

test('bias correction: the mean output shift of 2-bit weights over the calibration images is removed, per channel', { skip: firstPassOnly }, async () => {
  await setBackend('wasm');
  const data = randomData(48);
  const teacher = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [4, 4, 1] }), tf.layers.dense({ units: 3, useBias: false, kernelInitializer: tf.initializers.randomNormal({ seed: 5 }) })] });
  const x = tf.tensor(data.train.images as Float32Array, [48, 4, 4, 1]);
  const meanShift = (m: tf.LayersModel) => tf.tidy(() => Array.from(tf.mean(tf.sub(m.predict(x) as tf.Tensor, teacher.predict(x) as tf.Tensor), 0).dataSync()));
  const plain = await postTrainingQuantize(teacher, data, { wbits: 2, abits: 32, calibration: 48 });
  const corrected = await postTrainingQuantize(teacher, data, { wbits: 2, abits: 32, calibration: 48, biasCorrection: true });
  assert.ok(meanShift(plain.model).some((v) => Math.abs(v) > 1e-2), `2-bit weights shift the outputs: ${meanShift(plain.model)}`);
  for (const v of meanShift(corrected.model)) assert.ok(Math.abs(v) < 1e-5, `corrected mean shift ${v}`);
  assert.ok(corrected.report.layers[0].biasShift! > 1e-2);
  tf.dispose(x);
  [teacher, plain.model, corrected.model].forEach((m) => m.dispose());
});

const mnist = loadMnist();
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const tiny: DatasetSplits = { ...mnist, train: subset(mnist.train, range(256), 784), val: subset(mnist.val, range(64), 784), test: subset(mnist.test, range(64), 784) };

test('ptq of a trained lenet5: an ordinary quantized model, deterministic, exported (QDQ, QDQ4, QONNX) and verified in onnxruntime', { skip: firstPassOnly }, async () => {
  await setBackend('wasm');
  const teacher = await runMethod('float', { model: 'lenet5' }, { data: tiny, train: { epochs: 1, batchSize: 32, maxStepsPerEpoch: 4 } });
  const options = { wbits: 8, abits: 8, perChannel: true, observer: 'mse', calibration: 128, biasCorrection: true };
  const a = await runMethod('ptq', options, { data: tiny, teacher: teacher.model });
  const b = await runMethod('ptq', options, { data: tiny, teacher: teacher.model });
  assert.equal(a.record.method, 'ptq');
  assert.equal(a.record.kind, 'quantized');
  assert.deepEqual(a.record.ptq!.folded, ['bn1 → conv1', 'bn2 → conv2', 'bn3 → fc1']);
  assert.deepEqual(a.model.layers.filter(isQuantLayer).map((l) => l.name), ['conv1', 'conv2', 'fc1', 'fc2']);
  assert.ok(!a.model.layers.some((l) => l.getClassName() === 'BatchNormalization'));
  // Deterministic: the same weights and thresholds from the same calibration set and seed.
  assert.deepEqual(a.record.ptq, b.record.ptq);
  a.model.weights.forEach((w, i) => assert.deepEqual(w.read().dataSync(), b.model.weights[i].read().dataSync(), w.name));
  // W8A8 stays close to the float teacher (the teacher's own test accuracy, ± 2 images of 64).
  assert.ok(Math.abs(a.record.test.accuracy - teacher.record.test.accuracy) <= 2 / 64, `${a.record.test.accuracy} vs ${teacher.record.test.accuracy}`);
  const dir = tmp();
  for (const [target, opts] of [['qdq', options], ['qdq4', { wbits: 4, abits: 4, observer: 'aciq' }], ['qonnx', { wbits: 4, abits: 8, observer: 'percentile', weightObserver: 'mse' }]] as const) {
    const r = target === 'qdq' ? a : await runMethod('ptq', opts, { data: tiny, teacher: teacher.model });
    const { model, notes } = exportOnnx(r.model, target);
    if (target === 'qdq') assert.ok(notes.some((n) => /conv2: 8-bit uniform weights stored as int8 codes, one scale per output channel/.test(n)), notes.join('\n'));
    if (target === 'qdq4') assert.ok(notes.some((n) => /conv2: 4-bit uniform weights stored as int4 codes/.test(n)), notes.join('\n'));
    assert.ok(!notes.some((n) => /standard float ops|float32/.test(n)), `${target}: every quantizer exported on its grid: ${notes.join('\n')}`);
    const path = join(dir, `${target}.onnx`);
    writeFileSync(path, encodeModel(model));
    const agreement = await compareRunners(await onnxRunner(path), tfRunner(r.model), tiny, 64);
    assert.ok(agreement.top1Agreement >= 63 / 64, `${target}: top-1 agreement ${agreement.top1Agreement}`);
    // An activation level rounding the other way moves logits by ~0.1 (verify's default bound is 0.5).
    assert.ok(agreement.maxAbsDelta < 0.5, `${target}: max |Δ| ${agreement.maxAbsDelta}`);
    if (r !== a) r.model.dispose();
  }
  // The packed format stores the 8-bit codes and reloads to the same logits.
  const { manifest, data } = packModel(a.model);
  const unpacked = await unpackModel(manifest, data);
  const x = tf.tensor(readRows(tiny.test.images, 0, 16 * 784), [16, 28, 28, 1]);
  const [want, got] = tf.tidy(() => [(a.model.predict(x) as tf.Tensor).dataSync(), (unpacked.predict(x) as tf.Tensor).dataSync()]);
  assert.ok(relativeError(got, want) < 1e-5, `packed: ${relativeError(got, want)}`);
  tf.dispose(x);
  [a.model, b.model, teacher.model, unpacked].forEach((m) => m.dispose());
});

test('lowbit quantize --method ptq: runs, then summary, export (qdq) and verify accept the result; bad flag values exit 2 with one line', { skip: firstPassOnly }, async () => {
  await setBackend('wasm');
  const dir = tmp();
  const teacherDir = join(dir, 'teacher');
  mkdirSync(teacherDir);
  const teacher = await runMethod('float', { model: 'lenet5' }, { data: tiny, train: { epochs: 1, batchSize: 32, maxStepsPerEpoch: 2 } });
  await saveModelDir(teacher.model, teacherDir);
  writeFileSync(join(teacherDir, 'lowbit.json'), JSON.stringify(teacher.record));
  teacher.model.dispose();
  const lowbit = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const base = ['quantize', '--method', 'ptq', '--teacher', teacherDir, '--dataset', 'mnist', '--backend', 'wasm', '--quiet'];
  // Bad values: the CLI prints one line and exits 2 with nothing written (two rows); the library throws the same messages (the rest).
  for (const [flags, message] of [
    [['--observer', 'kl'], /--observer must be one of minmax, percentile, mse, aciq, got 'kl'/],
    [['--wbits', '1'], /--wbits must be a whole number from 2 to 16, or 32 \(float\) for ptq, got 1/],
  ] as Array<[string[], RegExp]>) {
    const out = join(dir, 'bad');
    const r = lowbit(...base, ...flags, '--out', out);
    assert.equal(r.status, 2, `${flags.join(' ')}: exit ${r.status} ${r.stderr}`);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0], message);
    assert.equal(existsSync(out), false, 'nothing written');
  }
  const ptq = getMethod('ptq');
  for (const [raw, message] of [
    [{ abits: '40' }, /--abits must be a whole number from 2 to 16, or 32 \(float\) for ptq, got 40/],
    [{ percentile: '101' }, /--percentile must be in \(0, 100\]/],
    [{ calibration: '0' }, /--calibration must be a whole number ≥ 1, got '0'/],
    [{ wbits: 32, 'bias-correction': true }, /--bias-correction .* needs --wbits below 32/],
    [{ 'aciq-prior': 'cauchy' }, /--aciq-prior must be one of laplace, gaussian/],
  ] as Array<[Record<string, unknown>, RegExp]>) {
    assert.throws(() => resolveOptions(ptq, raw, { train: DEFAULT_TRAIN }), (e: Error) => e instanceof LowbitError && message.test(e.message));
  }
  const out = join(dir, 'ptq');
  const r = lowbit(...base, '--wbits', '4', '--abits', '8', '--per-channel', '--observer', 'aciq', '--calibration', '64', '--bias-correction', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const record = JSON.parse(readFileSync(join(out, 'lowbit.json'), 'utf8'));
  assert.equal(record.method, 'ptq');
  assert.deepEqual(record.options, { wbits: 4, abits: 8, perChannel: true, calibration: 64, observer: 'aciq', weightObserver: 'minmax', percentile: 99.99, aciqPrior: 'laplace', biasCorrection: true, keepFirstAndLastFloat: false, bitAllocation: false, asymmetric: false });
  assert.equal(record.ptq.calibrationImages, 64);
  const summary = lowbit('summary', out);
  assert.equal(summary.status, 0, summary.stderr);
  assert.match(summary.stdout, /conv2/);
  const exported = lowbit('export', out, '--format', 'qdq');
  assert.equal(exported.status, 0, exported.stderr);
  const verified = lowbit('verify', out, '--format', 'qdq', '--images', '64', '--backend', 'wasm');
  assert.equal(verified.status, 0, verified.stderr + verified.stdout);
  // recipes/ptq-fashion-mnist.json validates; a tiny version of it (MNIST, this teacher, one bit pair per row, 32 calibration images) runs.
  const real = validateRecipe(JSON.parse(readFileSync(join(recipes, 'ptq-fashion-mnist.json'), 'utf8')), 'ptq-fashion-mnist.json');
  const ptqRows = real.runs.filter((r) => r.method === 'ptq');
  assert.deepEqual(ptqRows.map((r) => r.options?.observer), ['minmax', 'minmax', 'mse', 'aciq', 'aciq']);
  const small = join(dir, 'ptq-tiny.json');
  writeFileSync(small, JSON.stringify({ ...real, name: 'ptq-tiny', dataset: 'mnist', backend: 'wasm', teacher: { dir: teacherDir },
    runs: ptqRows.slice(2, 4).map((r) => ({ ...r, bits: [r.bits![r.bits!.length - 1]], options: { ...r.options, calibration: 32 } })) }));
  await runRecipe(small, { out: join(dir, 'recipe'), quiet: true });
  const results = JSON.parse(readFileSync(join(dir, 'recipe', 'results.json'), 'utf8')) as { runs: Array<{ id: string; testAccuracy: number; command: string }> };
  const ptqRuns = results.runs.filter((r) => r.command.includes('--method ptq'));
  assert.equal(ptqRuns.length, 2, results.runs.map((r) => r.command).join('\n'));
  assert.match(ptqRuns[0].command, /^lowbit quantize --method ptq --wbits 4 --abits 4 .*--observer mse/);
  for (const r of ptqRuns) assert.ok(r.testAccuracy >= 0 && r.testAccuracy <= 1, r.id);
});

test('a PTQ model as the teacher of a QAT method: ste starts from its float weights (BatchNorms folded), and the record names the teacher and its quantized layers', { skip: firstPassOnly }, async () => {
  await setBackend('wasm');
  const train = { epochs: 1, batchSize: 32, maxStepsPerEpoch: 2 };
  const teacher = await runMethod('float', { model: 'lenet5' }, { data: tiny, train });
  randomizeBatchNorms(teacher.model, 7); // folding then changes the kernels by factors 0.45…3.3
  const ptq = await runMethod('ptq', { wbits: 4, abits: 4, calibration: 64 }, { data: tiny, teacher: teacher.model });
  // The float model inside the PTQ model is the BatchNorm-folded teacher: same logits to 1e-5.
  const inner = (await floatModel(ptq.model))!;
  assert.deepEqual(inner.layers, ['conv1', 'conv2', 'fc1', 'fc2']);
  assert.ok(!inner.model.layers.some(isQuantLayer));
  assert.deepEqual(inner.model.layers.filter((l) => ['conv1', 'fc2'].includes(l.name)).map((l) => l.getClassName()), ['Conv2D', 'Dense']);
  const folded = await foldBatchNorm(teacher.model);
  const x = tf.tensor(readRows(tiny.test.images, 0, 16 * 784), [16, 28, 28, 1]);
  const [got, want] = tf.tidy(() => [(inner.model.predict(x) as tf.Tensor).dataSync(), (folded.model.predict(x) as tf.Tensor).dataSync()]);
  assert.ok(relativeError(got, want) < 1e-5, `float copy vs folded teacher: ${relativeError(got, want)}`);
  assert.equal(await floatModel(teacher.model), null, 'a float model has no float copy to make');
  // ste W4A4 from the PTQ model, 2 steps: its kernels start at the PTQ model's folded ones, not the unfolded teacher's.
  const ste = await runMethod('ste', { wbits: 4, abits: 4 }, { data: tiny, teacher: ptq.model, teacherDir: 'runs/ptq-w4a4', train });
  assert.equal(ste.record.method, 'ste');
  assert.equal(ste.record.teacher, 'runs/ptq-w4a4');
  assert.deepEqual(ste.record.teacherQuantizedLayers, ['conv1', 'conv2', 'fc1', 'fc2']);
  assert.deepEqual(ste.model.layers.filter(isQuantLayer).map((l) => l.name), ['conv1', 'conv2', 'fc1', 'fc2']);
  const kernel = (m: tf.LayersModel) => m.getLayer('conv2').weights[0].read().dataSync();
  const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
  assert.ok(maxDiff(kernel(ste.model), kernel(ptq.model)) < 0.01, `ste conv2 vs ptq conv2: ${maxDiff(kernel(ste.model), kernel(ptq.model))}`);
  assert.ok(maxDiff(kernel(ste.model), kernel(teacher.model)) > 0.05, `ste conv2 vs the unfolded teacher: ${maxDiff(kernel(ste.model), kernel(teacher.model))}`);
  tf.dispose(x);
  [teacher.model, ptq.model, inner.model, folded.model, ste.model].forEach((m) => m.dispose());
});

test('ptq and ste of a model whose layers share an input (mobilenet-tiny branches): both branches calibrate on the same activation and get the same range', { skip: firstPassOnly }, async () => {
  await setBackend('wasm');
  const teacher = buildModel('mobilenet-tiny', { seed: 2 });
  const shared = teacher.layers.filter((l) => l.inboundNodes.length === 1)
    .map((l) => ({ name: l.name, input: l.input as tf.SymbolicTensor }))
    .filter((a, _, all) => all.some((b) => b.name !== a.name && b.input === a.input));
  assert.ok(shared.length >= 2, 'mobilenet-tiny has layers reading one tensor');
  const { model, report } = await postTrainingQuantize(teacher, tiny, { wbits: 8, abits: 8, calibration: 64 });
  const byName = new Map(report.layers.map((l) => [l.name, l]));
  const pairs = shared.filter((a) => byName.get(a.name)?.threshold != null);
  assert.ok(pairs.length >= 2, `quantized layers with a shared input: ${pairs.map((p) => p.name)}`);
  for (const a of pairs) for (const b of pairs) {
    if (a.input === b.input) assert.equal(byName.get(a.name)!.threshold, byName.get(b.name)!.threshold, `${a.name} and ${b.name} share an input`);
  }
  // QAT from the same teacher: STE's activation-step initialisation probes the same shared inputs.
  const ste = await runMethod('ste', { wbits: 4, abits: 4 }, { data: tiny, teacher, train: { epochs: 1, batchSize: 32, maxStepsPerEpoch: 1 } });
  assert.equal(ste.record.method, 'ste');
  ste.model.dispose();
  model.dispose();
  teacher.dispose();
});
