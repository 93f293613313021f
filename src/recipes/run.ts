/**
 * Recipes (`lowbit run RECIPE.json [--resume]`): an experiment as a JSON file, validated against
 * recipes/recipe.schema.json (ajv) with errors that point at the offending field; every run's
 * options are checked by its method before any job starts. Each run goes through the library's
 * `runInDir` (the same path as `lowbit train|quantize|dq train`), in this process, or in
 * `parallel` worker threads; each finished run is appended to OUT/results.json atomically, so a
 * crash keeps the finished runs and --resume skips them. With `export`, each row's first kept
 * run is then exported and verified in-process (as `lowbit export` and `lowbit verify --json`).
 * A list of learning rates is tuned on the validation split with the first seed; the other
 * seeds run at the winner. The results table (OUT/table.md, and `table` in results.json) is
 * what the README shows; OUT/report.html plots it. Node-only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { LowbitError } from '../errors.js';
import type { DataFileSpec } from '../data/arrays.js';
import { dataName } from '../data/files.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkWritableDir, createDir } from '../io/out-dir.js';
import { DirRun, readRunRecord } from '../io/run-dir.js';
import { runJob } from '../io/run-thread.js';
import { openRunQueue, RunQueue } from './queue.js';
import type { DqRunRecord } from '../run/record.js';
import { getMethod, resolveOptions, resolveTrain } from '../run/method.js';
import type { RawOptions } from '../run/options.js';
import { scheduleNames } from '../train/schedule.js';
import { parseChoice } from '../cli/options.js';
import { parseTrainingFlags, TrainingFlags } from '../cli/run-training.js';
import { exportCommand } from '../cli/commands/export.js';
import { verifyCommand } from '../cli/commands/verify.js';
import { writeJsonAtomic } from '../io/model-dir.js';
import { chosenLr, DqRecord, keptRuns, provenanceLine, recipeTable, RecipeRun, tableMarkdown, VerifyFormat } from '../report/recipe-table.js';
import { recipeReport } from '../report/recipe-report.js';
import { gitCommit, lowbitVersion } from '../io/run-info.js';
import * as tf from '../backend/tf.js';
import { parseBackend, useBackend } from '../cli/backend-choice.js';

const here = dirname(fileURLToPath(import.meta.url));
export const RECIPE_SCHEMA_PATH = join(here, '..', '..', '..', 'recipes', 'recipe.schema.json');

type OptionValue = string | number | boolean;
interface RunSpec {
  method: string; label?: string; model?: string; wbits?: number[]; abits?: number[]; bits?: Array<[number, number]>; epochs: number;
  lr?: number | number[]; batch?: number; seeds?: number[]; dropbits?: number; temperature?: number; trainSubset?: number;
  bnRecal?: number; options?: Record<string, OptionValue>; maxSteps?: number;
  /** This run's backend instead of the recipe's (e.g. to compare backends). */
  backend?: string;
  /** The quantized lottery ticket: per-layer weight bits learned by the run labelled so (same seed). */
  layerBitsFrom?: string;
}
export interface Recipe {
  name: string;
  description?: string;
  /** A built-in dataset, or `data`: the user's files (a path, or the path with how to read it; docs/data.md). */
  dataset?: string;
  data?: string | DataFileSpec;
  dataDir?: string;
  backend?: string;
  parallel?: number;
  compare?: string;
  /** Export each row's first kept run to these formats and verify it on `images` test images. */
  export?: { formats: string[]; images?: number };
  teacher?: { dir: string } | { model: string; epochs: number; lr?: number; batch?: number; seed?: number; schedule?: string };
  runs: RunSpec[];
}

/** Validates a recipe; the error lists each offending field by its JSON path. */
export function validateRecipe(value: unknown, where: string): Recipe {
  const ajv = new Ajv({ allErrors: true, useDefaults: true, allowUnionTypes: true });
  const validate = ajv.compile(JSON.parse(readFileSync(RECIPE_SCHEMA_PATH, 'utf8')));
  if (!validate(value)) {
    const problems = (validate.errors ?? []).filter((e) => !['oneOf', 'anyOf', 'if'].includes(e.keyword))
      .map((e) => `${e.instancePath || '(root)'} ${e.message}${e.keyword === 'enum' ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : ''}${e.keyword === 'additionalProperties' ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'` : ''}`);
    throw new LowbitError(`${where} is not a valid recipe: ${[...new Set(problems)].join('; ')}`);
  }
  const recipe = value as Recipe;
  const invalid = (message: string) => new LowbitError(`${where} is not a valid recipe: ${message}`);
  if (recipe.dataset != null && recipe.data != null) throw invalid('give /dataset (a built-in dataset) or /data (your own files), not both');
  recipe.runs.forEach((r, i) => {
    if (kindOf(r) === 'quantize') {
      if (recipe.teacher == null) throw invalid(`/runs/${i} (${r.method}) quantizes a float model: add /teacher ({"model": …, "epochs": …} or {"dir": …})`);
      if (!takesBits(r)) {
        // A method without bit-width options (pq: set by its own options, e.g. {"pq-block": 8}).
        if (r.abits != null && r.wbits == null) throw invalid(`/runs/${i} (${r.method}) takes no bit-widths: remove abits and set it by its options`);
        if (r.model != null) throw invalid(`/runs/${i} (${r.method}) quantizes the teacher, so model does not apply`);
        return;
      }
      if ((r.bits == null) === (r.wbits == null)) throw invalid(`/runs/${i} needs either wbits (with abits) or bits ([[w, a], …]), not both`);
      if (r.bits != null && r.abits != null) throw invalid(`/runs/${i} has bits, so abits does not apply`);
      if (r.model != null) throw invalid(`/runs/${i} (${r.method}) quantizes the teacher, so model does not apply`);
      return;
    }
    // float and dq runs train from scratch: no bits and no quantizer settings.
    const wrong = (['wbits', 'abits', 'bits', 'dropbits', 'temperature', 'bnRecal', 'layerBitsFrom'] as const).filter((k) => r[k] != null);
    if (wrong.length > 0) throw invalid(`/runs/${i} (${r.method}) trains from scratch, so ${wrong.join(', ')} does not apply`);
    if (r.method === 'float' && r.model == null && (recipe.teacher == null || !('model' in recipe.teacher))) throw invalid(`/runs/${i} (float) needs a model (e.g. "model": "lenet5")`);
    if (r.method === 'dq' && r.model != null) throw invalid(`/runs/${i} (dq) has model '${r.model}': the DQ auto-encoder is set by options (groups, codes, levels, embed, width)`);
  });
  const dq = recipe.runs.filter((r) => r.method === 'dq').length;
  if (dq > 0 && dq < recipe.runs.length) throw invalid('/runs mixes dq (bits/dim) with classifiers (accuracy): put them in separate recipes');
  if (dq > 0 && recipe.teacher != null) throw invalid('/teacher: a DQ auto-encoder has no teacher; remove /teacher');
  if (dq > 0 && recipe.export != null) throw invalid("/export applies to classifiers; export a DQ auto-encoder with 'lowbit dq export DIR'");
  const labels = recipe.runs.map(rowLabel);
  recipe.runs.forEach((r, i) => {
    if (r.layerBitsFrom != null && !labels.includes(r.layerBitsFrom)) throw new LowbitError(`${where} is not a valid recipe: /runs/${i}/layerBitsFrom '${r.layerBitsFrom}' is not a run label (labels: ${[...new Set(labels)].join(', ')})`);
    if (r.layerBitsFrom != null && Array.isArray(r.lr)) throw new LowbitError(`${where} is not a valid recipe: /runs/${i} takes its bits from '${r.layerBitsFrom}', so give it one lr, not a list`);
  });
  if (recipe.compare != null && !labels.includes(recipe.compare)) throw new LowbitError(`${where} is not a valid recipe: /compare '${recipe.compare}' is not a run label (labels: ${[...new Set(labels)].join(', ')})`);
  return recipe;
}

/** The recipe's data as a run takes it. */
const recipeData = (recipe: Recipe): Pick<DirRun, 'dataset' | 'data'> =>
  (recipe.data != null ? { data: typeof recipe.data === 'string' ? { path: recipe.data } : recipe.data } : { dataset: recipe.dataset });

/** The recipe's head for tables and reports: the data named by its dataset, or its files' name. */
const recipeHead = (recipe: Recipe) => ({ ...recipe, dataset: recipe.dataset ?? dataName(recipeData(recipe).data!.path) });

/** One job: a group (everything but seed and lr) at one seed and one lr. */
interface Job { id: string; group: string; label: string; seed: number; lr: number | null; run: DirRun; layerBitsFrom?: string }

const rowLabel = (r: RunSpec) => r.label ?? r.method;
/**
 * Whether a quantize run has bit-widths: its method takes --wbits, or the run names them (BiTAT's
 * [[1, 1]], part of its run ids). pq has neither: its size is set by its own options.
 */
const takesBits = (r: RunSpec): boolean => r.bits != null || r.wbits != null || getMethod(r.method).options.some((o) => o.key === 'wbits');

/** float and dq train from scratch; every other method quantizes the teacher. */
const kindOf = (r: RunSpec): 'train' | 'dq' | 'quantize' => (r.method === 'float' ? 'train' : r.method === 'dq' ? 'dq' : 'quantize');

/** Recipe `options` that are training settings rather than method options (CLI flag names). */
const TRAINING_FLAGS: Record<string, keyof TrainingFlags> = {
  batch: 'batch', lr: 'lr', optimizer: 'optimizer', momentum: 'momentum', schedule: 'schedule', 'weight-decay': 'weightDecay', 'max-steps': 'maxSteps',
};

/** A run of the recipe as a DirRun (without seed, lr and out), and its group key. The key's parts name every setting. */
function groupRun(recipe: Recipe, r: RunSpec, w: number, a: number, teacherDir: string | null): { key: string; run: Omit<DirRun, 'out'>; flags: TrainingFlags } {
  const method = getMethod(r.method);
  const kind = kindOf(r);
  const bits = kind === 'quantize' && takesBits(r);
  const key: string[] = kind === 'train' ? ['float', r.model ?? (recipe.teacher as { model: string }).model] : kind === 'dq' ? ['dq'] : bits ? [r.method, `w${w}a${a}`] : [r.method];
  const options: RawOptions = bits ? { wbits: w, abits: a } : kind === 'train' ? { model: r.model ?? (recipe.teacher as { model: string }).model } : {};
  const flags: TrainingFlags = { backend: r.backend ?? recipe.backend ?? 'auto', epochs: String(r.epochs) };
  // The recipe's epochs set a method's own epoch option where it has one (BiTAT: epochs per stage).
  if (method.recipeEpochs != null) {
    options[method.recipeEpochs] = r.epochs;
    delete flags.epochs;
  }
  let trainSubset: number | null = null;
  const add = (flag: string, value: OptionValue | undefined, tag: string) => {
    if (value == null || value === false) return;
    key.push(value === true ? tag : `${tag}${value}`);
    if (flag === 'train-subset') trainSubset = Number(value);
    else if (flag in TRAINING_FLAGS) flags[TRAINING_FLAGS[flag]] = String(value) as never;
    else options[flag] = value;
  };
  add('dropbits', r.dropbits, 'db');
  add('temperature', r.temperature, 't');
  add('train-subset', r.trainSubset, 'n');
  add('bn-recal', r.bnRecal, 'bn');
  for (const [flag, value] of Object.entries(r.options ?? {})) add(flag, value, flag.replace(/[^a-z0-9]/gi, ''));
  key.push(`e${r.epochs}`);
  add('batch', r.batch, 'b');
  add('max-steps', r.maxSteps, 'max');
  if (r.backend != null) key.push(r.backend);
  return {
    key: key.join('-'), flags,
    run: { method: r.method, options, ...recipeData(recipe), dataDir: recipe.dataDir, trainSubset, teacherDir: kind === 'quantize' ? teacherDir! : undefined,
      train: {}, backend: parseBackend(flags.backend) },
  };
}

function jobs(recipe: Recipe, out: string, teacherDir: string | null, where: string, quiet?: boolean): Job[] {
  const list: Job[] = [];
  for (const r of recipe.runs) {
    const pairs = kindOf(r) !== 'quantize' || !takesBits(r) ? [[32, 32] as [number, number]] : r.bits ?? r.wbits!.flatMap((w) => (r.abits ?? [32]).map((a) => [w, a] as [number, number]));
    const lrs = r.lr == null ? [null] : Array.isArray(r.lr) ? r.lr : [r.lr];
    for (const [w, a] of pairs) {
      const { key, run, flags } = groupRun(recipe, r, w, a, teacherDir);
      for (const seed of r.seeds ?? [0]) for (const lr of lrs) {
        const id = `${key}${lr != null ? `-lr${lr}` : ''}-s${seed}`;
        const train = inRun(where, id, rowLabel(r), () => parseTrainingFlags({ ...flags, seed: String(seed), ...(lr != null ? { lr: String(lr) } : {}) }));
        list.push({ id, group: key, label: rowLabel(r), seed, lr, layerBitsFrom: r.layerBitsFrom, run: { ...run, train, out: join(out, id), quiet, announce: !quiet } });
      }
    }
  }
  const ids = list.map((j) => j.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new LowbitError(`the recipe lists run ${dup} twice: give the runs different settings`);
  return list;
}

/** `work`, with a LowbitError it throws prefixed by the recipe file and the run. */
function inRun<T>(where: string, id: string, label: string, work: () => T): T {
  try {
    return work();
  } catch (e) {
    if (!(e instanceof LowbitError)) throw e;
    throw new LowbitError(`${where}: run ${id} (${label}): ${e.message}`);
  }
}

/** Checks every job's options and training settings with its method's validator, before any job starts. */
function validateJobs(list: Job[], where: string): void {
  for (const j of list) {
    inRun(where, j.id, j.label, () => {
      const method = getMethod(j.run.method);
      const train = resolveTrain(method, j.run.train);
      // A lottery-ticket run gets its layer bits from another run when it starts.
      resolveOptions(method, j.layerBitsFrom != null ? { ...j.run.options, 'layer-bits': 'x=2' } : j.run.options, { train });
    });
  }
}

/** The --data flags of a spec. */
function dataFlags(d: DataFileSpec | undefined): string[] {
  if (d == null) return [];
  return ['--data', d.path, ...(d.imageSize ? ['--image-size', d.imageSize.join('x')] : []), ...(d.channels ? ['--channels', String(d.channels)] : []),
    ...(d.resize ? ['--resize', d.resize] : []), ...(d.valFraction != null ? ['--val-fraction', String(d.valFraction)] : []),
    ...(d.splitSeed != null ? ['--split-seed', String(d.splitSeed)] : []), ...(d.normalize ? ['--normalize'] : []),
    ...(d.augment ? ['--augment', [d.augment.pad > 0 ? `pad=${d.augment.pad}` : '', d.augment.flip ? 'flip' : ''].filter(Boolean).join(',') || 'pad=0'] : [])];
}

/** The `lowbit` command equivalent to a run (recorded in results.json). */
function commandLine(run: DirRun): string {
  const method = getMethod(run.method);
  const head = method.kind === 'float' ? ['train'] : method.kind === 'dq' ? ['dq', 'train'] : ['quantize', '--method', run.method];
  const flag = (k: string, v: unknown) => (v === true ? [`--${k}`] : v == null || v === false ? [] : [`--${k}`, typeof v === 'object' ? Object.entries(v as object).map(([a, b]) => `${a}=${b}`).join(',') : String(v)]);
  const t = run.train;
  return ['lowbit', ...head, ...Object.entries(run.options).flatMap(([k, v]) => flag(k, v)), ...flag('dataset', run.dataset), ...dataFlags(run.data),
    ...flag('epochs', t.epochs), ...flag('batch', t.batchSize), ...flag('schedule', t.schedule?.name), ...flag('max-steps', t.maxStepsPerEpoch),
    ...flag('train-subset', run.trainSubset), ...flag('teacher', run.teacherDir), ...flag('seed', t.seed), ...flag('lr', t.learningRate),
    ...flag('out', run.out), ...flag('backend', run.backend === 'auto' ? undefined : run.backend)].join(' ');
}

export interface RecipeOptions {
  out?: string;
  resume?: boolean;
  quiet?: boolean;
  /** Run on the BullMQ queue at this Redis URL (workers: `lowbit worker`) instead of here; see src/recipes/queue.ts. */
  queue?: string;
  /** With queue: wait for the runs (default true); false only enqueues the runs that can start now. */
  wait?: boolean;
  /** With queue: attempts per run (default 3). */
  attempts?: number;
}

/** Runs a recipe file into OUT (default runs/NAME); prints the table. */
export async function runRecipe(file: string, o: RecipeOptions = {}): Promise<void> {
  if (!existsSync(file)) throw new LowbitError(`${file} does not exist: pass a recipe file (schema: recipes/recipe.schema.json)`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new LowbitError(`${file} is not valid JSON (${(e as Error).message})`);
  }
  const recipe = validateRecipe(parsed, file);
  const out = o.out ?? join('runs', recipe.name);
  const resultsPath = join(out, 'results.json');
  if (existsSync(resultsPath) && !o.resume) throw new LowbitError(`${resultsPath} exists: pass --resume to skip its finished runs, or choose another --out`);
  let teacherDir: string | null = null;
  if (recipe.teacher != null && 'dir' in recipe.teacher) {
    teacherDir = recipe.teacher.dir;
    if (!existsSync(join(teacherDir, 'model.json'))) throw new LowbitError(`${file}: /teacher/dir ${teacherDir} holds no model.json: train it first (lowbit train) or give the teacher as {model, epochs}`);
  } else if (recipe.teacher != null) {
    teacherDir = join(out, 'teacher');
  }
  const all = jobs(recipe, out, teacherDir, file, o.quiet);
  validateJobs(all, file);
  const runQueue = o.queue != null ? await openRunQueue(o.queue, { wait: o.wait, attempts: o.attempts, quiet: o.quiet }) : null;
  try {
    await runJobs(recipe, out, teacherDir, all, o, runQueue);
  } finally {
    await runQueue?.close();
  }
}

/** Runs the recipe's validated jobs (here, in worker threads, or on the queue); writes results.json, the table and the report. */
async function runJobs(recipe: Recipe, out: string, teacherDir: string | null, all: Job[], o: RecipeOptions, runQueue: RunQueue | null): Promise<void> {
  const resultsPath = join(out, 'results.json');
  checkWritableDir(out);
  createDir(out);
  // Finished runs are re-read from their lowbit.json, so a resumed table has every current field.
  const results: RecipeRun[] = (existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')).runs as RecipeRun[] : [])
    .map((r) => (existsSync(join(r.dir, 'lowbit.json')) ? { ...r, ...readMeta(r.dir) } : r));
  const done = new Set(results.map((r) => r.id));
  // On a queue every run that can start is enqueued at once; the workers set the pace.
  const parallel = runQueue != null ? all.length : recipe.parallel ?? 1;
  /** Runs one job; false when it was only enqueued (wait: false). */
  const execute = async (id: string, run: DirRun): Promise<boolean> => {
    if (runQueue != null) return runQueue.run(id, run);
    await runJob(run, parallel > 1);
    return true;
  };
  let enqueued = 0;
  const leaveQueued = (): void => void process.stdout.write(`${recipe.name}: ${enqueued} run(s) enqueued on ${o.queue}; the runs that depend on them are enqueued by 'lowbit run … --queue … --resume', which waits for all and writes the table\n`);
  const save = () => {
    const table = recipeTable(results, recipe.compare);
    writeJsonAtomic(resultsPath, { recipe, runs: results, table });
    writeFileAtomic(join(out, 'table.md'), `${tableMarkdown(recipeHead(recipe), table)}\n${provenanceLine(results)}\n`);
  };

  if (recipe.teacher != null && 'dir' in recipe.teacher) {
    if (!done.has('teacher') && existsSync(join(teacherDir!, 'lowbit.json'))) {
      results.push({ id: 'teacher', group: 'teacher', label: 'float teacher', dir: teacherDir!, command: `(given: ${teacherDir})`, ...readMeta(teacherDir!) });
      save();
    }
  } else if (recipe.teacher != null && !done.has('teacher')) {
    const t = recipe.teacher;
    const run: DirRun = {
      method: 'float', options: { model: t.model }, ...recipeData(recipe), dataDir: recipe.dataDir, backend: parseBackend(recipe.backend ?? 'auto'), out: teacherDir!,
      train: { epochs: t.epochs, seed: t.seed ?? 0, ...(t.lr ? { learningRate: t.lr } : {}), ...(t.batch ? { batchSize: t.batch } : {}),
        ...(t.schedule ? { schedule: { name: parseChoice(t.schedule, '/teacher/schedule', scheduleNames) } } : {}) },
      quiet: o.quiet, announce: !o.quiet,
    };
    if (!(await execute('teacher', run))) {
      enqueued++;
      return leaveQueued();
    }
    results.push({ id: 'teacher', group: 'teacher', label: 'float teacher', dir: teacherDir!, command: commandLine(run), ...readMeta(teacherDir!) });
    save();
  }
  const runAll = async (list: Job[]) => {
    const queue = list.filter((j) => !done.has(j.id));
    const worker = async () => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        // The lottery ticket takes the learned run's bits and, unless given its own, that run's lr.
        const source = job.layerBitsFrom != null ? learnedBitsOf(job.layerBitsFrom, job.seed) : null;
        const run: DirRun = source ? { ...job.run, options: { ...job.run.options, 'layer-bits': source.bits },
          train: { ...job.run.train, ...(job.lr == null && source.lr != null ? { learningRate: source.lr } : {}) } } : job.run;
        if (!(await execute(job.id, run))) {
          enqueued++;
          continue;
        }
        const dir = run.out!;
        results.push({ id: job.id, group: job.group, label: job.label, lr: job.lr, dir, command: commandLine(run), ...readMeta(dir) });
        done.add(job.id);
        save();
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  };
  /** The bits a finished learned-bits run (label, seed, at its chosen lr) fixed per layer, and its lr. */
  const learnedBitsOf = (label: string, seed: number): { bits: Record<string, number>; lr: number | null } => {
    const source = results.filter((r) => r.label === label && r.seed === seed);
    const run = source.find((r) => (r.lr ?? null) === chosenLr(results, r.group));
    if (run?.learnedBits == null) throw new LowbitError(`run '${label}' (seed ${seed}) learned no per-layer bits: give it options {"learn-bits": true, "target-bits": B}`);
    return { bits: run.learnedBits, lr: run.lr ?? null };
  };
  // Phase 1: every group's first seed at every lr (the tuning runs). Phase 2: the other seeds at
  // the lr with the best validation accuracy. Phase 3: runs whose bits come from another run.
  const firstSeed = new Map<string, number>();
  for (const j of all) if (!firstSeed.has(j.group)) firstSeed.set(j.group, j.seed);
  const independent = all.filter((j) => j.layerBitsFrom == null);
  // On a queue, the other seeds of a group with one lr (nothing to tune) are enqueued with the first.
  const oneLr = (group: string) => new Set(all.filter((j) => j.group === group).map((j) => j.lr)).size === 1;
  const early = runQueue != null ? independent.filter((j) => j.seed !== firstSeed.get(j.group) && oneLr(j.group)) : [];
  await runAll([...independent.filter((j) => j.seed === firstSeed.get(j.group)), ...early]);
  if (enqueued > 0) return leaveQueued();
  await runAll(independent.filter((j) => j.seed !== firstSeed.get(j.group) && j.lr === chosenLr(results, j.group)));
  if (enqueued > 0) return leaveQueued();
  await runAll(all.filter((j) => j.layerBitsFrom != null));
  if (enqueued > 0) return leaveQueued();
  if (recipe.export) {
    // Each row's first kept run is exported and checked in onnxruntime (verify records agreement and bytes).
    const { formats, images = 2000 } = recipe.export;
    for (const row of recipeTable(results, recipe.compare)) {
      const run = keptRuns(results, row)[0];
      const json = join(run.dir, VERIFY_JSON);
      if (existsSync(json)) continue;
      await exportCommand(run.dir, { format: formats.join(',') });
      try {
        await verifyCommand(run.dir, { format: formats.join(','), images: String(images), json, backend: recipe.backend ?? 'auto', dataDir: recipe.dataDir,
          maxDelta: '0.5', minAgreement: '0.999', ortOptimizations: 'basic' });
      } catch (e) {
        // verify fails (exit 1) when a format misses the bar; its JSON records that, and the table shows it.
        if (!(e instanceof LowbitError) || e.exitCode !== 1 || !existsSync(json)) throw e;
      }
      const verify = readVerify(run.dir);
      if (verify == null) throw new LowbitError(`lowbit verify ${run.dir} wrote no ${json}; rerun with --resume to try again`, 1);
      Object.assign(run, { verify });
      save();
    }
  }
  save();
  await useBackend(parseBackend(recipe.backend ?? 'auto'), true); // the report loads models for its weight histograms
  writeFileAtomic(join(out, 'report.html'), await recipeReport(recipeHead(recipe), results, recipeTable(results, recipe.compare),
    `lowbit ${lowbitVersion()} (${gitCommit()}), TF.js ${tf.version_core}, ${new Date().toISOString()}. Commands and per-run numbers: results.json.`));
  process.stdout.write(`${recipe.name}: ${results.length} runs in ${resultsPath}\n${readFileSync(join(out, 'table.md'), 'utf8')}`);
}

const VERIFY_JSON = join('export', 'verify.json');

/** What `lowbit verify --json` recorded for a run's exports, if it ran. */
function readVerify(dir: string): RecipeRun['verify'] {
  if (!existsSync(join(dir, VERIFY_JSON))) return undefined;
  const v = JSON.parse(readFileSync(join(dir, VERIFY_JSON), 'utf8'));
  return { images: v.images, formats: Object.fromEntries(Object.entries(v.results as Record<string, VerifyFormat>)
    .map(([f, r]) => [f, { top1Agreement: r.top1Agreement, maxAbsDelta: r.maxAbsDelta, accuracy: r.accuracy, ok: r.ok, bytes: r.bytes }])) };
}

/** The table's view of a run directory's record (typed: parseRunRecord checks it). */
function readMeta(dir: string): Omit<RecipeRun, 'id' | 'group' | 'label' | 'dir' | 'command'> {
  const m = readRunRecord(dir);
  const verify = readVerify(dir);
  const common = { method: m.method, seed: m.seed, backend: m.backend, epochs: m.epochs, wallSeconds: m.wallSeconds, trainedLr: m.learningRate, commit: m.commit, dirty: m.dirty ?? null, diffHash: m.diffHash ?? null };
  if (m.kind === 'dq') return { ...common, wbits: 32, abits: 32, dq: dqRecord(m) };
  return { ...common, wbits: m.wbits ?? 32, abits: m.abits ?? 32, valAccuracy: m.val?.accuracy ?? m.stitchedVal?.accuracy,
    testAccuracy: m.test.accuracy, sizeBytes: m.size?.bytes, floatBytes: m.size?.floatBytes,
    ...(m.learnedBits ? { learnedBits: m.learnedBits, learnedAverageBits: m.learnedAverageBits } : {}), ...(m.layerBits ? { layerBits: m.layerBits } : {}),
    ...(m.sectionSecondsSum != null ? { sectionSecondsSum: m.sectionSecondsSum } : {}),
    ...(verify ? { verify } : {}),
    ...(m.sections ? { sections: m.sections.map((s) => ({ name: s.name, loss: s.loss, testLoss: s.testLoss, seconds: s.seconds })) } : {}) };
}

/** The table's view of a DQ run's record. */
function dqRecord(m: DqRunRecord): DqRecord {
  const t = m.test;
  const c = m.correlation;
  return {
    ...(c ? { correlation: { channel: c.channelMeanAbs, spatial: c.spatialMeanAbs, neighbour: c.spatialNeighbourMeanAbs, ...(c.groupNormalizedMI != null ? { groupNMI: c.groupNormalizedMI } : {}) } } : {}),
    groups: m.dq.groups, codes: t.levels[0].codes, dimPerGroup: (m.dq.embedChannels ?? 32) / m.dq.groups, valBpd: m.val.bpdDecoder,
    bpdDecoder: t.bpdDecoder, bpdFull: t.bpdFull, mse: t.mse, perplexity: t.levels.map((l) => l.perplexity.reduce((a, b) => a + b, 0) / l.perplexity.length),
    codeBitsPerImage: t.codeBitsPerImage, codebookFloats: t.codebookFloats, params: t.params,
  };
}
