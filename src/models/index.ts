import type * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import type { ModelOptions } from './builder.js';
import { lenet5 } from './lenet5.js';
import { mobilenetTiny } from './mobilenet-tiny.js';
import { resnet20 } from './resnet20.js';
import { vggSmall } from './vgg-small.js';

export type { ModelOptions } from './builder.js';
export { ModelBuilder } from './builder.js';

/** The reference models, built by name. Each outputs logits. */
export const modelRegistry: Record<string, (options: ModelOptions) => tf.LayersModel> = {
  lenet5: (o) => lenet5(o, true),
  'lenet5-plain': (o) => lenet5(o, false),
  'vgg-small': vggSmall,
  resnet20,
  'mobilenet-tiny': mobilenetTiny,
};

export const modelNames = Object.keys(modelRegistry);

export function buildModel(name: string, options: Partial<ModelOptions> = {}): tf.LayersModel {
  const build = modelRegistry[name];
  if (build == null) throw new LowbitError(`unknown model '${name}': choose one of ${modelNames.join(', ')}`);
  const inputShape = options.inputShape ?? [28, 28, 1];
  const [h, w] = inputShape;
  if (!((h === 28 && w === 28) || (h === 32 && w === 32))) {
    throw new LowbitError(`model '${name}' takes 28×28×C or 32×32×C inputs, got ${inputShape.join('×')}`);
  }
  const width = options.width ?? 1;
  if (!(width > 0)) throw new LowbitError(`width multiplier must be > 0, got ${width}`);
  return build({ inputShape, numClasses: options.numClasses ?? 10, width, seed: options.seed ?? 0 });
}
