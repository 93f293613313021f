/**
 * The DQ auto-encoder's fused native kernels (native/dq.cc; src/methods/dq/native-kernels.ts) against the
 * tfjs-ops references they replace. The mixture NLL (croppedMixtureNll, mixtureNll) against
 * mixtureNllReference on the crop: per-image values within 1e-6 relative (the kernel sums the pixels in
 * float64, the reference in float32), gradients with respect to the parameters and the image
 * bit-identical (up to the sign of zero), on random
 * parameters that reach every branch (both edge bins, the middle bins, the 1e-12 floor, the −7
 * clamp of the log-scales, ties in the logits); the cropped border gets exactly zero gradient; flat
 * numTensors. On the native backend; without the addon (LOWBIT_NATIVE=0, wasm) it checks that the
 * reference is used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, setBackend, backendAvailable } from '../src/node.js';
import { croppedMixtureNll, cropParams, fusedMixtureApplies, mixtureNll, mixtureNllReference } from '../src/methods/dq/mixture.js';
import { mulberry32 } from '../src/random.js';

const backend = backendAvailable('native') ? 'native' : 'wasm';
await setBackend(backend);
const fused = backend === 'native' && tf.getKernel('LowbitDqMixtureNll', 'wasm') != null;
const skip = fused ? false : 'the fused DQ kernels need the native backend (the oneDNN addon)';

const rand = mulberry32(2024);
const gaussian = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());

/** Mixture parameters [N, S, S, 3·nMix]: logits (some tied), means in and beyond [−1, 1], log-scales around and below −7. */
function randomParams(n: number, size: number, nMix: number): tf.Tensor4D {
  const v = new Float32Array(n * size * size * 3 * nMix);
  for (let p = 0; p < n * size * size; p++) {
    const o = p * 3 * nMix;
    const tie = rand() < 0.1;
    for (let k = 0; k < nMix; k++) {
      v[o + k] = tie ? 0.5 : gaussian() * 2;
      v[o + nMix + k] = rand() < 0.1 ? gaussian() * 5 : (rand() * 2.4 - 1.2);
      v[o + 2 * nMix + k] = rand() < 0.15 ? -7 - rand() * 3 : gaussian() * 2 - 2;
    }
  }
  return tf.tensor4d(v, [n, size, size, 3 * nMix]);
}

/** Images k/255 with many 0 and 255 pixels (the edge bins). */
function randomImages(n: number, size: number): tf.Tensor4D {
  const v = Float32Array.from({ length: n * size * size }, () => {
    const r = rand();
    return r < 0.3 ? 0 : r < 0.4 ? 1 : Math.floor(rand() * 256) / 255;
  });
  return tf.tensor4d(v, [n, size, size, 1]);
}

/**
 * NLL per image and the gradients of Σ w·NLL with respect to params and x. The reference has no gradient
 * with respect to x (its edge masks come from Less and Greater, which have none in TF.js); x enters its
 * value only through centred = (2x − 1) − means, so its ∂x is −2·Σ_k ∂means_k of its own ∂params, cropped.
 */
function evaluate(f: (p: tf.Tensor4D, x: tf.Tensor4D) => tf.Tensor1D, p: tf.Tensor4D, x: tf.Tensor4D, w: tf.Tensor1D, reference = false): Float32Array[] {
  return tf.tidy(() => {
    const nll = f(p, x);
    const loss = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(f(a as tf.Tensor4D, b as tf.Tensor4D), w));
    let dp: tf.Tensor;
    let dx: tf.Tensor;
    if (reference) {
      dp = tf.grad((a: tf.Tensor) => loss(a, x))(p);
      const n = p.shape[3] / 3;
      dx = tf.mul(tf.sum(cropParams(tf.slice(dp, [0, 0, 0, n], [-1, -1, -1, n]) as tf.Tensor4D, x.shape[1]), 3, true), -2);
    } else {
      [dp, dx] = tf.grads(loss)([p, x]);
    }
    return [nll, dp, dx].map((t) => Float32Array.from(t.dataSync()));
  });
}

function assertSame(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i] + 0, b[i] + 0)) assert.fail(`${what}: element ${i} is ${a[i]}, the reference ${b[i]}`);
}

function assertClose(a: Float32Array, b: Float32Array, groups: number, rel: number, what: string): void {
  assert.equal(a.length, b.length);
  const per = b.length / groups;
  for (let g = 0; g < groups; g++) {
    let scale = 0;
    for (let i = g * per; i < (g + 1) * per; i++) scale = Math.max(scale, Math.abs(b[i]));
    for (let i = g * per; i < (g + 1) * per; i++) {
      if (!(Math.abs(a[i] - b[i]) <= rel * scale)) assert.fail(`${what}: element ${i} is ${a[i]}, the reference ${b[i]} (tolerance ${rel} × ${scale})`);
    }
  }
}

test(`${backend}: the fused mixture NLL is the path on native with the DQ addon only`, () => {
  const p = tf.zeros([2, 32, 32, 15]);
  const x = tf.zeros([2, 28, 28, 1]);
  assert.equal(fusedMixtureApplies(p, x, 2), fused);
  assert.equal(fusedMixtureApplies(p, tf.zeros([2, 28, 28, 2]), 2), false); // one channel only
  assert.equal(fusedMixtureApplies(tf.zeros([2, 32, 32, 14]), x, 2), false); // 3·nMix channels
  tf.dispose([p, x]);
});

test(`${backend}: without the fused kernel croppedMixtureNll is the reference on the crop, bit for bit`, { skip: fused ? 'the fused kernel is registered here' : false }, () => {
  const p = randomParams(2, 32, 5);
  const x = randomImages(2, 28);
  const a = croppedMixtureNll(p, x).dataSync();
  const b = tf.tidy(() => mixtureNllReference(cropParams(p), x).dataSync());
  assert.deepEqual(Array.from(a), Array.from(b));
  tf.dispose([p, x]);
});

for (const [n, size, nMix, crop] of [[3, 32, 5, 28], [2, 9, 3, 9], [1, 6, 1, 4]] as const) {
  test(`${backend}: fused mixture NLL = reference (${n}×${size}×${size}, ${nMix} components, crop ${crop}): values, ∂params, ∂x`, { skip }, () => {
    const p = randomParams(n, size, nMix);
    const x = randomImages(n, crop);
    const w = tf.tensor1d(Array.from({ length: n }, (_, i) => 0.5 + i));
    const ref = evaluate((a, b) => mixtureNllReference(cropParams(a, crop), b), p, x, w, true);
    const before = tf.memory().numTensors;
    const got = evaluate((a, b) => croppedMixtureNll(a, b), p, x, w);
    assert.equal(tf.memory().numTensors, before, 'no tensors left behind');
    assertClose(got[0], ref[0], n, 1e-6, 'NLL');
    assertSame(got[1], ref[1], '∂params');
    assertSame(got[2], ref[2], '∂x');
    // The border the crop drops: exactly zero.
    const off = (size - crop) / 2;
    const c = 3 * nMix;
    for (let i = 0; i < got[1].length; i++) {
      const pix = Math.floor(i / c) % (size * size);
      const [r, col] = [Math.floor(pix / size), pix % size];
      if (r < off || r >= off + crop || col < off || col >= off + crop) assert.equal(got[1][i], 0);
    }
    if (size === crop) assertClose(mixtureNll(p, x).dataSync() as Float32Array, ref[0], n, 1e-6, 'mixtureNll');
    tf.dispose([p, x, w]);
  });
}

test(`${backend}: fused mixture NLL: every branch is reached and the floor gives zero gradient`, { skip }, () => {
  // One pixel per case: an edge bin at 0 and at 255, a middle bin, and a middle bin far outside a sharp
  // component (σ(a) − σ(b) = 0 in float32, so the 1e-12 floor holds and its gradient is zero).
  const x = tf.tensor4d([0, 1, 128 / 255, 128 / 255], [4, 1, 1, 1]);
  const p = tf.tensor4d([[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0.9, -9]].flat(), [4, 1, 1, 3]);
  const w = tf.ones([4]) as tf.Tensor1D;
  const ref = evaluate((a, b) => mixtureNllReference(a, b), p, x, w, true);
  const got = evaluate((a, b) => croppedMixtureNll(a, b), p, x, w);
  assertClose(got[0], ref[0], 4, 1e-6, 'NLL');
  assertSame(got[1], ref[1], '∂params');
  assert.ok(Math.abs(got[0][3] + Math.log(1e-12)) < 1e-4, `the floor: ${got[0][3]}`);
  assert.deepEqual(Array.from(got[1].slice(9, 12)).map((v) => Math.abs(v)), [0, 0, 0]);
  assert.equal(got[1][11], ref[1][11]); // the clamped log-scale (−9 < −7) gets no gradient
  tf.dispose([p, x, w]);
});
