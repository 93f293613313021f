/** `lowbit quantize --method M`: quantize a trained float teacher with any quantization method. Node-only. */
import { getMethod, methodNames } from '../../run/method.js';
import type { OptionSpec } from '../../run/options.js';
import { parseChoice } from '../options.js';
import { runFromFlags, TrainingFlags } from '../run-training.js';

/** The methods that quantize a teacher, in registry order. */
export const quantizeMethods = (): string[] => methodNames().filter((m) => getMethod(m).needsTeacher);

/** Every quantize method's options (the command's flags). */
export const quantizeOptionSpecs = (): OptionSpec[] => quantizeMethods().flatMap((m) => getMethod(m).options);
/** Which quantize method each of quantizeOptionSpecs() belongs to (for per-method defaults in --help). */
export const quantizeOptionOwners = (): Map<OptionSpec, string> =>
  new Map(quantizeMethods().flatMap((m) => getMethod(m).options.map((s) => [s, m] as const)));

export interface QuantizeCommandOptions extends TrainingFlags {
  method: string;
  teacher: string;
  dataset?: string;
  /** dcq's name for --epochs (epochs per section). */
  epochsPerSection?: string;
  [flag: string]: unknown;
}

export async function quantizeCommand(o: QuantizeCommandOptions): Promise<void> {
  const method = getMethod(parseChoice(o.method, '--method', quantizeMethods()));
  await runFromFlags(method, o, quantizeOptionSpecs(), { teacherDir: o.teacher, dataset: o.dataset, epochs: o.epochsPerSection ?? o.epochs });
}
