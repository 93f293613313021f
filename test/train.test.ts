import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, setBackend } from '../src/index.js';
import { DatasetSplits, loadMnist, subset } from '../src/node.js';
import { buildModel } from '../src/models/index.js';
import { Checkpoint, CheckpointStore, learningRateAt, train, TrainConfig } from '../src/train/index.js';
import { decodeCheckpoint, encodeCheckpoint, FileCheckpointStore } from '../src/io/checkpoint-file.js';
import { formatEpoch } from '../src/io/progress.js';

const full = loadMnist();
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const small: DatasetSplits = { ...full, train: subset(full.train, range(256), 784), val: subset(full.val, range(64), 784), test: subset(full.test, range(64), 784) };
const config: TrainConfig = {
  epochs: 2, batchSize: 32, learningRate: 1e-3, optimizer: { name: 'adam' }, schedule: { name: 'step' },
  weightDecay: 1e-4, seed: 11,
};
const weightsOf = (m: tf.LayersModel) => m.getWeights().map((t) => Array.from(t.dataSync()));

class MemoryStore implements CheckpointStore {
  saved: Checkpoint[] = [];
  async load() { return this.saved.at(-1) ?? null; }
  async save(c: Checkpoint) { this.saved.push(decodeCheckpoint(Buffer.concat(encodeCheckpoint(c)), 'memory')); }
}

test('tf.memory().numTensors stays flat across training steps', async () => {
  await setBackend('wasm');
  const model = buildModel('lenet5', { seed: 1 });
  const counts: number[] = [];
  await train(model, small, { ...config, epochs: 1 }, { onStep: () => counts.push(tf.memory().numTensors) });
  assert.equal(counts.length, 8);
  assert.ok(counts.every((c) => c === counts[1]), `tensor counts drift: ${counts}`);
  model.dispose();
});

test('a promise returned by onStep holds the loop until it settles (the studio pauses this way), and a rejection stops training with its error', async () => {
  await setBackend('wasm');
  const model = buildModel('lenet5', { seed: 1 });
  const steps: number[] = [];
  let release: (() => void) | null = null;
  const run = train(model, small, { ...config, epochs: 1, maxStepsPerEpoch: 3 }, {
    onStep: (s) => { steps.push(s.step); return s.step === 1 ? new Promise<void>((r) => { release = r; }) : undefined; },
  });
  while (release == null) await new Promise((r) => setImmediate(r));
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r)); // the event loop turns; no step runs
  assert.deepEqual(steps, [1]);
  (release as () => void)();
  await run;
  assert.deepEqual(steps, [1, 2, 3]);
  await assert.rejects(train(model, small, { ...config, epochs: 1 }, { onStep: (s) => (s.step === 2 ? Promise.reject(new Error('stopped by the user')) : undefined) }),
    /stopped by the user/);
  model.dispose();
});

test('same seed and backend → identical weights and metrics; another seed differs', async () => {
  const run = async (seed: number) => {
    const model = buildModel('lenet5', { seed });
    const r = await train(model, small, { ...config, seed });
    const w = weightsOf(model);
    model.dispose();
    return { history: r.history.map(({ seconds, imagesPerSecond, ...rest }) => rest), w };
  };
  const a = await run(3);
  const b = await run(3);
  const c = await run(4);
  assert.deepEqual(a.history, b.history);
  assert.deepEqual(a.w, b.w);
  assert.notDeepEqual(a.history, c.history);
});

test('resuming from the epoch-1 checkpoint gives exactly the uninterrupted run', async () => {
  const straightModel = buildModel('lenet5', { seed: 9 });
  const straightStore = new MemoryStore();
  const straight = await train(straightModel, small, { ...config, seed: 9 }, { checkpoints: straightStore });

  // "Crash" after epoch 1: a fresh model and optimizer resume from the first checkpoint.
  const store = new MemoryStore();
  store.saved.push(straightStore.saved[0]);
  const resumedModel = buildModel('lenet5', { seed: 1234 });
  const resumed = await train(resumedModel, small, { ...config, seed: 9 }, { checkpoints: store });
  assert.equal(resumed.resumedFrom, 1);
  const strip = (h: typeof straight.history) => h.map(({ seconds, imagesPerSecond, ...rest }) => rest);
  assert.deepEqual(strip(resumed.history), strip(straight.history));
  assert.deepEqual(weightsOf(resumedModel), weightsOf(straightModel));
  straightModel.dispose();
  resumedModel.dispose();
});

test('the checkpoint file round-trips and rejects truncation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-ckpt-'));
  const store = new FileCheckpointStore(dir);
  const ckpt: Checkpoint = {
    epoch: 2, step: 10, rngState: 123, history: [],
    modelWeights: [{ name: 'a', shape: [2, 2], dtype: 'float32', data: Float32Array.from([1, 2, 3, 4]) }],
    optimizerWeights: [{ name: 'it', shape: [], dtype: 'int32', data: Int32Array.from([7]) }],
  };
  await store.save(ckpt);
  assert.deepEqual(await store.load(), ckpt);
  const bytes = Buffer.concat(encodeCheckpoint(ckpt));
  assert.throws(() => decodeCheckpoint(bytes.subarray(0, bytes.length - 3), 'f'), /f: not a usable lowbit checkpoint \(tensor it is truncated\)/);
  assert.throws(() => decodeCheckpoint(Buffer.from('nope'), 'f'), /bad magic/);
});

test('learning-rate schedules', () => {
  assert.equal(learningRateAt(1, { name: 'constant' }, 5, 10), 1);
  assert.equal(learningRateAt(1, { name: 'step' }, 6, 10), 1);
  assert.ok(Math.abs(learningRateAt(1, { name: 'step' }, 7, 10) - 0.1) < 1e-12);
  assert.ok(Math.abs(learningRateAt(2, { name: 'cosine' }, 5, 10) - 1) < 1e-12);
  assert.equal(learningRateAt(2, { name: 'cosine' }, 0, 10), 2);
  assert.equal(learningRateAt(1, { name: 'linear' }, 3, 4), 0.25);
});

test('bad training settings are rejected before any work', async () => {
  const model = buildModel('lenet5');
  await assert.rejects(train(model, small, { ...config, epochs: 0 }), /epochs must be a whole number ≥ 1, got 0/);
  await assert.rejects(train(model, small, { ...config, batchSize: 0 }), /batch size must be a whole number ≥ 1, got 0/);
  await assert.rejects(train(model, small, { ...config, learningRate: -1 }), /learning rate must be a positive number/);
  model.dispose();
});

test('Adam resume is exact over 128 steps per epoch (its β powers are checkpointed, not recomputed as pow(β, t+1))', async () => {
  const cfg: TrainConfig = { ...config, batchSize: 2, epochs: 2, seed: 21, weightDecay: 0 };
  const straightModel = buildModel('lenet5', { seed: 21 });
  const straightStore = new MemoryStore();
  await train(straightModel, small, cfg, { checkpoints: straightStore });
  const saved = straightStore.saved[0];
  assert.equal(saved.step, 128);
  assert.ok(saved.optimizerScalars?.accBeta1 != null && saved.optimizerScalars.accBeta2 != null, 'the checkpoint holds Adam\'s accumulated β powers');
  const store = new MemoryStore();
  store.saved.push(saved);
  const resumedModel = buildModel('lenet5', { seed: 99 });
  await train(resumedModel, small, cfg, { checkpoints: store });
  assert.deepEqual(weightsOf(resumedModel), weightsOf(straightModel));
  straightModel.dispose();
  resumedModel.dispose();
});

test('an epoch record keeps the learning rate of its first and last step; the progress line shows both when they differ', async () => {
  const model = buildModel('lenet5', { seed: 2 });
  const { history } = await train(model, small, { ...config, epochs: 1, maxStepsPerEpoch: 6, skipValidation: true });
  model.dispose();
  assert.equal(history[0].firstLearningRate, 1e-3);
  assert.ok(Math.abs(history[0].learningRate - 1e-4) < 1e-12, 'step schedule: ×0.1 after 2/3 of the run');
  assert.match(formatEpoch(history[0], 1), /lr 1\.00e-3→1\.00e-4 /);
  assert.match(formatEpoch({ ...history[0], learningRate: 1e-3 }, 1), /lr 1\.00e-3 /);
});

test('an empty training set is refused', async () => {
  const model = buildModel('lenet5');
  await assert.rejects(train(model, { ...small, train: subset(full.train, new Int32Array(0), 784) }, config), /the training set is empty/);
  model.dispose();
});
