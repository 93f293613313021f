/**
 * Shared machinery of lowbit's quantized layers: quantizer resolution, learned quantizer
 * parameters, activations and initialisers. Layers keep latent float weights and quantize them
 * on every forward pass.
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import type { QuantGrid } from '../quantizers/kind.js';
import { normalizeSpec, Quantizer, QuantizerContext, QuantizerRole, QuantizerSpec, QuantizerSpecInput, resolveQuantizer } from '../quantizers/spec.js';

type Initializer = ReturnType<typeof tf.initializers.zeros>;

export type ActivationName = 'linear' | 'relu' | 'relu6' | 'sigmoid' | 'tanh' | 'softmax' | 'elu';
const activations: Record<ActivationName, (x: tf.Tensor) => tf.Tensor> = {
  linear: (x) => x, relu: tf.relu, relu6: tf.relu6, sigmoid: tf.sigmoid, tanh: tf.tanh, elu: tf.elu, softmax: (x) => tf.softmax(x),
};

export function checkActivation(name: unknown, layer: string): ActivationName {
  const a = (name ?? 'linear') as ActivationName;
  if (!(a in activations)) throw new LowbitError(`layer ${layer}: activation '${String(name)}' is not supported by quantized layers (use ${Object.keys(activations).join(', ')})`);
  return a;
}

export function applyActivation(x: tf.Tensor, name: ActivationName): tf.Tensor {
  return activations[name](x);
}

/** Initialisers by name (a float model's initialiser objects are ignored: its weights are copied). */
export function initializerFor(name: unknown, fallback: 'glorotUniform' | 'zeros'): Initializer {
  const n = typeof name === 'string' ? name : fallback;
  switch (n) {
    case 'zeros': return tf.initializers.zeros();
    case 'ones': return tf.initializers.ones();
    case 'heNormal': return tf.initializers.heNormal({});
    case 'glorotNormal': return tf.initializers.glorotNormal({});
    default: return tf.initializers.glorotUniform({});
  }
}

export interface QuantizerSlot {
  role: QuantizerRole;
  spec: QuantizerSpec;
  quantizer: Quantizer;
  /** The layer's weights for the quantizer's declared parameters, in declared order. */
  params: tf.LayerVariable[];
  /** Channels the slot was built for (per-channel parameters have this many values). */
  channels: number;
}

/** Resolves an optional spec for a layer; errors name the layer and the slot. */
export function quantizerSlot(spec: QuantizerSpecInput | null | undefined, role: QuantizerRole, where: string): QuantizerSlot | null {
  if (spec == null) return null;
  const s = normalizeSpec(spec, where);
  if (s.kind === 'none') return null;
  return { role, spec: s, quantizer: resolveQuantizer(s, where), params: [], channels: 0 };
}

/**
 * Adds the slot's learned parameters (LSQ step, PACT α, RSign thresholds) as weights of `layer`;
 * per-channel ones get `channels` values.
 */
export function buildSlot(layer: tf.layers.Layer, slot: QuantizerSlot | null, prefix: string, channels: number): void {
  if (slot == null) return;
  const add = (layer as unknown as { addWeight: (name: string, shape: number[], dtype: 'float32', init: Initializer, regularizer?: undefined, trainable?: boolean) => tf.LayerVariable }).addWeight.bind(layer);
  slot.channels = channels;
  slot.params = slot.quantizer.params.map((p) => add(`${prefix}_${p.name}`, p.shape ?? (p.perChannel ? [channels] : []), 'float32', tf.initializers.constant({ value: p.init }),
    undefined, p.trainable ?? true));
}

/**
 * The read-out of a slot's grid from its learned parameters (and, for kernels, the latent and
 * the quantized kernel); null without a quantizer or a fixed grid.
 */
export function slotGrid(slot: QuantizerSlot | null, tensors: { latent?: tf.Tensor; quantized?: tf.Tensor; channels?: number } = {}): QuantGrid | null {
  if (slot == null) return null;
  const host = (t: tf.Tensor | undefined) => (t == null ? undefined : Float32Array.from(t.dataSync() as Float32Array));
  return slot.quantizer.grid(slot.role, {
    channels: tensors.channels ?? slot.channels,
    shape: (tensors.latent ?? tensors.quantized)?.shape,
    params: slot.params.map((p) => Float32Array.from(p.read().dataSync() as Float32Array)),
    latent: host(tensors.latent),
    quantized: host(tensors.quantized),
  });
}

export function applySlot(slot: QuantizerSlot | null, x: tf.Tensor, training = false, context?: QuantizerContext): tf.Tensor {
  if (slot == null) return x;
  return slot.quantizer.apply(x, slot.role, slot.params.map((p) => p.read()), training, context);
}

export function single(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
  return Array.isArray(inputs) ? inputs[0] : inputs;
}

export function pair(v: number | number[] | undefined, fallback: number): [number, number] {
  if (v == null) return [fallback, fallback];
  return typeof v === 'number' ? [v, v] : [v[0], v[1] ?? v[0]];
}

/** Output size of one spatial dimension for 'same' / 'valid' padding. */
export function convOutputLength(size: number | null, kernel: number, stride: number, padding: string, dilation: number): number | null {
  if (size == null) return null;
  const eff = (kernel - 1) * dilation + 1;
  return padding === 'same' ? Math.ceil(size / stride) : Math.ceil((size - eff + 1) / stride);
}
