/**
 * The one CLI path from "a model and a dataset" to "a run directory": validation of the shared
 * flags, --out / --resume checks, checkpointing, progress, log.jsonl, the saved model and
 * lowbit.json. `lowbit train` and `lowbit quantize` differ only in how they make the model. Node-only.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../backend/tf.js';
import { balancedSubset, DatasetSplits } from '../data/dataset.js';
import { datasetNames, loadDataset } from '../data/load.js';
import { LowbitError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { CHECKPOINT_FILE, FileCheckpointStore } from '../io/checkpoint-file.js';
import { LOWBIT_JSON, saveModelDir, writeJsonAtomic } from '../io/model-dir.js';
import { checkWritableDir, createDir, isRestartable, removeIfCreated } from '../io/out-dir.js';
import { cliRunFingerprint, gitCommit, lowbitVersion, threadCount } from '../io/run-info.js';
import { summary } from '../report/summary.js';
import { AnyLossFn, evaluate, modelForward } from '../train/evaluate.js';
import { train, TrainConfig, validateTrainConfig } from '../train/loop.js';
import { reestimateBatchNorm } from '../train/batchnorm.js';
import type { EpochRecord } from '../train/checkpoint.js';
import type { OptimizerName } from '../train/optimizer.js';
import { ScheduleName, scheduleNames } from '../train/schedule.js';
import { parseBackend, useBackend } from './backend-choice.js';
import { parseChoice, parseInteger, parseNonNegative, parsePositive } from './options.js';
import { progressHooks } from '../io/progress.js';

/** Flags every training command shares (strings as commander gives them). */
export interface TrainingFlags {
  epochs: string;
  batch: string;
  lr: string;
  optimizer: string;
  momentum: string;
  schedule: string;
  weightDecay: string;
  seed: string;
  backend: string;
  dataDir?: string;
  out?: string;
  resume?: boolean;
  maxSteps?: string;
  quiet?: boolean;
  /** Train on a fixed class-balanced subset of this many training images. */
  trainSubset?: string;
}

export const LOG_FILE = 'log.jsonl';

export function parseTrainingFlags(o: TrainingFlags): TrainConfig {
  const config: TrainConfig = {
    epochs: parseInteger(o.epochs, '--epochs', 1),
    batchSize: parseInteger(o.batch, '--batch', 1),
    learningRate: parsePositive(o.lr, '--lr'),
    optimizer: { name: parseChoice(o.optimizer, '--optimizer', ['adam', 'sgd'] as OptimizerName[]), momentum: parseNonNegative(o.momentum, '--momentum') },
    schedule: { name: parseChoice(o.schedule, '--schedule', scheduleNames as ScheduleName[]) },
    weightDecay: parseNonNegative(o.weightDecay, '--weight-decay'),
    seed: parseInteger(o.seed, '--seed', 0),
    maxStepsPerEpoch: o.maxSteps != null ? parseInteger(o.maxSteps, '--max-steps', 1) : undefined,
  };
  validateTrainConfig(config);
  return config;
}

export interface TrainingJob {
  flags: TrainingFlags;
  dataset: string;
  /** Default --out when none is given. */
  defaultOut: string;
  /** Label for progress lines, e.g. "lenet5/mnist". */
  label: string;
  /** Makes the model once the data and backend are ready (errors still leave no output). */
  makeModel: (data: DatasetSplits, config: TrainConfig) => Promise<tf.LayersModel>;
  /** Extra lowbit.json fields (model, method, bits, teacher…). */
  metadata: Record<string, unknown>;
  /** The training loss for this model (default cross-entropy). */
  loss?: (model: tf.LayersModel) => AnyLossFn;
  /** Turns the trained model into the one to save (e.g. fixes learned bit-widths), with extra lowbit.json fields. */
  finalize?: (model: tf.LayersModel) => Promise<{ model: tf.LayersModel; metadata: Record<string, unknown> }>;
  /** Re-estimate BatchNorm statistics on this many training images after training (and finalize). */
  bnRecalImages?: number;
}

export interface PreparedRun {
  config: TrainConfig;
  data: DatasetSplits;
  backend: string;
  out: string;
  checkpoints: FileCheckpointStore;
  /** --train-subset as parsed (data.train is already that subset). */
  trainSubset?: number | null;
}

/**
 * Everything before the work: flags, --out / --resume checks, the dataset and the backend.
 * Bad input fails here, before any output exists.
 */
export async function prepareRun(flags: TrainingFlags, dataset: string, defaultOut: string): Promise<PreparedRun> {
  parseChoice(dataset, '--dataset', datasetNames);
  const backendChoice = parseBackend(flags.backend);
  const config = parseTrainingFlags(flags);
  const out = flags.out ?? defaultOut;
  const checkpoints = new FileCheckpointStore(out, { log: LOG_FILE });
  if (flags.resume && !existsSync(out)) {
    throw new LowbitError(`--resume: ${out} does not exist; run without --resume to start a new run`);
  }
  if (!flags.resume && existsSync(out) && !isRestartable(out)) {
    throw new LowbitError(`${out} already exists and is not empty: pass --resume to continue the run in it, or choose another --out`);
  }
  checkWritableDir(out);
  const subsetSize = flags.trainSubset != null ? parseInteger(flags.trainSubset, '--train-subset', 1) : null;
  const loaded = loadDataset(dataset, { dataDir: flags.dataDir });
  const data = subsetSize == null ? loaded : balancedSubset(loaded, subsetSize);
  const backend = await useBackend(backendChoice, flags.quiet);
  checkpoints.expectFingerprint(cliRunFingerprint(flags, { dataset, config, trainSubset: subsetSize, trainImages: data.train.count, backend }));
  return { config, data, backend, out, checkpoints, trainSubset: subsetSize };
}

/** Runs `work` inside the output directory; a failure before any checkpoint leaves nothing behind. */
export async function inOutputDir<T>(out: string, work: () => Promise<T>): Promise<T> {
  const created = createDir(out);
  try {
    return await work();
  } catch (e) {
    removeIfCreated(out, created, (names) => names.includes(CHECKPOINT_FILE) || names.includes('sections'));
    throw e;
  }
}

/** Evaluates on the test split, saves the model, and writes lowbit.json; prints one result line. */
export async function saveRun(model: tf.LayersModel, run: PreparedRun, label: string, metadata: Record<string, unknown>,
  history: EpochRecord[], started: number, announce = true): Promise<void> {
  const { data, config, out } = run;
  const test = evaluate(modelForward(model), data.test, data.shape, data.numClasses);
  await saveModelDir(model, out);
  const last = history[history.length - 1];
  const size = summary(model);
  writeJsonAtomic(join(out, LOWBIT_JSON), {
    ...metadata, dataset: data.name, datasetDescription: data.description,
    inputShape: data.shape, numClasses: data.numClasses, outputs: 'logits',
    epochs: config.epochs, batchSize: config.batchSize, learningRate: config.learningRate,
    optimizer: config.optimizer, schedule: config.schedule, weightDecay: config.weightDecay,
    maxStepsPerEpoch: config.maxStepsPerEpoch ?? null, seed: config.seed, backend: run.backend, threads: threadCount(run.backend),
    test: { accuracy: test.accuracy, loss: test.loss, count: test.count },
    // A job's own val (measured after finalizing) overrides the last epoch's.
    val: (metadata.val as { accuracy: number; loss: number } | undefined) ?? (last ? { accuracy: last.valAccuracy, loss: last.valLoss } : null),
    size: { params: size.totalParams, bytes: size.totalBytes, floatBytes: size.floatBytes, compression: size.compression },
    history,
    wallSeconds: (performance.now() - started) / 1000,
    lowbit: lowbitVersion(), commit: gitCommit(), tfjs: tf.version_core, createdAt: new Date().toISOString(),
  });
  if (announce) process.stdout.write(`${label}: test accuracy ${(test.accuracy * 100).toFixed(2)}% (loss ${test.loss.toFixed(4)}, ${test.count} images); saved to ${out}\n`);
}

export async function runTraining(job: TrainingJob): Promise<void> {
  const run = await prepareRun(job.flags, job.dataset, job.defaultOut);
  if (job.flags.resume && !run.checkpoints.exists() && !isRestartable(run.out)) {
    throw new LowbitError(`--resume: ${run.out} holds no ${CHECKPOINT_FILE}; run without --resume to start a new run`);
  }
  const model = await job.makeModel(run.data, run.config);
  const started = performance.now();
  try {
    await inOutputDir(run.out, async () => {
      const progress = progressHooks({ label: job.label, totalEpochs: run.config.epochs, quiet: job.flags.quiet });
      const result = await train(model, run.data, { ...run.config, ...(job.loss ? { loss: job.loss(model) } : {}) }, {
        checkpoints: run.checkpoints,
        ...progress,
        onEpoch: (record, history) => {
          progress.onEpoch?.(record, history);
          // The whole log is rewritten from the checkpointed history, so it always matches it.
          writeFileAtomic(join(run.out, LOG_FILE), history.map((r) => JSON.stringify(r)).join('\n') + '\n');
        },
      });
      const final = job.finalize ? await job.finalize(model) : { model, metadata: {} };
      if (job.bnRecalImages) reestimateBatchNorm(final.model, run.data, job.bnRecalImages, run.config.seed);
      // A model changed after training (fixed bits, new BatchNorm statistics) is validated again:
      // lr selection must see the model that is saved.
      const changed = final.model !== model || (job.bnRecalImages ?? 0) > 0;
      const val = changed ? evaluate(modelForward(final.model), run.data.val, run.data.shape, run.data.numClasses) : null;
      try {
        await saveRun(final.model, run, job.label, { ...job.metadata, ...final.metadata, bnRecalImages: job.bnRecalImages ?? 0, resumedFrom: result.resumedFrom,
          ...(val ? { val: { accuracy: val.accuracy, loss: val.loss }, valBeforeFinalize: result.history.at(-1) ? { accuracy: result.history.at(-1)!.valAccuracy } : null } : {}) }, result.history, started);
      } finally {
        if (final.model !== model) final.model.dispose();
      }
    });
  } finally {
    model.dispose();
  }
}
