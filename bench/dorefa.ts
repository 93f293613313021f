/**
 * The DoReFa table: lenet5 on Fashion-MNIST — the float teacher, then DoReFa W1/A32, W2/A32,
 * W4/A32 and W1/A2 fine-tuned from it. The learning rate of each configuration is chosen on the
 * validation split (seed 0, grid --lrs); then every seed runs with it. Writes
 * bench/results/dorefa-lenet5-fashion-mnist.json.
 *
 *   node dist/bench/dorefa.js [--teacher runs/lenet5-fashion] [--epochs 3] [--seeds 0,1,2] [--lrs 1e-3,5e-4] [--parallel 2]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { arg, Job, meanStd, runJobs } from './runner.js';

const teacher = arg('teacher', 'runs/lenet5-fashion');
const epochs = arg('epochs', '3');
const seeds = arg('seeds', '0,1,2').split(',');
const lrs = arg('lrs', '1e-3,5e-4').split(',');
const parallel = Number(arg('parallel', '2'));
const configs: Array<[number, number]> = [[1, 32], [2, 32], [4, 32], [1, 2]];
const tag = ([w, a]: [number, number]) => `w${w}a${a}`;
const job = (c: [number, number], lr: string, seed: string): Job => ({
  out: `runs/dorefa/${tag(c)}-lr${lr}-s${seed}`,
  args: ['quantize', '--method', 'dorefa', '--teacher', teacher, '--wbits', String(c[0]), '--abits', String(c[1]),
    '--epochs', epochs, '--lr', lr, '--seed', seed],
});

const selection = await runJobs(configs.flatMap((c) => lrs.map((lr) => job(c, lr, seeds[0]))), parallel);
const best = new Map(configs.map((c) => {
  const candidates = selection.filter((r) => r.meta.wbits === c[0] && r.meta.abits === c[1]);
  candidates.sort((a, b) => b.meta.val.accuracy - a.meta.val.accuracy);
  return [tag(c), candidates[0].meta.learningRate as number];
}));
const finals = await runJobs(configs.flatMap((c) => seeds.map((s) => job(c, String(best.get(tag(c))), s))), parallel);

const teacherMeta = JSON.parse(readFileSync(`${teacher}/lowbit.json`, 'utf8'));
const rows = configs.map((c) => {
  const runs = finals.filter((r) => r.meta.wbits === c[0] && r.meta.abits === c[1]);
  return {
    config: `W${c[0]}/A${c[1]}`, learningRate: best.get(tag(c)), epochs: Number(epochs),
    testAccuracy: meanStd(runs.map((r) => r.meta.test.accuracy * 100)),
    valAccuracy: meanStd(runs.map((r) => r.meta.val.accuracy * 100)),
    wallSeconds: meanStd(runs.map((r) => r.meta.wallSeconds)),
    sizeKiB: runs[0].meta.size.bytes / 1024, compression: runs[0].meta.size.compression,
    backend: runs[0].meta.backend,
    runs: runs.map((r) => ({ out: r.out, command: r.command, seed: r.meta.seed, test: r.meta.test.accuracy, val: r.meta.val.accuracy, wallSeconds: r.meta.wallSeconds, commit: r.meta.commit })),
  };
});
const result = {
  command: `node dist/bench/dorefa.js ${process.argv.slice(2).join(' ')}`.trim(),
  teacher: { dir: teacher, testAccuracy: teacherMeta.test.accuracy * 100, epochs: teacherMeta.epochs, wallSeconds: teacherMeta.wallSeconds, sizeKiB: teacherMeta.size?.bytes / 1024 || null },
  lrSelection: selection.map((r) => ({ command: r.command, lr: r.meta.learningRate, val: r.meta.val.accuracy, config: `W${r.meta.wbits}/A${r.meta.abits}` })),
  rows,
};
writeFileSync('bench/results/dorefa-lenet5-fashion-mnist.json', `${JSON.stringify(result, null, 2)}\n`);
for (const r of rows) {
  process.stdout.write(`${r.config.padEnd(8)} lr ${r.learningRate}  test ${r.testAccuracy.mean.toFixed(2)} ± ${r.testAccuracy.std.toFixed(2)}%  ` +
    `${r.sizeKiB.toFixed(1)} KiB (${r.compression.toFixed(1)}×)  ${r.wallSeconds.mean.toFixed(0)} s/run\n`);
}
