/** Worker-thread entry of the recipe runner: runs one DirRun with the library's runInDir and replies. Node-only. */
import { parentPort } from 'node:worker_threads';
import { LowbitError } from '../errors.js';
import '../methods/node.js';
import { DirRun, runInDir } from './run-dir.js';

parentPort!.on('message', async (job: DirRun) => {
  try {
    const r = await runInDir(job);
    r.model.dispose();
    parentPort!.postMessage({ ok: true });
  } catch (e) {
    parentPort!.postMessage({ ok: false, message: (e as Error).message, exitCode: e instanceof LowbitError ? e.exitCode : 1 });
  }
});
