/**
 * Dense sweep of SRQ's fused kernel (native/relaxed.cc, with its mode shortcut) against the tfjs-ops
 * reference: forward values must be identical, and ∂x within the printed relative error (max-norm),
 * over x from two bins below to two bins above the grid, 2/3/8-bit, signed and unsigned, σ/α from
 * 0.01 to 4.5 (past the shortcut's σ ≤ 4α). Run after `npm run build`:
 *   node bench/relaxed-srq-mode-sweep.mjs > bench/results/relaxed-fused/srq-mode-sweep.log
 */
const { tf, setBackend } = await import('../dist/src/node.js');
const { relaxedQuantize, relaxedQuantizeReference } = await import('../dist/src/quantizers/relaxed.js');
await setBackend('native');
let bad = 0, total = 0, maxDx = 0;
for (const bits of [2, 3, 8]) for (const signed of [true, false]) for (const ratio of [0.01, 0.2, 1/3, 1, 2, 3.9, 4.5]) {
  const alpha = 0.05, sigma = alpha * ratio;
  const lo = signed ? -(2 ** (bits - 1)) : 0, hi = lo + 2 ** bits - 1;
  const n = 20000;
  const xv = Float32Array.from({ length: n }, (_, i) => ((lo - 2) + (hi - lo + 4) * i / n) * alpha);
  const r = tf.tidy(() => {
    const x = tf.tensor(xv), a = tf.scalar(alpha), s = tf.scalar(sigma);
    const o = { method: 'srq', bits, signed, training: true };
    const f = (q) => tf.grad((xx) => tf.sum(tf.mul(q(xx, a, s, o), tf.sin(tf.range(0, n)))))(x).dataSync();
    return [relaxedQuantize(x, a, s, o).dataSync(), relaxedQuantizeReference(x, a, s, o).dataSync(), f(relaxedQuantize), f(relaxedQuantizeReference)];
  });
  let scale = 0, diff = 0;
  for (let i = 0; i < n; i++) { total++; if (r[0][i] !== r[1][i]) bad++; scale = Math.max(scale, Math.abs(r[3][i])); diff = Math.max(diff, Math.abs(r[2][i] - r[3][i])); }
  maxDx = Math.max(maxDx, diff / scale);
  console.log(`${bits}-bit ${signed ? 'signed' : 'unsigned'} σ/α ${ratio.toFixed(3)}: dx rel. error ${(diff / scale).toExponential(2)}`);
}
console.log(`forward values different from the reference: ${bad} of ${total}; max dx rel. error ${maxDx.toExponential(2)} (test bound: 1e-5, 1e-4 on 8-bit grids)`);
