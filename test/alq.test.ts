import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, subset, DatasetSplits, runMethod, setBackend, summary, quantizeModel, buildModel } from '../src/index.js';
import { loadMnist } from '../src/node.js';
import { fitMultibit, leastSquaresAlphas, reconstructKernel } from '../src/quantizers/multibit.js';
import { alqConfig } from '../src/methods/alq/method.js';
import { averageBases, multibitLayers, pruneBases } from '../src/methods/alq/alq.js';
import { packModel, unpackModel } from '../src/export/packed.js';
import { writeOnnx } from '../src/export/files.js';
import { compareRunners, onnxRunner, tfRunner } from '../src/export/verify.js';
import { Rng } from '../src/random.js';
import { firstPassOnly } from './helpers.js';

const rng = new Rng(1);
const gauss = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
const relError = (w: ArrayLike<number>, q: ArrayLike<number>) => {
  let e = 0, n = 0;
  for (let i = 0; i < w.length; i++) { e += (w[i] - q[i]) ** 2; n += w[i] ** 2; }
  return Math.sqrt(e / n);
};

test('ALQ α solve is least squares: a hand-checked 2-basis case', { skip: firstPassOnly }, () => {
  // β1 = [1, 1, −1, 1], β2 = [1, 1, 1, 1], w = [3, 1, −1, 2]: BᵀB = [[4, 2], [2, 4]], Bᵀw = [7, 5],
  // α = [[4, −2], [−2, 4]]/12 · [7, 5] = [1.5, 0.5].
  const alpha = leastSquaresAlphas([3, 1, -1, 2], [Int8Array.from([1, 1, -1, 1]), Int8Array.from([1, 1, 1, 1])]);
  assert.ok(Math.abs(alpha[0] - 1.5) < 1e-12 && Math.abs(alpha[1] - 0.5) < 1e-12, `α = ${Array.from(alpha)}`);
  // A duplicated basis is dependent: it gets α = 0 and the other one the whole fit.
  const dup = leastSquaresAlphas([1, 2, 3], [Int8Array.from([1, 1, 1]), Int8Array.from([1, 1, 1])]);
  assert.deepEqual(Array.from(dup), [2, 0]);
});

test('ALQ bases reconstruct the weights: exact on a 2-basis group, and within the stated error on Gaussian weights', { skip: firstPassOnly }, () => {
  const b1 = Int8Array.from({ length: 64 }, () => (rng.next() < 0.5 ? -1 : 1));
  const b2 = Int8Array.from({ length: 64 }, () => (rng.next() < 0.5 ? -1 : 1));
  const w = Float64Array.from(b1, (s, i) => 1 * s + 0.5 * b2[i]);
  const f = fitMultibit(w, 2);
  assert.ok(relError(w, reconstructKernel([f], 64)) < 1e-9, 'w = 1·β1 + 0.5·β2 is recovered exactly');
  assert.ok(Math.abs(f.alphas[0] - 1) < 1e-9 && Math.abs(f.alphas[1] - 0.5) < 1e-9, `α = ${Array.from(f.alphas)}`);
  // Gaussian weights, n = 400: relative L2 error with I bases (docs/methods/alq.md states these).
  const g = Float64Array.from({ length: 400 }, gauss);
  const bound = [Math.sqrt(1 - 2 / Math.PI) + 0.02, 0.37, 0.25, 0.18];
  let last = Infinity;
  for (let i = 1; i <= 4; i++) {
    const greedy = relError(g, reconstructKernel([fitMultibit(g, i, 0)], 400));
    const e = relError(g, reconstructKernel([fitMultibit(g, i)], 400));
    assert.ok(e <= greedy + 1e-12, `I = ${i}: alternating refinement never loses to the greedy fit (${e} vs ${greedy})`);
    assert.ok(e < bound[i - 1], `I = ${i}: relative error ${e} < ${bound[i - 1]}`);
    assert.ok(e < last, 'more bases, smaller error');
    last = e;
    assert.ok(fitMultibit(g, i).alphas.every((a, k, all) => a > 0 && (k === 0 || a <= all[k - 1])), 'α > 0, large to small');
  }
});

// The fit as first written, one Int8Array of signs per basis: the code-based fit must equal it.
type Fit = { alphas: Float64Array; signs: Int8Array[] };
function referenceLeastSquares(w: ArrayLike<number>, signs: readonly Int8Array[]): Float64Array {
  const k = signs.length;
  const a = Array.from({ length: k }, () => new Float64Array(k + 1));
  for (let i = 0; i < k; i++) {
    for (let j = i; j < k; j++) {
      let dot = 0;
      for (let t = 0; t < w.length; t++) dot += signs[i][t] * signs[j][t];
      a[i][j] = dot;
      a[j][i] = dot;
    }
    let rhs = 0;
    for (let t = 0; t < w.length; t++) rhs += signs[i][t] * w[t];
    a[i][k] = rhs;
  }
  const alpha = new Float64Array(k);
  const used = new Array<boolean>(k).fill(false);
  const pivotOf = new Int32Array(k).fill(-1);
  for (let col = 0; col < k; col++) {
    let best = -1;
    for (let r = 0; r < k; r++) if (!used[r] && (best < 0 || Math.abs(a[r][col]) > Math.abs(a[best][col]))) best = r;
    if (best < 0 || Math.abs(a[best][col]) < 1e-9 * w.length) continue; // dependent basis: α = 0
    used[best] = true;
    pivotOf[col] = best;
    for (let r = 0; r < k; r++) {
      if (r === best || a[r][col] === 0) continue;
      const f = a[r][col] / a[best][col];
      for (let c = col; c <= k; c++) a[r][c] -= f * a[best][c];
    }
  }
  for (let col = 0; col < k; col++) if (pivotOf[col] >= 0) alpha[col] = a[pivotOf[col]][k] / a[pivotOf[col]][col];
  return alpha;
}

const squaredError = (w: ArrayLike<number>, fit: Fit) => {
  let e = 0;
  for (let t = 0; t < w.length; t++) {
    let v = 0;
    for (let i = 0; i < fit.alphas.length; i++) v += fit.alphas[i] * fit.signs[i][t];
    e += (w[t] - v) ** 2;
  }
  return e;
};

function referenceFit(w: ArrayLike<number>, bases: number, refine = 2): Fit {
  const n = w.length;
  const signs: Int8Array[] = [];
  let alphas: Float64Array = new Float64Array(bases);
  const r = Float64Array.from(w);
  for (let i = 0; i < bases; i++) {
    const s = new Int8Array(n);
    let mean = 0;
    for (let t = 0; t < n; t++) { s[t] = r[t] >= 0 ? 1 : -1; mean += Math.abs(r[t]); }
    mean /= n;
    alphas[i] = mean;
    for (let t = 0; t < n; t++) r[t] -= mean * s[t];
    signs.push(s);
  }
  let fit: Fit = { alphas, signs };
  if (bases === 0) return fit;
  const withAlphas = (a: Float64Array, s: Int8Array[]) => ({ alphas: a, signs: s });
  let err = squaredError(w, fit);
  for (let round = 0; round <= refine; round++) {
    const ls = withAlphas(referenceLeastSquares(w, fit.signs), fit.signs);
    const lsErr = squaredError(w, ls);
    if (lsErr <= err) { fit = ls; err = lsErr; }
    if (round === refine) break;
    // β given α: each element takes the nearest of the 2^I sums Σ ±α_i.
    alphas = fit.alphas;
    const combos = 2 ** bases;
    const value = new Float64Array(combos);
    for (let code = 0; code < combos; code++) for (let i = 0; i < bases; i++) value[code] += ((code >> i) & 1 ? 1 : -1) * alphas[i];
    const next = Array.from({ length: bases }, () => new Int8Array(n));
    for (let t = 0; t < n; t++) {
      let best = 0;
      let dist = Infinity;
      for (let code = 0; code < combos; code++) {
        const d = Math.abs(value[code] - w[t]);
        if (d < dist) { dist = d; best = code; }
      }
      for (let i = 0; i < bases; i++) next[i][t] = (best >> i) & 1 ? 1 : -1;
    }
    const nb = withAlphas(alphas, next);
    const nbErr = squaredError(w, nb);
    if (nbErr <= err) { fit = nb; err = nbErr; } else break;
  }
  // α > 0 (flip the basis of a negative one), large to small.
  const order = Array.from(fit.alphas.keys()).sort((i, j) => Math.abs(fit.alphas[j]) - Math.abs(fit.alphas[i]));
  return {
    alphas: Float64Array.from(order, (i) => Math.abs(fit.alphas[i])),
    signs: order.map((i) => {
      if (fit.alphas[i] >= 0) return fit.signs[i];
      const flipped = new Int8Array(n);
      for (let t = 0; t < n; t++) flipped[t] = -fit.signs[i][t];
      return flipped;
    }),
  };
}


test('ALQ fit on codes equals the per-basis reference fit exactly (α and signs), 1–8 bases, with ties and zeros', { skip: firstPassOnly }, () => {
  for (let trial = 0; trial < 24; trial++) {
    const n = 1 + Math.floor(rng.next() * 300);
    const w = Float64Array.from({ length: n }, () => (trial % 4 === 0 ? Math.round(gauss() * 2) / 2 : gauss() * 0.05));
    if (trial % 3 === 0) w[0] = 0;
    const k = 1 + (trial % 8);
    for (const refine of [0, 2]) {
      const a = fitMultibit(w, k, refine);
      const b = referenceFit(w, k, refine);
      assert.deepEqual(Array.from(a.alphas), Array.from(b.alphas), `α, n=${n} k=${k}`);
      assert.deepEqual(a.signs.map((x) => Array.from(x)), b.signs.map((x) => Array.from(x)), `signs, n=${n} k=${k}`);
    }
  }
});

test('ALQ pruning reaches the budget; summary counts bases × values + α storage; packed stores bit planes and reloads to the same outputs', { skip: firstPassOnly }, async () => {
  const before = tf.memory().numTensors;
  const teacher = buildModel('lenet5', { seed: 3 });
  // fc1's first 60 output channels ×0.1: their bases matter least to the (reconstruction) loss estimate.
  const fc1Kernel = teacher.getLayer('fc1').getWeights()[0];
  const scaled = tf.tidy(() => tf.mul(fc1Kernel, tf.concat([tf.fill([1, 60], 0.1), tf.ones([1, fc1Kernel.shape[1]! - 60])], 1)));
  teacher.getLayer('fc1').setWeights([scaled, ...teacher.getLayer('fc1').getWeights().slice(1)]);
  scaled.dispose();
  const model = await quantizeModel(teacher, alqConfig({ alqBits: 2, wbits: 4, alqUniform: false, alqRefine: 2, abits: 32 }));
  const layers = multibitLayers(model);
  assert.deepEqual(layers.map((l) => l.name), ['conv2', 'fc1'], 'first and last layers stay float');
  const sizes = layers.map((l) => (l.latentKernel.shape as number[]).reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  const largestGroup = Math.max(...layers.map((l, i) => sizes[i] / l.kernelColumns())) / total; // one basis of the largest group
  assert.equal(averageBases(model), 4);
  const pruned = pruneBases(model, null, 2, 1);
  const avg = averageBases(model);
  assert.ok(avg <= 2 && avg > 2 - largestGroup, `average bases ${avg} at the budget 2`);
  assert.ok(pruned > 0);
  const counts = multibitLayers(model).flatMap((l) => Array.from(l.quantizerWeights('kernel')[0].read().dataSync()));
  const fc1Counts = Array.from(layers[1].quantizerWeights('kernel')[0].read().dataSync());
  const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
  assert.ok(mean(fc1Counts.slice(0, 60)) < mean(fc1Counts.slice(60)) - 1, `the small channels lose more bases (${mean(fc1Counts.slice(0, 60))} vs ${mean(fc1Counts.slice(60))})`);
  // Groups keep between 1 (the floor at a budget ≥ 1) and I_max bases.
  assert.ok(counts.every((c) => c >= 1 && c <= 4));
  const s = summary(model);
  for (const l of multibitLayers(model)) {
    const row = s.layers.find((r) => r.name === l.name)!;
    const c = Array.from(l.quantizerWeights('kernel')[0].read().dataSync());
    const n = (l.latentKernel.shape as number[]).reduce((a, b) => a * b, 1);
    const sum = c.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(row.kernelBits - (sum * n / c.length) / n) < 1e-9, `${l.name}: bits per weight = average bases`);
    const others = l.getWeights().slice(1).reduce((a, w) => a + w.size, 0); // bias (if any) and the bases counts, float32
    assert.equal(row.bytes, Math.ceil(sum * (n / c.length) / 8) + 4 * sum + 4 * others, `${l.name}: planes + α's + the other weights`);
  }
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 5);
  const ref = (model.predict(x) as tf.Tensor).dataSync();
  const { manifest, data } = packModel(model);
  const planes = manifest.weights.filter((w) => w.storage === 'planes');
  assert.equal(planes.length, 2);
  const fc1 = layers[1];
  const dc = Array.from(fc1.quantizerWeights('kernel')[0].read().dataSync());
  const rows = sizes[1] / dc.length;
  const dw = manifest.weights.find((w) => w.name.startsWith('fc1') && w.storage === 'planes')!;
  assert.equal(dw.byteLength, Math.ceil(dc.reduce((a, b) => a + b, 0) * rows / 8) + 4 * (dc.length + 4 * dc.length), 'fc1: Σ bases × rows bits, then bases and α’s');
  const back = await unpackModel(JSON.parse(JSON.stringify(manifest)), data);
  const out = (back.predict(x) as tf.Tensor).dataSync();
  ref.forEach((v, i) => assert.ok(Math.abs(v - out[i]) < 1e-4 * Math.max(1, Math.abs(v)), `logit ${i}: ${v} vs ${out[i]}`));
  tf.dispose([x]);
  back.dispose();
  model.dispose();
  teacher.dispose();
  assert.ok(tf.memory().numTensors <= before + 8, `no tensor leak (${before} → ${tf.memory().numTensors})`);
});

const full = loadMnist();
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const tiny: DatasetSplits = { ...full, train: subset(full.train, range(128), 784), val: subset(full.val, range(64), 784), test: subset(full.test, range(64), 784) };
const train = { epochs: 2, batchSize: 32, maxStepsPerEpoch: 2, seed: 4 };

test('ALQ end to end from the library API: adaptive at 2 bits and uniform 2 bases, record and summary agree, ONNX verifies at 100 % top-1, no leak', { skip: firstPassOnly }, async () => {
  await setBackend('wasm');
  const teacher = await runMethod('float', { model: 'lenet5' }, { data: tiny, train: { epochs: 1, batchSize: 32, maxStepsPerEpoch: 2 } });
  const before = tf.memory().numTensors;
  const adaptive = await runMethod('alq', { alqBits: 2, wbits: 3 }, { data: tiny, teacher: teacher.model, train });
  const a = adaptive.record.alq!;
  assert.ok(a.averageBits <= 2 && a.averageBits > 1.95, `average bits ${a.averageBits}`);
  assert.equal(a.pruneEpochs, 1);
  assert.ok(a.bitsPerWeight > a.averageBits, 'α storage on top of the planes');
  const uniform = await runMethod('alq', { alqBits: 2, alqUniform: true }, { data: tiny, teacher: teacher.model, train: { ...train, epochs: 1 } });
  assert.equal(uniform.record.alq!.averageBits, 2);
  assert.ok(uniform.record.alq!.layers.every((l) => l.channelsWithBases.every((n, k) => k === 2 || n === 0)), 'every channel exactly 2 bases');
  assert.ok(Math.abs(adaptive.record.size.bytes - uniform.record.size.bytes) / uniform.record.size.bytes < 0.05, 'equal budgets, about equal bytes');
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-alq-'));
  const written = writeOnnx(adaptive.model, 'qdq', dir);
  assert.match(written.notes.join('\n'), /fc1: multi-bit binary weights are exported as float32 values/);
  const agreement = await compareRunners(await onnxRunner(written.path), tfRunner(adaptive.model), tiny, 64);
  assert.equal(agreement.top1Agreement, 1, `ONNX top-1 agreement ${agreement.top1Agreement}`);
  assert.ok(agreement.maxAbsDelta < 1e-3);
  adaptive.model.dispose();
  uniform.model.dispose();
  assert.ok(tf.memory().numTensors <= before + 2, `no tensor leak (${before} → ${tf.memory().numTensors})`);
  await assert.rejects(runMethod('alq', { alqBits: 5, wbits: 4 }, { data: tiny, teacher: teacher.model, train }), /above --wbits 4/);
  await assert.rejects(runMethod('alq', { alqBits: 1.5, alqUniform: true }, { data: tiny, teacher: teacher.model, train }), /whole number/);
  await assert.rejects(runMethod('alq', { alqBits: 2 }, { data: tiny, teacher: teacher.model, train: { ...train, optimizer: { name: 'sgd' } } }), /use --optimizer adam/);
  teacher.model.dispose();
  void summary;
});
