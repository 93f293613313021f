/**
 * The user's own model (docs/models.md): models built here with plain tfjs-layers (not lowbit's
 * builders) — SeparableConv2D, Conv1D, Conv2DTranspose, a functional residual add, softmax
 * outputs — quantized, run, differentiated, saved and reloaded, exported, and used as --teacher.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { tf, quantizeModel, isQuantLayer, summary, QuantDepthwiseConv2D, QuantConv2D, LowbitError } from '../src/index.js';
import { loadModelDir, runInDir, saveModelDir } from '../src/node.js';
import { logitsModel } from '../src/models/logits.js';
import { exportOnnx } from '../src/export/onnx-export.js';
import { encodeModel } from '../src/export/onnx-builder.js';
import { lowerQonnx } from '../src/export/qonnx-lower.js';
import { firstPassOnly } from './helpers.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
/** Runs the CLI (asynchronously, so rows run side by side). */
function lowbit(args: string[]): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stderr }));
  });
}
const tmp = () => mkdtempSync(join(tmpdir(), 'lowbit-user-'));
const init = (seed: number) => tf.initializers.glorotUniform({ seed });
const bias = (seed: number) => tf.initializers.randomUniform({ minval: -0.3, maxval: 0.3, seed });
const distinct = (t: tf.Tensor) => [...new Set(Array.from(t.dataSync()))].sort((a, b) => a - b);
/** ≈ identity: a 32-bit integer grid with its step from max |x|. */
const identity = { kind: 'uniform', bits: 32 } as const;

/** 28×28×1 → SeparableConv2D (depth multiplier 2, stride 2, ReLU) → SeparableConv2D → pool → Dense(10). */
function separableModel(): tf.Sequential {
  const m = tf.sequential({ name: 'sepnet' });
  m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 3, kernelSize: 3, strides: 2, activation: 'relu', name: 'stem', kernelInitializer: init(1) }));
  m.add(tf.layers.separableConv2d({ filters: 6, kernelSize: 3, depthMultiplier: 2, strides: 2, padding: 'same', activation: 'relu', name: 'sep1',
    depthwiseInitializer: init(2), pointwiseInitializer: init(3), biasInitializer: bias(4) }));
  m.add(tf.layers.separableConv2d({ filters: 8, kernelSize: 3, padding: 'valid', name: 'sep2', depthwiseInitializer: init(5), pointwiseInitializer: init(6), biasInitializer: bias(7) }));
  m.add(tf.layers.globalAveragePooling2d({ name: 'gap' }));
  m.add(tf.layers.dense({ units: 10, name: 'head', kernelInitializer: init(8) }));
  return m;
}

/** 28×28×1 read as 28 steps of 28 features → Conv1D → Conv1D (same, stride 2) → Conv1D → Dense(10) (no dilation: TF.js has no gradient for dilated convs). */
function conv1dModel(): tf.Sequential {
  const m = tf.sequential({ name: 'conv1dnet' });
  m.add(tf.layers.reshape({ inputShape: [28, 28, 1], targetShape: [28, 28], name: 'rows' }));
  m.add(tf.layers.conv1d({ filters: 6, kernelSize: 3, activation: 'relu', name: 'c1', kernelInitializer: init(11), biasInitializer: bias(12) }));
  m.add(tf.layers.conv1d({ filters: 4, kernelSize: 5, strides: 2, padding: 'same', activation: 'relu', name: 'c2', kernelInitializer: init(13), biasInitializer: bias(14) }));
  m.add(tf.layers.conv1d({ filters: 4, kernelSize: 3, name: 'c3', kernelInitializer: init(15), biasInitializer: bias(16) }));
  m.add(tf.layers.flatten({ name: 'flat' }));
  m.add(tf.layers.dense({ units: 10, name: 'head', kernelInitializer: init(17) }));
  return m;
}

/** Conv2D stride 2 → Conv2DTranspose (same and valid) → Dense(10). */
function transposeModel(): tf.Sequential {
  const m = tf.sequential({ name: 'deconvnet' });
  // (Stride 2 and a pool, not stride 4: tfjs-backend-wasm's conv2d gives zeros for stride 4 'same' on 28×28.)
  m.add(tf.layers.conv2d({ inputShape: [28, 28, 1], filters: 4, kernelSize: 3, strides: 2, padding: 'same', name: 'down', kernelInitializer: init(21) }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool' }));
  m.add(tf.layers.conv2dTranspose({ filters: 3, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'up1', kernelInitializer: init(22), biasInitializer: bias(23) }));
  m.add(tf.layers.conv2dTranspose({ filters: 2, kernelSize: 3, strides: 2, padding: 'valid', name: 'up2', kernelInitializer: init(24), biasInitializer: bias(25) }));
  m.add(tf.layers.flatten({ name: 'flat' }));
  m.add(tf.layers.dense({ units: 10, name: 'head', kernelInitializer: init(26) }));
  return m;
}

/** A functional model with a residual add around two convs and a separable block, ending in `end`. */
function residualModel(end: 'logits' | 'softmax-layer' | 'softmax-dense' = 'logits'): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1], name: 'image' });
  const stem = tf.layers.conv2d({ filters: 4, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'stem', kernelInitializer: init(31) }).apply(input) as tf.SymbolicTensor;
  const a = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', activation: 'relu', name: 'res_a', kernelInitializer: init(32), biasInitializer: bias(33) }).apply(stem) as tf.SymbolicTensor;
  const b = tf.layers.separableConv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'res_b', depthwiseInitializer: init(34), pointwiseInitializer: init(35), biasInitializer: bias(36) }).apply(a) as tf.SymbolicTensor;
  const sum = tf.layers.add({ name: 'res_add' }).apply([stem, b]) as tf.SymbolicTensor;
  const act = tf.layers.reLU({ name: 'res_relu' }).apply(sum) as tf.SymbolicTensor;
  const pooled = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(act) as tf.SymbolicTensor;
  const logits = tf.layers.dense({ units: 10, name: 'head', activation: end === 'softmax-dense' ? 'softmax' : 'linear', kernelInitializer: init(37) }).apply(pooled) as tf.SymbolicTensor;
  const out = end === 'softmax-layer' ? tf.layers.activation({ activation: 'softmax', name: 'probs' }).apply(logits) as tf.SymbolicTensor : logits;
  return tf.model({ inputs: input, outputs: out, name: 'resnet' });
}

const x = () => tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 5);

function assertSamePredictions(a: tf.LayersModel, b: tf.LayersModel, what: string, tol: number): void {
  const input = x();
  const [ya, yb] = [a.predict(input) as tf.Tensor, b.predict(input) as tf.Tensor];
  assert.deepEqual(ya.shape, yb.shape, `${what}: output shapes`);
  const va = ya.dataSync();
  const vb = yb.dataSync();
  const scale = Math.max(...Array.from(vb, Math.abs));
  const diff = Math.max(...Array.from(va, (v, i) => Math.abs(v - vb[i])));
  assert.ok(diff / scale <= tol, `${what}: max relative difference ${diff / scale} > ${tol}`);
  tf.dispose([input, ya, yb]);
}

/** Every trainable weight of `model` gets a finite gradient, and every quantized kernel a non-zero one. */
function assertGradientsFlow(model: tf.LayersModel, what: string): void {
  const input = x();
  const y = tf.oneHot(tf.tensor1d([1, 4, 7], 'int32'), 10);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { grads, value } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(input, { training: true }) as tf.Tensor) as tf.Scalar, vars);
  for (const layer of model.layers.filter(isQuantLayer)) {
    const g = grads[(layer.latentKernel.read() as tf.Variable).name];
    assert.ok(g != null, `${what}: ${layer.name} kernel has a gradient`);
    const v = g.dataSync();
    assert.ok(v.every(Number.isFinite), `${what}: ${layer.name} gradient is finite`);
    assert.ok(v.some((e) => e !== 0), `${what}: ${layer.name} kernel gradient is not all zero`);
  }
  tf.dispose([input, y, value, ...Object.values(grads)]);
}

async function assertRoundTrip(model: tf.LayersModel, what: string): Promise<void> {
  const dir = tmp();
  await saveModelDir(model, dir);
  const loaded = await loadModelDir(dir);
  assert.deepEqual(loaded.layers.map((l) => l.getClassName()), model.layers.map((l) => l.getClassName()), `${what}: layer classes after reload`);
  assertSamePredictions(loaded, model, `${what} after reload`, 0);
  loaded.dispose();
}

test('SeparableConv2D becomes a QuantDepthwiseConv2D and a 1×1 QuantConv2D, each with its own 1-bit kernel', async () => {
  const m = separableModel();
  const q = await quantizeModel(m, { kernelQuantizer: 'binary', inputQuantizer: null, keepFirstAndLastFloat: false });
  assert.deepEqual(q.layers.map((l) => `${l.name}:${l.getClassName()}`), [
    'stem:QuantConv2D', 'sep1_depthwise:QuantDepthwiseConv2D', 'sep1:QuantConv2D', 'sep2_depthwise:QuantDepthwiseConv2D', 'sep2:QuantConv2D', 'gap:GlobalAveragePooling2D', 'head:QuantDense',
  ]);
  const dw = q.getLayer('sep1_depthwise') as QuantDepthwiseConv2D;
  const pw = q.getLayer('sep1') as QuantConv2D;
  assert.deepEqual([dw.strides, dw.depthMultiplier, dw.padding, pw.kernelSize, pw.strides], [[2, 2], 2, 'same', [1, 1], [1, 1]]);
  assert.deepEqual(dw.latentKernel.shape, [3, 3, 3, 2]);
  assert.deepEqual(pw.latentKernel.shape, [1, 1, 6, 6]);
  // Weights copied: the float halves are exactly the SeparableConv2D's.
  const [depthwise, pointwise, b] = m.getLayer('sep1').getWeights();
  assert.deepEqual(dw.latentKernel.read().dataSync(), depthwise.dataSync());
  assert.deepEqual(pw.latentKernel.read().dataSync(), pointwise.dataSync());
  assert.deepEqual(pw.getWeights()[1].dataSync(), b.dataSync());
  // 1 bit: exactly two values ±E per kernel, E = mean |w| of that kernel.
  for (const layer of q.layers.filter(isQuantLayer)) {
    const values = distinct(layer.quantizedKernel());
    const e = tf.tidy(() => tf.mean(tf.abs(layer.latentKernel.read())).dataSync()[0]);
    assert.equal(values.length, 2, `${layer.name}: two kernel values`);
    assert.ok(Math.abs(values[0] + e) < 1e-6 && Math.abs(values[1] - e) < 1e-6, `${layer.name}: values ${values} are ±${e}`);
  }
  assert.equal(summary(q).layers.find((l) => l.name === 'sep1')!.kernelBits, 1);
  // At ≈32 bits the quantized model computes the float one.
  const same = await quantizeModel(m, { kernelQuantizer: identity, inputQuantizer: identity, keepFirstAndLastFloat: false });
  assertSamePredictions(same, m, 'separable at 32 bits', 1e-5);
  assertGradientsFlow(q, 'separable 1-bit');
  await assertRoundTrip(q, 'separable 1-bit');
  // Kept float at the ends: a SeparableConv2D stays one layer.
  const ends = await quantizeModel(m, { kernelQuantizer: 'binary' });
  assert.deepEqual(ends.layers.map((l) => l.getClassName()), ['Conv2D', 'QuantDepthwiseConv2D', 'QuantConv2D', 'QuantDepthwiseConv2D', 'QuantConv2D', 'GlobalAveragePooling2D', 'Dense']);
  for (const model of [m, q, same, ends]) model.dispose();
});

test('Conv1D (strided, same and valid) becomes QuantConv1D: 2-bit kernels on 4 levels, 32 bits = float, gradients, reload', async () => {
  const m = conv1dModel();
  const q = await quantizeModel(m, { kernelQuantizer: { kind: 'uniform', bits: 2 }, inputQuantizer: 'pact4', keepFirstAndLastFloat: false,
    overrides: [{ match: 'head', inputQuantizer: null }] });
  assert.deepEqual(q.layers.filter(isQuantLayer).map((l) => `${l.name}:${l.getClassName()}`), ['c1:QuantConv1D', 'c2:QuantConv1D', 'c3:QuantConv1D', 'head:QuantDense']);
  assert.deepEqual(q.getLayer('c2').outputShape, m.getLayer('c2').outputShape);
  assert.deepEqual(q.getLayer('c3').outputShape, [null, 11, 4]);
  for (const layer of q.layers.filter(isQuantLayer)) {
    const values = distinct(layer.quantizedKernel());
    assert.ok(values.length <= 4 && values.length >= 3, `${layer.name}: ${values.length} kernel values on the 2-bit grid`);
    const step = values[1] - values[0];
    values.forEach((v) => assert.ok(Math.abs(v / step - Math.round(v / step)) < 1e-4, `${layer.name}: ${v} on the grid of step ${step}`));
  }
  const same = await quantizeModel(m, { kernelQuantizer: identity, inputQuantizer: identity, keepFirstAndLastFloat: false });
  assertSamePredictions(same, m, 'conv1d at 32 bits', 1e-5);
  assertGradientsFlow(q, 'conv1d 2-bit');
  await assertRoundTrip(q, 'conv1d 2-bit');
  for (const model of [m, q, same]) model.dispose();
});

/** Sequences [24, 5] → Conv1D (valid) → BatchNorm → Conv1D (same, dilation 2) → MaxPooling1D → Conv1D (same, stride 2) → GlobalAveragePooling1D → Dense. */
function sequenceModel(): tf.Sequential {
  const m = tf.sequential({ name: 'seqnet' });
  m.add(tf.layers.conv1d({ inputShape: [24, 5], filters: 6, kernelSize: 3, activation: 'relu', name: 's1', kernelInitializer: init(31), biasInitializer: bias(32) }));
  m.add(tf.layers.batchNormalization({ name: 'sbn', movingMeanInitializer: tf.initializers.constant({ value: 0.1 }), movingVarianceInitializer: tf.initializers.constant({ value: 2 }) }));
  m.add(tf.layers.conv1d({ filters: 5, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'relu', name: 's2', kernelInitializer: init(33), biasInitializer: bias(34) }));
  m.add(tf.layers.maxPooling1d({ poolSize: 2, name: 'spool' }));
  m.add(tf.layers.conv1d({ filters: 4, kernelSize: 4, strides: 2, padding: 'same', name: 's3', kernelInitializer: init(35), biasInitializer: bias(36) }));
  m.add(tf.layers.globalAveragePooling1d({ name: 'sgap' }));
  m.add(tf.layers.dense({ units: 3, name: 'shead', kernelInitializer: init(37) }));
  return m;
}

test('Conv1D exports to ONNX (a Conv with a 1-D kernel, float and quantized: float, QDQ, QDQ4, QONNX) and onnxruntime agrees with TF.js', async () => {
  const images = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 5);
  const sequences = tf.randomUniform([4, 24, 5], -1, 1, 'float32', 6);
  const run = async (model: tf.LayersModel, target: 'float' | 'qdq' | 'qdq4' | 'qonnx', input: tf.Tensor) => {
    const { model: om, notes } = exportOnnx(model, target);
    const conv = (om.graph!.node ?? []).find((n) => n.name === 'c2' || n.name === 's2')!;
    assert.deepEqual(conv.attribute!.find((a) => a.name === 'kernel_shape')!.ints!.map(Number), [conv.name === 'c2' ? 5 : 3], 'a Conv with a 1-D kernel');
    // Optimizations off: ORT's graph rewrites around QuantizeLinear change some activation roundings; this checks the graph's own semantics.
    const s = await ort.InferenceSession.create(encodeModel(target === 'qonnx' ? lowerQonnx(om) : om), { logSeverityLevel: 3, graphOptimizationLevel: 'disabled' });
    const out = (await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', input.dataSync() as Float32Array, input.shape) }))[s.outputNames[0]].data as Float32Array;
    const ref = (model.predict(input) as tf.Tensor).dataSync();
    const scale = Math.max(...Array.from(ref, Math.abs));
    return { err: Math.max(...Array.from(out, (v, i) => Math.abs(v - ref[i]))) / scale, notes };
  };
  for (const [build, input] of [[conv1dModel, images], [sequenceModel, sequences]] as const) {
    const m = build();
    const float = await run(m, 'float', input);
    assert.ok(float.err < 1e-5, `${m.name} float: ${float.err}`);
    // Quantized: per-channel 4-bit kernels (int4 in QDQ4, per axis 0: ONNX's [filters, C, k]) and 8-bit inputs; 2-bit kernels and PACT inputs.
    const w4a8 = await quantizeModel(m, { kernelQuantizer: { kind: 'uniform', bits: 4, narrow: true, scale: 'max', axis: -1 }, inputQuantizer: { kind: 'uniform', bits: 8, scale: 0.02 }, keepFirstAndLastFloat: false });
    const w2 = await quantizeModel(m, { kernelQuantizer: { kind: 'uniform', bits: 2 }, inputQuantizer: 'pact4', keepFirstAndLastFloat: false, overrides: [{ match: /head/, inputQuantizer: null }] });
    for (const [label, q, targets] of [['W4A8 per channel', w4a8, ['float', 'qdq', 'qdq4', 'qonnx']], ['W2 PACT4', w2, ['float', 'qdq', 'qonnx']]] as const) {
      for (const target of targets) {
        const { err, notes } = await run(q, target, input);
        assert.ok(err < 1e-5, `${m.name} ${label} ${target}: relative error ${err}`);
        if (target === 'qdq4' && label === 'W4A8 per channel') assert.ok(notes.some((n) => /^s?[cs]2: 4-bit uniform weights stored as int4 codes with DequantizeLinear \(opset 21\), one scale per output channel/.test(n)), notes.join('\n'));
      }
    }
    for (const model of [m, w4a8, w2]) model.dispose();
  }
  // A Dense straight over a sequence (no Flatten) is refused in one line, naming the layer.
  const dense = tf.sequential({ layers: [tf.layers.conv1d({ inputShape: [8, 2], filters: 3, kernelSize: 2, name: 'dc' }), tf.layers.dense({ units: 2, name: 'dd' })] });
  assert.throws(() => exportOnnx(dense, 'float'), (e: Error) => e instanceof LowbitError && /^dd: a Dense layer over a sequence \(\[N, L, C\]\) cannot be exported yet: put Flatten or GlobalAveragePooling1D before it$/.test(e.message));
  tf.dispose([images, sequences]);
  dense.dispose();
});

test('Conv2DTranspose becomes QuantConv2DTranspose (per-output-channel 1-bit), matches at 32 bits, and exports to ONNX', async () => {
  const m = transposeModel();
  const q = await quantizeModel(m, { kernelQuantizer: { kind: 'binary', scale: 'channel' }, keepFirstAndLastFloat: false });
  assert.deepEqual(q.layers.filter(isQuantLayer).map((l) => `${l.name}:${l.getClassName()}`), ['down:QuantConv2D', 'up1:QuantConv2DTranspose', 'up2:QuantConv2DTranspose', 'head:QuantDense']);
  const up1 = q.getLayer('up1');
  assert.ok(isQuantLayer(up1));
  // Stored [kh, kw, in, out]: the Keras kernel [kh, kw, out, in] transposed.
  assert.deepEqual(up1.latentKernel.shape, [3, 3, 4, 3]);
  const keras = m.getLayer('up1').getWeights()[0];
  assert.deepEqual(up1.latentKernel.read().dataSync(), tf.transpose(keras, [0, 1, 3, 2]).dataSync());
  assert.deepEqual(q.getLayer('up2').outputShape, [null, 29, 29, 2]);
  assert.deepEqual(m.getLayer('up2').outputShape, [null, 29, 29, 2]);
  // One ± pair per output channel: two values in each of the 3 columns.
  const k = tf.reshape(up1.quantizedKernel(), [-1, 3]).arraySync() as number[][];
  for (let o = 0; o < 3; o++) {
    const column = [...new Set(k.map((row) => row[o]))].sort((a, b) => a - b);
    assert.equal(column.length, 2, `up1 channel ${o}: two values`);
    assert.ok(Math.abs(column[0] + column[1]) < 1e-7, `up1 channel ${o}: ±α`);
  }
  const same = await quantizeModel(m, { kernelQuantizer: identity, inputQuantizer: identity, keepFirstAndLastFloat: false });
  assertSamePredictions(same, m, 'conv2dTranspose at 32 bits', 1e-5);
  assertGradientsFlow(q, 'conv2dTranspose 1-bit');
  await assertRoundTrip(q, 'conv2dTranspose 1-bit');
  // onnxruntime runs the exported QuantConv2DTranspose layers (float and QDQ: int8 codes, per-axis scales on ONNX's output-channel axis 1) as TF.js does.
  const exported = await quantizeModel(m, { kernelQuantizer: { kind: 'binary', scale: 'channel' } });
  assert.deepEqual(exported.layers.filter(isQuantLayer).map((l) => l.name), ['up1', 'up2']);
  for (const target of ['float', 'qdq'] as const) {
    const input = x();
    const ref = (exported.predict(input) as tf.Tensor).dataSync();
    const s = await ort.InferenceSession.create(encodeModel(exportOnnx(exported, target).model), { logSeverityLevel: 3 });
    const out = (await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', input.dataSync() as Float32Array, input.shape) }))[s.outputNames[0]].data as Float32Array;
    const scale = Math.max(...Array.from(ref, Math.abs));
    assert.ok(Math.max(...Array.from(out, (v, i) => Math.abs(v - ref[i]))) / scale < 1e-4, `${target}: onnxruntime agrees`);
    input.dispose();
  }
  for (const model of [m, q, same, exported]) model.dispose();
});

test('a functional model with a residual add (and a separable block) quantizes, matches at 32 bits, trains and exports', async () => {
  const m = residualModel();
  const q = await quantizeModel(m, { kernelQuantizer: 'binary', keepFirstAndLastFloat: true });
  assert.deepEqual(q.layers.map((l) => `${l.name}:${l.getClassName()}`), [
    'image:InputLayer', 'stem:Conv2D', 'res_a:QuantConv2D', 'res_b_depthwise:QuantDepthwiseConv2D', 'res_b:QuantConv2D', 'res_add:Add', 'res_relu:ReLU', 'gap:GlobalAveragePooling2D', 'head:Dense',
  ]);
  for (const layer of q.layers.filter(isQuantLayer)) assert.equal(distinct(layer.quantizedKernel()).length, 2, `${layer.name}: two values`);
  const same = await quantizeModel(m, { kernelQuantizer: identity, inputQuantizer: identity, keepFirstAndLastFloat: false });
  assertSamePredictions(same, m, 'residual at 32 bits', 1e-5);
  assertGradientsFlow(q, 'residual 1-bit');
  await assertRoundTrip(q, 'residual 1-bit');
  // The separable block exports as its depthwise and pointwise Convs.
  const onnx = exportOnnx(q, 'qonnx').model;
  const input = x();
  const ref = (q.predict(input) as tf.Tensor).dataSync();
  const s = await ort.InferenceSession.create(encodeModel(exportOnnx(q, 'float').model), { logSeverityLevel: 3 });
  const out = (await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', input.dataSync() as Float32Array, input.shape) }))[s.outputNames[0]].data as Float32Array;
  const scale = Math.max(...Array.from(ref, Math.abs));
  assert.ok(Math.max(...Array.from(out, (v, i) => Math.abs(v - ref[i]))) / scale < 1e-4, 'onnxruntime agrees with TF.js');
  assert.ok(onnx != null);
  for (const model of [m, q, same]) model.dispose();
  input.dispose();
});

test('a softmax output (an Activation layer or a Dense activation) is removed: the logits model gives the same probabilities through softmax', async () => {
  for (const end of ['softmax-layer', 'softmax-dense'] as const) {
    const m = residualModel(end);
    const r = await logitsModel(m);
    assert.ok(r != null, end);
    assert.deepEqual(r.removed, end === 'softmax-layer' ? { layer: 'probs', how: 'removed-layer' } : { layer: 'head', how: 'linear-activation' });
    assert.equal(r.model.layers.some((l) => l.name === 'probs'), false);
    const input = x();
    const probs = m.predict(input) as tf.Tensor;
    const logits = r.model.predict(input) as tf.Tensor;
    const sums = tf.sum(probs, -1).dataSync();
    sums.forEach((v) => assert.ok(Math.abs(v - 1) < 1e-5, `${end}: the original outputs probabilities`));
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(tf.softmax(logits), probs))).dataSync()[0]) < 1e-6, `${end}: softmax(logits) = the original output`);
    assert.ok(tf.tidy(() => tf.max(tf.abs(tf.sub(tf.logSoftmax(logits), logits))).dataSync()[0]) > 1e-3, `${end}: the new output is not probabilities`);
    m.dispose();
    r.model.dispose();
    tf.dispose([input, probs, logits]);
  }
  // A Sequential ending in tf.layers.softmax(); a model already giving logits is left alone.
  const seq = separableModel();
  seq.add(tf.layers.softmax({ name: 'sm' }));
  const r = await logitsModel(seq);
  assert.deepEqual(r?.removed, { layer: 'sm', how: 'removed-layer' });
  assert.equal(r!.model.layers.at(-1)!.name, 'head');
  assert.equal(await logitsModel(residualModel('logits')), null);
  seq.dispose();
  r!.model.dispose();
});

test('lowbit quantize --teacher model.json of a user model ending in softmax: trains on logits and records it; bad teachers get one line', { skip: firstPassOnly }, async () => {
  const dir = tmp();
  const m = residualModel('softmax-layer');
  await saveModelDir(m, dir);
  // tfjs-converter's file names: model.json beside a weights shard.
  renameSync(join(dir, 'weights.bin'), join(dir, 'group1-shard1of1.bin'));
  const manifest = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8'));
  manifest.weightsManifest[0].paths = ['group1-shard1of1.bin'];
  (await import('node:fs')).writeFileSync(join(dir, 'model.json'), JSON.stringify(manifest));
  m.dispose();
  const five = tmp();
  const small = tf.sequential({ layers: [tf.layers.flatten({ inputShape: [28, 28, 1] }), tf.layers.dense({ units: 5, activation: 'softmax' })] });
  await saveModelDir(small, five);
  small.dispose();
  const out = join(tmp(), 'run');
  const tiny = ['--epochs', '1', '--max-steps', '2', '--batch', '16', '--backend', 'wasm', '--quiet'];
  // The directory works as well as the file; without --dataset (no lowbit.json), a missing file and the wrong class count: one line, exit 2, nothing written.
  const rows: Array<[string[], RegExp]> = [
    [['--teacher', dir], /--teacher .* has no lowbit\.json naming its data: pass --dataset NAME or --data PATH/],
  ];
  // The same checks in-process (each CLI process costs seconds): the library's error, nothing written.
  for (const [teacherDir, message] of [
    [join(dir, 'nope.json'), /--teacher .*nope\.json holds no model\.json: pass a directory written by 'lowbit train', or a TF\.js LayersModel's model\.json/],
    [five, /the teacher in .* has outputs of shape 5 but mnist has 10 classes/],
  ] as const) {
    const o = join(tmp(), 'run');
    await assert.rejects(runInDir({ method: 'dorefa', options: {}, teacherDir, dataset: 'mnist', train: { epochs: 1, maxStepsPerEpoch: 1 }, out: o, backend: 'wasm', quiet: true, announce: false }),
      (e: Error) => e instanceof LowbitError && message.test(e.message));
    assert.equal(existsSync(o), false);
  }
  const outs = rows.map(() => join(tmp(), 'run'));
  const [r, ...bad] = await Promise.all([
    lowbit(['quantize', '--method', 'dorefa', '--teacher', join(dir, 'model.json'), '--dataset', 'mnist', '--wbits', '1', ...tiny, '--out', out]),
    ...rows.map(([args], i) => lowbit(['quantize', '--method', 'dorefa', ...args, ...tiny, '--out', outs[i]])),
  ]);
  assert.equal(r.status, 0, r.stderr);
  const record = JSON.parse(readFileSync(join(out, 'lowbit.json'), 'utf8'));
  assert.deepEqual(record.teacherSoftmax, { layer: 'probs', how: 'removed-layer' });
  assert.equal(record.teacher, join(dir, 'model.json'));
  const q = await loadModelDir(out);
  assert.deepEqual(q.layers.filter(isQuantLayer).map((l) => `${l.name}:${l.getClassName()}`), ['res_a:QuantConv2D', 'res_b_depthwise:QuantDepthwiseConv2D', 'res_b:QuantConv2D']);
  assert.equal(q.layers.some((l) => l.name === 'probs'), false, 'the student outputs logits');
  q.dispose();
  rows.forEach(([, message], i) => {
    assert.equal(bad[i].status, 2, bad[i].stderr);
    assert.equal(bad[i].stderr.trim().split('\n').length, 1, bad[i].stderr);
    assert.match(bad[i].stderr, message);
    assert.equal(existsSync(outs[i]), false);
  });
});
