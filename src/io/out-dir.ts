/** Validating and creating output directories without leaving partial ones behind. Node-only. */
import { accessSync, constants, existsSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LowbitError } from '../errors.js';

/** Throws a LowbitError unless `dir` exists as a writable directory or can be created. Creates nothing. */
export function checkWritableDir(dir: string, flag = '--out'): void {
  let p = resolve(dir);
  while (!existsSync(p)) {
    const parent = dirname(p);
    if (parent === p) break;
    p = parent;
  }
  const st = statSync(p);
  if (!st.isDirectory()) throw new LowbitError(`${flag} ${dir} is not writable: ${p} is a file, not a directory; choose another ${flag}`);
  try {
    accessSync(p, constants.W_OK);
  } catch {
    throw new LowbitError(`${flag} ${dir} is not writable (no write permission on ${p}); choose another ${flag}`);
  }
}

/** Creates `dir`; returns whether it was created (so a failed run can remove it). */
export function createDir(dir: string, flag = '--out'): boolean {
  const existed = existsSync(dir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new LowbitError(`${flag} ${dir} cannot be created (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); choose another ${flag}`);
  }
  return !existed;
}

/** Removes a directory this run created if it is still empty or holds nothing worth keeping. */
export function removeIfCreated(dir: string, created: boolean, keep: (names: string[]) => boolean): void {
  if (!created || !existsSync(dir)) return;
  if (!keep(readdirSync(dir))) rmSync(dir, { recursive: true, force: true });
}
