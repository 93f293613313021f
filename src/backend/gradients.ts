/**
 * Gradient overrides that keep TF.js's math but drop needless work. Backend-independent.
 *
 * FusedBatchNorm: TF.js 4.22 tiles 1/√(σ²+ε) to the full activation shape before multiplying
 * (profiled: the single most expensive kernel of a wasm training step); broadcasting gives the
 * same numbers without the copy.
 */
import * as tf from './tf.js';

function batchNormGrad(dy: tf.Tensor, saved: tf.Tensor[], attrs: tf.NamedAttrMap): Record<string, () => tf.Tensor> {
  const varianceEpsilon = attrs.varianceEpsilon as number;
  const [x, mean, variance, scale] = saved;
  const scaleValue = scale == null ? tf.scalar(1) : scale;
  const reductionAxes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
  const perChannel = mean.rank === 1;
  const reduce = (t: tf.Tensor) => tf.reshape(perChannel ? tf.sum(t, reductionAxes) : t, mean.shape);
  const xMinusMean = tf.sub(x, mean);
  const dyTimesScale = tf.mul(dy, scaleValue);
  const rsqrtVar = tf.rsqrt(tf.add(variance, tf.scalar(varianceEpsilon)));
  const minusHalfRCube = tf.mul(tf.mul(tf.mul(rsqrtVar, rsqrtVar), rsqrtVar), tf.scalar(-0.5));
  return {
    x: () => tf.reshape(tf.mul(tf.mul(dy, rsqrtVar), scaleValue), x.shape),
    mean: () => reduce(tf.mul(tf.mul(rsqrtVar, tf.scalar(-1)), dyTimesScale)),
    variance: () => reduce(tf.mul(tf.mul(minusHalfRCube, xMinusMean), dyTimesScale)),
    scale: () => reduce(tf.mul(dy, tf.mul(xMinusMean, rsqrtVar))),
    offset: () => reduce(dy),
  };
}

let registered = false;

export function registerGradientOverrides(): void {
  if (registered) return;
  tf.registerGradient({
    kernelName: 'FusedBatchNorm',
    inputsToSave: ['x', 'mean', 'variance', 'scale'],
    gradFunc: batchNormGrad as unknown as tf.GradFunc,
  });
  registered = true;
}
