/**
 * A run's fingerprint: the settings that determine its numbers (command, method and options,
 * seed, data, optimizer, schedule, lr, batch, lowbit version, threads…) flattened to
 * `dotted.key → JSON value`. A checkpoint carries the fingerprint of the run that wrote it, and a
 * resume with different settings is refused, naming the fields that differ.
 */
import { LowbitError } from '../errors.js';

export type Fingerprint = Record<string, string>;

/** Flattens plain settings to a fingerprint (functions and undefined values are left out). */
export function runFingerprint(settings: Record<string, unknown>): Fingerprint {
  const out: Fingerprint = {};
  const visit = (prefix: string, value: unknown): void => {
    if (value === undefined || typeof value === 'function') return;
    if (value != null && typeof value === 'object' && !Array.isArray(value)) {
      for (const key of Object.keys(value).sort()) visit(prefix ? `${prefix}.${key}` : key, (value as Record<string, unknown>)[key]);
      return;
    }
    out[prefix] = JSON.stringify(value) ?? 'null';
  };
  visit('', settings);
  return out;
}

/** The fields whose values differ, each as "field: checkpoint value ≠ this run's value". */
export function fingerprintDifferences(stored: Fingerprint, current: Fingerprint): string[] {
  // The command first (it explains the rest), then alphabetical.
  const keys = [...new Set([...Object.keys(stored), ...Object.keys(current)])].sort((a, b) => Number(b === 'command') - Number(a === 'command') || a.localeCompare(b));
  return keys.filter((k) => stored[k] !== current[k]).map((k) => `${k} ${stored[k] ?? '(unset)'} ≠ ${current[k] ?? '(unset)'}`);
}

/** Throws a LowbitError (exit 2) unless the checkpoint at `path` was written by a run with `current`'s settings. */
export function checkFingerprint(stored: Fingerprint | undefined, current: Fingerprint, path: string): void {
  if (stored == null) {
    throw new LowbitError(`--resume: ${path} records no run settings (written by an older lowbit), so resuming it cannot be checked; start a new run in another --out`);
  }
  const diff = fingerprintDifferences(stored, current);
  if (diff.length > 0) {
    const shown = diff.slice(0, 4).join('; ') + (diff.length > 4 ? `; and ${diff.length - 4} more` : '');
    throw new LowbitError(`--resume: ${path} was written by a run with other settings (${shown}); resume with the original settings or start a new run in another --out`);
  }
}
