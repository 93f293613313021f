/** Writing and reading export files: atomically, with nothing partial left on failure. Node-only. */
import { mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '../backend/tf.js';
import { writeFileAtomic } from '../io/atomic.js';
import { makeDirs } from '../io/out-dir.js';
import { encodeModel } from './onnx-builder.js';
import { exportOnnx, OnnxTarget } from './onnx-export.js';
import { readPackedFiles } from './packed-files.js';
import { packModel, unpackModel } from './packed.js';

// Reading packed.json + packed.bin lives in the TF.js-free packed-files.ts (the runtime's Node entry uses it).
export { readPackedFiles } from './packed-files.js';

export const onnxFileName = (target: OnnxTarget) => `model.${target}.onnx`;
export const PACKED_DIR = 'packed';

export interface WrittenExport {
  path: string;
  bytes: number;
  notes: string[];
}

/** Writes the ONNX export; `metadata` becomes the model's metadata_props (e.g. lowbit.class_names). */
export function writeOnnx(model: tf.LayersModel, target: OnnxTarget, outDir: string, metadata: Record<string, string> = {}): WrittenExport {
  const { model: onnxModel, notes } = exportOnnx(model, target); // fails before anything is written
  const props = Object.entries(metadata).map(([key, value]) => ({ key, value }));
  const bytes = encodeModel(props.length > 0 ? { ...onnxModel, metadataProps: props } : onnxModel);
  makeDirs(outDir);
  const path = join(outDir, onnxFileName(target));
  writeFileAtomic(path, bytes);
  return { path, bytes: bytes.byteLength, notes };
}

/** Writes packed.json + packed.bin into outDir/packed via a temporary directory renamed into place. */
export function writePacked(model: tf.LayersModel, outDir: string): WrittenExport & { weightBytes: number } {
  const { manifest, data } = packModel(model);
  makeDirs(outDir);
  const final = join(outDir, PACKED_DIR);
  const tmp = `${final}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
  try {
    writeFileAtomic(join(tmp, 'packed.bin'), data);
    writeFileAtomic(join(tmp, 'packed.json'), JSON.stringify(manifest));
    rmSync(final, { recursive: true, force: true });
    renameSync(tmp, final);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  const json = readFileSync(join(final, 'packed.json')).byteLength;
  return { path: final, bytes: data.byteLength + json, weightBytes: data.byteLength, notes: [] };
}

export async function readPacked(dir: string): Promise<tf.LayersModel> {
  const { manifest, data } = readPackedFiles(dir);
  return unpackModel(manifest, data, dir);
}
