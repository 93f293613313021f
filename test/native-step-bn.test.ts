/**
 * Two step kernels against the paths they replace (native/train_ops.cc):
 * - BatchNormForward and BatchNormGradOnePass (the training batch norm, src/backend/native.ts)
 *   against the addon's BatchNormTrain and BatchNormTrainGrad they replaced, called on the same heap
 *   buffers: y, μ, σ², dx, dγ, dβ bit for bit, on one thread's and the threaded path's sizes, and
 *   with 20 and 65 channels (the register blocks of 16 and 4, and single channels);
 * - Mean's gradient (src/backend/native-mean.ts) against TF.js's (meanGradReference) on native and
 *   on wasm: bit for bit, a kernel per gradient with no Multiply or RealDiv, second-order gradients,
 *   and the fallback for axes that are not one run.
 * Without the addon (LOWBIT_NATIVE=0) only the backend-independent checks run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, setBackend, backendAvailable } from '../src/node.js';
import { nativeAddon } from '../src/backend/native.js';
import { MEAN_GRAD, meanGradReference } from '../src/backend/native-mean.js';
import { mulberry32 } from '../src/random.js';

const skip = backendAvailable('native') ? false : 'the oneDNN addon is not built (LOWBIT_NATIVE=0 or no libdnnl-dev)';
const rand = mulberry32(41);
const gauss = (n: number, mean = 0, sd = 1) => Float32Array.from({ length: n }, () => mean + sd * Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand()));

function assertSame(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  for (let i = 0; i < a.length; i++) {
    if (!(Object.is(a[i], b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) assert.fail(`${what}: element ${i} is ${a[i]}, the reference's ${b[i]}`);
  }
}

type Heap = { wasm: { HEAPU8: Uint8Array }; dataIdMap: { get(id: object): { memoryOffset: number } } };

// [R, C]: mobilenet-tiny's [64, 14, 14, 16] (one thread), resnet20's [64, 28, 28, 16] (threaded), small and odd ones.
for (const [R, C] of [[64 * 14 * 14, 16], [64 * 28 * 28, 16], [7, 3], [1, 5], [300, 64], [5000, 65], [13000, 20]]) {
  test(`batch norm R ${R} C ${C}: BatchNormGradOnePass's dx, dγ, dβ and BatchNormForward's y, μ, σ² bit-identical to BatchNormTrainGrad and BatchNormTrain`, { skip }, async () => {
    await setBackend('native');
    const addon = nativeAddon() as unknown as Record<string, (heap: ArrayBuffer, params: Int32Array) => void>;
    const b = tf.backend() as unknown as Heap;
    const x = tf.tensor(gauss(R * C, 0.3, 2), [R, C]);
    const dy = tf.tensor(gauss(R * C), [R, C]);
    const [scale, mean, variance, dmean, dvar] = [gauss(C, 1, 0.5), gauss(C, 0.3, 0.1), Float32Array.from(gauss(C, 4, 1), Math.abs), gauss(C, 0, 0.1), gauss(C, 0, 0.1)]
      .map((v) => tf.tensor1d(v));
    const outs = [0, 1].map(() => [tf.zeros([R, C]), tf.zeros([C]), tf.zeros([C])]);
    const off = (t: tf.Tensor) => b.dataIdMap.get(t.dataId).memoryOffset;
    const eps = new Int32Array(Float32Array.from([1e-5]).buffer)[0];
    ['batchNormTrainGrad', 'batchNormGradOnePass'].forEach((fn, i) => addon[fn](b.wasm.HEAPU8.buffer as ArrayBuffer,
      Int32Array.from([R, C, off(x), off(dy), off(scale), off(mean), off(variance), off(dmean), off(dvar), ...outs[i].map(off), eps])));
    for (let k = 0; k < 3; k++) assertSame(outs[1][k].dataSync(), outs[0][k].dataSync(), ['dx', 'dγ', 'dβ'][k]);
    // The forward (BatchNormForward against BatchNormTrain): y, μ, σ².
    const fwd = [0, 1].map(() => [tf.zeros([R, C]), tf.zeros([C]), tf.zeros([C])]);
    ['batchNormTrain', 'batchNormForward'].forEach((fn, i) => addon[fn](b.wasm.HEAPU8.buffer as ArrayBuffer,
      Int32Array.from([R, C, off(x), off(scale), off(dmean), ...fwd[i].map(off), eps])));
    for (let k = 0; k < 3; k++) assertSame(fwd[1][k].dataSync(), fwd[0][k].dataSync(), ['y', 'μ', 'σ²'][k]);
    const sx = new Float64Array(C);
    x.dataSync().forEach((v, i) => { sx[i % C] += v; });
    fwd[1][1].dataSync().forEach((v, c) => assert.ok(Math.abs(v - sx[c] / R) <= 1e-6 * Math.max(1, Math.abs(sx[c] / R)), `μ[${c}] ${v} vs ${sx[c] / R}`));
    tf.dispose(fwd.flat());
    // And the values are the gradient: dβ = Σ dy.
    const sdy = new Float64Array(C);
    dy.dataSync().forEach((v, i) => { sdy[i % C] += v; });
    outs[1][2].dataSync().forEach((v, c) => assert.ok(Math.abs(v - sdy[c]) <= 1e-5 * Math.max(1, Math.abs(sdy[c])), `dβ[${c}] ${v} vs ${sdy[c]}`));
    tf.dispose([x, dy, scale, mean, variance, dmean, dvar, ...outs.flat()]);
    await setBackend('wasm');
  });
}

/** y and ∂x of Σ w·mean(x, axes) on the current backend. */
function meanRun(x: Float32Array, shape: number[], axes: number[], keepDims: boolean, w: Float32Array, wShape: number[]): Float32Array[] {
  return tf.tidy(() => {
    const tx = tf.tensor(x, shape);
    const tw = tf.tensor(w, wShape);
    const y = tf.mean(tx, axes, keepDims);
    const dx = tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.mean(p, axes, keepDims), tw)))(tx);
    return [y, dx].map((t) => Float32Array.from(t.dataSync()));
  });
}

const meanCases: Array<{ shape: number[]; axes: number[]; keepDims: boolean; native: boolean }> = [
  { shape: [64, 7, 7, 64], axes: [1, 2], keepDims: false, native: true }, // global average pooling
  { shape: [3, 5, 6, 7], axes: [1, 2], keepDims: true, native: true },
  { shape: [4, 9], axes: [0], keepDims: false, native: true },
  { shape: [4, 9], axes: [1], keepDims: false, native: true },
  { shape: [2, 3, 4], axes: [0, 1, 2], keepDims: false, native: true },
  { shape: [2, 3, 4, 5], axes: [1, 3], keepDims: false, native: false }, // not one run: TF.js's gradient
];

for (const c of meanCases) {
  test(`Mean's gradient ${c.shape.join('×')} over ${c.axes}${c.keepDims ? ' (keepDims)' : ''}: bit-identical to TF.js's on native and wasm (${c.native ? 'native kernel' : 'falls back'})`, { skip }, async () => {
    const n = c.shape.reduce((p, d) => p * d, 1);
    const x = gauss(n);
    const wShape = c.shape.map((d, i) => (c.axes.includes(i) ? 1 : d)).filter((_, i) => c.keepDims || !c.axes.includes(i));
    const w = gauss(wShape.reduce((p, d) => p * d, 1));
    await setBackend('wasm');
    const wasm = meanRun(x, c.shape, c.axes, c.keepDims, w, wShape);
    await setBackend('native');
    const profile = await tf.profile(() => tf.dispose(tf.grad((p: tf.Tensor) => tf.sum(tf.mean(p, c.axes, c.keepDims)))(tf.tensor(x, c.shape))));
    const native = meanRun(x, c.shape, c.axes, c.keepDims, w, wShape);
    const reference = tf.tidy(() => {
      const dy = tf.tensor(w, wShape);
      return Float32Array.from(meanGradReference(dy, tf.tensor(x, c.shape), c.axes).x().dataSync());
    });
    await setBackend('wasm');
    const names = profile.kernels.map((k) => k.name);
    assert.equal(names.includes(MEAN_GRAD), c.native, names.join(' '));
    if (c.native) assert.ok(!names.includes('RealDiv'), names.join(' '));
    assertSame(native[1], reference, '∂x vs TF.js\'s gradient on native');
    assertSame(native[1], wasm[1], '∂x vs wasm');
  });
}

test('Mean\'s gradient: second-order gradients through it equal wasm\'s', { skip }, async () => {
  const f = (x: tf.Tensor) => tf.sum(tf.mul(tf.mean(tf.mul(x, x), [1, 2]), tf.tensor([[1, 2], [3, 4]])));
  const xs = tf.tensor(gauss(2 * 3 * 3 * 2), [2, 3, 3, 2]);
  const run = () => tf.tidy(() => Array.from(tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.grad(f)(x), x)))(xs).dataSync()));
  await setBackend('wasm');
  const wasm = run();
  await setBackend('native');
  const native = run();
  await setBackend('wasm');
  xs.dispose();
  native.forEach((v, i) => assert.ok(Math.abs(v - wasm[i]) <= 1e-6 * Math.max(1, Math.abs(wasm[i])), `[${i}] ${v} vs wasm ${wasm[i]}`));
});

test('Mean\'s gradient on wasm is TF.js\'s (no native kernel)', async () => {
  await setBackend('wasm');
  assert.equal(tf.getKernel(MEAN_GRAD, 'wasm'), undefined);
  const dx = tf.tidy(() => Array.from(tf.grad((p: tf.Tensor) => tf.sum(tf.mean(p, [1])))(tf.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])).dataSync()));
  assert.deepEqual(dx, Array(8).fill(0.25));
});
