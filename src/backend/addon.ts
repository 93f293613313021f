/**
 * Locating and loading lowbit's N-API addon (native/build/Release/lowbit_dnnl.node). TF.js-free:
 * both the native TF.js backend (src/backend/native.ts) and the bitwise runtime's Node entry
 * (src/runtime/node.ts, which must not load TF.js; test/runtime-node-entry.test.ts) load it here.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const NATIVE_ADDON_PATH = join(packageRoot, 'native', 'build', 'Release', 'lowbit_dnnl.node');

let addon: object | null | undefined;

/**
 * How long (in spins) an idle OpenMP thread of the addon busy-waits for the next parallel region
 * before it sleeps, unless the user chose (GOMP_SPINCOUNT or OMP_WAIT_POLICY). libgomp's default
 * (300000 spins, about a millisecond) keeps the worker spinning through a whole training step, so
 * whenever another process wants that core the scheduler charges the spinner and every region then
 * waits a time slice for it: mobilenet-tiny's float step at 2 threads took 394–977 ms on this 2-core
 * machine while other jobs ran, against 35–74 ms with 1000–3000 spins or a passive wait policy, and
 * the same 25–37 ms as the default when nothing else ran (bench/results/vs-pytorch/maxpool-threads-notes.md).
 * libgomp reads it when it loads, i.e. when the addon is first required: set here, before that,
 * for the training backend and the runtime alike.
 */
export const OMP_SPIN_COUNT = '3000';

/** The addon's exports, or null when it was not built (no oneDNN at install time) or is disabled (LOWBIT_NATIVE=0). */
export function loadNativeAddon(): object | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.LOWBIT_NATIVE === '0' || !existsSync(NATIVE_ADDON_PATH)) return addon;
  if (process.env.GOMP_SPINCOUNT == null && process.env.OMP_WAIT_POLICY == null) process.env.GOMP_SPINCOUNT = OMP_SPIN_COUNT;
  addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as object;
  return addon;
}
