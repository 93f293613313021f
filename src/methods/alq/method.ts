/**
 * ALQ as a method: the teacher's quantized copy with multi-bit binary weights (the 'multibit'
 * quantizer kind, one group per output channel, I_max bases to start) and lowbit's DoReFa
 * activation quantizer at --abits, trained with the one training loop; after each of the first P
 * epochs, bases are pruned by ALQ's loss estimate from Adam's moments (alq.ts) until the average
 * reaches --alq-bits. --alq-uniform is the non-adaptive baseline: every channel exactly
 * --alq-bits bases, no pruning. How it works and what is simplified: docs/methods/alq.md.
 */
import { LowbitError } from '../../errors.js';
import { QuantizeConfig, quantizeModel } from '../../layers/quantize-model.js';
import { Method, trainClassifier } from '../../run/method.js';
import { bitsOptions, bnRecalOption } from '../dorefa/index.js';
import { alqReport, averageBases, pruneBases } from './alq.js';

export interface AlqOptions {
  /** The budget: average bases (bits) per weight over the multi-bit layers. */
  alqBits: number;
  /** The most bases (bits) a channel may have: I_max, the bases per channel before pruning (the shared --wbits). */
  wbits: number;
  /** Every channel exactly alqBits bases, no pruning (the uniform baseline). */
  alqUniform: boolean;
  /** Prune after each of the first P epochs (default ⌊epochs/2⌋, at least 1). */
  alqPruneEpochs?: number;
  /** Alternating least-squares rounds of the fit. */
  alqRefine: number;
  abits: number;
  bnRecal: number;
}

export function alqConfig(o: Pick<AlqOptions, 'alqBits' | 'wbits' | 'alqUniform' | 'alqRefine' | 'abits'>): QuantizeConfig {
  if (!Number.isInteger(o.abits) || o.abits < 1 || o.abits > 32) throw new LowbitError(`abits must be a whole number from 1 to 32, got ${o.abits}`);
  if (!Number.isInteger(o.wbits) || o.wbits < 1 || o.wbits > 8) throw new LowbitError(`alq: --wbits (the most bases per channel) must be a whole number from 1 to 8, got ${o.wbits}`);
  const bases = o.alqUniform ? o.alqBits : o.wbits;
  return { kernelQuantizer: { kind: 'multibit', bases, refine: o.alqRefine }, inputQuantizer: o.abits < 32 ? { kind: 'dorefa', bits: o.abits } : null, keepFirstAndLastFloat: true };
}

const pruneEpochsOf = (o: AlqOptions, epochs: number) => o.alqPruneEpochs ?? Math.max(1, Math.floor(epochs / 2));

export const alqMethod: Method<AlqOptions> = {
  name: 'alq',
  description: 'adaptive loss-aware quantization: multi-bit binary bases per channel, pruned by a second-order loss estimate to an average bit budget (simplified: docs/methods/alq.md)',
  kind: 'quantized',
  needsTeacher: true,
  options: [
    { ...bitsOptions[0], default: '4', help: 'the most bases (bits) per output channel: I_max, where pruning starts (1–8)' },
    { key: 'alqBits', flag: 'alq-bits', type: { kind: 'positive' }, default: '2', help: 'the budget: average bases (bits) per weight over the multi-bit layers', arg: '<B>' },
    { key: 'alqUniform', flag: 'alq-uniform', type: { kind: 'boolean' }, default: false, help: 'the non-adaptive baseline: every output channel exactly --alq-bits bases, no pruning' },
    { key: 'alqPruneEpochs', flag: 'alq-prune-epochs', type: { kind: 'integer', min: 1 }, help: 'prune after each of the first P epochs, the target falling linearly to the budget (default ⌊epochs/2⌋, at least 1)', arg: '<P>' },
    { key: 'alqRefine', flag: 'alq-refine', type: { kind: 'integer', min: 0 }, default: '2', help: 'alternating rounds (α by least squares, β by nearest sum) after the greedy fit', arg: '<n>' },
    bitsOptions[1],
    bnRecalOption,
  ],
  trainDefaults: { epochs: 4, learningRate: 5e-4, schedule: { name: 'step' } },
  validate(o, { train }) {
    if (o.alqUniform) {
      if (!Number.isInteger(o.alqBits) || o.alqBits > o.wbits) throw new LowbitError(`--alq-uniform keeps --alq-bits bases in every channel: give a whole number from 1 to --wbits ${o.wbits}, got ${o.alqBits}`);
      if (o.alqPruneEpochs != null) throw new LowbitError('--alq-prune-epochs applies without --alq-uniform (the uniform baseline prunes nothing)');
    } else {
      if (o.alqBits > o.wbits) throw new LowbitError(`--alq-bits ${o.alqBits} is above --wbits ${o.wbits} (the bases pruning starts from): pruning only removes bases; raise --wbits`);
      if (train.optimizer.name !== 'adam') throw new LowbitError(`alq prunes with the diagonal Hessian from Adam's second moment: use --optimizer adam (got ${train.optimizer.name}), or --alq-uniform`);
      if ((o.alqPruneEpochs ?? 1) > train.epochs) throw new LowbitError(`--alq-prune-epochs ${o.alqPruneEpochs} is more than the ${train.epochs} epochs`);
    }
    alqConfig(o);
    return o;
  },
  tag: (o) => `alq${o.alqUniform ? '-uniform' : `-max${o.wbits}`}-b${o.alqBits}a${o.abits}`,
  async run(o, ctx) {
    const quantizeConfig = alqConfig(o);
    const model = await quantizeModel(ctx.teacher!, quantizeConfig);
    const pruneEpochs = o.alqUniform ? 0 : pruneEpochsOf(o, ctx.train.epochs);
    const start = o.alqUniform ? o.alqBits : o.wbits;
    const minBases = o.alqBits >= 1 ? 1 : 0;
    const out = await trainClassifier(model, ctx, {
      bnRecalImages: o.bnRecal,
      ...(o.alqUniform ? {} : {
        onEpochTrained: (epoch, optimizer) => {
          if (epoch > pruneEpochs) return;
          const target = start - ((start - o.alqBits) * epoch) / pruneEpochs;
          const pruned = pruneBases(model, optimizer, target, minBases);
          ctx.log(`alq: epoch ${epoch}: pruned ${pruned} bases, ${averageBases(model).toFixed(3)} bases per weight (target ${target.toFixed(3)})`);
        },
      }),
    });
    const alq = alqReport(out.model, { budget: o.alqBits, uniform: o.alqUniform, maxBases: start, pruneEpochs });
    return {
      ...out,
      fields: {
        ...out.fields, wbits: o.wbits, abits: o.abits, quantizeConfig, alq,
        reconstruction: 'ALQ: multi-bit fit by greedy + alternating least squares on the latent weights (STE), pruning by the paper\'s ΔL from Adam\'s moments; the paper\'s loss-aware α/β steps are not implemented (docs/methods/alq.md)',
      },
    };
  },
};
