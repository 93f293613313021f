/**
 * PReLU's gradient as one native kernel. TF.js's gradient (tfjs-core Prelu_grad, copied below as
 * preluGradReference) is Greater, two Selects, two Multiplies, ZerosLike, a Sum and a Reshape,
 * and Greater and Select are TF.js wasm kernels: in a mobilenet-tiny training step (nine PReLUs)
 * they were the largest wasm cost (docs/engine.md). The native kernel (native/train_ops.cc,
 * registered by native.ts) computes dx and dα in one pass when α has one value per last-axis
 * channel (PReLU layers sharing every axis but the channels, as src/models/builder.ts builds them);
 * everywhere else (other α shapes, other backends, the native backend uninstalled) the gradient is
 * TF.js's, unchanged. Agreement: test/native-train-ops.test.ts.
 */
import type { TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from './tf.js';

export const PRELU_GRAD = 'LowbitPreluGrad';

/** C when x is float32 and non-empty and α holds one float32 value per channel of x's last axis, else null. */
export function preluChannels(x: TensorInfo, alpha: TensorInfo): number | null {
  if (x.dtype !== 'float32' || alpha.dtype !== 'float32' || x.shape.length === 0) return null;
  const C = x.shape[x.shape.length - 1];
  if (C === 0 || tf.util.sizeFromShape(x.shape) === 0) return null;
  const a = alpha.shape;
  if (a.length === 0 || a.length > x.shape.length || a[a.length - 1] !== C || a.slice(0, -1).some((d) => d !== 1)) return null;
  return C;
}

/** TF.js's PReLU gradient (tfjs-core 4.22 gradients/Prelu_grad.js), the reference and the fallback. */
export function preluGradReference(dy: tf.Tensor, x: tf.Tensor, alpha: tf.Tensor): { x: () => tf.Tensor; alpha: () => tf.Tensor } {
  const mask = tf.greater(x, 0);
  return {
    x: () => tf.where(mask, dy, tf.mul(dy, alpha)),
    alpha: () => {
      let res = tf.where(mask, tf.zerosLike(dy), tf.mul(dy, x));
      const reduceAxes = tf.backend_util.getReductionAxes(alpha.shape, dy.shape);
      if (reduceAxes.length > 0) res = tf.sum(res, reduceAxes);
      return tf.reshape(res, alpha.shape);
    },
  };
}

let registered = false;

/** Replaces TF.js's Prelu gradient by one that uses the native kernel where it applies (idempotent). */
export function registerPreluGradient(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: 'Prelu',
    inputsToSave: ['x', 'alpha'],
    gradFunc: (dy, saved) => {
      const [x, alpha] = saved;
      const backend = tf.getBackend();
      if (backend == null || tf.getKernel(PRELU_GRAD, backend) == null || preluChannels(x, alpha) == null
        || (dy as tf.Tensor).dtype !== 'float32') return preluGradReference(dy as tf.Tensor, x, alpha);
      const [dx, dalpha] = tf.engine().runKernel(PRELU_GRAD, { x, alpha, dy: dy as tf.Tensor }, {}) as unknown as tf.Tensor[];
      return { x: () => dx, alpha: () => dalpha };
    },
  });
}
