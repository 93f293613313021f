/**
 * Mean's gradient as one native kernel. TF.js's gradient (tfjs-core Mean_grad, copied below as
 * meanGradReference) fills a ones tensor of the input's full shape in JavaScript, then multiplies
 * the reshaped dy by it and divides by the reduced size: for global average pooling over a
 * [64, 7, 7, 64] activation (mobilenet-tiny, resnet20) a 200k-float JS loop, a Multiply and a
 * RealDiv every step. Where the reduced axes are one run of consecutive axes of a float32 input,
 * the native kernel (native/train_ops.cc MeanGrad, registered by native.ts) writes dx = dy / R in
 * one pass, the same float32 quotient (dy·1 = dy), so bit-identical (test/native-step-bn.test.ts);
 * everywhere else (other axes, dtypes, backends) the gradient is TF.js's. The kernel's own gradient
 * is the reference's (a mean of ddx over the same axes' broadcast, i.e. ∂/∂dy = Σ ddx / R), so
 * second-order gradients through a Mean stay available.
 */
import * as tf from './tf.js';

export const MEAN_GRAD = 'LowbitMeanGrad';

/** TF.js's Mean gradient (tfjs-core 4.22 gradients/Mean_grad.js), the reference and the fallback. */
export function meanGradReference(dy: tf.Tensor, x: tf.Tensor, axis: number | number[]): { x: () => tf.Tensor } {
  const axes = tf.util.parseAxisParam(axis, x.shape);
  const reduceSize = tf.util.sizeFromShape(tf.backend_util.computeOutAndReduceShapes(x.shape, axes)[1]);
  return {
    x: () => {
      const expandedDyShape = x.shape.slice();
      axes.forEach((a) => { expandedDyShape[a] = 1; });
      return tf.div(tf.mul(tf.reshape(dy, expandedDyShape), tf.ones(x.shape, 'float32')), reduceSize);
    },
  };
}

/** [outer, R, C] of x when `axes` are one run of consecutive axes, else null. */
export function meanRun(shape: number[], axes: number[]): [number, number, number] | null {
  const sorted = [...axes].sort((a, b) => a - b);
  if (sorted.length === 0 || sorted.some((a, i) => a !== sorted[0] + i)) return null;
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  return [tf.util.sizeFromShape(shape.slice(0, first)), tf.util.sizeFromShape(shape.slice(first, last + 1)), tf.util.sizeFromShape(shape.slice(last + 1))];
}

let registered = false;

/** Replaces TF.js's Mean gradient by one that uses the native kernel where it applies (idempotent). */
export function registerMeanGradient(): void {
  if (registered) return;
  registered = true;
  tf.registerGradient({
    kernelName: 'Mean',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const [x] = saved;
      const g = dy as tf.Tensor;
      const axis = attrs.axis as number | number[];
      const backend = tf.getBackend();
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const run = meanRun(x.shape, axes);
      if (backend == null || tf.getKernel(MEAN_GRAD, backend) == null || run == null || x.dtype !== 'float32' || g.dtype !== 'float32'
        || x.size === 0 || g.size !== run[0] * run[2]) return meanGradReference(g, x, axis);
      return { x: () => tf.engine().runKernel(MEAN_GRAD, { dy: g }, { shape: x.shape, outer: run[0], reduced: run[1], inner: run[2] } as unknown as tf.NamedAttrMap) as tf.Tensor };
    },
  });
  tf.registerGradient({
    kernelName: MEAN_GRAD,
    gradFunc: (ddx, _saved, attrs) => {
      const a = attrs as unknown as { outer: number; reduced: number; inner: number };
      // dx = dy / R broadcast over the reduced run: ∂/∂dy = (Σ over the run of ddx) / R.
      return { dy: () => tf.div(tf.sum(tf.reshape(ddx as tf.Tensor, [a.outer, a.reduced, a.inner]), 1), a.reduced) };
    },
  });
}
