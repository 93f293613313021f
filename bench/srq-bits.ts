/**
 * Learned per-layer bit-widths for SRQ (srq.md §3.3, a reconstruction) and the quantized
 * lottery ticket: lenet5 on Fashion-MNIST from one float teacher, activations at 4 bits,
 * (1) SRQ with learned weight bits (≤ 4, target size-weighted average --target), bits fixed
 * after training; (2) the lottery-ticket retrain: SRQ from the same teacher with those per-layer
 * bits fixed from the start; (3) uniform SRQ at round(target) bits. Same epochs, LR and seed.
 * Writes bench/results/srq-learned-bits-lenet5-fashion-mnist.json.
 *
 *   node dist/bench/srq-bits.js [--teacher runs/lenet5-fashion] [--target 3] [--seeds 0] [--epochs 3] [--lr 5e-4] [--parallel 2]
 */
import { writeFileSync } from 'node:fs';
import { arg, Job, meanStd, runJobs } from './runner.js';

const teacher = arg('teacher', 'runs/lenet5-fashion');
const target = arg('target', '3');
const seeds = arg('seeds', '0').split(',');
const epochs = arg('epochs', '3');
const lr = arg('lr', '5e-4');
const parallel = Number(arg('parallel', '2'));
const common = ['quantize', '--method', 'srq', '--teacher', teacher, '--abits', '4', '--epochs', epochs, '--lr', lr];

const learned = (s: string): Job => ({ out: `runs/srq-bits/learned-t${target}-s${s}`, args: [...common, '--wbits', '4', '--learn-bits', '--target-bits', target, '--seed', s] });
const uniform = (s: string): Job => ({ out: `runs/srq-bits/uniform-w${Math.round(Number(target))}-s${s}`, args: [...common, '--wbits', String(Math.round(Number(target))), '--seed', s] });
const first = await runJobs(seeds.flatMap((s) => [learned(s), uniform(s)]), parallel);
const learnedRuns = first.filter((r) => r.meta.learnBits);
const lottery = (s: string): Job => {
  const bits = learnedRuns.find((r) => String(r.meta.seed) === s)!.meta.learnedBits as Record<string, number>;
  return { out: `runs/srq-bits/lottery-t${target}-s${s}`, args: [...common, '--wbits', '4', '--layer-bits', Object.entries(bits).map(([k, v]) => `${k}=${v}`).join(','), '--seed', s] };
};
const second = await runJobs(seeds.map(lottery), parallel);
const row = (name: string, runs: typeof first) => ({
  run: name, testAccuracy: meanStd(runs.map((r) => r.meta.test.accuracy * 100)), weightBytes: meanStd(runs.map((r) => r.meta.size.bytes)),
  runs: runs.map((r) => ({ command: r.command, seed: r.meta.seed, test: r.meta.test.accuracy, bytes: r.meta.size.bytes,
    learnedBits: r.meta.learnedBits ?? r.meta.layerBits ?? null, averageBits: r.meta.learnedAverageBits ?? null, commit: r.meta.commit })),
});
const rows = [row('learned bits (fixed after training)', learnedRuns), row('lottery ticket: learned bits from the start', second),
  row(`uniform W${Math.round(Number(target))}`, first.filter((r) => !r.meta.learnBits))];
writeFileSync('bench/results/srq-learned-bits-lenet5-fashion-mnist.json', `${JSON.stringify({
  command: `node dist/bench/srq-bits.js ${process.argv.slice(2).join(' ')}`.trim(),
  reconstruction: 'learned bit-widths (hard-concrete gates + expected-bits penalty) are a reconstruction of srq.md §3.3',
  teacher, targetBits: Number(target), activationBits: 4, rows,
}, null, 2)}\n`);
for (const r of rows) process.stdout.write(`${r.run.padEnd(46)} test ${r.testAccuracy.mean.toFixed(2)} ± ${r.testAccuracy.std.toFixed(2)}%  ${r.weightBytes.mean.toFixed(0)} B  ${JSON.stringify(r.runs[0].learnedBits)}\n`);
