/** `lowbit summary DIR`: per-layer bits, parameters, bytes, MACs and the compression ratio. Node-only. */
import { existsSync } from 'node:fs';
import { LowbitError } from '../../errors.js';
import { loadModelDir } from '../../io/model-dir.js';
import { formatSummary, summary } from '../../report/summary.js';

export async function summaryCommand(dir: string, o: { json?: boolean }): Promise<void> {
  if (!existsSync(dir)) throw new LowbitError(`${dir} does not exist: pass a model directory`);
  const model = await loadModelDir(dir);
  const s = summary(model);
  process.stdout.write(o.json ? `${JSON.stringify(s, null, 2)}\n` : `${formatSummary(s, dir)}\n`);
  model.dispose();
}
