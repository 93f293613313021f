/** `lowbit eval DIR`: accuracy and loss of a saved model on a dataset's test split. Node-only. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { dataForModel, dataLabel, loadChoice } from '../../data/load.js';
import { LowbitError } from '../../errors.js';
import { LOWBIT_JSON, loadModelDir, MODEL_JSON, readLowbitJson } from '../../io/model-dir.js';
import { checkFiniteWeights } from '../../io/model-dir.js';
import { evaluate, modelForward } from '../../train/evaluate.js';
import { parseChoice, parseInteger } from '../options.js';
import { parseBackend, useBackend } from '../backend-choice.js';

export interface EvalCommandOptions {
  dataset?: string;
  backend: string;
  dataDir?: string;
  data?: string;
  batch: string;
  split: string;
}

export async function evalCommand(dir: string, o: EvalCommandOptions): Promise<void> {
  if (!existsSync(dir)) throw new LowbitError(`${dir} does not exist: pass a directory written by 'lowbit train'`);
  if (!existsSync(join(dir, MODEL_JSON))) throw new LowbitError(`${dir} holds no ${MODEL_JSON}: pass a model directory written by 'lowbit train' or 'lowbit quantize'`);
  const meta = existsSync(join(dir, LOWBIT_JSON)) ? readLowbitJson<{ dataset?: unknown; data?: unknown; kind?: string }>(dir) : {};
  if (meta.kind === 'dq') throw new LowbitError(`${dir} holds a DQ auto-encoder, not a classifier: use 'lowbit dq eval ${dir}'`);
  const choice = dataForModel(o, meta, dir);
  const datasetName = dataLabel(choice);
  const split = parseChoice(o.split, '--split', ['test', 'val'] as const);
  const batch = parseInteger(o.batch, '--batch', 1);
  const backendChoice = parseBackend(o.backend);
  const data = loadChoice(choice, { dataDir: o.dataDir });
  await useBackend(backendChoice, true);
  const model = await loadModelDir(dir);
  const inShape = model.inputs[0].shape.slice(1).join('×');
  if (inShape !== data.shape.join('×')) {
    throw new LowbitError(`the model in ${dir} takes ${inShape} inputs but ${datasetName} images are ${data.shape.join('×')}`);
  }
  checkFiniteWeights(model, dir);
  const r = await evaluate(modelForward(model), data[split], data.shape, data.numClasses, batch);
  process.stdout.write(`${dir} on ${datasetName} ${split}: accuracy ${(r.accuracy * 100).toFixed(2)}%  loss ${r.loss.toFixed(4)}  (${r.count} images)\n`);
  model.dispose();
}
