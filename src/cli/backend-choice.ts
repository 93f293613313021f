/** The CLI's --backend: 'auto' picks native (oneDNN) when built, else wasm with a one-line hint. Node-only. */
import { backendAvailable, backendNames, BackendName, setBackend } from '../backend/index.js';
import { NATIVE_HINT } from '../backend/native.js';
import { parseChoice } from './options.js';

export const BACKEND_CHOICES = ['auto', ...backendNames] as const;

export function parseBackend(value: string): BackendName | 'auto' {
  return parseChoice(value, '--backend', BACKEND_CHOICES);
}

let hinted = false;

export async function useBackend(choice: BackendName | 'auto', quiet = false): Promise<BackendName> {
  const name: BackendName = choice !== 'auto' ? choice : backendAvailable('native') ? 'native' : 'wasm';
  if (choice === 'auto' && name === 'wasm' && !quiet && !hinted) {
    hinted = true; // once per process: a recipe or the demo runs many jobs
    process.stderr.write(`${NATIVE_HINT}\n`);
  }
  await setBackend(name);
  return name;
}
