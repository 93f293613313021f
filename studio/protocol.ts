/** Messages between the studio page (main.ts) and its training worker (worker.ts). */

export type BackendChoice = 'wasm' | 'webgl' | 'webgpu';

/** A user's TF.js model: model.json's text and its weight files by name. */
export interface UserModelFiles {
  modelJson: string;
  weights: Record<string, ArrayBuffer>;
}

/** One split of image data as bytes (pixel = byte / 255), N × H × W × C. */
export interface ByteSplit { bytes: Uint8Array; labels: Uint8Array; count: number }

export interface StudioData {
  name: string;
  description: string;
  shape: number[];
  numClasses: number;
  classNames?: string[];
  train: ByteSplit;
  val: ByteSplit;
  test: ByteSplit;
}

export interface StartMessage {
  type: 'start';
  backend: BackendChoice;
  /** Where TF.js's .wasm files are served (an absolute URL ending in '/'). */
  wasmPaths: string;
  /** A reference model name (trained from its seeded initialisation), or a user's model. */
  model: { name: string } | { files: UserModelFiles };
  data: StudioData;
  method: string;
  options: Record<string, string | number | boolean>;
  train: { epochs: number; batchSize: number; learningRate: number; maxStepsPerEpoch?: number; seed: number };
  /** A fixed input the worker computes logits for after the run (N × H × W × C floats). */
  probe?: Float32Array;
}

export type ToWorker = StartMessage | { type: 'pause' } | { type: 'resume' } | { type: 'stop' };

export interface StudioResult {
  record: unknown;
  /** TF.js model: model.json text and weights.bin bytes. */
  modelJson: string;
  weightsBin: Uint8Array;
  /** The packed low-bit model: packed.json text and packed.bin bytes. */
  packedJson: string;
  packedBin: Uint8Array;
  /** Logits of the trained model on the probe input, if one was sent. */
  probeLogits?: number[];
  /** Weight bits per quantized layer (32: float). */
  bits: { layer: string; bits: number }[];
  /** Per layer, a histogram of the (effective) kernel values: edges [min, max] and counts. */
  histograms: { layer: string; min: number; max: number; counts: number[] }[];
}

export type FromWorker =
  | { type: 'models'; names: string[] }
  | { type: 'ready'; backend: string }
  | { type: 'log'; line: string }
  | { type: 'step'; epoch: number; step: number; stepsPerEpoch: number; epochs: number; loss: number }
  | { type: 'epoch'; epoch: number; valAccuracy: number; valLoss: number; trainLoss: number }
  | { type: 'paused' } | { type: 'resumed' }
  | { type: 'done'; result: StudioResult }
  | { type: 'error'; message: string };

/** The probe input the page sends with every run (2 images of 28×28×1 for MNIST-shaped models): x[i] = ((37·i) mod 101) / 100. */
export function probeInput(shape: number[], images = 2): Float32Array {
  const n = images * shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, (_, i) => ((i * 37) % 101) / 100);
}
