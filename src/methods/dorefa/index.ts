/**
 * DoReFa-Net QAT (Zhou et al., arXiv:1606.06160): W-bit weights via dorefaWeight, A-bit
 * activations via dorefaActivation on the inputs of quantized layers, the first and last layers
 * kept in float (tensorpack's rule), fine-tuned from a float teacher with lowbit's training loop.
 * Spec: shared/methods/dcq.md §1.
 */
import type * as tf from '../../backend/tf.js';
import { LowbitError } from '../../errors.js';
import { QuantizeConfig, quantizeModel } from '../../layers/quantize-model.js';

export interface DorefaOptions {
  /** Weight bits: 1 (sign·mean|w|), 2–8, or 32 (float). */
  wbits: number;
  /** Activation bits: 1–8, or 32 (float, plain ReLU kept). */
  abits: number;
  keepFirstAndLastFloat?: boolean;
}

export function dorefaConfig(o: DorefaOptions): QuantizeConfig {
  for (const [flag, bits] of [['wbits', o.wbits], ['abits', o.abits]] as const) {
    if (!Number.isInteger(bits) || bits < 1 || bits > 32) throw new LowbitError(`${flag} must be a whole number from 1 to 32, got ${bits}`);
  }
  return {
    kernelQuantizer: o.wbits < 32 ? { kind: 'dorefa', bits: o.wbits } : null,
    inputQuantizer: o.abits < 32 ? { kind: 'dorefa', bits: o.abits } : null,
    keepFirstAndLastFloat: o.keepFirstAndLastFloat ?? true,
  };
}

/** The teacher's quantized copy, ready to fine-tune with `train`. */
export function dorefaModel(teacher: tf.LayersModel, o: DorefaOptions): Promise<tf.LayersModel> {
  return quantizeModel(teacher, dorefaConfig(o));
}
