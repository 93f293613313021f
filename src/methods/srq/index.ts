/**
 * STE / RQ / RQ-ST / SRQ (+ DropBits) QAT recipes (srq.md §5.2): every layer's weights quantized on a
 * signed grid {−2^(b−1) … 2^(b−1)−1}·α_w (first and last layers included), the inputs of every
 * layer but the first (post-ReLU activations) on {0 … 2^b−1}·α_a, α and σ learned per quantizer.
 * SRQ and DropBits are RECONSTRUCTIONS (the paper's full text was not available; srq.md §2.2, §3.2).
 * α_w starts at the MSE-optimal grid scale for the teacher's weights, σ = α/3.
 */
import * as tf from '../../backend/tf.js';
import { LowbitError } from '../../errors.js';
import { isQuantLayer } from '../../layers/quant-layers.js';
import { QuantizeConfig, quantizeModel } from '../../layers/quantize-model.js';
import { roundToGrid } from '../../quantizers/relaxed.js';
import type { QuantizerSpec } from '../../quantizers/spec.js';

/** 'ste' is the table's baseline (srq.md §5.2 method 2): round-and-clip with the clipped STE and an LSQ-learned step. */
export type RelaxedMethodName = 'ste' | 'rq' | 'rq-st' | 'srq';

export interface RelaxedRecipe {
  method: RelaxedMethodName;
  wbits: number;
  abits: number;
  /** DropBits drop rate on weights (srq only). */
  dropBits?: number;
  /** DropBits gates per element (default) or per layer (srq.md §3.2 leaves it open). */
  dropBitsMask?: 'element' | 'layer';
  /** Concrete temperature λ (rq, rq-st). */
  temperature?: number;
  /** Initial activation grid step (post-BN ReLU outputs are about unit scale). */
  activationAlpha?: number;
  /** SRQ: learn each layer's weight bit-width (≤ wbits) with hard-concrete bit gates. */
  learnBits?: boolean;
  /** Per-layer weight bits overriding wbits (the lottery-ticket retrain). */
  layerBits?: Record<string, number>;
}

export function relaxedConfig(r: RelaxedRecipe, firstLayer: string): QuantizeConfig {
  if (r.dropBits && r.method !== 'srq') throw new LowbitError(`--dropbits applies to srq only, not ${r.method}`);
  if (r.dropBitsMask && !r.dropBits) throw new LowbitError('--dropbits-mask applies with --dropbits P');
  if (r.learnBits && r.method !== 'srq') throw new LowbitError(`--learn-bits applies to srq only, not ${r.method}`);
  if (r.temperature && r.method === 'ste') throw new LowbitError('--temperature applies to rq and rq-st, not ste');
  const method = r.method;
  const relaxed = { ...(r.temperature ? { temperature: r.temperature } : {}) };
  // STE is LSQ on the same grids: signed weights, unsigned post-ReLU inputs, no noise.
  const kernel = (bits: number): QuantizerSpec => (method === 'ste' ? { kind: 'lsq', bits, signed: true } : {
    kind: method, bits, ...relaxed, ...(r.learnBits ? { learnBits: true } : {}),
    ...(r.dropBits ? { dropBits: r.dropBits, ...(r.dropBitsMask ? { dropBitsMask: r.dropBitsMask } : {}) } : {}),
  });
  const alpha = r.activationAlpha ?? 0.5;
  return {
    kernelQuantizer: kernel(r.wbits),
    inputQuantizer: r.abits >= 32 ? null
      : method === 'ste' ? { kind: 'lsq', bits: r.abits, signed: false, initStep: alpha } : { kind: method, bits: r.abits, initAlpha: alpha, ...relaxed },
    keepFirstAndLastFloat: false,
    overrides: [{ match: firstLayer, inputQuantizer: null }, // input pixels stay float
      ...Object.entries(r.layerBits ?? {}).map(([name, bits]) => ({ match: name, kernelQuantizer: kernel(bits) }))],
  };
}

/**
 * The MSE-optimal grid step for x on {−2^(b−1) … 2^(b−1)−1}·α (signed, weights) or
 * {0 … 2^b−1}·α (unsigned, post-ReLU activations), by a search over α.
 */
export function mseOptimalAlpha(x: tf.Tensor, bits: number, signed = true): number {
  return tf.tidy(() => {
    const maxAbs = tf.max(tf.abs(x)).dataSync()[0] || 1;
    const levels = signed ? 2 ** (bits - 1) : 2 ** bits - 1;
    let best = { alpha: maxAbs / levels, err: Infinity };
    for (let f = 0.05; f <= 1.5; f += 0.05) {
      const alpha = (f * maxAbs) / levels;
      const err = tf.mean(tf.squaredDifference(roundToGrid(x, tf.scalar(alpha), bits, signed), x)).dataSync()[0];
      if (err < best.err) best = { alpha, err };
    }
    return best.alpha;
  });
}

/**
 * The teacher's inputs to each layer on one calibration batch (inference mode): what the
 * activation quantizers will see.
 */
function layerInputs(teacher: tf.LayersModel, names: string[], batch: tf.Tensor): Map<string, tf.Tensor> {
  const inputs = names.map((n) => teacher.getLayer(n).input as tf.SymbolicTensor);
  // Layers that share an input (branches of one activation) read one probe output: TF.js refuses a
  // model that lists an output twice.
  const unique = [...new Set(inputs)];
  const probe = tf.model({ inputs: teacher.inputs, outputs: unique });
  const outs = probe.predict(batch) as tf.Tensor | tf.Tensor[];
  const list = Array.isArray(outs) ? outs : [outs];
  return new Map(names.map((n, i) => [n, list[unique.indexOf(inputs[i])]]));
}

/** The first Conv2D, DepthwiseConv2D or Dense layer's name: its input (the pixels) stays float. */
export function firstQuantizableLayer(layers: ReadonlyArray<{ name: string; getClassName(): string }>): string | null {
  return layers.find((l) => ['Conv2D', 'DepthwiseConv2D', 'Dense'].includes(l.getClassName()))?.name ?? null;
}

/**
 * The teacher quantized with the recipe. α_w starts at the MSE-optimal step for each layer's
 * weights; with a calibration batch, α_a starts at the MSE-optimal step for that layer's
 * inputs (else at `activationAlpha`); σ = α/3 throughout.
 */
export async function relaxedModel(teacher: tf.LayersModel, r: RelaxedRecipe, calibration?: tf.Tensor): Promise<tf.LayersModel> {
  const first = firstQuantizableLayer(teacher.layers);
  if (first == null) throw new LowbitError(`${teacher.name} has no Conv2D, DepthwiseConv2D or Dense layer to quantize`);
  const q = await quantizeModel(teacher, relaxedConfig(r, first));
  const quantLayers = q.layers.filter(isQuantLayer);
  const acts = calibration && r.abits < 32 ? layerInputs(teacher, quantLayers.filter((l) => l.inputBits < 32).map((l) => l.name), calibration) : new Map<string, tf.Tensor>();
  const set = (layer: tf.layers.Layer, prefix: string, alpha: number) => {
    for (const w of layer.weights) {
      if (w.originalName.endsWith(`${prefix}_log_alpha`)) tf.tidy(() => { w.write(tf.scalar(Math.log(alpha))); });
      if (w.originalName.endsWith(`${prefix}_log_sigma`)) tf.tidy(() => { w.write(tf.scalar(Math.log(alpha / 3))); });
      if (w.originalName.endsWith(`${prefix}_lsq_step`)) tf.tidy(() => { w.write(tf.scalar(alpha)); });
    }
  };
  for (const layer of quantLayers) {
    set(layer, 'kernel', mseOptimalAlpha(layer.weights[0].read(), r.layerBits?.[layer.name] ?? r.wbits));
    const a = acts.get(layer.name);
    if (a) set(layer, 'input', mseOptimalAlpha(a, r.abits, false));
  }
  tf.dispose([...acts.values()]);
  return q;
}
