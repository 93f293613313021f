/**
 * Training-mode BatchNormalization on the native backend as one kernel forward and one backward.
 * tfjs-layers computes it as tf.moments + tf.batchNorm, whose gradients (through the batch mean
 * and variance) take about a dozen elementwise passes over the activation; the native kernels
 * take three forward and three backward (native/dnnl_addon.cc: BatchNormTrain, BatchNormTrainGrad),
 * and the two moving-average updates one kernel (native/train_ops.cc: MovingAverages).
 * While the native backend is active, BatchNormalization layers whose axis is the last (every
 * NHWC model) train through them, with the same moving-average updates as tfjs-layers; other
 * layers, inference and other backends keep tfjs-layers' path. Agreement with the cpu backend is
 * tested (test/native.test.ts).
 */
import * as tf from './tf.js';

export const BN_TRAIN = 'LowbitBatchNormTrain';
export const BN_TRAIN_GRAD = 'LowbitBatchNormTrainGrad';
/** Both moving averages of a layer in one kernel: [new moving mean, new moving variance]. */
export const BN_MOVING_AVERAGES = 'LowbitBatchNormMovingAverages';

interface BatchNormLayer {
  axis: number;
  momentum: number;
  epsilon: number;
  gamma: tf.LayerVariable | null;
  beta: tf.LayerVariable | null;
  movingMean: tf.LayerVariable;
  movingVariance: tf.LayerVariable;
}
type Call = (this: BatchNormLayer, inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean }) => tf.Tensor | tf.Tensor[];

let gradientRegistered = false;
let original: { proto: { call: Call }; call: Call } | null = null;

/** [y, mean, variance] of a training-mode batch norm of x over every axis but the last. */
export function batchNormTrain(x: tf.Tensor, scale: tf.Tensor, offset: tf.Tensor, epsilon: number): [tf.Tensor, tf.Tensor1D, tf.Tensor1D] {
  return tf.engine().runKernel(BN_TRAIN, { x, scale, offset }, { epsilon }) as unknown as [tf.Tensor, tf.Tensor1D, tf.Tensor1D];
}

function registerGradientOnce(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: BN_TRAIN, inputsToSave: ['x', 'scale'], outputsToSave: [false, true, true],
    gradFunc: (dys, saved, attrs) => {
      const [dy, dmean, dvariance] = dys as tf.Tensor[];
      const [x, scale, mean, variance] = saved;
      const [dx, dscale, doffset] = tf.engine().runKernel(BN_TRAIN_GRAD, { x, dy, scale, mean, variance, dmean, dvariance },
        attrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
      return { x: () => dx, scale: () => dscale, offset: () => doffset };
    },
  });
}

/** Routes BatchNormalization training through the fused kernels (idempotent). */
export function installFusedBatchNormTraining(): void {
  registerGradientOnce();
  if (original != null) return;
  const proto = Object.getPrototypeOf(tf.layers.batchNormalization({})) as { call: Call };
  const call = proto.call;
  original = { proto, call };
  proto.call = function fusedCall(this: BatchNormLayer, inputs, kwargs) {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    const lastAxis = this.axis === -1 || this.axis === x.rank - 1;
    if (!kwargs?.training || !lastAxis || x.rank < 2 || x.dtype !== 'float32' || this.gamma == null || this.beta == null
      || tf.getKernel(BN_TRAIN, tf.getBackend()) == null || tf.getKernel(BN_MOVING_AVERAGES, tf.getBackend()) == null) return call.call(this, inputs, kwargs);
    return tf.tidy(() => {
      const [y, mean, variance] = batchNormTrain(x, this.gamma!.read(), this.beta!.read(), this.epsilon);
      // tfjs-layers' update, v ← v − (v − batch value)·(1 − momentum), for both averages in one
      // kernel (six engine ops before: two Subs and a Multiply each), same float32 operations.
      const [newMean, newVariance] = tf.engine().runKernel(BN_MOVING_AVERAGES,
        { movingMean: this.movingMean.read(), movingVariance: this.movingVariance.read(), mean, variance },
        { factor: 1 - this.momentum }) as unknown as tf.Tensor[];
      this.movingMean.write(newMean);
      this.movingVariance.write(newVariance);
      return y;
    });
  };
}

export function uninstallFusedBatchNormTraining(): void {
  if (original == null) return;
  original.proto.call = original.call;
  original = null;
}
