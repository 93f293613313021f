import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, buildModel, subset, DatasetSplits, dorefaConfig, quantizeModel, train } from '../src/index.js';
import { balancedSubset } from '../src/data/dataset.js';
import { dirStore, loadMnist, loadModelDir, saveModelDir } from '../src/node.js';
import { sectionData } from '../src/methods/dcq/section-job.js';
import { splitModel, sectionCutPoints, checkCuts } from '../src/methods/dcq/sections.js';
import { buildFeatureCache, rowsOf } from '../src/methods/dcq/cache.js';
import { runDcq, DcqOptions } from '../src/methods/dcq/run.js';
import { sectionMSE } from '../src/methods/dcq/losses.js';

const full = loadMnist();
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const small: DatasetSplits = { ...full, train: subset(full.train, range(256), 784), val: subset(full.val, range(64), 784), test: subset(full.test, range(64), 784) };
const tmp = () => mkdtempSync(join(tmpdir(), 'lowbit-dcq-'));
const chain = (sections: ReturnType<typeof splitModel>, x: tf.Tensor) => sections.reduce((h, s) => s.model.predict(h) as tf.Tensor, x);

test('sections chained reproduce the whole model exactly (lenet5, vgg-small, resnet20, mobilenet-tiny)', () => {
  for (const name of ['lenet5', 'vgg-small', 'resnet20', 'mobilenet-tiny']) {
    const m = buildModel(name, { seed: 1 });
    const cuts = sectionCutPoints(m, name);
    const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 4);
    const whole = Array.from((m.predict(x) as tf.Tensor).dataSync());
    const sections = splitModel(m, cuts);
    assert.equal(sections.length, cuts.length + 1);
    assert.deepEqual(Array.from(chain(sections, x).dataSync()), whole, name);
  }
});

test('cut points: dcq.md defaults, heuristics for other models, and clear errors', () => {
  assert.deepEqual(sectionCutPoints(buildModel('lenet5'), 'lenet5'), ['pool2']);
  assert.deepEqual(sectionCutPoints(buildModel('vgg-small')), ['pool1', 'pool2', 'pool3']);
  const r = buildModel('resnet20');
  assert.throws(() => checkCuts(r, ['s1b2_conv1']), /cut 's1b2_conv1' does not separate resnet20/);
  assert.throws(() => checkCuts(r, ['nope']), /cut 'nope' is not a layer of resnet20/);
  assert.throws(() => checkCuts(buildModel('vgg-small'), ['pool2', 'pool1']), /cuts must be in network order: pool2, pool1/);
  assert.throws(() => checkCuts(buildModel('lenet5'), ['fc2']), /is the model's last layer/);
});

test("training a section changes only that section's weights, in the shared student", async () => {
  const student = await quantizeModel(buildModel('lenet5', { seed: 2 }), dorefaConfig({ wbits: 1, abits: 32 }));
  const [s1, s2] = splitModel(student, ['pool2']);
  const before = student.layers.map((l) => l.getWeights().map((w) => Array.from(w.dataSync())));
  const x = tf.randomUniform([64, 4, 4, 50]);
  const data: DatasetSplits = { ...small, shape: [4, 4, 50], train: { images: x.dataSync() as Float32Array, labels: small.train.labels.subarray(0, 64), count: 64 }, val: { ...small.val, count: 0 } };
  await train(s2.model, data, { epochs: 1, batchSize: 32, learningRate: 1e-2, optimizer: { name: 'adam' }, schedule: { name: 'constant' }, weightDecay: 0, seed: 0 });
  const after = student.layers.map((l) => l.getWeights().map((w) => Array.from(w.dataSync())));
  student.layers.forEach((l, i) => {
    const inS2 = s2.model.layers.some((m) => m === l);
    const changed = JSON.stringify(before[i]) !== JSON.stringify(after[i]);
    if (l.countParams() > 0) assert.equal(changed, inS2, `${l.name}: ${inS2 ? 'section 2 layer should train' : 'must stay frozen'}`);
  });
  assert.ok(s1.model.layers.length > 0);
});

test('the teacher-feature cache is the same in memory and spilled to files, and runs in inference mode', async () => {
  const teacher = buildModel('lenet5', { seed: 3 });
  const mem = await buildFeatureCache(teacher, ['pool2'], small, { budgetBytes: 1e9, dir: tmp() });
  const file = await buildFeatureCache(teacher, ['pool2'], small, { budgetBytes: 0, dir: tmp() });
  assert.equal(mem.rows.train[0].kind, 'memory');
  assert.equal(file.rows.train[0].kind, 'file');
  assert.deepEqual(mem.shapes, [[4, 4, 50], [10]]);
  const a = rowsOf(mem.rows.val[0]).subarray(800 * 3, 800 * 5);
  const b = rowsOf(file.rows.val[0]).subarray(800 * 3, 800 * 5);
  assert.deepEqual(Array.from(a), Array.from(b));
  const x = tf.tensor((small.val.images as Float32Array).subarray(784 * 3, 784 * 5), [2, 28, 28, 1]);
  const logits = teacher.predict(x) as tf.Tensor; // inference mode (BN on moving statistics)
  const cachedLogits = rowsOf(mem.rows.val[1]).subarray(30, 50);
  Array.from(logits.dataSync()).forEach((v, i) => assert.ok(Math.abs(v - cachedLogits[i]) < 1e-5));
});

test('sectionMSE is the plain mean over all elements', () => {
  const out = tf.tensor([[1, 2], [3, 4]]);
  const target = tf.tensor([[1, 0], [0, 4]]);
  assert.equal(sectionMSE(out, { x: out, y: out as tf.Tensor2D, labels: new Uint8Array(2), target }).dataSync()[0], (4 + 9) / 4);
});

async function teacherDir(): Promise<string> {
  const dir = tmp();
  const t = buildModel('lenet5', { seed: 4 });
  await train(t, small, { epochs: 1, batchSize: 32, learningRate: 1e-3, optimizer: { name: 'adam' }, schedule: { name: 'constant' }, weightDecay: 0, seed: 0 });
  await saveModelDir(t, dir);
  writeFileSync(join(dir, 'lowbit.json'), JSON.stringify({ model: 'lenet5', dataset: 'mnist' }));
  return dir;
}

const teachers = new Map<string, tf.LayersModel>();
const options = async (teacher: string, outDir: string, workers: number): Promise<DcqOptions> => {
  if (!teachers.has(teacher)) teachers.set(teacher, await loadModelDir(teacher));
  return {
    teacher: teachers.get(teacher)!, modelName: 'lenet5', cuts: 'auto', quantize: dorefaConfig({ wbits: 1, abits: 32 }),
    train: { epochs: 1, batchSize: 32, learningRate: 1e-3, optimizer: { name: 'adam' }, schedule: { name: 'constant' }, weightDecay: 0, seed: 0, maxStepsPerEpoch: 2 },
    lastLoss: 'ce', workers, backend: 'wasm', store: dirStore(outDir), cacheBudgetBytes: 1e9,
  };
};

test('DCQ end to end in worker threads: stitched W1 model, per-section reports, resume skips finished sections', async () => {
  const teacher = await teacherDir();
  const out = tmp();
  await assert.rejects(runDcq({ ...await options(teacher, out, 2), sectionLr: [1e-3] }, full),
    /--section-lr gives 1 learning rates but the cuts pool2 make 2 sections: give one per section/);
  const r = await runDcq({ ...await options(teacher, out, 2), sectionLr: [2e-3, 5e-4] }, full);
  assert.deepEqual(r.cuts, ['pool2']);
  assert.deepEqual(r.sections.map((s) => s.learningRate), [2e-3, 5e-4], 'each section trains at its own lr');
  assert.deepEqual(r.sections.map((s) => [s.name, s.from, s.to, s.loss]), [['s1', null, 'pool2', 'mse'], ['s2', 'pool2', null, 'ce']]);
  assert.ok(r.sections.every((s) => Number.isFinite(s.valLoss) && Number.isFinite(s.testLoss)));
  const conv2 = r.model.getLayer('conv2') as unknown as { quantizedKernel(): tf.Tensor };
  assert.equal(new Set(conv2.quantizedKernel().dataSync()).size, 2, 'stitched conv2 is binary');
  const ckpt = join(out, 'sections', 's1', 'checkpoint.lbck');
  const mtime = statSync(ckpt).mtimeMs;
  const again = await runDcq(await options(teacher, out, 2), full);
  assert.equal(statSync(ckpt).mtimeMs, mtime, 'a finished section is not retrained');
  assert.deepEqual(Array.from(again.model.getLayer('fc1').getWeights()[0].dataSync()), Array.from(r.model.getLayer('fc1').getWeights()[0].dataSync()));
  r.model.dispose();
  again.model.dispose();
});

test('DCQ on a training subset: sections train on the images the cache was built from (a mismatch is an error, not silent misalignment); stitched W2 layers take 4 values', async () => {
  const teacher = await teacherDir();
  const part = balancedSubset(full, 300);
  const rows = [{ kind: 'memory' as const, buffer: new SharedArrayBuffer(4 * 16 * 16 * 10) }];
  const cache = { shapes: [[4, 4, 16]], rows: { train: rows, val: rows, test: rows }, bytes: 0, seconds: 0 };
  assert.throws(() => sectionData({ index: 1, cuts: ['pool2'], lastLoss: 'ce', cache }, part),
    /section 2: the teacher-feature cache holds 10 train examples but the train split has \d{3}: build the cache from the same data/);
  const r = await runDcq({ ...await options(teacher, tmp(), 0), quantize: dorefaConfig({ wbits: 2, abits: 32 }) }, part);
  assert.equal(r.sections.length, 2);
  for (const name of ['conv2', 'fc1']) {
    const layer = r.model.getLayer(name) as unknown as { quantizedKernel(): tf.Tensor };
    assert.equal(new Set(layer.quantizedKernel().dataSync()).size, 4, `stitched W2 ${name} takes 4 values`);
  }
  r.model.dispose();
});

test('a failing section is reported by name; the others finish and are kept for the rerun', async () => {
  const teacher = await teacherDir();
  const out = tmp();
  const s2 = join(out, 'sections', 's2');
  (await import('node:fs')).mkdirSync(s2, { recursive: true });
  writeFileSync(join(s2, 'checkpoint.lbck'), 'garbage');
  await assert.rejects(runDcq(await options(teacher, out, 2), full),
    /section s2 \(pool2 → output\) failed: .*checkpoint.lbck: not a usable lowbit checkpoint.*rerun the same command to resume/);
  assert.ok(existsSync(join(out, 'sections', 's1', 'done.json')), 'section s1 finished and was kept');
  assert.ok(JSON.parse(readFileSync(join(out, 'sections', 's1', 'done.json'), 'utf8')).valLoss >= 0);
});
