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

/** The addon's exports, or null when it was not built (no oneDNN at install time) or is disabled (LOWBIT_NATIVE=0). */
export function loadNativeAddon(): object | null {
  if (addon !== undefined) return addon;
  addon = null;
  if (process.env.LOWBIT_NATIVE === '0' || !existsSync(NATIVE_ADDON_PATH)) return addon;
  addon = createRequire(import.meta.url)(NATIVE_ADDON_PATH) as object;
  return addon;
}
