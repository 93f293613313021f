import * as tf from './tf.js';
import { LowbitError } from '../errors.js';
import { registerGradientOverrides } from './gradients.js';
import { registerWasmTrainingKernels } from './wasm-grad-kernels.js';

export { tf };
export { registerWasmTrainingKernels, wasmTrainingKernelNames } from './wasm-grad-kernels.js';

/** Backends lowbit can train on. 'native' (oneDNN) is added by the fast-training work. */
export type BackendName = 'wasm' | 'cpu';
export const backendNames: readonly BackendName[] = ['wasm', 'cpu'];

registerWasmTrainingKernels();
registerGradientOverrides();

/**
 * Selects the TF.js backend lowbit computes on and waits until it is ready.
 * 'wasm' (the default in Node) gets lowbit's training kernels; 'cpu' is the reference.
 */
export async function setBackend(name: BackendName | string): Promise<void> {
  if (!(backendNames as readonly string[]).includes(name)) {
    throw new LowbitError(`unknown backend '${name}': choose one of ${backendNames.join(', ')}`);
  }
  if (tf.getBackend() === name) return;
  const ok = await tf.setBackend(name);
  if (!ok) throw new LowbitError(`backend '${name}' failed to initialise`, 1);
  await tf.ready();
  // The cpu backend's first write prints an advert for tfjs-node, which cannot install here.
  if (name === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
}

/** Makes sure some lowbit backend is active: wasm unless the user already chose one. */
export async function ensureBackend(preferred: BackendName = 'wasm'): Promise<void> {
  const current = tf.getBackend();
  if (current === 'wasm' || current === 'cpu') return;
  await setBackend(preferred);
}

// Importing lowbit leaves a ready backend: wasm by default (TF.js would otherwise pick it lazily
// and fail on the first synchronous call before its async initialisation).
await ensureBackend();
