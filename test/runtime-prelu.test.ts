/**
 * PReLU with per-element alpha (Keras' default: alpha [h, w, c], or [1, w, c] / [h, 1, c] with one
 * shared axis) after an integer-kernel layer whose consumer is binary: the epilogue runs the
 * stages, then packs the next layer's sign bits. The plain-JS path (js and wasm kernels, and
 * native kernels without their passes) ran the stages pixel by pixel on a one-pixel scratch, so
 * every pixel read alpha[0 … c − 1] (src/runtime/plan.ts, bindWeighted); checked here against
 * the TF.js model's PReLU layer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, quantizeModel, ensureBackend } from '../src/node.js'; // the Node entry: it registers the native backend
import { packModel, unpackModel } from '../src/export/packed.js';
import { createRuntime, jsKernels, nativeKernels, nativeKernelsAvailable, runtimeKernels, RuntimeKernels } from '../src/runtime/node.js';

/**
 * float conv → binary conv (37 channels) → PReLU → binary conv → binary dense → float dense, with
 * seeded weights and nonzero biases (no integer result lands exactly on a sign threshold, where
 * TF.js's float sums and the runtime's integer sums could round to different signs).
 */
async function model(sharedAxes: number[] | null): Promise<tf.LayersModel> {
  const init = (seed: number) => ({
    kernelInitializer: tf.initializers.glorotUniform({ seed }),
    biasInitializer: tf.initializers.randomUniform({ minval: -0.3, maxval: 0.3, seed: seed + 100 }),
  });
  const input = tf.input({ shape: [6, 5, 2] });
  let x = tf.layers.conv2d({ filters: 4, kernelSize: 3, padding: 'same', name: 'c1', ...init(1) }).apply(input) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 37, kernelSize: 3, padding: 'same', name: 'c2', ...init(2) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.prelu({ name: 'pr', ...(sharedAxes ? { sharedAxes } : {}), alphaInitializer: tf.initializers.randomUniform({ minval: -2, maxval: 2, seed: 3 }) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.conv2d({ filters: 6, kernelSize: 3, padding: 'same', name: 'c3', ...init(4) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.flatten().apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 3, name: 'd1', ...init(5) }).apply(x) as tf.SymbolicTensor;
  x = tf.layers.dense({ units: 2, name: 'd2', ...init(6) }).apply(x) as tf.SymbolicTensor;
  return quantizeModel(tf.model({ inputs: input, outputs: x }), { kernelQuantizer: 'binary', inputQuantizer: 'binary' });
}

test('PReLU with per-element alpha before a binary layer agrees with the TF.js PReLU layer on every kernel backend (with and without the native passes)', async () => {
  await ensureBackend(nativeKernelsAvailable() ? 'native' : 'wasm');
  const kernelSets: RuntimeKernels[] = [jsKernels, await runtimeKernels('wasm')];
  if (nativeKernelsAvailable()) {
    const k = nativeKernels();
    kernelSets.push(k, { ...k, name: 'native-no-ops', ops: undefined });
  }
  for (const shared of [null, [1], [2], [1, 2]]) {
    const q = await model(shared);
    const packed = packModel(q);
    const reference = await unpackModel(JSON.parse(JSON.stringify(packed.manifest)), packed.data);
    const alpha = reference.getLayer('pr').getWeights()[0];
    assert.deepEqual(alpha.shape, shared === null ? [6, 5, 37] : shared.length === 2 ? [1, 1, 37] : shared[0] === 1 ? [1, 5, 37] : [6, 1, 37]);
    const x = tf.randomUniform([3, 6, 5, 2], -1, 1, 'float32', 5);
    const want = tf.tidy(() => (reference.predict(x) as tf.Tensor).dataSync() as Float32Array);
    const xs = x.dataSync() as Float32Array;
    x.dispose();
    reference.dispose();
    for (const k of kernelSets) {
      const rt = createRuntime(packed, { kernels: k });
      assert.deepEqual(rt.steps.find((s) => s.layers.includes('pr')), { layers: ['c2', 'pr'], op: 'conv', kernel: 'binary', output: 'bits', geometry: rt.steps[1].geometry });
      const got = rt.run(xs, 3);
      const scale = Math.max(...Array.from(want, Math.abs));
      want.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-5 * scale, `alpha shared over ${JSON.stringify(shared)}, ${k.name} kernels: logit ${i} ${got[i]} vs TF.js ${v}`));
    }
  }
});
