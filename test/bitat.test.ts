import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, buildModel, subset, DatasetSplits } from '../src/index.js';
import { resolveQuantizer } from '../src/quantizers/spec.js';
import { loadMnist } from '../src/node.js';
import { approxSign, binaryChannel, rsign } from '../src/quantizers/binary.js';
import { BitatTransform, eigSymmetric, expm } from '../src/methods/bitat/transform.js';
import { inputCorrelation, patches } from '../src/methods/bitat/correlation.js';
import { bitatStages, bitatStudent, orthonormalityError, runBitat, BitatOptions } from '../src/methods/bitat/run.js';
import type { Checkpoint, CheckpointStore } from '../src/train/checkpoint.js';
import { QuantConv2D, QuantDense, QuantDepthwiseConv2D, isQuantLayer } from '../src/layers/quant-layers.js';
import { exportOnnx } from '../src/export/onnx-export.js';
import { encodeModel } from '../src/export/onnx-builder.js';

const full = loadMnist();
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const small: DatasetSplits = { ...full, train: subset(full.train, range(192), 784), val: subset(full.val, range(64), 784), test: subset(full.test, range(64), 784) };
const distinct = (xs: ArrayLike<number>) => [...new Set(Array.from(xs))].sort((a, b) => a - b);

test('approxSign: sign with sign(0) = +1; gradient max(0, 2 − 2|x|) (Bi-Real), hand-computed', () => {
  const x = tf.tensor1d([-1.5, -1, -0.5, 0, 0.25, 1, 2]);
  assert.deepEqual(Array.from(approxSign(x).dataSync()), [-1, -1, -1, 1, 1, 1, 1]);
  const g = tf.grad((t: tf.Tensor) => tf.sum(approxSign(t)))(x);
  assert.deepEqual(Array.from(g.dataSync()), [0, 0, 1, 2, 1.5, 0, 0]);
  // RSign shifts by a per-channel threshold, and the threshold gets the same gradient.
  const t = tf.tensor1d([0.5, -0.5]);
  const xs = tf.tensor2d([[-0.25, 0.25], [-1, 1]]);
  assert.deepEqual(Array.from(rsign(xs, t).dataSync()), [1, -1, -1, 1]);
  const gt = tf.grad((b: tf.Tensor) => tf.sum(rsign(xs, b)))(t);
  assert.deepEqual(Array.from(gt.dataSync()), [1.5 + 1, 1.5 + 1]);
});

test('binaryChannel: per-column ±α; M = I gives sign·mean|w|; a correlated metric flips signs as bitat.md §1.3 predicts', () => {
  const w = tf.tensor2d([[1, 0.5], [-0.1, -0.3], [0.2, 0.1]]);
  const q = binaryChannel(w);
  const rows = q.arraySync();
  assert.deepEqual(rows.map((r) => r.map((v) => Math.sign(v))), [[1, 1], [-1, -1], [1, 1]]);
  assert.ok(Math.abs(Math.abs(rows[0][0]) - 1.3 / 3) < 1e-6 && Math.abs(Math.abs(rows[0][1]) - 0.9 / 3) < 1e-6);
  // The identity metric is the same quantizer (V = I, s = 1 is plain sign·scale).
  const qi = binaryChannel(w, tf.eye(3) as tf.Tensor2D);
  assert.deepEqual(Array.from(qi.dataSync()).map((v) => +v.toFixed(6)), Array.from(q.dataSync()).map((v) => +v.toFixed(6)));
  // w = (1, −0.1) with x₁ ≈ x₂: sign(w) = (1, −1) cancels, sign(Cw) = (1, 1); α = ⟨b, Cw⟩/⟨b, Cb⟩.
  const c = tf.tensor2d([[1, 0.99], [0.99, 1]]);
  const qc = binaryChannel(tf.tensor2d([[1], [-0.1]]), c).dataSync();
  const alpha = (0.901 + 0.89) / (1.99 * 2);
  assert.ok(Math.abs(qc[0] - alpha) < 1e-6 && Math.abs(qc[1] - alpha) < 1e-6, `got ${qc}`);
  // Gradient: the clipped STE on z = M·w, then Mᵀ; α is a constant.
  const gw = tf.grad((x: tf.Tensor) => tf.sum(binaryChannel(x as tf.Tensor2D, tf.tensor2d([[2, 0], [0, 0.5]]))))(tf.tensor2d([[0.3], [4]]));
  assert.deepEqual(Array.from(gw.dataSync()), [2, 0]); // z = (0.6, 2): only the first passes the window
});

test('binary per-channel and rsign specs: value sets, per-channel parameters, clear errors', () => {
  const k = tf.randomNormal([3, 3, 2, 4], 0, 1, 'float32', 3);
  const q = resolveQuantizer({ kind: 'binary', scale: 'channel' }).apply(k, 'weight', [], true, { outputChannels: 4 });
  const cols = tf.reshape(q, [-1, 4]).arraySync() as number[][];
  for (let o = 0; o < 4; o++) assert.equal(distinct(cols.map((r) => Math.abs(r[o]))).length, 1, `column ${o} has one magnitude`);
  assert.throws(() => resolveQuantizer({ kind: 'binary', scale: 'row' as never }), /binary scale must be 'tensor' or 'channel'/);
  assert.throws(() => resolveQuantizer('rsign').apply(k, 'weight', [tf.zeros([4])]), /rsign binarizes activations/);
  assert.equal(resolveQuantizer('rsign').params[0].perChannel, true);
});

test('eigSymmetric reconstructs the correlation matrix; expm of a skew matrix is orthonormal', () => {
  const x = tf.randomNormal([200, 6], 0, 1, 'float32', 5);
  const c = tf.div(tf.matMul(x, x, true, false), 200).arraySync() as number[][];
  const { values, vectors } = eigSymmetric(c);
  for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) {
    const r = vectors[i].reduce((s, _, k) => s + vectors[i][k] * values[k] * vectors[j][k], 0);
    assert.ok(Math.abs(r - c[i][j]) < 1e-9, `C[${i}][${j}]`);
  }
  const a = tf.randomNormal([5, 5], 0, 2, 'float32', 6) as tf.Tensor2D;
  const v = expm(tf.sub(a, tf.transpose(a)) as tf.Tensor2D);
  const err = tf.max(tf.abs(tf.sub(tf.matMul(v, v, true, false), tf.eye(5)))).dataSync()[0];
  assert.ok(err < 1e-4, `‖VᵀV − I‖ = ${err}`);
});

test('BiTAT transform: M = C / mean λ at the start; V stays orthonormal after Adam steps', () => {
  const x = tf.randomNormal([300, 8], 0, 1, 'float32', 7);
  const mix = tf.randomNormal([8, 8], 0, 1, 'float32', 8);
  const xm = tf.matMul(x, mix);
  const c = tf.div(tf.matMul(xm, xm, true, false), 300).arraySync() as number[][];
  const t = new BitatTransform(c, {}, 'test');
  const meanLambda = eigSymmetric(c).values.reduce((s, v) => s + v, 0) / 8;
  const m = t.metric().arraySync();
  for (let i = 0; i < 8; i++) for (let j = 0; j < 8; j++) assert.ok(Math.abs(m[i][j] - c[i][j] / meanLambda) < 1e-3 * Math.max(1, Math.abs(c[i][j])), `M[${i}][${j}]`);
  const w = tf.variable(tf.randomNormal([8, 5], 0, 0.5, 'float32', 9));
  const opt = tf.train.adam(0.05);
  for (let s = 0; s < 20; s++) opt.minimize(() => tf.sum(tf.square(tf.sub(binaryChannel(w as unknown as tf.Tensor2D, t.metric()), 0.3))) as tf.Scalar, false, [w, ...t.variables()]);
  assert.ok(orthonormalityError(t) < 1e-4, `‖VᵀV − I‖ = ${orthonormalityError(t)}`);
  const s = Array.from(t.importance().dataSync());
  assert.ok(Math.abs(s.reduce((a, b) => a + b, 0) / 8 - 1) < 1e-5, 'importance keeps mean 1');
  const identity = new BitatTransform(c, { identity: true }, 'id');
  assert.deepEqual(Array.from(identity.metric().dataSync()).map((v) => +v.toFixed(6)), Array.from(tf.eye(8).dataSync()));
  t.dispose(); identity.dispose(); opt.dispose(); w.dispose();
});

test('input patches follow the kernel layout: conv (i, j, c) rows and depthwise (i, j) per channel', () => {
  const x = tf.tensor4d(Array.from({ length: 2 * 3 * 3 * 2 }, (_, i) => i + 1), [2, 3, 3, 2]);
  const dw = new QuantDepthwiseConv2D({ kernelSize: 3, padding: 'same', kernelQuantizer: null });
  const conv = new QuantConv2D({ filters: 1, kernelSize: 3, padding: 'same' });
  const pd = patches(x, dw);
  const pc = patches(x, conv);
  assert.deepEqual(pd.shape, [2 * 9 * 2, 9]);
  assert.deepEqual(pc.shape, [2 * 9, 18]);
  // Centre position of image 0: depthwise row for channel 0 is the 3×3 neighbourhood of channel 0.
  const centre = (0 * 9 + 4) * 2;
  assert.deepEqual(pd.arraySync()[centre], [1, 3, 5, 7, 9, 11, 13, 15, 17]);
  // The conv row interleaves channels: tap (i, j) then c.
  assert.deepEqual(pc.arraySync()[4].slice(0, 4), [1, 2, 3, 4]);
  // A dense layer's rows are its input vectors.
  assert.deepEqual(patches(tf.ones([3, 5]), new QuantDense({ units: 2 })).shape, [3, 5]);
  // conv2d with a kernel K equals patches · reshape(K, [18, 1]).
  const k = tf.randomNormal([3, 3, 2, 1], 0, 1, 'float32', 2);
  const y = tf.conv2d(x, k as tf.Tensor4D, 1, 'same').dataSync();
  const yp = tf.matMul(pc, tf.reshape(k, [18, 1])).dataSync();
  for (let i = 0; i < y.length; i++) assert.ok(Math.abs(y[i] - yp[i]) < 1e-3);
});

test('mobilenet-tiny stages: dw, pw pairs, bottom to top; correlation is of the binarized input', async () => {
  const teacher = buildModel('mobilenet-tiny', { seed: 1 });
  const student = await bitatStudent(teacher);
  assert.deepEqual(bitatStages(student).map((s) => s.map((l) => l.name)),
    [['b1_dw'], ['b1_pw_a', 'b1_pw_b'], ['b2_dw'], ['b2_pw_a', 'b2_pw_b'], ['b3_dw'], ['b3_pw']]);
  const pw = student.getLayer('b1_pw_a') as QuantConv2D;
  const images = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
  const c = inputCorrelation(student, pw, images);
  assert.equal(c.length, 16);
  // Inputs are ±1 after RSign, so the diagonal of E[x xᵀ] is exactly 1.
  for (let i = 0; i < 16; i++) assert.ok(Math.abs(c[i][i] - 1) < 1e-6, `C[${i}][${i}] = ${c[i][i]}`);
  teacher.dispose(); student.dispose();
});

class MemoryStore implements CheckpointStore {
  saved: Checkpoint | null = null;
  constructor(private readonly stopAfter = Infinity) {}
  async load() { return this.saved; }
  async save(c: Checkpoint) { this.saved = c; if (c.epoch >= this.stopAfter) throw new Error('killed'); }
}

const options = (variant: BitatOptions['variant'], checkpoints?: CheckpointStore): BitatOptions => ({
  variant, epochsPerLayer: 1, finalEpochs: 1, distill: true, calibrationImages: 64, bnImages: 128, checkpoints,
  train: { epochs: 1, batchSize: 32, learningRate: 1e-3, optimizer: { name: 'adam', momentum: 0 }, schedule: { name: 'linear' }, weightDecay: 0, seed: 3, maxStepsPerEpoch: 2 },
});

test('BiTAT end to end: two values per output channel, ±1 inputs, no tensor leak, stage resume gives the same model', async () => {
  const teacher = buildModel('mobilenet-tiny', { seed: 2, width: 0.5 });
  const before = tf.memory().numTensors;
  const r = await runBitat(teacher, small, options('bitat'));
  assert.equal(r.stages.length, 6);
  assert.equal(r.totalEpochs, 7);
  for (const s of r.stages) assert.ok(s.orthonormalityError! < 1e-4, `stage ${s.stage}: ‖VᵀV − I‖ = ${s.orthonormalityError}`);
  const quantized = r.model.layers.filter(isQuantLayer);
  assert.equal(quantized.length, 8);
  const probe = tf.tensor((small.test.images as Float32Array).subarray(0, 784 * 4), [4, 28, 28, 1]);
  tf.tidy(() => { for (const l of quantized) {
    const cols = tf.reshape(l.quantizedKernel(), [-1, l.kernelColumns()]).arraySync() as number[][];
    for (let o = 0; o < l.kernelColumns(); o++) assert.equal(distinct(cols.map((row) => Math.abs(row[o]))).length, 1, `${l.name} column ${o}`);
    const x = l.quantizeInput(tf.randomNormal([5, 4, 4, (l.input as tf.SymbolicTensor).shape[3] as number]));
    assert.deepEqual(distinct(x.dataSync()), [-1, 1], `${l.name} inputs are ±1`);
  } });
  const out = tf.tidy(() => Array.from((r.model.predict(probe) as tf.Tensor).dataSync()));
  r.model.dispose();
  probe.dispose();
  assert.equal(tf.memory().numTensors, before, 'runBitat leaks no tensor');

  // Interrupted after stage 3, then rerun: the same final model.
  const store = new MemoryStore(3);
  await assert.rejects(runBitat(teacher, small, options('bitat', store)), /killed/);
  assert.equal(store.saved!.epoch, 3);
  const resumedStore = new MemoryStore();
  resumedStore.saved = store.saved;
  const r2 = await runBitat(teacher, small, options('bitat', resumedStore));
  assert.equal(r2.stages.length, 6);
  const out2 = tf.tidy(() => Array.from((r2.model.predict(tf.tensor((small.test.images as Float32Array).subarray(0, 784 * 4), [4, 28, 28, 1])) as tf.Tensor).dataSync()));
  out2.forEach((v, i) => assert.ok(Math.abs(v - out[i]) < 1e-4, `logit ${i}: ${v} vs ${out[i]}`));
  r2.model.dispose();
  teacher.dispose();
});

test('RPReLU option: the student starts equal to the PReLU one, its shifts train, and it exports to ONNX', async () => {
  const teacher = buildModel('mobilenet-tiny', { seed: 6 });
  const plain = await bitatStudent(teacher);
  const withR = await bitatStudent(teacher, { rprelu: true });
  assert.equal(withR.layers.filter((l) => l.getClassName() === 'RPReLU').length, teacher.layers.filter((l) => l.getClassName() === 'PReLU').length);
  const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 7);
  assert.deepEqual(Array.from((withR.predict(x) as tf.Tensor).dataSync()), Array.from((plain.predict(x) as tf.Tensor).dataSync()));
  const r = withR.getLayer('b1_dw_act');
  assert.deepEqual(r.weights.map((w) => w.originalName.split('/').pop()), ['alpha', 'shift_in', 'shift_out']);
  const shifts = r.weights.slice(1).map((w) => w.read() as tf.Variable);
  const { grads } = tf.variableGrads(() => tf.sum(withR.apply(x) as tf.Tensor) as tf.Scalar, shifts);
  for (const v of shifts) assert.ok(tf.sum(tf.abs(grads[v.name])).dataSync()[0] > 0, `${v.name} gets a gradient`);
  for (const w of withR.weights.filter((v) => /shift/.test(v.originalName))) w.write(tf.randomUniform(w.shape as number[], -0.2, 0.2, 'float32', 8));
  const ref = (withR.predict(x) as tf.Tensor).dataSync();
  const { model } = exportOnnx(withR, 'float');
  const ort = await import('onnxruntime-node');
  const s = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 3 });
  const y = (await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape) }))[s.outputNames[0]].data as Float32Array;
  y.forEach((v, i) => assert.ok(Math.abs(v - ref[i]) < 1e-4 * Math.max(1, Math.abs(ref[i])), `logit ${i}`));
});
