/**
 * Kernel-level timing of SRQ's fused kernels on native: 1M float32 weights around a 2-bit signed grid
 * (α = 0.05, σ = α/3), forward alone and tf.grad (forward + backward), best of 8. A development
 * A/B of native/relaxed.cc versions; on a shared machine its numbers are indicative only.
 *   npm run build && node bench/relaxed-srq-micro.mjs
 */
const { tf, setBackend } = await import('../dist/src/node.js');
const { relaxedQuantize } = await import('../dist/src/quantizers/relaxed.js');
await setBackend('native');
const n = 1 << 20, alpha = 0.05;
const x = tf.randomNormal([n], 0, 0.06, 'float32', 1), a = tf.scalar(alpha), s = tf.scalar(alpha / 3);
const o = { method: 'srq', bits: 2, signed: true, training: true };
const g = tf.grad((xx) => tf.sum(relaxedQuantize(xx, a, s, o)));
let fw = Infinity, bw = Infinity;
for (let r = 0; r < 8; r++) {
  let t = performance.now(); const y = relaxedQuantize(x, a, s, o); y.dataSync(); fw = Math.min(fw, performance.now() - t); y.dispose();
  t = performance.now(); const d = g(x); d.dataSync(); bw = Math.min(bw, performance.now() - t); d.dispose();
}
console.log(`1M-element SRQ 2-bit: forward ${fw.toFixed(1)} ms, forward+backward (grad) ${bw.toFixed(1)} ms (best of 8)`);
