import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { tf, dorefaConfig, quantizeModel } from '../src/index.js';
import { loadModelDir, saveModelDir } from '../src/node.js';
import { exportOnnx } from '../src/export/onnx-export.js';
import { encodeModel } from '../src/export/onnx-builder.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const lowbit = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

function sequentialModel(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [12, 12, 1], filters: 4, kernelSize: 3, padding: 'same', name: 'conv1', kernelInitializer: tf.initializers.glorotUniform({ seed: 1 }) }));
  m.add(tf.layers.batchNormalization({ name: 'bn1' }));
  m.add(tf.layers.activation({ activation: 'relu', name: 'relu1' }));
  m.add(tf.layers.maxPooling2d({ poolSize: 2, name: 'pool1' }));
  m.add(tf.layers.flatten({ name: 'flat' }));
  m.add(tf.layers.dense({ units: 5, name: 'fc', kernelInitializer: tf.initializers.glorotUniform({ seed: 2 }) }));
  // Non-trivial BatchNorm statistics, so a wrong graph cannot agree by accident.
  const bn = m.getLayer('bn1');
  bn.setWeights([tf.tensor1d([1.5, 0.5, 1, 2]), tf.tensor1d([0.1, -0.2, 0.3, 0]), tf.tensor1d([0.2, -0.1, 0, 0.4]), tf.tensor1d([2, 0.5, 1, 3])]);
  return m;
}

async function maxRelativeError(model: tf.LayersModel, target: 'float' | 'qdq'): Promise<number> {
  const x = tf.randomUniform([3, 12, 12, 1], 0, 1, 'float32', 7);
  const ref = (model.predict(x) as tf.Tensor).dataSync();
  const s = await ort.InferenceSession.create(encodeModel(exportOnnx(model, target).model), { logSeverityLevel: 3 });
  const out = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x.dataSync() as Float32Array, x.shape) });
  const y = out[s.outputNames[0]].data as Float32Array;
  assert.equal(y.length, ref.length);
  const scale = Math.max(...Array.from(ref, Math.abs));
  x.dispose();
  return Math.max(...Array.from(y, (v, i) => Math.abs(v - ref[i]))) / scale;
}

test('a tf.Sequential model, float and DoReFa-quantized (quantizeModel keeps it Sequential), exports to ONNX and onnxruntime agrees with TF.js', async () => {
  const seq = sequentialModel();
  assert.ok(seq instanceof tf.Sequential);
  assert.ok(await maxRelativeError(seq, 'float') < 1e-5, 'float export of a Sequential model');
  const q = await quantizeModel(seq, dorefaConfig({ wbits: 2, abits: 32 }));
  assert.ok(q instanceof tf.Sequential, 'quantizeModel of a Sequential model is Sequential');
  assert.ok(await maxRelativeError(q, 'float') < 1e-5, 'float export of a quantized Sequential model');
  assert.ok(await maxRelativeError(q, 'qdq') < 1e-4, 'QDQ export of a quantized Sequential model');
  // Reloaded from disk (its inner graph is built lazily), and from the CLI.
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-seq-'));
  await saveModelDir(q, dir);
  const loaded = await loadModelDir(dir);
  assert.ok(loaded instanceof tf.Sequential);
  assert.ok(await maxRelativeError(loaded, 'qdq') < 1e-4, 'QDQ export of a reloaded Sequential model');
  loaded.dispose();
  const r = lowbit(['export', dir, '--format', 'onnx,qdq,packed']);
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['model.float.onnx', 'model.qdq.onnx', 'packed']) assert.ok(existsSync(join(dir, 'export', f)), f);
  seq.dispose();
  q.dispose();
});
