/** `lowbit summary DIR`: per-layer bits, parameters, bytes, MACs, the compression ratio, and optionally a training step's memory. Node-only. */
import { existsSync } from 'node:fs';
import { LowbitError } from '../../errors.js';
import { loadModelDir } from '../../io/model-dir.js';
import { profileTrainStep } from '../../report/step-profile.js';
import { formatSummary, summary } from '../../report/summary.js';
import { parseBackend, useBackend } from '../backend-choice.js';
import { parseInteger } from '../options.js';

export async function summaryCommand(dir: string, o: { json?: boolean; trainMemory?: boolean; batch: string; backend: string }): Promise<void> {
  if (!existsSync(dir)) throw new LowbitError(`${dir} does not exist: pass a model directory`);
  const batch = parseInteger(o.batch, '--batch', 1);
  if (o.trainMemory) await useBackend(parseBackend(o.backend), true);
  const model = await loadModelDir(dir);
  try {
    const s = summary(model);
    const memory = o.trainMemory ? await profileTrainStep(model, batch) : null;
    const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MB`;
    process.stdout.write(o.json ? `${JSON.stringify(memory ? { ...s, trainStep: memory } : s, null, 2)}\n`
      : `${formatSummary(s, dir)}\n${memory ? `training step (Adam, batch ${batch}): peak ${mb(memory.stepBytes)} of tensors beyond the ${mb(memory.baseBytes)} of weights, optimizer slots and batch\n` : ''}`);
  } finally {
    model.dispose();
  }
}
