/** `lowbit train`: train a reference model from scratch, with checkpoints and --resume. Node-only. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../../backend/tf.js';
import { datasetNames, loadDataset } from '../../data/load.js';
import { LowbitError } from '../../errors.js';
import { buildModel, modelNames } from '../../models/index.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { CHECKPOINT_FILE, FileCheckpointStore } from '../../io/checkpoint-file.js';
import { LOWBIT_JSON, MODEL_JSON, saveModelDir, writeJsonAtomic } from '../../io/model-dir.js';
import { checkWritableDir, createDir, removeIfCreated } from '../../io/out-dir.js';
import { gitCommit, lowbitVersion } from '../../io/run-info.js';
import { evaluate, modelForward } from '../../train/evaluate.js';
import { train, TrainConfig, validateTrainConfig } from '../../train/loop.js';
import { OptimizerName } from '../../train/optimizer.js';
import { ScheduleName, scheduleNames } from '../../train/schedule.js';
import { parseChoice, parseInteger, parseNonNegative, parsePositive } from '../options.js';
import { parseBackend, useBackend } from '../backend-choice.js';
import { progressHooks } from '../progress.js';

export interface TrainCommandOptions {
  model: string;
  dataset: string;
  epochs: string;
  batch: string;
  lr: string;
  optimizer: string;
  momentum: string;
  schedule: string;
  weightDecay: string;
  width: string;
  seed: string;
  backend: string;
  dataDir?: string;
  out?: string;
  resume?: boolean;
  maxSteps?: string;
  quiet?: boolean;
}

export const LOG_FILE = 'log.jsonl';

export async function trainCommand(o: TrainCommandOptions): Promise<void> {
  // 1. Validate everything that needs no I/O.
  parseChoice(o.model, '--model', modelNames);
  parseChoice(o.dataset, '--dataset', datasetNames);
  const backendChoice = parseBackend(o.backend);
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
  const width = parsePositive(o.width, '--width');
  const out = o.out ?? join('runs', `${o.model}-${o.dataset}-s${config.seed}`);
  const checkpoints = new FileCheckpointStore(out);
  if (o.resume && !checkpoints.exists()) {
    throw new LowbitError(`--resume: ${out} holds no ${CHECKPOINT_FILE}; run without --resume to start a new run`);
  }
  if (!o.resume && (checkpoints.exists() || existsSync(join(out, MODEL_JSON)))) {
    throw new LowbitError(`${out} already holds a lowbit run; pass --resume to continue it or choose another --out`);
  }
  checkWritableDir(out);

  // 2. Load what the run needs (errors here still leave nothing behind).
  const data = loadDataset(o.dataset, { dataDir: o.dataDir });
  const backend = await useBackend(backendChoice, o.quiet);
  const model = buildModel(o.model, { inputShape: data.shape, numClasses: data.numClasses, width, seed: config.seed });

  // 3. Train into the output directory.
  const created = createDir(out);
  const label = `${o.model}/${o.dataset}`;
  const started = performance.now();
  try {
    const progress = progressHooks({ label, totalEpochs: config.epochs, quiet: o.quiet });
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
    writeJsonAtomic(join(out, LOWBIT_JSON), {
      kind: 'float', model: o.model, width, dataset: o.dataset, datasetDescription: data.description,
      inputShape: data.shape, numClasses: data.numClasses, outputs: 'logits',
      epochs: config.epochs, batchSize: config.batchSize, learningRate: config.learningRate,
      optimizer: config.optimizer, schedule: config.schedule, weightDecay: config.weightDecay,
      maxStepsPerEpoch: config.maxStepsPerEpoch ?? null, seed: config.seed, backend,
      test: { accuracy: test.accuracy, loss: test.loss, count: test.count },
      val: { accuracy: last.valAccuracy, loss: last.valLoss },
      history: result.history, resumedFrom: result.resumedFrom,
      wallSeconds: (performance.now() - started) / 1000,
      lowbit: lowbitVersion(), commit: gitCommit(), tfjs: tf.version_core, createdAt: new Date().toISOString(),
    });
    process.stdout.write(`${label}: test accuracy ${(test.accuracy * 100).toFixed(2)}% (loss ${test.loss.toFixed(4)}, ${test.count} images); saved to ${out}\n`);
  } catch (e) {
    removeIfCreated(out, created, (names) => names.includes(CHECKPOINT_FILE));
    throw e;
  } finally {
    model.dispose();
  }
}
