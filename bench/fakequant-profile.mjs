/** Kernel counts and kernel times of one lenet5 W2/A2 forward + backward (batch 128, native, grads w.r.t. the input), DoReFa and LSQ; the Lowbit fake-quant kernels and the op-chain kernels listed, then the 14 costliest. Indicative only on a shared machine.
 *   OMP_NUM_THREADS=2 node bench/fakequant-profile.mjs */
const { setBackend, dorefaModel, relaxedModel, buildModel, tf } = await import('../dist/src/node.js');
await setBackend('native');
for (const v of ['dorefa', 'lsq']) {
  const float = buildModel('lenet5', { seed: 0 });
  const m = await (v === 'dorefa' ? dorefaModel(float, { wbits: 2, abits: 2 }) : relaxedModel(float, { method: 'ste', wbits: 2, abits: 2 }));
  const x = tf.randomNormal([128, 28, 28, 1]);
  m.predict(x);
  const p = await tf.profile(() => tf.dispose(tf.grads((xx) => tf.sum(m.apply(xx, { training: true })))([x])));
  const counts = {}; const ms = {};
  for (const k of p.kernels) { counts[k.name] = (counts[k.name] ?? 0) + 1; ms[k.name] = (ms[k.name] ?? 0) + k.kernelTimeMs; }
  console.log(v, Object.entries(counts).filter(([k]) => k.startsWith('Lowbit') || ['Round','ClipByValue','Tanh','Max'].includes(k)).map(([k,c]) => k+'×'+c+' '+ms[k].toFixed(1)).join(' | '));
  const top = Object.entries(ms).sort((a, b) => b[1] - a[1]).slice(0, 14).map(([k, t]) => `${k}×${counts[k]} ${t.toFixed(1)}ms`);
  console.log(v, p.kernels.length, 'kernels;', top.join(' | '));
}
