/**
 * The relaxed-vs-rounded gap (srq.md §5.3: RQ's signature): for each row of a recipe's table, the
 * last epoch's training accuracy (training-mode quantizers: RQ's concrete samples, RQ-ST's hard
 * samples, DropBits' drops) against the test accuracy with hard round-and-clip, over the seeds.
 *
 *   node dist/bench/train-test-gap.js runs/srq-fashion-mnist/results.json
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { keptRuns, RecipeRun, TableRow } from '../src/report/recipe-table.js';

const file = process.argv[2];
const { runs, table } = JSON.parse(readFileSync(file, 'utf8')) as { runs: RecipeRun[]; table: TableRow[] };
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows = table.map((row) => {
  const kept = keptRuns(runs, row);
  const train = kept.map((r) => {
    const log = readFileSync(join(r.dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { trainAccuracy: number });
    return log[log.length - 1].trainAccuracy;
  });
  return { label: row.label, bits: `${row.wbits}/${row.abits}`, trainAccuracyRelaxed: mean(train) * 100, testAccuracyRounded: row.testMean * 100, gap: (mean(train) - row.testMean) * 100 };
});
const name = basename(dirname(file));
writeFileSync(`bench/results/${name}-train-test-gap.json`, `${JSON.stringify({ command: `node dist/bench/train-test-gap.js ${file}`, rows }, null, 2)}\n`);
for (const r of rows) process.stdout.write(`${r.label.padEnd(28)} ${r.bits}  train (relaxed) ${r.trainAccuracyRelaxed.toFixed(2)}  test (rounded) ${r.testAccuracyRounded.toFixed(2)}  gap ${r.gap.toFixed(2)}\n`);
