/**
 * A model directory in TF.js LayersModel format — `model.json` + `weights.bin` — plus
 * `lowbit.json` (training metadata). Each file is written atomically. Node-only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { LOWBIT_JSON } from '../run/store.js';
import { parseRecordJson } from '../run/record.js';
import { writeFileAtomic } from './atomic.js';
import '../layers/quant-layers.js'; // so saved quantized models reload

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export { LOWBIT_JSON };

export async function saveModelDir(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const weightData = artifacts.weightData == null ? new ArrayBuffer(0)
      : Array.isArray(artifacts.weightData) ? tf.io.concatenateArrayBuffers(artifacts.weightData) : artifacts.weightData;
    writeFileAtomic(join(dir, WEIGHTS_BIN), new Uint8Array(weightData));
    const modelJson = {
      format: 'layers-model', generatedBy: `TensorFlow.js tfjs-layers v${tf.version_layers}`, convertedBy: 'lowbit',
      modelTopology: artifacts.modelTopology,
      weightsManifest: [{ paths: [`./${WEIGHTS_BIN}`], weights: artifacts.weightSpecs }],
    };
    writeFileAtomic(join(dir, MODEL_JSON), JSON.stringify(modelJson));
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
  }));
}

/** An IOHandler reading a model directory, for `tf.loadLayersModel(modelDirHandler(dir))`. */
export function modelDirHandler(dir: string): tf.io.IOHandler {
  return {
    load: async () => {
      const jsonPath = join(dir, MODEL_JSON);
      if (!existsSync(jsonPath)) throw new LowbitError(`${dir} holds no ${MODEL_JSON}: pass a directory written by 'lowbit train' or model.save`);
      let json: { modelTopology?: object; weightsManifest?: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }> };
      try {
        json = JSON.parse(readFileSync(jsonPath, 'utf8'));
      } catch (e) {
        throw new LowbitError(`${jsonPath}: not valid JSON (${(e as Error).message})`);
      }
      if (json.modelTopology == null || !Array.isArray(json.weightsManifest)) {
        throw new LowbitError(`${jsonPath}: not a TF.js LayersModel (no modelTopology or weightsManifest)`);
      }
      const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
      const buffers = json.weightsManifest.flatMap((g) => g.paths).map((p) => {
        const path = join(dir, p);
        if (!existsSync(path)) throw new LowbitError(`${jsonPath} names weights file ${p}, which is missing`);
        return readFileSync(path);
      });
      const weightData = Buffer.concat(buffers);
      const expected = weightSpecs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1) * 4, 0);
      if (weightData.byteLength !== expected) {
        throw new LowbitError(`${dir}: weights are ${weightData.byteLength} bytes but ${MODEL_JSON} describes ${expected}; the files are truncated or mismatched`);
      }
      const ab = weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength);
      return { modelTopology: json.modelTopology, weightSpecs, weightData: ab as ArrayBuffer, format: 'layers-model' };
    },
  };
}

export async function loadModelDir(dir: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(modelDirHandler(dir));
}

/** Throws a LowbitError naming the first weight of `model` holding NaN or ±Infinity. */
export function checkFiniteWeights(model: tf.LayersModel, dir: string, what = 'the model in'): void {
  for (const w of model.weights) {
    const values = w.read().dataSync();
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i])) {
        throw new LowbitError(`${what} ${dir} has ${Number.isNaN(values[i]) ? 'NaN' : 'infinite'} weights (${w.originalName}): it cannot give meaningful outputs; retrain it or restore its weights.bin`);
      }
    }
  }
}

export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** A run directory's lowbit.json as a JSON object, unchecked beyond that (a teacher's may be hand-written: {model, dataset}); parseRunRecord checks a whole record. */
export function readLowbitJson<T = Record<string, unknown>>(dir: string): T {
  const path = join(dir, LOWBIT_JSON);
  if (!existsSync(path)) throw new LowbitError(`${dir} holds no ${LOWBIT_JSON}: it was not written by lowbit`);
  return parseRecordJson(readFileSync(path, 'utf8'), path) as T;
}
