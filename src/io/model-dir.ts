/**
 * A model directory in TF.js LayersModel format — `model.json` + `weights.bin` — plus
 * `lowbit.json` (training metadata). Each file is written atomically. Node-only.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { LOWBIT_JSON } from '../run/store.js';
import { parseRecordJson } from '../run/record.js';
import { writeFileAtomic } from './atomic.js';
import '../layers/quant-layers.js'; // so saved quantized models reload
import { completeLayerConfigs } from '../layers/quantize-model.js';

export const MODEL_JSON = 'model.json';
export const WEIGHTS_BIN = 'weights.bin';
export { LOWBIT_JSON };

export async function saveModelDir(model: tf.LayersModel, dir: string): Promise<void> {
  await model.save(tf.io.withSaveHandler(async (artifacts) => {
    const topology = artifacts.modelTopology as { config?: { layers?: Parameters<typeof completeLayerConfigs>[0] } } | undefined;
    if (Array.isArray(topology?.config?.layers)) completeLayerConfigs(topology.config.layers, model);
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

/**
 * A model given as its directory or as the path of its model.json (any name: tfjs-converter
 * writes model.json, a user may rename it): the directory (weights paths are relative to it) and
 * the JSON file.
 */
export function modelJsonPath(path: string): { dir: string; file: string } {
  if (existsSync(path) && statSync(path).isFile()) return { dir: dirname(path), file: path };
  return { dir: path, file: join(path, MODEL_JSON) };
}

/** Bytes per stored value of a weight (tfjs-converter may store float32 weights quantized to uint8/uint16/float16). */
function bytesPerValue(spec: tf.io.WeightsManifestEntry): number | null {
  const stored = spec.quantization?.dtype ?? spec.dtype;
  switch (stored) {
    case 'float32': case 'int32': return 4;
    case 'uint16': case 'float16': return 2;
    case 'uint8': case 'bool': return 1;
    case 'complex64': return 8;
    default: return null; // strings: variable length
  }
}

/** An IOHandler reading a model directory (or a model.json path), for `tf.loadLayersModel(modelDirHandler(dir))`. */
export function modelDirHandler(path: string): tf.io.IOHandler {
  return {
    load: async () => {
      const { dir, file: jsonPath } = modelJsonPath(path);
      if (!existsSync(jsonPath)) throw new LowbitError(`${dir} holds no ${MODEL_JSON}: pass a directory written by 'lowbit train' or model.save, or the path of a model.json`);
      let json: { modelTopology?: object; weightsManifest?: Array<{ paths: string[]; weights: tf.io.WeightsManifestEntry[] }> };
      try {
        json = JSON.parse(readFileSync(jsonPath, 'utf8'));
      } catch (e) {
        throw new LowbitError(`${jsonPath}: not valid JSON (${(e as Error).message})`);
      }
      if (json.modelTopology == null || !Array.isArray(json.weightsManifest)) {
        throw new LowbitError(`${jsonPath}: not a TF.js LayersModel (no modelTopology or weightsManifest); a graph model (tfjs-converter --output_format tfjs_graph_model) cannot be trained: convert the Keras model with --output_format tfjs_layers_model`);
      }
      const weightSpecs = json.weightsManifest.flatMap((g) => g.weights);
      const buffers = json.weightsManifest.flatMap((g) => g.paths).map((p) => {
        const weightsPath = join(dir, p);
        if (!existsSync(weightsPath)) throw new LowbitError(`${jsonPath} names weights file ${p}, which is missing`);
        return readFileSync(weightsPath);
      });
      const weightData = Buffer.concat(buffers);
      const sizes = weightSpecs.map((s) => { const b = bytesPerValue(s); return b == null ? null : s.shape.reduce((a, c) => a * c, 1) * b; });
      const expected = sizes.every((n) => n != null) ? (sizes as number[]).reduce((a, b) => a + b, 0) : null;
      if (expected != null && weightData.byteLength !== expected) {
        throw new LowbitError(`${dir}: weights are ${weightData.byteLength} bytes but ${jsonPath} describes ${expected}; the files are truncated or mismatched`);
      }
      const ab = weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength);
      return { modelTopology: json.modelTopology, weightSpecs, weightData: ab as ArrayBuffer, format: 'layers-model' };
    },
  };
}

/**
 * The layers (name, class) a model.json lists, without building the model: lowbit's and
 * tf.js's own files (`modelTopology.config`) and Keras files converted by tfjs-converter
 * (`modelTopology.model_config.config`; Sequential configs may be a bare list).
 */
export function readModelLayers(path: string): Array<{ name: string; className: string }> {
  const { file } = modelJsonPath(path);
  const json = parseRecordJson(readFileSync(file, 'utf8'), file) as { modelTopology?: { config?: unknown; model_config?: { config?: unknown } } };
  const config = json.modelTopology?.model_config?.config ?? json.modelTopology?.config;
  const layers = (Array.isArray(config) ? config : (config as { layers?: unknown } | undefined)?.layers) as Array<{ class_name?: string; config?: { name?: string } }> | undefined;
  return (Array.isArray(layers) ? layers : []).map((l) => ({ name: String(l.config?.name ?? ''), className: String(l.class_name ?? '') }));
}

/** Loads a model from its directory or its model.json path. */
export async function loadModelDir(path: string): Promise<tf.LayersModel> {
  return tf.loadLayersModel(modelDirHandler(path));
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
