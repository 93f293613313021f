/**
 * Recipe runs on a Redis-backed job queue (BullMQ), for sweeps larger than one machine. The
 * coordinator (`lowbit run RECIPE --queue redis://HOST:PORT`) enqueues each run of the recipe as a
 * job whose id is derived from the run's identity (its recipe id and every setting, out directory
 * included), so enqueueing the same recipe again never duplicates a run. A worker (`lowbit worker
 * --queue …`) runs each job with exactly the local recipe runner's call — `runInDir` into the
 * run's directory, with resume 'auto' — in a worker thread, so BullMQ's lock on the job is renewed
 * while it trains. A worker that dies mid-run leaves its job to BullMQ's stalled-job recovery; the
 * next worker resumes the run from its last checkpoint (the output directory is shared).
 * User errors (exit code 2) fail the job at once (UnrecoverableError); other failures are retried
 * with exponential backoff. docs/sweeps.md describes setup, commands and limits. Node-only.
 */
import { createHash } from 'node:crypto';
import cliProgress from 'cli-progress';
import { existsSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
// bullmq and ioredis take about a second to import: they load only when a queue is used.
import type { Job } from 'bullmq';
import type { BackendName } from '../backend/index.js';
import { LowbitError } from '../errors.js';
import { DirRun, readRunRecord, resultLine } from '../io/run-dir.js';
import { lowbitVersion } from '../io/run-info.js';
import type { RunRecord } from '../run/record.js';
import { runJob } from '../io/run-thread.js';
import { FileSet, fileSetHash, runDirFiles, teacherFiles, writeFileSet } from './job-files.js';

/** The BullMQ queue every recipe's runs go to. */
export const QUEUE_NAME = 'lowbit-runs';

/** What a job carries: the run as the local runner would call runInDir, and the enqueuer's lowbit version. */
export interface QueuedRun {
  /** The run's id in the recipe (e.g. dorefa-w1a32-e1-s0). */
  id: string;
  /** lowbit's version where the run was enqueued; a worker of another version refuses it. */
  lowbit: string;
  run: DirRun;
  /** The teacher's files, for workers that do not share its directory (src/recipes/job-files.ts). */
  teacher?: { hash: string; files: FileSet };
}

/** What a finished job returns: the run record, and the run directory's files when the worker wrote it on its own disk. */
export interface QueuedResult {
  record: RunRecord;
  files?: FileSet;
}

/** Checks a --queue URL's form: redis://HOST:PORT[/DB] or rediss://…. */
export function parseQueueUrl(url: string, flag = '--queue'): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new LowbitError(`${flag} '${url}' is not a URL: pass redis://HOST:PORT (e.g. redis://127.0.0.1:6379)`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new LowbitError(`${flag} '${url}' is not a Redis URL: pass redis://HOST:PORT[/DB] (or rediss:// for TLS)`);
  if (parsed.hostname === '') throw new LowbitError(`${flag} '${url}' names no host: pass redis://HOST:PORT`);
  if (parsed.pathname !== '' && parsed.pathname !== '/' && !/^\/\d+$/.test(parsed.pathname)) throw new LowbitError(`${flag} '${url}': the path must be a database number (redis://HOST:PORT/0)`);
  return url;
}

/** Connects once to Redis and pings it; an unreachable server is one LowbitError (exit 2) within a few seconds. */
export async function checkRedis(url: string, flag = '--queue'): Promise<void> {
  parseQueueUrl(url, flag);
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 3000, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let cause: Error | undefined;
  client.on('error', (e: Error) => { cause = e; });
  try {
    await client.connect();
    await client.ping();
  } catch (e) {
    const why = cause?.message ?? (e as Error).message;
    throw new LowbitError(`cannot reach Redis at ${url} (${why}): start redis-server there (docs/sweeps.md), or fix ${flag}`);
  } finally {
    client.disconnect();
  }
}

/** The run with absolute paths, so a worker started in another directory writes the same run directory. */
function portable(run: DirRun): DirRun {
  const abs = (p: string | undefined) => (p == null ? p : resolve(p));
  return { ...run, out: abs(run.out), teacherDir: abs(run.teacherDir), dataDir: abs(run.dataDir), quiet: true, announce: false };
}

/**
 * The job id of a run: its recipe id and a hash of everything that determines it (settings, out
 * directory), so the same run enqueued twice is one job, and a changed run is another.
 */
export function queueJobId(id: string, run: DirRun): string {
  const { quiet: _q, announce: _a, label: _l, resume: _r, ...identity } = portable(run);
  return `${id}-${createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 12)}`;
}

export interface RunQueueOptions {
  /** Wait for each run to finish (default true); false: only enqueue. */
  wait?: boolean;
  /** Attempts per job before it fails (default 3); user errors fail at once. */
  attempts?: number;
  /** First retry delay in ms, doubled each attempt (default 10 s). */
  backoffMs?: number;
  quiet?: boolean;
}

/** The coordinator's side: enqueues runs and waits for them. */
export interface RunQueue {
  /** Enqueues the run (once: see queueJobId); with wait, resolves when a worker has finished it and returns true. */
  run(id: string, run: DirRun): Promise<boolean>;
  close(): Promise<void>;
}

/** Opens the queue at `url` for a coordinator (checks Redis first). */
export async function openRunQueue(url: string, o: RunQueueOptions = {}): Promise<RunQueue> {
  await checkRedis(url);
  const { Queue, QueueEvents } = await import('bullmq');
  const connection = { url, maxRetriesPerRequest: null };
  const queue = new Queue<QueuedRun, QueuedResult>(QUEUE_NAME, { connection });
  const wait = o.wait !== false;
  const events = wait ? new QueueEvents(QUEUE_NAME, { connection }) : null;
  await events?.waitUntilReady();
  // Progress: the state of each run this coordinator enqueued, keyed by job id.
  const states = new Map<string, { id: string; state: 'queued' | 'running' | 'done' | 'failed' }>();
  const n = (s: string) => [...states.values()].filter((x) => x.state === s).length;
  const counts = () => `[${n('done')}/${states.size} done, ${n('running')} running, ${n('queued')} queued]`;
  // On a terminal: one bar of runs done, with the counts and the latest event (which worker took
  // which run); otherwise one line per event.
  const tty = !o.quiet && process.stderr.isTTY === true;
  let bar: cliProgress.SingleBar | null = null;
  const say = (jobId: string, what: string) => {
    const line = `${states.get(jobId)?.id ?? jobId}: ${what}`;
    if (o.quiet) return;
    if (!tty) {
      process.stderr.write(`queue ${counts()} ${line}\n`);
      return;
    }
    const payload = { running: n('running'), queued: n('queued'), last: line.slice(0, Math.max(20, (process.stderr.columns ?? 100) - 60)) };
    if (bar == null) {
      bar = new cliProgress.SingleBar({ stream: process.stderr, hideCursor: true,
        format: 'queue [{bar}] {value}/{total} done, {running} running, {queued} queued | {last}' }, cliProgress.Presets.shades_classic);
      bar.start(states.size, n('done'), payload);
    }
    bar.setTotal(states.size);
    bar.update(n('done'), payload);
  };
  const stopBar = () => { bar?.stop(); bar = null; };
  events?.on('active', ({ jobId }) => {
    const s = states.get(jobId);
    if (s == null) return;
    s.state = 'running';
    void queue.getJob(jobId).then((job) => say(jobId, `running on ${job?.processedBy ?? 'a worker'}`), () => {});
  });
  events?.on('stalled', ({ jobId }) => {
    const s = states.get(jobId);
    if (s == null) return;
    s.state = 'queued';
    say(jobId, 'its worker stopped answering; requeued (it resumes from its checkpoint)');
  });
  events?.on('failed', ({ jobId, failedReason }) => {
    if (states.has(jobId)) say(jobId, `attempt failed: ${failedReason}`);
  });
  return {
    async run(id, run) {
      const jobId = queueJobId(id, run);
      states.set(jobId, { id, state: 'queued' });
      const files = run.teacherDir != null ? teacherFiles(run.teacherDir) : null;
      const teacher = files != null ? { hash: fileSetHash(files), files } : undefined;
      const add = () => queue.add('run', { id, lowbit: lowbitVersion(), run: portable(run), ...(teacher ? { teacher } : {}) }, {
        jobId, attempts: o.attempts ?? 3, backoff: { type: 'exponential', delay: o.backoffMs ?? 10_000 }, removeOnComplete: false, removeOnFail: false,
      });
      await add();
      // add() of an existing id keeps the existing job. A failed one is replaced: the user reran the recipe after fixing the cause.
      let job = (await queue.getJob(jobId))!;
      if ((await job.getState()) === 'failed') {
        await job.remove();
        job = await add();
        say(jobId, 'failed before; enqueued again');
      }
      if (events == null) return false;
      let result: QueuedResult;
      try {
        result = await job.waitUntilFinished(events);
      } catch (e) {
        states.get(jobId)!.state = 'failed';
        const failed = await queue.getJob(jobId);
        // Retries left over means the worker refused it as a user error (UnrecoverableError).
        const userError = failed != null && failed.attemptsMade < (failed.opts.attempts ?? 1);
        stopBar();
        throw new LowbitError(`run ${id} failed on the queue (job ${jobId}${failed?.processedBy ? `, worker ${failed.processedBy}` : ''}): ${(e as Error).message}`, userError ? 2 : 1);
      }
      // A worker on its own disk sent the run back: it goes where the local runner would have written it.
      if (result?.files != null && run.out != null && !existsSync(join(run.out, 'lowbit.json'))) writeFileSet(resolve(run.out), result.files);
      states.get(jobId)!.state = 'done';
      say(jobId, 'finished');
      return true;
    },
    async close() {
      stopBar();
      await events?.close();
      await queue.close();
    },
  };
}

export interface RunWorkerOptions {
  /** Runs at a time, each in its own worker thread (default 1). */
  concurrency?: number;
  /** This worker's name in the queue (default HOST:PID). */
  name?: string;
  /** How long a job's lock lasts without renewal before it counts as stalled, ms (BullMQ default 30 s). */
  lockDuration?: number;
  /** How often this worker looks for stalled jobs, ms (BullMQ default 30 s). */
  stalledInterval?: number;
  /** How often a job may stall (its worker lost) before it fails (default 3). */
  maxStalledCount?: number;
  /**
   * The backend for runs whose recipe leaves it to the machine ('auto', the default); a run whose
   * recipe names a backend keeps it (the backend is part of what a run measures).
   */
  backend?: BackendName;
  /**
   * For a machine that does not share the coordinator's disks: runs are written under
   * LOCAL_DIR/runs/JOB and sent back in the job's result, and the teacher is read from the job
   * (kept under LOCAL_DIR/teachers). Without it, a run whose output directory's parent does not
   * exist here is handled the same way under the system's temp directory.
   */
  localDir?: string;
  quiet?: boolean;
}

export interface RunWorker {
  readonly name: string;
  /** Stops taking jobs and waits for the running ones to finish. */
  close(): Promise<void>;
}

/** Runs one queued job as the local recipe runner does; user errors fail it at once. */
async function processRun(job: Job<QueuedRun, QueuedResult>, o: RunWorkerOptions): Promise<QueuedResult> {
  const { UnrecoverableError } = await import('bullmq');
  const { id, lowbit, teacher } = job.data;
  if (lowbit !== lowbitVersion()) {
    throw new UnrecoverableError(`run ${id} was enqueued by lowbit ${lowbit}, but this worker runs lowbit ${lowbitVersion()}: run workers of the same version as the coordinator`);
  }
  const run = o.backend != null && job.data.run.backend === 'auto' ? { ...job.data.run, backend: o.backend } : { ...job.data.run };
  // Shared disks: the run goes where the coordinator asked. Otherwise: this machine's own directory, sent back at the end.
  const local = o.localDir != null || (run.out != null && !existsSync(dirname(run.out)));
  const base = resolve(o.localDir ?? join(tmpdir(), 'lowbit-worker'));
  if (local) run.out = join(base, 'runs', job.id!);
  if (run.teacherDir != null && (o.localDir != null || !existsSync(run.teacherDir))) {
    if (teacher == null) throw new UnrecoverableError(`run ${id}: its teacher ${run.teacherDir} is not on this machine and the job does not carry it`);
    const dir = join(base, 'teachers', teacher.hash);
    if (!existsSync(join(dir, 'model.json'))) writeFileSet(dir, teacher.files);
    run.teacherDir = dir;
  }
  try {
    await runJob(run, true);
  } catch (e) {
    if (e instanceof LowbitError && e.exitCode === 2) throw new UnrecoverableError(e.message);
    throw e;
  }
  return { record: readRunRecord(run.out!), ...(local ? { files: runDirFiles(run.out!) } : {}) };
}

/** Starts a worker on the queue at `url` (checks Redis first); it takes jobs until closed. */
export async function startRunWorker(url: string, o: RunWorkerOptions = {}): Promise<RunWorker> {
  await checkRedis(url);
  const { Worker } = await import('bullmq');
  const name = o.name ?? `${hostname()}:${process.pid}`;
  const worker = new Worker<QueuedRun, QueuedResult>(QUEUE_NAME, (job) => processRun(job, o), {
    connection: { url, maxRetriesPerRequest: null }, name, concurrency: o.concurrency ?? 1,
    maxStalledCount: o.maxStalledCount ?? 3,
    // BullMQ's defaults stand unless set (an explicit undefined would override them).
    ...(o.lockDuration != null ? { lockDuration: o.lockDuration } : {}), ...(o.stalledInterval != null ? { stalledInterval: o.stalledInterval } : {}),
  });
  const say = (line: string) => { if (!o.quiet) process.stdout.write(`${name}: ${line}\n`); };
  worker.on('active', (job) => say(`${job.data.id} started${job.attemptsStarted > 1 ? ` (attempt ${job.attemptsStarted})` : ''}`));
  worker.on('completed', (job, result) => say(`${job.data.id} finished: ${resultLine(result.record)}`));
  worker.on('failed', (job, e) => say(`${job?.data.id ?? 'a job'} failed: ${e.message}`));
  worker.on('error', (e) => process.stderr.write(`${name}: queue error: ${e.message}\n`));
  await worker.waitUntilReady();
  return { name, close: () => worker.close() };
}
