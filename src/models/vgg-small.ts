import type * as tf from '../backend/tf.js';
import { ModelBuilder, ModelOptions } from './builder.js';

/**
 * SVHN-8-style VGG (dcq.md §4.2 B at width 1): [32,32,M, 64,64,M, 128,128,M] 3×3 same conv + BN + ReLU,
 * then conv 256 3×3 valid + BN + ReLU, then FC. Width 0.5 is DCQ's "VGG-7-half".
 * Names: conv{stage}_{i}, bn{stage}_{i}, relu{stage}_{i}, pool{stage}; conv4, bn4, relu4; flatten; fc.
 */
export function vggSmall(options: ModelOptions): tf.LayersModel {
  const b = new ModelBuilder(options);
  const input = b.input();
  let x = input;
  [32, 64, 128].forEach((filters, s) => {
    for (let i = 1; i <= 2; i++) x = b.convBnRelu(x, `${s + 1}`, `_${i}`, b.w(filters), 3);
    x = b.maxPool(x, `pool${s + 1}`);
  });
  x = b.convBnRelu(x, '4', '', b.w(256), 3, { padding: 'valid' });
  return b.model(input, b.dense(b.flatten(x), 'fc', options.numClasses), 'vgg-small');
}
