/**
 * DCQ as a method: the teacher cut into sections, each quantized section trained alone against
 * the teacher's features (in worker threads), then stitched. `train.epochs` is the epochs per
 * section. The stitched model's validation accuracy is what DCQ's hyper-parameters are chosen
 * on. How it works here: docs/methods/dcq.md. Node-only (worker threads).
 */
import { Method } from '../../run/method.js';
import { dorefaConfig, bitsOptions, bnRecalOption } from '../dorefa/index.js';
import { evaluate, modelForward } from '../../train/evaluate.js';
import { runDcq } from './run.js';

export interface DcqMethodOptions {
  wbits: number;
  abits: number;
  /** Cut layer names, or 'auto' (after pooling / at stage ends). */
  sections: string[] | 'auto';
  /** Worker threads training sections in parallel (default one per core; 0 = this thread). */
  workers?: number;
  lastLoss: 'ce' | 'kd';
  bnRecal: number;
  sectionLr?: number[];
  finetuneEpochs: number;
  /** Teacher features stay in memory up to this many MiB, else spill to files (run directories only). */
  cacheBudgetMb: number;
}

export const dcqMethod: Method<DcqMethodOptions> = {
  name: 'dcq',
  description: 'DCQ: sectional distillation, each quantized section trained against the teacher, then stitched',
  kind: 'quantized',
  needsTeacher: true,
  options: [
    ...bitsOptions,
    { key: 'sections', flag: 'sections', type: { kind: 'names', keyword: 'auto' }, default: 'auto', help: "cut layers: auto (after pooling / at stage ends) or layer names a,b", arg: '<cuts>' },
    { key: 'workers', flag: 'workers', type: { kind: 'integer', min: 0 }, help: 'worker threads training sections in parallel (default: one per core; 0 = main thread)', arg: '<n>' },
    { key: 'lastLoss', flag: 'last-loss', type: { kind: 'choice', choices: ['ce', 'kd'] }, default: 'ce', help: "the last section's loss: ce (labels) or kd (½ CE + ½ KD on the teacher's logits, T = 4)", arg: '<name>' },
    bnRecalOption,
    { key: 'sectionLr', flag: 'section-lr', type: { kind: 'positiveList' }, help: 'one learning rate per section, e.g. 1e-3,5e-4 (default --lr for all)', arg: '<list>' },
    { key: 'finetuneEpochs', flag: 'finetune-epochs', type: { kind: 'integer', min: 0 }, default: '0', help: 'end-to-end fine-tune epochs after stitching', arg: '<n>' },
    { key: 'cacheBudgetMb', flag: 'cache-budget-mb', type: { kind: 'nonNegative' }, default: '1024', help: 'teacher features stay in memory up to this size, else spill to files', arg: '<n>' },
  ],
  trainDefaults: { epochs: 3, learningRate: 5e-4, schedule: { name: 'step' } },
  validate(o) {
    dorefaConfig(o);
    return o;
  },
  tag: (o) => `dcq-w${o.wbits}a${o.abits}`,
  async run(o, ctx) {
    const quantizeConfig = dorefaConfig(o);
    const result = await runDcq({
      teacher: ctx.teacher!, modelName: ctx.modelName ?? null, cuts: o.sections, quantize: quantizeConfig, train: ctx.train,
      lastLoss: o.lastLoss, workers: o.workers, backend: ctx.backend, store: ctx.store, cacheBudgetBytes: o.cacheBudgetMb * 2 ** 20,
      bnRecalImages: o.bnRecal, finetuneEpochs: o.finetuneEpochs, sectionLr: o.sectionLr, progress: ctx.hooks != null,
    }, ctx.data);
    // The stitched model on the validation split: what DCQ's hyper-parameters are chosen on.
    const val = await evaluate(modelForward(result.model), ctx.data.val, ctx.data.shape, ctx.data.numClasses);
    const stitchedVal = { accuracy: val.accuracy, loss: val.loss };
    return {
      model: result.model, history: result.finetuneHistory, resumedFrom: 0, val: stitchedVal,
      fields: {
        wbits: o.wbits, abits: o.abits, quantizeConfig, stitchedVal, cuts: result.cuts, epochsPerSection: ctx.train.epochs, lastLoss: o.lastLoss,
        bnRecalImages: o.bnRecal, sectionLr: o.sectionLr ?? null, finetuneEpochs: o.finetuneEpochs, sections: result.sections,
        cacheSeconds: result.cacheSeconds, cacheBytes: result.cacheBytes, sectionSecondsSum: result.sectionSecondsSum, workers: o.workers ?? 'one per core',
      },
    };
  },
};
