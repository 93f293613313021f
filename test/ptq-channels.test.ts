/**
 * PTQ per output channel: DepthwiseConv2D per-channel weight scales (cin × multiplier), per-channel
 * weight bit allocation (Banner et al. 2019), and their exports agreeing with TF.js in onnxruntime.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tf, subset, DatasetSplits, setBackend, isQuantLayer, quantizeModel, summary, LowbitError, getMethod, DEFAULT_TRAIN, buildModel } from '../src/index.js';
import { resolveOptions } from '../src/run/method.js';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadMnist, saveModelDir } from '../src/node.js';
import { readRows } from '../src/data/dataset.js';
import { allocateBits } from '../src/methods/ptq/bit-allocation.js';
import { affineError, affineGrid, asymmetricGrid, postTrainingQuantize, quantizationError, rangeStats } from '../src/methods/ptq/index.js';
import { exportOnnx, OnnxTarget } from '../src/export/onnx-export.js';
import { encodeModel } from '../src/export/onnx-builder.js';
import { lowerQonnx } from '../src/export/qonnx-lower.js';
import { packModel, unpackModel } from '../src/export/packed.js';
import { createRuntime, jsKernels } from '../src/runtime/index.js';
import type { QuantLayer } from '../src/layers/quant-layers.js';
import type { UniformGrid } from '../src/quantizers/kind.js';
import { relativeError } from './helpers.js';

const mnist = loadMnist();
const range = (n: number) => Int32Array.from({ length: n }, (_, i) => i);
const tiny: DatasetSplits = { ...mnist, train: subset(mnist.train, range(128), 784), val: subset(mnist.val, range(32), 784), test: subset(mnist.test, range(32), 784) };

/**
 * Conv2D → ReLU → DepthwiseConv2D (multiplier 2) → ReLU → Conv2D 1×1 → GAP → Dense, seeded weights
 * with channel ranges that differ; `c1Activation` linear gives the depthwise layer signed inputs.
 */
function depthwiseModel(c1Activation: 'relu' | 'linear' = 'relu'): tf.LayersModel {
  const input = tf.input({ shape: [28, 28, 1] });
  let x = tf.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, strides: 2, activation: c1Activation, kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, depthMultiplier: 2, padding: 'same', activation: 'relu', depthwiseInitializer: tf.initializers.glorotUniform({ seed: 2 }) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ name: 'pw', filters: 6, kernelSize: 1, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.globalAveragePooling2d({}).apply(x) as tf.SymbolicTensor;
  const out = tf.layers.dense({ name: 'fc', units: 10, kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }).apply(x) as tf.SymbolicTensor;
  const m = tf.model({ inputs: input, outputs: out });
  // Scale the depthwise kernel's 8 columns by 0.25 … 4 so per-channel scales and bit-widths differ.
  const dw = m.getLayer('dw');
  const [k, ...rest] = dw.getWeights();
  const factors = tf.tensor([0.25, 0.5, 1, 2, 4, 0.3, 1.5, 3], [1, 1, 4, 2]);
  dw.setWeights([tf.mul(k, factors), ...rest]);
  return m;
}

async function ortLogits(model: ReturnType<typeof exportOnnx>['model'], x: tf.Tensor): Promise<Float32Array> {
  // Optimizations off: ORT's graph rewrites around QuantizeLinear change some activation roundings; this checks the graph's own semantics.
  const s = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 3, graphOptimizationLevel: 'disabled' });
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape) });
  return out[s.outputNames[0]].data as Float32Array;
}


/** Exports `model` to each target, runs it in onnxruntime (QONNX lowered) and the packed model in TF.js; all match TF.js. */
async function assertExportsAgree(model: tf.LayersModel, targets: OnnxTarget[], what: string): Promise<Map<OnnxTarget, string[]>> {
  const x = tf.tensor(readRows(tiny.test.images, 0, 16 * 784), [16, 28, 28, 1]);
  const want = (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
  const notes = new Map<OnnxTarget, string[]>();
  for (const target of targets) {
    const { model: om, notes: n } = exportOnnx(model, target);
    notes.set(target, n);
    const got = await ortLogits(target === 'qonnx' ? lowerQonnx(om) : om, x);
    assert.ok(relativeError(got, want) < 1e-5, `${what} ${target}: relative error ${relativeError(got, want)}`);
  }
  const { manifest, data } = packModel(model);
  const back = await unpackModel(JSON.parse(JSON.stringify(manifest)), data);
  const got = (back.predict(x) as tf.Tensor).dataSync();
  assert.ok(relativeError(got, want) < 1e-5, `${what} packed: relative error ${relativeError(got, want)}`);
  back.dispose();
  tf.dispose(x);
  return notes;
}

test('bit allocation on hand-computed ranges: the paper\'s closed form, rounded, within Σ 2^b ≤ C·2^B (so mean ≤ B), each in [2, 8]', () => {
  // Equal ranges: every channel gets the budget.
  assert.deepEqual(allocateBits([0.5, 0.5, 0.5], 4), [4, 4, 4]);
  // Ranges 1, 1, 1, 8 at B = 4: R^(2/3) = 1, 1, 1, 4 (sum 7); M_i = 4 + log2(4·R_i^(2/3)/7) = 3.19, 3.19, 3.19, 5.19
  // → 3, 3, 3, 5 (bins 8 + 8 + 8 + 32 = 56 ≤ 64); the 8 bins left buy one more bit for the first 3-bit channel → 4, 3, 3, 5.
  assert.deepEqual(allocateBits([1, 1, 1, 8], 4), [4, 3, 3, 5]);
  // Ranges 1 and 64 at B = 3: R^(2/3) = 1, 16; M = 3 + log2(2/17) = −0.09 → 2 (clamped), 3 + log2(32/17) = 3.91 → 4;
  // bins 4 + 16 = 20 > 16: only the 64-range channel can drop a bit → 2, 3 (bins 12); the 4 bins left buy the
  // 2-bit channel its third bit (4 bins), not the other's fourth (8 bins) → 3, 3.
  assert.deepEqual(allocateBits([1, 64], 3), [3, 3]);
  // Ranges 1, 2, 100 at B = 4: R^(2/3) = 1, 1.587, 21.544 (sum 24.131); M = 4 + log2(3·R^(2/3)/24.131) = 0.98, 1.66, 5.42
  // → 2, 2, 5 (bins 4 + 4 + 32 = 40 ≤ 48); 8 bins left: the 2-range channel's third bit saves the most noise per bin
  // (3·4/4^3/4 vs 3·1/4^3/4), then 4 bins buy the 1-range channel's → 3, 3, 5 (bins 48).
  assert.deepEqual(allocateBits([1, 2, 100], 4), [3, 3, 5]);
  // Clamped at 8: a huge range cannot take more than 8 bits.
  assert.deepEqual(allocateBits([1e-6, 1e6], 8), [8, 8]);
  // The budget holds on seeded random ranges, at every B.
  let s = 7;
  const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  for (const b of [2, 3, 4, 5, 6, 8]) {
    const ranges = Array.from({ length: 37 }, () => rand() ** 3 * 10);
    const bits = allocateBits(ranges, b);
    assert.ok(bits.every((v) => Number.isInteger(v) && v >= 2 && v <= 8), `B=${b}: ${bits}`);
    assert.ok(bits.reduce((a, v) => a + 2 ** v, 0) <= 37 * 2 ** b, `B=${b}: bins`);
    assert.ok(bits.reduce((a, v) => a + v, 0) / 37 <= b, `B=${b}: mean ${bits.reduce((a, v) => a + v, 0) / 37}`);
    // A wider channel never gets fewer bits than a narrower one.
    const order = ranges.map((_, i) => i).sort((i, j) => ranges[i] - ranges[j]);
    for (let i = 1; i < order.length; i++) assert.ok(bits[order[i]] >= bits[order[i - 1]], `B=${b}: monotone in the range`);
  }
  assert.throws(() => allocateBits([1, 2], 9), LowbitError);
});

test('uniform axis -1 on a DepthwiseConv2D kernel: one scale per output channel (cin × multiplier), read out for the exporters', async () => {
  await setBackend('wasm');
  const m = depthwiseModel();
  const q = await quantizeModel(m, { kernelQuantizer: { kind: 'uniform', bits: 4, signed: true, narrow: true, scale: 'max', axis: -1 }, inputQuantizer: null });
  const dw = q.getLayer('dw') as QuantLayer;
  const latent = dw.latentKernel.read().dataSync() as Float32Array;
  const quantized = tf.tidy(() => dw.quantizedKernel().dataSync() as Float32Array);
  const grid = dw.kernelGrid() as UniformGrid;
  assert.equal(grid.axis, -1);
  assert.equal((grid.scale as Float32Array).length, 8);
  for (let c = 0; c < 8; c++) {
    let maxAbs = 0;
    for (let i = c; i < latent.length; i += 8) maxAbs = Math.max(maxAbs, Math.abs(latent[i]));
    assert.ok(Math.abs((grid.scale as Float32Array)[c] - maxAbs / 7) < 1e-7, `channel ${c}: scale ${(grid.scale as Float32Array)[c]} vs ${maxAbs / 7}`);
    // Each channel's values are integers × its own scale, within ±7, and its largest value sits on ±7.
    let top = 0;
    for (let i = c; i < quantized.length; i += 8) {
      const code = quantized[i] / (grid.scale as Float32Array)[c];
      assert.ok(Math.abs(code - Math.round(code)) < 1e-4 && Math.abs(code) <= 7 + 1e-4, `channel ${c}: code ${code}`);
      top = Math.max(top, Math.abs(Math.round(code)));
    }
    assert.equal(top, 7, `channel ${c}`);
  }
  const notes = await assertExportsAgree(q, ['qdq', 'qdq4', 'qonnx'], 'W4 per-channel');
  assert.ok(notes.get('qdq4')!.some((n) => /^dw: 4-bit uniform weights stored as int4 codes .*one scale per output channel/.test(n)), notes.get('qdq4')!.join('\n'));
  [m, q].forEach((x) => x.dispose());
});

test('ptq --per-channel on a model with a DepthwiseConv2D: per-channel depthwise scales; QDQ, QDQ4, QONNX and packed agree with TF.js', async () => {
  await setBackend('wasm');
  const teacher = depthwiseModel();
  for (const wbits of [8, 4]) {
    const { model, config } = await postTrainingQuantize(teacher, tiny, { wbits, abits: 8, perChannel: true, calibration: 64, weightObserver: 'mse' });
    const dwSpec = config.overrides!.find((o) => o.match === 'dw')!.kernelQuantizer as { axis?: number };
    assert.equal(dwSpec.axis, -1);
    const grid = (model.getLayer('dw') as QuantLayer).kernelGrid() as UniformGrid;
    assert.equal((grid.scale as Float32Array).length, 8, 'one scale per input channel × multiplier');
    // The scales follow the column factors 0.25 … 4 (not one scale per multiplier).
    const sc = Array.from(grid.scale as Float32Array);
    assert.ok(sc[4] > sc[0] * 4, `scales ${sc}`);
    const notes = await assertExportsAgree(model, wbits === 8 ? ['qdq', 'qonnx'] : ['qdq4'], `ptq W${wbits}`);
    const want = wbits === 8 ? /^dw: 8-bit uniform weights stored as int8 codes, one scale per output channel/ : /^dw: 4-bit uniform weights stored as int4 codes .*one scale per output channel/;
    const n = notes.get(wbits === 8 ? 'qdq' : 'qdq4')!;
    assert.ok(n.some((x) => want.test(x)), n.join('\n'));
    model.dispose();
  }
  teacher.dispose();
});

test('ptq --bit-allocation: per-channel bits stored on the spec, counted by summary, exported (QDQ int8, QONNX, packed at each channel\'s width); QDQ4 refuses channels above 4 bits', async () => {
  await setBackend('wasm');
  const teacher = depthwiseModel();
  const { model, config, report } = await postTrainingQuantize(teacher, tiny, { wbits: 4, abits: 8, bitAllocation: true, calibration: 64 });
  for (const p of report.layers) {
    const layer = model.getLayer(p.name) as QuantLayer;
    const bits = p.channelBits!;
    assert.equal(bits.length, layer.kernelColumns(), p.name);
    assert.deepEqual((config.overrides!.find((o) => o.match === p.name)!.kernelQuantizer as { channelBits: number[] }).channelBits, bits);
    // The allocation of this layer's own channel ranges (max|w| per output channel of the latent kernel).
    const w = layer.latentKernel.read().dataSync() as Float32Array;
    const c = bits.length;
    const ranges = new Float32Array(c);
    w.forEach((v, i) => { ranges[i % c] = Math.max(ranges[i % c], Math.abs(v)); });
    assert.deepEqual(bits, allocateBits(ranges, 4), p.name);
    assert.ok(bits.reduce((a, b) => a + b, 0) / c <= 4, p.name);
    // Channel c's values sit on its own grid: integers within ±(2^(b−1) − 1) times max|w_c| / (2^(b−1) − 1).
    const q = tf.tidy(() => layer.quantizedKernel().dataSync() as Float32Array);
    q.forEach((v, i) => {
      const qmax = 2 ** (bits[i % c] - 1) - 1;
      const code = v / (ranges[i % c] / qmax);
      assert.ok(Math.abs(code - Math.round(code)) < 1e-3 && Math.abs(code) <= qmax + 1e-3, `${p.name} value ${i}: code ${code} of ${bits[i % c]} bits`);
    });
  }
  assert.ok(new Set(report.layers.find((l) => l.name === 'dw')!.channelBits).size > 1, 'the depthwise columns (ranges 0.25 … 4) get different bits');
  // summary counts each channel at its own bits.
  const s = summary(model);
  for (const p of report.layers) {
    const row = s.layers.find((l) => l.name === p.name)!;
    const bits = p.channelBits!;
    const kernelSize = (model.getLayer(p.name).weights[0].shape as number[]).reduce((a, b) => a * b, 1);
    const codeBits = bits.reduce((a, b) => a + b * (kernelSize / bits.length), 0);
    assert.ok(Math.abs(row.kernelBits - codeBits / kernelSize) < 1e-9, `${p.name}: ${row.kernelBits}`);
    assert.equal(row.bytes, Math.ceil(codeBits / 8) + 4 * bits.length + 4 * (row.params - kernelSize), p.name);
  }
  const notes = await assertExportsAgree(model, ['qdq', 'qonnx'], 'bit allocation');
  assert.ok(notes.get('qdq')!.some((n) => /^dw: \d–\d bits per output channel \(mean [\d.]+\): every channel's codes are stored in the int8 type/.test(n)), notes.get('qdq')!.join('\n'));
  // Packed: each channel at its own width.
  const { manifest } = packModel(model);
  const dwKernel = manifest.weights.find((w) => w.name.startsWith('dw/'))!;
  const dwBits = report.layers.find((l) => l.name === 'dw')!.channelBits!;
  assert.deepEqual(dwKernel.channelBits, dwBits);
  assert.equal(dwKernel.byteLength, Math.ceil(dwBits.reduce((a, b) => a + b * 9, 0) / 8) + 4 * 8);
  // lowbit's runtime reads the per-channel widths too: same logits as TF.js (on lenet5: the runtime runs depth multiplier 1 only).
  const lenet = buildModel('lenet5', { seed: 1 });
  const { model: lenetQ, report: lenetReport } = await postTrainingQuantize(lenet, tiny, { wbits: 3, abits: 8, bitAllocation: true, calibration: 32 });
  assert.ok(lenetReport.layers.every((l) => l.channelBits != null));
  const packed = packModel(lenetQ);
  const rt = createRuntime(packed, { kernels: jsKernels });
  const xs = tf.tensor(readRows(tiny.test.images, 0, 4 * 784), [4, 28, 28, 1]);
  const ref = (lenetQ.predict(xs) as tf.Tensor).dataSync();
  const got = rt.run(xs.dataSync() as Float32Array, 4);
  assert.ok(relativeError(got, ref) < 1e-4, `runtime: relative error ${relativeError(got, ref)}`);
  [lenet, lenetQ].forEach((m) => m.dispose());
  xs.dispose();
  // QDQ4: refused when a channel has more than 4 bits, exported as INT4 when none has.
  const wide = report.layers.filter((l) => Math.max(...l.channelBits!) > 4).map((l) => l.name);
  assert.ok(wide.length > 0, 'some channel above 4 bits');
  assert.throws(() => exportOnnx(model, 'qdq4'), (e: Error) => e instanceof LowbitError && /qdq4 stores kernels as INT4, and this kernel has per-channel bit-widths up to \d bits: export it as qdq/.test(e.message));
  const narrow = await quantizeModel(teacher, { kernelQuantizer: null, inputQuantizer: null, overrides: [
    { match: 'dw', kernelQuantizer: { kind: 'uniform', bits: 4, signed: true, narrow: true, scale: 'max', axis: -1, channelBits: [2, 3, 4, 4, 4, 2, 3, 4] } }] });
  const n4 = await assertExportsAgree(narrow, ['qdq4'], 'channelBits ≤ 4');
  assert.ok(n4.get('qdq4')!.some((n) => /^dw: 4-bit uniform weights stored as int4 codes/.test(n)), n4.get('qdq4')!.join('\n'));
  // A spec whose channelBits do not fit its bits, or has no axis, is refused by name.
  await assert.rejects(quantizeModel(teacher, { kernelQuantizer: { kind: 'uniform', bits: 4, axis: -1, channelBits: [2, 6] }, inputQuantizer: null }), /channelBits\).*bits must be a whole number from 2 to 4, got 6/);
  assert.ok(isQuantLayer(narrow.getLayer('dw')));
  [teacher, model, narrow].forEach((m) => m.dispose());
});

test('asymmetric activation grids: hand-computed ranges and zero points; less error than the symmetric grid on skewed data', () => {
  // minmax over −1 … 3 at 2 bits: s = 4/3, z = round(1/(4/3)) = 1; levels −4/3, 0, 4/3, 8/3.
  const g = asymmetricGrid('minmax', rangeStats(Float32Array.of(-1, 0, 2, 3)), 2);
  assert.deepEqual(g, { lo: -1, hi: 3, scale: Math.fround(4 / 3), zeroPoint: 1 });
  // One-sided data: lo = 0, zero point 0 (the unsigned grid).
  assert.deepEqual(asymmetricGrid('minmax', rangeStats(Float32Array.of(0.5, 2)), 8), { lo: 0, hi: 2, scale: Math.fround(2 / 255), zeroPoint: 0 });
  // percentile 99 over 0 … 99 (shifted by −10): the 1st and the 99th smallest values.
  const ramp = Float32Array.from({ length: 100 }, (_, i) => i - 10);
  const p = asymmetricGrid('percentile', rangeStats(ramp), 8, { percentile: 99 });
  assert.deepEqual([p.lo, p.hi], [-10, 88]);
  // Skewed data (−0.1 … 1): the affine grid beats the symmetric one by far at 4 bits, and mse is no worse than minmax.
  let s = 3;
  const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  const skewed = Float32Array.from({ length: 4000 }, () => rand() ** 2 * 1.1 - 0.1);
  const stats = rangeStats(skewed);
  const affine = asymmetricGrid('minmax', stats, 4);
  const symmetric = quantizationError(skewed, Math.max(-stats.min, stats.max), { bits: 4, signed: true });
  assert.ok(affineError(skewed, affine, 4) < 0.6 * symmetric, `${affineError(skewed, affine, 4)} vs ${symmetric}`);
  assert.ok(affineError(skewed, asymmetricGrid('mse', stats, 4), 4) <= affineError(skewed, affine, 4));
  assert.throws(() => asymmetricGrid('aciq', stats, 4), /--asymmetric works with the minmax, percentile, mse observers, not aciq/);
  assert.deepEqual(affineGrid(0, 0, 4).zeroPoint, 0);
});

test('ptq --asymmetric: signed inputs get unsigned codes with a zero point; QDQ (uint8 zero point), QONNX and packed agree with TF.js', async () => {
  await setBackend('wasm');
  const teacher = depthwiseModel('linear');
  await assert.rejects(postTrainingQuantize(teacher, tiny, { wbits: 8, abits: 8, asymmetric: true, observer: 'aciq' }), (e: Error) => e instanceof LowbitError && /--asymmetric works with the minmax, percentile, mse observers, not aciq/.test(e.message));
  for (const observer of ['minmax', 'mse'] as const) {
    const { model, config, report } = await postTrainingQuantize(teacher, tiny, { wbits: 8, abits: 8, perChannel: true, asymmetric: true, observer, calibration: 64 });
    const dw = report.layers.find((l) => l.name === 'dw')!;
    assert.ok(dw.min! < 0, 'the depthwise layer sees signed inputs');
    assert.ok(dw.zeroPoint! > 0 && dw.zeroPoint! < 255, `zero point ${dw.zeroPoint}`);
    assert.equal(dw.threshold, null);
    const spec = config.overrides!.find((o) => o.match === 'dw')!.inputQuantizer as { signed: boolean; zeroPoint: number; scale: number };
    assert.deepEqual([spec.signed, spec.zeroPoint], [false, dw.zeroPoint]);
    if (observer === 'minmax') {
      // The grid covers the observed range: s = (max − min)/255, z = round(−min/s).
      assert.ok(Math.abs(spec.scale - (dw.max! - dw.min!) / 255) < 1e-6 * spec.scale, `${spec.scale}`);
      assert.equal(spec.zeroPoint, Math.round(-dw.min! / spec.scale));
    }
    // The first layer's inputs (images in [0, 1]) have zero point 0.
    assert.equal(report.layers.find((l) => l.name === 'c1')!.zeroPoint, 0);
    const notes = await assertExportsAgree(model, ['qdq', 'qonnx'], `asymmetric ${observer}`);
    assert.ok(!notes.get('qdq')!.some((n) => /standard float ops/.test(n)), notes.get('qdq')!.join('\n'));
    // The QDQ graph quantizes the depthwise input to uint8 with the zero point.
    const om = exportOnnx(model, 'qdq').model;
    const zp = om.graph!.initializer!.find((t) => t.name === 'dw_a_zp')!;
    assert.equal(zp.dataType, 2, 'UINT8');
    assert.equal(zp.rawData![0], dw.zeroPoint);
    model.dispose();
  }
  teacher.dispose();
});

test('--bit-allocation and --asymmetric: bad combinations are one clear error (library) and exit 2 with one line (CLI)', async () => {
  const ptq = getMethod('ptq');
  for (const [raw, message] of [
    [{ wbits: 16, 'bit-allocation': true }, /--bit-allocation gives each output channel 2–8 bits within an average of --wbits: it needs --wbits from 2 to 8, got 16/],
    [{ wbits: 32, 'bit-allocation': true }, /it needs --wbits from 2 to 8, got 32/],
    [{ asymmetric: true, observer: 'aciq' }, /--asymmetric works with the minmax, percentile, mse observers, not aciq/],
  ] as Array<[Record<string, unknown>, RegExp]>) {
    assert.throws(() => resolveOptions(ptq, raw, { train: DEFAULT_TRAIN }), (e: Error) => e instanceof LowbitError && message.test(e.message));
  }
  const o = resolveOptions(ptq, { wbits: 4, 'bit-allocation': true, asymmetric: true }, { train: DEFAULT_TRAIN }) as unknown as { bitAllocation: boolean; asymmetric: boolean };
  assert.deepEqual([o.bitAllocation, o.asymmetric], [true, true]);
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-ptqc-'));
  const teacher = depthwiseModel();
  mkdirSync(join(dir, 'teacher'));
  await saveModelDir(teacher, join(dir, 'teacher'));
  teacher.dispose();
  const out = join(dir, 'out');
  const r = spawnSync(process.execPath, [cli, 'quantize', '--method', 'ptq', '--teacher', join(dir, 'teacher'), '--dataset', 'mnist', '--wbits', '12', '--bit-allocation', '--out', out], { encoding: 'utf8' });
  assert.equal(r.status, 2, r.stderr);
  assert.equal(existsSync(out), false, 'nothing written');
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.match(r.stderr, /--bit-allocation .* needs --wbits from 2 to 8, got 12/);
});

test('ptq on a Conv1D model (per channel, bias correction): exports to ONNX and agrees with TF.js', async () => {
  await setBackend('wasm');
  const init = (seed: number) => tf.initializers.glorotUniform({ seed });
  const teacher = tf.sequential({ layers: [
    tf.layers.reshape({ inputShape: [28, 28, 1], targetShape: [28, 28], name: 'rows' }),
    tf.layers.conv1d({ filters: 6, kernelSize: 3, activation: 'relu', name: 'k1', kernelInitializer: init(41) }),
    tf.layers.conv1d({ filters: 4, kernelSize: 5, strides: 2, padding: 'same', name: 'k2', kernelInitializer: init(42) }),
    tf.layers.flatten({ name: 'flat' }),
    tf.layers.dense({ units: 10, name: 'head', kernelInitializer: init(43) })] });
  const { model, report } = await postTrainingQuantize(teacher, tiny, { wbits: 4, abits: 8, perChannel: true, biasCorrection: true, asymmetric: true, calibration: 64 });
  assert.deepEqual(model.layers.filter(isQuantLayer).map((l) => `${l.name}:${l.getClassName()}`), ['k1:QuantConv1D', 'k2:QuantConv1D', 'head:QuantDense']);
  assert.ok(report.layers.every((l) => l.biasShift != null && l.biasShift > 0), JSON.stringify(report.layers.map((l) => l.biasShift)));
  // k2 sees ReLU outputs (zero point 0); head sees k2's linear, signed outputs (a zero point inside the range).
  assert.equal(report.layers.find((l) => l.name === 'k2')!.zeroPoint, 0);
  assert.ok(report.layers.find((l) => l.name === 'head')!.zeroPoint! > 0);
  await assertExportsAgree(model, ['qdq', 'qdq4', 'qonnx'], 'ptq conv1d');
  [teacher, model].forEach((m) => m.dispose());
});
