/**
 * Per-kernel time of one training step (tf.profile), to find the next bottleneck.
 * Writes bench/results/profile-<model>-<backend>-b<batch>.json.
 *
 *   node dist/bench/profile-step.js [--model vgg-small] [--backend native] [--batch 128] [--method srq --wbits 2 --abits 2]
 */
import { writeFileSync } from 'node:fs';
import { tf, setBackend, buildModel, relaxedModel, RelaxedMethodName } from '../src/node.js';
import { arg } from './runner.js';

const name = arg('model', 'vgg-small');
const backend = arg('backend', 'native');
const B = Number(arg('batch', '128'));
await setBackend(backend);
const method = arg('method', 'float');
const float = buildModel(name, {});
const model = method === 'float' ? float
  : await relaxedModel(float, { method: method as RelaxedMethodName, wbits: Number(arg('wbits', '2')), abits: Number(arg('abits', '2')) });
const opt = tf.train.adam(1e-3);
const x = tf.randomUniform([B, 28, 28, 1], 0, 1, 'float32', 1);
const y = tf.cast(tf.oneHot(tf.randomUniform([B], 0, 10, 'int32', 2) as tf.Tensor1D, 10), 'float32');
const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
const step = () => {
  const c = opt.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true, vars)!;
  c.dataSync();
  c.dispose();
};
for (let i = 0; i < 3; i++) step();
const t0 = performance.now();
for (let i = 0; i < 5; i++) step();
const msPerStep = (performance.now() - t0) / 5;
const p = await tf.profile(() => step());
const perKernel: Record<string, number> = {};
for (const k of p.kernels) perKernel[k.name] = (perKernel[k.name] ?? 0) + (k.kernelTimeMs as number);
const top = Object.entries(perKernel).sort((a, b) => b[1] - a[1]).map(([kernel, ms]) => ({ kernel, ms }));
const tag = method === 'float' ? '' : `-${method}-w${arg('wbits', '2')}a${arg('abits', '2')}`;
writeFileSync(`bench/results/profile-${name}${tag}-${backend}-b${B}.json`, `${JSON.stringify({
  command: `node dist/bench/profile-step.js ${process.argv.slice(2).join(' ')}`.trim(), model: name, method, backend, batch: B,
  msPerStep, imagesPerSecond: (B * 1000) / msPerStep,
  note: 'kernel times from tf.profile of one step (op-level entries such as fusedConv2d__op wrap the kernel of the same work)', top,
}, null, 2)}\n`);
process.stderr.write(`${name} ${backend} b${B}: ${msPerStep.toFixed(0)} ms/step\n${top.slice(0, 12).map((t) => `  ${t.kernel} ${t.ms.toFixed(1)} ms`).join('\n')}\n`);
