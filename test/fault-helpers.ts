/**
 * Crash tests: the CLI is killed (SIGKILL, via LOWBIT_FAULT in src/io/atomic.ts) at each kind of
 * write — checkpoint before and after its rename, the log, the model files — then continued;
 * the final weights must equal an uninterrupted run's byte for byte.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export interface Spawned { status: number | null; signal: NodeJS.Signals | null; stderr: string }

export function lowbitAsync(args: string[], env: Record<string, string> = {}): Promise<Spawned> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (status, signal) => resolve({ status, signal, stderr }));
  });
}

/** 3 epochs of 100 steps (200 images, batch 2) of lenet5 on the embedded MNIST, on wasm. */
export const runArgs = (optimizer: string) => ['train', '--model', 'lenet5', '--dataset', 'mnist', '--epochs', '3', '--batch', '2',
  '--train-subset', '200', '--optimizer', optimizer, '--backend', 'wasm', '--seed', '5', '--quiet'];

/**
 * Each step runs the CLI with a fault; every one but the last is killed. The first kill happens
 * while the first checkpoint is being written (the directory holds only a temp file and the lock),
 * and the next run starts over in place without --resume; the others continue with --resume.
 */
export const chain: Array<{ fault: string | null; resume: boolean }> = [
  { fault: 'write:checkpoint.lbck:1', resume: false }, // killed with only checkpoint.lbck.PID.tmp written
  { fault: 'rename:checkpoint.lbck:2', resume: false }, // restarted in place; killed right after checkpoint 2
  { fault: 'write:log.jsonl:2', resume: true }, // write 1 is the log rewritten on resume; killed writing epoch 3's line
  { fault: 'write:weights.bin:1', resume: true }, // killed while saving the model
  { fault: 'rename:model.json:1', resume: true }, // killed before lowbit.json
  { fault: null, resume: true },
];

const stripTimes = (log: string) => log.trim().split('\n').map((l) => {
  const { seconds: _s, imagesPerSecond: _i, ...rest } = JSON.parse(l) as Record<string, unknown>;
  return rest;
});

/** Crashes and resumes `args` (default: runArgs(optimizer)) along `chain`, and compares with an uninterrupted run. */
export async function crashAndResume(optimizer: string, args: string[] = runArgs(optimizer)): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'lowbit-fault-'));
  const straight = join(root, 'straight');
  const crashed = join(root, 'crashed');
  const killedRuns = (async () => {
    for (const [i, step] of chain.entries()) {
      const r = await lowbitAsync([...args, '--out', crashed, ...(step.resume ? ['--resume'] : [])], step.fault ? { LOWBIT_FAULT: step.fault } : {});
      if (step.fault) {
        assert.equal(r.signal, 'SIGKILL', `step ${i} (${step.fault}) should be killed; exit ${r.status}: ${r.stderr}`);
        if (i === 0) {
          const left = readdirSync(crashed).sort();
          assert.ok(left.some((n) => /^checkpoint\.lbck\.\d+\.tmp$/.test(n)) && !left.includes('checkpoint.lbck'), `after the first kill: ${left}`);
        }
      } else {
        assert.equal(r.status, 0, `final resume: ${r.stderr}`);
      }
    }
  })();
  const plain = lowbitAsync([...args, '--out', straight]);
  const [p] = await Promise.all([plain, killedRuns]);
  assert.equal(p.status, 0, p.stderr);
  const a = readFileSync(join(straight, 'weights.bin'));
  const b = readFileSync(join(crashed, 'weights.bin'));
  assert.ok(a.equals(b), `${optimizer}: weights after crashes and resumes differ from the uninterrupted run's`);
  assert.deepEqual(stripTimes(readFileSync(join(crashed, 'log.jsonl'), 'utf8')), stripTimes(readFileSync(join(straight, 'log.jsonl'), 'utf8')));
  const left = readdirSync(crashed);
  assert.deepEqual(left.filter((n) => n.endsWith('.tmp') || n === '.lowbit.lock'), [], 'no temp files or lock left');
  assert.ok(existsSync(join(crashed, 'lowbit.json')));
  const meta = JSON.parse(readFileSync(join(crashed, 'lowbit.json'), 'utf8')) as { resumedFrom: number; threads: number };
  assert.equal(meta.resumedFrom, 3);
  assert.equal(meta.threads, 1);
}
