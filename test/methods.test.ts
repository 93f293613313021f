import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, subset, DatasetSplits, MemoryStore, runMethod, getMethod, methodNames, parseRunRecord, setBackend, isQuantLayer, summary } from '../src/index.js';
import { loadMnist } from '../src/node.js';

const full = loadMnist();
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const tiny: DatasetSplits = { ...full, train: subset(full.train, range(128), 784), val: subset(full.val, range(64), 784), test: subset(full.test, range(64), 784) };
const train = { epochs: 1, batchSize: 32, maxStepsPerEpoch: 2 };

test('every method runs from the library API on in-memory data, with nothing written to disk', async () => {
  await setBackend('wasm');
  const cwd = process.cwd();
  const empty = mkdtempSync(join(tmpdir(), 'lowbit-api-'));
  process.chdir(empty);
  const before = tf.memory().numTensors;
  try {
    assert.deepEqual(methodNames().sort(), ['alq', 'bitat', 'dcq', 'dorefa', 'dq', 'float', 'pq', 'ptq', 'rq', 'rq-st', 'sq', 'srq', 'ste']);
    const teacher = await runMethod('float', { model: 'lenet5' }, { data: tiny, train });
    assert.equal(teacher.record.kind, 'float');
    assert.equal(teacher.record.method, 'float');
    assert.ok(teacher.record.test.accuracy >= 0 && teacher.record.test.count === 64);
    const cases: Array<[string, Record<string, unknown>, (m: tf.LayersModel) => void]> = [
      ['dorefa', { wbits: 1 }, (m) => assert.equal(new Set((m.getLayer('conv2') as never as { quantizedKernel(): tf.Tensor }).quantizedKernel().dataSync()).size, 2)],
      ['dcq', { wbits: 2, workers: 0 }, (m) => assert.equal(new Set((m.getLayer('conv2') as never as { quantizedKernel(): tf.Tensor }).quantizedKernel().dataSync()).size, 4)],
      ['ste', { wbits: 2, abits: 4 }, (m) => assert.ok(m.layers.some(isQuantLayer))],
      ['rq', { wbits: 2, abits: 4, temperature: 2 }, (m) => assert.ok(m.layers.some(isQuantLayer))],
      ['rq-st', { wbits: 2, abits: 4 }, (m) => assert.ok(m.layers.some(isQuantLayer))],
      ['srq', { wbits: 4, learnBits: true, targetBits: 3 }, (m) => assert.ok(summary(m).layers.some((l) => l.kernelBits < 32))],
      ['bitat', { variant: 'plain', finalEpochs: 0 }, (m) => assert.ok(m.layers.some(isQuantLayer))],
      ['sq', { wbits: 2, sqSchedule: '0.5,1' }, (m) => assert.ok(tf.tidy(() => new Set((m.getLayer('conv2') as never as { quantizedKernel(): tf.Tensor }).quantizedKernel().dataSync()).size) <= 3)],
      ['alq', { wbits: 3, alqBits: 2 }, (m) => assert.ok(summary(m).layers.some((l) => l.kernelBits <= 2))],
    ];
    for (const [name, options, check] of cases) {
      const store = new MemoryStore();
      const r = await runMethod(name, options, { data: tiny, teacher: teacher.model, train, store });
      assert.equal(r.record.method, name);
      assert.equal(r.record.kind, 'quantized', name);
      check(r.model);
      assert.ok(r.record.size.compression > 1, `${name} is smaller than float`);
      // The store holds the record (the same typed schema as lowbit.json) and the model.
      const saved = parseRunRecord(new TextDecoder().decode(store.readFile('lowbit.json')!), `${name} lowbit.json`);
      assert.equal(saved.method, name);
      assert.ok(store.model != null, `${name} saved its model to the store`);
      r.model.dispose();
    }
    const dq = await runMethod('dq', { groups: 2, codes: 8, levels: 1, width: 8, embed: 8 }, { data: tiny, train });
    assert.equal(dq.record.kind, 'dq');
    assert.ok(dq.record.test.bpdDecoder > 0 && dq.record.test.bpdFull > dq.record.test.bpdDecoder);
    dq.model.dispose();
    teacher.model.dispose();
    assert.deepEqual(readdirSync(empty), [], 'nothing was written to the working directory');
  } finally {
    process.chdir(cwd);
  }
  assert.ok(tf.memory().numTensors <= before + 2, `no tensors leak across method runs (${before} → ${tf.memory().numTensors})`);
});

test('method options: typed or string values, defaults, and errors that name the option', async () => {
  const dorefa = getMethod('dorefa');
  assert.deepEqual(dorefa.options.map((o) => o.flag), ['wbits', 'abits', 'bn-recal']);
  const teacher = await runMethod('float', { model: 'lenet5' }, { data: tiny, train: { ...train, maxStepsPerEpoch: 1 } });
  try {
    await assert.rejects(runMethod('dorefa', { wbits: 1, variant: 'plain' }, { data: tiny, teacher: teacher.model, train }), /method dorefa has no option 'variant'; its options: wbits, abits, bn-recal/);
    await assert.rejects(runMethod('dorefa', { wbits: 'x' }, { data: tiny, teacher: teacher.model, train }), /--wbits must be a whole number ≥ 1, got 'x'/);
    await assert.rejects(runMethod('dorefa', { wbits: 1 }, { data: tiny, train }), /method dorefa quantizes a trained float model: pass it as context.teacher/);
    await assert.rejects(runMethod('srq', { wbits: 4, learnBits: true }, { data: tiny, teacher: teacher.model, train }), /--learn-bits needs --target-bits B/);
    await assert.rejects(runMethod('srq', { wbits: 4, layerBits: { nope: 2 } }, { data: tiny, teacher: teacher.model, train }), /--layer-bits names 'nope', which is not a layer of the teacher/);
    await assert.rejects(runMethod('float', {}, { data: tiny, train }), /method float needs --model/);
    await assert.rejects(runMethod('nope', {}, { data: tiny, train }), /unknown method 'nope': choose one of float, dorefa/);
    await assert.rejects(runMethod('dq', {}, { data: { ...tiny, shape: [32, 32, 1] }, train }), /the DQ auto-encoder takes 28×28 grey images/);
    await assert.rejects(runMethod('float', { model: 'lenet5' }, { data: tiny, train: { epochs: 0 } }), /epochs must be a whole number ≥ 1, got 0/);
  } finally {
    teacher.model.dispose();
  }
});

test('same seed, same backend: a method gives identical weights; a store with a checkpoint resumes to the same weights', async () => {
  const opts = { data: tiny, train: { epochs: 2, batchSize: 32, maxStepsPerEpoch: 3, seed: 5, schedule: { name: 'constant' as const } } };
  const a = await runMethod('float', { model: 'lenet5' }, opts);
  // An interrupted run: one epoch into a store, then the same two-epoch run resumed from it.
  const store = new MemoryStore();
  (await runMethod('float', { model: 'lenet5' }, { ...opts, train: { ...opts.train, epochs: 1 }, store })).model.dispose();
  const b = await runMethod('float', { model: 'lenet5' }, { ...opts, store });
  assert.equal(b.record.resumedFrom, 1);
  const wa = a.model.getWeights().map((w) => Array.from(w.dataSync()));
  const wb = b.model.getWeights().map((w) => Array.from(w.dataSync()));
  assert.deepEqual(wb, wa);
  a.model.dispose();
  b.model.dispose();
});
