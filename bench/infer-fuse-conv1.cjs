// node bench/infer-fuse-conv1.cjs BATCH ROUNDS OLD_ADDON: lenet5 conv1 + ReLU + pool1 + A2 codes through an addon built from an older native/bitops.cc (OLD_ADDON, e.g. 81dbe6b's built with node-gyp in a copy of native/) and through this checkout's addon; runs interleaved in one process.
// conv1 of lenet5 at batch 64 (28x28x1 -> 24x24x20, 5x5) + ReLU, pool 2x2, DoReFa A2 int8 codes: the 81dbe6b addon's three passes vs this branch's addon (three passes, and fused), interleaved.
const oldB = require(require('node:path').resolve(process.argv[4] ?? 'old/lowbit_dnnl.node')).bitops;
const newB = require(require('node:path').join(__dirname, '..', 'native', 'build', 'Release', 'lowbit_dnnl.node')).bitops;
const n = Number(process.argv[2] ?? 64);
const g = Int32Array.from([n, 28, 28, 1, 5, 5, 1, 1, 0, 0, 24, 24, 20]);
const pg = Int32Array.from([n, 24, 24, 20, 2, 2, 2, 2, 0, 0, 12, 12, 20]);
const x = Float32Array.from({ length: n * 784 }, (_, i) => (i % 97) / 97);
const w = Float32Array.from({ length: 500 }, (_, i) => ((i * 7) % 13 - 6) / 10);
const bias = Float32Array.from({ length: 20 }, (_, i) => (i - 10) / 50);
const scales = new Float32Array(20).fill(1 / 3);
const mk = () => ({ conv: new Float32Array(n * 576 * 20), pooled: new Float32Array(n * 144 * 20), codes: new Int8Array(n * 144 * 20) });
const A = mk(), B = mk(), F = mk();
const passes = (b, m) => () => { b.floatConv2d(x, w, bias, g, m.conv, true); b.pool(m.conv, pg, true, m.pooled); b.quantize(m.pooled, 20, null, 3, scales, 0, 0, 3, 2, 1, m.codes); };
const fns = {
  'old conv': () => oldB.floatConv2d(x, w, bias, g, A.conv, true),
  'new conv': () => newB.floatConv2d(x, w, bias, g, B.conv, true),
  'old conv+pool+codes': passes(oldB, A),
  'new conv+pool+codes': passes(newB, B),
  'new fused': () => newB.floatConv2dPool(x, w, bias, g, true, pg, F.codes, null, 3, scales, 0, 0, 3, 1),
};
const reps = Number(process.argv[3] ?? 400);
const t = Object.fromEntries(Object.keys(fns).map((k) => [k, []]));
for (let r = 0; r < reps; r++) for (const [k, f] of Object.entries(fns)) { const t0 = process.hrtime.bigint(); f(); t[k].push(Number(process.hrtime.bigint() - t0) / 1e6); }
const eq = (a, b) => a.every((v, i) => Object.is(v, b[i]));
console.log(`batch ${n}, ${reps} interleaved rounds; same conv bits old/new: ${eq(A.conv, B.conv)}, same codes old/new/fused: ${eq(A.codes, B.codes) && eq(A.codes, F.codes)}`);
for (const k of Object.keys(t)) { const s = t[k].slice(Math.min(20, reps >> 2)).sort((a, b) => a - b); console.log(`${k.padEnd(22)} min ${s[0].toFixed(4)} p25 ${s[s.length >> 2].toFixed(4)} median ${s[s.length >> 1].toFixed(4)} ms`); }
