/** Run directories: restartable leftovers, the writer lock, temp files, mkdir under /proc, fingerprints, the log on resume. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { fileSystemError, LowbitError } from '../src/errors.js';
import { removeTempFiles } from '../src/io/atomic.js';
import { FileCheckpointStore } from '../src/io/checkpoint-file.js';
import { createDir, isRestartable, makeDirs } from '../src/io/out-dir.js';
import { acquireRunLock, LOCK_FILE, releaseRunLock } from '../src/io/run-lock.js';
import { checkFingerprint, fingerprintDifferences, runFingerprint } from '../src/train/fingerprint.js';
import type { Checkpoint } from '../src/train/checkpoint.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const tmp = () => mkdtempSync(join(tmpdir(), 'lowbit-rundir-'));

/** A pid that is certainly not running: a child that has exited. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  return Number(r.stdout);
}

test('a directory holding only temp files, a lock and a log is restartable; one with a checkpoint or other files is not', () => {
  const d = tmp();
  assert.equal(isRestartable(d), true);
  writeFileSync(join(d, 'checkpoint.lbck.123.tmp'), 'x');
  writeFileSync(join(d, LOCK_FILE), '1\n');
  writeFileSync(join(d, 'log.jsonl'), '{"epoch":1');
  assert.equal(isRestartable(d), true);
  writeFileSync(join(d, 'checkpoint.lbck'), 'x');
  assert.equal(isRestartable(d), false);
  const e = tmp();
  writeFileSync(join(e, 'notes.txt'), 'mine');
  assert.equal(isRestartable(e), false);
  assert.throws(() => isRestartable(join(e, 'notes.txt')), /is a file, not a directory/);
});

test('the run lock: a live owner refuses a second writer, a dead one is taken over, release removes it', () => {
  const d = tmp();
  writeFileSync(join(d, LOCK_FILE), `${process.ppid}\n`); // the test runner: alive
  assert.throws(() => acquireRunLock(d), (e: Error) => e instanceof LowbitError && e.message === `${d} is being written by process ${process.ppid}; wait for it to finish or choose another --out`);
  const dead = deadPid();
  writeFileSync(join(d, LOCK_FILE), `${dead}\n`);
  acquireRunLock(d);
  assert.equal(readFileSync(join(d, LOCK_FILE), 'utf8'), `${process.pid}\n`);
  acquireRunLock(d); // re-entrant
  releaseRunLock(d);
  assert.equal(existsSync(join(d, LOCK_FILE)), false);
});

test('createDir locks and removes temp files (including a packed.PID.tmp directory); the lock goes when the process exits', async () => {
  const d = tmp();
  writeFileSync(join(d, 'weights.bin.999999.tmp'), 'x');
  mkdirSync(join(d, 'packed.999999.tmp'));
  writeFileSync(join(d, 'keep.tmp.txt'), 'x');
  const script = `import { createDir } from ${JSON.stringify(new URL('../src/io/out-dir.js', import.meta.url).href)};
    createDir(${JSON.stringify(d)}); console.log(require('node:fs').readdirSync(${JSON.stringify(d)}).sort().join(','));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script.replace("require('node:fs')", '(await import("node:fs"))')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), `${LOCK_FILE},keep.tmp.txt`);
  assert.deepEqual(readdirSync(d), ['keep.tmp.txt'], 'the lock is released at exit');
  removeTempFiles(join(d, 'missing')); // no directory: nothing to do
  assert.equal(createDir(join(d, 'a', 'b')), true);
  releaseRunLock(join(d, 'a', 'b'));
});

test('file-system errors become one-line LowbitErrors naming the path; other errors are left alone', () => {
  const caught = (f: () => unknown) => { try { f(); } catch (e) { return e; } assert.fail('no error'); };
  const missing = fileSystemError(caught(() => readFileSync('/nonexistent-lowbit/x')));
  assert.ok(missing instanceof LowbitError && missing.exitCode === 2);
  assert.equal(missing.message, '/nonexistent-lowbit/x does not exist (ENOENT in open); check the path');
  assert.match(fileSystemError(caught(() => readFileSync(tmpdir())))!.message, /is a directory, not a file \(EISDIR in read\)/);
  assert.match(fileSystemError(caught(() => mkdirSync(tmpdir())))!.message, /already exists \(EEXIST in mkdir\)/);
  assert.equal(fileSystemError(new TypeError('x')), null);
  assert.equal(fileSystemError(Object.assign(new Error('x'), { code: 'ERR_SOMETHING', path: '/p' })), null);
});

test('makeDirs under /proc fails at once with the path instead of looping', () => {
  if (!existsSync('/proc/self')) return;
  const started = Date.now();
  assert.throws(() => makeDirs('/proc/lowbit-test/a/b'), /--out \/proc\/lowbit-test\/a\/b cannot be created \(\w+ on \/proc\/lowbit-test\)/);
  assert.ok(Date.now() - started < 2000);
});

test('fingerprints: nested settings flattened; differences named, command first; a checkpoint without one is refused', () => {
  const a = runFingerprint({ command: 'train', config: { seed: 0, optimizer: { name: 'adam' } }, f: () => 1, u: undefined });
  assert.deepEqual(a, { command: '"train"', 'config.optimizer.name': '"adam"', 'config.seed': '0' });
  const b = runFingerprint({ command: 'quantize', config: { seed: 1, optimizer: { name: 'adam' } }, method: 'dorefa' });
  assert.deepEqual(fingerprintDifferences(a, b), ['command "train" ≠ "quantize"', 'config.seed 0 ≠ 1', 'method (unset) ≠ "dorefa"']);
  assert.doesNotThrow(() => checkFingerprint(a, { ...a }, 'p'));
  assert.throws(() => checkFingerprint(a, b, 'p'), /^LowbitError: --resume: p was written by a run with other settings \(command "train" ≠ "quantize"; config\.seed 0 ≠ 1; method \(unset\) ≠ "dorefa"\)/);
  assert.throws(() => checkFingerprint(undefined, b, 'p'), /records no run settings/);
});

test('FileCheckpointStore: saves the fingerprint, refuses another on expectFingerprint and load, rewrites the log from the history on load', async () => {
  const d = tmp();
  const ckpt: Checkpoint = {
    epoch: 2, step: 4, rngState: 1, history: [1, 2].map((epoch) => ({ epoch, trainLoss: 1, trainAccuracy: 0.5, valLoss: 1, valAccuracy: 0.5, learningRate: 0.1, seconds: 1, imagesPerSecond: 1 })),
    modelWeights: [], optimizerWeights: [], optimizerScalars: { accBeta1: 0.5 },
  };
  const fp = runFingerprint({ seed: 0 });
  const store = new FileCheckpointStore(d, { log: 'log.jsonl' });
  store.expectFingerprint(fp);
  await store.save(ckpt);
  writeFileSync(join(d, 'log.jsonl'), `${JSON.stringify(ckpt.history[0])}\n`); // a kill left it a line short
  const again = new FileCheckpointStore(d, { log: 'log.jsonl' });
  again.expectFingerprint(fp);
  const loaded = await again.load();
  assert.deepEqual(loaded?.fingerprint, fp);
  assert.deepEqual(loaded?.optimizerScalars, { accBeta1: 0.5 });
  assert.equal(readFileSync(join(d, 'log.jsonl'), 'utf8'), ckpt.history.map((r) => JSON.stringify(r)).join('\n') + '\n');
  assert.throws(() => new FileCheckpointStore(d).expectFingerprint(runFingerprint({ seed: 1 })), /other settings \(seed 0 ≠ 1\)/);
});

test('train --resume (and a fresh train) in a directory a kill left without a checkpoint start over in place and clean up', async () => {
  for (const resume of [true, false]) {
    const out = join(tmp(), 'run');
    mkdirSync(out);
    writeFileSync(join(out, 'checkpoint.lbck.999999.tmp'), 'partial');
    writeFileSync(join(out, LOCK_FILE), `${deadPid()}\n`);
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const c = spawn(process.execPath, [cli, 'train', '--model', 'lenet5', '--dataset', 'mnist', '--epochs', '1', '--max-steps', '2', '--batch', '8',
        '--backend', 'wasm', '--quiet', '--out', out, ...(resume ? ['--resume'] : [])], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      c.stderr.on('data', (x) => { stderr += x; });
      c.on('close', (status) => resolve({ status, stderr }));
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(readdirSync(out).sort(), ['checkpoint.lbck', 'log.jsonl', 'lowbit.json', 'model.json', 'weights.bin']);
    assert.equal(JSON.parse(readFileSync(join(out, 'lowbit.json'), 'utf8')).resumedFrom, 0);
  }
});

test('two trains started together on one --out: one writes the run, the other exits 2 naming it', async () => {
  const out = join(tmp(), 'run');
  const start = () => new Promise<{ status: number | null; stderr: string }>((resolve) => {
    const c = spawn(process.execPath, [cli, 'train', '--model', 'lenet5', '--dataset', 'mnist', '--epochs', '1', '--max-steps', '20', '--batch', '8',
      '--backend', 'wasm', '--quiet', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (x) => { stderr += x; });
    c.on('close', (status) => resolve({ status, stderr }));
  });
  const results = await Promise.all([start(), start()]);
  const ok = results.filter((r) => r.status === 0);
  const refused = results.filter((r) => r.status === 2);
  assert.equal(ok.length, 1, results.map((r) => r.stderr).join(' | '));
  assert.equal(refused.length, 1, results.map((r) => r.stderr).join(' | '));
  assert.match(refused[0].stderr.trim(), /^lowbit: error: .*(is being written by process \d+; wait for it to finish|already exists and is not empty)/);
  assert.deepEqual(readdirSync(out).sort(), ['checkpoint.lbck', 'log.jsonl', 'lowbit.json', 'model.json', 'weights.bin']);
  assert.equal(readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').length, 1);
});

