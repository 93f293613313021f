/** Float training of a reference model from scratch: the teachers every quantization method starts from. */
import { buildModel, modelNames } from '../../models/index.js';
import { Method, trainClassifier } from '../../run/method.js';

export interface FloatOptions {
  /** A reference model: lenet5, vgg-small, resnet20, mobilenet-tiny, … */
  model: string;
  /** Width multiplier. */
  width: number;
}

export const floatMethod: Method<FloatOptions> = {
  name: 'float',
  description: 'train a reference model from scratch in float32',
  kind: 'float',
  needsTeacher: false,
  options: [
    { key: 'model', flag: 'model', type: { kind: 'choice', choices: modelNames }, help: `reference model: ${modelNames.join(', ')}`, arg: '<name>', required: true },
    { key: 'width', flag: 'width', type: { kind: 'positive' }, default: '1', help: 'width multiplier', arg: '<x>' },
  ],
  trainDefaults: { epochs: 3, learningRate: 1e-3, schedule: { name: 'step' } },
  tag: (o) => o.model,
  async run(o, ctx) {
    const model = buildModel(o.model, { inputShape: ctx.data.shape as [number, number, number], numClasses: ctx.data.numClasses, width: o.width, seed: ctx.train.seed });
    const out = await trainClassifier(model, ctx);
    return { ...out, fields: { ...out.fields, model: o.model, width: o.width } };
  },
};
