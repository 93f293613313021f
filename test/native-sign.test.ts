/**
 * The binarizers' fused sign (native/train_ops.cc Sign, native backend only;
 * src/backend/sign-kernels.ts, src/quantizers/sign-fused.ts) against the tfjs-ops chains it
 * replaces (binary.ts: rsignReference, steSignReference, approxSignReference,
 * binaryChannelReference): values, ∂x, ∂threshold, ∂w and ∂M bit-identical, on random inputs with
 * zeros, −0, exact ties (x + b = 0), the STE window's edges (±1), NaN, ±∞ and large values; and a
 * BiTAT last-stage model's loss and every gradient bit-identical with and without the fused
 * kernels. Under LOWBIT_NATIVE=0 (wasm) it checks that the op chains are used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, setBackend, backendAvailable, buildModel } from '../src/node.js';
import {
  approxSign, approxSignReference, binaryChannel, binaryChannelReference, rsign, rsignReference, steSign, steSignReference,
} from '../src/quantizers/binary.js';
import { fusedSignApplies } from '../src/quantizers/sign-fused.js';
import { dorefaWeight, dorefaWeightReference } from '../src/quantizers/dorefa.js';
import { RSIGN_FORWARD, SCALED_SIGN_FORWARD, SIGN_BACKWARD, SIGN_FORWARD } from '../src/backend/sign-kernels.js';
import { bitatStages, bitatStudent } from '../src/methods/bitat/run.js';
import { BitatTransform } from '../src/methods/bitat/transform.js';
import { mulberry32 } from '../src/random.js';

const backend = backendAvailable('native') ? 'native' : 'wasm';
await setBackend(backend);
const skip = backend !== 'native' ? 'the fused sign is native-only' : false;

const rand = mulberry32(17);
const gaussian = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());

function assertSame(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!(a[i] === b[i] || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) assert.fail(`${what}: element ${i} is ${a[i]}, the reference ${b[i]}`);
  }
}

/** y, and the gradients of Σ w·q(…) with respect to each input. */
function run(q: (...t: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], w: tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const y = q(...xs);
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(q(...a), w)))(xs);
    return [y, ...grads].map((t) => Float32Array.from(t.dataSync()));
  });
}

/** Activations [n, c] around 0 with the special values spread over the channels, and a threshold per channel. */
function activations(n: number, c: number, special: boolean): { x: Float32Array; b: Float32Array } {
  const b = Float32Array.from({ length: c }, (_, i) => (i % 4 === 0 ? 0 : gaussian() * 0.3));
  const x = Float32Array.from({ length: n * c }, () => gaussian() * 1.2);
  if (special) {
    const values = [0, -0, 1, -1, 0.5, -0.5, 2, -2, 1e6, -1e6, Infinity, -Infinity, NaN, 1e-40, -1e-40];
    for (let i = 0; i < x.length; i += 7) {
      const ch = i % c;
      const k = (i / 7) % (values.length + 3);
      // Exact ties t = x + b = 0 and the window's edges t = ±1 (where b is 0 or x − b rounds back).
      x[i] = k < values.length ? values[k] : k === values.length ? -b[ch] : Math.fround(1 - b[ch]);
    }
  }
  return { x, b };
}

test(`${backend}: the fused sign is the training path on native only`, () => {
  const x = tf.tensor2d([[0.3, -2]]);
  const b = tf.tensor1d([0.1, 0.2]);
  assert.equal(fusedSignApplies(x, b), backend === 'native');
  assert.equal(fusedSignApplies(x), backend === 'native');
  // Not per-channel, int32, empty, scalar: never.
  assert.ok(!fusedSignApplies(x, tf.tensor1d([0.1])) && !fusedSignApplies(x, tf.tensor2d([[0.1], [0.2]])));
  assert.ok(!fusedSignApplies(tf.tensor([1, 2], undefined, 'int32')) && !fusedSignApplies(tf.zeros([0, 2])) && !fusedSignApplies(tf.scalar(1)));
  tf.dispose([x, b]);
});

// The 200 704-element case is mobilenet-tiny's RSign at batch 64; 401 408 runs the kernel's threaded path (≥ 2^18).
for (const [shape, special] of [[[3, 5, 5, 8], true], [[64, 14, 14, 16], false], [[64, 14, 14, 32], true], [[37, 3], true]] as const) {
  test(`${backend}: fused RSign = reference on [${shape}]${special ? ' with 0, −0, ties, ±1, NaN, ±∞' : ''}: y, ∂x, ∂threshold bit-identical`, { skip }, () => {
    const c = shape[shape.length - 1];
    const n = shape.reduce((a, d) => a * d, 1) / c;
    const { x: xv, b: bv } = activations(n, c, special);
    const x = tf.tensor(xv, [...shape]);
    const b = tf.tensor1d(bv);
    const w = tf.tensor(Float32Array.from(xv, () => gaussian()), [...shape]);
    const before = tf.memory().numTensors;
    const fused = run((a, t) => rsign(a, t), [x, b], w);
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    const ref = run((a, t) => rsignReference(a, t), [x, b], w);
    assertSame(fused[0], ref[0], 'y');
    assertSame(fused[1], ref[1], '∂x');
    assertSame(fused[2], ref[2], '∂threshold');
    // The values are ±1 and the gradient window was hit inside and out.
    assert.ok(fused[0].every((v) => v === 1 || v === -1));
    if (special) assert.ok(fused[1].some((v) => v === 0) && fused[1].some((v) => v !== 0 && Number.isFinite(v)));
    tf.dispose([x, b, w]);
  });
}

test(`${backend}: fused steSign and approxSign = reference (no threshold): y and ∂x bit-identical`, { skip }, () => {
  const { x: xv } = activations(500, 6, true);
  const x = tf.tensor2d(xv, [500, 6]);
  const w = tf.tensor2d(Float32Array.from(xv, () => gaussian()), [500, 6]);
  for (const [name, f, r] of [['steSign', steSign, steSignReference], ['approxSign', approxSign, approxSignReference]] as const) {
    const fused = run((a) => f(a), [x], w);
    const ref = run((a) => r(a), [x], w);
    assertSame(fused[0], ref[0], `${name} y`);
    assertSame(fused[1], ref[1], `${name} ∂x`);
  }
  tf.dispose([x, w]);
});

// DoReFa W1 / BWN weights, sign(w)·mean|w| (dorefa.ts binaryMeanScaled): conv [3,3,5,7] with
// zeros and −0 (sign(0) = +1), a dense [800, 500] (lenet5's fc1), one channel, and a huge value.
for (const shape of [[3, 3, 5, 7], [800, 500], [17, 1]] as const) {
  test(`${backend}: fused DoReFa W1 weights = reference on [${shape}]: q (±E, the fused kernel) and ∂w = dy bit-identical`, { skip }, async () => {
    const size = shape.reduce((a: number, d) => a * d, 1);
    const wv = Float32Array.from({ length: size }, (_, i) => (i % 11 === 0 ? 0 : i % 13 === 0 ? -0 : gaussian() * 0.05));
    if (size > 100) wv[5] = 3e7;
    const x = tf.tensor(wv, [...shape]);
    const w = tf.tensor(Float32Array.from(wv, () => gaussian()), [...shape]);
    const fused = run((a) => dorefaWeight(a, 1), [x], w);
    const ref = run((a) => dorefaWeightReference(a, 1), [x], w);
    assertSame(fused[0], ref[0], 'q');
    assertSame(fused[1], ref[1], '∂w');
    const e = Math.abs(fused[0][0]);
    assert.ok(e > 0 && fused[0].every((v, i) => v === (wv[i] >= 0 ? e : -e)), 'values ±E with sign(±0) = +1');
    assertSame(fused[1], w.dataSync() as Float32Array, '∂w is dy');
    const names = (await tf.profile(() => tf.dispose(dorefaWeight(x, 1)))).kernels.map((k) => k.name);
    assert.ok(names.includes(SCALED_SIGN_FORWARD) && !names.includes('GreaterEqual'), names.join());
    tf.dispose([x, w]);
  });
}

/**
 * Per-column binary weights with and without BiTAT's metric M: integer-valued w and M give exact
 * zeros (sign(0) = +1) and z = ±1 (the STE window's edges); random ones the general case.
 */
for (const [rows, cols, integer] of [[9, 5, true], [64, 64, false], [144, 32, false]] as const) {
  test(`${backend}: fused binaryChannel = reference (${rows}×${cols}${integer ? ', integer-valued: zeros and ±1 in M·w' : ''}): q, ∂w, ∂M bit-identical`, { skip }, () => {
    const value = () => (integer ? Math.round(gaussian()) : gaussian() * 0.2);
    const w = tf.tensor2d(Float32Array.from({ length: rows * cols }, value), [rows, cols]);
    const m = tf.tidy(() => {
      const a = tf.tensor2d(Float32Array.from({ length: rows * rows }, () => (integer ? Math.round(gaussian() * 0.7) : gaussian() / Math.sqrt(rows))), [rows, rows]);
      return integer ? tf.add(a, tf.transpose(a)) : tf.add(tf.matMul(a, a, false, true), tf.mul(tf.eye(rows), 0.1));
    }) as tf.Tensor2D;
    const dy = tf.tensor2d(Float32Array.from({ length: rows * cols }, gaussian), [rows, cols]);
    const before = tf.memory().numTensors;
    const fused = run((a, b) => binaryChannel(a as tf.Tensor2D, b as tf.Tensor2D), [w, m], dy);
    const fusedPlain = run((a) => binaryChannel(a as tf.Tensor2D), [w], dy);
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    const ref = run((a, b) => binaryChannelReference(a as tf.Tensor2D, b as tf.Tensor2D), [w, m], dy);
    const refPlain = run((a) => binaryChannelReference(a as tf.Tensor2D), [w], dy);
    assertSame(fused[0], ref[0], 'q under M');
    assertSame(fused[1], ref[1], '∂w under M');
    assertSame(fused[2], ref[2], '∂M');
    assertSame(fusedPlain[0], refPlain[0], 'q');
    assertSame(fusedPlain[1], refPlain[1], '∂w');
    if (integer) {
      const z = tf.tidy(() => tf.matMul(m, w).dataSync());
      assert.ok(z.some((v) => v === 0) && z.some((v) => Math.abs(v) === 1) && z.some((v) => Math.abs(v) > 1), 'zeros, edges and outside values occur');
    }
    tf.dispose([w, m, dy]);
  });
}

const fusedNames = [SIGN_FORWARD, RSIGN_FORWARD, SCALED_SIGN_FORWARD];

/** f() with the fused sign kernels unregistered (so binary.ts takes its op chains), then restored. */
function withoutFused<T>(f: () => T): T {
  const configs = fusedNames.map((n) => tf.getKernel(n, 'wasm')!);
  for (const n of fusedNames) tf.unregisterKernel(n, 'wasm');
  try {
    assert.ok(!tf.tidy(() => fusedSignApplies(tf.ones([1]))), 'the op chains run');
    return f();
  } finally {
    for (const c of configs) tf.registerKernel(c);
  }
}

test(`${backend}: a BiTAT last-stage step (mobilenet-tiny, metric on): loss and every gradient bit-identical to the op chains`, { skip }, async () => {
  const student = await bitatStudent(buildModel('mobilenet-tiny', { seed: 3 }));
  const stages = bitatStages(student);
  const last = stages[stages.length - 1];
  const transforms = last.map((l) => {
    const d = l.latentKernel.read().size / l.kernelColumns();
    // A random correlation C = AAᵀ/d + 0.1·I: a non-trivial metric M.
    const a = Array.from({ length: d }, () => Array.from({ length: d }, gaussian));
    const c = a.map((ri) => a.map((rj) => ri.reduce((s, v, k) => s + v * rj[k], 0) / d));
    c.forEach((r, i) => { r[i] += 0.1; });
    const t = new BitatTransform(c, {}, `${l.name}_test`);
    l.kernelMetric = () => t.metric();
    return t;
  });
  // Some RSign thresholds away from 0, so that x + b matters.
  for (const w of student.weights.filter((v) => /rsign_threshold/.test(v.originalName))) w.write(tf.randomUniform(w.shape as number[], -0.3, 0.3, 'float32', 5));
  const vars = [...student.trainableWeights.map((w) => w.read() as tf.Variable), ...transforms.flatMap((t) => t.variables())];
  const x = tf.randomUniform([8, 28, 28, 1], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 7], 'int32'), 10);
  const step = () => tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, student.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars);
    return [value, ...vars.map((v) => grads[v.name])].map((t) => Float32Array.from(t.dataSync()));
  });
  const fused = step();
  const profile = await tf.profile(() => tf.dispose(tf.tidy(() => tf.variableGrads(() => tf.sum(student.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars).value)));
  const names = profile.kernels.map((k) => k.name);
  const ref = withoutFused(step);
  assertSame(fused[0], ref[0], 'loss');
  vars.forEach((v, i) => assertSame(fused[i + 1], ref[i + 1], `∂${v.name}`));
  assert.ok(vars.some((_, i) => fused[i + 1].some((g) => g !== 0)), 'gradients flow');
  // The fused kernels ran (8 RSigns, 8 binary kernels, two sign passes in the metric's α) and no GreaterEqual did.
  assert.equal(names.filter((n) => n === RSIGN_FORWARD).length, 8, names.join());
  assert.ok(names.includes(SCALED_SIGN_FORWARD) && names.includes(SIGN_BACKWARD) && !names.includes('GreaterEqual'), names.join());
  transforms.forEach((t) => t.dispose());
  tf.dispose([x, y]);
  student.dispose();
});

test(`${backend}: numTensors stays flat over fused training steps`, { skip }, () => {
  const x = tf.variable(tf.randomNormal([16, 12], 0, 1, 'float32', 4));
  const b = tf.variable(tf.randomNormal([12], 0, 0.3, 'float32', 5));
  const m = tf.variable(tf.add(tf.eye(16), 0.05));
  const opt = tf.train.adam(1e-3);
  const loss = () => tf.sum(tf.square(tf.add(rsign(x, b), binaryChannel(x as unknown as tf.Tensor2D, m as unknown as tf.Tensor2D)))) as tf.Scalar;
  opt.minimize(loss, false, [x, b, m]);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) opt.minimize(loss, false, [x, b, m]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, b, m]);
  opt.dispose();
});

test(`${backend}: the op chains where the kernel does not apply (plain wasm, cpu)`, async () => {
  for (const other of ['wasm', 'cpu']) {
    await setBackend(other);
    try {
      const x = tf.tensor2d([[0.3, -2], [0, 1]]);
      const b = tf.tensor1d([0.1, -0.1]);
      assert.ok(!fusedSignApplies(x, b), `${other} keeps the op chains`);
      const names = (await tf.profile(() => tf.dispose(rsign(x, b)))).kernels.map((k) => k.name);
      assert.ok(!names.includes(RSIGN_FORWARD), names.join());
      assert.deepEqual(Array.from(rsign(x, b).dataSync()), [1, -1, 1, 1]);
      tf.dispose([x, b]);
    } finally {
      await setBackend(backend);
    }
  }
});
