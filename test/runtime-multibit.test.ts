/**
 * Multi-bit binary kernels (ALQ) on the bitwise runtime (src/runtime/multibit.ts): a layer with
 * integer (DoReFa A2) or sign inputs runs as one integer layer of one ±1 row per basis, summed per
 * channel; with float inputs it stays a float layer. Every kernel backend against the TF.js model
 * (unpackModel of the same packed model), with odd channel counts, channels with 0 bases, a
 * BatchNorm folded into the rows, batch 1 and batch > 1.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, buildModel, quantizeModel, ensureBackend } from '../src/node.js'; // the Node entry: it registers the native backend
import { packModel, unpackModel } from '../src/export/packed.js';
import { createRuntime, jsKernels, nativeKernels, nativeKernelsAvailable, runtimeKernels, RuntimeKernels } from '../src/runtime/node.js';
import { QuantizeConfig } from '../src/layers/quantize-model.js';
import { alqConfig } from '../src/methods/alq/method.js';
import { multibitLayers } from '../src/methods/alq/alq.js';
import { mulberry32 } from '../src/random.js';

const backends: RuntimeKernels[] = [jsKernels, ...(nativeKernelsAvailable() ? [nativeKernels()] : [])];
backends.push(await runtimeKernels('wasm'));

before(() => ensureBackend(nativeKernelsAvailable() ? 'native' : 'wasm'));

const rand = mulberry32(31);

/** 9×9×3 images → conv 7 (3×3 same) + BN + ReLU → conv 5 (3×3 stride 2) + ReLU → dense 9 → dense 3: odd channel counts everywhere. */
function tinyModel(): tf.LayersModel {
  const input = tf.input({ shape: [9, 9, 3] });
  let y = tf.layers.conv2d({ name: 'c1', filters: 7, kernelSize: 3, padding: 'same' }).apply(input) as tf.SymbolicTensor;
  y = tf.layers.batchNormalization({ name: 'bn1' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.reLU({ name: 'r1' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.conv2d({ name: 'c2', filters: 5, kernelSize: 3, strides: 2, activation: 'relu' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.flatten({ name: 'f' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.dense({ name: 'd1', units: 9, activation: 'relu' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.dense({ name: 'd2', units: 3 }).apply(y) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: y });
  // Seeded kernels (Glorot-uniform range), random BatchNorm statistics and biases, so the fold and the bias matter.
  const bn = m.getLayer('bn1');
  bn.setWeights(bn.getWeights().map((w, i) => tf.tensor(Float32Array.from({ length: w.size }, () => (i === 3 ? 0.5 + rand() : i === 0 ? 0.5 + rand() : rand() - 0.5)), w.shape)));
  for (const name of ['c1', 'c2', 'd1', 'd2']) {
    const l = m.getLayer(name);
    const [k, b] = l.getWeights();
    const shape = k.shape;
    const limit = Math.sqrt(6 / (k.size / shape[shape.length - 1] + shape[shape.length - 1]));
    l.setWeights([tf.tensor(Float32Array.from({ length: k.size }, () => limit * (2 * rand() - 1)), shape), tf.tensor(Float32Array.from({ length: b.size }, () => 0.2 * (rand() - 0.5)), b.shape)]);
  }
  return m;
}

/**
 * Gives each multi-bit layer's channels 0 … I_max bases (cycling), so some channels have none;
 * `skewed`: channel 1 I_max bases, channel 2 none, the others 1 (the native backend then keeps the
 * compact rows and the JavaScript sum instead of padding every channel to I_max rows, except in the
 * 3-channel last layer; src/runtime/multibit.ts).
 */
function varyBases(model: tf.LayersModel, max: number, skewed = false): void {
  for (const l of multibitLayers(model)) {
    const w = l.quantizerWeights('kernel')[0];
    const n = w.shape[w.shape.length - 1] as number;
    const bases = (c: number) => (skewed ? (c === 1 ? max : c === 2 ? 0 : 1) : (c * 3 + 1) % (max + 1));
    tf.tidy(() => { w.write(tf.tensor(Float32Array.from({ length: n }, (_, c) => bases(c)), w.shape as number[])); });
  }
}

/** Runtime logits vs the TF.js model's on `count` random images (in batches of 5, then a batch of 1), per backend. */
async function agreements(model: tf.LayersModel, shape: number[], count: number) {
  const packed = packModel(model);
  const reference = await unpackModel(JSON.parse(JSON.stringify(packed.manifest)), packed.data);
  const x = tf.randomUniform([count, ...shape], 0, 1, 'float32', 12);
  const want = tf.tidy(() => (reference.predict(x) as tf.Tensor).dataSync() as Float32Array);
  const xs = x.dataSync() as Float32Array;
  x.dispose();
  reference.dispose();
  const per = shape.reduce((a, b) => a * b, 1);
  const classes = want.length / count;
  const argmax = (v: Float32Array, i: number) => { let b = 0; for (let j = 1; j < classes; j++) if (v[i * classes + j] > v[i * classes + b]) b = j; return b; };
  return backends.map((kernels) => {
    // Counts the float convolutions the kernels run (kernels and their native passes): the integer
    // rows need none; wasm and JS run int8 multi-bit layers on their float path (no bit-serial kernel).
    let floatCalls = 0;
    const counted = <T extends object>(o: T): T => new Proxy(o, { get: (t, key, r) => {
      const v = Reflect.get(t, key, r) as unknown;
      if (key === 'ops' && v != null) return counted(v as object);
      return typeof key === 'string' && key.startsWith('float') && typeof v === 'function'
        ? (...args: unknown[]) => { floatCalls++; return (v as (...a: unknown[]) => unknown).apply(t, args); } : v;
    } });
    const counting = counted(kernels);
    const rt = createRuntime(packed, { kernels: counting });
    const got = new Float32Array(want.length);
    for (let at = 0; at < count; at += 5) {
      const n = Math.min(5, count - at);
      got.set(rt.run(xs.subarray(at * per, (at + n) * per), n), at * classes);
    }
    const one = rt.run(xs.subarray(0, per), 1);
    let maxDelta = 0;
    let scale = 0;
    let agree = 0;
    for (let i = 0; i < classes; i++) maxDelta = Math.max(maxDelta, Math.abs(want[i] - one[i]));
    for (let i = 0; i < want.length; i++) { maxDelta = Math.max(maxDelta, Math.abs(want[i] - got[i])); scale = Math.max(scale, Math.abs(want[i])); }
    for (let i = 0; i < count; i++) if (argmax(want, i) === argmax(got, i)) agree++;
    // The logits depend on the image (a constant output would agree trivially).
    let spread = 0;
    for (let i = classes; i < want.length; i++) spread = Math.max(spread, Math.abs(want[i] - want[i % classes]));
    assert.ok(spread > 1e-2 * scale, `logits vary over the images (spread ${spread}, scale ${scale})`);
    const kernelOf = Object.fromEntries(rt.steps.filter((s) => s.kernel).map((s) => [s.layers[0], s.kernel]));
    return { kernels: kernels.name, native: kernels.name === 'native', floatCalls, agreement: agree / count, relative: maxDelta / scale, kernelOf, steps: rt.steps };
  });
}

const config = (inputQuantizer: QuantizeConfig['inputQuantizer'], bases = 3): QuantizeConfig => ({ kernelQuantizer: { kind: 'multibit', bases }, inputQuantizer, keepFirstAndLastFloat: false });

test('multi-bit layers with DoReFa A2 inputs run as integer rows (one per basis) and agree with TF.js: odd channels, channels with 0 bases, BN folded, batch 1 and 5', async () => {
  for (const skewed of [false, true]) {
    const model = await quantizeModel(tinyModel(), config({ kind: 'dorefa', bits: 2 }, skewed ? 6 : 3));
    varyBases(model, skewed ? 6 : 3, skewed);
    for (const a of await agreements(model, [9, 9, 3], 40)) {
      assert.deepEqual(a.kernelOf, { c1: 'int8', c2: 'int8', d1: 'int8', d2: 'int8' }, `${a.kernels}: ${JSON.stringify(a.steps)}`);
      assert.deepEqual(a.steps.find((s) => s.layers[0] === 'c1')?.layers, ['c1', 'bn1', 'r1'], 'BatchNorm and ReLU in the epilogue');
      // Only kernels with the native passes (bit-serial) run the rows; wasm and JS run the float twin.
      if (a.native) assert.equal(a.floatCalls, 0, `${a.kernels}: the integer rows ran, no float convolution`);
      else assert.ok(a.floatCalls > 0, `${a.kernels}: no bit-serial kernel, so the float path`);
      assert.equal(a.agreement, 1, `${a.kernels}: top-1 agreement ${a.agreement}`);
      assert.ok(a.relative < 1e-5, `${a.kernels}: max |Δlogit| / max |logit| = ${a.relative}`);
    }
    model.dispose();
  }
});

test('multi-bit layers with sign inputs (rsign) run as binary rows (XNOR/popcount, packed bits from the layer before); with float inputs they stay float; both agree with TF.js', async () => {
  for (const [q, kernel] of [['rsign', 'binary'], [null, 'float']] as const) {
    const model = await quantizeModel(tinyModel(), config(q));
    varyBases(model, 3);
    // Learned-looking thresholds (inputs in [0, 1] and ReLU outputs are ≥ 0: a threshold of 0 would make every sign +1).
    for (const l of model.layers) for (const w of l.weights) if (w.name.includes('rsign_threshold')) tf.tidy(() => { w.write(tf.randomUniform(w.shape as number[], -0.8, 0.1, 'float32', 9)); });
    for (const a of await agreements(model, [9, 9, 3], 20)) {
      assert.deepEqual(a.kernelOf, { c1: kernel, c2: kernel, d1: kernel, d2: kernel }, `${a.kernels}: ${JSON.stringify(a.steps)}`);
      if (kernel === 'binary') assert.equal(a.steps.find((s) => s.layers[0] === 'c1')?.output, 'bits', 'c1 writes the packed sign bits c2 reads');
      assert.equal(a.agreement, 1, `${kernel} (${a.kernels}): top-1 agreement ${a.agreement}`);
      assert.ok(a.relative < 1e-5, `${kernel} (${a.kernels}): max |Δlogit| / max |logit| = ${a.relative}`);
    }
    model.dispose();
  }
});

test('ALQ lenet5 (alqConfig, --abits 2): conv2 and fc1 on the integer path, 100 % top-1 vs TF.js on 100 images; LOWBIT_MULTIBIT=0 keeps them float with the same logits', async () => {
  const teacher = buildModel('lenet5', { seed: 3 });
  const model = await quantizeModel(teacher, alqConfig({ alqBits: 2, wbits: 3, alqUniform: false, alqRefine: 2, abits: 2 }));
  varyBases(model, 3);
  const results = await agreements(model, [28, 28, 1], 100);
  for (const a of results) {
    assert.equal(a.kernelOf.conv2, 'int8', JSON.stringify(a.steps));
    assert.equal(a.kernelOf.fc1, 'int8', JSON.stringify(a.steps));
    assert.equal(a.agreement, 1, `${a.kernels}: top-1 agreement ${a.agreement}`);
    assert.ok(a.relative < 1e-5, `${a.kernels}: max |Δlogit| / max |logit| = ${a.relative}`);
  }
  process.env.LOWBIT_MULTIBIT = '0';
  try {
    for (const a of await agreements(model, [28, 28, 1], 20)) {
      assert.equal(a.kernelOf.conv2, 'float');
      assert.equal(a.kernelOf.fc1, 'float');
      assert.equal(a.agreement, 1);
      assert.ok(a.relative < 1e-5, `float path (${a.kernels}): ${a.relative}`);
    }
  } finally {
    delete process.env.LOWBIT_MULTIBIT;
  }
  model.dispose();
  teacher.dispose();
});
