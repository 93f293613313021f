/**
 * The relaxed-quantization family as methods: ste (round-and-clip with an LSQ step), rq and
 * rq-st (relaxed quantization), srq (with DropBits and learned bit-widths). One factory, four
 * registered methods; they differ only in the quantizer kind. How they work: docs/methods/srq.md.
 */
import * as tf from '../../backend/tf.js';
import { imageBatch } from '../../data/dataset.js';
import { LowbitError } from '../../errors.js';
import { Method, trainClassifier } from '../../run/method.js';
import { bitsOptions, bnRecalOption } from '../dorefa/index.js';
import { firstQuantizableLayer, relaxedConfig, relaxedModel, RelaxedMethodName, RelaxedRecipe } from './index.js';
import { bitWidthLoss, fixLearnedBits, readLearnedBits } from './learned-bits.js';

export interface RelaxedOptions {
  wbits: number;
  abits: number;
  /** SRQ: DropBits drop rate per bit on weights (reconstruction). */
  dropBits?: number;
  dropBitsMask?: 'element' | 'layer';
  /** rq, rq-st: concrete temperature λ. */
  temperature?: number;
  /** SRQ: learn each layer's weight bits (2 … wbits) with hard-concrete bit gates (reconstruction). */
  learnBits: boolean;
  /** With learnBits: the size-weighted average weight bits to aim for. */
  targetBits?: number;
  /** With learnBits: weight λ of the penalty λ·(average bits − target)². */
  bitsLambda: number;
  /** Per-layer weight bits overriding wbits (the quantized lottery ticket). */
  layerBits?: Record<string, number>;
  bnRecal: number;
}

function relaxedMethod(name: RelaxedMethodName, description: string): Method<RelaxedOptions> {
  const recipe = (o: RelaxedOptions): RelaxedRecipe => ({
    method: name, wbits: o.wbits, abits: o.abits, dropBits: o.dropBits, dropBitsMask: o.dropBitsMask, temperature: o.temperature,
    learnBits: o.learnBits ? true : undefined, layerBits: o.layerBits,
  });
  return {
    name, description, kind: 'quantized', needsTeacher: true,
    options: [
      ...bitsOptions,
      { key: 'dropBits', flag: 'dropbits', type: { kind: 'nonNegative', below: 1 }, help: 'srq: DropBits drop rate per bit on weights (reconstruction)', arg: '<p>' },
      { key: 'dropBitsMask', flag: 'dropbits-mask', type: { kind: 'choice', choices: ['element', 'layer'] }, help: 'srq --dropbits: gates drawn per element (default) or per layer and step (the method leaves it open)', arg: '<m>' },
      { key: 'temperature', flag: 'temperature', type: { kind: 'positive' }, help: 'rq, rq-st: concrete temperature λ', arg: '<x>' },
      { key: 'learnBits', flag: 'learn-bits', type: { kind: 'boolean' }, default: false, help: "srq: learn each layer's weight bits (2 to --wbits) with hard-concrete bit gates (reconstruction); add --bn-recal 4096: fixing the bits changes BatchNorm's statistics" },
      { key: 'targetBits', flag: 'target-bits', type: { kind: 'positive' }, help: 'srq --learn-bits: the size-weighted average weight bits to aim for', arg: '<B>' },
      { key: 'bitsLambda', flag: 'bits-lambda', type: { kind: 'nonNegative' }, default: '1', help: 'srq --learn-bits: weight λ of the penalty λ·(average bits − target)²', arg: '<x>' },
      { key: 'layerBits', flag: 'layer-bits', type: { kind: 'layerBits' }, help: 'ste, rq, rq-st, srq: per-layer weight bits, e.g. conv1=2,conv2=3 (others use --wbits)', arg: '<list>' },
      bnRecalOption,
    ],
    trainDefaults: { epochs: 3, learningRate: 5e-4, schedule: { name: 'step' } },
    validate(o, { teacher }) {
      if (o.learnBits && o.targetBits == null) throw new LowbitError('--learn-bits needs --target-bits B (the size-weighted average weight bits to aim for)');
      if (o.targetBits != null && !o.learnBits) throw new LowbitError('--target-bits applies with --learn-bits');
      if (o.targetBits != null && (o.targetBits < 2 || o.targetBits > o.wbits)) throw new LowbitError(`--target-bits must be between 2 (learned widths start at 2) and --wbits ${o.wbits}, got ${o.targetBits}`);
      const layers = teacher?.layers ?? [];
      relaxedConfig(recipe(o), firstQuantizableLayer(layers) ?? '');
      if (o.layerBits && teacher) {
        const names = layers.map((l) => l.name);
        for (const layer of Object.keys(o.layerBits)) if (!names.includes(layer)) throw new LowbitError(`--layer-bits names '${layer}', which is not a layer of the teacher (layers: ${names.join(', ')})`);
      }
      return o;
    },
    tag: (o) => `${name}${o.dropBits ? `-db${o.dropBits}${o.dropBitsMask === 'layer' ? 'l' : ''}` : ''}${o.learnBits ? `-learn${o.targetBits}` : ''}${o.layerBits ? '-layerbits' : ''}-w${o.wbits}a${o.abits}`,
    async run(o, ctx) {
      const r = recipe(o);
      const teacher = ctx.teacher!;
      // 256 training images (the first ones: the split is already shuffled by class) calibrate the grids.
      const calibration = imageBatch(ctx.data.train, ctx.data.shape, 256);
      const model = await relaxedModel(teacher, r, calibration).finally(() => calibration.dispose());
      const quantizeConfig = relaxedConfig(r, firstQuantizableLayer(teacher.layers)!);
      const out = await trainClassifier(model, ctx, {
        bnRecalImages: o.bnRecal,
        ...(o.learnBits ? {
          loss: bitWidthLoss(model, o.targetBits!, o.bitsLambda),
          finalize: async (m: tf.LayersModel) => {
            const learned = readLearnedBits(m);
            return { model: await fixLearnedBits(m), fields: { learnedBits: learned.layers, learnedAverageBits: learned.averageBits } };
          },
        } : {}),
      });
      return {
        ...out,
        fields: {
          ...out.fields, wbits: o.wbits, abits: o.abits, quantizeConfig, ...(o.dropBits != null ? { dropBits: o.dropBits } : {}),
          ...(o.dropBitsMask ? { dropBitsMask: o.dropBitsMask } : {}), ...(o.temperature != null ? { temperature: o.temperature } : {}),
          ...(o.learnBits ? { learnBits: true } : {}), ...(o.layerBits ? { layerBits: o.layerBits } : {}),
          targetBits: o.targetBits ?? null, bitsLambda: o.learnBits ? o.bitsLambda : null,
          reconstruction: name === 'srq' ? 'SRQ forward/backward, DropBits and learned bit-widths follow docs/methods/srq.md §2.2/§3.2/§3.3 (paper text unavailable)' : null,
        },
      };
    },
  };
}

export const steMethod = relaxedMethod('ste', 'round-and-clip with the clipped straight-through estimator and an LSQ-learned step');
export const rqMethod = relaxedMethod('rq', 'relaxed quantization (concrete relaxation over a learned grid)');
export const rqStMethod = relaxedMethod('rq-st', 'relaxed quantization, straight-through variant');
export const srqMethod = relaxedMethod('srq', 'semi-relaxed quantization with DropBits and learned bit-widths (reconstruction)');
