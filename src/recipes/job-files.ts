/**
 * Files that travel in a queue job, for workers that do not share the coordinator's disks: the
 * teacher's model (model.json, its weight files and lowbit.json) goes out with the job, and the
 * finished run directory comes back in the job's result. Files are base64 in the job's JSON (BullMQ
 * stores jobs as JSON in Redis); lowbit's models are a few MB at most. Node-only.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import { LowbitError } from '../errors.js';
import { writeFileAtomic, TEMP_FILE } from '../io/atomic.js';
import { modelJsonPath } from '../io/model-dir.js';

/** Relative path → base64 contents. */
export type FileSet = Record<string, string>;

/** A largest total a job carries; past it the files must be shared by path instead. */
export const MAX_JOB_FILE_BYTES = 256 * 1024 * 1024;

function checkSize(files: FileSet, what: string): FileSet {
  const bytes = Object.values(files).reduce((n, b) => n + Math.floor((b.length * 3) / 4), 0);
  if (bytes > MAX_JOB_FILE_BYTES) throw new LowbitError(`${what} is ${(bytes / 2 ** 20).toFixed(0)} MiB, more than a queue job carries (${MAX_JOB_FILE_BYTES / 2 ** 20} MiB): share it by path with every worker (docs/sweeps.md)`);
  return files;
}

/** The teacher's files (model.json, the weight files it lists, lowbit.json if present), keyed by file name. */
export function teacherFiles(teacher: string): FileSet {
  const { dir, file } = modelJsonPath(teacher);
  const files: FileSet = {};
  const json = readFileSync(file);
  files['model.json'] = json.toString('base64');
  const manifest = (JSON.parse(json.toString('utf8')) as { weightsManifest?: Array<{ paths: string[] }> }).weightsManifest ?? [];
  for (const p of manifest.flatMap((g) => g.paths)) {
    if (isAbsolute(p) || normalize(p).split(sep).includes('..')) throw new LowbitError(`${file}: weight path '${p}' is outside the model's directory; a queue job carries only the files in it`);
    files[p] = readFileSync(join(dir, p)).toString('base64');
  }
  if (existsSync(join(dir, 'lowbit.json'))) files['lowbit.json'] = readFileSync(join(dir, 'lowbit.json')).toString('base64');
  return checkSize(files, `the teacher ${teacher}`);
}

/** A name for a file set: the sha256 of its names and contents. */
export function fileSetHash(files: FileSet): string {
  const h = createHash('sha256');
  for (const name of Object.keys(files).sort()) h.update(name).update('\0').update(files[name]).update('\0');
  return h.digest('hex').slice(0, 16);
}

/**
 * Writes `files` into `dir` (created), each atomically, lowbit.json last: a reader that finds
 * lowbit.json finds the rest.
 */
export function writeFileSet(dir: string, files: FileSet): void {
  const names = Object.keys(files).sort((a, b) => Number(a === 'lowbit.json') - Number(b === 'lowbit.json'));
  for (const name of names) {
    if (name.split(/[\\/]/).includes('..') || name.startsWith('/')) throw new LowbitError(`a queue job names the file '${name}' outside its directory`);
    const path = join(dir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileAtomic(path, Buffer.from(files[name], 'base64'));
  }
}

/** A finished run directory's files (recursively), without its checkpoint, lock and temp files. */
export function runDirFiles(dir: string): FileSet {
  const files: FileSet = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const path = join(d, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (!/^checkpoint\.lbck$|^\.lowbit\.lock$/.test(name) && !TEMP_FILE.test(name)) files[relative(dir, path).split(sep).join('/')] = readFileSync(path).toString('base64');
    }
  };
  walk(dir);
  return checkSize(files, `the run ${dir}`);
}
