import * as tf from './tf.js';
import { LowbitError } from '../errors.js';
import { registerGradientOverrides } from './gradients.js';
import { registerWasmTrainingKernels } from './wasm-grad-kernels.js';

export { tf };
export { registerWasmTrainingKernels, wasmTrainingKernelNames } from './wasm-grad-kernels.js';

/**
 * Backends lowbit computes on: 'wasm' (default), 'cpu' (the reference) and 'native' (oneDNN
 * kernels over wasm storage; Node only, registered by 'lowbit/node' when the addon is built).
 */
export type BackendName = 'wasm' | 'cpu' | 'native';
export const backendNames: readonly BackendName[] = ['wasm', 'cpu', 'native'];

/** A lowbit backend built on a TF.js backend by swapping in kernels. */
export interface BackendInstaller {
  base: 'wasm' | 'cpu';
  install(): void;
  uninstall(): void;
  available(): boolean;
  /** One line saying how to make it available. */
  hint: string;
}

const installers = new Map<string, BackendInstaller>();
let active: BackendName | null = null;

export function registerBackendInstaller(name: BackendName, installer: BackendInstaller): void {
  installers.set(name, installer);
}

/** Whether `setBackend(name)` can succeed here. */
export function backendAvailable(name: BackendName): boolean {
  if (name === 'wasm' || name === 'cpu') return true;
  return installers.get(name)?.available() ?? false;
}

registerWasmTrainingKernels();
registerGradientOverrides();

/** The lowbit backend in use ('native' reports as 'wasm' in tf.getBackend()). */
export function getBackendName(): BackendName {
  return active ?? (tf.getBackend() as BackendName);
}

/**
 * Selects the backend lowbit computes on and waits until it is ready. 'wasm' (the default) gets
 * lowbit's training kernels; 'cpu' is the reference; 'native' needs 'lowbit/node' and oneDNN.
 */
export async function setBackend(name: BackendName | string): Promise<void> {
  if (!(backendNames as readonly string[]).includes(name)) {
    throw new LowbitError(`unknown backend '${name}': choose one of ${backendNames.join(', ')}`);
  }
  const installer = installers.get(name);
  if (name === 'native' && installer == null) {
    throw new LowbitError("the native backend is Node-only: import from 'lowbit/node' to enable it");
  }
  if (installer != null && !installer.available()) throw new LowbitError(`backend '${name}' is not available: ${installer.hint}`);
  if (active === name && tf.getBackend() === (installer?.base ?? name)) return;
  if (active != null) installers.get(active)?.uninstall();
  const base = installer?.base ?? name;
  if (tf.getBackend() !== base) {
    const ok = await tf.setBackend(base);
    if (!ok) throw new LowbitError(`backend '${base}' failed to initialise`, 1);
    await tf.ready();
    // The cpu backend's first write prints an advert for tfjs-node, which cannot install here.
    if (base === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  }
  installer?.install();
  active = name as BackendName;
}

/** Makes sure some lowbit backend is active: `preferred` unless one was already chosen. */
export async function ensureBackend(preferred: BackendName = 'wasm'): Promise<void> {
  if (active != null) return;
  await setBackend(preferred);
}

// Importing lowbit leaves a ready backend: wasm by default (TF.js would otherwise pick it lazily
// and fail on the first synchronous call before its async initialisation).
await ensureBackend('wasm');
