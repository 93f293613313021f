/**
 * SRQ's training step against the STE (LSQ) step, W2/A2, per model and batch: lowbit-side.js
 * (bench/vs-pytorch) rows lsq-w2a2, srq-w2a2 with native/relaxed.cc's vector lanes, and
 * srq-w2a2 with them off (LOWBIT_RELAXED_LANES=0), each in its own process, alternated per
 * round; prints the median CPU ms and wall ms per step and the ratios SRQ/STE (issue 21's goal:
 * ≤ 1.5×; at OMP_NUM_THREADS=1 the CPU-time ratio is the one a shared machine does not distort) and writes
 * bench/results/srq-step-ab-NAME.json.
 *   npm run build && OMP_NUM_THREADS=1 node bench/srq-step-ab.mjs [--rounds 3] [--steps 8] [--name NAME] [--rows lenet5:128,resnet20:64]
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';

const flag = (name, dflt) => { const i = process.argv.indexOf(`--${name}`); return i > 0 ? process.argv[i + 1] : dflt; };
const rounds = Number(flag('rounds', 3));
const steps = flag('steps', '8');
const name = flag('name', 'run');
const rows = flag('rows', 'lenet5:128,lenet5:64,vgg-small:64,resnet20:64,mobilenet-tiny:64').split(',').map((r) => r.split(':'));
const arms = [['ste', 'lsq-w2a2', '1'], ['srq', 'srq-w2a2', '1'], ['srq-scalar', 'srq-w2a2', '0']];
const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD']).toString().trim();
const clean = execFileSync('git', ['status', '--porcelain', '--untracked-files=no']).toString().trim() === '';
const runs = [];
const loadBefore = loadavg();
for (let r = 0; r < rounds; r++) {
  for (const [model, batch] of rows) {
    for (const [arm, variant, lanes] of arms) {
      const out = execFileSync(process.execPath, ['dist/bench/vs-pytorch/lowbit-side.js', model, variant, batch, steps],
        { env: { ...process.env, LOWBIT_RELAXED_LANES: lanes } }).toString().trim().split('\n').pop();
      const rec = JSON.parse(out);
      runs.push({ round: r, model, batch: Number(batch), arm, imagesPerSecond: rec.imagesPerSecond, msPerStep: rec.msPerStep, cpuMsPerStep: rec.cpuMsPerStep, peakRssMB: rec.peakRssMB });
    }
  }
}
const median = (v) => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const table = rows.map(([model, batch]) => {
  const pick = (arm, key) => median(runs.filter((x) => x.model === model && x.batch === Number(batch) && x.arm === arm).map((x) => x[key]));
  const ms = Object.fromEntries(arms.map(([arm]) => [arm, pick(arm, 'msPerStep')]));
  const cpu = Object.fromEntries(arms.map(([arm]) => [arm, pick(arm, 'cpuMsPerStep')]));
  const rss = Object.fromEntries(arms.map(([arm]) => [arm, pick(arm, 'peakRssMB')]));
  return { model, batch: Number(batch), msPerStep: ms, cpuMsPerStep: cpu, peakRssMB: rss, srqOverSte: ms.srq / ms.ste, scalarSrqOverSte: ms['srq-scalar'] / ms.ste,
    cpuSrqOverSte: cpu.srq / cpu.ste, cpuScalarSrqOverSte: cpu['srq-scalar'] / cpu.ste, rssSrqOverSte: rss.srq / rss.ste };
});
const result = { commit, clean, threads: process.env.OMP_NUM_THREADS ?? '(default)', rounds, steps: Number(steps), loadBefore, loadAfter: loadavg(), table, runs };
writeFileSync(`bench/results/srq-step-ab-${name}.json`, JSON.stringify(result, null, 2) + '\n');
console.log(`commit ${commit}${clean ? '' : ' (dirty)'}, threads ${result.threads}, load ${loadBefore.map((v) => v.toFixed(2)).join(' ')} → ${result.loadAfter.map((v) => v.toFixed(2)).join(' ')}`);
console.log('model | batch | CPU ms/step STE / SRQ lanes / SRQ scalar | SRQ/STE CPU time (lanes; scalar) | wall ms/step STE / SRQ lanes / SRQ scalar | SRQ/STE wall | SRQ/STE peak RSS');
for (const t of table) {
  const f = (o) => [o.ste, o.srq, o['srq-scalar']].map((v) => v.toFixed(1)).join(' / ');
  console.log(`${t.model} | ${t.batch} | ${f(t.cpuMsPerStep)} | ${t.cpuSrqOverSte.toFixed(2)}× (${t.cpuScalarSrqOverSte.toFixed(2)}×) | ${f(t.msPerStep)} | ${t.srqOverSte.toFixed(2)}× | ${t.rssSrqOverSte.toFixed(2)}×`);
}
