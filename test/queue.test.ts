/**
 * Recipe runs on the BullMQ queue (src/recipes/queue.ts) against a real redis-server started on a
 * free loopback port: the runs finish with the records and weights of a local run, re-enqueueing
 * adds no job, a worker killed (SIGKILL) mid-run leaves its job to a second worker that resumes
 * it to the uninterrupted run's weights, user errors and other versions fail a job without
 * retries, and an unreachable Redis is one line with exit code 2.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue, QueueEvents } from 'bullmq';
import { runRecipe } from '../src/recipes/run.js';
import { runCommand } from '../src/cli/commands/run.js';
import { checkRedis, QUEUE_NAME, startRunWorker } from '../src/node.js';
import { LowbitError } from '../src/errors.js';
import { lowbitVersion } from '../src/io/run-info.js';
import { firstPassOnly } from './helpers.js';
import { cli } from './bad-input-helpers.js';
import '../src/methods/node.js';

const REDIS = '/usr/bin/redis-server';
// The runs use the wasm backend: the queue does not depend on it, so the suite's second pass skips this file.
const skip = !existsSync(REDIS) ? `${REDIS} is missing: apt-get install redis-server (.ci/run installs it)` : firstPassOnly;

const root = mkdtempSync(join(tmpdir(), 'lowbit-queue-'));
let redis: ChildProcess | undefined;
let url = '';

const freePort = () => new Promise<number>((resolve, reject) => {
  const server = createServer();
  server.once('error', reject);
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  });
});

before(async () => {
  if (skip) return;
  const port = await freePort();
  redis = spawn(REDIS, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  url = `redis://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try {
      await checkRedis(url);
      break;
    } catch (e) {
      if (i === 50) throw e;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
});
after(() => {
  redis?.kill('SIGKILL');
});

/** Tiny Fashion-MNIST IDX files: 120 training images (110 train / 10 validation), 40 test. */
function tinyData(): string {
  const dir = join(root, 'data');
  const images = (n: number) => {
    const b = Buffer.alloc(16 + n * 784);
    b.writeUInt32BE(0x803, 0); b.writeUInt32BE(n, 4); b.writeUInt32BE(28, 8); b.writeUInt32BE(28, 12);
    for (let i = 16; i < b.length; i++) b[i] = (i * 7 + Math.floor(i / 784) * 13) % 256;
    return b;
  };
  const labels = (n: number) => {
    const b = Buffer.alloc(8 + n);
    b.writeUInt32BE(0x801, 0); b.writeUInt32BE(n, 4);
    for (let i = 0; i < n; i++) b[8 + i] = i % 10;
    return b;
  };
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'train-images-idx3-ubyte'), images(120));
  writeFileSync(join(dir, 'train-labels-idx1-ubyte'), labels(120));
  writeFileSync(join(dir, 't10k-images-idx3-ubyte'), images(40));
  writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), labels(40));
  return dir;
}

/** A recipe of float lenet5 runs, 2 epochs of 7 steps each, one per seed. */
function recipe(name: string, seeds: number[], dataDir: string): string {
  const file = join(root, `${name}.json`);
  writeFileSync(file, JSON.stringify({ name, dataset: 'fashion-mnist', dataDir, backend: 'wasm', runs: [{ method: 'float', model: 'lenet5', epochs: 2, batch: 16, seeds }] }));
  return file;
}

type Results = { runs: Array<Record<string, unknown> & { id: string; dir: string }>; table: unknown[] };
const results = (out: string) => JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results;
/** A value without its timing fields, the run directory and the command (which names the directory). */
const untimed = (v: unknown): unknown => (Array.isArray(v) ? v.map(untimed) : v != null && typeof v === 'object'
  ? Object.fromEntries(Object.entries(v).filter(([k]) => !/seconds|persecond|^createdAt$|^dir$|^command$/i.test(k)).map(([k, x]) => [k, untimed(x)])) : v);
const weights = (dir: string) => readFileSync(join(dir, 'weights.bin'));
const record = (dir: string) => untimed(JSON.parse(readFileSync(join(dir, 'lowbit.json'), 'utf8'))) as Record<string, unknown>;

let data = '';
let local = '';

/** Starts `lowbit worker` as a child process and resolves once it is taking jobs. */
function workerProcess(name: string, extra: string[] = []): Promise<ChildProcess> {
  const child = spawn(process.execPath, [cli, 'worker', '--queue', url, '--name', name, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('waiting for runs')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`worker ${name} exited (${code}) before it was ready: ${out}`)));
  });
}

/** SIGTERM: the worker finishes its running job (none is left) and exits. */
const stopWorker = (child: ChildProcess) => new Promise<void>((resolve) => {
  if (child.exitCode != null) return resolve();
  child.once('exit', () => resolve());
  child.kill('SIGTERM');
});

test('a 6-run recipe taken by two worker processes finishes with the records, weights and table of the same recipe run locally; enqueueing it again adds no job, and a coordinator rerun reads finished jobs back', { skip, timeout: 300_000 }, async () => {
  data = tinyData();
  const seeds = [0, 1, 2, 3, 4, 5];
  const file = recipe('six', seeds, data);
  local = join(root, 'local');
  await runRecipe(file, { out: local, quiet: true });
  const queued = join(root, 'queued');
  const queue = new Queue(QUEUE_NAME, { connection: { url } });
  const workers = await Promise.all([workerProcess('w1'), workerProcess('w2')]);
  try {
    // Enqueued twice before the coordinator waits: every run is still one job.
    await runRecipe(file, { out: queued, queue: url, wait: false, quiet: true });
    await runRecipe(file, { out: queued, queue: url, wait: false, quiet: true });
    await runRecipe(file, { out: queued, queue: url, resume: true, quiet: true });
    const completed = await queue.getJobs(['completed']);
    assert.equal(completed.length, 6);
    const counts = await queue.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
    assert.deepEqual(counts, { waiting: 0, active: 0, completed: 6, failed: 0, delayed: 0 }, 'each run once');
    assert.deepEqual(new Set(completed.map((j) => j.processedBy)), new Set(['w1', 'w2']), 'both workers took runs');
    const one = results(local);
    const two = results(queued);
    assert.deepEqual(two.runs.map((r) => r.id).sort(), seeds.map((s) => `float-lenet5-e2-b16-s${s}`));
    assert.deepEqual(untimed(two.table), untimed(one.table));
    for (const r of one.runs) {
      const q = two.runs.find((x) => x.id === r.id)!;
      assert.deepEqual(untimed(q), untimed(r), r.id);
      assert.ok(weights(q.dir).equals(weights(r.dir)), `${r.id}: weights identical on the queue and locally`);
      assert.deepEqual(record(q.dir), record(r.dir));
      // The job's result is the run record.
      const job = completed.find((j) => j.data.id === r.id)!;
      assert.deepEqual(untimed(job.returnvalue.record), record(r.dir));
      assert.equal(job.returnvalue.files, undefined, 'a worker sharing the disk sends no files');
    }
    // The recipe's table is written as the local runner writes it.
    const table = (out: string) => readFileSync(join(out, 'table.md'), 'utf8').split('\n').filter((l) => l.startsWith('| float'))
      .map((l) => l.split('|').slice(0, -2).join('|')); // without the s/run column
    assert.deepEqual(table(queued), table(local));
    await Promise.all(workers.map(stopWorker));
    // The coordinator lost its results.json (it died): run again, with no worker left, it reads the finished jobs back and reruns nothing.
    rmSync(join(queued, 'results.json'));
    await runRecipe(file, { out: queued, queue: url, quiet: true });
    assert.deepEqual(untimed(results(queued).table), untimed(one.table));
    assert.deepEqual(await queue.getJobCounts('waiting', 'active', 'completed'), { waiting: 0, active: 0, completed: 6 });
  } finally {
    await Promise.all(workers.map(stopWorker));
    await queue.close();
  }
});

test('a worker that shares no disk (--local-dir) gets the teacher in the job and sends each run back: the coordinator\'s directory ends as a local run\'s', { skip, timeout: 300_000 }, async () => {
  data ||= tinyData();
  const file = join(root, 'apart.json');
  writeFileSync(file, JSON.stringify({ name: 'apart', dataset: 'fashion-mnist', dataDir: data, backend: 'wasm', teacher: { model: 'lenet5', epochs: 1, batch: 16 },
    runs: [{ method: 'dorefa', wbits: [1], abits: [32], epochs: 1, batch: 16, seeds: [0] }] }));
  const here = join(root, 'apart-local');
  await runRecipe(file, { out: here, quiet: true });
  const disk = join(root, 'worker-disk');
  const worker = await workerProcess('apart', ['--local-dir', disk]);
  const queued = join(root, 'apart-queued');
  try {
    await runRecipe(file, { out: queued, queue: url, quiet: true });
  } finally {
    await stopWorker(worker);
  }
  const one = results(here);
  const two = results(queued);
  assert.deepEqual(untimed(two.table), untimed(one.table));
  for (const r of one.runs) {
    const q = two.runs.find((x) => x.id === r.id)!;
    assert.ok(weights(q.dir).equals(weights(r.dir)), `${r.id}: the run sent back has the local run's weights`);
    assert.ok(existsSync(join(q.dir, 'log.jsonl')) && !existsSync(join(q.dir, 'checkpoint.lbck')), `${r.id}: the run's files came back, without its checkpoint`);
  }
  // The quantization run read its teacher from the job, on the worker's own disk.
  const dorefa = two.runs.find((x) => x.id !== 'teacher')!;
  const teacherSeen = String(JSON.parse(readFileSync(join(dorefa.dir, 'lowbit.json'), 'utf8')).teacher);
  assert.ok(teacherSeen.startsWith(join(disk, 'teachers')), teacherSeen);
  assert.ok(readFileSync(join(teacherSeen, 'weights.bin')).equals(weights(join(queued, 'teacher'))));
});

test('a worker killed (SIGKILL) mid-run leaves its job to another worker, which resumes it from the checkpoint to the uninterrupted weights', { skip, timeout: 180_000 }, async () => {
  const file = recipe('killed', [0], data);
  const out = join(root, 'killed');
  await runRecipe(file, { out, queue: url, wait: false, quiet: true });
  // The first worker is killed right after its first checkpoint (src/io/atomic.ts fault injection); its lock lasts 1 s.
  const first = spawnSync(process.execPath, [cli, 'worker', '--queue', url, '--lock-ms', '1000', '--quiet'],
    { env: { ...process.env, LOWBIT_FAULT: 'rename:checkpoint.lbck:1' }, encoding: 'utf8', timeout: 60_000 });
  assert.equal(first.signal, 'SIGKILL', first.stderr);
  const dir = join(out, 'float-lenet5-e2-b16-s0');
  assert.ok(existsSync(join(dir, 'checkpoint.lbck')) && !existsSync(join(dir, 'lowbit.json')), 'killed after epoch 1, before the end');
  const second = await startRunWorker(url, { quiet: true, stalledInterval: 300 });
  try {
    await runRecipe(file, { out, queue: url, resume: true, quiet: true });
  } finally {
    await second.close();
  }
  const queue = new Queue(QUEUE_NAME, { connection: { url } });
  try {
    const job = (await queue.getJobs(['completed'])).find((j) => j.data.run.out === dir)!;
    assert.equal(job.stalledCounter, 1, 'the job stalled once (its worker died) and was taken by the second worker');
    assert.equal(job.processedBy, second.name);
  } finally {
    await queue.close();
  }
  const reference = join(local, 'float-lenet5-e2-b16-s0');
  assert.ok(weights(dir).equals(weights(reference)), 'the resumed run ends with the uninterrupted run\'s weights');
  const { resumedFrom, ...resumed } = record(dir);
  assert.equal(resumedFrom, 1, 'the second worker resumed after epoch 1');
  const { resumedFrom: straight, ...uninterrupted } = record(reference);
  assert.equal(straight, 0);
  assert.deepEqual(resumed, uninterrupted);
  // The log holds each epoch once: the resumed run continued, it did not start over.
  assert.deepEqual(readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l).epoch), [1, 2]);
});

test('a job with a user error, or enqueued by another lowbit version, fails at once without retries; the coordinator exits 2 naming the run', { skip, timeout: 180_000 }, async () => {
  const file = recipe('nodata', [0], join(root, 'no-such-data'));
  const worker = await startRunWorker(url, { quiet: true });
  const queue = new Queue(QUEUE_NAME, { connection: { url } });
  const events = new QueueEvents(QUEUE_NAME, { connection: { url } });
  try {
    await assert.rejects(runRecipe(file, { out: join(root, 'nodata'), queue: url, quiet: true }), (e: unknown) => {
      assert.ok(e instanceof LowbitError);
      assert.equal(e.exitCode, 2);
      assert.match(e.message, /^run float-lenet5-e2-b16-s0 failed on the queue \(job float-lenet5-e2-b16-s0-[0-9a-f]{12}, worker \S+\): Fashion-MNIST not found in \S+no-such-data/);
      return true;
    });
    const failed = (await queue.getJobs(['failed'])).find((j) => j.data.id === 'float-lenet5-e2-b16-s0')!;
    assert.equal(failed.attemptsMade, 1, 'a user error is not retried');
    await events.waitUntilReady();
    const job = await queue.add('run', { id: 'old', lowbit: '0.0.1', run: { method: 'float', options: {}, train: {}, backend: 'wasm' } }, { attempts: 3 });
    await assert.rejects(job.waitUntilFinished(events), new RegExp(`^Error: run old was enqueued by lowbit 0\\.0\\.1, but this worker runs lowbit ${lowbitVersion().replace(/\./g, '\\.')}: run workers of the same version`));
    assert.equal((await queue.getJob(job.id!))!.attemptsMade, 1);
  } finally {
    await events.close();
    await queue.close();
    await worker.close();
  }
});

test('an unreachable Redis, a URL that is not Redis, or --no-wait without --queue: one line, exit 2, nothing written', { skip, timeout: 180_000 }, async () => {
  const file = recipe('unreachable', [0], data);
  await assert.rejects(checkRedis('http://127.0.0.1:6379'), /^LowbitError: --queue 'http:\/\/127\.0\.0\.1:6379' is not a Redis URL: pass redis:\/\/HOST:PORT\[\/DB\] \(or rediss:\/\/ for TLS\)$/);
  await assert.rejects(checkRedis('redis://127.0.0.1:6379/x'), /the path must be a database number \(redis:\/\/HOST:PORT\/0\)$/);
  await assert.rejects(runCommand(file, { out: join(root, 'nowait'), wait: false }), /^LowbitError: --no-wait applies to runs on a queue: add --queue redis:\/\/HOST:PORT$/);
  assert.ok(!existsSync(join(root, 'nowait')));
  // The CLI: one line on stderr, exit 2, within seconds.
  const closed = await freePort();
  const rows: Array<[string[], RegExp]> = [
    [['run', file, '--queue', `redis://127.0.0.1:${closed}`], new RegExp(`^lowbit: error: cannot reach Redis at redis://127\\.0\\.0\\.1:${closed} \\(connect ECONNREFUSED 127\\.0\\.0\\.1:${closed}\\): start redis-server there \\(docs/sweeps\\.md\\), or fix --queue\\n$`)],
    [['worker', '--queue', url, '--backend', 'gpu'], /^lowbit: error: --backend must be one of auto, wasm, cpu, native, got 'gpu'\n$/],
  ];
  for (const [i, [args, message]] of rows.entries()) {
    const out = join(root, `bad${i}`);
    const started = Date.now();
    const r = spawnSync(process.execPath, [cli, ...args, ...(args[0] === 'run' ? ['--out', out] : [])], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.ok(!existsSync(out), `${args.join(' ')} wrote ${out}`);
    assert.ok(Date.now() - started < 15_000, 'fails within seconds');
  }
});
