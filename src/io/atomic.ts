/**
 * Atomic file writes: write a temp file (`NAME.PID.tmp`) in the same directory, fsync, rename over
 * the target. Node-only.
 *
 * Fault injection for crash tests: `LOWBIT_FAULT=PHASE:NAME:N` kills this process with SIGKILL at
 * the Nth atomic write of a file whose base name is NAME. PHASE is `write` (the temp file is
 * written and synced, not yet renamed: the target keeps its old contents) or `rename` (just after
 * the rename: the new contents are in place and nothing after this write ran).
 */
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, join } from 'node:path';

interface Fault { phase: 'write' | 'rename'; name: string; nth: number }

function parseFault(spec: string | undefined): Fault | null {
  const m = /^(write|rename):([^:]+):(\d+)$/.exec(spec ?? '');
  return m ? { phase: m[1] as Fault['phase'], name: m[2], nth: Number(m[3]) } : null;
}

const fault = parseFault(process.env.LOWBIT_FAULT);
let faultCount = 0;

function maybeFault(phase: Fault['phase'], path: string): void {
  if (fault == null || basename(path) !== fault.name) return;
  if (phase === 'write') faultCount++; // counts writes of the file; 'rename' fires after the same write
  if (fault.phase === phase && faultCount === fault.nth) process.kill(process.pid, 'SIGKILL');
}

export function writeFileAtomic(path: string, data: Uint8Array | string | Array<Uint8Array>): void {
  const tmp = `${path}.${process.pid}.tmp`;
  const parts = Array.isArray(data) ? data : [typeof data === 'string' ? Buffer.from(data) : data];
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const p of parts) {
        let off = 0;
        while (off < p.byteLength) off += writeSync(fd, p, off, p.byteLength - off);
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    maybeFault('write', path);
    renameSync(tmp, path);
    maybeFault('rename', path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** A temp file left by writeFileAtomic (`NAME.PID.tmp`). */
export const TEMP_FILE = /\.\d+\.tmp$/;

/**
 * Removes the temp files a killed writer left in `dir` (not recursive). Call it only while holding
 * the directory's run lock, so no live writer owns them.
 */
export function removeTempFiles(dir: string): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) if (TEMP_FILE.test(name)) rmSync(join(dir, name), { recursive: true, force: true });
}
