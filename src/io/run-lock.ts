/**
 * One writer per run directory: `.lowbit.lock` holds the owner's pid while a process writes the
 * directory. A lock whose process is gone (killed, crashed) is stale and taken over; a live one
 * makes a second writer fail with a LowbitError naming the owner. Released when the process exits.
 * Node-only.
 */
import { closeSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LowbitError } from '../errors.js';

export const LOCK_FILE = '.lowbit.lock';

const held = new Set<string>();
let exitHook = false;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerOf(path: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

/** Releases a lock this process holds on `dir` (a no-op otherwise). */
export function releaseRunLock(dir: string): void {
  const path = join(resolve(dir), LOCK_FILE);
  if (!held.delete(path)) return;
  if (ownerOf(path) === process.pid) rmSync(path, { force: true });
}

/** Locks `dir` (which must exist) for this process until it exits or releaseRunLock(dir). Re-entrant. */
export function acquireRunLock(dir: string, flag = '--out'): void {
  const path = join(resolve(dir), LOCK_FILE);
  if (held.has(path)) return;
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new LowbitError(`${flag} ${dir} cannot be locked (${code ?? (e as Error).message} on ${path}); choose another ${flag}`);
      const owner = ownerOf(path);
      if (owner === process.pid) break;
      if (owner != null && alive(owner)) {
        throw new LowbitError(`${dir} is being written by process ${owner}; wait for it to finish or choose another ${flag}`);
      }
      // Stale (its writer is gone) or half-written: take it over.
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    break;
  }
  if (ownerOf(path) !== process.pid) throw new LowbitError(`${dir} is being written by another process; wait for it to finish or choose another ${flag}`);
  held.add(path);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const p of held) if (ownerOf(p) === process.pid) rmSync(p, { force: true });
    });
  }
}
