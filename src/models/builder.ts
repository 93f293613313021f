/**
 * Small helpers shared by the reference models: seeded initialisers and named
 * conv → BN → activation blocks. Names are stable (users address layers by name).
 */
import * as tf from '../backend/tf.js';
import { Rng } from '../random.js';

export type SymbolicTensor = tf.SymbolicTensor;

export interface ModelOptions {
  /** Per-image input shape [H, W, C] (any C; the sizes each model admits are checked in ./index.ts). */
  inputShape: [number, number, number];
  numClasses: number;
  /** Multiplies every hidden width (rounded, at least 1). */
  width: number;
  /** Seeds every initialiser: same seed → bit-identical weights. */
  seed: number;
}

export class ModelBuilder {
  private readonly rng: Rng;

  constructor(readonly options: ModelOptions) {
    this.rng = new Rng(options.seed);
  }

  /** A hidden width scaled by the width multiplier. */
  w(channels: number): number {
    return Math.max(1, Math.round(channels * this.options.width));
  }

  /** He-normal (fan-in) initialiser with its own seed drawn from the model seed. */
  kernelInit(): ReturnType<typeof tf.initializers.heNormal> {
    return tf.initializers.heNormal({ seed: this.rng.seed() });
  }

  input(): SymbolicTensor {
    return tf.input({ shape: this.options.inputShape, name: 'input' });
  }

  conv(x: SymbolicTensor, name: string, filters: number, kernelSize: number,
    opts: { strides?: number; padding?: 'same' | 'valid'; useBias?: boolean } = {}): SymbolicTensor {
    return tf.layers.conv2d({
      name, filters, kernelSize, strides: opts.strides ?? 1, padding: opts.padding ?? 'same',
      useBias: opts.useBias ?? true, kernelInitializer: this.kernelInit(),
    }).apply(x) as SymbolicTensor;
  }

  depthwise(x: SymbolicTensor, name: string, kernelSize: number, strides = 1): SymbolicTensor {
    return tf.layers.depthwiseConv2d({
      name, kernelSize, strides, padding: 'same', useBias: false, depthwiseInitializer: this.kernelInit(),
    }).apply(x) as SymbolicTensor;
  }

  bn(x: SymbolicTensor, name: string): SymbolicTensor {
    return tf.layers.batchNormalization({ name, momentum: 0.9, epsilon: 1e-5 }).apply(x) as SymbolicTensor;
  }

  relu(x: SymbolicTensor, name: string): SymbolicTensor {
    return tf.layers.reLU({ name }).apply(x) as SymbolicTensor;
  }

  prelu(x: SymbolicTensor, name: string): SymbolicTensor {
    return tf.layers.prelu({ name, sharedAxes: [1, 2], alphaInitializer: tf.initializers.constant({ value: 0.25 }) })
      .apply(x) as SymbolicTensor;
  }

  maxPool(x: SymbolicTensor, name: string): SymbolicTensor {
    return tf.layers.maxPooling2d({ name, poolSize: 2, strides: 2 }).apply(x) as SymbolicTensor;
  }

  avgPool(x: SymbolicTensor, name: string): SymbolicTensor {
    return tf.layers.averagePooling2d({ name, poolSize: 2, strides: 2 }).apply(x) as SymbolicTensor;
  }

  dense(x: SymbolicTensor, name: string, units: number, useBias = true): SymbolicTensor {
    return tf.layers.dense({ name, units, useBias, kernelInitializer: this.kernelInit() }).apply(x) as SymbolicTensor;
  }

  flatten(x: SymbolicTensor, name = 'flatten'): SymbolicTensor {
    return tf.layers.flatten({ name }).apply(x) as SymbolicTensor;
  }

  add(xs: SymbolicTensor[], name: string): SymbolicTensor {
    return tf.layers.add({ name }).apply(xs) as SymbolicTensor;
  }

  /** conv → BN → ReLU with the conv's bias dropped (BN has its own shift). */
  convBnRelu(x: SymbolicTensor, prefix: string, suffix: string, filters: number, kernelSize: number,
    opts: { strides?: number; padding?: 'same' | 'valid' } = {}): SymbolicTensor {
    const c = this.conv(x, `conv${prefix}${suffix}`, filters, kernelSize, { ...opts, useBias: false });
    return this.relu(this.bn(c, `bn${prefix}${suffix}`), `relu${prefix}${suffix}`);
  }

  /** The logits layer: outputs are logits (no softmax); lowbit's losses and evaluation expect that. */
  model(inputs: SymbolicTensor, logits: SymbolicTensor, name: string): tf.LayersModel {
    return tf.model({ inputs, outputs: logits, name });
  }
}
