/** The CLI's --backend: 'auto' picks native (oneDNN) when built, else wasm with a one-line hint. Node-only. */
import { backendAvailable, BackendName, setBackend } from '../backend/index.js';
import { NATIVE_HINT } from '../backend/native.js';
import { parseChoice } from './options.js';

/** The backends a Node process can run (webgl and webgpu need a browser). */
export const BACKEND_CHOICES = ['auto', 'wasm', 'cpu', 'native'] as const;

export function parseBackend(value: string): (typeof BACKEND_CHOICES)[number] {
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
