/** Runs lowbit CLI jobs as child processes, N at a time, skipping runs already finished. */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

export interface Job {
  out: string;
  args: string[];
}

export interface RunResult {
  out: string;
  command: string;
  meta: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

function readMeta(out: string): RunResult['meta'] {
  return JSON.parse(readFileSync(join(out, 'lowbit.json'), 'utf8'));
}

export const commandOf = (job: Job) => `npx lowbit ${job.args.join(' ')} --out ${job.out}`;

/** Runs every job (resuming a killed one from its checkpoint); resolves with their lowbit.json. */
export async function runJobs(jobs: Job[], parallel: number): Promise<RunResult[]> {
  const threads = String(Math.max(1, Math.floor(cpus().length / parallel)));
  const queue = jobs.filter((j) => !existsSync(join(j.out, 'lowbit.json')));
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const resume = existsSync(join(job.out, 'checkpoint.lbck')) ? ['--resume'] : [];
      const started = Date.now();
      await new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, [CLI, ...job!.args, '--out', job!.out, '--quiet', ...resume],
          { stdio: ['ignore', 'inherit', 'inherit'], env: { ...process.env, OMP_NUM_THREADS: threads } });
        child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${commandOf(job!)} exited with ${code}`))));
      });
      process.stderr.write(`done ${job.out} in ${((Date.now() - started) / 1000).toFixed(0)} s\n`);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return jobs.map((j) => ({ out: j.out, command: commandOf(j), meta: readMeta(j.out) }));
}

export function meanStd(xs: number[]): { mean: number; std: number; n: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1)) : 0;
  return { mean, std, n: xs.length };
}

export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}
