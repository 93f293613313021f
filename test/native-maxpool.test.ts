/**
 * The native MaxPool forward and its saved argmax (native/dnnl_addon.cc MaxPool, MaxPoolGrad;
 * src/backend/native.ts): the forward bit-identical to TF.js's cpu kernel on random shapes (odd
 * sizes, strides 1 and 2, 'same' and 'valid', ties, −∞ windows, ±0, NaN) and to the wasm kernel
 * (but for the two corners named in the test, ±0 ties and NaN), the gradient
 * through the saved argmax bit-identical to the native rescan and to the cpu kernel (to the wasm
 * kernel where its own tie rule agrees: tie-free positive inputs), and the side table holding
 * the argmax flat over training steps. Without the addon (LOWBIT_NATIVE=0) everything skips.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, setBackend, backendAvailable } from '../src/node.js';
import { maxPoolArgmaxCount, maxPoolGradPaths, nativeFallbackCounts } from '../src/backend/native.js';
import { mulberry32 } from '../src/random.js';

const skip = backendAvailable('native') ? false : 'the oneDNN addon is not built (LOWBIT_NATIVE=0 or no libdnnl-dev)';
const rand = mulberry32(23);
type Shape4 = [number, number, number, number];
type Kind = 'gauss' | 'ties' | 'neginf' | 'zeros' | 'nan' | 'positive';

/** Values of one kind: Gaussian; small integers (ties everywhere); Gaussian with −∞ runs (whole windows of −∞); ±0 and ±1; Gaussian with NaN runs; distinct positives. */
function values(n: number, kind: Kind): Float32Array {
  const gauss = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
  if (kind === 'positive') {
    const v = Float32Array.from({ length: n }, (_, i) => 1 + i);
    for (let i = n - 1; i > 0; i--) { const j = Math.floor(rand() * (i + 1)); [v[i], v[j]] = [v[j], v[i]]; }
    return v;
  }
  return Float32Array.from({ length: n }, (_, i) => {
    if (kind === 'ties') return Math.floor(rand() * 5) - 2;
    if (kind === 'zeros') return [0, -0, 1, -1][Math.floor(rand() * 4)];
    if (kind === 'neginf' && (Math.floor(i / 23) % 3 === 0 || rand() < 0.1)) return -Infinity;
    if (kind === 'nan' && (Math.floor(i / 19) % 4 === 0 || rand() < 0.15)) return NaN;
    return gauss();
  });
}

/** Bit-identical (NaN = NaN, +0 ≠ −0), or with `zeroSign: false` equal as numbers (+0 = −0). */
function assertSame(a: ArrayLike<number>, b: ArrayLike<number>, what: string, zeroSign = true): void {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  const show = (v: number) => (Object.is(v, -0) ? '-0' : String(v));
  for (let i = 0; i < a.length; i++) {
    if (!(Object.is(a[i], b[i]) || (!zeroSign && a[i] === b[i]) || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) assert.fail(`${what}: element ${i} is ${show(a[i])} against ${show(b[i])}`);
  }
}

interface Case { x: Shape4; k: number | [number, number]; s: number | [number, number]; pad: 'same' | 'valid'; kind: Kind }
const cases: Case[] = [
  { x: [2, 8, 8, 3], k: 2, s: 2, pad: 'valid', kind: 'gauss' }, // vgg-small's / lenet5's pool
  { x: [1, 7, 9, 5], k: 3, s: 2, pad: 'same', kind: 'gauss' },
  { x: [3, 5, 5, 1], k: 3, s: 1, pad: 'same', kind: 'ties' },
  { x: [2, 9, 7, 4], k: 2, s: 1, pad: 'valid', kind: 'ties' },
  { x: [2, 11, 13, 3], k: [3, 2], s: [2, 1], pad: 'same', kind: 'neginf' },
  { x: [1, 6, 6, 17], k: 2, s: 2, pad: 'same', kind: 'neginf' },
  { x: [2, 5, 7, 2], k: 3, s: 2, pad: 'valid', kind: 'zeros' },
  { x: [4, 13, 13, 8], k: 3, s: 2, pad: 'same', kind: 'ties' },
  { x: [64, 16, 16, 32], k: 2, s: 2, pad: 'valid', kind: 'gauss' }, // the threaded path
  { x: [2, 7, 7, 3], k: 3, s: 2, pad: 'same', kind: 'nan' },
  { x: [1, 8, 8, 5], k: 2, s: 2, pad: 'valid', kind: 'nan' },
];
// Random shapes from the seed: odd and even sizes, windows 1–3, strides 1–2, both paddings, every kind.
for (let i = 0; i < 8; i++) {
  const r = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const kinds: Kind[] = ['gauss', 'ties', 'neginf', 'zeros', 'nan'];
  cases.push({ x: [r(1, 3), r(3, 12), r(3, 12), r(1, 9)], k: [r(1, 3), r(1, 3)], s: [r(1, 2), r(1, 2)], pad: rand() < 0.5 ? 'same' : 'valid', kind: kinds[i % 5] });
}

/** y = maxPool(x) and ∂x of Σ w·maxPool(x) on `backend` (y computed under the tape, so the native backend saves an argmax). */
async function run(backend: string, c: Case, x: Float32Array, w: Float32Array | null): Promise<{ y: Float32Array; dx: Float32Array; yShape: number[] }> {
  await setBackend(backend);
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => {
    const tx = tf.tensor4d(x, c.x);
    const y = tf.maxPool(tx, c.k, c.s, c.pad);
    const tw = w == null ? tf.randomNormal(y.shape, 0, 1, 'float32', 5) : tf.tensor(w, y.shape);
    const dx = tf.grad((p: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(p as tf.Tensor4D, c.k, c.s, c.pad), tw)))(tx);
    return { y: Float32Array.from(y.dataSync()), dx: Float32Array.from(dx.dataSync()), yShape: y.shape };
  });
  assert.equal(tf.memory().numTensors, before, `maxPool on ${backend} leaks tensors`);
  return out;
}

/** ∂x by the native rescan: MaxPoolGrad on an output that holds no saved argmax (made outside any tape). */
function rescan(c: Case, x: Float32Array, w: Float32Array): Float32Array {
  return tf.tidy(() => {
    const tx = tf.tensor4d(x, c.x);
    const y = tf.maxPool(tx, c.k, c.s, c.pad);
    const dy = tf.tensor(w, y.shape);
    const dx = tf.engine().runKernel('MaxPoolGrad', { dy, input: tx, output: y }, { filterSize: c.k, strides: c.s, pad: c.pad }) as tf.Tensor;
    return Float32Array.from(dx.dataSync());
  });
}

/** At most two windows cover any input element: a position's gradient then sums the same in any order (the cpu kernel's order differs from ours). */
function overlapsAtMostTwice(c: Case): boolean {
  const pair = (v: number | [number, number]) => (Array.isArray(v) ? v : [v, v]);
  const [k, s] = [pair(c.k), pair(c.s)];
  return Math.ceil(k[0] / s[0]) * Math.ceil(k[1] / s[1]) <= 2;
}

for (const c of cases) {
  test(`native MaxPool x ${c.x} k ${c.k} s ${c.s} ${c.pad} (${c.kind}): y bit-identical to cpu and wasm; ∂x by the saved argmax = the rescan = cpu`, { skip }, async () => {
    const n = c.x.reduce((p, d) => p * d, 1);
    const x = values(n, c.kind);
    const cpu = await run('cpu', c, x, null);
    const w = values(cpu.y.length, 'gauss');
    const cpuRun = await run('cpu', c, x, w);
    const wasm = await run('wasm', c, x, w);
    nativeFallbackCounts.clear();
    const paths = { ...maxPoolGradPaths };
    const native = await run('native', c, x, w);
    assert.equal(nativeFallbackCounts.get('MaxPool') ?? 0, 0, 'MaxPool fell back');
    assert.equal(maxPoolGradPaths.saved - paths.saved, 1, 'the gradient used the saved argmax');
    assert.equal(maxPoolArgmaxCount(), 0, 'the saved argmax outlived its output');
    assertSame(native.y, cpuRun.y, 'y vs cpu');
    // wasm's kernel (XNNPACK) differs from cpu's in two corners: a window's max is whichever zero its
    // reduction tree keeps when +0 and −0 tie (cpu's: the first), and a NaN at a window's first position
    // makes it −∞ (cpu skips NaN everywhere). The native kernel is cpu's rule.
    if (c.kind !== 'nan') assertSame(native.y, wasm.y, 'y vs wasm', c.kind !== 'zeros');
    const again = rescan(c, x, w);
    assert.equal(maxPoolGradPaths.rescanned - paths.rescanned, 1, 'the rescan path ran');
    assertSame(native.dx, again, '∂x: saved argmax vs rescan');
    // The cpu kernel gives a window of only −∞ no gradient (its argmax starts at −∞ with "greater"); TF.js's rescan rule and ours give its first position.
    // A NaN never wins a window in either kernel (cpu's "greater" skips it, and the rescan compares with the max).
    if (c.kind !== 'neginf' && overlapsAtMostTwice(c)) assertSame(native.dx, cpuRun.dx, '∂x vs cpu');
    else for (let i = 0; i < n; i++) {
      if (Math.abs(native.dx[i] - cpuRun.dx[i]) > 1e-5 * (1 + Math.abs(cpuRun.dx[i])) && !(c.kind === 'neginf' && x[i] === -Infinity)) {
        assert.fail(`∂x vs cpu: element ${i} is ${native.dx[i]}, cpu's ${cpuRun.dx[i]}`);
      }
    }
  });
}

test('native MaxPool ∂x = the wasm kernel\'s on distinct positive inputs (where wasm\'s tie rule does not matter)', { skip }, async () => {
  for (const c of [{ x: [2, 8, 8, 3], k: 2, s: 2, pad: 'valid', kind: 'positive' }, { x: [1, 7, 9, 5], k: 3, s: 2, pad: 'same', kind: 'positive' },
    { x: [2, 6, 5, 2], k: 2, s: 1, pad: 'valid', kind: 'positive' }] as Case[]) {
    const x = values(c.x.reduce((p, d) => p * d, 1), c.kind);
    const shape = (await run('cpu', c, x, null)).y.length;
    const w = values(shape, 'gauss');
    const wasm = await run('wasm', c, x, w);
    const native = await run('native', c, x, w);
    assertSame(native.y, wasm.y, `y vs wasm ${c.x}`);
    assertSame(native.dx, wasm.dx, `∂x vs wasm ${c.x}`);
  }
});

test('native MaxPool: inference saves no argmax; MaxPoolGrad uses a saved one only for the x it pooled; rank-3 input', { skip }, async () => {
  await setBackend('native');
  const shape: Shape4 = [2, 6, 6, 3];
  const x = values(2 * 6 * 6 * 3, 'ties');
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const tx = tf.tensor4d(x, shape);
    tf.maxPool(tx, 2, 2, 'valid');
    assert.equal(maxPoolArgmaxCount(), 0, 'a forward outside any tape saved an argmax');
    let kept: tf.Tensor4D | null = null;
    tf.grad((p: tf.Tensor) => {
      const y = tf.maxPool(p as tf.Tensor4D, 2, 2, 'valid');
      kept = tf.keep(y);
      return tf.sum(y);
    })(tx);
    const y = kept! as tf.Tensor4D;
    assert.equal(maxPoolArgmaxCount(), 1, 'the kept pooled output keeps its argmax');
    const attrs = { filterSize: 2, strides: 2, pad: 'valid' };
    const dy = tf.randomNormal(y.shape, 0, 1, 'float32', 3);
    const paths = { ...maxPoolGradPaths };
    const saved = tf.engine().runKernel('MaxPoolGrad', { dy, input: tx, output: y }, attrs) as tf.Tensor;
    assert.equal(maxPoolGradPaths.saved - paths.saved, 1);
    const other = tf.tensor4d(x.map((v) => -v), shape);
    tf.engine().runKernel('MaxPoolGrad', { dy, input: other, output: y }, attrs);
    tf.engine().runKernel('MaxPoolGrad', { dy: tf.randomNormal([2, 5, 5, 3], 0, 1, 'float32', 4), input: tx, output: tf.maxPool(tx, 2, 1, 'valid') }, { ...attrs, strides: 1 });
    assert.equal(maxPoolGradPaths.rescanned - paths.rescanned, 2, 'another x, or a pooled tensor made outside the tape, rescans');
    const copy = tf.tensor4d(y.dataSync(), y.shape);
    assertSame(saved.dataSync(), (tf.engine().runKernel('MaxPoolGrad', { dy, input: tx, output: copy }, attrs) as tf.Tensor).dataSync(), 'saved vs rescan');
    y.dispose();
    assert.equal(maxPoolArgmaxCount(), 0, 'disposing the pooled output frees its argmax');
    // Rank 3: tf.maxPool reshapes to rank 4 (the same buffer) and back.
    const t3 = tf.tensor3d(x.slice(0, 6 * 6 * 3), [6, 6, 3]);
    const g3 = tf.grad((p: tf.Tensor) => tf.sum(tf.maxPool(p as tf.Tensor3D, 3, 1, 'same')))(t3);
    assert.equal(g3.shape.join(), '6,6,3');
    assert.equal(maxPoolGradPaths.saved - paths.saved, 2);
  });
  assert.equal(maxPoolArgmaxCount(), 0);
  assert.equal(tf.memory().numTensors, before);
});

test('native MaxPool: numTensors, the backend\'s buffers and the argmax table stay flat over training steps', { skip }, async () => {
  await setBackend('native');
  const model = tf.sequential({ layers: [
    tf.layers.conv2d({ inputShape: [12, 12, 3], filters: 4, kernelSize: 3, activation: 'relu' }),
    tf.layers.maxPooling2d({ poolSize: 2 }),
    tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same' }),
    tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same' }),
    tf.layers.flatten(), tf.layers.dense({ units: 3 }),
  ] });
  const optimizer = tf.train.adam(0.01);
  const xs = tf.tensor4d(values(8 * 12 * 12 * 3, 'gauss'), [8, 12, 12, 3]);
  const ys = tf.oneHot(tf.tensor1d([0, 1, 2, 0, 1, 2, 0, 1], 'int32'), 3);
  const step = () => tf.dispose(optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs, { training: true }) as tf.Tensor), true) ?? []);
  step();
  const paths = { ...maxPoolGradPaths };
  const tensors = tf.memory().numTensors;
  const dataIds = tf.backend().numDataIds();
  for (let i = 0; i < 5; i++) {
    step();
    assert.equal(tf.memory().numTensors, tensors, `numTensors after step ${i + 2}`);
    assert.equal(tf.backend().numDataIds(), dataIds, `backend buffers after step ${i + 2}`);
    assert.equal(maxPoolArgmaxCount(), 0, `argmax entries after step ${i + 2}`);
  }
  assert.equal(maxPoolGradPaths.saved - paths.saved, 10, 'both pools used their saved argmax every step');
  assert.equal(maxPoolGradPaths.rescanned - paths.rescanned, 0);
  tf.dispose([xs, ys]);
  model.dispose();
  optimizer.dispose();
});
