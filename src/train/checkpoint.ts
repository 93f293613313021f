import * as tf from '../backend/tf.js';
import type { Fingerprint } from './fingerprint.js';

/** One tensor's values, detached from the engine (safe to serialise). */
export interface StoredTensor {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  data: Float32Array | Int32Array;
}

export interface EpochRecord {
  epoch: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss: number;
  valAccuracy: number;
  /** The learning rate of the epoch's last step. */
  learningRate: number;
  /** The learning rate of the epoch's first step (differs when the schedule steps within the epoch). */
  firstLearningRate?: number;
  seconds: number;
  imagesPerSecond: number;
}

/** Everything needed to continue a run exactly where the last finished epoch left it. */
export interface Checkpoint {
  /** Epochs completed. */
  epoch: number;
  /** Optimizer steps taken. */
  step: number;
  /** Shuffling RNG state after the last completed epoch. */
  rngState: number;
  /** Quantizer-noise state (Gumbel samples, DropBits masks) after the last completed epoch. */
  noiseState?: number;
  history: EpochRecord[];
  modelWeights: StoredTensor[];
  optimizerWeights: StoredTensor[];
  /**
   * Optimizer state that getWeights leaves out, as exact float32 values: Adam's accumulated
   * β1ᵗ and β2ᵗ (its setWeights recomputes them as pow(β, t+1), which differs in the last bits
   * from the step-by-step products an unbroken run uses).
   */
  optimizerScalars?: Record<string, number>;
  /** The settings of the run that wrote it (see runFingerprint). */
  fingerprint?: Fingerprint;
  /** A method's own JSON state (e.g. BiTAT's finished stages). */
  notes?: unknown;
}

/** Where checkpoints live; the Node implementation writes one file atomically (temp + rename). */
export interface CheckpointStore {
  load(): Promise<Checkpoint | null>;
  save(checkpoint: Checkpoint): Promise<void>;
}

export async function storeTensors(named: Array<{ name: string; tensor: tf.Tensor }>): Promise<StoredTensor[]> {
  return Promise.all(named.map(async ({ name, tensor }) => ({
    name,
    shape: tensor.shape.slice(),
    dtype: tensor.dtype === 'int32' ? 'int32' as const : 'float32' as const,
    data: (await tensor.data()) as Float32Array | Int32Array,
  })));
}

export function restoreTensor(t: StoredTensor): tf.Tensor {
  return tf.tensor(t.data, t.shape, t.dtype);
}
