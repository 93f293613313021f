import * as tf from './tf.js';
import { setThreadsCount, setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { LowbitError } from '../errors.js';
import { registerGradientOverrides } from './gradients.js';
import { registerWasmTrainingKernels } from './wasm-grad-kernels.js';

export { tf };
export { registerWasmTrainingKernels, wasmTrainingKernelNames } from './wasm-grad-kernels.js';

/**
 * Backends lowbit computes on: 'wasm' (the default, with lowbit's training kernels), 'cpu' (the
 * reference), 'webgl' and 'webgpu' (browser GPUs; optional peer dependencies, loaded only when
 * asked for) and 'native' (oneDNN kernels over wasm storage; Node only, registered by
 * 'lowbit/node' when the addon is built).
 */
export type BackendName = 'wasm' | 'cpu' | 'native' | 'webgl' | 'webgpu';
export const backendNames: readonly BackendName[] = ['wasm', 'cpu', 'native', 'webgl', 'webgpu'];

/** How a backend starts. Only the wasm options exist today; they must be given before wasm first starts. */
export interface BackendOptions {
  /**
   * Where a web page finds the .wasm files of @tensorflow/tfjs-backend-wasm (copy them from its
   * dist/ folder): a URL prefix ending in '/', or a map from file name to URL. Not needed in Node.
   */
  wasmPaths?: string | Record<string, string>;
  /** Threads of the threaded wasm build (a browser needs a cross-origin isolated page for it). */
  threads?: number;
}

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

/** Whether `setBackend(name)` can succeed here without more setup (webgl/webgpu: once their package is imported). */
export function backendAvailable(name: BackendName): boolean {
  if (name === 'wasm' || name === 'cpu') return true;
  if (name === 'webgl' || name === 'webgpu') return tf.findBackendFactory(name) != null;
  return installers.get(name)?.available() ?? false;
}

// Kernel registrations only: no backend starts when lowbit is imported.
registerWasmTrainingKernels();
registerGradientOverrides();

/**
 * The backend computing now, as tf.getBackend() reports it ('native' when lowbit's oneDNN
 * kernels are installed over wasm); undefined until a backend has started.
 */
export function getBackendName(): BackendName | undefined {
  const current = tf.getBackend() as BackendName | undefined;
  return active === 'native' && current === 'wasm' ? 'native' : current;
}

/** The optional GPU backends, imported only when asked for. */
const optionalPackages: Record<'webgl' | 'webgpu', string> = {
  webgl: '@tensorflow/tfjs-backend-webgl',
  webgpu: '@tensorflow/tfjs-backend-webgpu',
};

async function registerOptional(name: 'webgl' | 'webgpu'): Promise<void> {
  if (tf.findBackendFactory(name) != null) return;
  // Their packages register the backend in browsers (and Workers) only.
  if (!tf.device_util.isBrowser()) throw new LowbitError(`backend '${name}' needs a browser: in Node use wasm, cpu or native`);
  const pkg = optionalPackages[name];
  try {
    // A computed specifier: bundlers leave it alone, so the core bundle never carries the GPU backends.
    const specifier = pkg;
    await import(/* @vite-ignore */ specifier);
  } catch {
    // fall through to the message below
  }
  if (tf.findBackendFactory(name) == null) {
    throw new LowbitError(`backend '${name}' is not loaded: install ${pkg}@${tf.version_core} and add \`import '${pkg}';\` to your app before setBackend('${name}')`);
  }
}

let wasmConfigured: string | null = null;

function configureWasm(options: BackendOptions): void {
  if (options.wasmPaths == null && options.threads == null) return;
  const key = JSON.stringify([options.wasmPaths ?? null, options.threads ?? null]);
  if (key === wasmConfigured) return;
  if (tf.engine().registry.wasm != null) {
    throw new LowbitError('wasmPaths and threads must be given before the wasm backend first starts: pass them to the first setBackend() call');
  }
  if (options.threads != null) {
    if (!Number.isInteger(options.threads) || options.threads < 1) throw new LowbitError(`threads must be a whole number ≥ 1, got ${options.threads}`);
    setThreadsCount(options.threads);
  }
  if (options.wasmPaths != null) {
    try {
      setWasmPaths(options.wasmPaths);
    } catch (e) {
      // TF.js refuses new paths after a failed start, or a file map missing one of its binaries.
      throw new LowbitError(`wasmPaths: ${(e as Error).message}`);
    }
  }
  wasmConfigured = key;
}

const WASM_FAILED = "the wasm backend failed to start (its .wasm files could not be loaded): serve the .wasm files from "
  + "@tensorflow/tfjs-backend-wasm/dist and pass their URL, e.g. await setBackend('wasm', { wasmPaths: '/wasm/' })";

/**
 * Selects the backend lowbit computes on and waits until it is ready. 'wasm' (the default) gets
 * lowbit's training kernels; 'cpu' is the reference; 'webgl'/'webgpu' need their TF.js package;
 * 'native' needs 'lowbit/node' and oneDNN.
 */
export async function setBackend(name: BackendName | string, options: BackendOptions = {}): Promise<void> {
  if (!(backendNames as readonly string[]).includes(name)) {
    throw new LowbitError(`unknown backend '${name}': choose one of ${backendNames.join(', ')}`);
  }
  const installer = installers.get(name);
  if (name === 'native' && installer == null) {
    throw new LowbitError("the native backend is Node-only: import from 'lowbit/node' to enable it");
  }
  if (installer != null && !installer.available()) throw new LowbitError(`backend '${name}' is not available: ${installer.hint}`);
  const base = installer?.base ?? (name as Exclude<BackendName, 'native'>);
  if (base === 'wasm') configureWasm(options);
  if (active === name && tf.getBackend() === base) return;
  if (base === 'webgl' || base === 'webgpu') await registerOptional(base);
  if (active != null) installers.get(active)?.uninstall();
  active = null;
  if (tf.getBackend() !== base) {
    const ok = await tf.setBackend(base);
    if (!ok) throw new LowbitError(base === 'wasm' ? WASM_FAILED : `backend '${base}' failed to initialise`, 1);
    await tf.ready();
    // The cpu backend's first write prints an advert for tfjs-node, which cannot install here.
    if (base === 'cpu') (tf.backend() as unknown as { firstUse: boolean }).firstUse = false;
  }
  installer?.install();
  active = name as BackendName;
}

let starting: Promise<void> | null = null;

/**
 * Makes sure a backend is ready (lowbit's training, evaluation, quantizeModel and runs call it
 * first): keeps the one already started (by setBackend or tf.setBackend), else starts
 * `preferred`; when wasm cannot start, says why once and computes on cpu.
 */
export async function ensureBackend(preferred: BackendName = 'wasm'): Promise<void> {
  if (tf.getBackend() != null) return;
  starting ??= (async () => {
    try {
      await setBackend(preferred);
    } catch (e) {
      if (preferred !== 'wasm' || !(e instanceof LowbitError)) throw e;
      console.warn(`lowbit: ${e.message}; computing on cpu meanwhile (slow)`);
      await setBackend('cpu');
    }
  })().finally(() => { starting = null; });
  await starting;
}
