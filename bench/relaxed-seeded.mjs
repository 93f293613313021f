// Seeded lenet5 W2/A2 training, 20 Adam steps on one random batch, with the fused relaxed kernels and with
// the tfjs-ops reference (kernel unregistered), native backend: how far the two paths drift apart.
//   npm run build && node bench/relaxed-seeded.mjs
import { tf, setBackend, buildModel, relaxedModel } from '../dist/src/node.js';
import { setNoiseState } from '../dist/src/quantizers/noise.js';
const { RELAXED_FORWARD } = await import('../dist/src/backend/relaxed-kernels.js');
await setBackend('native');
const fused = tf.getKernel(RELAXED_FORWARD, 'wasm');
async function runOnce(method, useFused) {
  if (!useFused) tf.unregisterKernel(RELAXED_FORWARD, 'wasm'); else if (!tf.getKernel(RELAXED_FORWARD, 'wasm')) tf.registerKernel(fused);
  setNoiseState(42);
  const m = await relaxedModel(buildModel('lenet5', { seed: 0 }), { method, wbits: 2, abits: 2, dropBits: method === 'srq' ? 0.1 : undefined });
  const x = tf.randomUniform([32, 28, 28, 1], 0, 1, 'float32', 1);
  const y = tf.oneHot(tf.randomUniform([32], 0, 10, 'int32', 2), 10);
  const opt = tf.train.adam(1e-3);
  const losses = [];
  for (let i = 0; i < 20; i++) losses.push(opt.minimize(() => tf.losses.softmaxCrossEntropy(y, m.apply(x, { training: true })), true).dataSync()[0]);
  const w = m.trainableWeights.map((v) => v.read().dataSync());
  return { losses, w };
}
for (const method of ['srq', 'rq']) {
  const a = await runOnce(method, true), b = await runOnce(method, false);
  let maxW = 0, scale = 0;
  a.w.forEach((wa, i) => wa.forEach((v, j) => { maxW = Math.max(maxW, Math.abs(v - b.w[i][j])); scale = Math.max(scale, Math.abs(b.w[i][j])); }));
  console.log(method, 'loss fused', a.losses[0].toFixed(6), a.losses[19].toFixed(6), 'reference', b.losses[0].toFixed(6), b.losses[19].toFixed(6),
    'max |Δloss|', Math.max(...a.losses.map((l, i) => Math.abs(l - b.losses[i]))).toExponential(2), 'max |Δw| / max|w|', (maxW / scale).toExponential(2));
}
