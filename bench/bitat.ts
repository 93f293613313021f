/**
 * The BiTAT comparison (bitat.md §4.3–4.5): mobilenet-tiny on Fashion-MNIST at W1/A1, one float
 * teacher; plain 1/1 QAT (all layers binarized from the start), progressive only (V = I, s = 1)
 * and full BiTAT, all with the same KD loss, optimiser, batch, data subset and total epochs
 * (6 stages × E + F). Each variant's learning rate is chosen on the validation split (seed 0,
 * grid --lrs); then 3 seeds. Reports mean ± std and the paired per-seed difference BiTAT − plain,
 * a win only if its mean exceeds 2 standard errors with a consistent sign (bitat.md §4.5).
 * Writes bench/results/bitat-mobilenet-tiny-fashion-mnist.json.
 *
 *   node dist/bench/bitat.js [--teacher runs/mnt-fashion] [--seeds 0,1,2] [--lrs 2e-3,5e-4] [--subset 12000] [--epl 1] [--final 2] [--parallel 2]
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { arg, Job, meanStd, RunResult, runJobs } from './runner.js';

const teacher = arg('teacher', 'runs/mnt-fashion');
const seeds = arg('seeds', '0,1,2').split(',');
const lrs = arg('lrs', '2e-3,5e-4').split(',');
const trainSubset = arg('subset', '12000');
const epl = arg('epl', '1');
const final = arg('final', '2');
const parallel = Number(arg('parallel', '2'));
const variants = arg('variants', 'plain,progressive,bitat').split(',');

const job = (variant: string, lr: string, seed: string): Job => ({
  out: `runs/bitat/${variant}-e${epl}f${final}-n${trainSubset}-lr${lr}-s${seed}`,
  args: ['quantize', '--method', 'bitat', '--variant', variant, '--teacher', teacher, '--distill', '--train-subset', trainSubset,
    '--epochs-per-layer', epl, '--final-epochs', final, '--batch', '128', '--lr', lr, '--seed', seed],
});

const selection = await runJobs(variants.flatMap((v) => lrs.map((lr) => job(v, lr, seeds[0]))), parallel);
const best = new Map(variants.map((v) => {
  const mine = selection.filter((r) => r.meta.variant === v).sort((a, b) => b.meta.val.accuracy - a.meta.val.accuracy);
  return [v, lrs.find((lr) => Number(lr) === mine[0].meta.learningRate)!]; // the grid's spelling, so seed-0 runs are reused
}));
const finals = await runJobs(variants.flatMap((v) => seeds.map((s) => job(v, best.get(v)!, s))), parallel);
const runsOf = (v: string) => finals.filter((r) => r.meta.variant === v).sort((a, b) => a.meta.seed - b.meta.seed);

const teacherMeta = JSON.parse(readFileSync(`${teacher}/lowbit.json`, 'utf8'));
const rows = variants.map((v) => {
  const runs = runsOf(v);
  return {
    variant: v, learningRate: Number(best.get(v)), totalEpochs: runs[0].meta.epochs,
    testAccuracy: meanStd(runs.map((r) => r.meta.test.accuracy * 100)),
    valAccuracy: meanStd(runs.map((r) => r.meta.val.accuracy * 100)),
    gapToFloat: teacherMeta.test.accuracy * 100 - meanStd(runs.map((r) => r.meta.test.accuracy * 100)).mean,
    wallSeconds: meanStd(runs.map((r) => r.meta.wallSeconds)),
    stageVal: runs[0].meta.stages?.map((s: { stage: number; layers: string[]; valAccuracy: number }) => ({ stage: s.stage, layers: s.layers, valAccuracy: s.valAccuracy })),
    runs: runs.map((r: RunResult) => ({ command: r.command, seed: r.meta.seed, test: r.meta.test.accuracy, val: r.meta.val.accuracy, wallSeconds: r.meta.wallSeconds, commit: r.meta.commit })),
  };
});

/** Paired per-seed difference a − b in test points: mean, standard error, and the §4.5 win rule. */
function paired(a: string, b: string) {
  const ra = runsOf(a);
  const rb = runsOf(b);
  if (ra.length === 0 || rb.length === 0) return null;
  const d = ra.map((r, i) => (r.meta.test.accuracy - rb[i].meta.test.accuracy) * 100);
  const s = meanStd(d);
  const se = s.std / Math.sqrt(s.n);
  const consistent = d.every((x) => x > 0) || d.every((x) => x < 0);
  return { perSeed: d, mean: s.mean, standardError: se, win: s.mean > 2 * se && consistent && s.mean > 0 };
}
const claim = { text: 'bitat issue: BiTAT ≥ plain 1/1 QAT at equal epochs (mobilenet-tiny, Fashion-MNIST)', bitatMinusPlain: paired('bitat', 'plain'),
  progressiveMinusPlain: paired('progressive', 'plain'), bitatMinusProgressive: paired('bitat', 'progressive') };
writeFileSync('bench/results/bitat-mobilenet-tiny-fashion-mnist.json', `${JSON.stringify({
  command: `node dist/bench/bitat.js ${process.argv.slice(2).join(' ')}`.trim(),
  reconstruction: 'BiTAT is a reconstruction (bitat.md §1.3, §1.5): the paper text was unavailable',
  teacher: { dir: teacher, testAccuracy: teacherMeta.test.accuracy * 100, epochs: teacherMeta.epochs },
  trainSubset: Number(trainSubset), epochsPerLayer: Number(epl), finalEpochs: Number(final),
  claim, lrSelection: selection.map((r) => ({ command: r.command, valAccuracy: r.meta.val.accuracy })), rows,
}, null, 2)}\n`);
process.stdout.write(`float teacher: ${(teacherMeta.test.accuracy * 100).toFixed(2)}%\n`);
for (const r of rows) process.stdout.write(`${r.variant.padEnd(12)} lr ${r.learningRate}  test ${r.testAccuracy.mean.toFixed(2)} ± ${r.testAccuracy.std.toFixed(2)}%  (${r.totalEpochs} epochs, ${r.wallSeconds.mean.toFixed(0)} s)\n`);
const c = claim.bitatMinusPlain;
if (c) process.stdout.write(`BiTAT − plain: ${c.mean.toFixed(2)} ± ${c.standardError.toFixed(2)} (SE) points per seed ${c.perSeed.map((x) => x.toFixed(2)).join(', ')} → ${c.mean >= 0 ? 'BiTAT ≥ plain' : 'BiTAT < plain'}; a §4.5 win: ${c.win}\n`);
