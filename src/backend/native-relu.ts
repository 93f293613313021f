/**
 * ReLU's gradient as one native kernel. TF.js's gradient (tfjs-core Relu_grad, copied below as
 * reluGradReference) is dy·cast(step(x), 'float32'): a Step kernel and a Multiply kernel, two
 * passes over the activation and two more tape entries for every ReLU of a training step
 * (resnet20 has 19, vgg-small 7). The native kernel (native/train_ops.cc ReluGrad, registered by
 * native.ts) computes the same products in one pass, bit-identical to the two kernels
 * (test/native-step-relu.test.ts); everywhere else (other dtypes, other backends, the native
 * backend uninstalled) the gradient is TF.js's, unchanged. The kernel has the reference's own
 * gradient, so second-order gradients through a ReLU stay as they were: ∂/∂dy = ddx·step(x) (the
 * kernel again: Multiply's gradient, same product order) and ∂/∂x = 0 (Step's gradient).
 */
import * as tf from './tf.js';

export const RELU_GRAD = 'LowbitReluGrad';

/** TF.js's ReLU gradient (tfjs-core 4.22 gradients/Relu_grad.js), the reference and the fallback. */
export function reluGradReference(dy: tf.Tensor, x: tf.Tensor): { x: () => tf.Tensor } {
  return { x: () => tf.mul(dy, tf.cast(tf.step(x), 'float32')) };
}

let registered = false;

/** dx = dy·step(x) by the native kernel (x, dy float32, same shape). */
function reluGradKernel(x: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(RELU_GRAD, { x, dy }, {}) as tf.Tensor;
}

/** Replaces TF.js's Relu gradient by one that uses the native kernel where it applies (idempotent). */
export function registerReluGradient(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => {
      const [x] = saved;
      const g = dy as tf.Tensor;
      const backend = tf.getBackend();
      if (backend == null || tf.getKernel(RELU_GRAD, backend) == null || x.dtype !== 'float32' || g.dtype !== 'float32'
        || x.size === 0 || !tf.util.arraysEqual(x.shape, g.shape)) return reluGradReference(g, x);
      return { x: () => reluGradKernel(x, g) };
    },
  });
  tf.registerGradient({
    kernelName: RELU_GRAD,
    inputsToSave: ['x'],
    gradFunc: (ddx, saved) => {
      const [x] = saved;
      return { x: () => tf.zerosLike(x), dy: () => reluGradKernel(x, ddx as tf.Tensor) };
    },
  });
}
