/**
 * Reading a packed export directory (packed.json + packed.bin) from disk. Node-only, TF.js-free:
 * `lowbit/runtime/node` reads packed exports through this module, and its import graph must not
 * reach TF.js (test/runtime-node-entry.test.ts checks it). Writing, and rebuilding a TF.js model,
 * stay in src/export/files.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LowbitError } from '../errors.js';
import type { PackedManifest } from './packed-format.js';

/** The manifest and weight bytes of a packed export directory (packed.json + packed.bin); errors name the fix. */
export function readPackedFiles(dir: string): { manifest: PackedManifest; data: Uint8Array } {
  const json = join(dir, 'packed.json');
  const bin = join(dir, 'packed.bin');
  if (!existsSync(json) || !existsSync(bin)) throw new LowbitError(`${dir} holds no packed.json + packed.bin: run 'lowbit export DIR --format packed' first`);
  let manifest: PackedManifest;
  try {
    manifest = JSON.parse(readFileSync(json, 'utf8'));
  } catch (e) {
    throw new LowbitError(`${json}: not valid JSON (${(e as Error).message})`);
  }
  return { manifest, data: readFileSync(bin) };
}
