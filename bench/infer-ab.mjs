// A/B of two builds of the bitwise runtime on one model, runs interleaved in one process (so both
// see the same machine load): this checkout's dist (B) against another package root's (A: its
// dist/ and native/build/, e.g. a copy made before a change). Checks that both give bit-identical
// outputs, then times whole runs alternately, A then B, per kernel backend and batch size, and
// reports min / median ms and the median ratio A/B (> 1: B faster).
//   node bench/infer-ab.mjs --before /tmp/rt-before [--build mobilenet-tiny] [--quantize binary|w1a2|w2a2]
//        [--kernels native,wasm] [--rounds 200] [--batch-rounds 40] [--out FILE]
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildModel, dorefaModel, quantizeModel } from '../dist/src/node.js';
import { packModel } from '../dist/src/export/packed.js';
import * as after from '../dist/src/runtime/node.js';

const arg = (name, fallback) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? process.argv[i + 1] : fallback; };
const beforeRoot = arg('before', '');
if (!beforeRoot) throw new Error('pass --before ROOT (a package root with dist/ and native/build/ of the other build)');
const before = await import(pathToFileURL(join(beforeRoot, 'dist/src/runtime/node.js')).href);
const model = arg('build', 'mobilenet-tiny');
const quantize = arg('quantize', 'binary');
// w1a2 / w2a2: DoReFa models as bench/infer.ts builds them.
const bits = { w1a2: [1, 2], w2a2: [2, 2] }[quantize];
if (quantize !== 'binary' && !bits) throw new Error('--quantize: binary, w1a2 or w2a2');
const rounds = Number(arg('rounds', '200'));
const batchRounds = Number(arg('batch-rounds', '40'));
const kernelNames = arg('kernels', 'native,wasm').split(',');

const built = buildModel(model, { seed: 1 });
const packed = packModel(bits ? await dorefaModel(built, { wbits: bits[0], abits: bits[1] }) : await quantizeModel(built, { kernelQuantizer: 'binary', inputQuantizer: 'binary' }));
const stats = (t) => { const s = [...t].sort((a, b) => a - b); return { minMs: s[0], medianMs: s[s.length >> 1] }; };
const results = [];
for (const kn of kernelNames) {
  const ka = await before.runtimeKernels(kn);
  const kb = await after.runtimeKernels(kn);
  const ra = before.createRuntime(packed, { kernels: ka });
  const rb = after.createRuntime(packed, { kernels: kb });
  const per = ra.inputShape.reduce((a, b) => a * b, 1);
  for (const batch of [1, 64]) {
    const x = new Float32Array(batch * per).map((_, i) => (i % 97) / 97);
    const ya = new Uint32Array(Float32Array.from(ra.run(x, batch)).buffer);
    const yb = new Uint32Array(Float32Array.from(rb.run(x, batch)).buffer);
    if (ya.length !== yb.length || !ya.every((v, i) => v === yb[i])) throw new Error(`${kn} batch ${batch}: A and B outputs differ`);
    const n = batch === 1 ? rounds : batchRounds;
    for (let i = 0; i < 5; i++) { ra.run(x, batch); rb.run(x, batch); }
    const ta = [];
    const tb = [];
    for (let r = 0; r < n; r++) {
      let t0 = performance.now(); ra.run(x, batch); ta.push(performance.now() - t0);
      t0 = performance.now(); rb.run(x, batch); tb.push(performance.now() - t0);
    }
    const row = { kernels: kn, batch, runs: n, before: stats(ta), after: stats(tb) };
    row.medianRatio = row.before.medianMs / row.after.medianMs;
    row.minRatio = row.before.minMs / row.after.minMs;
    results.push(row);
    process.stderr.write(`${model} ${kn} batch ${batch}: A min ${row.before.minMs.toFixed(4)} median ${row.before.medianMs.toFixed(4)} ms | B min ${row.after.minMs.toFixed(4)} median ${row.after.medianMs.toFixed(4)} ms | A/B median ${row.medianRatio.toFixed(2)}× min ${row.minRatio.toFixed(2)}× (${n} runs each, interleaved)\n`);
  }
}
const out = { command: `node bench/infer-ab.mjs ${process.argv.slice(2).join(' ')}`, model: `${model} (${quantize}, random weights)`, loadavgAtEnd: loadavg().map((v) => v.toFixed(2)).join(' '), results };
const file = arg('out', '');
if (file) writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
else process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
