/**
 * The quantizer registry: two toy kinds registered from this file alone — a 3-level
 * sign-with-deadzone with a learned step (a uniform grid) and a fixed non-uniform 2-bit codebook
 * per output channel — work in quantizeModel, training, save/load, summary, the packed format
 * (exact round trip) and ONNX export (QONNX run in onnxruntime against TF.js).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import {
  tf, buildModel, quantizeModel, summary, isQuantLayer, packModel, unpackModel, registerQuantizer, quantizerKind, registeredQuantizerKinds,
  QuantizerKind, QuantConv2D, quantizers,
} from '../src/index.js';
import { exportOnnx, exportCapabilities } from '../src/export/onnx-export.js';
import { encodeModel } from '../src/export/onnx-builder.js';
import { lowerQonnx } from '../src/export/qonnx-lower.js';
import { ensureBackend } from '../src/index.js';

await ensureBackend(); // the browser-safe core starts no backend at import

/** Value q, gradient dy to x (the straight-through estimator), none to q. */
const straightThrough = tf.customGrad(((x: tf.Tensor, q: tf.Tensor) => ({
  value: q.clone(),
  gradFunc: (dy: tf.Tensor) => [dy, tf.zerosLike(dy)],
})) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, q: tf.Tensor) => tf.Tensor;

/**
 * deadzone: q(x) = s·clip(round(x/s), −1, 1) — sign with a dead zone of half-width s/2 — with a
 * learned step s; STE for x inside [−1.5s, 1.5s], LSQ-like ∂q/∂s. Grid: codes {−1, 0, 1} × s.
 */
interface DeadzoneSpec { kind: 'deadzone'; initStep?: number }
const deadzoneRule = tf.customGrad(((x: tf.Tensor, s: tf.Tensor, save: tf.GradSaveFunc) => {
  const v = tf.div(x, s);
  save([v]);
  const r = tf.clipByValue(tf.round(v), -1, 1);
  return {
    value: tf.mul(r, s),
    gradFunc: (dy: tf.Tensor, [sv]: tf.Tensor[]) => {
      const inside = tf.cast(tf.lessEqual(tf.abs(sv), 1.5), 'float32');
      const ds = tf.sum(tf.mul(dy, tf.add(tf.mul(inside, tf.sub(tf.clipByValue(tf.round(sv), -1, 1), sv)), tf.mul(tf.sub(1, inside), tf.sign(sv)))));
      return [tf.mul(dy, inside), tf.reshape(ds, s.shape)];
    },
  };
}) as unknown as Parameters<typeof tf.customGrad>[0]) as unknown as (x: tf.Tensor, s: tf.Tensor) => tf.Tensor;

const deadzone: QuantizerKind<DeadzoneSpec> = {
  kind: 'deadzone',
  naming: 'plain',
  validate(s, where) {
    if (s.initStep != null && !(s.initStep > 0)) throw new Error(`${where} (deadzone): initStep must be > 0, got ${s.initStep}`);
  },
  precision: () => 2,
  params: (s) => [{ name: 'dz_step', init: s.initStep ?? 0.05 }],
  apply: (_s, x, _role, p) => deadzoneRule(x, p[0]),
  valueSet: () => '{−s, 0, +s} (learned s)',
  grid: (_s, _role, input) => ({ type: 'uniform', bits: 2, signed: true, narrow: true, scale: input.params[0][0], zeroPoint: 0, axis: null, learned: true }),
};

/**
 * pow4: a fixed non-uniform 2-bit grid per output channel, {−1, −¼, ¼, 1}·E_c with E_c = max|w|
 * of the channel; nearest value (ties up), straight-through gradient. Weights only. Grid: a codebook.
 */
interface Pow4Spec { kind: 'pow4' }
const LEVELS = [-1, -0.25, 0.25, 1];
const pow4: QuantizerKind<Pow4Spec> = {
  kind: 'pow4',
  validate() {},
  precision: () => 2,
  params: () => [],
  apply(_s, x, role, _p, _t, ctx, where) {
    if (role !== 'weight') throw new Error(`${where}: pow4 quantizes weights only`);
    return tf.tidy(() => {
      const c = ctx.outputChannels ?? x.shape[x.rank - 1];
      const w = tf.reshape(x, [-1, c]);
      const e = tf.maximum(tf.max(tf.abs(w), 0, true), 1e-12);
      const u = tf.div(w, e);
      const mag = tf.where(tf.greater(tf.abs(u), 0.625), tf.onesLike(u), tf.fill(u.shape, 0.25));
      // The codebook choice off the tape: only the straight-through path carries a gradient.
      const q = tf.reshape(tf.mul(tf.mul(quantizers.signPlusOne(u), mag), e), x.shape);
      return straightThrough(x, tf.tensor(q.dataSync(), q.shape));
    });
  },
  valueSet: () => '{−1, −¼, ¼, 1}·E_c per output channel',
  grid(_s, role, input) {
    const q = input.quantized;
    if (role !== 'weight' || q == null) return null;
    const c = input.channels;
    const e = new Float32Array(c);
    q.forEach((v, i) => { e[i % c] = Math.max(e[i % c], Math.abs(v)); });
    const values = new Float32Array(c * 4);
    for (let o = 0; o < c; o++) LEVELS.forEach((l, k) => { values[o * 4 + k] = Math.fround(l * e[o]); });
    return { type: 'codebook', bits: 2, values, size: 4, axis: -1 };
  },
};

registerQuantizer(deadzone);
registerQuantizer(pow4);

const distinct = (xs: ArrayLike<number>) => [...new Set(Array.from(xs))].sort((a, b) => a - b);

async function runOrt(model: ReturnType<typeof exportOnnx>['model'], x: tf.Tensor): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 3 });
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape) });
  return out[s.outputNames[0]].data as Float32Array;
}

/** The toy-quantized lenet5: deadzone kernels and inputs, pow4 on fc1's kernel. */
async function toyModel(): Promise<tf.LayersModel> {
  const q = await quantizeModel(buildModel('lenet5', { seed: 6 }), {
    kernelQuantizer: { kind: 'deadzone', initStep: 0.02 }, inputQuantizer: 'deadzone',
    overrides: [{ match: 'fc1', kernelQuantizer: { kind: 'pow4' } }],
  });
  // A step near the activations' scale, so every level of the input grid is used.
  for (const w of q.weights.filter((v) => v.originalName.endsWith('input_dz_step'))) w.write(tf.scalar(0.3));
  return q;
}

test('registry: a kind registered from outside is found by name and spec; duplicates and bad names are refused', () => {
  assert.equal(quantizerKind('deadzone'), deadzone as unknown as QuantizerKind);
  assert.ok(registeredQuantizerKinds().includes('pow4') && registeredQuantizerKinds().includes('dorefa'));
  assert.deepEqual(quantizers.specFromName('deadzone'), { kind: 'deadzone' });
  const r = quantizers.resolveQuantizer({ kind: 'deadzone', initStep: 0.1 });
  assert.equal(r.precision, 2);
  assert.deepEqual(r.params, [{ name: 'dz_step', init: 0.1 }]);
  assert.equal(quantizers.valueSet({ kind: 'pow4' }, 'weight'), '{−1, −¼, ¼, 1}·E_c per output channel');
  assert.deepEqual(Array.from(r.apply(tf.tensor1d([-1, -0.06, -0.04, 0, 0.05, 0.16]), 'weight', [tf.scalar(0.1)]).dataSync(), (v) => +v.toFixed(6)),
    [-0.1, -0.1, 0, 0, 0, 0.1]); // round half to even: 0.5 → 0
  assert.throws(() => quantizers.resolveQuantizer({ kind: 'deadzone', initStep: -1 }, 'conv2 kernel'), /conv2 kernel \(deadzone\): initStep must be > 0/);
  assert.throws(() => registerQuantizer(deadzone), /a quantizer kind 'deadzone' is already registered/);
  assert.throws(() => registerQuantizer({ ...deadzone, kind: 'Bad Name' }), /kind must be a lower-case name/);
  assert.throws(() => quantizers.resolveQuantizer({ kind: 'nope' } as never), /unknown quantizer kind "nope": choose one of none, .*deadzone, pow4/);
});

test('registered kinds in quantizeModel: levels on the grid, declared parameters, training, save and reload', async () => {
  const q = await toyModel();
  const conv2 = q.getLayer('conv2') as QuantConv2D;
  assert.deepEqual(conv2.weights.map((w) => w.originalName), ['conv2/kernel', 'conv2/kernel_dz_step', 'conv2/input_dz_step']);
  assert.deepEqual(conv2.quantizerWeights('kernel').map((w) => w.originalName), ['conv2/kernel_dz_step']);
  assert.deepEqual(distinct(conv2.quantizedKernel().dataSync()).map((v) => +v.toFixed(6)), [-0.02, 0, 0.02]);
  const fc1 = q.getLayer('fc1') as QuantConv2D;
  const cols = tf.reshape(fc1.quantizedKernel(), [-1, 500]).arraySync() as number[][];
  for (const o of [0, 7, 499]) {
    const e = Math.max(...cols.map((r) => Math.abs(r[o])));
    assert.deepEqual(distinct(cols.map((r) => r[o] / e)), LEVELS, `fc1 column ${o} on {−1, −¼, ¼, 1}·E`);
  }
  // Gradients reach the latent kernel and the declared step.
  const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 3);
  const y = tf.cast(tf.oneHot(tf.tensor1d([1, 2, 3, 4], 'int32'), 10), 'float32');
  const vars = [conv2.latentKernel.read() as tf.Variable, conv2.quantizerWeights('kernel')[0].read() as tf.Variable];
  const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, q.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars);
  for (const v of vars) assert.ok(tf.sum(tf.abs(grads[v.name])).dataSync()[0] > 0, `${v.name} has a gradient`);
  // The specs serialise into model.json and reload (TF.js converts the custom field's case both ways).
  const saved: tf.io.ModelArtifacts[] = [];
  await q.save(tf.io.withSaveHandler(async (a) => { saved.push(a); return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  const loaded = await tf.loadLayersModel(tf.io.fromMemory(saved[0]));
  assert.deepEqual((loaded.getLayer('conv2') as QuantConv2D).kernelQuantizerSpec, { kind: 'deadzone', initStep: 0.02 });
  assert.deepEqual((loaded.getLayer('fc1') as QuantConv2D).kernelQuantizerSpec, { kind: 'pow4' });
  assert.deepEqual((loaded.predict(x) as tf.Tensor).dataSync(), (q.predict(x) as tf.Tensor).dataSync());
});

test('registered kinds in summary and the packed format: bytes as predicted, exact round trip', async () => {
  const q = await toyModel();
  const s = summary(q);
  const conv2 = s.layers.find((l) => l.name === 'conv2')!;
  const fc1 = s.layers.find((l) => l.name === 'fc1')!;
  assert.equal(conv2.kernelBits, 2);
  assert.equal(conv2.inputBits, 2);
  // Kernel at 2 bits + its one scale; the two learned steps as float32 (lenet5's conv2 and fc1 have no bias).
  assert.equal(conv2.bytes, (5 * 5 * 20 * 50 * 2) / 8 + 4 + 2 * 4);
  // Kernel at 2 bits + the 4-value codebook of each of the 500 output channels; the input step.
  assert.equal(fc1.bytes, (800 * 500 * 2) / 8 + 4 * 4 * 500 + 4);
  const { manifest, data } = packModel(q);
  assert.ok(Math.abs(data.byteLength - s.totalBytes) / s.totalBytes < 0.05, `${data.byteLength} bytes vs ${s.totalBytes}`);
  const coded = manifest.weights.filter((w) => w.storage === 'codes');
  assert.deepEqual(coded.map((w) => [w.name.replace(/_\d+$/, ''), w.bits, w.codebook ?? null]), [['conv2/kernel', 2, null], ['fc1/kernel', 2, 2000]]);
  assert.ok(!manifest.weights.some((w) => /kernel_dz_step/.test(w.name)), 'a coded kernel drops its quantizer\'s declared parameters');
  const back = await unpackModel(JSON.parse(JSON.stringify(manifest)), data);
  for (const name of ['conv2', 'fc1']) {
    // Exact values (+ 0 turns the quantizer's −0 into 0, the same number).
    const exact = (t: tf.Tensor) => Array.from(t.dataSync(), (v) => v + 0);
    assert.deepEqual(exact(back.getLayer(name).weights[0].read()), exact((q.getLayer(name) as QuantConv2D).quantizedKernel()), `${name} kernel exact`);
  }
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 4);
  assert.deepEqual((back.predict(x) as tf.Tensor).dataSync(), (q.predict(x) as tf.Tensor).dataSync(), 'predictions exact');
});

test('registered kinds export to ONNX: QONNX (Quant + Gather from the codebook), QDQ and float match TF.js in onnxruntime', async () => {
  const q = await toyModel();
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 5);
  const ref = (q.predict(x) as tf.Tensor).dataSync();
  const scale = Math.max(...Array.from(ref, Math.abs));
  for (const target of ['qonnx', 'qdq', 'float'] as const) {
    const { model: om } = exportOnnx(q, target);
    const y = await runOrt(target === 'qonnx' ? lowerQonnx(om) : om, x);
    const err = Math.max(...Array.from(y, (v, i) => Math.abs(v - ref[i]))) / scale;
    assert.ok(err < 2e-3, `${target}: relative error ${err}`);
    const nodes = om.graph!.node!;
    if (target === 'qonnx') {
      assert.ok(nodes.some((n) => n.opType === 'Quant' && n.domain === 'qonnx.custom_op.general' && n.input![0] === 'conv2_w'), 'conv2 kernel through Quant');
      assert.ok(nodes.filter((n) => n.opType === 'Quant').length >= 3, 'input quantizers through Quant');
    }
    if (target !== 'float') assert.ok(nodes.some((n) => n.opType === 'Gather' && n.input![0] === 'fc1_w_codebook'), `${target}: fc1 gathers its codebook`);
    if (target === 'qdq') assert.ok(om.graph!.initializer!.some((t) => t.name === 'conv2_w_int8'), 'conv2 as int8 codes');
  }
  const notes = exportCapabilities(q, 'qdq').join('\n');
  assert.match(notes, /conv2: 2-bit deadzone weights stored as int8 codes with their learned step/);
  assert.match(notes, /fc1: 2-bit pow4 weights \(a 4-value codebook per output channel\) stored as codes with a Gather from the codebook/);
  assert.ok(q.layers.filter(isQuantLayer).length === 2);
});
