/**
 * Peak memory of one training step (srq.md §6 pitfall 5): lenet5, batch 128, Adam, on a random
 * batch, for the float model and each relaxed method at W2/A2 and W3/A3 (profileTrainStep: the most
 * tensor bytes alive at once during the step minus what was alive before it).
 * The per-grid-point tensors cost (grid slots)× an activation; W3 uses the local grid (7 slots,
 * δ = 3) instead of the full 8. Each configuration runs in this process in turn.
 *
 *   node dist/bench/srq-memory.js [--backend native] [--batch 128]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { arg } from './runner.js';

const { setBackend, buildModel, relaxedModel, profileTrainStep } = await import('../src/node.js');
const backend = arg('backend', 'native');
const batch = Number(arg('batch', '128'));
await setBackend(backend);

interface Row { variant: string; wbits: number; abits: number; peakStepMB: number; ratioToFloat: number; msPerStep: number }
const rows: Row[] = [];
const variants: Array<{ variant: string; method?: 'ste' | 'rq' | 'rq-st' | 'srq'; dropBits?: number }> = [
  { variant: 'float' }, { variant: 'ste', method: 'ste' }, { variant: 'rq', method: 'rq' }, { variant: 'rq-st', method: 'rq-st' },
  { variant: 'srq', method: 'srq' }, { variant: 'srq+dropbits', method: 'srq', dropBits: 0.1 },
];
let floatPeak = NaN;
for (const [wbits, abits] of [[2, 2], [3, 3]]) {
  for (const v of variants) {
    if (v.variant === 'float' && wbits !== 2) continue;
    const float = buildModel('lenet5', { seed: 0 });
    const model = v.method ? await relaxedModel(float, { method: v.method, wbits, abits, dropBits: v.dropBits }) : float;
    const { stepBytes, msPerStep } = await profileTrainStep(model, batch);
    const peakStepMB = stepBytes / 2 ** 20;
    if (v.variant === 'float') floatPeak = peakStepMB;
    rows.push({ variant: v.variant, wbits: v.method ? wbits : 32, abits: v.method ? abits : 32, peakStepMB, ratioToFloat: peakStepMB / floatPeak, msPerStep });
    process.stderr.write(`${v.variant.padEnd(13)} W${wbits}/A${abits}  peak ${peakStepMB.toFixed(1).padStart(6)} MB (${(peakStepMB / floatPeak).toFixed(2)}× float)  ${msPerStep.toFixed(0)} ms/step\n`);
    if (model !== float) model.dispose();
    float.dispose();
  }
}
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/srq-memory-lenet5.json', JSON.stringify({
  command: `node dist/bench/srq-memory.js --backend ${backend} --batch ${batch}`, model: 'lenet5', batch, backend, rows,
  note: 'peak tensor bytes during one Adam training step minus the bytes alive before it (tf.profile); ms/step measured while other jobs may share the cores',
}, null, 2) + '\n');
