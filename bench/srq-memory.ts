/**
 * Peak memory of one training step (srq.md §6 pitfall 5): lenet5, batch 128, Adam, on a random
 * batch, for the float model and each relaxed method at W2/A2 and W3/A3 (profileTrainStep: the most
 * tensor bytes alive at once during the step minus what was alive before it).
 * The per-grid-point tensors cost (grid slots)× an activation; W3 uses the local grid (7 slots,
 * δ = 3) instead of the full 8. Each configuration runs in this process in turn.
 *
 * With the fused relaxed kernels (wasm, native) no per-grid-point tensor exists; --reference
 * unregisters them so the tfjs-ops reference path runs instead (the "before" of the fusion).
 *
 *   node dist/bench/srq-memory.js [--backend native] [--batch 128] [--timed-steps 1] [--variants float,ste,srq] [--bits 2,3] [--reference] [--out FILE]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { arg } from './runner.js';

const { setBackend, buildModel, relaxedModel, profileTrainStep, tf } = await import('../src/node.js');
const { RELAXED_FORWARD } = await import('../src/backend/relaxed-kernels.js');
const backend = arg('backend', 'native');
const batch = Number(arg('batch', '128'));
const timedSteps = Number(arg('timed-steps', '1'));
const reference = process.argv.includes('--reference');
await setBackend(backend);
if (reference && tf.getKernel(RELAXED_FORWARD, tf.getBackend()) != null) tf.unregisterKernel(RELAXED_FORWARD, tf.getBackend());

interface Row { variant: string; wbits: number; abits: number; peakStepMB: number; ratioToFloat: number | null; msPerStep: number }
const rows: Row[] = [];
const variants: Array<{ variant: string; method?: 'ste' | 'rq' | 'rq-st' | 'srq'; dropBits?: number }> = [
  { variant: 'float' }, { variant: 'ste', method: 'ste' }, { variant: 'rq', method: 'rq' }, { variant: 'rq-st', method: 'rq-st' },
  { variant: 'srq', method: 'srq' }, { variant: 'srq+dropbits', method: 'srq', dropBits: 0.1 },
];
const only = arg('variants', '').split(',').filter((v) => v !== '');
const bitPairs = arg('bits', '2,3').split(',').map((b) => [Number(b), Number(b)]);
let floatPeak = NaN;
for (const [wbits, abits] of bitPairs) {
  for (const v of variants) {
    if (only.length > 0 && !only.includes(v.variant)) continue;
    if (v.variant === 'float' && wbits !== 2) continue;
    const float = buildModel('lenet5', { seed: 0 });
    const model = v.method ? await relaxedModel(float, { method: v.method, wbits, abits, dropBits: v.dropBits }) : float;
    const { stepBytes, msPerStep } = await profileTrainStep(model, batch, { timedSteps });
    const peakStepMB = stepBytes / 2 ** 20;
    if (v.variant === 'float') floatPeak = peakStepMB;
    rows.push({ variant: v.variant, wbits: v.method ? wbits : 32, abits: v.method ? abits : 32, peakStepMB, ratioToFloat: Number.isNaN(floatPeak) ? null : peakStepMB / floatPeak, msPerStep });
    process.stderr.write(`${v.variant.padEnd(13)} W${wbits}/A${abits}  peak ${peakStepMB.toFixed(1).padStart(6)} MB (${(peakStepMB / floatPeak).toFixed(2)}× float)  ${msPerStep.toFixed(0)} ms/step\n`);
    if (model !== float) model.dispose();
    float.dispose();
  }
}
mkdirSync('bench/results', { recursive: true });
const out = arg('out', 'bench/results/srq-memory-lenet5.json');
writeFileSync(out, JSON.stringify({
  command: `node dist/bench/srq-memory.js ${process.argv.slice(2).join(' ')}`.trim(), model: 'lenet5', batch, backend, path: reference ? 'tfjs-ops reference' : 'fused kernels', rows,
  note: 'peak tensor bytes during one Adam training step minus the bytes alive before it (tf.profile); ms/step measured while other jobs may share the cores',
}, null, 2) + '\n');
