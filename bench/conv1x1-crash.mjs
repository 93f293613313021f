// One process: 50 native calls of one convolution kernel on [1,6,6,4] x [1,1,4,3], stride 2, 'same' (fwd, bwdd =
// backward data, bwdw = backward weights), then exit. oneDNN's backward-weights corrupted the C heap here
// (the process aborted at exit); run it in a loop and count the exit codes (docs/engine.md).
//   node bench/conv1x1-crash.mjs fwd|bwdd|bwdw
import { tf, setBackend } from '../dist/src/node.js';
await setBackend('native');
const which = process.argv[2];
const x = tf.randomNormal([1, 6, 6, 4]); const f = tf.randomNormal([1, 1, 4, 3]); const dy = tf.randomNormal([1, 3, 3, 3]);
for (let i = 0; i < 50; i++) {
  let y;
  if (which === 'fwd') y = tf.conv2d(x, f, 2, 'same');
  else if (which === 'bwdd') y = tf.conv2dTranspose(dy, f, [1, 6, 6, 4], 2, 'same');
  else y = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, { strides: 2, pad: 'same', dataFormat: 'NHWC', dilations: 1, filterShape: [1, 1, 4, 3] });
  y.dataSync(); y.dispose();
}
console.log('done', which);
