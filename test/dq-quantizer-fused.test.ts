/**
 * DepthwiseQuantizer's fused nearest-code kernel (native/dq.cc nearestCode; src/methods/dq/native-kernels.ts)
 * against the tfjs-ops path it replaces (nearestCodeIndices per group, gathers, one-hot EMA products),
 * which the test gets by unregistering the kernel. The same quantizer state is run through both:
 * the codes equal (ties, from duplicated codewords and an all-equal codebook, go to the lowest index),
 * the outputs (straight-through q, VQ loss) and the gradient to x bit-identical, the EMA counts equal,
 * the EMA sums and codebooks within 1e-6 relative (the kernel sums a code's vectors in float64, the
 * reference's one-hot product in float32), the same dead-code restarts and statistics; flat numTensors
 * over training calls. Without the addon (LOWBIT_NATIVE=0, wasm) it checks that the reference runs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, setBackend, backendAvailable } from '../src/node.js';
import { DepthwiseQuantizer } from '../src/layers/depthwise-quantizer.js';
import { NEAREST_CODE } from '../src/methods/dq/kernel-names.js';
import { setNoiseState } from '../src/quantizers/noise.js';

const backend = backendAvailable('native') ? 'native' : 'wasm';
await setBackend(backend);
const fusedKernel = tf.getKernel(NEAREST_CODE, 'wasm');
const skip = fusedKernel != null ? false : 'the fused DQ kernels need the native backend (the oneDNN addon)';

/** Runs f with the fused kernel unregistered (the tfjs-ops reference path), then registers it again. */
function reference<T>(f: () => T): T {
  tf.unregisterKernel(NEAREST_CODE, 'wasm');
  try {
    return f();
  } finally {
    tf.registerKernel(fusedKernel!);
  }
}

type Weights = Float32Array[];
const weightsOf = (q: DepthwiseQuantizer): Weights => q.getWeights().map((w) => Float32Array.from(w.dataSync()));

/** A built quantizer with the given codebooks [M, K, D] (EMA sums a copy, counts 1). */
function quantizer(m: number, k: number, d: number, book: Float32Array): DepthwiseQuantizer {
  const q = new DepthwiseQuantizer({ name: `q${m}_${k}_${d}`, groups: m, codes: k, seed: 3 });
  q.build([null, 4, 4, m * d]);
  const books = tf.tensor3d(book, [m, k, d]);
  q.setWeights([books, tf.ones([m, k]), books, tf.scalar(0)]);
  books.dispose();
  return q;
}

/** One training call: outputs, ∂x of Σ w·q + Σ vq, the weights after the EMA step, the statistics. */
function trainingCall(q: DepthwiseQuantizer, x: tf.Tensor, w: tf.Tensor) {
  setNoiseState(77);
  let st = new Float32Array(0);
  let vq = new Float32Array(0);
  let dx = new Float32Array(0);
  tf.tidy(() => {
    const g = tf.grad((a: tf.Tensor) => {
      const outs = q.apply(a, { training: true }) as tf.Tensor[];
      [st, vq] = outs.map((t) => Float32Array.from(t.dataSync()));
      return tf.add(tf.sum(tf.mul(outs[0], w)), tf.sum(outs[1]));
    })(x);
    dx = Float32Array.from(g.dataSync());
  });
  return { st, vq, dx, weights: weightsOf(q), stats: q.lastStats };
}

function assertSame(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i] + 0, b[i] + 0)) assert.fail(`${what}: element ${i} is ${a[i]}, the reference ${b[i]}`);
}

function assertClose(a: Float32Array, b: Float32Array, rel: number, what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= rel * Math.max(1, Math.abs(b[i])))) assert.fail(`${what}: element ${i} is ${a[i]}, the reference ${b[i]}`);
  }
}

const randn = (shape: number[], seed: number) => Float32Array.from(tf.tidy(() => tf.randomNormal(shape, 0, 1, 'float32', seed).dataSync()));

test(`${backend}: the fused search is the path on native with the DQ addon, for EMA codebooks only`, () => {
  const x = tf.zeros([1, 2, 2, 8]);
  assert.equal(new DepthwiseQuantizer({ groups: 2, codes: 4 }).fusedSearchApplies(x), fusedKernel != null);
  assert.equal(new DepthwiseQuantizer({ groups: 2, codes: 4, learning: 'loss' }).fusedSearchApplies(x), false);
  x.dispose();
});

test(`${backend}: fused nearest-code search = reference, ties to the lowest index`, { skip }, () => {
  for (const [m, k, d, seed] of [[4, 32, 8, 1], [1, 7, 3, 2], [8, 5, 4, 3], [2, 64, 16, 4]]) {
    const book = randn([m, k, d], seed);
    // Ties: in group 0 code k−1 repeats code 1 (so code 1 must win), and the last group's codes are all equal (code 0 wins).
    if (k > 2) book.copyWithin((k - 1) * d, d, 2 * d);
    if (m > 1) book.fill(0.25, (m - 1) * k * d);
    const q = quantizer(m, k, d, book);
    const zv = randn([3, 4, 4, m * d], seed + 10);
    // Some positions exactly on a codeword of group 0 (distance ≈ 0 to code 1 and its duplicate).
    for (let i = 0; i < 5; i++) zv.set(book.subarray(d, 2 * d), i * m * d);
    const x = tf.tensor4d(zv, [3, 4, 4, m * d]);
    const got = q.assign(x);
    const want = reference(() => q.assign(x));
    assert.deepEqual(Array.from(got), Array.from(want), `M ${m} K ${k} D ${d}`);
    for (let i = 0; i < 5; i++) assert.equal(got[i * m], 1, 'the lower of two equal codewords');
    if (m > 1) for (let i = 0; i < got.length / m; i++) assert.equal(got[i * m + m - 1], 0, 'all codewords equal: code 0');
    x.dispose();
  }
});

test(`${backend}: fused training call = reference: outputs, ∂x, EMA state, dead-code restarts, statistics`, { skip }, () => {
  let restarts = 0;
  for (const [m, k, d, n, seed] of [[4, 32, 8, 4, 5], [2, 16, 4, 1, 6], [1, 8, 8, 2, 7]]) {
    const book = randn([m, k, d], seed);
    const zv = randn([n, 4, 4, m * d], seed + 20);
    const x = tf.tensor4d(zv, [n, 4, 4, m * d]);
    const w = tf.randomNormal(x.shape, 0, 1, 'float32', seed + 30);
    const fusedQ = quantizer(m, k, d, book);
    const refQ = quantizer(m, k, d, book);
    for (let step = 0; step < 3; step++) {
      const before = tf.memory().numTensors;
      const got = trainingCall(fusedQ, x, w);
      if (step > 0) assert.equal(tf.memory().numTensors, before, 'flat numTensors over training calls');
      const want = reference(() => trainingCall(refQ, x, w));
      const what = `M ${m} K ${k} D ${d} n ${n} step ${step}`;
      assertSame(got.st, want.st, `${what}: q`);
      assertSame(got.vq, want.vq, `${what}: vq loss`);
      assertSame(got.dx, want.dx, `${what}: ∂x`);
      assert.deepEqual(got.stats, want.stats, `${what}: statistics`);
      const [book1, count1, sum1] = got.weights;
      const [book0, count0, sum0] = want.weights;
      assertSame(count1, count0, `${what}: EMA counts`);
      assertClose(sum1, sum0, 1e-6, `${what}: EMA sums`);
      assertClose(book1, book0, 1e-6, `${what}: codebooks`);
      if (want.stats!.dead.some((c) => c > 0)) restarts++;
      // Carry on from the same state: the reference's weights into both.
      fusedQ.setWeights(refQ.getWeights());
    }
    tf.dispose([x, w]);
  }
  assert.ok(restarts >= 2, `dead-code restarts in ${restarts} calls`);
});
