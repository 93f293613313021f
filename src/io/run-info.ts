/** Facts about this lowbit build for metadata files: package version, git commit and dirty state. Node-only. */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Fingerprint, runFingerprint } from '../train/fingerprint.js';

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

/** Flags that say where and how quietly a run goes, not what it computes. */
const NOT_SETTINGS = new Set(['out', 'resume', 'quiet', 'backend', 'dataDir', 'maxSteps', 'epochs', 'batch', 'lr', 'optimizer',
  'momentum', 'schedule', 'weightDecay', 'seed', 'trainSubset']);

/** The (sub)command this process runs, e.g. "train" or "dq train": the words before the first flag. */
function cliCommand(): string {
  const words: string[] = [];
  for (const a of process.argv.slice(2)) {
    if (a.startsWith('-') || words.length === 2) break;
    words.push(a);
  }
  return words.join(' ');
}

/**
 * The fingerprint of a CLI training run: the command's own flags (method and its options, model,
 * teacher…), the parsed training settings, the data, the backend and its threads, and the lowbit
 * version. `parsed` holds what the CLI parsed (config, dataset, subset, backend…).
 */
export function cliRunFingerprint(flags: object, parsed: { dataset: string; config: object; trainSubset: number | null; trainImages: number; backend: string }): Fingerprint {
  const own = Object.fromEntries(Object.entries(flags).filter(([k]) => !NOT_SETTINGS.has(k)));
  // The number of epochs (and the smoke-test step limit) may change on resume: a run can be extended.
  const { epochs: _epochs, maxStepsPerEpoch: _maxSteps, ...config } = parsed.config as Record<string, unknown>;
  parsed = { ...parsed, config };
  return runFingerprint({ command: cliCommand(), ...own, ...parsed, threads: threadCount(parsed.backend), lowbit: lowbitVersion() });
}
