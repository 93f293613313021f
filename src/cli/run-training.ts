/**
 * The one CLI path from "a model and a dataset" to "a run directory": validation of the shared
 * flags, --out / --resume checks, checkpointing, progress, log.jsonl, the saved model and
 * lowbit.json. `lowbit train` and `lowbit quantize` differ only in how they make the model. Node-only.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../backend/tf.js';
import type { DatasetSplits } from '../data/dataset.js';
import { datasetNames, loadDataset } from '../data/load.js';
import { LowbitError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { CHECKPOINT_FILE, FileCheckpointStore } from '../io/checkpoint-file.js';
import { LOWBIT_JSON, MODEL_JSON, saveModelDir, writeJsonAtomic } from '../io/model-dir.js';
import { checkWritableDir, createDir, removeIfCreated } from '../io/out-dir.js';
import { gitCommit, lowbitVersion } from '../io/run-info.js';
import { summary } from '../report/summary.js';
import { evaluate, modelForward } from '../train/evaluate.js';
import { train, TrainConfig, validateTrainConfig } from '../train/loop.js';
import type { OptimizerName } from '../train/optimizer.js';
import { ScheduleName, scheduleNames } from '../train/schedule.js';
import { parseBackend, useBackend } from './backend-choice.js';
import { parseChoice, parseInteger, parseNonNegative, parsePositive } from './options.js';
import { progressHooks } from './progress.js';

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
}

export async function runTraining(job: TrainingJob): Promise<void> {
  const o = job.flags;
  parseChoice(job.dataset, '--dataset', datasetNames);
  const backendChoice = parseBackend(o.backend);
  const config = parseTrainingFlags(o);
  const out = o.out ?? job.defaultOut;
  const checkpoints = new FileCheckpointStore(out);
  if (o.resume && !checkpoints.exists()) {
    throw new LowbitError(`--resume: ${out} holds no ${CHECKPOINT_FILE}; run without --resume to start a new run`);
  }
  if (!o.resume && (checkpoints.exists() || existsSync(join(out, MODEL_JSON)))) {
    throw new LowbitError(`${out} already holds a lowbit run; pass --resume to continue it or choose another --out`);
  }
  checkWritableDir(out);

  const data = loadDataset(job.dataset, { dataDir: o.dataDir });
  const backend = await useBackend(backendChoice, o.quiet);
  const model = await job.makeModel(data, config);

  const created = createDir(out);
  const started = performance.now();
  try {
    const progress = progressHooks({ label: job.label, totalEpochs: config.epochs, quiet: o.quiet });
    const result = await train(model, data, config, {
      checkpoints,
      ...progress,
      onEpoch: (record, history) => {
        progress.onEpoch?.(record, history);
        // The whole log is rewritten from the checkpointed history, so it always matches it.
        writeFileAtomic(join(out, LOG_FILE), history.map((r) => JSON.stringify(r)).join('\n') + '\n');
      },
    });
    const test = evaluate(modelForward(model), data.test, data.shape, data.numClasses);
    await saveModelDir(model, out);
    const last = result.history[result.history.length - 1];
    const size = summary(model);
    writeJsonAtomic(join(out, LOWBIT_JSON), {
      ...job.metadata, dataset: job.dataset, datasetDescription: data.description,
      inputShape: data.shape, numClasses: data.numClasses, outputs: 'logits',
      epochs: config.epochs, batchSize: config.batchSize, learningRate: config.learningRate,
      optimizer: config.optimizer, schedule: config.schedule, weightDecay: config.weightDecay,
      maxStepsPerEpoch: config.maxStepsPerEpoch ?? null, seed: config.seed, backend,
      test: { accuracy: test.accuracy, loss: test.loss, count: test.count },
      val: { accuracy: last.valAccuracy, loss: last.valLoss },
      size: { params: size.totalParams, bytes: size.totalBytes, floatBytes: size.floatBytes, compression: size.compression },
      history: result.history, resumedFrom: result.resumedFrom,
      wallSeconds: (performance.now() - started) / 1000,
      lowbit: lowbitVersion(), commit: gitCommit(), tfjs: tf.version_core, createdAt: new Date().toISOString(),
    });
    process.stdout.write(`${job.label}: test accuracy ${(test.accuracy * 100).toFixed(2)}% (loss ${test.loss.toFixed(4)}, ${test.count} images); saved to ${out}\n`);
  } catch (e) {
    removeIfCreated(out, created, (names) => names.includes(CHECKPOINT_FILE));
    throw e;
  } finally {
    model.dispose();
  }
}
