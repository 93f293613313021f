/**
 * Learned per-layer bit-widths for SRQ (srq.md §3.3 — a RECONSTRUCTION: the paper says a
 * regulariser on DropBits learns each layer's bit-width; its form was not retrieved). Each
 * layer's weight quantizer starts at the maximum bit-width with one hard-concrete gate per bit
 * above 2 (L0-style, Louizos et al. 2018; a signed 1-bit grid {−1, 0} has no positive weight);
 * the loss adds
 *   λ·(B̄ − B_target)²,  B̄ = Σ_l n_l·E[b_l] / Σ_l n_l,  E[b_l] = 2 + Σ_k Π_{j≤k} P(gate j open),
 * the size-weighted expected bit-width against the target. After training, b_l = round(E[b_l])
 * (what the penalty steered), and the model is rebuilt with those bits fixed.
 */
import * as tf from '../../backend/tf.js';
import { LowbitError } from '../../errors.js';
import { isQuantLayer, QuantLayer } from '../../layers/quant-layers.js';
import { expectedBits, GATE_SCALE, learnedBits } from '../../quantizers/relaxed.js';
import { crossEntropy, LossFn } from '../../train/evaluate.js';

interface GatedLayer { layer: QuantLayer; gates: tf.LayerVariable[]; size: number }

function gatedLayers(model: tf.LayersModel): GatedLayer[] {
  return model.layers.filter(isQuantLayer).map((layer) => ({
    layer,
    gates: layer.weights.filter((w) => /kernel_bit_gate_\d+$/.test(w.originalName))
      .sort((a, b) => Number(/(\d+)$/.exec(a.originalName)![1]) - Number(/(\d+)$/.exec(b.originalName)![1])),
    size: layer.latentKernel.shape.reduce((a: number, b) => a * (b as number), 1),
  })).filter((g) => g.gates.length > 0);
}

/** The size-weighted expected weight bit-width of the gated layers (differentiable). */
export function expectedAverageBits(model: tf.LayersModel): tf.Scalar {
  const layers = gatedLayers(model);
  if (layers.length === 0) throw new LowbitError(`${model.name} has no learned bit-width gates (quantize with learnBits)`);
  const total = layers.reduce((a, l) => a + l.size, 0);
  return tf.tidy(() => tf.addN(layers.map((l) => tf.mul(expectedBits(l.gates.map((g) => tf.mul(g.read(), GATE_SCALE))), l.size / total))) as tf.Scalar);
}

/** Cross-entropy + λ·(B̄ − target)². */
export function bitWidthLoss(model: tf.LayersModel, targetBits: number, lambda: number): LossFn {
  return (logits, batch) => tf.tidy(() => tf.add(crossEntropy(logits, batch), tf.mul(tf.square(tf.sub(expectedAverageBits(model), targetBits)), lambda)) as tf.Scalar);
}

/** Each gated layer's bit-width read off its deterministic gates, and the size-weighted average. */
export function readLearnedBits(model: tf.LayersModel): { layers: Record<string, number>; averageBits: number } {
  const layers = gatedLayers(model);
  const bits = Object.fromEntries(layers.map((l) => [l.layer.name, learnedBits(l.gates.map((g) => g.read().dataSync()[0] * GATE_SCALE))]));
  const total = layers.reduce((a, l) => a + l.size, 0);
  return { layers: bits, averageBits: layers.reduce((a, l) => a + (bits[l.layer.name] * l.size) / total, 0) };
}

/**
 * The model with each gated layer's learned bits fixed: kernel quantizer {kind: 'srq', bits: b_l}
 * without gates; every other weight (kernels, α, σ, BatchNorm…) copied by name.
 */
export async function fixLearnedBits(model: tf.LayersModel): Promise<tf.LayersModel> {
  const { layers: bits } = readLearnedBits(model);
  const topology = model.toJSON(undefined, false) as unknown as { config: { layers: Array<{ config: Record<string, unknown> & { name: string } }> } };
  for (const l of topology.config.layers) {
    if (!(l.config.name in bits)) continue;
    // The topology JSON has snake_case keys (TF.js converts nested config keys too).
    const { learn_bits: _a, learnBits: _b, ...spec } = l.config.kernel_quantizer as Record<string, unknown>;
    l.config.kernel_quantizer = { ...spec, bits: bits[l.config.name] };
  }
  const fixed = await tf.models.modelFromJSON(topology as never);
  for (const target of fixed.layers) {
    const source = model.getLayer(target.name);
    const byName = new Map(source.weights.map((w) => [w.originalName, w]));
    for (const w of target.weights) {
      const s = byName.get(w.originalName);
      if (s == null) throw new LowbitError(`fixing bits: ${target.name} has a weight ${w.originalName} the trained model lacks`);
      w.write(s.read());
    }
  }
  return fixed;
}
