/** What both side-by-side drivers (driver.ts, dq-driver.ts) share: running one side as a child process, and the median. */
import { spawnSync } from 'node:child_process';

/** Runs `cmd args` with `env` and returns the JSON object on its last stdout line; throws with its stderr tail otherwise. */
export function runJson(cmd: string, args: string[], env: NodeJS.ProcessEnv): Record<string, unknown> {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env, maxBuffer: 1 << 24 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !line.startsWith('{')) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-2000)}`);
  return JSON.parse(line) as Record<string, unknown>;
}

export const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
