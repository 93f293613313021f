/**
 * BiTAT as a method: W1/A1 (RSign inputs), layers binarized in stages bottom to top, with the
 * transform of docs/methods/bitat.md §1.3 (a reconstruction: the paper text was unavailable)
 * or the 'progressive' and 'plain' baselines. The total epochs follow from the stages.
 */
import { Method } from '../../run/method.js';
import { bitatQuantizeConfig, BitatVariant, bitatVariants, runBitat } from './run.js';

export interface BitatMethodOptions {
  variant: BitatVariant;
  epochsPerLayer: number;
  finalEpochs: number;
  distill: boolean;
  freezeUpper: boolean;
  fixedTransform: boolean;
  rprelu: boolean;
}

export const bitatMethod: Method<BitatMethodOptions> = {
  name: 'bitat',
  description: 'BiTAT: 1-bit weights and activations, binarized layer by layer (reconstruction)',
  kind: 'quantized',
  needsTeacher: true,
  options: [
    { key: 'variant', flag: 'variant', type: { kind: 'choice', choices: bitatVariants }, default: 'bitat', help: 'bitat (PCA transform), progressive (schedule only, V = I, s = 1) or plain (1/1 QAT, all layers at once)', arg: '<name>' },
    { key: 'epochsPerLayer', flag: 'epochs-per-layer', type: { kind: 'integer', min: 1 }, default: '1', help: 'epochs per binarized layer (stage)', arg: '<n>' },
    { key: 'finalEpochs', flag: 'final-epochs', type: { kind: 'integer', min: 0 }, default: '2', help: 'epochs after the last stage (binary kernels fixed)', arg: '<n>' },
    { key: 'distill', flag: 'distill', type: { kind: 'boolean' }, default: false, help: "loss = KL to the teacher's softmax (ReActNet) instead of CE on labels" },
    { key: 'freezeUpper', flag: 'freeze-upper', type: { kind: 'boolean' }, default: false, help: 'freeze the float layers above the current stage (ablation)' },
    { key: 'fixedTransform', flag: 'fixed-transform', type: { kind: 'boolean' }, default: false, help: 'keep V and s at their PCA values (ablation)' },
    { key: 'rprelu', flag: 'rprelu', type: { kind: 'boolean' }, default: false, help: "replace PReLU by ReActNet's RPReLU (learned shifts before and after)" },
  ],
  recipeEpochs: 'epochs-per-layer',
  trainDefaults: { learningRate: 5e-4 },
  tag: (o) => `bitat-${o.variant}-w1a1`,
  async run(o, ctx) {
    const result = await runBitat(ctx.teacher!, ctx.data, {
      ...o, train: ctx.train, checkpoints: ctx.store.checkpoints,
      onStage: (s) => ctx.log(`stage ${s.stage} (${s.layers.join(', ')}) binarized, val ${(s.valAccuracy * 100).toFixed(2)}%, ${s.seconds.toFixed(0)} s`),
    });
    return {
      model: result.model, history: result.history, resumedFrom: 0, epochs: result.totalEpochs,
      fields: {
        wbits: 1, abits: 1, quantizeConfig: bitatQuantizeConfig, ...o, stages: result.stages,
        reconstruction: 'BiTAT: the transform (docs/methods/bitat.md §1.3) and the schedule (§1.5) are a reconstruction; the paper text was unavailable',
      },
    };
  },
};
