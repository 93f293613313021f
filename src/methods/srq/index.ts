/**
 * RQ / RQ-ST / SRQ (+ DropBits) QAT recipes (srq.md §5.2): every layer's weights quantized on a
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

export type RelaxedMethodName = 'rq' | 'rq-st' | 'srq';

export interface RelaxedRecipe {
  method: RelaxedMethodName;
  wbits: number;
  abits: number;
  /** DropBits drop rate on weights (srq only). */
  dropBits?: number;
  /** Concrete temperature λ (rq, rq-st). */
  temperature?: number;
  /** Initial activation grid step (post-BN ReLU outputs are about unit scale). */
  activationAlpha?: number;
}

export function relaxedConfig(r: RelaxedRecipe, firstLayer: string): QuantizeConfig {
  if (r.dropBits && r.method !== 'srq') throw new LowbitError(`--dropbits applies to srq only, not ${r.method}`);
  return {
    kernelQuantizer: { kind: r.method, bits: r.wbits, ...(r.dropBits ? { dropBits: r.dropBits } : {}), ...(r.temperature ? { temperature: r.temperature } : {}) },
    inputQuantizer: r.abits < 32 ? { kind: r.method, bits: r.abits, initAlpha: r.activationAlpha ?? 0.5, ...(r.temperature ? { temperature: r.temperature } : {}) } : null,
    keepFirstAndLastFloat: false,
    overrides: [{ match: firstLayer, inputQuantizer: null }], // input pixels stay float
  };
}

/** The MSE-optimal grid step for w on {−2^(b−1) … 2^(b−1)−1}·α, by a search over α. */
export function mseOptimalAlpha(w: tf.Tensor, bits: number): number {
  return tf.tidy(() => {
    const maxAbs = tf.max(tf.abs(w)).dataSync()[0] || 1;
    let best = { alpha: maxAbs / 2 ** (bits - 1), err: Infinity };
    for (let f = 0.05; f <= 1.5; f += 0.05) {
      const alpha = (f * maxAbs) / 2 ** (bits - 1);
      const err = tf.mean(tf.squaredDifference(roundToGrid(w, tf.scalar(alpha), bits, true), w)).dataSync()[0];
      if (err < best.err) best = { alpha, err };
    }
    return best.alpha;
  });
}

export async function relaxedModel(teacher: tf.LayersModel, r: RelaxedRecipe): Promise<tf.LayersModel> {
  const first = teacher.layers.find((l) => ['Conv2D', 'DepthwiseConv2D', 'Dense'].includes(l.getClassName()));
  if (first == null) throw new LowbitError(`${teacher.name} has no Conv2D, DepthwiseConv2D or Dense layer to quantize`);
  const q = await quantizeModel(teacher, relaxedConfig(r, first.name));
  for (const layer of q.layers.filter(isQuantLayer)) {
    const alpha = mseOptimalAlpha(layer.weights[0].read(), r.wbits);
    for (const w of layer.weights) {
      if (w.originalName.endsWith('kernel_log_alpha')) w.write(tf.scalar(Math.log(alpha)));
      if (w.originalName.endsWith('kernel_log_sigma')) w.write(tf.scalar(Math.log(alpha / 3)));
    }
  }
  return q;
}
