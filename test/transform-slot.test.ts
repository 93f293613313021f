/** The quantized layers' training-time transform slot (BiTAT's stage-wise binarization and metric). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, buildModel, quantizeModel, QuantConv2D } from '../src/index.js';
import { ensureBackend } from '../src/index.js';

await ensureBackend(); // the browser-safe core starts no backend at import

test('transform slot: absent by default; quantize: false is float; a metric refits ±α; removing it restores; never saved', async () => {
  const m = buildModel('lenet5', { seed: 8 });
  const q = await quantizeModel(m, { kernelQuantizer: { kind: 'binary', scale: 'channel' }, inputQuantizer: 'rsign' });
  const layer = q.getLayer('conv2') as QuantConv2D;
  const plain = Array.from(layer.quantizedKernel().dataSync());
  assert.equal(layer.transform, null);
  assert.equal(layer.quantizationEnabled, true);
  layer.setTransform({ quantize: false });
  assert.deepEqual(Array.from(layer.quantizedKernel().dataSync()), Array.from(layer.latentKernel.read().dataSync()), 'float kernel');
  const x = tf.randomUniform([2, 12, 12, 20], -1, 1, 'float32', 2);
  assert.deepEqual(Array.from(layer.quantizeInput(x).dataSync()), Array.from(x.dataSync()), 'float input');
  // A metric: the kernel stays two values per output channel, fitted under M.
  const d = 5 * 5 * 20;
  const metric = tf.add(tf.eye(d), tf.mul(tf.ones([d, d]), 0.01)) as tf.Tensor2D;
  layer.setTransform({ quantize: true, metric: () => metric });
  assert.equal(layer.kernelMetric != null, true);
  const fitted = tf.reshape(layer.quantizedKernel(), [-1, 50]).arraySync() as number[][];
  for (const o of [0, 49]) assert.equal(new Set(fitted.map((r) => Math.abs(r[o]))).size, 1, `column ${o}: ±α`);
  // The old accessors are views of the slot.
  layer.quantizationEnabled = false;
  assert.deepEqual(layer.transform, { quantize: false, metric: layer.kernelMetric });
  layer.kernelMetric = null;
  layer.quantizationEnabled = true;
  assert.equal(layer.transform, null, 'quantizing without a metric is no transform');
  assert.deepEqual(Array.from(layer.quantizedKernel().dataSync()), plain);
  layer.setTransform({ quantize: false });
  assert.ok(!('transform' in (layer.getConfig() as object)) && !('quantizationEnabled' in (layer.getConfig() as object)), 'not in the config');
});
