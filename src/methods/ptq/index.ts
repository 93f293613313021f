/**
 * PTQ as a Method: `lowbit quantize --method ptq --teacher M --wbits 8 --abits 8`, recipes'
 * `{"method": "ptq", …}` and `runMethod('ptq', …)`. No training: the run's history is empty and
 * its validation result is measured on the quantized model. docs/methods/ptq.md.
 */
import { evaluate, modelForward } from '../../train/evaluate.js';
import type { Method } from '../../run/method.js';
import { AciqPrior, observerNames } from './observers.js';
import { checkPtqOptions, postTrainingQuantize, PtqOptions } from './ptq.js';

export { postTrainingQuantize, ptqWeightSpec, checkPtqOptions } from './ptq.js';
export type { PtqOptions, PtqReport } from './ptq.js';
export * from './observers.js';

type PtqMethodOptions = Required<Omit<PtqOptions, 'seed' | 'maxSamples'>>;

/** What lowbit's PTQ takes from the ACIQ paper and what it reconstructs (recorded with each run). */
const RECONSTRUCTION = 'ACIQ clipping constants for Laplace at 2/3/4/8 bits are the paper\'s; other bit-widths, the Gaussian prior and one-sided (unsigned) grids use lowbit\'s numerical solution of the paper\'s error model; bias correction is the data-driven per-channel mean shift, not the paper\'s weight mean/std matching; --asymmetric activation grids (affine, with a zero point) are lowbit\'s, not the paper\'s; per-channel bit allocation (--bit-allocation, weights only) starts from the paper\'s closed form 2^M_i ∝ range_i^(2/3) under its constraint Σ 2^M_i = C·2^B, with range_i = max|w| of output channel i, then rounds to whole bits in [2, 8] and restores the constraint greedily (lowbit\'s integer step)';

export const ptqMethod: Method<PtqMethodOptions> = {
  name: 'ptq',
  description: 'post-training quantization: fold BatchNorm, calibrate activation ranges, no training',
  kind: 'quantized',
  needsTeacher: true,
  options: [
    { key: 'wbits', flag: 'wbits', type: { kind: 'integer', min: 1 }, default: '8', help: 'weight bits: 1, 2, 4, 8 (32 = float; ptq: 2–16 or 32)', arg: '<n>' },
    { key: 'abits', flag: 'abits', type: { kind: 'integer', min: 1 }, default: '8', help: 'activation bits: 2, 4, 8 (32 = float)', arg: '<n>' },
    { key: 'perChannel', flag: 'per-channel', type: { kind: 'boolean' }, default: false, help: 'ptq: one weight scale per output channel (DepthwiseConv2D: per input channel × multiplier)' },
    { key: 'bitAllocation', flag: 'bit-allocation', type: { kind: 'boolean' }, default: false, help: 'ptq: per-channel weight bits (2–8) from each channel\'s range, mean ≤ --wbits (Banner et al. 2019); implies per-channel scales' },
    { key: 'asymmetric', flag: 'asymmetric', type: { kind: 'boolean' }, default: false, help: 'ptq: asymmetric activation grids (unsigned codes with a zero point over the observed range; minmax, percentile, mse)' },
    { key: 'calibration', flag: 'calibration', type: { kind: 'integer', min: 1 }, default: '512', help: 'ptq, pq: calibration images (a seeded sample of the training set)', arg: '<n>' },
    { key: 'observer', flag: 'observer', type: { kind: 'choice', choices: observerNames }, default: 'minmax', help: `ptq: activation range observer: ${observerNames.join(', ')}`, arg: '<name>' },
    { key: 'weightObserver', flag: 'weight-observer', type: { kind: 'choice', choices: ['minmax', 'mse'] }, default: 'minmax', help: 'ptq: weight clipping: minmax (none) or mse', arg: '<name>' },
    { key: 'percentile', flag: 'percentile', type: { kind: 'positive' }, default: '99.99', help: 'ptq: the percentile observer\'s percentile, in (0, 100]', arg: '<p>' },
    { key: 'aciqPrior', flag: 'aciq-prior', type: { kind: 'choice', choices: ['laplace', 'gaussian'] }, default: 'laplace', help: 'ptq: the distribution ACIQ assumes', arg: '<name>' },
    { key: 'biasCorrection', flag: 'bias-correction', type: { kind: 'boolean' }, default: false, help: 'ptq: correct each output channel\'s bias for the mean shift weight quantization causes' },
    { key: 'keepFirstAndLastFloat', flag: 'float-ends', type: { kind: 'boolean' }, default: false, help: 'ptq: keep the first and last quantizable layers in float' },
  ],
  validate(o) {
    checkPtqOptions(o);
    return o;
  },
  tag: (o) => `ptq-w${o.wbits}a${o.abits}-${o.observer}${o.perChannel ? '-pc' : ''}${o.bitAllocation ? '-ba' : ''}${o.asymmetric ? '-asym' : ''}${o.biasCorrection ? '-bc' : ''}`,
  async run(o, ctx) {
    const { model, config, report } = await postTrainingQuantize(ctx.teacher!, ctx.data, { ...o, aciqPrior: o.aciqPrior as AciqPrior, seed: ctx.train.seed });
    ctx.log(`ptq: folded ${report.folded.length} BatchNorm layer(s), calibrated on ${report.calibrationImages} images with ${o.observer}${o.asymmetric ? ' (asymmetric grids)' : ''}`);
    const allocated = report.layers.filter((l) => l.channelBits != null);
    if (allocated.length > 0) {
      ctx.log(`ptq: bits per output channel (mean, min–max): ${allocated.map((l) => {
        const b = l.channelBits!;
        return `${l.name} ${(b.reduce((a, v) => a + v, 0) / b.length).toFixed(2)} (${Math.min(...b)}–${Math.max(...b)})`;
      }).join(', ')}`);
    }
    const val = await evaluate(modelForward(model), ctx.data.val, ctx.data.shape, ctx.data.numClasses);
    return {
      model, history: [], resumedFrom: 0, epochs: 0, val: { accuracy: val.accuracy, loss: val.loss },
      fields: { wbits: o.wbits, abits: o.abits, quantizeConfig: config, ptq: report, reconstruction: RECONSTRUCTION },
    };
  },
};
