/**
 * The native PReLU (forward and its one-pass gradient), AvgPoolGrad, Concat, SplitV and Sum/Mean over middle axes
 * (native/train_ops.cc, src/backend/native.ts, src/backend/native-prelu.ts) against the TF.js wasm
 * kernels and TF.js's PReLU gradient they replace: values and ∂x bit-identical, PReLU's ∂α (a
 * float64 sum in the kernel, float32 in TF.js) within 1e-5 of TF.js and within 1e-6 of a float64
 * evaluation; and the cases they do not take fall back to the wasm kernels with the same results.
 * Without the addon (LOWBIT_NATIVE=0) only the backend-independent checks run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, setBackend, backendAvailable } from '../src/node.js';
import { nativeFallbackCounts } from '../src/backend/native.js';
import { preluGradReference } from '../src/backend/native-prelu.js';
import { mulberry32 } from '../src/random.js';
import { relativeError } from './helpers.js';

const skip = backendAvailable('native') ? false : 'the oneDNN addon is not built (LOWBIT_NATIVE=0 or no libdnnl-dev)';
const rand = mulberry32(17);
/** Gaussian values with exact zeros (both signs) and small integers mixed in. */
function values(n: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => {
    if (i % 29 === 0) return 0;
    if (i % 31 === 0) return -0;
    if (i % 37 === 0) return (i % 5) - 2;
    return Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  });
}

function assertSame(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  for (let i = 0; i < a.length; i++) {
    if (!(Object.is(a[i], b[i]) || (a[i] === b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) assert.fail(`${what}: element ${i} is ${a[i]}, wasm's ${b[i]}`);
  }
}

/** y, ∂x and ∂α of Σ w·prelu(x, α) on `backend`. */
async function preluRun(backend: string, x: Float32Array, xs: number[], a: Float32Array, as: number[], w: Float32Array): Promise<Float32Array[]> {
  await setBackend(backend);
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => {
    const [tx, ta, tw] = [tf.tensor(x, xs), tf.tensor(a, as), tf.tensor(w, xs)];
    const y = tf.prelu(tx, ta);
    const [dx, da] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.sum(tf.mul(tf.prelu(p, q), tw)))([tx, ta]);
    return [y, dx, da].map((t) => Float32Array.from(t.dataSync()));
  });
  assert.equal(tf.memory().numTensors, before, `prelu on ${backend} leaks tensors`);
  return out;
}

const preluCases: Array<{ x: number[]; alpha: number[]; native: boolean }> = [
  { x: [64, 14, 14, 16], alpha: [1, 1, 16], native: true }, // mobilenet-tiny's first PReLUs (threaded path)
  { x: [3, 5, 5, 8], alpha: [1, 1, 8], native: true },
  { x: [7, 12], alpha: [12], native: true },
  { x: [3, 4, 4, 8], alpha: [4, 4, 8], native: false }, // α per position: falls back
  { x: [3, 4, 4, 8], alpha: [4, 1, 1], native: false }, // α per row: falls back
];

for (const c of preluCases) {
  test(`native PReLU x ${c.x} α ${c.alpha}: y, ∂x bit-identical to wasm with TF.js's gradient, ∂α within 1e-5 (${c.native ? 'native kernels' : 'falls back'})`, { skip }, async () => {
    const n = c.x.reduce((p, d) => p * d, 1);
    const x = values(n);
    const a = Float32Array.from({ length: c.alpha.reduce((p, d) => p * d, 1) }, (_, i) => 0.05 + 0.1 * (i % 7) - (i % 3 === 0 ? 0.3 : 0));
    const w = values(n);
    const wasm = await preluRun('wasm', x, c.x, a, c.alpha, w);
    nativeFallbackCounts.clear();
    const native = await preluRun('native', x, c.x, a, c.alpha, w);
    assert.equal(nativeFallbackCounts.get('Prelu') ?? 0, c.native ? 0 : 2, 'forward calls that fell back (y, and the gradient pass)');
    await setBackend('wasm');
    assertSame(native[0], wasm[0], 'y');
    assertSame(native[1], wasm[1], '∂x');
    assert.ok(relativeError(native[2], wasm[2]) < 1e-5, `∂α vs TF.js: ${relativeError(native[2], wasm[2])}`);
    if (c.native) {
      // ∂α_c = Σ over positions with x ≤ 0 of w·x, in float64.
      const C = c.x[c.x.length - 1];
      const exact = new Float64Array(C);
      for (let i = 0; i < n; i++) if (!(x[i] > 0)) exact[i % C] += Math.fround(w[i] * x[i]);
      assert.ok(relativeError(native[2], exact) < 1e-6, `∂α vs float64: ${relativeError(native[2], exact)}`);
    } else {
      assertSame(native[2], wasm[2], '∂α (fallback: TF.js\'s gradient)');
    }
  });
}

test('PReLU\'s gradient on wasm is TF.js\'s (preluGradReference), whether or not the native backend was installed before', async () => {
  await setBackend('wasm');
  const x = tf.tensor(values(60), [3, 4, 5]);
  const a = tf.tensor([0.1, -0.2, 0.3, 0.25, 0], [5]);
  const dy = tf.tensor(values(60), [3, 4, 5]);
  const [dx, da] = tf.grads((p: tf.Tensor, q: tf.Tensor) => tf.prelu(p, q))([x, a], dy);
  const ref = preluGradReference(dy, x, a);
  assertSame(dx.dataSync(), ref.x().dataSync(), '∂x');
  assertSame(da.dataSync(), ref.alpha().dataSync(), '∂α');
  tf.dispose([x, a, dy, dx, da]);
});

/** The AvgPoolGrad kernel's dx on `backend`. */
async function avgPoolGradOn(backend: string, input: number[], dyShape: number[], dy: Float32Array, attrs: object): Promise<Float32Array> {
  await setBackend(backend);
  const [tdy, tin] = [tf.tensor(dy, dyShape), tf.zeros(input)];
  const dx = tf.engine().runKernel('AvgPoolGrad', { dy: tdy, input: tin }, attrs as never) as tf.Tensor;
  const out = Float32Array.from(dx.dataSync());
  tf.dispose([tdy, tin, dx]);
  return out;
}

const poolCases: Array<{ x: [number, number, number, number]; k: number; s: number; pad: 'valid' | 'same'; native: boolean }> = [
  { x: [64, 14, 14, 32], k: 2, s: 2, pad: 'valid', native: true }, // mobilenet-tiny's shortcut pool
  { x: [2, 7, 7, 5], k: 3, s: 1, pad: 'valid', native: true }, // overlapping windows
  { x: [2, 9, 8, 3], k: 3, s: 2, pad: 'valid', native: true },
  { x: [2, 7, 7, 5], k: 2, s: 2, pad: 'valid', native: true }, // a row and a column no window covers
  { x: [2, 7, 7, 5], k: 3, s: 2, pad: 'same', native: false }, // padded: falls back
];

for (const c of poolCases) {
  test(`native AvgPoolGrad x ${c.x} ${c.k}×${c.k} s${c.s} ${c.pad}: bit-identical to wasm (${c.native ? 'native kernel' : 'falls back'})`, { skip }, async () => {
    const info = tf.backend_util.computePool2DInfo(c.x, c.k, c.s, 1, c.pad);
    const dyShape = [c.x[0], info.outHeight, info.outWidth, c.x[3]];
    const dy = values(dyShape.reduce((p, d) => p * d, 1));
    const attrs = { filterSize: c.k, strides: c.s, pad: c.pad };
    const wasm = await avgPoolGradOn('wasm', c.x, dyShape, dy, attrs);
    nativeFallbackCounts.clear();
    const native = await avgPoolGradOn('native', c.x, dyShape, dy, attrs);
    assert.equal(nativeFallbackCounts.get('AvgPoolGrad') ?? 0, c.native ? 0 : 1);
    await setBackend('wasm');
    assertSame(native, wasm, 'dx');
  });
}

/** Concat of the parts along axis, SplitV of it back, and the gradient of Σ w·concat (a SplitV of w), on `backend`. */
async function concatRun(backend: string, parts: Array<{ v: Float32Array; shape: number[] }>, axis: number, sizes: number[], wv: Float32Array): Promise<Float32Array[]> {
  await setBackend(backend);
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => {
    const ts = parts.map((p) => tf.tensor(p.v, p.shape));
    const y = tf.concat(ts, axis);
    const w = tf.tensor(wv, y.shape);
    const back = tf.split(y, sizes, axis);
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(tf.concat(a, axis), w)))(ts);
    return [y, ...back, ...grads].map((t) => Float32Array.from(t.dataSync()));
  });
  assert.equal(tf.memory().numTensors, before, `concat/split on ${backend} leaks tensors`);
  return out;
}

const concatCases: Array<{ shapes: number[][]; axis: number; sizes: number[] }> = [
  { shapes: [[64, 14, 14, 16], [64, 14, 14, 16]], axis: 3, sizes: [16, 16] }, // mobilenet-tiny's channel concat
  { shapes: [[2, 3, 4, 5], [2, 3, 4, 2], [2, 3, 4, 1]], axis: -1, sizes: [3, 4, 1] },
  { shapes: [[2, 3, 4], [2, 5, 4]], axis: 1, sizes: [1, 7] },
  { shapes: [[1, 6], [3, 6]], axis: 0, sizes: [2, 2] },
];

for (const c of concatCases) {
  test(`native Concat/SplitV ${c.shapes.map((s) => s.join('×')).join(' + ')} axis ${c.axis}: values and gradients bit-identical to wasm`, { skip }, async () => {
    const parts = c.shapes.map((shape) => ({ v: values(shape.reduce((p, d) => p * d, 1)), shape }));
    const w = values(parts.reduce((n, p) => n + p.v.length, 0));
    const wasm = await concatRun('wasm', parts, c.axis, c.sizes, w);
    nativeFallbackCounts.clear();
    const native = await concatRun('native', parts, c.axis, c.sizes, w);
    assert.equal(nativeFallbackCounts.get('Concat') ?? 0, 0);
    assert.equal(nativeFallbackCounts.get('SplitV') ?? 0, 0);
    await setBackend('wasm');
    assert.equal(native.length, wasm.length);
    native.forEach((v, i) => assertSame(v, wasm[i], `output ${i}`));
  });
}

test('native Concat of int32 tensors and of one non-empty part fall back to wasm with the same results', { skip }, async () => {
  await setBackend('native');
  nativeFallbackCounts.clear();
  const a = tf.tensor([1, 2, 3], [3, 1], 'int32');
  const b = tf.tensor([4, 5, 6], [3, 1], 'int32');
  const c = tf.concat([a, b], 1);
  assert.deepEqual(Array.from(c.dataSync()), [1, 4, 2, 5, 3, 6]);
  const e = tf.concat([tf.tensor([1.5, 2.5], [2, 1]), tf.zeros([2, 0])], 1);
  assert.deepEqual(Array.from(e.dataSync()), [1.5, 2.5]);
  assert.equal(nativeFallbackCounts.get('Concat'), 2);
  tf.dispose([a, b, c, e]);
  await setBackend('wasm');
});

/** The Sum or Mean kernel on `backend`. */
async function reduceOn(backend: string, kernel: string, x: Float32Array, shape: number[], axis: number[], keepDims: boolean): Promise<{ v: Float32Array; shape: number[] }> {
  await setBackend(backend);
  const t = tf.tensor(x, shape);
  const r = tf.engine().runKernel(kernel, { x: t }, { axis, keepDims } as never) as tf.Tensor;
  const out = { v: Float32Array.from(r.dataSync()), shape: r.shape };
  tf.dispose([t, r]);
  return out;
}

for (const [shape, axis, keepDims, native] of [
  [[64, 7, 7, 64], [1, 2], false, true], // mobilenet-tiny's global average pooling (threaded path)
  [[3, 5, 6, 7], [2, 1], true, true],
  [[3, 5, 6, 7], [1], false, true],
  [[3, 5, 6, 7], [0, 1], false, true],
  [[3, 5, 6, 7], [3], false, false], // the last axis: falls back
  [[3, 5, 6, 7], [0, 2], false, false], // not a run of axes: falls back
] as Array<[number[], number[], boolean, boolean]>) {
  test(`native Sum and Mean of ${shape.join('×')} over axes ${axis}${keepDims ? ' (keepDims)' : ''} = wasm within 1e-6 (${native ? 'native' : 'falls back'})`, { skip }, async () => {
    const x = values(shape.reduce((p, d) => p * d, 1));
    for (const kernel of ['Sum', 'Mean']) {
      const wasm = await reduceOn('wasm', kernel, x, shape, axis, keepDims);
      nativeFallbackCounts.clear();
      const nat = await reduceOn('native', kernel, x, shape, axis, keepDims);
      assert.equal(nativeFallbackCounts.get(kernel) ?? 0, native ? 0 : 1);
      await setBackend('wasm');
      assert.deepEqual(nat.shape, wasm.shape);
      assert.ok(relativeError(nat.v, wasm.v) < 1e-6, `${kernel}: ${relativeError(nat.v, wasm.v)}`);
    }
  });
}

test('native batch-norm moving averages: one kernel, bit-identical to tfjs-layers\' update chain on wasm; a training call runs no Sub', { skip }, async () => {
  const C = 37;
  const [om, ov, m, v] = [values(C), values(C).map(Math.abs), values(C), values(C).map(Math.abs)];
  const momentum = 0.9;
  await setBackend('wasm');
  const chain = tf.tidy(() => [[om, m], [ov, v]].map(([o, b]) => {
    const old = tf.tensor(o);
    return Float32Array.from(tf.sub(old, tf.mul(tf.sub(old, tf.tensor(b)), 1 - momentum)).dataSync());
  }));
  await setBackend('native');
  const kernel = tf.tidy(() => (tf.engine().runKernel('LowbitBatchNormMovingAverages',
    { movingMean: tf.tensor(om), movingVariance: tf.tensor(ov), mean: tf.tensor(m), variance: tf.tensor(v) },
    { factor: 1 - momentum } as never) as unknown as tf.Tensor[]).map((t) => Float32Array.from(t.dataSync())));
  assertSame(kernel[0], chain[0], 'moving mean');
  assertSame(kernel[1], chain[1], 'moving variance');
  // A BatchNormalization layer's training call on native: BN kernel plus the moving-average kernel, no elementwise chain.
  const layer = tf.layers.batchNormalization({ momentum, epsilon: 1e-3 });
  const x = tf.tensor(values(4 * 3 * 3 * 5), [4, 3, 3, 5]);
  layer.apply(x, { training: true });
  const before = layer.getWeights().map((w) => Float32Array.from(w.dataSync()));
  const profile = await tf.profile(() => tf.dispose(layer.apply(x, { training: true }) as tf.Tensor));
  const names = profile.kernels.map((k) => k.name);
  assert.deepEqual(names.filter((k) => k.startsWith('Lowbit')), ['LowbitBatchNormTrain', 'LowbitBatchNormMovingAverages'], names.join(','));
  assert.ok(!names.includes('Sub') && !names.includes('Multiply'), names.join(','));
  const after = layer.getWeights().map((w) => Float32Array.from(w.dataSync()));
  assert.ok(after[2].some((a, i) => a !== before[2][i]), 'the moving mean moved');
  tf.dispose([x]);
  layer.dispose();
  await setBackend('wasm');
});
