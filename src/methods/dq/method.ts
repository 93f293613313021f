/**
 * DQ, the grouped vector-quantization auto-encoder, as a method: trains from scratch (no
 * teacher) with the one training loop and records bits/dim, MSE, code usage and the
 * channel/position correlation (docs/methods/dq.md §4). The Node entry adds the figures
 * (recon.png, code-usage.svg, channel-correlation.svg) to a run directory.
 */
import * as tf from '../../backend/tf.js';
import { imageBatch } from '../../data/dataset.js';
import { LowbitError } from '../../errors.js';
import { Method, runHooks } from '../../run/method.js';
import type { DqRunRecord } from '../../run/record.js';
import { train } from '../../train/loop.js';
import { correlationAnalysis } from './analysis.js';
import { buildDqAutoencoder, DqModelOptions } from './model.js';
import { DqEvaluation, dqLoss, evaluateDq, lastStepStats } from './run.js';

export type DqMethodOptions = Required<Omit<DqModelOptions, 'seed'>>;

/** What the DQ method keeps in memory beside its record (for figures). */
export interface DqArtifacts {
  test: DqEvaluation;
  channelMatrix: number[][];
  groups: number;
}

const strip = (e: DqEvaluation) => ({ ...e, levels: e.levels.map(({ usage: _u, ...l }) => l) });

export const dqMethod: Method<DqMethodOptions> = {
  name: 'dq',
  description: 'Depthwise Quantization: a hierarchical VQ auto-encoder with M codebooks per level, in bits/dim',
  kind: 'dq',
  needsTeacher: false,
  options: [
    { key: 'groups', flag: 'groups', type: { kind: 'integer', min: 1 }, default: '4', help: 'channel groups per level, one codebook each (1 = plain VQ)', arg: '<M>' },
    { key: 'codes', flag: 'codes', type: { kind: 'integer', min: 2, max: 65536 }, default: '32', help: 'codes per codebook (at most 65536: codes are stored as uint16)', arg: '<K>' },
    { key: 'levels', flag: 'levels', type: { kind: 'integer', min: 1, max: 2 }, default: '2', help: '1 (8×8 codes) or 2 (8×8 and 4×4)', arg: '<n>' },
    { key: 'embedChannels', flag: 'embed', type: { kind: 'integer', min: 1 }, default: '32', help: 'quantized channels per position M·D (D = embed / groups)', arg: '<n>' },
    { key: 'width', flag: 'width', type: { kind: 'integer', min: 2 }, default: '32', help: 'encoder/decoder width C', arg: '<n>' },
    { key: 'mixtures', flag: 'mixtures', type: { kind: 'integer', min: 1 }, default: '5', help: 'logistic mixture components of the output head', arg: '<n>' },
    { key: 'learning', flag: 'learning', type: { kind: 'choice', choices: ['ema', 'loss'] }, default: 'ema', help: "codebooks by ema (EMA k-means, the authors' code) or loss (codebook loss)", arg: '<name>' },
    { key: 'init', flag: 'init', type: { kind: 'choice', choices: ['normal', 'batch', 'kmeans'] }, default: 'normal', help: 'codebook init: normal (N(0,1)), batch (first-batch samples) or kmeans', arg: '<name>' },
  ],
  trainDefaults: { epochs: 3, learningRate: 2e-3, schedule: { name: 'constant' } },
  validate(o, { data }) {
    if (data && data.shape.join('x') !== '28x28x1') throw new LowbitError(`the DQ auto-encoder takes 28×28 grey images; ${data.name} has ${data.shape.join('×')}`);
    if (o.embedChannels % o.groups !== 0) throw new LowbitError(`--embed ${o.embedChannels} must be a multiple of --groups ${o.groups} (D = embed / groups)`);
    return o;
  },
  tag: (o) => `dq-m${o.groups}-k${o.codes}`,
  async run(o, ctx) {
    const options: DqModelOptions = { ...o, seed: ctx.train.seed };
    const { data } = ctx;
    const model = buildDqAutoencoder(options, data.shape as [number, number, number]);
    try {
      const codeStats: unknown[] = [];
      const result = await train(model, data, { ...ctx.train, loss: dqLoss },
        runHooks(ctx, (record) => codeStats.push({ epoch: record.epoch, lastStep: lastStepStats(model) })));
      const val = await evaluateDq(model, data.val, data.shape, data.numClasses);
      const test = await evaluateDq(model, data.test, data.shape, data.numClasses);
      const sample = imageBatch(data.test, data.shape, 1000, true) as tf.Tensor4D;
      const { channelMatrix, ...correlation } = correlationAnalysis(model, sample);
      sample.dispose();
      const fields: Partial<DqRunRecord> = {
        dq: options, val: strip(val), test: strip(test), correlation, codeStatsPerEpoch: codeStats,
        bpdNote: 'bits/dim over the 784 original pixels (the 2-pixel padding excluded); full bound adds Σ levels H·W·M·log2 K / 784 (uniform prior)',
      };
      const artifacts: DqArtifacts = { test, channelMatrix, groups: correlation.groups };
      return { model, history: result.history, resumedFrom: result.resumedFrom, fields, artifacts };
    } catch (e) {
      model.dispose();
      throw e;
    }
  },
};
