// A/B of the fused first-layer pass (conv1 + ReLU + pool1 + conv2's input codes, RuntimeOps.floatConv2dMaxPool)
// on lenet5 W2/A2 and W1/A2 (random weights): the same native kernels with and without it, runs
// interleaved in one process (so both see the same machine load), min and median ms per run.
//   node bench/infer-fuse-ab.mjs [--rounds 200] [--out FILE]   (after npm run build and the native build)
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { buildModel, dorefaModel } from '../dist/src/node.js';
import { packModel } from '../dist/src/export/packed.js';
import { createRuntime, nativeKernels } from '../dist/src/runtime/node.js';

const arg = (name, fallback) => { const i = process.argv.indexOf(`--${name}`); return i >= 0 ? process.argv[i + 1] : fallback; };
const rounds = Number(arg('rounds', '200'));
const k = nativeKernels();
if (!k.ops?.floatConv2dMaxPool) throw new Error('the native addon has no floatConv2dPool: rebuild it (node scripts/build-native.mjs)');
const { floatConv2dMaxPool: _, ...rest } = k.ops;
const unfused = { ...k, name: 'native-unfused', ops: rest };
const stats = (t) => { const s = [...t].sort((a, b) => a - b); return { minMs: s[0], medianMs: s[s.length >> 1] }; };
const results = [];
for (const wbits of [2, 1]) {
  const packed = packModel(await dorefaModel(buildModel('lenet5', { seed: 1 }), { wbits, abits: 2 }));
  const fused = createRuntime(packed, { kernels: k });
  const plain = createRuntime(packed, { kernels: unfused });
  for (const batch of [1, 64]) {
    const x = new Float32Array(batch * 784).map((_, i) => (i % 97) / 97);
    const a = fused.run(x, batch);
    const b = plain.run(x, batch);
    if (!new Uint32Array(a.buffer).every((v, i) => v === new Uint32Array(b.buffer)[i])) throw new Error('fused and unfused logits differ');
    const tf = [];
    const tu = [];
    const n = batch === 1 ? rounds * 5 : rounds;
    for (let r = 0; r < n; r++) {
      let t0 = performance.now(); fused.run(x, batch); tf.push(performance.now() - t0);
      t0 = performance.now(); plain.run(x, batch); tu.push(performance.now() - t0);
    }
    const row = { model: `lenet5 W${wbits}/A2`, batch, runs: n, fused: stats(tf), unfused: stats(tu) };
    results.push(row);
    process.stderr.write(`${row.model} batch ${batch}: fused min ${row.fused.minMs.toFixed(4)} median ${row.fused.medianMs.toFixed(4)} ms | unfused min ${row.unfused.minMs.toFixed(4)} median ${row.unfused.medianMs.toFixed(4)} ms (${n} runs each, interleaved)\n`);
  }
}
const out = { command: `node bench/infer-fuse-ab.mjs ${process.argv.slice(2).join(' ')}`, loadavgAtEnd: loadavg().map((v) => v.toFixed(2)).join(' '), results };
const file = arg('out', '');
if (file) writeFileSync(file, `${JSON.stringify(out, null, 2)}\n`);
else process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
