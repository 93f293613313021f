/**
 * Do results on the native (oneDNN) backend agree with wasm within seed noise? lenet5 on the
 * MNIST subset: float training (3 epochs) and DoReFa W1 fine-tuning (2 epochs, from one shared
 * teacher), 3 seeds on each backend. Writes bench/results/backend-agreement.json.
 *
 *   node dist/bench/backend-agreement.js [--teacher runs/lenet5-mnist] [--seeds 0,1,2]
 */
import { writeFileSync } from 'node:fs';
import { arg, Job, meanStd, runJobs } from './runner.js';

const teacher = arg('teacher', 'runs/lenet5-mnist');
const seeds = arg('seeds', '0,1,2').split(',');
const backends = ['wasm', 'native'];
const tasks = {
  'float lenet5, 3 epochs': (b: string, s: string): Job => ({ out: `runs/agreement/float-${b}-s${s}`,
    args: ['train', '--model', 'lenet5', '--dataset', 'mnist', '--epochs', '3', '--seed', s, '--backend', b] }),
  'DoReFa W1/A32, 2 epochs': (b: string, s: string): Job => ({ out: `runs/agreement/dorefa-w1-${b}-s${s}`,
    args: ['quantize', '--method', 'dorefa', '--teacher', teacher, '--wbits', '1', '--abits', '32', '--epochs', '2', '--seed', s, '--backend', b] }),
};
const rows = [];
for (const [task, make] of Object.entries(tasks)) {
  for (const backend of backends) {
    // One run at a time: native uses both cores, and wasm timings stay comparable.
    const runs = await runJobs(seeds.map((s) => make(backend, s)), 1);
    rows.push({
      task, backend,
      testAccuracy: meanStd(runs.map((r) => r.meta.test.accuracy * 100)),
      wallSeconds: meanStd(runs.map((r) => r.meta.wallSeconds)),
      runs: runs.map((r) => ({ command: r.command, seed: r.meta.seed, test: r.meta.test.accuracy, wallSeconds: r.meta.wallSeconds, backend: r.meta.backend })),
    });
  }
}
writeFileSync('bench/results/backend-agreement.json', `${JSON.stringify({ command: `node dist/bench/backend-agreement.js ${process.argv.slice(2).join(' ')}`.trim(), rows }, null, 2)}\n`);
for (const r of rows) process.stdout.write(`${r.task.padEnd(26)} ${r.backend.padEnd(7)} test ${r.testAccuracy.mean.toFixed(2)} ± ${r.testAccuracy.std.toFixed(2)}%  ${r.wallSeconds.mean.toFixed(0)} s/run\n`);
