/** `lowbit worker --queue URL [--concurrency N]`: takes recipe runs from the queue until stopped (Ctrl-C / SIGTERM). Node-only. */
import { startRunWorker } from '../../recipes/queue.js';
import { parseInteger } from '../options.js';

export async function workerCommand(o: { queue: string; concurrency: string; name?: string; lockMs?: string; stalledMs?: string; quiet?: boolean }): Promise<void> {
  const worker = await startRunWorker(o.queue, {
    concurrency: parseInteger(o.concurrency, '--concurrency', 1), name: o.name, quiet: o.quiet,
    lockDuration: o.lockMs != null ? parseInteger(o.lockMs, '--lock-ms', 100) : undefined,
    stalledInterval: o.stalledMs != null ? parseInteger(o.stalledMs, '--stalled-ms', 100) : undefined,
  });
  if (!o.quiet) process.stdout.write(`${worker.name}: waiting for runs on ${o.queue} (Ctrl-C stops after the running ones finish)\n`);
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
