/**
 * A run directory as a RunStore: `checkpoint.lbck`, the model (`model.json` + `weights.bin`),
 * `lowbit.json` and any other file, each written atomically; sub-runs in sub-directories.
 * Node-only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '../backend/tf.js';
import type { RunStore } from '../run/store.js';
import { writeFileAtomic } from './atomic.js';
import { FileCheckpointStore } from './checkpoint-file.js';
import { saveModelDir } from './model-dir.js';
import { makeDirs } from './out-dir.js';
import { LOG_FILE } from '../run/method.js';

class DirStore implements RunStore {
  readonly location: string;
  readonly checkpoints: FileCheckpointStore;

  constructor(readonly dir: string, top = true) {
    this.location = dir;
    // The run's own checkpoint rewrites log.jsonl from its history when loaded (a kill between the two writes).
    this.checkpoints = new FileCheckpointStore(dir, top ? { log: LOG_FILE } : {});
  }

  child(name: string): DirStore {
    return new DirStore(join(this.dir, name), false);
  }

  writeFile(name: string, data: string | Uint8Array): void {
    makeDirs(this.dir);
    writeFileAtomic(join(this.dir, name), data);
  }

  readFile(name: string): Uint8Array | null {
    const path = join(this.dir, name);
    return existsSync(path) ? readFileSync(path) : null;
  }

  async saveModel(model: tf.LayersModel): Promise<void> {
    makeDirs(this.dir);
    await saveModelDir(model, this.dir);
  }
}

/** A RunStore writing to the directory `dir` (created on first write). */
export function dirStore(dir: string): RunStore & { readonly dir: string; readonly checkpoints: FileCheckpointStore } {
  return new DirStore(dir);
}
