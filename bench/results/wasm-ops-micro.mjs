// Per-pass timing of the wasm RuntimeOps against the plan's JavaScript loops (src/runtime/plan.ts,
// copied here) on mobilenet-tiny's batch-64 shapes: the concatenations (14×14, 16 + 16 channels;
// 7×7, 32 + 32), the pooled shortcut (2×2 average, 14×14×32), global pooling (7×7×64), a residual
// Add and a PReLU. Interleaved (JS, wasm, JS, wasm …); median and min ms per call.
//   node bench/results/wasm-ops-micro.mjs [--reps 50] [--out FILE]   (after npm run build)
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { createWasmKernels } from '../../dist/src/runtime/wasm/index.js';

const arg = (name, fallback) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? process.argv[i + 1] : fallback; };
const reps = Number(arg('reps', '50'));
const ops = (await createWasmKernels()).ops;
const rnd = (n) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 2);

// The plan's loops (src/runtime/plan.ts, BatchExecutor.bind and `pool`).
function jsConcat(xs, channels, y) {
  const total = channels.reduce((a, b) => a + b, 0);
  const pixels = y.length / total;
  for (let j = 0, at = 0; j < xs.length; j++) {
    const x = xs[j];
    const c = channels[j];
    for (let p = 0; p < pixels; p++) {
      const src = p * c;
      const dst = p * total + at;
      for (let ch = 0; ch < c; ch++) y[dst + ch] = x[src + ch];
    }
    at += c;
  }
}
// The same loop, a separate function so that each stays monomorphic (Int32Array views: no float conversions).
function jsConcatInt32(xs, channels, y) {
  const total = channels.reduce((a, b) => a + b, 0);
  const pixels = y.length / total;
  for (let j = 0, at = 0; j < xs.length; j++) {
    const x = xs[j];
    const c = channels[j];
    for (let p = 0; p < pixels; p++) {
      const src = p * c;
      const dst = p * total + at;
      for (let ch = 0; ch < c; ch++) y[dst + ch] = x[src + ch];
    }
    at += c;
  }
}
function jsGap(x, y, n, hw, c) {
  y.fill(0);
  for (let b = 0; b < n; b++) for (let p = 0; p < hw; p++) { const xi = (b * hw + p) * c; for (let ch = 0; ch < c; ch++) y[b * c + ch] += x[xi + ch]; }
  for (let i = 0; i < y.length; i++) y[i] /= hw;
}
function jsPool(x, y, g, max, sums) {
  const { n, h, w, c, kh, kw, outH, outW, strideH, strideW, padTop, padLeft } = g;
  for (let b = 0; b < n; b++) for (let oy = 0; oy < outH; oy++) {
    const iy0 = oy * strideH - padTop; const ky0 = iy0 < 0 ? -iy0 : 0; const ky1 = h - iy0 < kh ? h - iy0 : kh;
    for (let ox = 0; ox < outW; ox++) {
      const ix0 = ox * strideW - padLeft; const kx0 = ix0 < 0 ? -ix0 : 0; const kx1 = w - ix0 < kw ? w - ix0 : kw;
      const o = ((b * outH + oy) * outW + ox) * c;
      if (max) {
        for (let ch = 0; ch < c; ch++) y[o + ch] = -Infinity;
        for (let ky = ky0; ky < ky1; ky++) for (let kx = kx0; kx < kx1; kx++) { const xi = ((b * h + iy0 + ky) * w + ix0 + kx) * c; for (let ch = 0; ch < c; ch++) { const v = x[xi + ch]; if (v > y[o + ch]) y[o + ch] = v; } }
      } else {
        const count = (ky1 - ky0) * (kx1 - kx0);
        sums.fill(0);
        for (let ky = ky0; ky < ky1; ky++) for (let kx = kx0; kx < kx1; kx++) { const xi = ((b * h + iy0 + ky) * w + ix0 + kx) * c; for (let ch = 0; ch < c; ch++) sums[ch] += x[xi + ch]; }
        for (let ch = 0; ch < c; ch++) y[o + ch] = sums[ch] / count;
      }
    }
  }
}
function jsResidualPrelu(y, res, alpha, c) {
  for (let i = 0; i < y.length; i += c) for (let ch = 0; ch < c; ch++) { const v = Math.fround(y[i + ch] + res[i + ch]); y[i + ch] = v >= 0 ? v : alpha[ch] * v; }
}

const N = 64;
const cases = [];
for (const [hw, c] of [[196, 16], [49, 32]]) {
  const a = rnd(N * hw * c), b = rnd(N * hw * c).map((v) => -v), y = new Float32Array(N * hw * 2 * c), y2 = new Float32Array(y.length);
  cases.push({ name: `concat ${hw === 196 ? '14×14' : '7×7'} ${c}+${c}`, js: () => jsConcat([a, b], [c, c], y), wasm: () => { ops.concatInto(a, c, y2, 2 * c, 0); ops.concatInto(b, c, y2, 2 * c, c); }, out: [y, y2] });
  // The same copy as an Int32Array loop (no float conversions), in place of the "wasm" column.
  const y3 = new Float32Array(y.length);
  const i32 = (f) => new Int32Array(f.buffer, f.byteOffset, f.length);
  const ai = i32(a), bi = i32(b), yi = i32(y3);
  cases.push({ name: `concat ${hw === 196 ? '14×14' : '7×7'} ${c}+${c}, Int32Array loop as "wasm"`, js: () => jsConcat([a, b], [c, c], y), wasm: () => jsConcatInt32([ai, bi], [c, c], yi), out: [y, y3] });
}
{
  const g = { n: N, h: 14, w: 14, c: 32, kh: 2, kw: 2, strideH: 2, strideW: 2, padTop: 0, padLeft: 0, outH: 7, outW: 7, outC: 32 };
  const x = rnd(N * 14 * 14 * 32), y = new Float32Array(N * 49 * 32), y2 = new Float32Array(y.length), sums = new Float64Array(32);
  cases.push({ name: 'avg pool 2×2 14×14×32', js: () => jsPool(x, y, g, false, sums), wasm: () => ops.pool(x, g, false, y2), out: [y, y2] });
}
{
  const x = rnd(N * 49 * 64), y = new Float32Array(N * 64), y2 = new Float32Array(N * 64);
  cases.push({ name: 'global average pool 7×7×64', js: () => jsGap(x, y, N, 49, 64), wasm: () => ops.globalAveragePool(x, N, 49, 64, y2), out: [y, y2] });
}
{
  const x0 = rnd(N * 196 * 32), res = rnd(N * 196 * 32).map((v) => v * 0.5), alpha = Float32Array.from({ length: 32 }, (_, i) => 0.1 + i / 64);
  const y = new Float32Array(x0.length), y2 = new Float32Array(x0.length);
  cases.push({ name: 'Add + PReLU 14×14×32', js: () => { y.set(x0); jsResidualPrelu(y, res, alpha, 32); }, wasm: () => { y2.set(x0); ops.addInto(y2, res); ops.prelu(y2, 32, alpha, null, null); }, out: [y, y2] });
}
const stats = (t) => { const s = [...t].sort((a, b) => a - b); return { minMs: s[0], medianMs: s[s.length >> 1] }; };
const results = [];
for (const k of cases) {
  for (let i = 0; i < 5; i++) { k.js(); k.wasm(); }
  const same = new Uint32Array(k.out[0].buffer).every((v, i) => v === new Uint32Array(k.out[1].buffer)[i]);
  if (!same) throw new Error(`${k.name}: JS and wasm outputs differ`);
  const tj = [], tw = [];
  for (let r = 0; r < reps; r++) {
    let t0 = performance.now(); k.js(); tj.push(performance.now() - t0);
    t0 = performance.now(); k.wasm(); tw.push(performance.now() - t0);
  }
  const row = { pass: k.name, js: stats(tj), wasm: stats(tw) };
  row.medianRatio = row.js.medianMs / row.wasm.medianMs;
  results.push(row);
  process.stderr.write(`${k.name}: JS ${row.js.medianMs.toFixed(3)} ms, wasm ${row.wasm.medianMs.toFixed(3)} ms (median of ${reps}): ${row.medianRatio.toFixed(2)}×\n`);
}
const out = { command: `node bench/results/wasm-ops-micro.mjs ${process.argv.slice(2).join(' ')}`, loadavgAtEnd: loadavg().map((v) => v.toFixed(2)).join(' '), results };
const file = arg('out', '');
if (file) writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
else process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
