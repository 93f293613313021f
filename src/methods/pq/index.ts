/**
 * Product-quantized weights as a Method: `lowbit quantize --method pq --teacher M --pq-block 8`,
 * recipes' `{"method": "pq", …}` and `runMethod('pq', …)`. Layer-by-layer activation-weighted
 * k-means (quantize.ts, kmeans.ts), then the codebooks, BatchNorm and the float biases fine-tuned
 * by distillation from the float teacher (KL to its softmax) with the one training loop, the
 * assignments fixed. docs/methods/pq.md.
 */
import type * as tf from '../../backend/tf.js';
import { LowbitError } from '../../errors.js';
import { isQuantLayer } from '../../layers/quant-layers.js';
import { Method, runHooks } from '../../run/method.js';
import { train } from '../../train/loop.js';
import { evaluate, modelForward } from '../../train/evaluate.js';
import { withTeacherLogits } from '../bitat/run.js';
import { distillationLoss } from '../dcq/losses.js';
import { checkPqOptions, productQuantize } from './quantize.js';

export { productQuantize, pqLayerSpec, checkPqOptions } from './quantize.js';
export type { PqOptions, PqReport, PqLayerReport } from './quantize.js';
export { weightedKMeans, metricError, metricRoot, symmetricEigen } from './kmeans.js';
export type { KMeansResult } from './kmeans.js';

export interface PqMethodOptions {
  block: number;
  blockConv?: number;
  codebook: number;
  kmeansIters: number;
  weighting: 'output' | 'weight';
  calibration: number;
  quantizeFirst: boolean;
  kmeansOnly: boolean;
}

/** What is taken from the paper and its code, and what lowbit does differently (recorded with each run). */
const RECONSTRUCTION = 'k-means E/M steps, the block cut, the K clamp, empty-cluster splitting and averaged centroid gradients follow the authors\' code (facebookresearch/kill-the-bits); '
  + 'the paper text itself was not read; H is computed on all calibration patches (the code re-samples activations each iteration); '
  + 'no per-layer centroid fine-tuning between layers (only the global distillation); codebooks counted as float32 (the paper stores float16)';

export const pqMethod: Method<PqMethodOptions> = {
  name: 'pq',
  description: 'product-quantized weights: activation-weighted k-means layer by layer, codebooks fine-tuned by distillation (And the Bit Goes Down)',
  kind: 'quantized',
  needsTeacher: true,
  options: [
    { key: 'block', flag: 'pq-block', type: { kind: 'integer', min: 1 }, default: '4', help: 'pq: sub-vector length d of Dense layers and 1×1 convs (the paper: 4; a layer whose inputs d does not divide uses the largest divisor below)', arg: '<d>' },
    { key: 'blockConv', flag: 'pq-block-conv', type: { kind: 'integer', min: 1 }, help: 'pq: sub-vector length d of k×k convs (default k·k: one input channel\'s patch, the paper\'s 9 for 3×3)', arg: '<d>' },
    { key: 'codebook', flag: 'pq-codebook', type: { kind: 'integer', min: 2 }, default: '256', help: 'pq: codewords K per layer, a power of two (clamped below a quarter of the layer\'s sub-vectors, as the authors do)', arg: '<K>' },
    { key: 'kmeansIters', flag: 'pq-kmeans-iters', type: { kind: 'integer', min: 1 }, default: '20', help: 'pq: k-means iterations per layer', arg: '<n>' },
    { key: 'weighting', flag: 'pq-weighting', type: { kind: 'choice', choices: ['output', 'weight'] }, default: 'output', help: 'pq: output = k-means weighted by the layer\'s inputs (the paper); weight = plain k-means on the weights (the baseline)', arg: '<w>' },
    { key: 'calibration', flag: 'calibration', type: { kind: 'integer', min: 1 }, default: '512', help: 'ptq, pq: calibration images (a seeded sample of the training set)', arg: '<n>' },
    { key: 'quantizeFirst', flag: 'pq-quantize-first', type: { kind: 'boolean' }, default: false, help: 'pq: also quantize the first Conv2D/Dense layer (the paper keeps it float)' },
    { key: 'kmeansOnly', flag: 'pq-kmeans-only', type: { kind: 'boolean' }, default: false, help: 'pq: stop after the k-means (no distillation fine-tuning)' },
  ],
  trainDefaults: { epochs: 3, learningRate: 5e-4, schedule: { name: 'step' } },
  validate(o, { teacher }) {
    checkPqOptions(o);
    if (teacher && !teacher.layers.some((l) => ['Conv2D', 'Dense'].includes(l.getClassName()))) throw new LowbitError('pq quantizes Conv2D and Dense kernels: the teacher has none');
    return o;
  },
  tag: (o) => `pq-${o.weighting}-d${o.block}${o.blockConv ? `c${o.blockConv}` : ''}-k${o.codebook}${o.kmeansOnly ? '-kmeans' : ''}`,
  async run(o, ctx) {
    const teacher = ctx.teacher!;
    const { model, config, report } = await productQuantize(teacher, ctx.data, {
      block: o.block, blockConv: o.blockConv ?? null, codebook: o.codebook, kmeansIters: o.kmeansIters, weighting: o.weighting,
      calibration: o.calibration, keepFirstFloat: !o.quantizeFirst, seed: ctx.train.seed,
    });
    for (const l of report.layers) {
      ctx.log(`pq: ${l.name} d=${l.dim} K=${l.size} (${l.count} sub-vectors, ${l.bitsPerWeight.toFixed(2)} bits/weight with the codebook), relative output error ${l.relativeOutputError.toExponential(2)}`);
    }
    // wbits: the quantized kernels' bits per weight, indices and codebooks counted (tables show it as W bits); activations stay float.
    const fields = { wbits: Math.round(report.bitsPerWeight * 100) / 100, abits: 32, quantizeConfig: config, pq: report, reconstruction: RECONSTRUCTION };
    if (o.kmeansOnly) {
      const val = await evaluate(modelForward(model), ctx.data.val, ctx.data.shape, ctx.data.numClasses);
      return { model, history: [], resumedFrom: 0, epochs: 0, val: { accuracy: val.accuracy, loss: val.loss }, fields };
    }
    // Trained: each PQ layer's codebook (its indices are not trainable), BatchNorm, biases; not the latent kernels the codebooks replaced.
    const latent = new Set<tf.LayerVariable>(model.layers.filter(isQuantLayer).filter((l) => l.kernelQuantizerSpec?.kind === 'pq').map((l) => l.latentKernel));
    const variables = model.trainableWeights.filter((w) => !latent.has(w)).map((w) => w.read() as tf.Variable);
    try {
      const result = await train(model, withTeacherLogits(teacher, ctx.data), { ...ctx.train, variables, loss: distillationLoss(1, 0) }, runHooks(ctx));
      return { model, history: result.history, resumedFrom: result.resumedFrom, fields };
    } catch (e) {
      model.dispose();
      throw e;
    }
  },
};
