/** Worker-thread entry: one TF.js instance per worker, running DCQ section jobs it is sent. Node-only. */
import { parentPort } from 'node:worker_threads';
import { setBackend } from '../../backend/index.js';
import '../../backend/native.js';
import { runSectionJob, SectionJob } from './section-job.js';

parentPort!.on('message', async (msg: { job: SectionJob; backend: string }) => {
  try {
    await setBackend(msg.backend);
    const { report, checkpoint } = await runSectionJob(msg.job);
    parentPort!.postMessage({ ok: true, report, checkpoint });
  } catch (e) {
    parentPort!.postMessage({ ok: false, message: (e as Error).message, stack: (e as Error).stack });
  }
});
