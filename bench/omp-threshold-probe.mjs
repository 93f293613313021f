// Probe (issue 21, two-thread scaling): how long the native addon's threaded elementwise and
// per-channel kernels take per call at a range of sizes, with whatever OMP_NUM_THREADS the process
// has, so that runs at 1 and 2 threads give the size at which the second thread starts to pay on
// this machine. Calls the addon on a plain ArrayBuffer (no TF.js). Median of R timed calls after
// warm-up, in microseconds, one JSON line per size.
//
//   OMP_NUM_THREADS=1 node bench/omp-threshold-probe.mjs; OMP_NUM_THREADS=2 node bench/omp-threshold-probe.mjs
//
// GAP_US=50 busy-waits that long in JS before each timed call (as TF.js's engine does between
// kernels), so an OpenMP worker that stops spinning sooner (GOMP_SPINCOUNT) is asleep when the
// call comes and the call pays its wake-up. The addon is required directly: libgomp's defaults
// apply unless GOMP_SPINCOUNT / OMP_WAIT_POLICY are set (src/backend/native.ts sets 3000).
import { createRequire } from 'node:module';
const addon = createRequire(import.meta.url)('../native/build/Release/lowbit_dnnl.node');
const sizes = (process.env.SIZES ?? '4096,16384,32768,65536,131072,262144,524288,1048576').split(',').map(Number);
const R = Number(process.env.REPS ?? 200);
const gap = Number(process.env.GAP_US ?? 0);
const max = Math.max(...sizes);
const heap = new ArrayBuffer(max * 4 * 4);
const f = new Float32Array(heap);
for (let i = 0; i < f.length; i++) f[i] = Math.sin(i) * 3;
const B = max * 4; // byte offsets of a, b, out, spare
const C = 16;
const kernels = {
  add: (n) => addon.binary(heap, Int32Array.from([0, 0, 1, n, 0, B, 2 * B])),
  relu: (n) => addon.unary(heap, Int32Array.from([7, n, 0, 2 * B])),
  // batch norm training forward over [n/C, C]: two channel sums and a normalisation
  bnTrain: (n) => addon.batchNormTrain(heap, Int32Array.from([n / C, C, 0, B, B + 64, 2 * B, 3 * B, 3 * B + 64, 0x3a83126f])),
};
function median(a) { const s = [...a].sort((x, y) => x - y); return s[s.length >> 1]; }
for (const [name, k] of Object.entries(kernels)) {
  for (const n of sizes) {
    for (let i = 0; i < 20; i++) k(n);
    const t = [];
    for (let i = 0; i < R; i++) {
      if (gap > 0) { const g = process.hrtime.bigint() + BigInt(gap * 1000); while (process.hrtime.bigint() < g); }
      const s = process.hrtime.bigint(); k(n); t.push(Number(process.hrtime.bigint() - s) / 1e3);
    }
    console.log(JSON.stringify({ kernel: name, n, threads: Number(process.env.OMP_NUM_THREADS ?? 0), spin: process.env.GOMP_SPINCOUNT ?? 'default', gapUs: gap, medianUs: +median(t).toFixed(1), minUs: +Math.min(...t).toFixed(1) }));
  }
}
