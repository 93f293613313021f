/**
 * The fused fake-quant kernels (native/fakequant.cc, native backend only; src/backend/fakequant-kernels.ts) against the tfjs-ops chains they replace (dorefaActivationReference, lsqReference):
 * values and ∂x bit-identical, LSQ's ∂step within float32 summation noise of the reference and
 * within 1e-6 of a float64 evaluation of the LSQ formula; on inputs with exact grid points and
 * ties (round half to even), the clip boundaries, values beyond the range, zeros and ±1e6.
 * On the native backend; under LOWBIT_NATIVE=0 (wasm) it checks that the op chains are used.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, setBackend, backendAvailable } from '../src/node.js';
import { dorefaActivation, dorefaActivationReference, dorefaWeight, dorefaWeightReference } from '../src/quantizers/dorefa.js';
import { integerRange, lsq, lsqReference } from '../src/quantizers/uniform.js';
import { fusedDorefaActivationApplies, fusedDorefaWeightApplies, fusedLsqApplies } from '../src/quantizers/fakequant-fused.js';
import { mulberry32 } from '../src/random.js';

const backend = backendAvailable('native') ? 'native' : 'wasm';
await setBackend(backend);
const skip = backend !== 'native' ? 'the fused kernels are native-only' : false;

const rand = mulberry32(91);
const gaussian = () => Math.sqrt(-2 * Math.log(rand() + 1e-12)) * Math.cos(2 * Math.PI * rand());
const fr = Math.fround;

/** Random values around [lo, hi], every grid point and midpoint (ties) of step `step` from lo to hi, the edges and extremes. */
function inputs(count: number, lo: number, hi: number, step: number): Float32Array {
  const special: number[] = [0, -0, 0.5, 1e6, -1e6, lo, hi, fr(lo - 1e-3), fr(hi + 1e-3), lo - step, hi + step, 1e-40, -1e-40];
  for (let v = lo; v <= hi + 1e-9; v += step) special.push(fr(v), fr(v + step / 2), fr(v - step / 2));
  const span = hi - lo;
  const random = Array.from({ length: count }, () => lo + span / 2 + gaussian() * span * 0.6);
  return Float32Array.from([...special, ...random]);
}

function assertSame(a: Float32Array, b: Float32Array, what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    if (!(a[i] === b[i] || (Number.isNaN(a[i]) && Number.isNaN(b[i])))) assert.fail(`${what}: element ${i} is ${a[i]}, the reference ${b[i]}`);
  }
}

/** y, and the gradients of Σ w·q(x) with respect to each input. */
function run(q: (...t: tf.Tensor[]) => tf.Tensor, xs: tf.Tensor[], w: tf.Tensor): Float32Array[] {
  return tf.tidy(() => {
    const y = q(...xs);
    const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(q(...a), w)))(xs);
    return [y, ...grads].map((t) => Float32Array.from(t.dataSync()));
  });
}

test(`${backend}: the fused fake-quant kernels are the training path on native only`, () => {
  const x = tf.tensor([0.3, 2]);
  const step = tf.scalar(0.1);
  assert.equal(fusedDorefaActivationApplies(x), backend === 'native');
  assert.equal(fusedLsqApplies(x, step), backend === 'native');
  assert.equal(fusedDorefaWeightApplies(x), backend === 'native');
  tf.dispose([x, step]);
});

for (const [bits, count] of [[1, 3000], [2, 3000], [4, 3000], [8, 3000], [2, 100_000]]) {
  test(`${backend}: fused DoReFa activation = reference (${bits} bits, ${count} values): values and ∂x incl. grid points, ties, edges, ±1e6`, { skip }, () => {
    const n = 2 ** bits - 1;
    const xv = inputs(count, 0, 1, 1 / n);
    const x = tf.tensor(xv);
    const w = tf.tensor(Float32Array.from(xv, () => gaussian()));
    const before = tf.memory().numTensors;
    const fused = run((a) => dorefaActivation(a, bits), [x], w);
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    const ref = run((a) => dorefaActivationReference(a, bits), [x], w);
    assertSame(fused[0], ref[0], 'value');
    assertSame(fused[1], ref[1], '∂x');
    // The ties did occur: some x·n is exactly halfway between two integers.
    assert.ok(xv.some((v) => { const t = fr(Math.min(Math.max(v, 0), 1) * n); return t - Math.floor(t) === 0.5; }));
    tf.dispose([x, w]);
  });
}

/**
 * DoReFa k-bit weights, tanh included: values bit-identical to the chain; ∂w within 1e-6 relative
 * (the kernel's tanh, native/fakequant.cc tanh_f32, and TF.js's wasm Tanh differ in the last bit for some inputs,
 * and ∂w = (1 − t²)·∂t carries it) except at the elements holding max|tanh(w)|, whose ∂w carries
 * the gradient through the max (a float64 sum in the kernel, a float32 one in the chain): there
 * within 1e-5 of the largest |∂w|. With ±1e6 in w, tanh
 * saturates and several elements tie for the max.
 */
for (const [bits, count, extremes] of [[2, 3000, true], [3, 3000, false], [4, 3000, true], [8, 3000, false], [2, 100_000, true]] as const) {
  test(`${backend}: fused DoReFa ${bits}-bit weights = reference (${count} values${extremes ? ', ±1e6: tied maxima' : ''}): values and ∂w`, { skip }, () => {
    const wv = Float32Array.from({ length: count }, () => gaussian() * 0.3);
    if (extremes) wv.set([1e6, -1e6, 0, -0, 1e-40, 20, -20], 0);
    const x = tf.tensor(wv);
    const dy = tf.tensor(Float32Array.from(wv, () => gaussian()));
    const before = tf.memory().numTensors;
    const fused = run((a) => dorefaWeight(a, bits), [x], dy);
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    const ref = run((a) => dorefaWeightReference(a, bits), [x], dy);
    assertSame(fused[0], ref[0], 'value');
    const t = tf.tidy(() => tf.abs(tf.tanh(x)).dataSync());
    let m = 0;
    t.forEach((v) => { m = Math.max(m, v); });
    let scale = 0;
    ref[1].forEach((v) => { scale = Math.max(scale, Math.abs(v)); });
    let atMax = 0;
    for (let i = 0; i < count; i++) {
      if (t[i] === m) {
        atMax++;
        assert.ok(Math.abs(fused[1][i] - ref[1][i]) <= 1e-5 * scale, `∂w at the max (element ${i}): ${fused[1][i]} vs ${ref[1][i]}`);
      } else if (Math.abs(fused[1][i] - ref[1][i]) > 1e-6 * Math.abs(ref[1][i])) assert.fail(`∂w element ${i}: ${fused[1][i]}, the reference ${ref[1][i]}`);
    }
    // (The kernel's tanh, native/fakequant.cc tanh_f32, within 1 ulp of the correctly rounded tanh,
    // and TF.js's wasm Tanh differ in the last bit for some inputs; where that moves max|tanh(w)| by
    // an ulp, every ∂w = (1 − t²)·dy/m2 moves in its last bits: hence 1e-6, not equality.)
    assert.ok(extremes ? atMax >= 3 : atMax >= 1, `${atMax} elements at the max`);
    tf.dispose([x, dy]);
  });
}

/** Σ dy·e in float64 with e the LSQ step-gradient terms of float32 v = x/s, times g. */
function lsqStepGrad(xv: Float32Array, dy: Float32Array, s: number, qMin: number, qMax: number): { value: number; scale: number } {
  const g = 1 / Math.sqrt(xv.length * Math.max(qMax, 1));
  let sum = 0;
  let abs = 0;
  xv.forEach((xi, i) => {
    const v = fr(xi / s);
    const r = Math.round(v) - (Math.abs(v % 1) === 0.5 && Math.round(v) % 2 !== 0 ? 1 : 0); // half to even
    const e = v < qMin ? qMin : v > qMax ? qMax : fr(r - v);
    sum += fr(dy[i] * e);
    abs += Math.abs(fr(dy[i] * e));
  });
  return { value: sum * fr(g), scale: abs * g };
}

// The last case is large enough for the native kernel's threaded path (≥ 2^15 elements).
for (const [bits, signed, s, count] of [[2, true, 0.25, 4000], [2, false, 0.05, 4000], [4, true, 0.1, 4000], [8, false, 0.0625, 4000], [2, false, 0.125, 100_000]] as const) {
  test(`${backend}: fused LSQ = reference (${bits} bits, ${signed ? 'signed' : 'unsigned'}, s = ${s}, ${count} values): values, ∂x, ∂s`, { skip }, () => {
    const [qMin, qMax] = integerRange(bits, signed, false);
    const xv = inputs(count, qMin * s, qMax * s, s);
    const dyv = Float32Array.from(xv, () => gaussian());
    const x = tf.tensor(xv);
    const w = tf.tensor(dyv);
    const step = tf.scalar(s);
    const before = tf.memory().numTensors;
    const fused = run((a, b) => lsq(a, b, { bits, signed }), [x, step], w);
    assert.equal(tf.memory().numTensors, before, 'no tensor leaks');
    const ref = run((a, b) => lsqReference(a, b, { bits, signed }), [x, step], w);
    assertSame(fused[0], ref[0], 'value');
    assertSame(fused[1], ref[1], '∂x');
    const exact = lsqStepGrad(xv, dyv, fr(s), qMin, qMax);
    // Float64 accumulation: within 1e-6 of the formula; the reference's float32 sum within 1e-5 (of Σ|terms|).
    assert.ok(Math.abs(fused[2][0] - exact.value) <= 1e-6 * exact.scale + 1e-7 * Math.abs(exact.value), `∂s ${fused[2][0]} vs float64 ${exact.value}`);
    assert.ok(Math.abs(fused[2][0] - ref[2][0]) <= 1e-5 * exact.scale, `∂s ${fused[2][0]} vs reference ${ref[2][0]}`);
    if (Number.isInteger(Math.log2(s))) assert.ok(xv.some((v) => { const t = fr(v / s); return t - Math.floor(t) === 0.5; }), 'ties occur');
    tf.dispose([x, w, step]);
  });
}

test(`${backend}: one kernel each way, and numTensors stays flat over training steps`, { skip }, async () => {
  const x = tf.variable(tf.randomNormal([32, 50], 0.3, 0.5, 'float32', 4));
  const step = tf.variable(tf.scalar(0.1));
  const opt = tf.train.adam(1e-3);
  const loss = () => tf.sum(tf.square(tf.add(tf.add(dorefaActivation(x, 2), lsq(x, step, { bits: 2, signed: true })), dorefaWeight(x, 3)))) as tf.Scalar;
  const minimize = () => { opt.minimize(loss, false, [x, step]); };
  minimize();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) minimize();
  assert.equal(tf.memory().numTensors, before);
  const forward = await tf.profile(() => tf.dispose(loss()));
  const names = forward.kernels.map((k) => k.name);
  assert.equal(names.filter((k) => k === 'LowbitDorefaActQuant').length, 1, names.join(','));
  assert.equal(names.filter((k) => k === 'LowbitLsqQuant').length, 1, names.join(','));
  assert.equal(names.filter((k) => k === 'LowbitDorefaWeightQuant').length, 1, names.join(','));
  assert.ok(!names.includes('Round') && !names.includes('ClipByValue') && !names.includes('Tanh'), `no op chain, no separate tanh: ${names.join(',')}`);
  const backward = await tf.profile(() => tf.dispose(tf.grads(() => loss())([x, step])));
  const bnames = backward.kernels.map((k) => k.name);
  assert.ok(['LowbitDorefaActQuantGrad', 'LowbitLsqQuantGrad', 'LowbitDorefaWeightQuantGrad'].every((k) => bnames.includes(k)), bnames.join(','));
  tf.dispose([x, step]);
  opt.dispose();
});

test(`${backend}: the op chain where the kernels do not apply (cpu backend, wasm; a per-channel step; int32 input)`, async () => {
  const xs = tf.tensor2d([[0.3, -2], [0.5, 7]]);
  const perChannel = tf.tensor1d([0.1, 0.2]);
  assert.ok(!fusedLsqApplies(xs, perChannel));
  assert.ok(!fusedDorefaActivationApplies(tf.tensor([1, 2], undefined, 'int32')));
  tf.dispose([xs, perChannel]);
  await setBackend('wasm');
  try {
    const x = tf.tensor([0.3, 2]);
    assert.ok(!fusedDorefaActivationApplies(x) && !fusedLsqApplies(x, tf.scalar(0.1)) && !fusedDorefaWeightApplies(x), 'plain wasm keeps the op chains');
    const names = (await tf.profile(() => tf.dispose(dorefaActivation(x, 2)))).kernels.map((k) => k.name);
    assert.ok(names.includes('Round') && !names.includes('LowbitDorefaActQuant'), names.join(','));
    x.dispose();
  } finally {
    await setBackend(backend);
  }
  await setBackend('cpu');
  try {
    const x = tf.tensor(inputs(200, -1, 2, 1 / 3));
    const step = tf.scalar(0.25);
    assert.ok(!fusedDorefaActivationApplies(x) && !fusedLsqApplies(x, step));
    const w = tf.onesLike(x);
    const a = run((t) => dorefaActivation(t, 2), [x], w);
    const b = run((t) => dorefaActivationReference(t, 2), [x], w);
    a.forEach((v, i) => assertSame(v, b[i], `cpu dorefa ${i}`));
    const c = run((t, s) => lsq(t, s, { bits: 3, signed: true }), [x, step], w);
    const d = run((t, s) => lsqReference(t, s, { bits: 3, signed: true }), [x, step], w);
    c.forEach((v, i) => assertSame(v, d[i], `cpu lsq ${i}`));
    const e = run((t) => dorefaWeight(t, 2), [x], w);
    const f = run((t) => dorefaWeightReference(t, 2), [x], w);
    e.forEach((v, i) => assertSame(v, f[i], `cpu dorefa weights ${i}`));
    tf.dispose([x, step, w]);
  } finally {
    await setBackend(backend);
  }
});
