import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runRecipe } from '../src/recipes/run.js';
import { runInDir } from '../src/io/run-dir.js';
import '../src/methods/node.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'lowbit-recipe-'));

test('a recipe runs in-process and in worker threads (parallel: 2) with identical weights and results; --resume skips finished runs', async () => {
  const dir = tmp();
  const teacher = join(dir, 'teacher');
  (await runInDir({ method: 'float', options: { model: 'lenet5' }, dataset: 'mnist', train: { epochs: 1, maxStepsPerEpoch: 5 }, out: teacher, backend: 'wasm', quiet: true, announce: false })).model.dispose();
  const recipe = (parallel: number) => {
    const f = join(dir, `p${parallel}.json`);
    writeFileSync(f, JSON.stringify({ name: `p${parallel}`, dataset: 'mnist', backend: 'wasm', parallel, teacher: { dir: teacher },
      runs: [{ method: 'float', model: 'lenet5', epochs: 1, maxSteps: 3, seeds: [0, 1] }, { method: 'dorefa', wbits: [1], epochs: 1, maxSteps: 3, seeds: [0] }] }));
    return f;
  };
  await runRecipe(recipe(1), { out: join(dir, 'one'), quiet: true });
  await runRecipe(recipe(2), { out: join(dir, 'two'), quiet: true });
  const results = (name: string) => JSON.parse(readFileSync(join(dir, name, 'results.json'), 'utf8')) as { runs: Array<{ id: string; testAccuracy: number; dir: string; command: string }> };
  const one = results('one');
  const two = results('two');
  assert.deepEqual(two.runs.map((r) => r.id).sort(), one.runs.map((r) => r.id).sort());
  for (const r of one.runs) {
    const other = two.runs.find((x) => x.id === r.id)!;
    assert.equal(other.testAccuracy, r.testAccuracy, r.id);
    assert.ok(readFileSync(join(r.dir, 'weights.bin')).equals(readFileSync(join(other.dir, 'weights.bin'))), `${r.id}: weights identical at parallel 1 and 2`);
  }
  assert.match(one.runs.find((r) => r.id.startsWith('dorefa'))!.command, /^lowbit quantize --method dorefa --wbits 1 --abits 32 --dataset mnist --epochs 1 --max-steps 3 --teacher \S+ --seed 0 --out \S+ --backend wasm$/);
  // The table says which commit its runs come from and whether any ran from a dirty tree.
  assert.match(readFileSync(join(dir, 'one', 'table.md'), 'utf8'), /\nRuns from commits? [0-9a-f]{12}(, [0-9a-f]{12}|, unknown)*; (every run from a clean checkout|\*\*\d+ of 4 from a working tree with uncommitted changes\*\* \(diff [0-9a-f]{16}\))/);
  await assert.rejects(runRecipe(recipe(1), { out: join(dir, 'one'), quiet: true }), /results\.json exists: pass --resume/);
  const before = readFileSync(join(dir, 'one', 'results.json'), 'utf8');
  await runRecipe(recipe(1), { out: join(dir, 'one'), quiet: true, resume: true });
  assert.deepEqual(results('one').runs.map((r) => r.id), JSON.parse(before).runs.map((r: { id: string }) => r.id), 'a resume reruns nothing');
});

test('a recipe whose run options are wrong fails before any job starts, naming the run and the option, and writes nothing', async () => {
  const dir = tmp();
  const f = join(dir, 'bad.json');
  writeFileSync(f, JSON.stringify({ name: 'bad', dataset: 'mnist', teacher: { model: 'lenet5', epochs: 1 },
    runs: [{ method: 'float', model: 'lenet5', epochs: 1 }, { method: 'dorefa', wbits: [1], epochs: 1, options: { variant: 'plain' } }] }));
  await assert.rejects(runRecipe(f, { out: join(dir, 'out'), quiet: true }), /bad\.json: run dorefa-w1a32-variantplain-e1-s0 \(dorefa\): method dorefa has no option 'variant'/);
  const g = join(dir, 'lr.json');
  writeFileSync(g, JSON.stringify({ name: 'lr', dataset: 'mnist', runs: [{ method: 'float', model: 'lenet5', epochs: 1, options: { batch: -4 } }] }));
  await assert.rejects(runRecipe(g, { out: join(dir, 'out'), quiet: true }), /run float-lenet5-batch-4-e1-s0 \(float\): --batch must be a whole number ≥ 1, got '-4'/);
  assert.throws(() => readFileSync(join(dir, 'out', 'results.json')), /ENOENT/);
});
