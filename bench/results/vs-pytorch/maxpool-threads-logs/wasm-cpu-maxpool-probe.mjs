// How TF.js's wasm and cpu MaxPool treat ±0 ties and NaN (maxpool-threads-notes.md §1). Run from the repo root after npm run build:
//   node bench/results/vs-pytorch/maxpool-threads-logs/wasm-cpu-maxpool-probe.mjs
import { tf, setBackend } from '../../../../dist/src/node.js';
const show = (v) => Array.from(v).map((x) => Object.is(x, -0) ? '-0' : String(x)).join(',');
for (const be of ['wasm', 'cpu']) {
  await setBackend(be);
  const pairs = [[0, -0], [-0, 0], [NaN, 1], [1, NaN], [NaN, -Infinity], [-Infinity, NaN], [NaN, NaN], [2, NaN, 3], [3, NaN, 2], [-0, -0, 0], [0, -0, -0], [1, NaN, 0.5, 3, NaN]];
  const out = [];
  for (const p of pairs) {
    // 1 x 1 x n x 1, window 1 x n
    const x = tf.tensor4d(p, [1, 1, p.length, 1]);
    out.push(`[${show(p)}] -> ${show(tf.maxPool(x, [1, p.length], 1, 'valid').dataSync())}`);
    // 2x2 window over [[a,b],[c,d]]
  }
  // 2x2 windows with 4 elements, various orders
  for (const p of [[0, -0, -0, -0], [-0, 0, -0, -0], [-0, -0, 0, -0], [-0, -0, -0, 0], [0, 0, 0, -0], [NaN, 1, 2, 3], [1, NaN, 2, 3], [1, 2, NaN, 3], [1, 2, 3, NaN]]) {
    const x = tf.tensor4d(p, [1, 2, 2, 1]);
    out.push(`2x2 [${show(p)}] -> ${show(tf.maxPool(x, 2, 1, 'valid').dataSync())}`);
  }
  console.log(be, '\n ' + out.join('\n '));
}
