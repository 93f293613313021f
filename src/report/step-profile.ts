/**
 * One training step measured (srq.md pitfall 5: relaxed quantizers keep per-grid-point tensors):
 * Adam on a random batch; the most tensor bytes alive at once during a step (tf.profile) minus
 * the bytes alive before it (weights, optimizer slots, the batch), the time per step, and each
 * kernel's time in the profiled step.
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';

export interface StepProfile {
  batch: number;
  /** Peak bytes during the step beyond what was alive before it. */
  stepBytes: number;
  /** Bytes alive before the step (weights, optimizer slots, the batch). */
  baseBytes: number;
  msPerStep: number;
  /** Kernel time in the profiled step, summed per kernel name, largest first. */
  kernels: Array<{ kernel: string; ms: number }>;
}

export async function profileTrainStep(model: tf.LayersModel, batch: number,
  o: { seed?: number; warmupSteps?: number; timedSteps?: number } = {}): Promise<StepProfile> {
  if (model.outputs.length !== 1 || model.outputs[0].shape.length !== 2) {
    throw new LowbitError(`${model.name}: the training-step memory is measured for classifiers (one [batch, classes] output)`);
  }
  const seed = o.seed ?? 0;
  const inShape = model.inputs[0].shape.slice(1) as number[];
  const classes = model.outputs[0].shape[1] as number;
  const x = tf.randomUniform([batch, ...inShape], 0, 1, 'float32', seed);
  const y = tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, classes, 'int32', seed + 1) as tf.Tensor1D, classes));
  const optimizer = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const step = () => {
    const cost = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true, vars)!;
    cost.dataSync(); // the step's work is done when its loss is read
    cost.dispose();
  };
  try {
    for (let i = 0; i < Math.max(1, o.warmupSteps ?? 1); i++) step(); // the first creates the optimizer's slots
    const baseBytes = tf.memory().numBytes;
    const info = await tf.profile(step);
    const timed = o.timedSteps ?? 1;
    const started = performance.now();
    for (let i = 0; i < timed; i++) step();
    const perKernel = new Map<string, number>();
    for (const k of info.kernels) perKernel.set(k.name, (perKernel.get(k.name) ?? 0) + (k.kernelTimeMs as number));
    return { batch, stepBytes: info.peakBytes - baseBytes, baseBytes, msPerStep: (performance.now() - started) / timed,
      kernels: [...perKernel].sort((a, b) => b[1] - a[1]).map(([kernel, ms]) => ({ kernel, ms })) };
  } finally {
    optimizer.dispose();
    tf.dispose([x, y]);
  }
}
