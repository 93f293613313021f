import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf } from '../src/index.js';
import {
  dorefaActivation, dorefaGradient, dorefaWeight, lsq, pact, resolveQuantizer, specFromName, steSign, ternary, uniform,
} from '../src/quantizers/index.js';
import { ensureBackend } from '../src/index.js';

await ensureBackend(); // the browser-safe core starts no backend at import

const arr = (t: tf.Tensor) => Array.from(t.dataSync());
function near(actual: number[], expected: number[], what: string, tol = 1e-6) {
  assert.equal(actual.length, expected.length, what);
  actual.forEach((a, i) => assert.ok(Math.abs(a - expected[i]) <= tol, `${what}[${i}]: ${a} vs ${expected[i]}`));
}
/** Every value lies exactly (to float32 precision) on the documented set. */
function onSet(values: number[], set: number[], what: string) {
  for (const v of values) assert.ok(set.some((s) => Math.abs(v - s) <= 1e-6 * Math.max(1, Math.abs(s))), `${what}: ${v} not in {${set}}`);
}
/** Value and gradient of sum(dy ⊙ q(x)) with respect to each input. */
function grads(f: (...xs: tf.Tensor[]) => tf.Tensor, xs: number[][], dy?: number[]) {
  const ts = xs.map((x) => tf.tensor(x, x.length === 1 ? [] : [x.length]));
  const value = arr(f(...ts));
  const g = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), dy ? tf.tensor(dy) : 1)))(ts);
  return { value, grads: g.map(arr) };
}

test('dorefaWeight k=2: the four levels {−1, −⅓, ⅓, 1}; gradient through tanh and the max-normalisation', () => {
  const w = [-2, -0.1, 0, 0.3, 1.5];
  const { value, grads: [g] } = grads((x) => dorefaWeight(x, 2), [w]);
  onSet(value, [-1, -1 / 3, 1 / 3, 1], 'values');
  const m = Math.tanh(2);
  const expected = w.map((x) => 2 * Math.round(3 * (Math.tanh(x) / (2 * m) + 0.5)) / 3 - 1);
  near(value, expected, 'q(w)');
  // For every element but the arg-max, ∂Σq/∂w_i = 2 · (1/(2m)) · (1 − tanh² w_i) (STE at the rounding).
  [1, 2, 3, 4].forEach((i) => near([g[i]], [(1 - Math.tanh(w[i]) ** 2) / m], `grad[${i}]`, 1e-5));
  for (const k of [3, 4]) onSet(arr(dorefaWeight(tf.randomNormal([200], 0, 1, 'float32', k), k)),
    Array.from({ length: 2 ** k }, (_, i) => (2 * i) / (2 ** k - 1) - 1), `k=${k}`);
});

test('dorefaWeight k=1: sign(w)·mean|w| with sign(0)=+1, identity gradient', () => {
  const w = [-0.4, 0, 0.2, 1];
  const E = (0.4 + 0 + 0.2 + 1) / 4;
  const dy = [0.3, -2, 5, 1];
  const { value, grads: [g] } = grads((x) => dorefaWeight(x, 1), [w], dy);
  near(value, [-E, E, E, E], 'q(w)');
  near(g, dy, 'gradient = dy');
});

test('dorefaActivation: clip to [0,1], round to k bits; STE inside [0,1], zero outside', () => {
  const x = [-0.5, 0, 0.2, 0.5, 0.9, 1.3];
  const { value, grads: [g] } = grads((t) => dorefaActivation(t, 2), [x]);
  near(value, [0, 0, 1 / 3, 2 / 3, 1, 1], 'q(x)'); // 0.5·3 = 1.5 rounds half to even → 2
  near(g, [0, 1, 1, 1, 1, 0], 'gradient mask');
  assert.deepEqual(arr(dorefaActivation(tf.tensor([0.37, -3]), 32)), arr(tf.tensor([0.37, -3])));
});

test('dorefaGradient: identity forward; backward on the noisy k-bit grid, seeded', () => {
  const x = tf.randomNormal([2, 6], 0, 1, 'float32', 1);
  const up = tf.randomNormal([2, 6], 0, 1, 'float32', 2);
  assert.deepEqual(arr(dorefaGradient(x, 4, 7)), arr(x));
  const g = (seed: number) => arr(tf.grad((t: tf.Tensor) => tf.sum(tf.mul(dorefaGradient(t, 4, seed), up)))(x));
  const a = g(7);
  assert.deepEqual(a, g(7));
  assert.notDeepEqual(a, g(8));
  const upv = arr(up);
  for (const row of [0, 1]) {
    const M = Math.max(...upv.slice(row * 6, row * 6 + 6).map(Math.abs));
    onSet(a.slice(row * 6, row * 6 + 6), Array.from({ length: 16 }, (_, i) => 2 * M * (i / 15 - 0.5)), `row ${row}`);
  }
});

test('ternary TWN: Δ = 0.7·mean|w|, α = mean of |w| above Δ; STE. WRPN: {−1, 0, 1} with clipped STE', () => {
  const w = [-1, -0.2, 0.05, 0.3, 0.9, 0];
  const alpha = (1 + 0.3 + 0.9) / 3;
  const t = grads((x) => ternary(x), [w]);
  near(t.value, [-alpha, 0, 0, alpha, alpha, 0], 'TWN');
  near(t.grads[0], [1, 1, 1, 1, 1, 1], 'TWN gradient');
  const r = grads((x) => ternary(x, { form: 'wrpn' }), [[-1.5, -0.6, -0.4, 0.4, 0.6, 1.2]]);
  near(r.value, [-1, -1, 0, 0, 1, 1], 'WRPN');
  near(r.grads[0], [0, 1, 1, 1, 1, 0], 'WRPN gradient');
});

test('uniform: QONNX Quant semantics (round half to even, clamp to the integer range), STE inside the range', () => {
  const x = [-5, -1.3, 0.26, 0.75, 3.9];
  const s = grads((t) => uniform(t, { bits: 4, scale: 0.5 }), [x]);
  near(s.value, [-4, -1.5, 0.5, 1, 3.5], 'signed 4-bit');
  near(s.grads[0], [0, 1, 1, 1, 0], 'gradient');
  near(arr(uniform(tf.tensor(x), { bits: 4, scale: 0.5, narrow: true })), [-3.5, -1.5, 0.5, 1, 3.5], 'narrow');
  near(arr(uniform(tf.tensor(x), { bits: 3, scale: 0.5, signed: false })), [0, 0, 0.5, 1, 3.5], 'unsigned 3-bit');
  near(arr(uniform(tf.tensor(x), { bits: 4, scale: 0.5, zeroPoint: 2 })), [-5, -1.5, 0.5, 1, 2.5], 'zero point 2');
  near(arr(uniform(tf.tensor([[1, 1], [3, 3]]), { bits: 2, scale: tf.tensor([0.5, 2]), axis: -1 })), [0.5, 0, 0.5, 2], 'per-channel');
  const dyn = arr(uniform(tf.tensor([-2, 0.3, 1]), { bits: 8, scale: 'max' }));
  onSet(dyn, Array.from({ length: 256 }, (_, i) => ((i - 128) * 2) / 128), 'dynamic max scale');
});

test('LSQ: hand-computed value, input mask and step gradient', () => {
  const x = [-3, -0.6, 0.1, 1.2, 2];
  const { value, grads: [gx, gs] } = grads((t, st) => lsq(t, st, { bits: 3 }), [x, [0.5]]);
  near(value, [-2, -0.5, 0, 1, 1.5], 'q(x)');
  near(gx, [0, 1, 1, 1, 0], 'dx');
  near(gs, [(-4 + 0.2 - 0.2 - 0.4 + 3) / Math.sqrt(5 * 3)], 'ds', 1e-5);
});

test('PACT: clip to [0, α], k-bit grid on [0, α]; dx = [0 ≤ x ≤ α], dα = Σ[x ≥ α]', () => {
  const { value, grads: [gx, ga] } = grads((t, a) => pact(t, a, 2), [[-1, 0.5, 1.2, 2, 3], [2]]);
  near(value, [0, 2 / 3, 4 / 3, 2, 2], 'q(x)', 1e-5);
  near(gx, [0, 1, 1, 1, 0], 'dx');
  near(ga, [2], 'dα');
});

test('steSign: {−1, +1} with sign(0) = +1, clipped STE', () => {
  const { value, grads: [g] } = grads((t) => steSign(t), [[-2, -0.5, 0, 0.7, 1.5]]);
  near(value, [-1, -1, 1, 1, 1], 'values');
  near(g, [0, 1, 1, 1, 0], 'gradient');
});

test('quantizer specs: names, precision, and errors that name the culprit', () => {
  assert.deepEqual(specFromName('dorefa2'), { kind: 'dorefa', bits: 2 });
  assert.equal(resolveQuantizer('binary').precision, 1);
  assert.equal(resolveQuantizer({ kind: 'uniform', bits: 4 }).precision, 4);
  assert.equal(resolveQuantizer('ternary').precision, 2);
  assert.throws(() => resolveQuantizer({ kind: 'dorefa', bits: 0 }), /dorefa.*bits must be a whole number from 1 to 32, got 0/);
  assert.throws(() => resolveQuantizer({ kind: 'uniform', bits: 33 }), /uniform.*got 33/);
  assert.throws(() => resolveQuantizer({ kind: 'dorefa', bits: 2.5 }), /got 2.5/);
  assert.throws(() => resolveQuantizer({ kind: 'fancy' } as never, 'conv2 kernel'), /conv2 kernel: unknown quantizer kind "fancy"/);
  assert.throws(() => resolveQuantizer('dorefa'), /unknown quantizer 'dorefa'/);
});
