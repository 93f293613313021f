import * as tf from '../backend/tf.js';
import { ModelBuilder, ModelOptions, SymbolicTensor } from './builder.js';

/**
 * A micro MobileNet with ReActNet-style blocks (bitat.md §4.2), the float teacher for BiTAT:
 * stem conv 3×3 stride 2 → BN → PReLU; blocks (16→32, s1), (32→64, s2), (64→64, s1), each
 *   depthwise 3×3 (stride s) → BN → + shortcut (2×2 avg-pool when s = 2) → PReLU, then
 *   point-wise 1×1 → BN → + shortcut → PReLU, where C_out = 2·C_in uses two 1×1 convs whose
 *   outputs are concatenated so the shortcut stays real-valued;
 * head: global average pool → FC. Names: stem_conv/bn/act; b{k}_dw, _dw_bn, _dw_add, _dw_act,
 * _pw (or _pw_a/_pw_b), _pw_bn…, _pw_add…, _pw_act…, _concat; gap; fc.
 */
export function mobilenetTiny(options: ModelOptions): tf.LayersModel {
  const b = new ModelBuilder(options);
  const input = b.input();
  let x = b.prelu(b.bn(b.conv(input, 'stem_conv', b.w(16), 3, { strides: 2, useBias: false }), 'stem_bn'), 'stem_act');
  const blocks: Array<[number, number, number]> = [[16, 32, 1], [32, 64, 2], [64, 64, 1]];
  blocks.forEach(([cin, cout, stride], k) => {
    const p = `b${k + 1}`;
    const shortcut = stride === 2 ? b.avgPool(x, `${p}_pool`) : x;
    let y = b.bn(b.depthwise(x, `${p}_dw`, 3, stride), `${p}_dw_bn`);
    x = b.prelu(b.add([y, shortcut], `${p}_dw_add`), `${p}_dw_act`);
    if (b.w(cout) === b.w(cin)) {
      y = b.bn(b.conv(x, `${p}_pw`, b.w(cout), 1, { useBias: false }), `${p}_pw_bn`);
      x = b.prelu(b.add([y, x], `${p}_pw_add`), `${p}_pw_act`);
    } else {
      const halves = ['a', 'b'].map((h) => {
        const z = b.bn(b.conv(x, `${p}_pw_${h}`, b.w(cin), 1, { useBias: false }), `${p}_pw_${h}_bn`);
        return b.prelu(b.add([z, x], `${p}_pw_${h}_add`), `${p}_pw_${h}_act`);
      });
      x = tf.layers.concatenate({ name: `${p}_concat` }).apply(halves) as SymbolicTensor;
    }
  });
  const pooled = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(x) as SymbolicTensor;
  return b.model(input, b.dense(pooled, 'fc', options.numClasses), 'mobilenet-tiny');
}
