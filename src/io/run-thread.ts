/** Runs a DirRun with the library's runInDir, in this process or in a worker thread (run-worker.ts). Node-only. */
import { Worker } from 'node:worker_threads';
import { LowbitError } from '../errors.js';
import { DirRun, runInDir } from './run-dir.js';

/** Runs a job (resuming from its checkpoint if it has one) in this process, or in a worker thread. */
export async function runJob(run: DirRun, inWorker: boolean): Promise<void> {
  const job: DirRun = { ...run, resume: 'auto' };
  if (!inWorker) {
    (await runInDir(job)).model.dispose();
    return;
  }
  const worker = new Worker(new URL('./run-worker.js', import.meta.url));
  try {
    const reply = await new Promise<{ ok: boolean; message?: string; exitCode?: number }>((resolve) => {
      worker.once('message', resolve);
      worker.once('error', (e) => resolve({ ok: false, message: e.message, exitCode: 1 }));
      worker.postMessage(job);
    });
    if (!reply.ok) throw new LowbitError(reply.message ?? 'the run failed', reply.exitCode ?? 1);
  } finally {
    await worker.terminate();
  }
}
