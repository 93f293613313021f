import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, truncateSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { tf, buildModel, dorefaModel, quantizeModel, summary, bitatStudent, relaxedModel, buildDqAutoencoder, encodeImages, quantizedFeatures, decoderModel } from '../src/index.js';
import { exportDqOnnx } from '../src/export/dq-onnx.js';
import { saveModelDir } from '../src/node.js';
import { exportOnnx, exportCapabilities } from '../src/export/onnx-export.js';
import { encodeModel } from '../src/export/onnx-builder.js';
import { lowerQonnx } from '../src/export/qonnx-lower.js';
import { packBits, unpackBits, packModel, unpackModel } from '../src/export/packed.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'lowbit-export-'));
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const lowbit = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

async function runOrt(model: ReturnType<typeof exportOnnx>['model'], x: tf.Tensor): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(encodeModel(model), { logSeverityLevel: 3 });
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape) });
  return out[s.outputNames[0]].data as Float32Array;
}

/** An export target run in onnxruntime: its model, notes and max |Δ| relative to the largest TF.js logit. */
async function exportedError(q: tf.LayersModel, target: 'float' | 'qdq' | 'qdq4' | 'qonnx', x: tf.Tensor, ref: ArrayLike<number>) {
  const { model: om, notes } = exportOnnx(q, target);
  const y = await runOrt(target === 'qonnx' ? lowerQonnx(om) : om, x);
  const scale = Math.max(...Array.from(ref, Math.abs));
  return { om, notes, err: Math.max(...Array.from(y, (v, i) => Math.abs(v - ref[i]))) / scale };
}

/** The packed model reloads and predicts what TF.js predicts. */
async function assertPackedRoundTrip(q: tf.LayersModel, x: tf.Tensor, ref: ArrayLike<number>, what: string) {
  const { manifest, data } = packModel(q);
  const back = await unpackModel(JSON.parse(JSON.stringify(manifest)), data);
  const b = (back.predict(x) as tf.Tensor).dataSync();
  Array.from(ref).forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-4 * Math.max(1, Math.abs(v)), `${what} packed logit ${i}: ${v} vs ${b[i]}`));
  return manifest;
}

test('ONNX exports (float, QDQ, QONNX lowered) match TF.js on every reference model, float and quantized', async () => {
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 7);
  for (const name of ['lenet5', 'vgg-small', 'resnet20', 'mobilenet-tiny']) {
    const m = buildModel(name, { seed: 1 });
    const variants: Array<[string, tf.LayersModel]> = [['float', m], ['W1/A2', await dorefaModel(m, { wbits: 1, abits: 2 })],
      ['ternary + binary activations', await quantizeModel(m, { kernelQuantizer: 'ternary', inputQuantizer: 'binary' })]];
    for (const [label, model] of variants) {
      const ref = (model.predict(x) as tf.Tensor).dataSync();
      const scale = Math.max(...Array.from(ref, Math.abs));
      for (const target of ['float', 'qdq', 'qonnx'] as const) {
        const { model: om } = exportOnnx(model, target);
        const y = await runOrt(target === 'qonnx' ? lowerQonnx(om) : om, x);
        const err = Math.max(...Array.from(y, (v, i) => Math.abs(v - ref[i]))) / scale;
        // Quantized activations can round to the neighbouring level on a last-bit difference.
        assert.ok(err < (label === 'float' ? 1e-4 : 2e-3), `${name} ${label} ${target}: relative error ${err}`);
      }
    }
  }
});

test('QDQ stores integer weights as int8 with DequantizeLinear; QONNX uses Quant and BipolarQuant', async () => {
  const q = await dorefaModel(buildModel('lenet5'), { wbits: 2, abits: 4 });
  const qdq = exportOnnx(q, 'qdq').model;
  const ops = qdq.graph!.node!.map((n) => n.opType);
  assert.ok(ops.filter((o) => o === 'DequantizeLinear').length >= 4 && ops.includes('QuantizeLinear'));
  assert.ok(qdq.graph!.initializer!.some((t) => t.name === 'conv2_w_int8' && t.dataType === 3));
  const w1 = await dorefaModel(buildModel('lenet5'), { wbits: 1, abits: 32 });
  const qonnx = exportOnnx(w1, 'qonnx').model;
  assert.ok(qonnx.graph!.node!.some((n) => n.opType === 'BipolarQuant' && n.domain === 'qonnx.custom_op.general'));
  assert.ok(exportOnnx(q, 'qonnx').model.graph!.node!.some((n) => n.opType === 'Quant'));
  const notes = exportCapabilities(w1, 'qdq');
  assert.match(notes.join('\n'), /conv2: binary weights have no 1-bit type in QDQ; stored as int8 ±1/);
});

test('bit packing round-trips every width from 1 to 8', () => {
  for (let bits = 1; bits <= 8; bits++) {
    const values = Array.from({ length: 37 }, (_, i) => (i * 7919) % (2 ** bits));
    const packed = packBits(values, bits);
    assert.equal(packed.length, Math.ceil((37 * bits) / 8));
    assert.deepEqual(Array.from(unpackBits(packed, 37, bits)), values);
  }
});

test('packed models reload with the same predictions and take the bytes summary predicts (within 5%)', async () => {
  const x = tf.randomUniform([2, 28, 28, 1], 0, 1, 'float32', 8);
  for (const wbits of [1, 2, 4]) {
    const q = await dorefaModel(buildModel('lenet5', { seed: 2 }), { wbits, abits: 32 });
    const { manifest, data } = packModel(q);
    const predicted = summary(q).totalBytes;
    assert.ok(Math.abs(data.byteLength - predicted) / predicted < 0.05, `W${wbits}: ${data.byteLength} bytes vs ${predicted}`);
    const back = await unpackModel(JSON.parse(JSON.stringify(manifest)), data);
    const a = (q.predict(x) as tf.Tensor).dataSync();
    const b = (back.predict(x) as tf.Tensor).dataSync();
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-3 * Math.max(1, Math.abs(v)), `W${wbits} logit ${i}: ${v} vs ${b[i]}`));
  }
});

test('export and verify from the CLI; bad input gets one clear error and leaves no partial output', async () => {
  const dir = tmp();
  const q = await dorefaModel(buildModel('lenet5', { seed: 3 }), { wbits: 1, abits: 2 });
  await saveModelDir(q, dir);
  writeFileSync(join(dir, 'lowbit.json'), JSON.stringify({ dataset: 'mnist' }));
  const e = lowbit(['export', dir, '--format', 'qdq,qonnx,packed']);
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stderr, /qdq: conv2: binary weights have no 1-bit type in QDQ/);
  const v = lowbit(['verify', dir, '--images', '200']);
  assert.equal(v.status, 0, v.stderr + v.stdout);
  assert.match(v.stdout, /qdq\s+ok\s+top-1 agreement 100.00%/);
  assert.match(v.stdout, /packed\s+ok/);
  // A truncated packed weights file.
  truncateSync(join(dir, 'export', 'packed', 'packed.bin'), 100);
  const t = lowbit(['verify', dir, '--format', 'packed', '--images', '10']);
  assert.notEqual(t.status, 0);
  assert.match(t.stderr.trim(), /^lowbit: error: .*packed: weights file is truncated \(100 bytes/);
  // A model.json that is not a TF.js LayersModel.
  const bad = tmp();
  writeFileSync(join(bad, 'model.json'), JSON.stringify({ hello: 'world' }));
  const b = lowbit(['export', bad, '--format', 'qdq']);
  assert.equal(b.status, 2);
  assert.match(b.stderr.trim(), /^lowbit: error: .*model.json: not a TF.js LayersModel/);
  assert.equal(existsSync(join(bad, 'export')), false);
  // A layer ONNX export does not support: one error naming it, no file written.
  const rnn = tmp();
  const input = tf.input({ shape: [6, 3] });
  const out = tf.layers.dense({ units: 2, name: 'head' }).apply(tf.layers.simpleRNN({ units: 4, name: 'rnn' }).apply(input) as tf.SymbolicTensor) as tf.SymbolicTensor;
  await saveModelDir(tf.model({ inputs: input, outputs: out }), rnn);
  const u = lowbit(['export', rnn, '--format', 'onnx,packed']);
  assert.equal(u.status, 2);
  assert.match(u.stderr.trim(), /^lowbit: error: cannot export rnn \(SimpleRNN\) to ONNX/);
  assert.ok(!existsSync(join(rnn, 'export')) || readdirSync(join(rnn, 'export')).length === 0, 'no partial output');
  assert.equal(readFileSync(join(dir, 'export', 'model.qdq.onnx')).byteLength > 1000, true);
});

test('BiTAT models (per-channel binary kernels, RSign thresholds) export to ONNX and packed and match TF.js', async () => {
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 9);
  const q = await bitatStudent(buildModel('mobilenet-tiny', { seed: 4 }));
  // Non-zero thresholds, so a dropped or mis-shaped threshold shows.
  for (const w of q.weights.filter((v) => /rsign_threshold/.test(v.originalName))) w.write(tf.randomUniform(w.shape as number[], -0.3, 0.3, 'float32', 5));
  const ref = (q.predict(x) as tf.Tensor).dataSync();
  for (const target of ['float', 'qdq', 'qonnx'] as const) {
    const { om, notes, err } = await exportedError(q, target, x, ref);
    assert.ok(err < 2e-3, `${target}: relative error ${err}`);
    if (target === 'qdq') {
      assert.match(notes.join('\n'), /b1_pw_a: 1-bit weights with per-channel scales stored as int8 ±1 with a per-axis DequantizeLinear/);
      const dq = om.graph!.node!.find((n) => n.opType === 'DequantizeLinear' && n.input![0] === 'b3_pw_w_int8')!;
      assert.equal(dq.attribute!.find((a) => a.name === 'axis')!.i, 0);
    }
  }
  const { data } = packModel(q);
  assert.ok(Math.abs(data.byteLength - summary(q).totalBytes) / summary(q).totalBytes < 0.05);
  await assertPackedRoundTrip(q, x, ref, 'BiTAT');
});

test('STE, RQ and SRQ models (learned grid steps) export their integer codes and match TF.js in every target', async () => {
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 11);
  for (const [method, wbits, abits] of [['srq', 2, 2], ['ste', 3, 3], ['rq', 4, 8]] as const) {
    const q = await relaxedModel(buildModel('lenet5', { seed: 2 }), { method, wbits, abits, activationAlpha: 0.3 });
    const ref = (q.predict(x) as tf.Tensor).dataSync();
    for (const target of ['float', 'qdq', 'qonnx'] as const) {
      const { om, notes, err } = await exportedError(q, target, x, ref);
      assert.ok(err < 2e-3, `${method} W${wbits}/A${abits} ${target}: relative error ${err}`);
      if (target === 'qdq') {
        const w = om.graph!.initializer!.find((t) => t.name === 'conv2_w_int8')!;
        const codes = Int8Array.from(w.rawData ?? new Uint8Array(), (b) => (b << 24) >> 24);
        assert.ok(codes.every((c) => c >= -(2 ** (wbits - 1)) && c <= 2 ** (wbits - 1) - 1), `${method}: int8 codes on the ${wbits}-bit grid`);
        assert.ok(om.graph!.node!.some((n) => n.opType === 'QuantizeLinear'), 'activations as Q/DQ');
        assert.match(notes.join('\n'), new RegExp(`conv2: ${wbits}-bit ${method === 'ste' ? 'lsq' : method} weights stored as int8 codes with their learned step`));
      }
    }
    const manifest = await assertPackedRoundTrip(q, x, ref, method);
    assert.ok(manifest.weights.some((w) => w.storage === 'codes' && w.bits === wbits), 'packed at the real bit-width');
  }
});

test('qdq4: kernels whose codes fit 4 bits are INT4 initializers (opset 21, IR 10) and onnxruntime runs them like TF.js', async () => {
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 13);
  const cases: Array<[string, tf.LayersModel, number]> = [
    ['DoReFa W2/A4', await dorefaModel(buildModel('lenet5', { seed: 3 }), { wbits: 2, abits: 4 }), 22],
    ['SRQ W4/A4', await relaxedModel(buildModel('lenet5', { seed: 3 }), { method: 'srq', wbits: 4, abits: 4, activationAlpha: 0.3 }), 22],
    ['DoReFa W4 (codes need 5 bits: int8)', await dorefaModel(buildModel('lenet5', { seed: 3 }), { wbits: 4, abits: 32 }), 3],
    ['BiTAT per-channel ±α', await bitatStudent(buildModel('mobilenet-tiny', { seed: 3 })), 22],
  ];
  for (const [label, q, dataType] of cases) {
    const ref = (q.predict(x) as tf.Tensor).dataSync();
    const { om, notes, err } = await exportedError(q, 'qdq4', x, ref);
    assert.equal(om.opsetImport![0].version, 21);
    const weights = om.graph!.initializer!.filter((t) => /_w_int[48]$/.test(t.name!));
    assert.ok(weights.length > 0 && weights.every((t) => t.dataType === dataType), `${label}: weight type ${weights.map((t) => t.dataType)}`);
    if (dataType === 22) {
      assert.match(notes.join('\n'), /weights stored as int4 codes with DequantizeLinear \(opset 21\)/);
      const t = weights[0];
      assert.equal(t.rawData!.length, Math.ceil(t.dims!.reduce((a, b) => Number(a) * Number(b), 1) as number / 2), 'two codes per byte');
    }
    assert.ok(err < 2e-3, `${label}: relative error ${err}`);
  }
});

test('DQ auto-encoder: the ONNX encoder gives TF.js\'s codes and the ONNX decoder its mixture parameters (two levels, M = 4)', async () => {
  const options = { groups: 4, codes: 16, levels: 2 as const, width: 16, embedChannels: 16, mixtures: 2, seed: 3 };
  const model = buildDqAutoencoder(options);
  // Codebooks near the features, so codes spread over many codewords (as after training).
  const x = tf.randomUniform([4, 28, 28, 1], 0, 1, 'float32', 5);
  model.predict(x);
  for (const w of model.weights.filter((v) => v.originalName.endsWith('codebook'))) w.write(tf.randomNormal(w.shape as number[], 0, 0.3, 'float32', 7));
  const ref = encodeImages(model, x as tf.Tensor4D);
  const { encoder, decoder } = exportDqOnnx(model, options);
  const enc = await ort.InferenceSession.create(encodeModel(encoder), { logSeverityLevel: 3 });
  assert.deepEqual(enc.outputNames, ['dq_b_codes', 'dq_t_codes']);
  const out = await enc.run({ [enc.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape) });
  ref.indices.forEach((idx, l) => {
    const got = Array.from(out[enc.outputNames[l]].data as BigInt64Array, Number);
    const same = got.filter((c, i) => c === idx[i]).length / idx.length;
    assert.ok(same >= 0.999, `level ${l}: ${(same * 100).toFixed(2)}% of codes agree`);
    assert.ok(new Set(idx).size > 4, 'codes spread over the codebook');
  });
  const dec = await ort.InferenceSession.create(encodeModel(decoder), { logSeverityLevel: 3 });
  const feeds = Object.fromEntries(dec.inputNames.map((n, l) => [n, new ort.Tensor('int64', BigInt64Array.from(ref.indices[l], BigInt), [ref.count, ...ref.levels[l].grid, ref.levels[l].groups])]));
  const params = (await dec.run(feeds))[dec.outputNames[0]].data as Float32Array;
  const want = (decoderModel(model, options).predict(quantizedFeatures(model, ref)) as tf.Tensor).dataSync();
  assert.equal(params.length, want.length);
  const scale = Math.max(...Array.from(want, Math.abs));
  const err = Math.max(...Array.from(params, (v, i) => Math.abs(v - want[i]))) / scale;
  assert.ok(err < 1e-4, `decoder relative error ${err}`);
});

test('exporting a quantized model leaves no tensors behind (every target, capabilities included)', async () => {
  const q = await dorefaModel(buildModel('lenet5', { seed: 2 }), { wbits: 2, abits: 2 });
  const before = tf.memory().numTensors;
  for (const target of ['float', 'qdq', 'qdq4', 'qonnx'] as const) {
    exportOnnx(q, target);
    exportCapabilities(q, target);
  }
  packModel(q);
  assert.equal(tf.memory().numTensors, before);
});
