/** Atomic file writes: write a temp file in the same directory, fsync, rename over the target. Node-only. */
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';

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
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
