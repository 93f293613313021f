import * as tf from '../backend/tf.js';
import { ModelBuilder, ModelOptions, SymbolicTensor } from './builder.js';

/**
 * ResNet-20 (He et al. 2016, CIFAR variant): stem conv 16 → 3 stages × 3 basic blocks (16, 32, 64
 * channels × width), stride-2 downsampling with a 1×1 projection + BN shortcut, global average
 * pool, FC. Names: stem_conv/bn/relu; s{stage}b{block}_conv1, _bn1, _relu1, _conv2, _bn2,
 * _proj_conv, _proj_bn, _add, _relu2; gap; fc.
 */
export function resnet20(options: ModelOptions): tf.LayersModel {
  const b = new ModelBuilder(options);
  const input = b.input();
  let x = b.relu(b.bn(b.conv(input, 'stem_conv', b.w(16), 3, { useBias: false }), 'stem_bn'), 'stem_relu');
  let channels = b.w(16);
  [16, 32, 64].forEach((base, s) => {
    for (let blk = 1; blk <= 3; blk++) {
      const p = `s${s + 1}b${blk}`;
      const filters = b.w(base);
      const strides = s > 0 && blk === 1 ? 2 : 1;
      let y = b.conv(x, `${p}_conv1`, filters, 3, { strides, useBias: false });
      y = b.relu(b.bn(y, `${p}_bn1`), `${p}_relu1`);
      y = b.bn(b.conv(y, `${p}_conv2`, filters, 3, { useBias: false }), `${p}_bn2`);
      let shortcut: SymbolicTensor = x;
      if (strides !== 1 || filters !== channels) {
        shortcut = b.bn(b.conv(x, `${p}_proj_conv`, filters, 1, { strides, useBias: false }), `${p}_proj_bn`);
      }
      x = b.relu(b.add([y, shortcut], `${p}_add`), `${p}_relu2`);
      channels = filters;
    }
  });
  const pooled = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as SymbolicTensor;
  return b.model(input, b.dense(pooled, 'fc', options.numClasses), 'resnet20');
}
