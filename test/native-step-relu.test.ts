/**
 * ReLU's gradient as one native kernel (native/train_ops.cc ReluGrad, src/backend/native-relu.ts)
 * against the path it replaces, TF.js's dy·cast(step(x)) (reluGradReference): on the native backend
 * with the reference (Step and Multiply kernels) and on plain wasm, ∂x bit for bit, signed zeros
 * and NaNs included; one kernel per gradient in the profile instead of Step and Multiply; the
 * fallback where the kernel does not apply. Without the addon (LOWBIT_NATIVE=0) only the
 * backend-independent checks run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, setBackend, backendAvailable } from '../src/node.js';
import { reluGradReference, RELU_GRAD } from '../src/backend/native-relu.js';
import { mulberry32 } from '../src/random.js';

const skip = backendAvailable('native') ? false : 'the oneDNN addon is not built (LOWBIT_NATIVE=0 or no libdnnl-dev)';
const rand = mulberry32(29);

/** Gaussian values with ±0, NaN, ±Infinity and subnormals mixed in. */
function values(n: number, seedShift: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => {
    const j = i + seedShift;
    if (j % 23 === 0) return 0;
    if (j % 29 === 0) return -0;
    if (j % 31 === 0) return NaN;
    if (j % 37 === 0) return j % 2 === 0 ? Infinity : -Infinity;
    if (j % 41 === 0) return (j % 2 === 0 ? 1 : -1) * 1e-40;
    return Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  });
}

function assertSame(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  for (let i = 0; i < a.length; i++) {
    if (!(Object.is(a[i], b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) assert.fail(`${what}: element ${i} is ${a[i]}, the reference's ${b[i]}`);
  }
}

/** y and ∂x of Σ w·relu(x) (∂x = w·step(x)), on the current backend, through TF.js's gradient machinery. */
function reluRun(x: Float32Array, w: Float32Array, shape: number[]): Float32Array[] {
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => {
    const [tx, tw] = [tf.tensor(x, shape), tf.tensor(w, shape)];
    const y = tf.relu(tx);
    const dx = tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.relu(p), tw)))(tx);
    return [y, dx].map((t) => Float32Array.from(t.dataSync()));
  });
  assert.equal(tf.memory().numTensors, before, 'relu leaks tensors');
  return out;
}

/** ∂x by the reference chain (Step, Cast, Multiply) on the current backend, given dy. */
function referenceGrad(x: Float32Array, dy: Float32Array, shape: number[]): Float32Array {
  return tf.tidy(() => Float32Array.from(reluGradReference(tf.tensor(dy, shape), tf.tensor(x, shape)).x().dataSync()));
}

const shapes = [[64, 32, 32, 16], [3, 5, 5, 8], [7, 12], [1]]; // the first: resnet20's first stage (threaded path)

for (const shape of shapes) {
  test(`native ReLU gradient ${shape.join('×')}: ∂x bit-identical to Step·Multiply on native and to wasm`, { skip }, async () => {
    const n = shape.reduce((p, d) => p * d, 1);
    const x = values(n, 0);
    const w = values(n, 7);
    await setBackend('wasm');
    const wasm = reluRun(x, w, shape);
    await setBackend('native');
    assert.ok(tf.getKernel(RELU_GRAD, 'wasm') != null, 'the kernel is registered while native is active');
    const native = reluRun(x, w, shape);
    const chain = referenceGrad(x, w, shape);
    const kernel = tf.tidy(() => Float32Array.from((tf.engine().runKernel(RELU_GRAD, { x: tf.tensor(x, shape), dy: tf.tensor(w, shape) }, {}) as tf.Tensor).dataSync()));
    await setBackend('wasm');
    // y: the native Relu keeps −0 and NaN where wasm's gives +0 (the forward kernel is not this file's); equal values.
    native[0].forEach((v, i) => assert.ok(v === wasm[0][i] || (Number.isNaN(v) && Number.isNaN(wasm[0][i])), `y[${i}] ${v} vs wasm ${wasm[0][i]}`));
    assertSame(native[1], chain, '∂x vs Step·Multiply on native');
    assertSame(kernel, chain, 'the kernel alone vs Step·Multiply on native');
    assertSame(native[1], wasm[1], '∂x vs wasm');
    // And against the definition, element by element: w·1 for x > 0, w·0 for x ≤ 0, NaN for NaN x.
    for (let i = 0; i < n; i++) {
      const expected = Number.isNaN(x[i]) ? NaN : Math.fround(w[i] * (x[i] > 0 ? 1 : 0));
      if (!(Object.is(native[1][i], expected) || (Number.isNaN(expected) && Number.isNaN(native[1][i])))) {
        assert.fail(`∂x[${i}] = ${native[1][i]}, expected ${expected} (x ${x[i]}, dy ${w[i]})`);
      }
    }
  });
}

test('native ReLU gradient: one LowbitReluGrad kernel per ReLU, no Step or Multiply, in a dense + ReLU training step', { skip }, async () => {
  await setBackend('native');
  const x = tf.randomNormal([8, 5], 0, 1, 'float32', 3);
  const v = tf.variable(tf.randomNormal([5, 6], 0, 1, 'float32', 4));
  const f = () => tf.sum(tf.relu(tf.matMul(x, v))) as tf.Scalar;
  const profile = await tf.profile(() => tf.dispose(tf.variableGrads(f, [v]).grads));
  const names = profile.kernels.map((k) => k.name);
  assert.equal(names.filter((k) => k === RELU_GRAD).length, 1, names.join(' '));
  assert.ok(!names.includes('Step'), names.join(' '));
  tf.dispose([x, v]);
  await setBackend('wasm');
});

test('native ReLU gradient: second-order gradients through it equal TF.js\'s on wasm', { skip }, async () => {
  // d/dx Σ w·relu'(x)·x·x-type terms: f(x) = Σ relu(x)·x² has f' = step(x)·x² + 2x·relu(x), f'' through the ReLU's gradient.
  const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.relu(x), tf.mul(x, x)));
  const xs = [-1.5, -0.25, 0, 0.5, 2, 3];
  const run = () => tf.tidy(() => Array.from(tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.grad(f)(x), tf.tensor([1, 2, 3, 4, 5, 6]))))(tf.tensor(xs)).dataSync()));
  await setBackend('wasm');
  const wasm = run();
  await setBackend('native');
  const native = run();
  await setBackend('wasm');
  assert.deepEqual(native, wasm);
  // f'' = 6x for x > 0, 0 otherwise, times the weights.
  xs.forEach((x, i) => assert.ok(Math.abs(native[i] - (x > 0 ? 6 * x * (i + 1) : 0)) < 1e-5, `f''(${x})·w = ${native[i]}`));
});

test('ReLU gradient falls back to TF.js\'s where the kernel does not apply: int32 dy, and the wasm backend', async () => {
  await setBackend('wasm');
  assert.equal(tf.getKernel(RELU_GRAD, 'wasm'), undefined, 'no native kernel on plain wasm');
  const x = Float32Array.from([-2, -0, 0, 0.5, NaN, 3]);
  const w = Float32Array.from([1, -1, 2, -3, 4, -5]);
  const [, dx] = reluRun(x, w, [6]);
  assertSame(dx, [0, -0, 0, -3, NaN, -5], '∂x on wasm');
  if (skip === false) {
    await setBackend('native');
    // An int32 ReLU: TF.js's gradient, as on wasm (the native kernel is float32 only).
    const r = tf.tidy(() => {
      const xi = tf.tensor([-2, 0, 3, 5], [4], 'int32');
      return Array.from(tf.grad((p: tf.Tensor) => tf.sum(tf.relu(p)))(xi).dataSync());
    });
    await setBackend('wasm');
    const ref = tf.tidy(() => Array.from(tf.grad((p: tf.Tensor) => tf.sum(tf.relu(p)))(tf.tensor([-2, 0, 3, 5], [4], 'int32')).dataSync()));
    assert.deepEqual(r, ref);
  }
});
