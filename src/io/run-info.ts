/** Facts about this lowbit build for metadata files: package version, git commit and dirty state. Node-only. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

export function lowbitVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

export function gitCommit(): string {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: packageRoot, stdio: ['ignore', 'pipe', 'ignore'] })
      .toString().trim();
  } catch {
    return 'unknown';
  }
}

/** Whether the checkout has uncommitted changes to tracked files, and a hash of them (null outside a git checkout). */
export function workingTreeState(): { dirty: boolean | null; diffHash: string | null } {
  try {
    const diff = execFileSync('git', ['diff', 'HEAD'], { cwd: packageRoot, stdio: ['ignore', 'pipe', 'ignore'], maxBuffer: 256 * 2 ** 20 });
    if (diff.length === 0) return { dirty: false, diffHash: null };
    return { dirty: true, diffHash: createHash('sha256').update(diff).digest('hex').slice(0, 16) };
  } catch {
    return { dirty: null, diffHash: null };
  }
}

/** Provenance for a run record: version, commit, dirty state. */
export function buildProvenance(): { lowbit: string; commit: string; dirty: boolean | null; diffHash: string | null } {
  return { lowbit: lowbitVersion(), commit: gitCommit(), ...workingTreeState() };
}

/**
 * Threads the backend computes with: the native (oneDNN/OpenMP) backend uses OMP_NUM_THREADS, or
 * one per core; wasm and cpu use one. Runs with other thread counts may differ in the last bits
 * (reductions split differently), so lowbit.json and the run fingerprint record it.
 */
export function threadCount(backend: string): number {
  if (backend !== 'native') return 1;
  const n = Number.parseInt(process.env.OMP_NUM_THREADS ?? '', 10);
  return Number.isInteger(n) && n > 0 ? n : availableParallelism();
}
