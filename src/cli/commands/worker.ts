/** `lowbit worker --queue URL [--concurrency N]`: takes recipe runs from the queue until stopped (Ctrl-C / SIGTERM). Node-only. */
import { startRunWorker } from '../../recipes/queue.js';
import { parseInteger } from '../options.js';
import { parseBackend } from '../backend-choice.js';

export async function workerCommand(o: { queue: string; concurrency: string; name?: string; backend?: string; localDir?: string; lockMs?: string; stalledMs?: string; quiet?: boolean }): Promise<void> {
  const backend = o.backend != null ? parseBackend(o.backend) : 'auto';
  const worker = await startRunWorker(o.queue, {
    concurrency: parseInteger(o.concurrency, '--concurrency', 1), name: o.name, quiet: o.quiet, ...(backend !== 'auto' ? { backend } : {}), ...(o.localDir != null ? { localDir: o.localDir } : {}),
    lockDuration: o.lockMs != null ? parseInteger(o.lockMs, '--lock-ms', 100) : undefined,
    stalledInterval: o.stalledMs != null ? parseInteger(o.stalledMs, '--stalled-ms', 100) : undefined,
  });
  if (!o.quiet) process.stdout.write(`${worker.name}: waiting for runs on ${o.queue}${backend !== 'auto' ? ` (backend ${backend} for runs that leave it to the machine)` : ''} (Ctrl-C stops after the running ones finish)\n`);
  await new Promise<void>((resolve) => {
    let stopping = false;
    const stop = () => {
      // A second signal stops at once: BullMQ requeues the unfinished runs once their lock expires, and they resume from their checkpoints.
      if (stopping) process.exit(130);
      stopping = true;
      if (!o.quiet) process.stdout.write(`${worker.name}: finishing the running runs; press Ctrl-C again to stop now\n`);
      void worker.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
