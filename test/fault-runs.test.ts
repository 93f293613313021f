import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lowbitAsync } from './fault-helpers.js';
import { firstPassOnly } from './helpers.js';

/** Runs `args` into `crashed` killed by each fault in turn (resuming after the first), then once more to the end. */
async function crashChain(args: string[], crashed: string, faults: string[]): Promise<void> {
  for (const [i, fault] of [...faults, null].entries()) {
    const r = await lowbitAsync([...args, crashed, ...(i > 0 ? ['--resume'] : [])], fault ? { LOWBIT_FAULT: fault } : {});
    if (fault) assert.equal(r.signal, 'SIGKILL', `${fault} should kill the run; exit ${r.status}: ${r.stderr}`);
    else assert.equal(r.status, 0, `final resume: ${r.stderr}`);
  }
}

const same = (a: string, b: string, what: string) => assert.ok(readFileSync(join(a, 'weights.bin')).equals(readFileSync(join(b, 'weights.bin'))), `${what}: weights differ from the uninterrupted run's`);

test('quantize --method dcq killed inside a section, after a section, and in the next one, then resumed: the stitched weights equal the uninterrupted run\'s', { skip: firstPassOnly }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'lowbit-fault-dcq-'));
  const teacher = join(root, 'teacher');
  const t = await lowbitAsync(['train', '--model', 'lenet5', '--dataset', 'mnist', '--epochs', '1', '--max-steps', '20', '--backend', 'wasm', '--quiet', '--out', teacher]);
  assert.equal(t.status, 0, t.stderr);
  const args = ['quantize', '--method', 'dcq', '--teacher', teacher, '--wbits', '1', '--epochs', '3', '--batch', '8', '--train-subset', '400',
    '--workers', '0', '--backend', 'wasm', '--seed', '3', '--quiet', '--out'];
  const straight = lowbitAsync([...args, join(root, 'straight')]);
  await crashChain(args, join(root, 'crashed'), ['rename:checkpoint.lbck:2', 'rename:done.json:1', 'write:checkpoint.lbck:2']);
  assert.equal((await straight).status, 0);
  same(join(root, 'straight'), join(root, 'crashed'), 'dcq');
});

test('a two-run recipe killed inside a run, right after a run is recorded, and inside the next run, then resumed: every run\'s weights and results.json equal the uninterrupted recipe\'s', { skip: firstPassOnly }, async () => {
  const root = mkdtempSync(join(tmpdir(), 'lowbit-fault-recipe-'));
  const recipe = join(root, 'r.json');
  writeFileSync(recipe, JSON.stringify({ name: 'r', dataset: 'mnist', backend: 'wasm', runs: [{ method: 'float', model: 'lenet5', epochs: 3, maxSteps: 30, batch: 16, seeds: [0, 1] }] }));
  const args = ['run', recipe, '--quiet', '--out'];
  const straight = lowbitAsync([...args, join(root, 'straight')]);
  await crashChain(args, join(root, 'crashed'), ['rename:checkpoint.lbck:2', 'rename:results.json:1', 'write:checkpoint.lbck:2']);
  assert.equal((await straight).status, 0);
  const runs = (dir: string) => (JSON.parse(readFileSync(join(root, dir, 'results.json'), 'utf8')) as { runs: Array<{ id: string; testAccuracy: number }> }).runs;
  assert.deepEqual(runs('crashed').map((r) => [r.id, r.testAccuracy]), runs('straight').map((r) => [r.id, r.testAccuracy]));
  for (const id of ['float-lenet5-e3-b16-max30-s0', 'float-lenet5-e3-b16-max30-s1']) same(join(root, 'straight', id), join(root, 'crashed', id), id);
  assert.deepEqual(readdirSync(join(root, 'crashed')).filter((n) => n.endsWith('.tmp')), []);
});
