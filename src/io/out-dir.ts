/** Validating and creating output directories without leaving partial ones behind. Node-only. */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, rmSync, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LowbitError } from '../errors.js';
import { removeTempFiles, TEMP_FILE } from './atomic.js';
import { CHECKPOINT_FILE, LOG_FILE } from './checkpoint-file.js';
import { acquireRunLock, LOCK_FILE } from './run-lock.js';

/** Pseudo file systems that accept no regular files (statfs f_type), by name. */
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, 'proc'], [0x62656572, 'sysfs'], [0x64626720, 'debugfs'], [0x27e0eb, 'cgroup'], [0x63677270, 'cgroup2'],
  [0x73636673, 'securityfs'], [0xcafe4a11, 'bpf'], [0x74726163, 'tracefs'],
]);

function nearestExisting(dir: string): string {
  let p = resolve(dir);
  while (!existsSync(p)) {
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
  }
  return p;
}

/** Throws a LowbitError unless `dir` exists as a writable directory or can be created. Creates nothing. */
export function checkWritableDir(dir: string, flag = '--out'): void {
  const p = nearestExisting(dir);
  const st = statSync(p);
  if (!st.isDirectory()) throw new LowbitError(`${flag} ${dir} is not writable: ${p} is a file, not a directory; choose another ${flag}`);
  let fsType: number | null = null;
  try {
    fsType = statfsSync(p).type;
  } catch {
    // statfs unavailable: the write checks below still apply
  }
  const pseudo = fsType != null ? PSEUDO_FS.get(fsType) : undefined;
  if (pseudo) throw new LowbitError(`${flag} ${dir} is not writable: ${p} is on the ${pseudo} pseudo file system, which holds no files; choose another ${flag}`);
  try {
    accessSync(p, constants.W_OK);
  } catch {
    throw new LowbitError(`${flag} ${dir} is not writable (no write permission on ${p}); choose another ${flag}`);
  }
}

/** Throws a LowbitError unless the file `path` can be written (its directory writable, not a directory itself). Creates nothing. */
export function checkWritableFile(path: string, flag: string): void {
  if (existsSync(path) && statSync(path).isDirectory()) throw new LowbitError(`${flag} ${path} is a directory; name a file to write`);
  const parent = dirname(resolve(path));
  checkWritableDir(parent, flag);
  if (!existsSync(parent)) throw new LowbitError(`${flag} ${path}: its directory ${parent} does not exist; create it or name a file in an existing directory`);
}

/**
 * mkdir -p without `mkdirSync(…, { recursive: true })`, which never returns for some paths on
 * pseudo file systems (a parent that exists yet refuses children with ENOENT makes it retry forever).
 * Creates each missing component in turn; any failure is a LowbitError naming the path.
 */
export function makeDirs(dir: string, flag = '--out'): void {
  const target = resolve(dir);
  const missing: string[] = [];
  for (let p = target; !existsSync(p); p = dirname(p)) {
    missing.unshift(p);
    if (dirname(p) === p) break;
  }
  for (const p of missing) {
    try {
      mkdirSync(p);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && statSync(p).isDirectory()) continue;
      throw new LowbitError(`${flag} ${dir} cannot be created (${code ?? (e as Error).message} on ${p}); choose another ${flag}`);
    }
  }
  if (!statSync(target).isDirectory()) throw new LowbitError(`${flag} ${dir} is a file, not a directory; choose another ${flag}`);
}

/**
 * Creates `dir` and locks it for this process (a second writer gets a LowbitError naming this
 * one); removes temp files a killed run left. Returns whether it was created (so a failed run
 * can remove it).
 */
export function createDir(dir: string, flag = '--out'): boolean {
  const existed = existsSync(dir);
  makeDirs(dir, flag);
  acquireRunLock(dir, flag);
  removeTempFiles(dir);
  return !existed;
}

/** Removes a directory this run created if it is still empty or holds nothing worth keeping. */
export function removeIfCreated(dir: string, created: boolean, keep: (names: string[]) => boolean): void {
  if (!created || !existsSync(dir)) return;
  if (!keep(readdirSync(dir).filter((n) => n !== LOCK_FILE && !n.startsWith(`${LOCK_FILE}.`)))) rmSync(dir, { recursive: true, force: true });
}

/**
 * Whether a run directory holds nothing a run could continue from or that is worth keeping:
 * it is empty, or holds only what a run killed before its first checkpoint leaves (temp files,
 * a lock, a partial log). Such a directory can be (re)started in place.
 */
export function isRestartable(dir: string): boolean {
  if (!existsSync(dir)) return true;
  if (!statSync(dir).isDirectory()) throw new LowbitError(`--out ${dir} is a file, not a directory; choose another --out`);
  const names = readdirSync(dir);
  if (names.includes(CHECKPOINT_FILE)) return false;
  return names.every((n) => n === LOCK_FILE || n.startsWith(`${LOCK_FILE}.`) || n === LOG_FILE || TEMP_FILE.test(n));
}
