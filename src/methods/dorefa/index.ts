/**
 * DoReFa-Net QAT (Zhou et al., arXiv:1606.06160): W-bit weights via dorefaWeight, A-bit
 * activations via dorefaActivation on the inputs of quantized layers, the first and last layers
 * kept in float (tensorpack's rule), fine-tuned from a float teacher with lowbit's training loop.
 * How it works here: docs/methods/dorefa.md.
 */
import type * as tf from '../../backend/tf.js';
import { LowbitError } from '../../errors.js';
import { QuantizeConfig, quantizeModel } from '../../layers/quantize-model.js';
import { Method, trainClassifier } from '../../run/method.js';
import type { OptionSpec } from '../../run/options.js';

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

/** Options of the DoReFa method (fine-tune the whole quantized teacher). */
export interface DorefaMethodOptions extends DorefaOptions {
  /** Re-estimate BatchNorm statistics on this many training images after training (0 = off). */
  bnRecal: number;
}

/** The shared bit-width options of every quantization method. */
export const bitsOptions: readonly OptionSpec[] = [
  { key: 'wbits', flag: 'wbits', type: { kind: 'integer', min: 1 }, default: '1', help: 'weight bits: 1, 2, 4, 8 (32 = float)', arg: '<n>' },
  { key: 'abits', flag: 'abits', type: { kind: 'integer', min: 1 }, default: '32', help: 'activation bits: 2, 4, 8 (32 = float)', arg: '<n>' },
];
export const bnRecalOption: OptionSpec = { key: 'bnRecal', flag: 'bn-recal', type: { kind: 'integer', min: 0 }, default: '0',
  help: 're-estimate BatchNorm statistics on N training images after training (dcq: after stitching)', arg: '<n>' };

export const dorefaMethod: Method<DorefaMethodOptions> = {
  name: 'dorefa',
  description: 'DoReFa-Net: fine-tune the whole quantized teacher (first and last layers float)',
  kind: 'quantized',
  needsTeacher: true,
  options: [...bitsOptions, bnRecalOption],
  trainDefaults: { epochs: 3, learningRate: 5e-4, schedule: { name: 'step' } },
  validate(o) {
    dorefaConfig(o);
    return o;
  },
  tag: (o) => `dorefa-w${o.wbits}a${o.abits}`,
  async run(o, ctx) {
    const quantizeConfig = dorefaConfig(o);
    const model = await quantizeModel(ctx.teacher!, quantizeConfig);
    const out = await trainClassifier(model, ctx, { bnRecalImages: o.bnRecal });
    return { ...out, fields: { ...out.fields, wbits: o.wbits, abits: o.abits, quantizeConfig } };
  },
};
