/**
 * Per-kernel time of one training step (tf.profile), to find the next bottleneck.
 * Writes bench/results/profile-<model>-<backend>-b<batch>.json.
 *
 *   node dist/bench/profile-step.js [--model vgg-small] [--backend native] [--batch 128] [--method srq --wbits 2 --abits 2]
 */
import { writeFileSync } from 'node:fs';
import { setBackend, buildModel, relaxedModel, profileTrainStep, RelaxedMethodName } from '../src/node.js';
import { arg } from './runner.js';

const name = arg('model', 'vgg-small');
const backend = arg('backend', 'native');
const B = Number(arg('batch', '128'));
await setBackend(backend);
const method = arg('method', 'float');
const float = buildModel(name, {});
const model = method === 'float' ? float
  : await relaxedModel(float, { method: method as RelaxedMethodName, wbits: Number(arg('wbits', '2')), abits: Number(arg('abits', '2')) });
// 3 warm-up steps, then one profiled step, then 5 timed steps.
const { msPerStep, kernels: top } = await profileTrainStep(model, B, { seed: 1, warmupSteps: 3, timedSteps: 5 });
const tag = method === 'float' ? '' : `-${method}-w${arg('wbits', '2')}a${arg('abits', '2')}`;
writeFileSync(`bench/results/profile-${name}${tag}-${backend}-b${B}.json`, `${JSON.stringify({
  command: `node dist/bench/profile-step.js ${process.argv.slice(2).join(' ')}`.trim(), model: name, method, backend, batch: B,
  msPerStep, imagesPerSecond: (B * 1000) / msPerStep,
  note: 'kernel times from tf.profile of one step (op-level entries such as fusedConv2d__op wrap the kernel of the same work)', top,
}, null, 2)}\n`);
process.stderr.write(`${name} ${backend} b${B}: ${msPerStep.toFixed(0)} ms/step\n${top.slice(0, 12).map((t) => `  ${t.kernel} ${t.ms.toFixed(1)} ms`).join('\n')}\n`);
