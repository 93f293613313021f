// Prints the bits of threaded reductions whose thread partials are added in thread order
// (native/parallel.h perThreadParts): SRQ's and RQ's ∂α, ∂σ (native/relaxed.cc) and a batch-norm
// training step's ∂γ, ∂β (native/train_ops.cc, dnnl_addon.cc channel_sums) on fixed inputs.
// Run it in several processes with the same OMP_NUM_THREADS: the lines must be equal.
//   OMP_NUM_THREADS=4 node bench/thread-order-probe.mjs
import { tf, setBackend } from '../dist/src/node.js';
import { relaxedQuantize } from '../dist/src/quantizers/relaxed.js';
import { setNoiseState } from '../dist/src/quantizers/noise.js';
await setBackend('native');
const hex = (t) => Buffer.from(new Float32Array(t.dataSync()).buffer).toString('hex').slice(0, 64);
const x = tf.randomNormal([1 << 18 | 5], 0, 0.1, 'float32', 3);
const out = [];
for (const method of ['srq', 'rq']) {
  setNoiseState(7);
  const g = tf.grads((a, s) => tf.sum(relaxedQuantize(x, a, s, { method, bits: 2, signed: true, training: true })));
  const [da, ds] = g([tf.scalar(0.05), tf.scalar(0.05 / 3)]);
  out.push(`${method} dα ${hex(da)} dσ ${hex(ds)}`);
}
const xb = tf.randomNormal([256, 16, 16, 32], 0, 1, 'float32', 4);
const gamma = tf.ones([32]), beta = tf.zeros([32]);
const [dg, db] = tf.grads((gm, bt) => {
  const { mean, variance } = tf.moments(xb, [0, 1, 2]);
  return tf.sum(tf.mul(tf.batchNorm(xb, mean, variance, bt, gm, 1e-3), xb));
})([gamma, beta]);
out.push(`bn dγ ${hex(dg)} dβ ${hex(db)}`);
console.log(out.join(' | '));
