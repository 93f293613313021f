/**
 * SQ as a method: the teacher's quantized copy (BWN-style binary per output channel at --wbits 1,
 * TWN ternary at 2, DoReFa k-bit above; activations by lowbit's DoReFa activation quantizer at
 * --abits), trained with the one training loop while each quantized layer carries SQ's
 * stochastic partial quantization as a training-time transform (stochastic.ts). The saved model is
 * the plain base-quantizer model. How it works: docs/methods/sq.md.
 */
import { LowbitError } from '../../errors.js';
import { isQuantLayer } from '../../layers/quant-layers.js';
import { QuantizeConfig, quantizeModel } from '../../layers/quantize-model.js';
import type { QuantizerSpec } from '../../quantizers/spec.js';
import { Method, trainClassifier } from '../../run/method.js';
import { bitsOptions, bnRecalOption } from '../dorefa/index.js';
import { checkSqSchedule, DEFAULT_SQ_SCHEDULE, sqKernelMix, SqProbability, sqProbabilities, sqRatioAt } from './stochastic.js';

export interface SqOptions {
  /** Weight bits: 1 (binary, α per output channel), 2 (TWN ternary), 3–8 (DoReFa k-bit). */
  wbits: number;
  /** Activation bits (DoReFa activations; 32 = float). */
  abits: number;
  /** The fraction of channels quantized in each stage; stages split the epochs evenly; must end at 1. */
  sqSchedule: number[];
  /** f in p_i ∝ f(1/e_i). */
  sqProb: SqProbability;
  bnRecal: number;
}

/** The base weight quantizer SQ applies to the selected channels (and to all of them at test time). */
export function sqWeightQuantizer(wbits: number): QuantizerSpec {
  if (!Number.isInteger(wbits) || wbits < 1 || wbits > 8) throw new LowbitError(`sq: --wbits must be 1 (binary), 2 (ternary) or 3–8 (k-bit), got ${wbits}`);
  if (wbits === 1) return { kind: 'binary', scale: 'channel' };
  if (wbits === 2) return { kind: 'ternary' };
  return { kind: 'dorefa', bits: wbits };
}

export function sqConfig(o: Pick<SqOptions, 'wbits' | 'abits'>): QuantizeConfig {
  if (!Number.isInteger(o.abits) || o.abits < 1 || o.abits > 32) throw new LowbitError(`abits must be a whole number from 1 to 32, got ${o.abits}`);
  return { kernelQuantizer: sqWeightQuantizer(o.wbits), inputQuantizer: o.abits < 32 ? { kind: 'dorefa', bits: o.abits } : null, keepFirstAndLastFloat: true };
}

export const sqMethod: Method<SqOptions> = {
  name: 'sq',
  description: 'stochastic quantization: a rising, error-weighted random share of each layer\'s channels quantized per step (paper text unavailable; what is ours: docs/methods/sq.md)',
  kind: 'quantized',
  needsTeacher: true,
  options: [
    { ...bitsOptions[0], help: 'weight bits: 1 (binary, α per output channel), 2 (TWN ternary), 3–8 (DoReFa k-bit)' },
    bitsOptions[1],
    { key: 'sqSchedule', flag: 'sq-schedule', type: { kind: 'positiveList' }, default: DEFAULT_SQ_SCHEDULE.join(','),
      help: 'fraction of output channels quantized per stage; the stages split the epochs evenly and end at 1 (1 alone = plain QAT)', arg: '<r,…>' },
    { key: 'sqProb', flag: 'sq-prob', type: { kind: 'choice', choices: sqProbabilities }, default: 'linear',
      help: 'selection probability p ∝ f(1/e) from the channel\'s relative L1 error e: linear (the paper\'s choice), constant, softmax, sigmoid (the last two forms are our reading)', arg: '<f>' },
    bnRecalOption,
  ],
  trainDefaults: { epochs: 4, learningRate: 5e-4, schedule: { name: 'step' } },
  validate(o) {
    sqConfig(o);
    checkSqSchedule(o.sqSchedule);
    return o;
  },
  tag: (o) => `sq${o.sqSchedule.length === 1 ? '-plain' : ''}${o.sqProb !== 'linear' ? `-${o.sqProb}` : ''}-w${o.wbits}a${o.abits}`,
  async run(o, ctx) {
    const quantizeConfig = sqConfig(o);
    const model = await quantizeModel(ctx.teacher!, quantizeConfig);
    let ratio = sqRatioAt(o.sqSchedule, 1, ctx.train.epochs);
    const layers = model.layers.filter(isQuantLayer).filter((l) => l.kernelQuantizerSpec != null);
    for (const l of layers) l.setTransform({ quantize: true, kernelMix: sqKernelMix(() => ratio, o.sqProb) });
    const out = await trainClassifier(model, ctx, {
      bnRecalImages: o.bnRecal,
      onEpochStart: (epoch) => {
        ratio = sqRatioAt(o.sqSchedule, epoch, ctx.train.epochs);
        ctx.log(`sq: epoch ${epoch}: quantizing ${ratio * 100}% of each layer's output channels per step`);
      },
    });
    for (const l of out.model.layers) if (isQuantLayer(l)) l.setTransform(null);
    return {
      ...out,
      fields: {
        ...out.fields, wbits: o.wbits, abits: o.abits, quantizeConfig, sqSchedule: o.sqSchedule, sqProbability: o.sqProb,
        reconstruction: 'SQ channel selection and ratio stages follow docs/methods/sq.md; the softmax/sigmoid forms of f and the even split of epochs into stages are our reading',
      },
    };
  },
};
