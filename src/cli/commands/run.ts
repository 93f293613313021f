/**
 * `lowbit run RECIPE.json [--resume]`: an experiment as a JSON file, validated against
 * recipes/recipe.schema.json (ajv) with errors that point at the offending field. Each run is a
 * lowbit CLI job in its own process (`parallel` at a time): `quantize` of the teacher, `train`
 * (method float) or `dq train` (method dq); each finished run is appended to OUT/results.json
 * atomically, so a crash keeps the finished runs and --resume skips them. With `export`, each
 * row's first kept run is then exported and verified (`lowbit export`, `lowbit verify --json`).
 * A list of learning rates is tuned on the validation split with the first seed; the other
 * seeds run at the winner. The results table (OUT/table.md, and `table` in results.json) is
 * what the README shows; OUT/report.html plots it. Node-only.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { LowbitError } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { createDir } from '../../io/out-dir.js';
import { writeJsonAtomic } from '../../io/model-dir.js';
import { chosenLr, DqRecord, keptRuns, recipeTable, RunRecord, tableMarkdown, VerifyFormat } from '../../report/recipe-table.js';
import type { DqEvaluation } from '../../methods/dq/run.js';
import { recipeReport } from '../../report/recipe-report.js';
import { gitCommit, lowbitVersion } from '../../io/run-info.js';
import * as tf from '../../backend/tf.js';
import { parseBackend, useBackend } from '../backend-choice.js';

const here = dirname(fileURLToPath(import.meta.url));
export const RECIPE_SCHEMA_PATH = join(here, '..', '..', '..', '..', 'recipes', 'recipe.schema.json');
const CLI = join(here, '..', 'main.js');

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
  dataset: string;
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
  recipe.runs.forEach((r, i) => {
    if (kindOf(r) === 'quantize') {
      if (recipe.teacher == null) throw invalid(`/runs/${i} (${r.method}) quantizes a float model: add /teacher ({"model": …, "epochs": …} or {"dir": …})`);
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

/** One job: a group (everything but seed and lr) at one seed and one lr. */
interface Job { id: string; group: string; label: string; seed: number; lr: number | null; args: string[]; layerBitsFrom?: string; backend?: string }

const rowLabel = (r: RunSpec) => r.label ?? r.method;
/** float: `lowbit train`; dq: `lowbit dq train`; every other method: `lowbit quantize` of the teacher. */
const kindOf = (r: RunSpec): 'train' | 'dq' | 'quantize' => (r.method === 'float' ? 'train' : r.method === 'dq' ? 'dq' : 'quantize');

/** The command and its first flags for one run kind, and the start of its group key. */
function baseArgs(recipe: Recipe, r: RunSpec, w: number, a: number): { args: string[]; key: string[] } {
  switch (kindOf(r)) {
    case 'train': {
      const model = r.model ?? (recipe.teacher as { model: string }).model;
      return { args: ['train', '--model', model, '--dataset', recipe.dataset, '--epochs', String(r.epochs)], key: ['float', model] };
    }
    case 'dq': return { args: ['dq', 'train', '--dataset', recipe.dataset, '--epochs', String(r.epochs)], key: ['dq'] };
    default: return {
      args: ['quantize', '--method', r.method, '--wbits', String(w), '--abits', String(a),
        r.method === 'dcq' ? '--epochs-per-section' : r.method === 'bitat' ? '--epochs-per-layer' : '--epochs', String(r.epochs)],
      key: [`${r.method}`, `w${w}a${a}`],
    };
  }
}

/** Every flag of a run but seed, lr, teacher and out; the group key is derived from them. */
function groupArgs(recipe: Recipe, r: RunSpec, w: number, a: number): { key: string; args: string[] } {
  const { args, key } = baseArgs(recipe, r, w, a);
  const add = (flag: string, value: OptionValue | undefined, tag: string) => {
    if (value == null || value === false) return;
    args.push(`--${flag}`, ...(value === true ? [] : [String(value)]));
    key.push(value === true ? tag : `${tag}${value}`);
  };
  add('dropbits', r.dropbits, 'db');
  add('temperature', r.temperature, 't');
  add('train-subset', r.trainSubset, 'n');
  add('bn-recal', r.bnRecal, 'bn');
  for (const [flag, value] of Object.entries(r.options ?? {})) add(flag, value, flag.replace(/[^a-z0-9]/gi, ''));
  key.push(`e${r.epochs}`);
  add('batch', r.batch, 'b');
  add('max-steps', r.maxSteps, 'max');
  if (r.backend != null) key.push(r.backend); // the flag itself goes with the common ones
  return { key: key.join('-'), args };
}

function jobs(recipe: Recipe, out: string, teacherDir: string | null): Job[] {
  const list: Job[] = [];
  for (const r of recipe.runs) {
    const pairs = kindOf(r) !== 'quantize' ? [[32, 32] as [number, number]] : r.bits ?? r.wbits!.flatMap((w) => (r.abits ?? [32]).map((a) => [w, a] as [number, number]));
    const lrs = r.lr == null ? [null] : Array.isArray(r.lr) ? r.lr : [r.lr];
    const teacher = kindOf(r) === 'quantize' ? ['--teacher', teacherDir!] : [];
    for (const [w, a] of pairs) {
      const { key, args } = groupArgs(recipe, r, w, a);
      for (const seed of r.seeds ?? [0]) for (const lr of lrs) {
        const id = `${key}${lr != null ? `-lr${lr}` : ''}-s${seed}`;
        list.push({ id, group: key, label: rowLabel(r), seed, lr, layerBitsFrom: r.layerBitsFrom, backend: r.backend,
          args: [...args, ...teacher, '--seed', String(seed), ...(lr != null ? ['--lr', String(lr)] : []), '--out', join(out, id)] });
      }
    }
  }
  const ids = list.map((j) => j.id);
  const dup = ids.find((id, i) => ids.indexOf(id) !== i);
  if (dup) throw new LowbitError(`the recipe lists run ${dup} twice: give the runs different settings`);
  return list;
}

/** Runs `lowbit ARGS` in a child process; `threads` OpenMP threads for the native backend; resolves to the exit code if `allowed`. */
function lowbit(args: string[], common: string[], threads: number, allowed = [0]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args, ...common], { stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, OMP_NUM_THREADS: String(threads) } });
    child.on('exit', (code) => (code != null && allowed.includes(code) ? resolve(code)
      : reject(new LowbitError(`lowbit ${args.join(' ')} failed (exit ${code}); rerun with --resume to continue`, 1))));
  });
}

export async function runCommand(file: string, o: { out?: string; resume?: boolean; quiet?: boolean }): Promise<void> {
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
  createDir(out);
  // Finished runs are re-read from their lowbit.json, so a resumed table has every current field.
  const results: RunRecord[] = (existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')).runs as RunRecord[] : [])
    .map((r) => (existsSync(join(r.dir, 'lowbit.json')) ? { ...r, ...readMeta(r.dir) } : r));
  const done = new Set(results.map((r) => r.id));
  const parallel = recipe.parallel ?? 1;
  const threads = Math.max(1, Math.floor(cpus().length / parallel));
  // Flags every job gets: its backend, the data dir, and --quiet (which lowbit verify does not take).
  const commonFor = (backend?: string, quiet = o.quiet) => ['--backend', backend ?? recipe.backend ?? 'auto', ...(recipe.dataDir ? ['--data-dir', recipe.dataDir] : []), ...(quiet ? ['--quiet'] : [])];
  const common = commonFor();
  const save = () => {
    const table = recipeTable(results, recipe.compare);
    writeJsonAtomic(resultsPath, { recipe, runs: results, table });
    writeFileAtomic(join(out, 'table.md'), tableMarkdown(recipe, table));
  };

  let teacherDir: string | null = null;
  if (recipe.teacher == null) {
    // No teacher: float and DQ runs train from scratch.
  } else if ('dir' in recipe.teacher) {
    teacherDir = recipe.teacher.dir;
    if (!existsSync(join(teacherDir, 'model.json'))) throw new LowbitError(`${file}: /teacher/dir ${teacherDir} holds no model.json: train it first (lowbit train) or give the teacher as {model, epochs}`);
    if (!done.has('teacher') && existsSync(join(teacherDir, 'lowbit.json'))) {
      results.push({ id: 'teacher', group: 'teacher', label: 'float teacher', dir: teacherDir, command: `(given: ${teacherDir})`, ...readMeta(teacherDir) });
      save();
    }
  } else {
    const t = recipe.teacher;
    teacherDir = join(out, 'teacher');
    if (!done.has('teacher')) {
      const args = ['train', '--model', t.model, '--dataset', recipe.dataset, '--epochs', String(t.epochs), '--seed', String(t.seed ?? 0),
        ...(t.lr ? ['--lr', String(t.lr)] : []), ...(t.batch ? ['--batch', String(t.batch)] : []), ...(t.schedule ? ['--schedule', t.schedule] : []),
        '--out', teacherDir];
      await lowbit([...args, ...(existsSync(join(teacherDir, 'checkpoint.lbck')) ? ['--resume'] : [])], common, cpus().length);
      results.push({ id: 'teacher', group: 'teacher', label: 'float teacher', dir: teacherDir, command: `lowbit ${args.join(' ')}`, ...readMeta(teacherDir) });
      save();
    }
  }
  const all = jobs(recipe, out, teacherDir);
  const runAll = async (list: Job[]) => {
    const queue = list.filter((j) => !done.has(j.id));
    const worker = async () => {
      for (let job = queue.shift(); job; job = queue.shift()) {
        const dir = job.args[job.args.indexOf('--out') + 1];
        // The lottery ticket takes the learned run's bits and, unless given its own, that run's lr.
        const source = job.layerBitsFrom != null ? learnedBitsOf(job.layerBitsFrom, job.seed) : null;
        const layerBits = source ? ['--layer-bits', source.bits, ...(job.lr == null && source.lr != null ? ['--lr', String(source.lr)] : [])] : [];
        await lowbit([...job.args, ...layerBits, ...(existsSync(join(dir, 'checkpoint.lbck')) ? ['--resume'] : [])], commonFor(job.backend), threads);
        results.push({ id: job.id, group: job.group, label: job.label, lr: job.lr, dir, command: `lowbit ${[...job.args, ...layerBits, ...(job.backend ? ['--backend', job.backend] : [])].join(' ')}`, ...readMeta(dir) });
        done.add(job.id);
        save();
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  };
  /** The bits a finished learned-bits run (label, seed, at its chosen lr) fixed per layer, as name=b,…, and its lr. */
  const learnedBitsOf = (label: string, seed: number): { bits: string; lr: number | null } => {
    const source = results.filter((r) => r.label === label && r.seed === seed);
    const run = source.find((r) => (r.lr ?? null) === chosenLr(results, r.group));
    if (run?.learnedBits == null) throw new LowbitError(`run '${label}' (seed ${seed}) learned no per-layer bits: give it options {"learn-bits": true, "target-bits": B}`);
    return { bits: Object.entries(run.learnedBits).map(([k, v]) => `${k}=${v}`).join(','), lr: run.lr ?? null };
  };
  // Phase 1: every group's first seed at every lr (the tuning runs). Phase 2: the other seeds at
  // the lr with the best validation accuracy. Phase 3: runs whose bits come from another run.
  const firstSeed = new Map<string, number>();
  for (const j of all) if (!firstSeed.has(j.group)) firstSeed.set(j.group, j.seed);
  const independent = all.filter((j) => j.layerBitsFrom == null);
  await runAll(independent.filter((j) => j.seed === firstSeed.get(j.group)));
  await runAll(independent.filter((j) => j.seed !== firstSeed.get(j.group) && j.lr === chosenLr(results, j.group)));
  await runAll(all.filter((j) => j.layerBitsFrom != null));
  if (recipe.export) {
    // Each row's first kept run is exported and checked in onnxruntime (verify records agreement and bytes).
    const { formats, images = 2000 } = recipe.export;
    for (const row of recipeTable(results, recipe.compare)) {
      const run = keptRuns(results, row)[0];
      const json = join(run.dir, VERIFY_JSON);
      if (existsSync(json)) continue;
      await lowbit(['export', run.dir, '--format', formats.join(',')], [], threads);
      // verify exits 1 when a format misses the bar; its JSON records that, and the table shows it.
      await lowbit(['verify', run.dir, '--format', formats.join(','), '--images', String(images), '--json', json], commonFor(undefined, false), cpus().length, [0, 1]);
      const verify = readVerify(run.dir);
      if (verify == null) throw new LowbitError(`lowbit verify ${run.dir} exited without writing ${json}; rerun with --resume to try again`, 1);
      Object.assign(run, { verify });
      save();
    }
  }
  save();
  await useBackend(parseBackend(recipe.backend ?? 'auto'), true); // the report loads models for its weight histograms
  writeFileAtomic(join(out, 'report.html'), await recipeReport(recipe, results, recipeTable(results, recipe.compare),
    `lowbit ${lowbitVersion()} (${gitCommit()}), TF.js ${tf.version_core}, ${new Date().toISOString()}. Commands and per-run numbers: results.json.`));
  process.stdout.write(`${recipe.name}: ${results.length} runs in ${resultsPath}\n${readFileSync(join(out, 'table.md'), 'utf8')}`);
}

const VERIFY_JSON = join('export', 'verify.json');

/** What `lowbit verify --json` recorded for a run's exports, if it ran. */
function readVerify(dir: string): RunRecord['verify'] {
  if (!existsSync(join(dir, VERIFY_JSON))) return undefined;
  const v = JSON.parse(readFileSync(join(dir, VERIFY_JSON), 'utf8'));
  return { images: v.images, formats: Object.fromEntries(Object.entries(v.results as Record<string, VerifyFormat>)
    .map(([f, r]) => [f, { top1Agreement: r.top1Agreement, maxAbsDelta: r.maxAbsDelta, accuracy: r.accuracy, ok: r.ok, bytes: r.bytes }])) };
}

function readMeta(dir: string): Omit<RunRecord, 'id' | 'group' | 'label' | 'dir' | 'command'> {
  const m = JSON.parse(readFileSync(join(dir, 'lowbit.json'), 'utf8'));
  const verify = readVerify(dir);
  if (m.kind === 'dq') return { method: 'dq', wbits: 32, abits: 32, seed: m.seed, backend: m.backend, epochs: m.epochs, wallSeconds: m.wallSeconds, trainedLr: m.learningRate, commit: m.commit, dq: dqRecord(m) };
  return { method: m.method ?? 'float', wbits: m.wbits ?? 32, abits: m.abits ?? 32, seed: m.seed, backend: m.backend, valAccuracy: m.val?.accuracy ?? m.stitchedVal?.accuracy,
    testAccuracy: m.test?.accuracy, wallSeconds: m.wallSeconds, sizeBytes: m.size?.bytes, floatBytes: m.size?.floatBytes, trainedLr: m.learningRate, commit: m.commit,
    ...(m.learnedBits ? { learnedBits: m.learnedBits, learnedAverageBits: m.learnedAverageBits } : {}), ...(m.layerBits ? { layerBits: m.layerBits } : {}),
    epochs: m.method === 'dcq' ? m.epochsPerSection : m.epochs,
    ...(m.sectionSecondsSum != null ? { sectionSecondsSum: m.sectionSecondsSum } : {}),
    ...(verify ? { verify } : {}),
    ...(Array.isArray(m.sections) ? { sections: m.sections.map((s: { name: string; loss: string; testLoss: number; seconds: number }) => ({ name: s.name, loss: s.loss, testLoss: s.testLoss, seconds: s.seconds })) } : {}) };
}

interface DqCorrelation { channelMeanAbs: number; spatialMeanAbs: number; spatialNeighbourMeanAbs: number; groupNormalizedMI?: number | null }

/** The table's view of a `lowbit dq train` lowbit.json. */
function dqRecord(m: { dq: { groups: number; embedChannels?: number }; val: DqEvaluation; test: DqEvaluation; correlation?: DqCorrelation }): DqRecord {
  const t = m.test;
  const c = m.correlation;
  return {
    ...(c ? { correlation: { channel: c.channelMeanAbs, spatial: c.spatialMeanAbs, neighbour: c.spatialNeighbourMeanAbs, ...(c.groupNormalizedMI != null ? { groupNMI: c.groupNormalizedMI } : {}) } } : {}),
    groups: m.dq.groups, codes: t.levels[0].codes, dimPerGroup: (m.dq.embedChannels ?? 32) / m.dq.groups, valBpd: m.val.bpdDecoder,
    bpdDecoder: t.bpdDecoder, bpdFull: t.bpdFull, mse: t.mse, perplexity: t.levels.map((l) => l.perplexity.reduce((a, b) => a + b, 0) / l.perplexity.length),
    codeBitsPerImage: t.codeBitsPerImage, codebookFloats: t.codebookFloats, params: t.params,
  };
}
