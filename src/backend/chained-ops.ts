/**
 * The chained tensor API (`t.flatten()`, `t.add(u)`, …). TF.js's Node bundle of tfjs-core does not
 * register it (the @tensorflow/tfjs union package does), yet parts of tfjs-layers call it (e.g.
 * SimpleRNN). lowbit installs it on the Tensor prototype from the functional ops, as tfjs does.
 */
import * as tf from '@tensorflow/tfjs-core';

const SAME_NAME = ['abs', 'acos', 'acosh', 'add', 'all', 'any', 'argMax', 'argMin', 'asin', 'asinh', 'atan', 'atan2', 'atanh',
  'avgPool', 'batchToSpaceND', 'broadcastTo', 'cast', 'ceil', 'clipByValue', 'concat', 'conv1d', 'conv2d', 'conv2dTranspose',
  'cos', 'cosh', 'cumprod', 'cumsum', 'depthToSpace', 'depthwiseConv2d', 'dilation2d', 'div', 'divNoNan', 'dot', 'elu', 'equal',
  'erf', 'euclideanNorm', 'exp', 'expandDims', 'expm1', 'fft', 'floor', 'floorDiv', 'gather', 'greater', 'greaterEqual', 'ifft',
  'irfft', 'isFinite', 'isInf', 'isNaN', 'leakyRelu', 'less', 'lessEqual', 'localResponseNormalization', 'log', 'log1p',
  'logSigmoid', 'logSoftmax', 'logSumExp', 'logicalAnd', 'logicalNot', 'logicalOr', 'logicalXor', 'matMul', 'max', 'maxPool',
  'maximum', 'mean', 'min', 'minimum', 'mirrorPad', 'mod', 'mul', 'neg', 'norm', 'notEqual', 'oneHot', 'onesLike', 'pad', 'pool',
  'pow', 'prelu', 'prod', 'reciprocal', 'relu', 'relu6', 'reshape', 'resizeBilinear', 'resizeNearestNeighbor', 'reverse', 'rfft',
  'round', 'rsqrt', 'selu', 'separableConv2d', 'sigmoid', 'sign', 'sin', 'sinh', 'slice', 'softmax', 'softplus', 'spaceToBatchND',
  'split', 'sqrt', 'square', 'squaredDifference', 'squeeze', 'stack', 'step', 'stridedSlice', 'sub', 'sum', 'tan', 'tanh', 'tile',
  'topk', 'transpose', 'unique', 'unsortedSegmentSum', 'unstack', 'where', 'zerosLike'];

type Proto = Record<string, unknown>;

export function registerChainedOps(): void {
  const proto = tf.Tensor.prototype as unknown as Proto;
  const ops = tf as unknown as Record<string, (...a: unknown[]) => tf.Tensor>;
  const define = (name: string, fn: (this: tf.Tensor, ...a: unknown[]) => unknown) => {
    if (proto[name] == null) proto[name] = fn;
  };
  for (const name of SAME_NAME) {
    const op = ops[name];
    if (typeof op === 'function') define(name, function (...a) { return op(this, ...a); });
  }
  define('batchNorm', function (...a) { return ops.batchNorm(this, ...a); });
  define('flatten', function () { return tf.reshape(this, [this.size]); });
  define('asScalar', function () { return tf.reshape(this, []); });
  for (const r of [1, 2, 3, 4, 5]) define(`as${r}D`, function (...shape) { return tf.reshape(this, r === 1 ? [this.size] : (shape as number[])); });
  define('asType', function (dtype) { return tf.cast(this, dtype as tf.DataType); });
  define('toFloat', function () { return tf.cast(this, 'float32'); });
  define('toInt', function () { return tf.cast(this, 'int32'); });
  define('toBool', function () { return tf.cast(this, 'bool'); });
  define('reshapeAs', function (x) { return tf.reshape(this, (x as tf.Tensor).shape); });
}
