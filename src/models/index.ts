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

/** What input sizes each model's downsampling admits (any channel count works): null when H × W fits, else what it needs. */
function inputSizeProblem(name: string, h: number, w: number): string | null {
  const min = name.startsWith('lenet5') ? 16 : name === 'vgg-small' ? 24 : 4;
  if (h < min || w < min) return `at least ${min}×${min}`;
  // The stride-2 blocks add a stride-2 depthwise path to a 2×2 average-pool shortcut: both halve alike only from even sizes.
  if (name === 'mobilenet-tiny' && (Math.ceil(h / 2) % 2 !== 0 || Math.ceil(w / 2) % 2 !== 0)) return 'sides that halve to an even size (e.g. multiples of 4)';
  return null;
}

export function buildModel(name: string, options: Partial<ModelOptions> = {}): tf.LayersModel {
  const build = modelRegistry[name];
  if (build == null) throw new LowbitError(`unknown model '${name}': choose one of ${modelNames.join(', ')}`);
  const inputShape = options.inputShape ?? [28, 28, 1];
  const [h, w, c] = inputShape;
  const problem = [h, w, c].every((n) => Number.isInteger(n) && n >= 1) ? inputSizeProblem(name, h, w) : 'a whole H × W × C';
  if (problem != null) {
    throw new LowbitError(`model '${name}' needs inputs of ${problem}, got ${inputShape.join('×')}; resize with --image-size HxW`);
  }
  const width = options.width ?? 1;
  if (!(width > 0)) throw new LowbitError(`width multiplier must be > 0, got ${width}`);
  return build({ inputShape, numClasses: options.numClasses ?? 10, width, seed: options.seed ?? 0 });
}
