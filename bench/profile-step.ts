/**
 * Per-kernel time of one training step (tf.profile), to find the next bottleneck.
 * Writes bench/results/profile-<model>-<backend>-b<batch>.json.
 *
 *   node dist/bench/profile-step.js [--model vgg-small] [--backend native] [--batch 128] [--method srq --wbits 2 --abits 2]
 *
 * With --detail N it profiles N steps (after 3 warm-up steps) and writes, averaged per step, every
 * kernel's time, call count and input shapes, which kernels ran on the native (oneDNN/C++) path and
 * which on TF.js's wasm kernels (a native kernel that declined and fell back counts as wasm;
 * native.ts nativeFallbackCounts), and the number of kernels per step:
 *
 *   node dist/bench/profile-step.js --model mobilenet-tiny --batch 64 --method ste --detail 5 --out bench/results/profile-train-mobilenet-tiny-lsq-w2a2-b64.json
 *
 * --method float | dorefa (DoReFa, --wbits/--abits) | a relaxed method (ste = LSQ on every layer, srq, …)
 * | bitat (one step of BiTAT's last stage, as bench/vs-pytorch's bitat-w1a1 row: bench/bitat-stage.ts).
 */
import { writeFileSync } from 'node:fs';
import { setBackend, buildModel, relaxedModel, dorefaModel, profileTrainStep, RelaxedMethodName, tf } from '../src/node.js';
import { nativeFallbackCounts, nativeKernelNames } from '../src/backend/native.js';
import { arg } from './runner.js';
import { bitatLastStage } from './bitat-stage.js';
import type * as TF from '../src/backend/tf.js';

const name = arg('model', 'vgg-small');
const backend = arg('backend', 'native');
const B = Number(arg('batch', '128'));
await setBackend(backend);
const method = arg('method', 'float');
const wbits = Number(arg('wbits', '2'));
const abits = Number(arg('abits', '2'));
const float = buildModel(name, {});
const bitat = method === 'bitat' ? await bitatLastStage(name) : null;
const model = bitat != null ? bitat.model : method === 'float' ? float : method === 'dorefa' ? await dorefaModel(float, { wbits, abits })
  : await relaxedModel(float, { method: method as RelaxedMethodName, wbits, abits });
const tag = method === 'float' ? '' : method === 'bitat' ? '-bitat-w1a1' : `-${method}-w${wbits}a${abits}`;
const command = `node dist/bench/profile-step.js ${process.argv.slice(2).join(' ')}`.trim();
const detail = Number(arg('detail', '0'));
if (bitat != null && !(detail > 0)) {
  process.stderr.write('--method bitat profiles its own variables: give --detail N (steps to profile)\n');
  process.exit(2);
}

if (detail > 0) {
  const x = tf.randomUniform([B, ...(model.inputs[0].shape.slice(1) as number[])], 0, 1, 'float32', 1);
  const classes = model.outputs[0].shape[1] as number;
  const y = tf.tidy(() => tf.oneHot(tf.randomUniform([B], 0, classes, 'int32', 2) as TF.Tensor1D, classes));
  const optimizer = tf.train.adam(1e-3);
  const vars = bitat?.variables ?? model.trainableWeights.map((w) => w.read() as TF.Variable);
  const step = () => {
    const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as TF.Tensor) as TF.Scalar, true, vars)!;
    cost.dataSync();
    cost.dispose();
  };
  for (let i = 0; i < 3; i++) step();
  // Untimed by tf.profile: wall time of plain steps.
  const t0 = performance.now();
  for (let i = 0; i < detail; i++) step();
  const msPerStep = (performance.now() - t0) / detail;
  nativeFallbackCounts.clear();
  const native = new Set(nativeKernelNames);
  const groups = new Map<string, { kernel: string; inputShapes: unknown; calls: number; ms: number }>();
  let kernelsPerStep = 0;
  let profiledMs = 0;
  for (let i = 0; i < detail; i++) {
    const t = performance.now();
    const info = await tf.profile(step);
    profiledMs += performance.now() - t;
    kernelsPerStep += info.kernels.length / detail;
    for (const k of info.kernels) {
      const key = `${k.name} ${JSON.stringify(k.inputShapes)}`;
      const g = groups.get(key) ?? { kernel: k.name, inputShapes: k.inputShapes, calls: 0, ms: 0 };
      g.calls += 1 / detail;
      g.ms += (k.kernelTimeMs as number) / detail;
      groups.set(key, g);
    }
  }
  const fallbacks = Object.fromEntries([...nativeFallbackCounts].map(([k, n]) => [k, n / detail]));
  const byKernel = new Map<string, { kernel: string; calls: number; ms: number; path: string }>();
  for (const g of groups.values()) {
    const e = byKernel.get(g.kernel) ?? { kernel: g.kernel, calls: 0, ms: 0, path: native.has(g.kernel) ? 'native' : g.kernel.endsWith('__op') ? 'op (wraps a kernel)' : 'wasm' };
    e.calls += g.calls;
    e.ms += g.ms;
    byKernel.set(g.kernel, e);
  }
  for (const [k, n] of Object.entries(fallbacks)) { const e = byKernel.get(k); if (e) e.path = n >= e.calls ? 'wasm (native declined)' : `native (declined ${n} of ${e.calls} calls)`; }
  const kernels = [...byKernel.values()].sort((a, b) => b.ms - a.ms);
  const sum = (path: (p: string) => boolean) => kernels.filter((k) => path(k.path)).reduce((s, k) => s + k.ms, 0);
  const out = arg('out', `bench/results/profile-train-${name}${tag}-${backend}-b${B}.json`);
  writeFileSync(out, `${JSON.stringify({
    command, model: name, method, wbits, abits, backend, batch: B, msPerStep, imagesPerSecond: (B * 1000) / msPerStep,
    profiledMsPerStep: profiledMs / detail, kernelsPerStep, kernelMsPerStep: sum(() => true) - sum((p) => p.startsWith('op')),
    nativeKernelMs: sum((p) => p.startsWith('native')), wasmKernelMs: sum((p) => p.startsWith('wasm')), fallbacksPerStep: fallbacks,
    note: `averages over ${detail} profiled steps after 3 warm-up steps; msPerStep from ${detail} unprofiled steps; kernel times from tf.profile `
      + '(wall time of each kernel call; op-level entries such as fusedConv2d__op wrap the kernel of the same work and are left out of the sums); '
      + 'path: native = lowbit\'s oneDNN/C++ kernel, wasm = TF.js\'s wasm kernel',
    kernels, shapes: [...groups.values()].sort((a, b) => b.ms - a.ms),
  }, null, 2)}\n`);
  process.stderr.write(`${name} ${method} ${backend} b${B}: ${msPerStep.toFixed(1)} ms/step, ${kernelsPerStep.toFixed(0)} kernels/step; wrote ${out}\n`
    + `${kernels.slice(0, 25).map((t) => `  ${t.kernel.padEnd(40)} ${t.ms.toFixed(2).padStart(7)} ms ${t.calls.toFixed(0).padStart(4)}× ${t.path}`).join('\n')}\n`);
} else {
  // 3 warm-up steps, then one profiled step, then 5 timed steps.
  const { msPerStep, kernels: top } = await profileTrainStep(model, B, { seed: 1, warmupSteps: 3, timedSteps: 5 });
  writeFileSync(`bench/results/profile-${name}${tag}-${backend}-b${B}.json`, `${JSON.stringify({
    command, model: name, method, backend, batch: B,
    msPerStep, imagesPerSecond: (B * 1000) / msPerStep,
    note: 'kernel times from tf.profile of one step (op-level entries such as fusedConv2d__op wrap the kernel of the same work)', top,
  }, null, 2)}\n`);
  process.stderr.write(`${name} ${backend} b${B}: ${msPerStep.toFixed(0)} ms/step\n${top.slice(0, 12).map((t) => `  ${t.kernel} ${t.ms.toFixed(1)} ms`).join('\n')}\n`);
}
