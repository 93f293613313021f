// vgg-small conv1_1 (28×28×1 → 32, 3×3 same, batch 64) alone through the native kernels: float output and packed signs.
//   OMP_NUM_THREADS=1 node bench/results/avx2-smallc-pad/conv1-micro.mjs [PACKAGE_ROOT]
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
const { runtimeKernels } = await import(pathToFileURL(resolve(process.argv[2] ?? '.', 'dist/src/runtime/node.js')).href);
const k = await runtimeKernels('native'); const ops = k.ops;
const N = 64;
const g = { n: N, h: 28, w: 28, c: 1, kh: 3, kw: 3, strideH: 1, strideW: 1, padTop: 1, padLeft: 1, outH: 28, outW: 28, outC: 32 };
const x = new Float32Array(N * 28 * 28).map((_, i) => Math.sin(i));
const w = new Float32Array(32 * 9).map((_, i) => Math.cos(i));
const bias = new Float32Array(32).fill(0.1), off = new Float32Array(32).fill(0.05);
const out = new Float32Array(N * 28 * 28 * 32), bits = new Uint32Array(N * 28 * 28);
for (const [name, f] of [['float', () => k.floatConv2d(x, w, bias, g, out)], ['signs', () => ops.floatConv2dSigns(x, w, bias, g, true, off, out, bits)]]) {
  const t = [];
  for (let i = 0; i < (Number(process.env.IT) || 50); i++) { const t0 = performance.now(); f(); t.push(performance.now() - t0); }
  t.sort((a, b) => a - b); console.log(process.argv[2] ?? '.', name, 'min', t[0].toFixed(3), 'med', t[t.length >> 1].toFixed(3), 'GMAC/s', (N*784*32*9/t[0]/1e6).toFixed(1));
}
