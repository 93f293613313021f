/**
 * The memory a training step needs (srq.md pitfall 5: relaxed quantizers keep per-grid-point
 * tensors): the most tensor bytes alive at once during one Adam step on a random batch
 * (tf.profile), minus the bytes alive before it (weights, optimizer slots, the batch).
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';

export interface StepMemory {
  batch: number;
  /** Peak bytes during the step beyond what was alive before it. */
  stepBytes: number;
  /** Bytes alive before the step (weights, optimizer slots, the batch). */
  baseBytes: number;
  msPerStep: number;
}

export async function trainStepMemory(model: tf.LayersModel, batch: number, seed = 0): Promise<StepMemory> {
  if (model.outputs.length !== 1 || model.outputs[0].shape.length !== 2) {
    throw new LowbitError(`${model.name}: the training-step memory is measured for classifiers (one [batch, classes] output)`);
  }
  const inShape = model.inputs[0].shape.slice(1) as number[];
  const classes = model.outputs[0].shape[1] as number;
  const x = tf.randomUniform([batch, ...inShape], 0, 1, 'float32', seed);
  const y = tf.tidy(() => tf.oneHot(tf.randomUniform([batch], 0, classes, 'int32', seed + 1) as tf.Tensor1D, classes));
  const optimizer = tf.train.adam(1e-3);
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const step = () => tf.dispose(optimizer.minimize(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, true, vars) ?? []);
  try {
    step(); // creates the optimizer's slots
    const baseBytes = tf.memory().numBytes;
    const info = await tf.profile(step);
    const started = performance.now();
    step();
    return { batch, stepBytes: info.peakBytes - baseBytes, baseBytes, msPerStep: performance.now() - started };
  } finally {
    optimizer.dispose();
    tf.dispose([x, y]);
  }
}
