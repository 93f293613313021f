/**
 * `lowbit run RECIPE.json [--resume]`: an experiment as a JSON file, validated against
 * recipes/recipe.schema.json (ajv) with errors that point at the offending field. Each run is a
 * lowbit CLI job in its own process; each finished run is appended to OUT/results.json
 * atomically, so a crash keeps the finished runs and --resume skips them. Node-only.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { LowbitError } from '../../errors.js';
import { createDir } from '../../io/out-dir.js';
import { writeJsonAtomic } from '../../io/model-dir.js';

const here = dirname(fileURLToPath(import.meta.url));
export const RECIPE_SCHEMA_PATH = join(here, '..', '..', '..', '..', 'recipes', 'recipe.schema.json');
const CLI = join(here, '..', 'main.js');

interface RunSpec { method: string; wbits: number[]; abits?: number[]; epochs: number; lr?: number; batch?: number; seeds?: number[]; dropbits?: number; maxSteps?: number }
export interface Recipe {
  name: string;
  dataset: string;
  dataDir?: string;
  backend?: string;
  teacher: { dir: string } | { model: string; epochs: number; lr?: number; batch?: number; seed?: number };
  runs: RunSpec[];
}

/** Validates a recipe; the error lists each offending field by its JSON path. */
export function validateRecipe(value: unknown, where: string): Recipe {
  const ajv = new Ajv({ allErrors: true, useDefaults: true });
  const validate = ajv.compile(JSON.parse(readFileSync(RECIPE_SCHEMA_PATH, 'utf8')));
  if (!validate(value)) {
    const problems = (validate.errors ?? []).filter((e) => e.keyword !== 'oneOf' && e.keyword !== 'if')
      .map((e) => `${e.instancePath || '(root)'} ${e.message}${e.keyword === 'enum' ? ` (${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')})` : ''}${e.keyword === 'additionalProperties' ? ` '${(e.params as { additionalProperty: string }).additionalProperty}'` : ''}`);
    throw new LowbitError(`${where} is not a valid recipe: ${[...new Set(problems)].join('; ')}`);
  }
  return value as Recipe;
}

interface Job { id: string; args: string[] }

function jobs(recipe: Recipe, out: string, teacherDir: string): Job[] {
  const list: Job[] = [];
  for (const r of recipe.runs) for (const w of r.wbits) for (const a of r.abits ?? [32]) for (const seed of r.seeds ?? [0]) {
    const id = `${r.method}-w${w}a${a}${r.dropbits ? `-db${r.dropbits}` : ''}-e${r.epochs}${r.lr ? `-lr${r.lr}` : ''}-s${seed}`;
    const args = ['quantize', '--method', r.method, '--teacher', teacherDir, '--wbits', String(w), '--abits', String(a),
      r.method === 'dcq' ? '--epochs-per-section' : '--epochs', String(r.epochs), '--seed', String(seed), '--out', join(out, id)];
    if (r.lr) args.push('--lr', String(r.lr));
    if (r.batch) args.push('--batch', String(r.batch));
    if (r.dropbits) args.push('--dropbits', String(r.dropbits));
    if (r.maxSteps) args.push('--max-steps', String(r.maxSteps));
    list.push({ id, args });
  }
  return list;
}

function lowbit(args: string[], common: string[]): void {
  const r = spawnSync(process.execPath, [CLI, ...args, ...common], { stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new LowbitError(`lowbit ${args.join(' ')} failed (exit ${r.status}); rerun with --resume to continue`, 1);
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
  const results: Array<Record<string, unknown>> = existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')).runs : [];
  const done = new Set(results.map((r) => r.id as string));
  const common = ['--backend', recipe.backend ?? 'auto', ...(recipe.dataDir ? ['--data-dir', recipe.dataDir] : []), ...(o.quiet ? ['--quiet'] : [])];
  const save = () => writeJsonAtomic(resultsPath, { recipe, runs: results });

  let teacherDir: string;
  if ('dir' in recipe.teacher) {
    teacherDir = recipe.teacher.dir;
  } else {
    const t = recipe.teacher;
    teacherDir = join(out, 'teacher');
    if (!done.has('teacher')) {
      lowbit(['train', '--model', t.model, '--dataset', recipe.dataset, '--epochs', String(t.epochs), '--seed', String(t.seed ?? 0),
        ...(t.lr ? ['--lr', String(t.lr)] : []), ...(t.batch ? ['--batch', String(t.batch)] : []), '--out', teacherDir,
        ...(existsSync(join(teacherDir, 'checkpoint.lbck')) ? ['--resume'] : [])], common);
      results.push({ id: 'teacher', dir: teacherDir, ...readMeta(teacherDir) });
      save();
    }
  }
  for (const job of jobs(recipe, out, teacherDir)) {
    if (done.has(job.id)) continue;
    const dir = job.args[job.args.indexOf('--out') + 1];
    lowbit([...job.args, ...(existsSync(dir) ? ['--resume'] : [])], common);
    results.push({ id: job.id, dir, command: `lowbit ${job.args.join(' ')}`, ...readMeta(dir) });
    save();
  }
  save();
  process.stdout.write(`${recipe.name}: ${results.length} runs in ${resultsPath}\n`);
}

function readMeta(dir: string): Record<string, unknown> {
  const m = JSON.parse(readFileSync(join(dir, 'lowbit.json'), 'utf8'));
  return { method: m.method ?? 'float', wbits: m.wbits ?? 32, abits: m.abits ?? 32, seed: m.seed, testAccuracy: m.test?.accuracy, wallSeconds: m.wallSeconds, sizeBytes: m.size?.bytes, commit: m.commit };
}
