/**
 * The CLI side of a method run: commander flags built from a method's option specs, the shared
 * training flags parsed into a TrainConfig, and the run handed to the library's `runInDir`.
 * No method logic lives here. Node-only.
 */
import { Command, Option } from 'commander';
import { runInDir } from '../io/run-dir.js';
import type { Method } from '../run/method.js';
import type { OptionSpec, RawOptions } from '../run/options.js';
import type { TrainConfig } from '../train/loop.js';
import type { OptimizerName } from '../train/optimizer.js';
import { ScheduleName, scheduleNames } from '../train/schedule.js';
import { parseBackend } from './backend-choice.js';
import { parseChoice, parseInteger, parseNonNegative, parsePositive } from './options.js';
import { DataFlags, parseDataFlags } from './data-flags.js';

/** Flags every training command shares (strings as commander gives them; absent = the method's default). */
export interface TrainingFlags extends DataFlags {
  epochs?: string;
  batch?: string;
  lr?: string;
  optimizer?: string;
  momentum?: string;
  schedule?: string;
  weightDecay?: string;
  seed?: string;
  backend: string;
  dataDir?: string;
  out?: string;
  resume?: boolean;
  maxSteps?: string;
  quiet?: boolean;
  /** Train on a fixed class-balanced subset of this many training images. */
  trainSubset?: string;
}

/** The training settings given on the command line (the rest come from the method's defaults). */
export function parseTrainingFlags(o: TrainingFlags): Partial<TrainConfig> {
  const c: Partial<TrainConfig> = {};
  if (o.epochs != null) c.epochs = parseInteger(o.epochs, '--epochs', 1);
  if (o.batch != null) c.batchSize = parseInteger(o.batch, '--batch', 1);
  if (o.lr != null) c.learningRate = parsePositive(o.lr, '--lr');
  if (o.optimizer != null || o.momentum != null) {
    c.optimizer = { name: parseChoice(o.optimizer ?? 'adam', '--optimizer', ['adam', 'sgd'] as OptimizerName[]), momentum: parseNonNegative(o.momentum ?? '0.9', '--momentum') };
  }
  if (o.schedule != null) c.schedule = { name: parseChoice(o.schedule, '--schedule', scheduleNames as ScheduleName[]) };
  if (o.weightDecay != null) c.weightDecay = parseNonNegative(o.weightDecay, '--weight-decay');
  if (o.seed != null) c.seed = parseInteger(o.seed, '--seed', 0);
  if (o.maxSteps != null) c.maxStepsPerEpoch = parseInteger(o.maxSteps, '--max-steps', 1);
  return c;
}

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

/** Adds a flag per option spec (deduplicated by flag; no commander defaults, so only given flags reach the method). */
export function addMethodFlags(cmd: Command, specs: readonly OptionSpec[], owners?: ReadonlyMap<OptionSpec, string>): Command {
  const seen = new Set(cmd.options.map((o) => o.long));
  for (const s of specs) {
    if (seen.has(`--${s.flag}`)) continue;
    seen.add(`--${s.flag}`);
    const def = s.type.kind === 'boolean' ? '' : defaultText(specs.filter((o) => o.flag === s.flag), owners);
    cmd.addOption(new Option(s.type.kind === 'boolean' ? `--${s.flag}` : `--${s.flag} ${s.arg ?? '<value>'}`, `${s.help}${def}`));
  }
  return cmd;
}

/** ' (default X)', or the default per method when methods sharing a flag disagree (' (default ptq 8, others 1)'). */
function defaultText(same: readonly OptionSpec[], owners?: ReadonlyMap<OptionSpec, string>): string {
  const counts = new Map<string, OptionSpec[]>();
  for (const o of same) if (o.default !== undefined) counts.set(String(o.default), [...(counts.get(String(o.default)) ?? []), o]);
  if (counts.size === 0) return '';
  if (counts.size === 1 || !owners) return ` (default ${same.find((o) => o.default !== undefined)!.default})`;
  const groups = [...counts].sort((a, b) => a[1].length - b[1].length); // the most common default last, as 'others'
  const named = groups.slice(0, -1).map(([value, os]) => `${os.map((o) => owners.get(o)).join(', ')} ${value}`);
  return ` (default ${named.join('; ')}; others ${groups.at(-1)![0]})`;
}

/** The method flags given on the command line, by flag name (the method refuses one it does not take). */
export function givenOptions(flags: Record<string, unknown>, allSpecs: readonly OptionSpec[]): RawOptions {
  const raw: RawOptions = {};
  for (const s of allSpecs) {
    const value = flags[camel(s.flag)];
    if (value !== undefined) raw[s.flag] = value;
  }
  return raw;
}

/** Runs `method` from parsed commander flags into a run directory. */
export async function runFromFlags(method: Method<object>, flags: TrainingFlags & Record<string, unknown>, allSpecs: readonly OptionSpec[],
  extra: { teacherDir?: string; dataset?: string; epochs?: string } = {}): Promise<void> {
  const data = parseDataFlags(flags);
  const result = await runInDir({
    method: method.name, options: givenOptions(flags, allSpecs), dataset: extra.dataset, data, dataDir: flags.dataDir,
    trainSubset: flags.trainSubset != null ? parseInteger(flags.trainSubset, '--train-subset', 1) : null,
    teacherDir: extra.teacherDir, train: parseTrainingFlags({ ...flags, epochs: extra.epochs ?? flags.epochs }), out: flags.out, resume: flags.resume,
    backend: parseBackend(flags.backend), quiet: flags.quiet,
  });
  result.model.dispose();
}
