/** `lowbit run RECIPE.json [--out DIR] [--resume] [--queue URL [--no-wait] [--attempts N]]`: runs a recipe with the library's recipe runner. Node-only. */
import { LowbitError } from '../../errors.js';
import { runRecipe } from '../../recipes/run.js';
import { parseInteger } from '../options.js';

export async function runCommand(file: string, o: { out?: string; resume?: boolean; quiet?: boolean; queue?: string; wait?: boolean; attempts?: string }): Promise<void> {
  if (o.queue == null && (o.wait === false || o.attempts != null)) throw new LowbitError(`${o.wait === false ? '--no-wait' : '--attempts'} applies to runs on a queue: add --queue redis://HOST:PORT`);
  await runRecipe(file, { out: o.out, resume: o.resume, quiet: o.quiet, queue: o.queue, wait: o.wait,
    attempts: o.attempts != null ? parseInteger(o.attempts, '--attempts', 1) : undefined });
}
