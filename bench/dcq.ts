/**
 * The DCQ comparison: lenet5 on Fashion-MNIST, one float teacher; DoReFa W1 and W2 fine-tuned
 * from it for E epochs against DCQ W1 and W2 with E epochs per section, E ∈ {1, 3}; 3 seeds.
 * Each method's learning rate is chosen per (bits, E) on the validation split (seed 0, grid
 * --lrs). DoReFa runs at E = 3 are shared with bench/dorefa.ts (same teacher, grid and names).
 * Writes bench/results/dcq-lenet5-fashion-mnist.json.
 *
 *   node dist/bench/dcq.js [--teacher runs/lenet5-fashion] [--epochs 1,3] [--seeds 0,1,2] [--lrs 1e-3,5e-4] [--parallel 2]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { arg, Job, meanStd, RunResult, runJobs } from './runner.js';

const teacher = arg('teacher', 'runs/lenet5-fashion');
const budgets = arg('epochs', '1,3').split(',');
const seeds = arg('seeds', '0,1,2').split(',');
const lrs = arg('lrs', '1e-3,5e-4').split(',');
const parallel = Number(arg('parallel', '2'));
const methods = ['dorefa', 'dcq'] as const;
const bits = [1, 2];

interface Cell { method: (typeof methods)[number]; w: number; e: string }
const cells: Cell[] = methods.flatMap((method) => bits.flatMap((w) => budgets.map((e) => ({ method, w, e }))));
const key = (c: Cell) => `${c.method}-w${c.w}-e${c.e}`;
function job(c: Cell, lr: string, seed: string): Job {
  const common = ['--teacher', teacher, '--wbits', String(c.w), '--abits', '32', '--lr', lr, '--seed', seed];
  if (c.method === 'dorefa') {
    // Same directory scheme as bench/dorefa.ts, so its E = 3 runs are reused.
    const out = c.e === '3' ? `runs/dorefa/w${c.w}a32-lr${lr}-s${seed}` : `runs/dcq-compare/dorefa-w${c.w}-e${c.e}-lr${lr}-s${seed}`;
    return { out, args: ['quantize', '--method', 'dorefa', ...common, '--epochs', c.e] };
  }
  // One worker: the runner already runs jobs side by side, one core each; time is the sequential sum.
  return { out: `runs/dcq-compare/dcq-w${c.w}-e${c.e}-lr${lr}-s${seed}`,
    args: ['quantize', '--method', 'dcq', ...common, '--epochs-per-section', c.e, '--workers', '1'] };
}

const selection = await runJobs(cells.flatMap((c) => lrs.map((lr) => job(c, lr, seeds[0]))), parallel);
const pick = (c: Cell, runs: RunResult[]) => {
  const mine = runs.filter((r) => r.meta.method === c.method && r.meta.wbits === c.w && String(c.method === 'dcq' ? r.meta.epochsPerSection : r.meta.epochs) === c.e);
  mine.sort((a, b) => valAccuracy(b) - valAccuracy(a));
  return mine[0].meta.learningRate as number;
};
/** Validation accuracy of the final model: DoReFa's last epoch; DCQ's stitched model (its last section's val loss is CE on teacher features, so use the recorded stitched val when present). */
function valAccuracy(r: RunResult): number {
  return r.meta.method === 'dcq' ? r.meta.stitchedVal.accuracy : r.meta.val.accuracy;
}
const best = new Map(cells.map((c) => [key(c), pick(c, selection)]));
const finals = await runJobs(cells.flatMap((c) => seeds.map((s) => job(c, String(best.get(key(c))), s))), parallel);

const teacherMeta = JSON.parse(readFileSync(`${teacher}/lowbit.json`, 'utf8'));
const rows = cells.map((c) => {
  const runs = finals.filter((r) => r.meta.method === c.method && r.meta.wbits === c.w && String(c.method === 'dcq' ? r.meta.epochsPerSection : r.meta.epochs) === c.e);
  return {
    method: c.method, wbits: c.w, epochs: Number(c.e), learningRate: best.get(key(c)),
    testAccuracy: meanStd(runs.map((r) => r.meta.test.accuracy * 100)),
    wallSeconds: meanStd(runs.map((r) => r.meta.wallSeconds)),
    ...(c.method === 'dcq' ? {
      cacheSeconds: meanStd(runs.map((r) => r.meta.cacheSeconds)),
      longestSectionSeconds: meanStd(runs.map((r) => Math.max(...r.meta.sections.map((s: { seconds: number }) => s.seconds)))),
      sectionTestLoss: runs[0].meta.sections.map((s: { name: string }, i: number) => ({ section: s.name, ...meanStd(runs.map((r) => r.meta.sections[i].testLoss)) })),
    } : {}),
    runs: runs.map((r) => ({ command: r.command, seed: r.meta.seed, test: r.meta.test.accuracy, wallSeconds: r.meta.wallSeconds, commit: r.meta.commit })),
  };
});
const at = (m: string, w: number, e: number) => rows.find((r) => r.method === m && r.wbits === w && r.epochs === e)!;
const claim = budgets.map((e) => {
  const d = at('dcq', 1, Number(e)).testAccuracy.mean - at('dorefa', 1, Number(e)).testAccuracy.mean;
  return { epochs: Number(e), dcqMinusDorefaW1: d, met: d >= 1 };
});
writeFileSync('bench/results/dcq-lenet5-fashion-mnist.json', `${JSON.stringify({
  command: `node dist/bench/dcq.js ${process.argv.slice(2).join(' ')}`.trim(),
  teacher: { dir: teacher, testAccuracy: teacherMeta.test.accuracy * 100, wallSeconds: teacherMeta.wallSeconds },
  claim: { text: 'dcq.md §4.5: DCQ W1 ≥ DoReFa W1 + 1 point (mean of 3 seeds) on Fashion-MNIST lenet5 at E ≤ 3', byEpochs: claim },
  lrSelection: selection.map((r) => ({ command: r.command, valAccuracy: valAccuracy(r) })), rows,
}, null, 2)}\n`);
for (const r of rows) process.stdout.write(`${r.method.padEnd(7)} W${r.wbits} E${r.epochs} lr ${r.learningRate}  test ${r.testAccuracy.mean.toFixed(2)} ± ${r.testAccuracy.std.toFixed(2)}%  ${r.wallSeconds.mean.toFixed(0)} s\n`);
for (const c of claim) process.stdout.write(`claim at E=${c.epochs}: DCQ − DoReFa (W1) = ${c.dcqMinusDorefaW1.toFixed(2)} points → ${c.met ? 'met' : 'not met'}\n`);
