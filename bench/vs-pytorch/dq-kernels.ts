/**
 * The DQ step's fused native kernels timed alone against the tfjs-ops paths they replace, on the shapes of
 * the DQ auto-encoder's training step (docs/results/dq-speed.md), alternating fused and reference per round:
 * the mixture NLL forward + gradient on [B, 32, 32, 15] parameters and [B, 28, 28, 1] images.
 *
 *   node dist/bench/vs-pytorch/dq-kernels.js BATCH [ROUNDS]
 *
 * Prints one JSON line: median milliseconds per call of each path, and their ratio.
 */
const { setBackend, tf } = await import('../../src/node.js');
const { croppedMixtureNll, cropParams, mixtureNllReference } = await import('../../src/methods/dq/mixture.js');

const [batch, rounds] = [Number(process.argv[2] ?? 64), Number(process.argv[3] ?? 7)];
await setBackend('native');
const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

const params = tf.randomNormal([batch, 32, 32, 15], 0, 1, 'float32', 1) as import('@tensorflow/tfjs-core').Tensor4D;
const x = tf.div(tf.floor(tf.randomUniform([batch, 28, 28, 1], 0, 256, 'float32', 2)), 255) as import('@tensorflow/tfjs-core').Tensor4D;
type T = import('@tensorflow/tfjs-core').Tensor;
const paths: Record<string, (p: T) => T> = {
  fused: (p) => croppedMixtureNll(p as import('@tensorflow/tfjs-core').Tensor4D, x),
  reference: (p) => mixtureNllReference(cropParams(p as import('@tensorflow/tfjs-core').Tensor4D), x),
};
const times: Record<string, number[]> = { fused: [], reference: [] };
const once = (f: (p: T) => T) => tf.tidy(() => { const g = tf.grad((p: T) => tf.mean(f(p)))(params); g.dataSync(); });
for (const f of Object.values(paths)) once(f);
for (let r = 0; r < rounds; r++) {
  for (const [name, f] of Object.entries(paths)) {
    const t0 = performance.now();
    once(f);
    times[name].push(performance.now() - t0);
  }
}
const fused = median(times.fused);
const reference = median(times.reference);
process.stdout.write(`${JSON.stringify({ bench: 'dq mixture NLL forward + gradient', batch, rounds, fusedMs: fused, referenceMs: reference, speedup: reference / fused, times })}\n`);
