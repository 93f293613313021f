/**
 * Sweeps on the job queue (docs/sweeps.md): the same 8-run recipe (float lenet5 on the embedded
 * MNIST, seeds 0–7, native backend, one OpenMP thread per process) run by the local runner, by one
 * `lowbit worker` process and by two, each worker with one core's worth of threads. Reports the
 * wall times, the speed-up of two workers over one, and the queue's overhead per run: (wall time
 * with one worker − the runs' own wall times, as each run's lowbit.json records them) / runs.
 * Starts its own redis-server on a free loopback port.
 *
 *   node dist/bench/queue-speedup.js [--runs 8] [--epochs 1]
 */
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { arg, CLI } from './runner.js';

const { buildProvenance } = await import('../src/io/run-info.js');
const runs = Number(arg('runs', '8'));
const epochs = Number(arg('epochs', '1'));
const root = mkdtempSync(join(tmpdir(), 'lowbit-queue-speedup-'));
const env = { ...process.env, OMP_NUM_THREADS: '1' };

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer();
  s.listen(0, '127.0.0.1', () => { const { port } = s.address() as { port: number }; s.close(() => resolve(port)); });
});

const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 500));

const recipe = join(root, 'sweep.json');
writeFileSync(recipe, JSON.stringify({ name: 'queue-speedup', dataset: 'mnist', backend: 'native',
  runs: [{ method: 'float', model: 'lenet5', epochs, seeds: Array.from({ length: runs }, (_, i) => i) }] }));

function worker(name: string, db: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, [CLI, 'worker', '--queue', `redis://127.0.0.1:${port}/${db}`, '--name', name], { env, stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => { out += d; if (out.includes('waiting for runs')) resolve(child); });
    child.on('exit', (code) => reject(new Error(`worker exited ${code}: ${out}`)));
  });
}
const stop = (c: ChildProcess) => new Promise<void>((r) => { if (c.exitCode != null) return r(); c.once('exit', () => r()); c.kill('SIGTERM'); });

/** One sweep: the recipe through `lowbit run` (locally, or on the queue with `workers` worker processes). */
async function sweep(label: string, workers: number, db: number) {
  const out = join(root, label);
  const procs = await Promise.all(Array.from({ length: workers }, (_, i) => worker(`${label}-w${i + 1}`, db)));
  const args = [CLI, 'run', recipe, '--out', out, '--quiet', ...(workers > 0 ? ['--queue', `redis://127.0.0.1:${port}/${db}`] : [])];
  const started = performance.now();
  const r = spawnSync(process.execPath, args, { env, encoding: 'utf8' });
  const wall = (performance.now() - started) / 1000;
  await Promise.all(procs.map(stop));
  if (r.status !== 0) throw new Error(`${label}: ${r.stderr}`);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as { runs: Array<{ wallSeconds: number; testAccuracy?: number }> };
  const runSeconds = results.runs.reduce((s, x) => s + x.wallSeconds, 0);
  process.stderr.write(`${label}: ${wall.toFixed(1)} s wall, runs' own ${runSeconds.toFixed(1)} s\n`);
  return { label, workers, wallSeconds: wall, runsOwnSeconds: runSeconds, command: `OMP_NUM_THREADS=1 lowbit run sweep.json${workers > 0 ? ` --queue … with ${workers} worker process(es)` : ''}` };
}

try {
  const local = await sweep('local', 0, 0);
  const one = await sweep('queue-1-worker', 1, 1);
  const two = await sweep('queue-2-workers', 2, 2);
  const result = {
    command: `node dist/bench/queue-speedup.js --runs ${runs} --epochs ${epochs}`,
    provenance: buildProvenance(),
    recipe: JSON.parse(readFileSync(recipe, 'utf8')),
    rows: [local, one, two],
    speedupTwoWorkersOverOne: one.wallSeconds / two.wallSeconds,
    queueOverheadPerRunMs: ((one.wallSeconds - one.runsOwnSeconds) / runs) * 1000,
    localOverheadPerRunMs: ((local.wallSeconds - local.runsOwnSeconds) / runs) * 1000,
    note: 'wall: the coordinator process from start to exit (it loads the data, enqueues, waits, writes results.json, table and report); runs\' own: the sum of each run\'s wallSeconds in its lowbit.json. Overhead per run: (wall - runs\' own) / runs, which includes process start-up and the report.',
  };
  process.stderr.write(`${JSON.stringify(result, null, 2)}\n`);
  mkdirSync('bench/results', { recursive: true });
  writeFileSync('bench/results/queue-speedup.json', `${JSON.stringify(result, null, 2)}\n`);
} finally {
  redis.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
