/**
 * Kernel-level A/B of the fused fake-quant kernels (src/backend/fakequant-kernels.ts,
 * native/fakequant.cc) against the op chains they replace (dorefaActivationReference,
 * lsqReference): lenet5's first activation at batch 128 ([128, 24, 24, 20] = 1.47M float32),
 * 2 bits, forward alone and tf.grads (forward + backward), fused and reference alternated, best
 * of 10 each. On a shared machine its numbers are indicative only.
 *   npm run build && node bench/fakequant-micro.mjs [native|wasm]   (wasm: the op chain both times since the kernels are native-only)
 */
const { tf, setBackend } = await import('../dist/src/node.js');
const { dorefaActivation, dorefaActivationReference } = await import('../dist/src/quantizers/dorefa.js');
const { lsq, lsqReference } = await import('../dist/src/quantizers/uniform.js');
const backend = process.argv[2] ?? 'native';
await setBackend(backend);
const shape = [128, 24, 24, 20];
const x = tf.randomNormal(shape, 0.4, 0.5, 'float32', 1);
const w = tf.randomNormal(shape, 0, 1, 'float32', 2);
const step = tf.scalar(0.3);
const cases = {
  'dorefa-act': [(a) => dorefaActivation(a, 2), (a) => dorefaActivationReference(a, 2)],
  lsq: [(a, s) => lsq(a, s, { bits: 2, signed: false }), (a, s) => lsqReference(a, s, { bits: 2, signed: false })],
};
const best = (f) => {
  const t = performance.now();
  const out = f();
  (Array.isArray(out) ? out : [out]).forEach((o) => o.dataSync());
  const ms = performance.now() - t;
  tf.dispose(out);
  return ms;
};
const results = {};
for (const [name, [fused, ref]] of Object.entries(cases)) {
  const r = { fusedForward: Infinity, referenceForward: Infinity, fusedGrad: Infinity, referenceGrad: Infinity };
  const args = name === 'lsq' ? [x, step] : [x];
  const grads = (q) => tf.grads((...a) => tf.sum(tf.mul(q(...a), w)));
  const gf = grads(fused);
  const gr = grads(ref);
  for (let i = 0; i < 10; i++) {
    r.fusedForward = Math.min(r.fusedForward, best(() => fused(x, step)));
    r.referenceForward = Math.min(r.referenceForward, best(() => ref(x, step)));
    r.fusedGrad = Math.min(r.fusedGrad, best(() => gf(args)));
    r.referenceGrad = Math.min(r.referenceGrad, best(() => gr(args)));
  }
  results[name] = Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v.toFixed(2))]));
}
console.log(JSON.stringify({ backend, shape, bits: 2, ms: results, note: 'best of 10, forward alone and tf.grads (forward + backward + the Σ w·q loss)' }));
