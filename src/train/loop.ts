/**
 * The one training loop every lowbit method uses. Seeded (same seed and backend → identical
 * numbers), leak-free (each step in tf.tidy), checkpointing after every epoch through a
 * CheckpointStore and resuming from it. Methods customise it with `loss`, `forward` and
 * `variables`, never by copying it.
 */
import * as tf from '../backend/tf.js';
import { ensureBackend } from '../backend/index.js';
import { batches, DatasetSplits, disposeBatch, ExampleSet, shuffledOrder } from '../data/dataset.js';
import { LowbitError } from '../errors.js';
import { Rng } from '../random.js';
import { getNoiseState, setNoiseState } from '../quantizers/noise.js';
import { Checkpoint, CheckpointStore, EpochRecord, restoreTensor, storeTensors } from './checkpoint.js';
import { AnyLossFn, crossEntropy, evaluate, Forward, modelForward, primaryOutput, yieldToEventLoop } from './evaluate.js';
import { makeOptimizer, OptimizerConfig, setLearningRate } from './optimizer.js';
import { learningRateAt, ScheduleConfig } from './schedule.js';

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  /** Coupled L2 penalty ½·λ·Σ‖W‖² on kernels (not biases, BN or PReLU parameters). */
  weightDecay: number;
  /** Drives shuffling; model initialisation takes the same seed when the model is built. */
  seed: number;
  /** Limit each epoch to this many steps (smoke tests and benchmarks). */
  maxStepsPerEpoch?: number;
  loss?: AnyLossFn;
  forward?: Forward;
  /** Variables to train (default: the model's trainable weights). */
  variables?: tf.Variable[];
  /** Skip the per-epoch validation pass. */
  skipValidation?: boolean;
}

export interface StepInfo {
  epoch: number;
  step: number;
  stepsPerEpoch: number;
  loss: number;
  learningRate: number;
}

export interface TrainHooks {
  checkpoints?: CheckpointStore;
  /**
   * Called after each step. A returned promise is awaited before the next step, so a caller can
   * pause training (the studio's worker waits on its pause flag here) or stop it by rejecting.
   */
  onStep?: (info: StepInfo) => unknown;
  onEpochStart?: (epoch: number, stepsPerEpoch: number) => void;
  onEpoch?: (record: EpochRecord, history: readonly EpochRecord[]) => void | Promise<void>;
  /**
   * After an epoch's steps, before its validation and checkpoint: a method's per-epoch change of
   * the model (ALQ's basis pruning), given the optimizer (read its state with `adamMoments`).
   * What it changes in the model's weights is validated and checkpointed with the epoch.
   */
  onEpochTrained?: (epoch: number, optimizer: tf.Optimizer) => void | Promise<void>;
}

export interface TrainResult {
  history: EpochRecord[];
  /** Epoch the run resumed after (0 for a fresh start). */
  resumedFrom: number;
}

export function validateTrainConfig(c: Pick<TrainConfig, 'epochs' | 'batchSize' | 'learningRate' | 'weightDecay'>): void {
  if (!Number.isInteger(c.epochs) || c.epochs <= 0) throw new LowbitError(`epochs must be a whole number ≥ 1, got ${c.epochs}`);
  if (!Number.isInteger(c.batchSize) || c.batchSize <= 0) throw new LowbitError(`batch size must be a whole number ≥ 1, got ${c.batchSize}`);
  if (!(c.learningRate > 0) || !Number.isFinite(c.learningRate)) throw new LowbitError(`learning rate must be a positive number, got ${c.learningRate}`);
  if (!(c.weightDecay >= 0)) throw new LowbitError(`weight decay must be ≥ 0, got ${c.weightDecay}`);
}

function kernelVariables(model: tf.LayersModel): tf.LayerVariable[] {
  return model.trainableWeights.filter((w) => /kernel$/.test(w.originalName));
}

export async function train(model: tf.LayersModel, data: DatasetSplits<ExampleSet>, config: TrainConfig,
  hooks: TrainHooks = {}): Promise<TrainResult> {
  validateTrainConfig(config);
  if (data.train.count === 0) throw new LowbitError('the training set is empty: train on at least one image per class');
  await ensureBackend();
  const forward = config.forward ?? modelForward(model);
  const lossFn = config.loss ?? crossEntropy;
  const variables = config.variables ?? model.trainableWeights.map((w) => w.read() as tf.Variable);
  const decayed = config.weightDecay > 0 ? kernelVariables(model) : [];
  const rng = new Rng(config.seed ^ 0x5eed5eed);
  setNoiseState(config.seed ^ 0x0a15e5ed);
  const fullSteps = Math.ceil(data.train.count / config.batchSize);
  const stepsPerEpoch = Math.min(fullSteps, config.maxStepsPerEpoch ?? fullSteps);
  const totalSteps = stepsPerEpoch * config.epochs;
  const optimizer = makeOptimizer(config.optimizer, config.learningRate);
  // The optimizer's slot variables are freed however training ends: a run that throws (divergence,
  // a failing hook, a bad batch) leaks nothing into the caller's TF.js engine.
  try {
    return await trainEpochs();
  } finally {
    optimizer.dispose();
  }

  async function trainEpochs(): Promise<TrainResult> {
    let history: EpochRecord[] = [];
    let step = 0;
    let startEpoch = 0;
    const resumed = hooks.checkpoints ? await hooks.checkpoints.load() : null;
    if (resumed) {
      restoreWeights(model, resumed);
      if (resumed.optimizerWeights.length > 0) {
        const named = resumed.optimizerWeights.map((w) => ({ name: w.name, tensor: restoreTensor(w) }));
        await optimizer.setWeights(named); // copies them into its own variables
        tf.dispose(named.map((w) => w.tensor));
      }
      setOptimizerScalars(optimizer, resumed.optimizerScalars);
      rng.setState(resumed.rngState);
      if (resumed.noiseState != null) setNoiseState(resumed.noiseState);
      history = resumed.history.slice();
      step = resumed.step;
      startEpoch = resumed.epoch;
    }

    for (let epoch = startEpoch + 1; epoch <= config.epochs; epoch++) {
      hooks.onEpochStart?.(epoch, stepsPerEpoch);
      const started = performance.now();
      const order = shuffledOrder(data.train.count, rng).subarray(0, stepsPerEpoch * config.batchSize);
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      let lr = config.learningRate;
      const firstLr = learningRateAt(config.learningRate, config.schedule, step, totalSteps);
      let i = 0;
      // Augmentation (when the training set asks for it) is seeded by (seed, epoch); sets with precomputed per-example targets are not augmented, as the targets are of the unaugmented inputs.
      const augment = data.train.augment != null && data.train.targets == null ? { seed: Math.imul(config.seed + 1, 0x27d4eb2d) + epoch } : undefined;
      for (const batch of batches(data.train, data.shape, data.numClasses, config.batchSize, order, 0, augment)) {
        lr = learningRateAt(config.learningRate, config.schedule, step, totalSteps);
        setLearningRate(optimizer, lr);
        let hits: tf.Tensor | null = null;
        let cost: tf.Scalar;
        try {
          cost = optimizer.minimize(() => {
            const outputs = forward(batch.x, true);
            const output = primaryOutput(outputs);
            hits = tf.keep(output.rank === 2 && output.shape[1] === data.numClasses
              ? tf.sum(tf.cast(tf.equal(tf.argMax(output, 1), tf.argMax(batch.y, 1)), 'float32')) : tf.scalar(NaN));
            let loss = lossFn(outputs as never, batch);
            if (decayed.length > 0) {
              const l2 = tf.addN(decayed.map((v) => tf.sum(tf.square(v.read()))));
              loss = tf.add(loss, tf.mul(0.5 * config.weightDecay, l2));
            }
            return loss as tf.Scalar;
          }, true, variables)!;
        } catch (e) {
          if (hits != null) tf.dispose(hits);
          disposeBatch(batch);
          throw e;
        }
        const [lossData, hitsData] = await Promise.all([cost.data(), (hits! as tf.Tensor).data()]);
        const lossValue = lossData[0];
        if (!Number.isFinite(lossValue)) {
          tf.dispose([cost, hits!]);
          disposeBatch(batch);
          throw new LowbitError(`training diverged at epoch ${epoch}, step ${i + 1} (loss ${lossValue}); lower the learning rate`, 1);
        }
        correct += hitsData[0];
        lossSum += lossValue * batch.labels.length;
        seen += batch.labels.length;
        tf.dispose([cost, hits!]);
        disposeBatch(batch);
        step++;
        i++;
        const stepped = hooks.onStep?.({ epoch, step: i, stepsPerEpoch, loss: lossValue, learningRate: lr });
        if (stepped instanceof Promise) await stepped;
        await yieldToEventLoop();
      }
      const trainSeconds = (performance.now() - started) / 1000;
      await hooks.onEpochTrained?.(epoch, optimizer);
      const val = config.skipValidation || data.val.count === 0
        ? { loss: NaN, accuracy: NaN }
        : await evaluate(forward, data.val, data.shape, data.numClasses, 256, lossFn);
      const record: EpochRecord = {
        epoch, trainLoss: lossSum / seen, trainAccuracy: correct / seen, valLoss: val.loss, valAccuracy: val.accuracy,
        learningRate: lr, firstLearningRate: firstLr, seconds: (performance.now() - started) / 1000, imagesPerSecond: seen / trainSeconds,
      };
      history.push(record);
      if (hooks.checkpoints) {
        const optimizerWeights = await optimizer.getWeights();
        await hooks.checkpoints.save({
          epoch, step, rngState: rng.getState(), noiseState: getNoiseState(), history,
          modelWeights: await storeTensors(model.weights.map((w) => ({ name: w.originalName, tensor: w.read() }))),
          optimizerWeights: await storeTensors(optimizerWeights), optimizerScalars: await optimizerScalars(optimizer),
        });
        // getWeights makes a fresh scalar for the iteration count; the rest are the optimizer's own variables.
        tf.dispose(optimizerWeights.filter((w) => !(w.tensor instanceof tf.Variable)).map((w) => w.tensor));
      }
      await hooks.onEpoch?.(record, history);
    }
    return { history, resumedFrom: startEpoch };
  }
}

/** Adam's accumulated β powers (the state getWeights leaves out), as stored float32 values. */
async function optimizerScalars(optimizer: tf.Optimizer): Promise<Record<string, number> | undefined> {
  const o = optimizer as unknown as Record<string, unknown>;
  const out: Record<string, number> = {};
  for (const key of ['accBeta1', 'accBeta2']) {
    if (o[key] instanceof tf.Tensor) out[key] = (await (o[key] as tf.Tensor).data())[0];
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function setOptimizerScalars(optimizer: tf.Optimizer, scalars: Record<string, number> | undefined): void {
  const o = optimizer as unknown as Record<string, unknown>;
  for (const [key, value] of Object.entries(scalars ?? {})) {
    const v = o[key];
    if (v instanceof tf.Variable) tf.tidy(() => v.assign(tf.scalar(value, 'float32')));
  }
}

function restoreWeights(model: tf.LayersModel, ckpt: Checkpoint): void {
  const weights = model.weights;
  if (weights.length !== ckpt.modelWeights.length) {
    throw new LowbitError(`checkpoint holds ${ckpt.modelWeights.length} weights but the model has ${weights.length}: it belongs to another model`);
  }
  const tensors = ckpt.modelWeights.map((w, i) => {
    if (w.shape.join('x') !== weights[i].shape.join('x')) {
      throw new LowbitError(`checkpoint weight ${w.name} has shape ${w.shape} but the model's ${weights[i].originalName} has ${weights[i].shape}`);
    }
    return restoreTensor(w);
  });
  model.setWeights(tensors);
  tf.dispose(tensors);
}
