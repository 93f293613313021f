import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  tf, buildModel, quantizeModel, summary, dorefaModel, isQuantLayer, QuantConv2D, QuantDense, train, subset, DatasetSplits, modelForward,
} from '../src/index.js';
import { loadMnist, saveModelDir, modelDirHandler } from '../src/node.js';

const full = loadMnist();
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const small: DatasetSplits = { ...full, train: subset(full.train, range(320), 784), val: subset(full.val, range(32), 784), test: subset(full.test, range(32), 784) };
const distinct = (t: tf.Tensor) => [...new Set(Array.from(t.dataSync()))].sort((a, b) => a - b);
const tmp = () => mkdtempSync(join(tmpdir(), 'lowbit-layers-'));

test('quantizeModel: DoReFa keeps the first and last layers float and copies every weight', async () => {
  const teacher = buildModel('lenet5', { seed: 3 });
  const q = await dorefaModel(teacher, { wbits: 2, abits: 32 });
  assert.deepEqual(q.layers.filter(isQuantLayer).map((l) => l.name), ['conv2', 'fc1']);
  assert.equal(q.getLayer('conv1').getClassName(), 'Conv2D');
  assert.equal(q.getLayer('fc2').getClassName(), 'Dense');
  for (const l of teacher.layers) {
    l.weights.forEach((w, i) => assert.deepEqual(q.getLayer(l.name).weights[i].read().dataSync(), w.read().dataSync(), `${l.name} weight ${i}`));
  }
  const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 1);
  const same = await quantizeModel(teacher, { kernelQuantizer: null });
  assert.deepEqual((same.predict(x) as tf.Tensor).dataSync(), (teacher.predict(x) as tf.Tensor).dataSync(), 'no quantizer = the float model');
});

test('quantizeModel overrides by name, regular expression and class; bad configs name the culprit', async () => {
  const m = buildModel('lenet5');
  const q = await quantizeModel(m, {
    kernelQuantizer: 'binary', keepFirstAndLastFloat: false,
    overrides: [{ match: /^fc/, kernelQuantizer: 'dorefa4' }, { match: { className: 'Conv2D' }, inputQuantizer: 'dorefa8' }, { match: 'conv1', skip: true }],
  });
  const bits = Object.fromEntries(q.layers.filter(isQuantLayer).map((l) => [l.name, [l.kernelBits, l.inputBits]]));
  assert.deepEqual(bits, { conv2: [1, 8], fc1: [4, 32], fc2: [4, 32] });
  await assert.rejects(quantizeModel(m, { overrides: [{ match: 'conv9', kernelQuantizer: 'binary' }] }),
    /quantization config names layer 'conv9', which matches no layer of lenet5 \(layers: input, conv1/);
  await assert.rejects(quantizeModel(m, { kernelQuantizer: { kind: 'dorefa', bits: 33 } }), /conv2 kernelQuantizer \(dorefa\): bits must be a whole number from 1 to 32, got 33/);
  await assert.rejects(quantizeModel(m, { kernelQuantizer: { kind: 'dorefa', bits: 0 } }), /got 0/);
  await assert.rejects(quantizeModel(m, { kernelQuantizer: { kind: 'magic' } as never }), /unknown quantizer kind "magic"/);
});

test('layers lowbit cannot quantize are all listed in one error, or left float when allowed', async () => {
  const input = tf.input({ shape: [8, 4] });
  const c1 = tf.layers.gru({ units: 3, returnSequences: true, name: 'gru' }).apply(input) as tf.SymbolicTensor;
  const r = tf.layers.simpleRNN({ units: 3, name: 'rnn' }).apply(c1) as tf.SymbolicTensor;
  const d = tf.layers.dense({ units: 2, name: 'out' }).apply(r) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: d });
  await assert.rejects(quantizeModel(m, { kernelQuantizer: 'binary' }), /lowbit cannot quantize gru \(GRU\), rnn \(SimpleRNN\): train the teacher without them \(lowbit quantizes Conv2D, DepthwiseConv2D, Dense, Conv1D, Conv2DTranspose, SeparableConv2D layers\), or, from the library, set allowFloatFallback/);
  const q = await quantizeModel(m, { kernelQuantizer: 'binary', allowFloatFallback: true, keepFirstAndLastFloat: false });
  assert.equal(q.getLayer('gru').getClassName(), 'GRU');
  assert.equal(q.getLayer('out').getClassName(), 'QuantDense');
});

test('a saved, trained quantized model reloads with tf.loadLayersModel; its layers have exactly 2 / 4 / 16 values', async () => {
  const teacher = buildModel('lenet5', { seed: 4 });
  for (const [wbits, levels] of [[1, 2], [2, 4], [4, 16]]) {
    const q = await dorefaModel(teacher, { wbits, abits: 4 });
    await train(q, small, { epochs: 1, batchSize: 32, learningRate: 1e-3, optimizer: { name: 'adam' }, schedule: { name: 'constant' }, weightDecay: 0, seed: 1, maxStepsPerEpoch: 3, skipValidation: true });
    const dir = tmp();
    await saveModelDir(q, dir);
    const loaded = await tf.loadLayersModel(modelDirHandler(dir));
    const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 2);
    assert.deepEqual((loaded.predict(x) as tf.Tensor).dataSync(), (q.predict(x) as tf.Tensor).dataSync(), `W${wbits} predictions after reload`);
    for (const name of ['conv2', 'fc1']) {
      const layer = loaded.getLayer(name) as QuantConv2D | QuantDense;
      assert.deepEqual(layer.kernelQuantizerSpec, { kind: 'dorefa', bits: wbits });
      assert.equal(layer.inputBits, 4);
      const values = distinct(layer.quantizedKernel());
      if (name === 'fc1' || wbits < 4) assert.equal(values.length, levels, `${name} W${wbits}: ${values.length} distinct values`);
      if (wbits === 1) assert.ok(Math.abs(values[0] + values[1]) < 1e-7, 'binary values are ±E');
      else values.forEach((v) => assert.ok(Math.abs((v + 1) * (2 ** wbits - 1) / 2 - Math.round((v + 1) * (2 ** wbits - 1) / 2)) < 1e-4, `${v} on the grid`));
    }
  }
});

test('learned quantizer parameters (LSQ step, PACT α) train, save and reload', async () => {
  const m = buildModel('lenet5', { seed: 5 });
  const q = await quantizeModel(m, { kernelQuantizer: { kind: 'lsq', bits: 4, initStep: 0.02 }, inputQuantizer: { kind: 'pact', bits: 4, initAlpha: 3 } });
  const names = q.getLayer('conv2').weights.map((w) => w.originalName);
  assert.deepEqual(names, ['conv2/kernel', 'conv2/kernel_lsq_step', 'conv2/input_pact_alpha']);
  const before = q.getLayer('conv2').weights[1].read().dataSync()[0];
  await train(q, small, { epochs: 1, batchSize: 32, learningRate: 1e-2, optimizer: { name: 'adam' }, schedule: { name: 'constant' }, weightDecay: 0, seed: 1, maxStepsPerEpoch: 3, skipValidation: true });
  const after = q.getLayer('conv2').weights[1].read().dataSync()[0];
  assert.notEqual(after, before, 'the LSQ step is trained');
  const dir = tmp();
  await saveModelDir(q, dir);
  const loaded = await tf.loadLayersModel(modelDirHandler(dir));
  assert.equal(loaded.getLayer('conv2').weights[1].read().dataSync()[0], after);
});

test('quantized training keeps tf.memory().numTensors flat', async () => {
  const q = await dorefaModel(buildModel('lenet5'), { wbits: 1, abits: 2 });
  const counts: number[] = [];
  await train(q, small, { epochs: 1, batchSize: 32, learningRate: 1e-3, optimizer: { name: 'adam' }, schedule: { name: 'constant' }, weightDecay: 1e-4, seed: 1, maxStepsPerEpoch: 5, skipValidation: true },
    { onStep: () => counts.push(tf.memory().numTensors) });
  assert.ok(counts.every((c) => c === counts[1]), `tensor counts drift: ${counts}`);
});

test('training that throws frees its optimizer and the batch in flight', async () => {
  const q = await dorefaModel(buildModel('lenet5'), { wbits: 1, abits: 2 });
  const forward = modelForward(q);
  const before = tf.memory().numTensors;
  let calls = 0;
  await assert.rejects(train(q, small, {
    epochs: 1, batchSize: 32, learningRate: 1e-3, optimizer: { name: 'adam' }, schedule: { name: 'constant' }, weightDecay: 0, seed: 1,
    maxStepsPerEpoch: 5, skipValidation: true,
    forward: (x, training) => { if (++calls === 3) throw new Error('bad batch'); return forward(x, training); },
  }), /bad batch/);
  assert.equal(calls, 3);
  assert.equal(tf.memory().numTensors, before, 'Adam slots and the failing batch are disposed');
});

test('summary counts bits, bytes and MACs per layer', async () => {
  const q = await dorefaModel(buildModel('lenet5'), { wbits: 1, abits: 32 });
  const s = summary(q);
  const conv2 = s.layers.find((l) => l.name === 'conv2')!;
  assert.equal(conv2.kernelBits, 1);
  assert.equal(conv2.params, 5 * 5 * 20 * 50);
  assert.equal(conv2.bytes, (5 * 5 * 20 * 50) / 8 + 4);
  assert.equal(conv2.macs, 8 * 8 * 5 * 5 * 20 * 50);
  const fc1 = s.layers.find((l) => l.name === 'fc1')!;
  assert.equal(fc1.bytes, (800 * 500) / 8 + 4);
  const conv1 = s.layers.find((l) => l.name === 'conv1')!;
  assert.equal(conv1.bytes, 500 * 4);
  assert.equal(s.totalParams, 432790);
  assert.ok(Math.abs(s.compression - s.floatBytes / s.totalBytes) < 1e-12);
  assert.ok(Math.abs(s.binaryWeightMacShare - (conv2.macs + fc1.macs) / s.totalMacs) < 1e-12);
  assert.equal(s.binaryMacShare, 0);
});
