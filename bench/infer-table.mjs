// Markdown tables from bench/results/infer-*.json (bench/infer.ts): whole-model latency (batch 1)
// and throughput (batch 64) per engine, the runtime's speed-up over the peer of its kind (native
// kernels vs onnxruntime-node fp32, wasm kernels vs onnxruntime-web wasm fp32), and each binary
// convolution alone against onnxruntime-node fp32 Conv. Usage: node bench/infer-table.mjs FILE…
import { readFileSync } from 'node:fs';

const f = (x, d = 3) => (x == null ? '—' : x.toFixed(d));
for (const file of process.argv.slice(2)) {
  const r = JSON.parse(readFileSync(file, 'utf8'));
  const row = (name, batch) => r.rows.find((x) => x.runtime === name && x.batch === batch);
  console.log(`### ${r.model}\n\n\`${r.command}\` (commit ${r.commit}; native popcount: ${r.nativePopcount}; packed ${r.packedBytes} B) → \`${file}\`\n`);
  console.log('| engine | batch 1 ms | batch 64 ms | batch 64 img/s |\n|---|---|---|---|');
  for (const name of [...new Set(r.rows.map((x) => x.runtime))]) {
    console.log(`| ${name} | ${f(row(name, 1)?.msPerBatch)} | ${f(row(name, 64)?.msPerBatch, 2)} | ${f(row(name, 64)?.imagesPerSecond, 0)} |`);
  }
  const ratio = (a, b, batch) => { const x = row(a, batch); const y = row(b, batch); return x && y ? `${(y.msPerBatch / x.msPerBatch).toFixed(2)}×` : '—'; };
  console.log(`\nRuntime speed-up over its peer (>1 = faster): native kernels vs onnxruntime-node fp32 ${ratio('lowbit runtime (native kernels)', 'onnxruntime-node fp32', 1)} (batch 1), ${ratio('lowbit runtime (native kernels)', 'onnxruntime-node fp32', 64)} (batch 64)${row('onnxruntime-node fp32 (1 thread)', 1) ? `; native kernels vs onnxruntime-node fp32 on 1 thread ${ratio('lowbit runtime (native kernels)', 'onnxruntime-node fp32 (1 thread)', 1)} (batch 1), ${ratio('lowbit runtime (native kernels)', 'onnxruntime-node fp32 (1 thread)', 64)} (batch 64)` : ''}; wasm kernels vs onnxruntime-web wasm fp32 ${ratio('lowbit runtime (wasm kernels)', 'onnxruntime-web wasm fp32', 1)} (batch 1), ${ratio('lowbit runtime (wasm kernels)', 'onnxruntime-web wasm fp32', 64)} (batch 64).\n`);
  if (r.layers?.length) {
    console.log('| binary conv | batch | kernels | binary ms | onnxruntime-node fp32 Conv ms | speed-up |\n|---|---|---|---|---|---|');
    for (const l of r.layers) {
      const g = l.geometry;
      console.log(`| ${l.layer} ${g.h}×${g.w}×${g.c}→${g.outC}, ${g.kh}×${g.kw}/${g.strideH} | ${l.batch} | ${l.kernels} | ${f(l.binaryMs)} | ${f(l.ortFp32Ms)} | ${l.speedup.toFixed(2)}× |`);
    }
    console.log('');
  }
}
