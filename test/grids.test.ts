/**
 * The built-in kinds' grid read-outs, and the exports that consume them for kinds the older,
 * kind-by-kind exporter kept as float ops (PACT and fixed-scale uniform activations, per-channel
 * uniform kernels, WRPN activations).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';
import { tf, buildModel, quantizeModel, packModel, unpackModel, quantizers, QuantConv2D, QuantizerSpecInput } from '../src/index.js';
import { exportOnnx, exportCapabilities } from '../src/export/onnx-export.js';
import { encodeModel } from '../src/export/onnx-builder.js';
import { lowerQonnx } from '../src/export/qonnx-lower.js';
import { ensureBackend } from '../src/index.js';

await ensureBackend(); // the browser-safe core starts no backend at import

const near = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-6 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('grid read-outs of the built-in kinds: scales, zero points and signs from the weights and learned parameters', () => {
  const w = tf.tensor2d([[0.5, -0.2], [-0.1, 0.4], [0.3, 0.05]]);
  const grid = (spec: QuantizerSpecInput, role: 'weight' | 'activation', params: number[][] = []) => {
    const q = quantizers.resolveQuantizer(spec);
    const quantized = q.apply(w, role, params.map((p) => tf.tensor(p, p.length === 1 ? [] : [p.length])), false, { outputChannels: 2 });
    return q.grid(role, { channels: 2, shape: [3, 2], params: params.map((p) => Float32Array.from(p)), latent: w.dataSync() as Float32Array, quantized: quantized.dataSync() as Float32Array });
  };
  const binary = grid({ kind: 'binary', scale: 'channel' }, 'weight');
  assert.ok(binary?.type === 'uniform' && binary.bits === 1 && binary.zeroPoint === 0.5 && binary.axis === -1);
  const cs = (binary as quantizers.UniformGrid).scale as Float32Array;
  near(cs[0], 2 * 0.9 / 3, 'α_0'); near(cs[1], 2 * 0.65 / 3, 'α_1');
  assert.deepEqual(grid('binary', 'activation'), { type: 'uniform', bits: 1, signed: false, narrow: false, scale: 2, zeroPoint: 0.5, axis: null });
  assert.deepEqual(grid('dorefa2', 'weight'), { type: 'uniform', bits: 2, signed: false, narrow: false, scale: 2 / 3, zeroPoint: 1.5, axis: null });
  assert.deepEqual(grid('dorefa4', 'activation'), { type: 'uniform', bits: 4, signed: false, narrow: false, scale: 1 / 15, zeroPoint: 0, axis: null });
  assert.equal(grid({ kind: 'dorefa', bits: 32 }, 'weight'), null);
  const twn = grid('ternary', 'weight') as quantizers.UniformGrid;
  assert.ok(twn.bits === 2 && twn.signed && twn.narrow);
  near(twn.scale as number, (0.5 + 0.4 + 0.3 + 0.2) / 4, 'TWN α');
  assert.equal(grid('ternary', 'activation'), null, 'TWN activations: α depends on each input');
  assert.equal((grid({ kind: 'ternary', form: 'wrpn' }, 'activation') as quantizers.UniformGrid).scale, 1);
  const perChannel = grid({ kind: 'uniform', bits: 4, axis: -1 }, 'weight') as quantizers.UniformGrid;
  near((perChannel.scale as Float32Array)[0], 0.5 / 8, 'per-channel max step 0'); near((perChannel.scale as Float32Array)[1], 0.4 / 8, 'per-channel max step 1');
  assert.equal(grid({ kind: 'uniform', bits: 4 }, 'activation'), null, "'max' activations are dynamic");
  assert.deepEqual(grid({ kind: 'lsq', bits: 3 }, 'weight', [[0.125]]), { type: 'uniform', bits: 3, signed: true, narrow: false, scale: 0.125, zeroPoint: 0, axis: null, learned: true });
  assert.equal((grid({ kind: 'pact', bits: 2 }, 'activation', [[3]]) as quantizers.UniformGrid).scale, 1);
  const rq = grid({ kind: 'srq', bits: 2 }, 'activation', [[Math.log(0.5)], [Math.log(0.1)]]) as quantizers.UniformGrid;
  assert.ok(!rq.signed && rq.learned);
  near(rq.scale as number, 0.5, 'SRQ α');
  assert.ok((grid({ kind: 'srq', bits: 2 }, 'weight', [[Math.log(0.5)], [Math.log(0.1)]]) as quantizers.UniformGrid).signed, 'SRQ weights: signed grid');
  const rs = grid('rsign', 'activation', [[0.1, -0.2]]) as quantizers.UniformGrid;
  assert.deepEqual(Array.from(rs.offset!), [Math.fround(0.1), Math.fround(-0.2)]);
});

async function agreement(q: tf.LayersModel, x: tf.Tensor, target: 'float' | 'qdq' | 'qdq4' | 'qonnx'): Promise<number> {
  const ref = (q.predict(x) as tf.Tensor).dataSync();
  const { model } = exportOnnx(q, target);
  const s = await ort.InferenceSession.create(encodeModel(target === 'qonnx' ? lowerQonnx(model) : model), { logSeverityLevel: 3 });
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape) });
  const y = out[s.outputNames[0]].data as Float32Array;
  const scale = Math.max(...Array.from(ref, Math.abs));
  return Math.max(...Array.from(y, (v, i) => Math.abs(v - ref[i]))) / scale;
}

test('LSQ/PACT, per-channel uniform kernels with fixed-scale inputs, and WRPN inputs export from their read-outs and pack', async () => {
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 21);
  const configs: Array<[string, Parameters<typeof quantizeModel>[1]]> = [
    ['LSQ + PACT', { kernelQuantizer: { kind: 'lsq', bits: 4, initStep: 0.02 }, inputQuantizer: { kind: 'pact', bits: 4, initAlpha: 3 } }],
    ['uniform per channel + fixed-scale uniform inputs', { kernelQuantizer: { kind: 'uniform', bits: 4, axis: -1 }, inputQuantizer: { kind: 'uniform', bits: 8, signed: false, scale: 0.02 } }],
    ['DoReFa W3 + WRPN inputs', { kernelQuantizer: 'dorefa3', inputQuantizer: { kind: 'ternary', form: 'wrpn' } }],
  ];
  for (const [label, config] of configs) {
    const q = await quantizeModel(buildModel('lenet5', { seed: 7 }), config);
    for (const target of ['float', 'qdq', 'qdq4', 'qonnx'] as const) {
      const err = await agreement(q, x, target);
      assert.ok(err < 2e-3, `${label} ${target}: relative error ${err}`);
    }
    const qdq = exportOnnx(q, 'qdq').model.graph!.node!.map((n) => n.opType);
    assert.ok(qdq.includes('QuantizeLinear'), `${label}: activations as Q/DQ`);
    assert.ok(exportOnnx(q, 'qonnx').model.graph!.node!.filter((n) => n.opType === 'Quant').length >= 4, `${label}: kernels and activations through Quant`);
    assert.doesNotMatch(exportCapabilities(q, 'qdq').join('\n'), /float ops/);
    const { manifest, data } = packModel(q);
    const back = await unpackModel(JSON.parse(JSON.stringify(manifest)), data);
    assert.ok(manifest.weights.some((w) => w.storage === 'codes' && w.name.startsWith('conv2/kernel')), `${label}: conv2 stored as codes`);
    const a = (q.predict(x) as tf.Tensor).dataSync();
    const b = (back.predict(x) as tf.Tensor).dataSync();
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-4 * Math.max(1, Math.abs(v)), `${label} packed logit ${i}: ${v} vs ${b[i]}`));
  }
});

test('an activation quantizer without a fixed grid fails the export naming the layer', async () => {
  const q = await quantizeModel(buildModel('lenet5', { seed: 7 }), { kernelQuantizer: 'binary', inputQuantizer: 'ternary' });
  assert.ok((q.getLayer('conv2') as QuantConv2D).inputGrid() == null);
  assert.throws(() => exportOnnx(q, 'qonnx'), /conv2: the ternary activation quantizer has no fixed grid \(it depends on each input\) and cannot be exported/);
});
