/**
 * Verification of exported models: run the ONNX file in onnxruntime-node (CPU), or the packed
 * model in TF.js, on test images and compare with the TF.js model. Node-only.
 */
import { readFileSync } from 'node:fs';
import { LowbitError } from '../errors.js';
import * as ort from 'onnxruntime-node';
import * as tf from '../backend/tf.js';
import { batches, DatasetSplits, sequentialOrder } from '../data/dataset.js';
import { decodeModel, encodeModel } from './onnx-builder.js';
import { lowerQonnx } from './qonnx-lower.js';
import { encodeImages, quantizedFeatures } from '../methods/dq/codes.js';
import { decoderModel, DqModelOptions } from '../methods/dq/model.js';

export interface Agreement {
  images: number;
  maxAbsDelta: number;
  top1Agreement: number;
  accuracy: number;
  referenceAccuracy: number;
}

export type Runner = (x: Float32Array, shape: number[]) => Promise<Float32Array>;

export type OrtOptimizations = 'disabled' | 'basic' | 'extended' | 'all';

/**
 * An onnxruntime session over an ONNX file (QONNX files are lowered to standard ops first).
 * Default 'basic' folds constants (DequantizeLinear of weights becomes float weights) and checks
 * the graph's own semantics; 'all' lets ORT fuse DequantizeLinear → MatMul into integer kernels
 * that also quantize the activations dynamically (seen to flip 0.05–0.15 % of top-1 decisions).
 */
export async function onnxRunner(path: string, optimizations: OrtOptimizations = 'basic'): Promise<Runner> {
  let bytes: Uint8Array = readFileSync(path);
  const unusable = (e: unknown) => new LowbitError(`${path}: not a usable ONNX model (${String((e as Error).message ?? e).split('\n')[0]}); export it again with 'lowbit export'`);
  let session: ort.InferenceSession;
  try {
    const decoded = decodeModel(bytes);
    if ((decoded.opsetImport ?? []).some((o) => o.domain && o.domain !== '')) bytes = encodeModel(lowerQonnx(decoded));
    session = await ort.InferenceSession.create(bytes, { executionProviders: ['cpu'], graphOptimizationLevel: optimizations, logSeverityLevel: 3 });
  } catch (e) {
    throw e instanceof LowbitError ? e : unusable(e);
  }
  return async (x, shape) => {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, shape) });
    return out[session.outputNames[0]].data as Float32Array;
  };
}

export function tfRunner(model: tf.LayersModel): Runner {
  return async (x, shape) => tf.tidy(() => (model.predict(tf.tensor(x, shape)) as tf.Tensor).dataSync() as Float32Array);
}

const argmax = (v: Float32Array, i: number, k: number) => {
  let best = 0;
  for (let j = 1; j < k; j++) if (v[i * k + j] > v[i * k + best]) best = j;
  return best;
};

export async function compareRunners(candidate: Runner, reference: Runner, data: DatasetSplits, images: number, batchSize = 100): Promise<Agreement> {
  const n = Math.min(images, data.test.count);
  const k = data.numClasses;
  let maxAbsDelta = 0;
  let agree = 0;
  let correct = 0;
  let refCorrect = 0;
  for (const b of batches(data.test, data.shape, k, batchSize, sequentialOrder(n))) {
    const x = b.x.dataSync() as Float32Array;
    const shape = b.x.shape;
    const [c, r] = [await candidate(x, shape), await reference(x, shape)];
    for (let i = 0; i < b.labels.length; i++) {
      for (let j = 0; j < k; j++) maxAbsDelta = Math.max(maxAbsDelta, Math.abs(c[i * k + j] - r[i * k + j]));
      const pc = argmax(c, i, k);
      const pr = argmax(r, i, k);
      if (pc === pr) agree++;
      if (pc === b.labels[i]) correct++;
      if (pr === b.labels[i]) refCorrect++;
    }
    tf.dispose([b.x, b.y]);
  }
  return { images: n, maxAbsDelta, top1Agreement: agree / n, accuracy: correct / n, referenceAccuracy: refCorrect / n };
}

export interface DqAgreement {
  images: number;
  /** Per level (bottom first): the fraction of codes onnxruntime's encoder picks as TF.js does. */
  codeAgreement: number[];
  /** Decoder, fed TF.js's codes: max |Δ| of the mixture parameters, and relative to their max |value|. */
  maxAbsDelta: number;
  relativeDelta: number;
}

/** Runs the exported DQ encoder and decoder (ONNX files) in onnxruntime against the TF.js model on `images`. */
export async function compareDq(encoderPath: string, decoderPath: string, model: tf.LayersModel, options: DqModelOptions, images: tf.Tensor4D): Promise<DqAgreement> {
  const ref = encodeImages(model, images);
  const enc = await ort.InferenceSession.create(readFileSync(encoderPath), { executionProviders: ['cpu'], logSeverityLevel: 3 });
  const out = await enc.run({ [enc.inputNames[0]]: new ort.Tensor('float32', images.dataSync() as Float32Array, images.shape) });
  const codeAgreement = ref.indices.map((idx, l) => {
    const got = out[enc.outputNames[l]].data as BigInt64Array;
    let same = 0;
    for (let i = 0; i < idx.length; i++) if (Number(got[i]) === idx[i]) same++;
    return same / idx.length;
  });
  const dec = await ort.InferenceSession.create(readFileSync(decoderPath), { executionProviders: ['cpu'], logSeverityLevel: 3 });
  const feeds = Object.fromEntries(dec.inputNames.map((n, l) => [n, new ort.Tensor('int64', BigInt64Array.from(ref.indices[l], BigInt), [ref.count, ...ref.levels[l].grid, ref.levels[l].groups])]));
  const params = (await dec.run(feeds))[dec.outputNames[0]].data as Float32Array;
  const want = tf.tidy(() => {
    const features = quantizedFeatures(model, ref);
    return (decoderModel(model, options).predict(features) as tf.Tensor).dataSync() as Float32Array;
  });
  let maxAbsDelta = 0;
  let scale = 0;
  for (let i = 0; i < want.length; i++) {
    maxAbsDelta = Math.max(maxAbsDelta, Math.abs(params[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return { images: images.shape[0], codeAgreement, maxAbsDelta, relativeDelta: maxAbsDelta / (scale || 1) };
}
