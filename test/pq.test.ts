/**
 * Product-quantized weights (docs/methods/pq.md): the activation-weighted k-means on cases with a
 * hand-computed answer and on a toy layer where it must beat plain k-means on output error; the
 * averaged centroid gradient; bits and bytes in `summary`; the packed round trip; ONNX (Gather)
 * in onnxruntime at 100 % top-1; the method end to end from the library API, leak-free and
 * deterministic.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  tf, buildModel, subset, DatasetSplits, runMethod, summary, formatSummary, packModel, unpackModel, productQuantize, weightedKMeans, metricError,
  isQuantLayer, QuantConv2D, ensureBackend,
} from '../src/index.js';
import { productQuantizedKernel } from '../src/quantizers/pq.js';
import { exportOnnx, exportCapabilities } from '../src/export/onnx-export.js';
import { writeOnnx } from '../src/export/files.js';
import { compareRunners, onnxRunner, tfRunner } from '../src/export/verify.js';
import { loadMnist } from '../src/node.js';
import { firstPassOnly } from './helpers.js';

await ensureBackend();

const full = loadMnist();
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const tiny: DatasetSplits = { ...full, train: subset(full.train, range(128), 784), val: subset(full.val, range(64), 784), test: subset(full.test, range(100), 784) };

test('weighted k-means: the hand-computed optimum of a 2-centroid case, and the weighted centroid of the M-step', { skip: firstPassOnly }, () => {
  // Inputs excite only the first coordinate (H = diag(1, 0)): the output error ignores the second,
  // so the optimum groups the sub-vectors by their first coordinate, codewords (0, 0) and (1, 0)
  // (the minimum-norm solution), and leaves no output error — plain k-means would split on the
  // second coordinate, the one with the spread.
  const w = [0, 5, 0, -5, 1, 5, 1, -5];
  const h = [1, 0, 0, 0];
  for (let seed = 0; seed < 5; seed++) {
    const r = weightedKMeans(w, 2, h, 2, 5, seed);
    const book = [[r.codebook[0], r.codebook[1]], [r.codebook[2], r.codebook[3]]].sort((a, b) => a[0] - b[0]).map((c) => c.map((v) => Math.round(v * 1e9) / 1e9 + 0));
    assert.deepEqual(book, [[0, 0], [1, 0]], `seed ${seed}: codewords`);
    assert.equal(r.assignments[0], r.assignments[1], 'the two sub-vectors with first coordinate 0 share a codeword');
    assert.equal(r.assignments[2], r.assignments[3]);
    assert.notEqual(r.assignments[0], r.assignments[2]);
    assert.ok(metricError(w, 2, h, r.codebook, r.assignments) < 1e-12, 'no output error left');
  }
  // M-step: argmin_c Σ ‖X(w_j − c)‖² = X⁺X·mean(w): the mean when H is full rank, its projection
  // onto the excited directions when not. Sub-vectors (2, 0) and (4, 2): mean (3, 1).
  const pair = [2, 0, 4, 2];
  const full = weightedKMeans(pair, 2, [2, 1, 1, 3], 1, 1, 0).codebook;
  assert.ok(Math.abs(full[0] - 3) < 1e-9 && Math.abs(full[1] - 1) < 1e-9, `full-rank H: the mean, got ${Array.from(full)}`);
  // Only x0 + x1 excited (H = [[1, 1], [1, 1]]): the projection of (3, 1) onto (1, 1)/√2 is (2, 2).
  const rank1 = weightedKMeans(pair, 2, [1, 1, 1, 1], 1, 1, 0).codebook;
  assert.ok(Math.abs(rank1[0] - 2) < 1e-9 && Math.abs(rank1[1] - 2) < 1e-9, `rank-1 H: the projected mean, got ${Array.from(rank1)}`);
});

test('weighted k-means beats plain k-means on output error on a toy Dense layer, through productQuantize', async () => {
  // A Dense layer whose inputs excite only even coordinates; the weights spread 10× more on the
  // odd (dead) ones. Plain k-means spends its codewords on the dead coordinates.
  const inputs = 16;
  const rng = tf.randomNormal([256, inputs], 0, 1, 'float32', 3);
  const mask = tf.tensor1d(Array.from({ length: inputs }, (_, i) => (i % 2 === 0 ? 1 : 0)));
  const x = tf.mul(rng, mask) as tf.Tensor2D;
  const kernel = tf.mul(tf.randomNormal([inputs, 32], 0, 1, 'float32', 4), tf.tensor2d(Array.from({ length: inputs }, (_, i) => (i % 2 === 0 ? 1 : 10)), [inputs, 1]));
  const input = tf.input({ shape: [inputs] });
  const hidden = tf.layers.dense({ units: inputs, name: 'first', kernelInitializer: 'identity', useBias: false }).apply(input) as tf.SymbolicTensor;
  const out = tf.layers.dense({ units: 32, name: 'toy', useBias: false }).apply(hidden) as tf.SymbolicTensor;
  const model = tf.model({ inputs: input, outputs: out });
  model.getLayer('toy').setWeights([kernel]);
  const data: DatasetSplits = {
    ...tiny, shape: [inputs], numClasses: 32,
    train: { count: 256, images: x.dataSync() as Float32Array, labels: new Uint8Array(256) },
  } as unknown as DatasetSplits;
  const outputError = async (weighting: 'output' | 'weight') => {
    const { model: q } = await productQuantize(model, data, { block: 2, codebook: 4, kmeansIters: 15, weighting, calibration: 256 });
    const err = tf.tidy(() => {
      const want = model.predict(x) as tf.Tensor;
      return tf.sum(tf.squaredDifference(q.predict(x) as tf.Tensor, want)).dataSync()[0] / tf.sum(tf.square(want)).dataSync()[0];
    });
    q.dispose();
    return err;
  };
  const weighted = await outputError('output');
  const plain = await outputError('weight');
  assert.ok(weighted < 0.5 * plain, `relative output error: weighted ${weighted} vs plain ${plain}`);
  tf.dispose([rng, mask, x, kernel]);
  model.dispose();
});

test('fine-tuning: a codeword\'s gradient is the mean of its sub-vectors\' gradients', { skip: firstPassOnly }, () => {
  const codebook = tf.tensor2d([[1], [2]]);
  const indices = tf.tensor1d([0, 0, 1]);
  const g = tf.grad((c: tf.Tensor) => tf.sum(tf.mul(productQuantizedKernel(c as tf.Tensor2D, indices, [3, 1], true), tf.tensor2d([[1], [3], [5]]))))(codebook);
  assert.deepEqual(Array.from(g.dataSync()), [2, 5]); // mean(1, 3), mean(5)
  assert.deepEqual(Array.from(productQuantizedKernel(codebook, indices, [3, 1], false).dataSync()), [1, 1, 2]);
  tf.dispose([codebook, indices, g]);
});

test('lenet5 at d = 8, K = 256: bits per weight, bytes and compression in summary; packed round trip exact; ONNX via Gather at 100 % top-1', async () => {
  const teacher = buildModel('lenet5', { seed: 2 });
  const { model: q, report } = await productQuantize(teacher, tiny, { block: 8, codebook: 256, kmeansIters: 4, calibration: 64 });
  assert.deepEqual(report.floatLayers, ['conv1'], 'the first layer stays float, as in the paper');
  // conv2 5×5×20×50: d = 25 (one input channel's patch), N = 1000, K clamped below N/4 to 128.
  // fc1 800×500: d = 8, N = 50000, K = 256. fc2 500×10: 8 does not divide 500, d = 5, N = 1000, K = 128.
  assert.deepEqual(report.layers.map((l) => [l.name, l.dim, l.count, l.size]), [['conv2', 25, 1000, 128], ['fc1', 8, 50000, 256], ['fc2', 5, 1000, 128]]);
  const s = summary(q);
  const row = (n: string) => s.layers.find((l) => l.name === n)!;
  assert.equal(row('fc1').kernelBits, 1); // log2 256 / 8
  assert.equal(row('fc1').bytes, (400000 * 1) / 8 + 4 * 256 * 8); // indices + float32 codebook (fc1 has no bias: BatchNorm follows)
  assert.equal(row('conv2').bytes, Math.ceil((25000 * 7) / 25 / 8) + 4 * 128 * 25);
  assert.equal(row('fc2').bytes, Math.ceil((5000 * 7) / 5 / 8) + 4 * 128 * 5 + 4 * 10);
  assert.ok(Math.abs(report.layers[1].bitsPerWeight - (50000 * 8 + 32 * 256 * 8) / 400000) < 1e-12);
  assert.ok(s.compression > 18 && s.compression < 22, `about 20× (${s.compression})`);
  assert.match(formatSummary(s), /fc1\s+QuantDense\s+1\s/);
  assert.match(formatSummary(s), /conv2\s+QuantConv2D\s+0\.28\s/);
  assert.equal(s.binaryWeightMacShare, 0, 'fc1 averages 1 bit per weight but its weights are not binary');

  // Saved and reloaded as a TF.js model (the codebook and the fixed indices are layer weights).
  let artifacts: tf.io.ModelArtifacts | null = null;
  await q.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
  const reloaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts!));
  const probe = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 9);
  assert.deepEqual((reloaded.predict(probe) as tf.Tensor).dataSync(), (q.predict(probe) as tf.Tensor).dataSync(), 'save/load: same outputs');
  assert.equal(reloaded.getLayer('fc1').trainableWeights.some((w) => /pq_indices/.test(w.name)), false, 'the indices reload as a non-trainable weight');
  reloaded.dispose();
  probe.dispose();

  // Packed: one 8-bit index per sub-vector + the codebook; reloads to exactly the same outputs.
  const { manifest, data } = packModel(q);
  const fc1 = manifest.weights.find((w) => w.name.startsWith('fc1/kernel'))!;
  assert.equal(fc1.storage, 'codes');
  assert.equal(fc1.bits, 8);
  assert.equal(fc1.dim, 8);
  assert.equal(fc1.byteLength, 50000 + 4 * 256 * 8);
  assert.ok(!manifest.weights.some((w) => /pq_/.test(w.name)), 'the codebook and indices are stored as the kernel\'s codes, not as extra weights');
  const back = await unpackModel(JSON.parse(JSON.stringify(manifest)), data);
  const x = tf.randomUniform([5, 28, 28, 1], 0, 1, 'float32', 7);
  const exact = (t: tf.Tensor) => Array.from(t.dataSync(), (v) => v + 0);
  assert.deepEqual(exact(back.getLayer('conv2').weights[0].read()), exact((q.getLayer('conv2') as QuantConv2D).quantizedKernel()), 'conv2 kernel exact');
  assert.deepEqual((back.predict(x) as tf.Tensor).dataSync(), (q.predict(x) as tf.Tensor).dataSync(), 'predictions exact');

  // ONNX: codebook and indices initializers → Gather → Reshape → Transpose into the kernel.
  const { model: om } = exportOnnx(q, 'qdq');
  const nodes = om.graph!.node!;
  for (const name of ['conv2', 'fc1', 'fc2']) assert.ok(nodes.some((n) => n.opType === 'Gather' && n.input![0] === `${name}_w_codebook`), `${name} gathers its codebook`);
  assert.match(exportCapabilities(q, 'qdq').join('\n'), /fc1: product-quantized weights \(256 codewords of 8 values\)/);
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-pq-'));
  try {
    for (const target of ['qdq', 'float'] as const) {
      const written = writeOnnx(q, target, dir);
      const agreement = await compareRunners(await onnxRunner(written.path), tfRunner(q), tiny, 100);
      assert.equal(agreement.top1Agreement, 1, `${target}: top-1 agreement`);
      assert.ok(agreement.maxAbsDelta < 1e-3, `${target}: max |Δ| ${agreement.maxAbsDelta}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  tf.dispose(x);
  [teacher, q, back].forEach((m) => m.dispose());
});

test('pq runs end to end from the library API without leaking tensors; the same seed gives the same codebooks', async () => {
  const teacher = buildModel('lenet5', { seed: 3 });
  const train = { epochs: 1, batchSize: 32, maxStepsPerEpoch: 2, seed: 5 };
  const options = { 'pq-block': 8, 'pq-codebook': 64, calibration: 64, 'pq-kmeans-iters': 3 };
  const before = tf.memory().numTensors;
  const r = await runMethod('pq', options, { data: tiny, teacher, train });
  assert.equal(r.record.method, 'pq');
  assert.equal(r.record.kind, 'quantized');
  assert.equal(r.record.history.length, 1, 'one fine-tuning epoch');
  assert.deepEqual(r.record.pq!.layers.map((l) => l.name), ['conv2', 'fc1', 'fc2']);
  assert.ok(r.record.size.compression > 18, `compression ${r.record.size.compression}`);
  const codebook = (m: tf.LayersModel, layer: string) => Array.from(m.getLayer(layer).weights.find((w) => w.originalName.endsWith('kernel_pq_codebook'))!.read().dataSync());
  const indices = (m: tf.LayersModel, layer: string) => Array.from(m.getLayer(layer).weights.find((w) => w.originalName.endsWith('kernel_pq_indices'))!.read().dataSync());
  const again = await runMethod('pq', options, { data: tiny, teacher, train });
  assert.deepEqual(codebook(again.model, 'fc1'), codebook(r.model, 'fc1'), 'same seed, same fine-tuned codebook');
  assert.deepEqual(indices(again.model, 'fc1'), indices(r.model, 'fc1'));
  // Fine-tuning moves the codebooks, never the assignments.
  const kmeans = await runMethod('pq', { ...options, 'pq-kmeans-only': true }, { data: tiny, teacher, train });
  assert.equal(kmeans.record.history.length, 0);
  assert.deepEqual(indices(kmeans.model, 'fc1'), indices(r.model, 'fc1'));
  assert.notDeepEqual(codebook(kmeans.model, 'fc1'), codebook(r.model, 'fc1'));
  const plain = await runMethod('pq', { ...options, 'pq-kmeans-only': true, 'pq-weighting': 'weight' }, { data: tiny, teacher, train });
  assert.notDeepEqual(indices(plain.model, 'fc1'), indices(kmeans.model, 'fc1'), 'output weighting changes the assignments');
  assert.ok(plain.model.layers.filter(isQuantLayer).length === 3);
  [r, again, kmeans, plain].forEach((x) => x.model.dispose());
  assert.ok(tf.memory().numTensors <= before, `no tensors leak (${before} → ${tf.memory().numTensors})`);
  teacher.dispose();
});

test('pq: bad options are one line naming the flag', { skip: firstPassOnly }, async () => {
  const teacher = buildModel('lenet5', { seed: 1 });
  await assert.rejects(runMethod('pq', { 'pq-codebook': 100 }, { data: tiny, teacher }), /--pq-codebook must be a power of two/);
  await assert.rejects(runMethod('pq', { 'pq-weighting': 'input' }, { data: tiny, teacher }), /--pq-weighting/);
  teacher.dispose();
});
