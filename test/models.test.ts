import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, setBackend } from '../src/index.js';
import { buildModel, modelNames } from '../src/models/index.js';
import { assertClose, modelGradients } from './helpers.js';

function oneStep(model: tf.LayersModel, batch: number, shape: [number, number, number]): { before: number[]; after: number[]; loss: number } {
  const x = tf.randomUniform([batch, ...shape], 0, 1, 'float32', 1) as tf.Tensor4D;
  const y = tf.cast(tf.oneHot(tf.tensor1d(Array.from({ length: batch }, (_, i) => i % 10), 'int32'), 10), 'float32');
  const before = Array.from(model.trainableWeights[0].read().dataSync());
  const opt = tf.train.adam(1e-2);
  const cost = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar,
    true, model.trainableWeights.map((w) => w.read() as tf.Variable))!;
  const loss = cost.dataSync()[0];
  const after = Array.from(model.trainableWeights[0].read().dataSync());
  tf.dispose([x, y, cost]);
  opt.dispose();
  return { before, after, loss };
}

for (const name of modelNames) {
  test(`${name} trains a step on wasm (28×28×1 and 32×32×3)`, async () => {
    await setBackend('wasm');
    for (const shape of [[28, 28, 1], [32, 32, 3]] as Array<[number, number, number]>) {
      const model = buildModel(name, { inputShape: shape, seed: 1 });
      assert.deepEqual(model.outputs[0].shape, [null, 10]);
      const { before, after, loss } = oneStep(model, 4, shape);
      assert.ok(Number.isFinite(loss), `${name} loss ${loss}`);
      assert.notDeepEqual(before, after, `${name}: first weights did not change`);
      model.dispose();
    }
  });
}

test('same seed → bit-identical initial weights; another seed → different', async () => {
  const w = (seed: number) => buildModel('lenet5', { seed }).getWeights().map((t) => Array.from(t.dataSync()));
  assert.deepEqual(w(5), w(5));
  assert.notDeepEqual(w(5)[0], w(6)[0]);
});

test('reference models have stable, readable layer names', () => {
  const names = (m: string) => buildModel(m).layers.map((l) => l.name);
  assert.deepEqual(names('lenet5'), ['input', 'conv1', 'bn1', 'relu1', 'pool1', 'conv2', 'bn2', 'relu2', 'pool2', 'flatten', 'fc1', 'bn3', 'relu3', 'fc2']);
  assert.deepEqual(names('lenet5-plain').filter((n) => n.startsWith('bn')), []);
  assert.ok(names('vgg-small').includes('conv2_2') && names('vgg-small').includes('conv4'));
  assert.ok(names('resnet20').includes('s2b1_proj_conv') && names('resnet20').includes('s3b3_add'));
  assert.ok(names('mobilenet-tiny').includes('b1_pw_a') && names('mobilenet-tiny').includes('b3_pw'));
});

test('lenet5 and mobilenet-tiny gradients agree between wasm and cpu (conv, depthwise and BatchNorm gradients)', async () => {
  for (const name of ['lenet5', 'mobilenet-tiny']) {
    const cpu = await modelGradients(name, 'cpu');
    const wasm = await modelGradients(name, 'wasm');
    cpu.forEach((c, i) => assertClose(wasm[i], c, `${name} gradient ${i}`, 1e-3));
  }
});

test('every model takes 64×64×3 and 28×28×3 inputs: the input shape comes from the data', () => {
  for (const name of ['lenet5', 'vgg-small', 'resnet20', 'mobilenet-tiny']) {
    for (const shape of [[64, 64, 3], [28, 28, 3]] as Array<[number, number, number]>) {
      const m = buildModel(name, { inputShape: shape, numClasses: 5, width: 0.25 });
      assert.deepEqual(m.inputs[0].shape, [null, ...shape]);
      assert.deepEqual(m.outputs[0].shape, [null, 5]);
      m.dispose();
    }
  }
});

test('unknown model names and bad shapes get clear errors', () => {
  assert.throws(() => buildModel('alexnet'), /unknown model 'alexnet': choose one of lenet5, lenet5-plain, vgg-small, resnet20, mobilenet-tiny/);
  assert.throws(() => buildModel('lenet5', { inputShape: [12, 12, 3] }), /model 'lenet5' needs inputs of at least 16×16, got 12×12×3; resize with --image-size HxW/);
  assert.throws(() => buildModel('mobilenet-tiny', { inputShape: [30, 30, 3] }), /sides that halve to an even size/);
  assert.throws(() => buildModel('lenet5', { width: 0 }), /width multiplier must be > 0/);
});
