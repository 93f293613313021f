import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, subset, DatasetSplits, MemoryStore, runMethod, isQuantLayer, setBackend } from '../src/index.js';
import { loadMnist } from '../src/node.js';
import { binaryChannel } from '../src/quantizers/binary.js';
import { setNoiseState } from '../src/quantizers/noise.js';
import type { Rng } from '../src/random.js';
import {
  checkSqSchedule, relativeErrors, rouletteWithoutReplacement, selectionProbabilities, sqKernelMix, sqRatioAt,
} from '../src/methods/sq/stochastic.js';
import { firstPassOnly } from './helpers.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol = 1e-9) => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
};

test('SQ selection probabilities from relative errors, hand-computed (x = 1/e)', { skip: firstPassOnly }, () => {
  const e = [0.5, 0.25, 1]; // x = [2, 4, 1]
  close(selectionProbabilities(e, 'linear'), [2 / 7, 4 / 7, 1 / 7], 'linear');
  close(selectionProbabilities(e, 'constant'), [1 / 3, 1 / 3, 1 / 3], 'constant');
  const s = [Math.exp(2), Math.exp(4), Math.exp(1)];
  close(selectionProbabilities(e, 'softmax'), s.map((v) => v / (s[0] + s[1] + s[2])), 'softmax');
  const g = [2, 4, 1].map((x) => 1 / (1 + Math.exp(-x)));
  close(selectionProbabilities(e, 'sigmoid'), g.map((v) => v / (g[0] + g[1] + g[2])), 'sigmoid');
  // A channel that quantizes exactly is (almost) certain to be chosen, not a division by zero.
  assert.ok(selectionProbabilities([0, 1], 'linear')[0] > 0.999);
});

test('SQ roulette without replacement: hand-traced draws, distinct picks, all channels when k = C', { skip: firstPassOnly }, () => {
  const draws = [0.5, 0.9];
  let i = 0;
  const fake = { next: () => draws[i++] } as unknown as Rng;
  // p = [2/7, 4/7, 1/7]: 0.5 falls in channel 1's slice; then of the left mass 3/7, 0.9·3/7 = 0.386 > 2/7 falls in channel 2.
  assert.deepEqual(rouletteWithoutReplacement([2 / 7, 4 / 7, 1 / 7], 2, fake), [1, 2]);
  let j = 0;
  const seq = { next: () => [0.99, 0.0, 0.5][j++] } as unknown as Rng;
  assert.deepEqual(rouletteWithoutReplacement([0.25, 0.25, 0.5], 3, seq).sort(), [0, 1, 2]);
});

test('SQ ratio schedule: stages split the epochs evenly, the last epoch runs the last stage; bad schedules are refused', { skip: firstPassOnly }, () => {
  const s = [0.5, 0.75, 0.875, 1];
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 8].map((e) => sqRatioAt(s, e, 8)), [0.5, 0.5, 0.75, 0.75, 0.875, 0.875, 1, 1]);
  assert.deepEqual([1, 2, 3, 4].map((e) => sqRatioAt(s, e, 4)), s);
  assert.deepEqual([1, 2].map((e) => sqRatioAt(s, e, 2)), [0.75, 1]);
  assert.deepEqual([1, 2, 3].map((e) => sqRatioAt([1], e, 3)), [1, 1, 1]);
  assert.throws(() => checkSqSchedule([0.5, 0.75]), /must end at 1/);
  assert.throws(() => checkSqSchedule([0.75, 0.5, 1]), /must not decrease/);
  assert.throws(() => checkSqSchedule([0, 1]), /\(0, 1\]/);
});

test('SQ mixing: relative L1 errors by hand; round(r·C) quantized columns, the rest float; same noise seed → same selection', { skip: firstPassOnly }, () => {
  tf.tidy(() => {
    const w = tf.tensor2d([[1, 2], [-3, 0.5]]);
    // Column 0 [1, −3]: α = 2, Q = [2, −2], error 2/4. Column 1 [2, 0.5]: α = 1.25, error 1.5/2.5.
    close(relativeErrors(w, binaryChannel(w)), [0.5, 0.6], 'errors', 1e-6);
    const latent = tf.randomNormal([6, 8], 0, 1, 'float32', 3) as tf.Tensor2D;
    const q = binaryChannel(latent);
    const mix = sqKernelMix(() => 0.5, 'linear');
    const chosen = (m: tf.Tensor2D) => {
      const a = m.arraySync(), l = latent.arraySync(), qq = q.arraySync();
      return Array.from({ length: 8 }, (_, c) => {
        const isQ = a.every((row, r) => row[c] === qq[r][c]);
        const isL = a.every((row, r) => row[c] === l[r][c]);
        assert.ok(isQ !== isL, `column ${c} is either quantized or float`);
        return isQ ? 1 : 0;
      });
    };
    setNoiseState(11);
    const first = chosen(mix(latent, q));
    assert.equal(first.reduce((x: number, y) => x + y, 0), 4, 'half the 8 channels quantized');
    setNoiseState(11);
    assert.deepEqual(chosen(mix(latent, q)), first, 'same seed, same channels');
    const picks = new Set<string>();
    for (let s = 0; s < 8; s++) { setNoiseState(100 + s); picks.add(chosen(mix(latent, q)).join('')); }
    assert.ok(picks.size > 1, 'other seeds draw other channels');
    assert.equal(sqKernelMix(() => 1, 'linear')(latent, q), q, 'r = 1 quantizes everything');
  });
});

const full = loadMnist();
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const tiny: DatasetSplits = { ...full, train: subset(full.train, range(128), 784), val: subset(full.val, range(64), 784), test: subset(full.test, range(64), 784) };
const train = { epochs: 3, batchSize: 32, maxStepsPerEpoch: 2, seed: 5 };

test('SQ end to end from the library API: binary channels at test time, same seed → same model, resume is exact, no tensor leak', { skip: firstPassOnly }, async () => {
  await setBackend('wasm');
  const teacher = await runMethod('float', { model: 'lenet5' }, { data: tiny, train: { epochs: 1, batchSize: 32, maxStepsPerEpoch: 2 } });
  const before = tf.memory().numTensors;
  const probe = tf.tensor((tiny.test.images as Float32Array).subarray(0, 784 * 4), [4, 28, 28, 1]);
  const logits = (m: tf.LayersModel) => tf.tidy(() => Array.from((m.predict(probe) as tf.Tensor).dataSync()));
  const options = { wbits: 1, sqSchedule: '0.5,0.75,1' };
  const a = await runMethod('sq', options, { data: tiny, teacher: teacher.model, train });
  assert.equal(a.record.method, 'sq');
  assert.deepEqual(a.record.sqSchedule, [0.5, 0.75, 1]);
  for (const l of a.model.layers.filter(isQuantLayer)) {
    assert.equal(l.transform, null, `${l.name}: the training-time mix is removed`);
    tf.tidy(() => {
      const cols = tf.reshape(l.quantizedKernel(), [-1, l.kernelColumns()]).arraySync() as number[][];
      for (let c = 0; c < l.kernelColumns(); c++) assert.equal(new Set(cols.map((r) => Math.abs(r[c]))).size, 1, `${l.name} column ${c} is ±α`);
    });
  }
  const out = logits(a.model);
  const b = await runMethod('sq', options, { data: tiny, teacher: teacher.model, train });
  assert.deepEqual(logits(b.model), out, 'same seed, same model');
  a.model.dispose();
  b.model.dispose();
  assert.equal(tf.memory().numTensors, before + 1, `no tensor leak but the probe (${before} → ${tf.memory().numTensors})`);
  // Interrupted after epoch 1 (checkpointed), then resumed: the same model as the uninterrupted run.
  const store = new MemoryStore();
  await assert.rejects(runMethod('sq', options, { data: tiny, teacher: teacher.model, train, store, hooks: { onEpoch: () => { throw new Error('killed'); } } }), /killed/);
  const resumed = await runMethod('sq', options, { data: tiny, teacher: teacher.model, train, store });
  assert.equal(resumed.record.resumedFrom, 1);
  assert.deepEqual(logits(resumed.model), out, 'resume continues the same channel draws');
  const other = await runMethod('sq', options, { data: tiny, teacher: teacher.model, train: { ...train, seed: 6 } });
  assert.notDeepEqual(logits(other.model), out, 'another seed, another run');
  for (const r of [resumed, other]) r.model.dispose();
  probe.dispose();
  await assert.rejects(runMethod('sq', { wbits: 1, sqSchedule: '0.5,0.75' }, { data: tiny, teacher: teacher.model, train }), /must end at 1/);
  teacher.model.dispose();
});
