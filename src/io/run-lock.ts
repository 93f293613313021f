/**
 * One writer per run directory: `.lowbit.lock` holds the owner's pid while a process writes the
 * directory. A lock whose process is gone (killed, crashed) is stale and taken over; a live one
 * makes a second writer fail with a LowbitError naming the owner. Released when the process exits.
 * Node-only.
 */
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
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

/**
 * Creates the lock holding this process's pid, atomically (a temp file hard-linked into place:
 * the link fails if a lock exists, and a lock is never seen empty). Returns false if one exists.
 */
function tryCreate(path: string): boolean {
  const tmp = `${path}.${process.pid}.new`;
  writeFileSync(tmp, `${process.pid}\n`);
  try {
    linkSync(tmp, path);
    return true;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw e;
    // No hard links on this file system: exclusive create, then write (a reader may briefly see it empty).
    try {
      writeFileSync(path, `${process.pid}\n`, { flag: 'wx' });
      return true;
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e2;
    }
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Removes a lock whose owner `dead` is gone. It is renamed aside first, so if another process
 * took it over in the meantime (the file then names a live pid), its lock is put back.
 */
function removeStale(path: string, dead: number | null): void {
  const aside = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else removed it
    throw e;
  }
  const owner = ownerOf(aside);
  if (owner !== dead && owner != null && alive(owner)) {
    try {
      linkSync(aside, path);
    } catch {
      // a third process holds the lock now; the loop sees it
    }
  }
  rmSync(aside, { force: true });
}

/** Locks `dir` (which must exist) for this process until it exits or releaseRunLock(dir). Re-entrant. */
export function acquireRunLock(dir: string, flag = '--out'): void {
  const path = join(resolve(dir), LOCK_FILE);
  if (held.has(path)) return;
  let locked = false;
  for (let attempt = 0; attempt < 5 && !locked; attempt++) {
    try {
      locked = tryCreate(path);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new LowbitError(`${flag} ${dir} cannot be locked (${code ?? (e as Error).message} on ${path}); choose another ${flag}`);
    }
    if (locked) break;
    const owner = ownerOf(path);
    if (owner === process.pid) {
      locked = true; // another thread of this process (a worker) holds it
      break;
    }
    if (owner != null && alive(owner)) {
      throw new LowbitError(`${dir} is being written by process ${owner}; wait for it to finish or choose another ${flag}`);
    }
    removeStale(path, owner); // its writer is gone (killed, crashed)
  }
  if (!locked || ownerOf(path) !== process.pid) {
    const owner = ownerOf(path);
    throw new LowbitError(`${dir} is being written by ${owner != null ? `process ${owner}` : 'another process'}; wait for it to finish or choose another ${flag}`);
  }
  held.add(path);
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => {
      for (const p of held) if (ownerOf(p) === process.pid) rmSync(p, { force: true });
    });
  }
}
