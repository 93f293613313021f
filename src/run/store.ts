/**
 * Where a run keeps what it writes: checkpoints, the trained model, its run record and small
 * files (section reports, logs). `MemoryStore` keeps everything in memory (library use, tests,
 * the browser); the Node entry adds `dirStore(dir)`, a run directory on disk. A method writes
 * only through its store, so the same method runs with or without a file system.
 */
import * as tf from '../backend/tf.js';
import type { Checkpoint, CheckpointStore } from '../train/checkpoint.js';

/** The run record's file name in a store (a run directory's `lowbit.json`). */
export const LOWBIT_JSON = 'lowbit.json';
/** The per-epoch log, one JSON line per epoch, rewritten from the checkpointed history. */
export const LOG_FILE = 'log.jsonl';

export interface RunStore {
  /** Where the store writes: a directory path, or 'memory'. */
  readonly location: string;
  /** The directory behind the store, when there is one (DCQ's worker threads and feature spill need it). */
  readonly dir: string | null;
  /** This run's checkpoint (one per store; sub-runs use `child`). */
  readonly checkpoints: CheckpointStore;
  /** A store for a part of the run (a DCQ section, a fine-tune phase), nested under this one. */
  child(name: string): RunStore;
  writeFile(name: string, data: string | Uint8Array): void;
  /** The file's bytes, or null if it was never written. */
  readFile(name: string): Uint8Array | null;
  saveModel(model: tf.LayersModel): Promise<void>;
}

/** A checkpoint kept in memory (the tensors are already detached copies). */
export class MemoryCheckpointStore implements CheckpointStore {
  private saved: Checkpoint | null = null;
  async load(): Promise<Checkpoint | null> {
    return this.saved;
  }
  async save(checkpoint: Checkpoint): Promise<void> {
    this.saved = checkpoint;
  }
}

/** Everything in memory: nothing touches a file system. */
export class MemoryStore implements RunStore {
  readonly location: string;
  readonly dir = null;
  readonly checkpoints = new MemoryCheckpointStore();
  readonly files = new Map<string, Uint8Array>();
  private readonly children = new Map<string, MemoryStore>();
  /** The saved model's artifacts (model.json's topology and weights), if `saveModel` ran. */
  model: tf.io.ModelArtifacts | null = null;

  constructor(location = 'memory') {
    this.location = location;
  }

  child(name: string): MemoryStore {
    let c = this.children.get(name);
    if (c == null) this.children.set(name, (c = new MemoryStore(`${this.location}/${name}`)));
    return c;
  }

  writeFile(name: string, data: string | Uint8Array): void {
    this.files.set(name, typeof data === 'string' ? new TextEncoder().encode(data) : data.slice());
  }

  readFile(name: string): Uint8Array | null {
    return this.files.get(name) ?? null;
  }

  async saveModel(model: tf.LayersModel): Promise<void> {
    await model.save(tf.io.withSaveHandler(async (artifacts) => {
      this.model = artifacts;
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }));
  }
}

/** A JSON file of a store, parsed, or null. */
export function readJson<T>(store: RunStore, name: string): T | null {
  const bytes = store.readFile(name);
  return bytes == null ? null : (JSON.parse(new TextDecoder().decode(bytes)) as T);
}

export function writeJson(store: RunStore, name: string, value: unknown): void {
  store.writeFile(name, `${JSON.stringify(value, null, 2)}\n`);
}
