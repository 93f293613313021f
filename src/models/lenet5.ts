import type * as tf from '../backend/tf.js';
import { ModelBuilder, ModelOptions } from './builder.js';

/**
 * LeNet-5 as in DCQ's code (dcq.md §4.2 A): conv 20@5×5 → BN → ReLU → maxpool → conv 50@5×5 → BN →
 * ReLU → maxpool → FC 500 → BN → ReLU → FC 10, valid padding. `batchNorm: false` gives lenet5-plain
 * (biases instead of BN). Layer names: conv1, bn1, relu1, pool1, conv2, bn2, relu2, pool2, flatten,
 * fc1, bn3, relu3, fc2.
 */
export function lenet5(options: ModelOptions, batchNorm = true): tf.LayersModel {
  const b = new ModelBuilder(options);
  const input = b.input();
  let x = input;
  const stage = (i: number, filters: number) => {
    x = b.conv(x, `conv${i}`, b.w(filters), 5, { padding: 'valid', useBias: !batchNorm });
    if (batchNorm) x = b.bn(x, `bn${i}`);
    x = b.maxPool(b.relu(x, `relu${i}`), `pool${i}`);
  };
  stage(1, 20);
  stage(2, 50);
  x = b.dense(b.flatten(x), 'fc1', b.w(500), !batchNorm);
  if (batchNorm) x = b.bn(x, 'bn3');
  x = b.relu(x, 'relu3');
  return b.model(input, b.dense(x, 'fc2', options.numClasses), batchNorm ? 'lenet5' : 'lenet5-plain');
}
