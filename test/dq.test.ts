import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf, subset, DatasetSplits, train } from '../src/index.js';
import { loadMnist } from '../src/node.js';
import { DepthwiseQuantizer, VectorQuantizer } from '../src/layers/depthwise-quantizer.js';
import { emaStep, nearestCodes, perplexity } from '../src/quantizers/vector.js';
import { buildDqAutoencoder, quantizersOf } from '../src/methods/dq/model.js';
import { cropParams, mixtureMean, mixtureNll } from '../src/methods/dq/mixture.js';
import { dqLoss, evaluateDq, codeMutualInformation } from '../src/methods/dq/run.js';
import { decodeCodes, encodeImages, parseCodes, quantizedFeatures, serializeCodes } from '../src/methods/dq/codes.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'lowbit-dq-'));
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const lowbit = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const full = loadMnist();
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i * 7);
const small: DatasetSplits = { ...full, train: subset(full.train, range(128), 784), val: subset(full.val, range(32), 784), test: subset(full.test, range(48), 784) };

test('nearest-codeword assignment equals a brute-force search; perplexity of uniform and one-code usage', () => {
  const z = tf.randomNormal([200, 5], 0, 1, 'float32', 1) as tf.Tensor2D;
  const book = tf.randomNormal([13, 5], 0, 1, 'float32', 2) as tf.Tensor2D;
  const idx = nearestCodes(z, book);
  const zs = z.arraySync();
  const bs = book.arraySync();
  zs.forEach((row, i) => {
    const d = bs.map((e) => e.reduce((s, v, j) => s + (v - row[j]) ** 2, 0));
    assert.equal(idx[i], d.indexOf(Math.min(...d)), `row ${i}`);
  });
  assert.ok(Math.abs(perplexity([5, 5, 5, 5]) - 4) < 1e-12);
  assert.equal(perplexity([9, 0, 0]), 1);
});

test('EMA update on a hand-computed case: N ← γN + (1−γ)n, S ← γS + (1−γ)Σz, Laplace-smoothed e = S/N′', () => {
  const z = tf.tensor2d([[1, 0], [3, 0], [0, 2]]);
  const r = emaStep({ count: tf.tensor1d([1, 1]), sum: tf.tensor2d([[0, 0], [1, 1]]) }, z, Int32Array.from([0, 0, 1]), 0.5, 0);
  // counts: 0.5·1 + 0.5·2 = 1.5 and 0.5·1 + 0.5·1 = 1; sums: 0.5·0 + 0.5·(4, 0) = (2, 0), 0.5·(1, 1) + 0.5·(0, 2) = (0.5, 1.5)
  assert.deepEqual(Array.from(r.state.count.dataSync()), [1.5, 1]);
  assert.deepEqual(Array.from(r.state.sum.dataSync()), [2, 0, 0.5, 1.5]);
  // ε = 0: N′ = N, so e = S/N
  assert.deepEqual(Array.from(r.codebook.dataSync()).map((v) => +v.toFixed(6)), [1.333333, 0, 0.5, 1.5]);
  const s = emaStep({ count: tf.tensor1d([1, 1]), sum: tf.tensor2d([[0, 0], [1, 1]]) }, z, Int32Array.from([0, 0, 1]), 0.5, 0.1);
  // N′ = (N + ε)/(ΣN + Kε)·ΣN = (1.6/2.7·2.5, 1.1/2.7·2.5)
  assert.deepEqual(Array.from(s.smoothed).map((v) => +v.toFixed(5)), [+(1.6 / 2.7 * 2.5).toFixed(5), +(1.1 / 2.7 * 2.5).toFixed(5)]);
});

test('DepthwiseQuantizer: one codebook per channel group; straight-through gradient; commitment β·Σ_m mean', async () => {
  const q = new DepthwiseQuantizer({ name: 'dq', groups: 2, codes: 4, seed: 3 });
  const x = tf.randomNormal([2, 3, 3, 6], 0, 1, 'float32', 4);
  const [out, loss] = q.apply(x) as tf.Tensor[];
  const books = q.codebooks().arraySync();
  const rows = tf.reshape(x, [-1, 6]).arraySync() as number[][];
  const outRows = tf.reshape(out, [-1, 6]).arraySync() as number[][];
  let expected = [0, 0];
  rows.forEach((r, i) => [0, 1].forEach((g) => {
    const part = r.slice(3 * g, 3 * g + 3);
    const d = books[g].map((e) => e.reduce((s, v, j) => s + (v - part[j]) ** 2, 0));
    const k = d.indexOf(Math.min(...d));
    outRows[i].slice(3 * g, 3 * g + 3).forEach((v, j) => assert.ok(Math.abs(v - books[g][k][j]) < 1e-5, `row ${i} group ${g}`));
    expected[Math.floor(i / 9)] += d[k] / (9 * 3);
  }));
  expected = expected.map((v) => 0.25 * v);
  Array.from(loss.dataSync()).forEach((v, b) => assert.ok(Math.abs(v - expected[b]) < 1e-4, `example ${b}: ${v} vs ${expected[b]}`));
  // STE: ∂Σout/∂x = 1; commitment: ∂/∂x β·mean((x − e)²) = 2β(x − e)/count.
  const gc = tf.grad((t: tf.Tensor) => tf.sum((q.apply(t) as tf.Tensor[])[1]))(x).dataSync();
  const xs = x.dataSync();
  const os = out.dataSync();
  gc.forEach((v, i) => assert.ok(Math.abs(v - (2 * 0.25 * (xs[i] - os[i])) / 27) < 1e-5, `commit gradient ${i}`));
  // (A training call also moves the EMA codebooks, so it comes last.)
  const g = tf.grad((t: tf.Tensor) => tf.sum((q.apply(t, { training: true }) as tf.Tensor[])[0]))(x);
  assert.deepEqual([...new Set(g.dataSync())], [1]);
  assert.deepEqual(q.capacity, { bitsPerPosition: 4, codebookFloats: 24 });
  assert.throws(() => new DepthwiseQuantizer({ groups: 0, codes: 4 }), /groups must be a whole number ≥ 1/);
  assert.throws(() => (new DepthwiseQuantizer({ groups: 4, codes: 4 })).apply(tf.zeros([1, 2, 2, 6])), /6 channels cannot be split into 4 equal groups/);
});

test('VectorQuantizer is the M = 1 DepthwiseQuantizer and survives a save/load of its config', () => {
  const v = new VectorQuantizer({ name: 'vq', codes: 4, seed: 1 });
  assert.equal(v.groups, 1);
  const cfg = v.getConfig();
  assert.equal(cfg.groups, 1);
  assert.equal(new VectorQuantizer(cfg as never).codes, 4);
  const [q] = v.apply(tf.randomNormal([1, 2, 2, 3], 0, 1, 'float32', 2)) as tf.Tensor[];
  const book = v.codebooks().arraySync()[0];
  for (const row of tf.reshape(q, [-1, 3]).arraySync() as number[][]) assert.ok(book.some((e) => e.every((x, j) => Math.abs(x - row[j]) < 1e-6)));
});

test('EMA training moves codebooks, restarts dead codes from the batch, and reports usage', () => {
  const q = new DepthwiseQuantizer({ name: 'dq2', groups: 1, codes: 8, seed: 5 });
  const x = tf.add(tf.randomNormal([4, 4, 4, 2], 0, 0.1, 'float32', 6), 10); // far from the N(0,1) init
  q.apply(x, { training: true });
  const book = q.codebooks().arraySync()[0];
  // Every code got at most a few of 64 vectors; the unused ones (count ≈ 0.99 < 1) restart at batch vectors near 10.
  assert.ok(book.filter((e) => Math.abs(e[0] - 10) < 1).length >= 7, 'dead codes restarted from the batch');
  assert.ok(q.lastStats!.dead[0] >= 7 && q.lastStats!.used[0] === 1);
});

test('mixture likelihood: probabilities over the 256 levels sum to 1; a hand-computed single logistic', () => {
  const params = tf.tensor4d([0, 0.1, Math.log(0.05)], [1, 1, 1, 3]); // one component, μ = 0.1, s = 0.05
  let total = 0;
  for (let k = 0; k < 256; k++) total += Math.exp(-mixtureNll(params, tf.tensor4d([k / 255], [1, 1, 1, 1])).dataSync()[0]);
  assert.ok(Math.abs(total - 1) < 1e-4, `Σp = ${total}`);
  const sig = (v: number) => 1 / (1 + Math.exp(-v));
  const xs = 2 * (140 / 255) - 1;
  const p = sig((xs - 0.1 + 1 / 255) / 0.05) - sig((xs - 0.1 - 1 / 255) / 0.05);
  const nll = mixtureNll(params, tf.tensor4d([140 / 255], [1, 1, 1, 1])).dataSync()[0];
  assert.ok(Math.abs(nll + Math.log(p)) < 1e-4, `${nll} vs ${-Math.log(p)}`);
});

test('DQ auto-encoder: trains with a flat tensor count; decode(encode(x)) gives exactly the quantized features', async () => {
  const options = { groups: 2, codes: 8, levels: 2 as const, width: 8, embedChannels: 8, mixtures: 2, seed: 1 };
  const model = buildDqAutoencoder(options);
  const counts: number[] = [];
  await train(model, small, { epochs: 1, batchSize: 32, learningRate: 2e-3, optimizer: { name: 'adam', momentum: 0 }, schedule: { name: 'constant' }, weightDecay: 0, seed: 0, loss: dqLoss, skipValidation: true },
    { onStep: () => { counts.push(tf.memory().numTensors); } });
  assert.equal(new Set(counts.slice(1)).size, 1, `tensor counts ${counts}`);
  // One EMA/usage update per quantizer per batch (the graph executor reaches a two-output layer twice per step).
  assert.deepEqual(quantizersOf(model).map((q) => q.trainingUpdates), quantizersOf(model).map(() => counts.length));
  const x = tf.tensor4d((small.test.images as Float32Array).subarray(0, 5 * 784), [5, 28, 28, 1]);
  const codes = encodeImages(model, x);
  assert.deepEqual(codes.levels.map((l) => [l.name, ...l.grid, l.groups]), [['dq_b', 8, 8, 2], ['dq_t', 4, 4, 2]]);
  const back = parseCodes(serializeCodes(codes), 'codes.bin');
  const feats = quantizedFeatures(model, back);
  // The model's own quantized features, read at the quantizers' outputs.
  const probe = tf.model({ inputs: model.inputs, outputs: quantizersOf(model).map((q) => (q.output as tf.SymbolicTensor[])[0]) });
  const direct = [probe.predict(x)].flat() as tf.Tensor[];
  feats.forEach((f, l) => assert.deepEqual(Array.from(f.dataSync()), Array.from(direct[l].dataSync()), `level ${l}`));
  const decoded = decodeCodes(model, options, back);
  assert.deepEqual(decoded.shape, [5, 28, 28, 1]);
  // Decoding the codes gives exactly the model's own reconstruction.
  const own = mixtureMean(cropParams((model.predict(x) as tf.Tensor[])[0] as tf.Tensor4D));
  assert.deepEqual(Array.from(decoded.dataSync()), Array.from(own.dataSync()));
  const e = await evaluateDq(model, small.test, small.shape, small.numClasses);
  assert.ok(Math.abs(e.bpdFull - e.bpdDecoder - (64 + 16) * 2 * 3 / 784) < 1e-9, 'code cost = Σ H·W·M·log2 K / 784');
  const bytes = serializeCodes(codes);
  assert.throws(() => parseCodes(bytes.subarray(0, bytes.length - 10), 'c.bin'), /c.bin: not a lowbit DQ code file \(level dq_t is truncated\)/);
  const wrong = buildDqAutoencoder({ ...options, groups: 4 });
  assert.throws(() => quantizedFeatures(wrong, back), /codes are for M = 2, K = 8 but the model has M = 4, K = 8/);
  assert.ok(codeMutualInformation(Int32Array.from([0, 1, 0, 1]), Int32Array.from([0, 1, 0, 1]), 2) > 0.69);
});

test('lowbit dq train / eval / encode / decode / export from the CLI; bad input gets one clear error', () => {
  const dir = tmp();
  const out = join(dir, 'run');
  const r = lowbit(['dq', 'train', '--dataset', 'mnist', '--groups', '2', '--codes', '8', '--width', '8', '--embed', '8', '--epochs', '1', '--max-steps', '2', '--backend', 'wasm', '--quiet', '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['model.json', 'lowbit.json', 'recon.png', 'code-usage.svg', 'channel-correlation.svg']) assert.ok(existsSync(join(out, f)), f);
  const meta = JSON.parse(readFileSync(join(out, 'lowbit.json'), 'utf8'));
  assert.equal(meta.kind, 'dq');
  assert.ok(meta.test.bpdFull > meta.test.bpdDecoder && meta.correlation.channelMeanAbs >= 0);
  assert.match(lowbit(['dq', 'eval', out, '--backend', 'wasm']).stdout, /bits\/dim: decoder \d\.\d{4}, with codes/);
  const codes = join(dir, 'c.bin');
  assert.equal(lowbit(['dq', 'encode', out, '--out', codes, '--count', '4', '--backend', 'wasm']).status, 0);
  const png = join(dir, 'd.png');
  const d = lowbit(['dq', 'decode', out, '--codes', codes, '--out', png, '--backend', 'wasm']);
  assert.equal(d.status, 0, d.stderr);
  assert.deepEqual([...readFileSync(png).subarray(1, 4)].map((c) => String.fromCharCode(c)).join(''), 'PNG');
  const x = lowbit(['dq', 'export', out, '--images', '20', '--backend', 'wasm']);
  assert.equal(x.status, 0, x.stderr);
  const check = JSON.parse(readFileSync(join(out, 'export', 'dq-verify.json'), 'utf8'));
  assert.equal(check.images, 20);
  assert.ok(check.codeAgreement.length === 2 && check.codeAgreement.every((c: number) => c >= 0.999) && check.relativeDelta < 1e-3, JSON.stringify(check));
  assert.ok(existsSync(join(out, 'export', 'encoder.onnx')) && existsSync(join(out, 'export', 'decoder.onnx')));
  const noModel = lowbit(['dq', 'export', dir, '--out', join(dir, 'x-export')]);
  assert.equal(noModel.status, 2);
  assert.match(noModel.stderr, /holds no model.json: pass a directory written by 'lowbit dq train'/);
  assert.ok(!existsSync(join(dir, 'x-export')));
  writeFileSync(join(dir, 'junk.bin'), 'hello');
  const bad = lowbit(['dq', 'decode', out, '--codes', join(dir, 'junk.bin'), '--out', join(dir, 'x.png')]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /junk.bin: not a lowbit DQ code file \(bad magic\)/);
  assert.ok(!existsSync(join(dir, 'x.png')));
  const groups = lowbit(['dq', 'train', '--dataset', 'mnist', '--groups', '3', '--out', join(dir, 'g')]);
  assert.equal(groups.status, 2);
  assert.match(groups.stderr, /--embed 32 must be a multiple of --groups 3/);
  assert.ok(!existsSync(join(dir, 'g')));
});
