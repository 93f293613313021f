/**
 * A run directory as a RunStore: `checkpoint.lbck`, the model (`model.json` + `weights.bin`),
 * `lowbit.json` and any other file, each written atomically; sub-runs in sub-directories.
 * Node-only.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '../backend/tf.js';
import type { RunStore } from '../run/store.js';
import { writeFileAtomic } from './atomic.js';
import { FileCheckpointStore } from './checkpoint-file.js';
import { saveModelDir } from './model-dir.js';

class DirStore implements RunStore {
  readonly location: string;
  readonly checkpoints: FileCheckpointStore;

  constructor(readonly dir: string) {
    this.location = dir;
    this.checkpoints = new FileCheckpointStore(dir);
  }

  child(name: string): DirStore {
    return new DirStore(join(this.dir, name));
  }

  writeFile(name: string, data: string | Uint8Array): void {
    mkdirSync(this.dir, { recursive: true });
    writeFileAtomic(join(this.dir, name), data);
  }

  readFile(name: string): Uint8Array | null {
    const path = join(this.dir, name);
    return existsSync(path) ? readFileSync(path) : null;
  }

  async saveModel(model: tf.LayersModel): Promise<void> {
    mkdirSync(this.dir, { recursive: true });
    await saveModelDir(model, this.dir);
  }
}

/** A RunStore writing to the directory `dir` (created on first write). */
export function dirStore(dir: string): RunStore & { readonly dir: string } {
  return new DirStore(dir);
}
