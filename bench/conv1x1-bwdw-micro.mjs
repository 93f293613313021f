/**
 * Kernel-level timing of resnet20's two projection-shortcut filter gradients (1×1, stride 2:
 * x [B,28,28,16] → dy [B,14,14,32] and x [B,14,14,32] → dy [B,7,7,64]) on the native backend,
 * median of `reps` timed blocks of 20 calls, wall ms per call. Run from two builds to compare
 * (bench/results/conv1x1-native/micro.sh: the wasm fallback the native kernel used to decline to,
 * and the addon's strided gather + oneDNN stride-1 1×1 backward-weights).
 *   OMP_NUM_THREADS=2 node bench/conv1x1-bwdw-micro.mjs [batch=64] [reps=5]
 */
import { tf, setBackend } from '../dist/src/node.js';
import { nativeFallbackCounts } from '../dist/src/backend/native.js';
const batch = Number(process.argv[2] ?? 64), reps = Number(process.argv[3] ?? 5);
const shapes = [[[batch, 28, 28, 16], [batch, 14, 14, 32]], [[batch, 14, 14, 32], [batch, 7, 7, 64]]];
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];
await setBackend('native');
const rows = [];
for (const [xs, ds] of shapes) {
  const x = tf.randomNormal(xs, 0, 1, 'float32', 1), dy = tf.randomNormal(ds, 0, 1, 'float32', 2);
  const attrs = { strides: 2, pad: 'same', dataFormat: 'NHWC', dilations: 1, filterShape: [1, 1, xs[3], ds[3]] };
  const times = [];
  for (let r = 0; r < reps + 1; r++) {
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) { const w = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs); w.dataSync(); w.dispose(); }
    if (r > 0) times.push((performance.now() - t0) / 20);
  }
  rows.push({ x: xs, dy: ds, ms: median(times), times });
  tf.dispose([x, dy]);
}
console.log(JSON.stringify({ threads: process.env.OMP_NUM_THREADS ?? null, batch, reps, fallbackCalls: nativeFallbackCounts.get('Conv2DBackpropFilter') ?? 0, rows }));
