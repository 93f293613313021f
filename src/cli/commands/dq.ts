/**
 * `lowbit dq train | eval | encode | decode | export`: the Depthwise-Quantization auto-encoder
 * (the `dq` method). A run directory holds the model (model.json + weights.bin, codebooks included),
 * lowbit.json (options, bits/dim, MSE, code usage, correlation analysis), recon.png,
 * code-usage.svg and channel-correlation.svg. Node-only.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../../backend/tf.js';
import { imageBatch } from '../../data/dataset.js';
import { dataForModel, DataChoice, dataLabel, loadChoice } from '../../data/load.js';
import { LowbitError } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { LOWBIT_JSON, loadModelDir, readLowbitJson, writeJsonAtomic } from '../../io/model-dir.js';
import type { RunRecord } from '../../run/record.js';
import { decodeCodes, encodeImages, parseCodes, serializeCodes } from '../../methods/dq/codes.js';
import type { DqModelOptions } from '../../methods/dq/model.js';
import { evaluateDq } from '../../methods/dq/run.js';
import { exportDqOnnx } from '../../export/dq-onnx.js';
import { encodeModel } from '../../export/onnx-builder.js';
import { compareDq } from '../../export/verify.js';
import { imageGridPng } from '../../report/dq-figures.js';
import { getMethod } from '../../run/method.js';
import { parseBackend, useBackend } from '../backend-choice.js';
import { parseChoice, parseInteger } from '../options.js';
import { checkWritableDir, checkWritableFile, makeDirs } from '../../io/out-dir.js';
import { runFromFlags, TrainingFlags } from '../run-training.js';

export interface DqTrainOptions extends TrainingFlags {
  dataset?: string;
  [flag: string]: unknown;
}

export async function dqTrainCommand(o: DqTrainOptions): Promise<void> {
  const method = getMethod('dq');
  await runFromFlags(method, o, method.options, { dataset: o.dataset });
}

function readDq(dir: string): { options: DqModelOptions; dataset: string; choice: DataChoice } {
  if (!existsSync(join(dir, 'model.json'))) throw new LowbitError(`${dir} holds no model.json: pass a directory written by 'lowbit dq train'`);
  const meta = readLowbitJson<Partial<RunRecord>>(dir);
  if (meta.kind !== 'dq' || meta.dq == null || meta.dataset == null) throw new LowbitError(`${dir} is not a DQ auto-encoder (its ${LOWBIT_JSON} has kind ${JSON.stringify(meta.kind)}); use 'lowbit eval' for classifiers`);
  const choice = dataForModel({}, meta, dir);
  return { options: meta.dq as DqModelOptions, dataset: dataLabel(choice), choice };
}

export async function dqEvalCommand(dir: string, o: { split: string; backend: string; dataDir?: string }): Promise<void> {
  const { dataset, choice } = readDq(dir);
  const split = parseChoice(o.split, '--split', ['test', 'val'] as const);
  await useBackend(parseBackend(o.backend), true);
  const data = loadChoice(choice, { dataDir: o.dataDir });
  const model = await loadModelDir(dir);
  const e = await evaluateDq(model, data[split], data.shape, data.numClasses);
  model.dispose();
  const lines = [
    `${dir} on ${dataset} ${split} (${e.images} images)`,
    `bits/dim: decoder ${e.bpdDecoder.toFixed(4)}, with codes (uniform prior) ${e.bpdFull.toFixed(4)} (+${e.codeBitsPerDim.toFixed(4)}, ${e.codeBitsPerImage} bits/image)`,
    `MSE ${e.mse.toFixed(5)} (PSNR ${e.psnr.toFixed(2)} dB); ${e.params} parameters; ${e.codebookFloats} codebook floats`,
    ...e.levels.map((l) => `${l.level} ${l.grid.join('×')}: M = ${l.groups}, K = ${l.codes}, perplexity ${l.perplexity.map((p) => p.toFixed(1)).join(' / ')}, codes used ${l.codesUsed.join(' / ')}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

export async function dqEncodeCommand(dir: string, o: { out: string; split: string; count?: string; backend: string; dataDir?: string }): Promise<void> {
  const { dataset, choice } = readDq(dir);
  const split = parseChoice(o.split, '--split', ['test', 'val', 'train'] as const);
  checkWritableFile(o.out, '--out');
  await useBackend(parseBackend(o.backend), true);
  const data = loadChoice(choice, { dataDir: o.dataDir });
  const n = o.count != null ? parseInteger(o.count, '--count', 1) : data[split].count;
  const model = await loadModelDir(dir);
  const images = imageBatch(data[split], data.shape, n) as tf.Tensor4D;
  const codes = encodeImages(model, images);
  tf.dispose([images]);
  model.dispose();
  writeFileAtomic(o.out, serializeCodes(codes));
  const bits = codes.levels.reduce((a, l) => a + l.grid[0] * l.grid[1] * l.groups * Math.log2(l.codes), 0);
  process.stdout.write(`${o.out}: ${codes.count} images, ${codes.levels.map((l) => `${l.name} ${l.grid.join('×')}×${l.groups}`).join(', ')} codes (${bits} bits per image)\n`);
}

/** `lowbit dq export DIR`: encoder.onnx and decoder.onnx, then checked in onnxruntime against TF.js. */
export async function dqExportCommand(dir: string, o: { out?: string; images: string; backend: string; dataDir?: string }): Promise<void> {
  const { dataset, options, choice } = readDq(dir);
  const n = parseInteger(o.images, '--images', 1);
  const out = o.out ?? join(dir, 'export');
  checkWritableDir(out, o.out != null ? '--out' : 'the export directory');
  await useBackend(parseBackend(o.backend), true);
  const data = loadChoice(choice, { dataDir: o.dataDir });
  const model = await loadModelDir(dir);
  try {
    const { encoder, decoder } = exportDqOnnx(model, options); // fails before anything is written
    makeDirs(out);
    const paths = { encoder: join(out, 'encoder.onnx'), decoder: join(out, 'decoder.onnx') };
    writeFileAtomic(paths.encoder, encodeModel(encoder));
    writeFileAtomic(paths.decoder, encodeModel(decoder));
    const images = imageBatch(data.test, data.shape, Math.min(n, data.test.count)) as tf.Tensor4D;
    const a = await compareDq(paths.encoder, paths.decoder, model, options, images).finally(() => images.dispose());
    writeJsonAtomic(join(out, 'dq-verify.json'), { ...a, encoderBytes: statSync(paths.encoder).size, decoderBytes: statSync(paths.decoder).size });
    process.stdout.write(`${paths.encoder} (${statSync(paths.encoder).size} B), ${paths.decoder} (${statSync(paths.decoder).size} B)
` +
      `onnxruntime vs TF.js on ${a.images} test images: codes agree ${a.codeAgreement.map((c) => `${(c * 100).toFixed(2)}%`).join(' / ')}; ` +
      `decoder max |Δ| ${a.maxAbsDelta.toExponential(2)} (relative ${a.relativeDelta.toExponential(2)})\n`);
    if (a.codeAgreement.some((c) => c < 0.999) || a.relativeDelta > 1e-3) throw new LowbitError('the ONNX export disagrees with TF.js beyond tolerance (codes < 99.9 % or relative Δ > 1e-3)', 1);
  } finally {
    model.dispose();
  }
}

export async function dqDecodeCommand(dir: string, o: { codes: string; out: string; backend: string }): Promise<void> {
  const { options } = readDq(dir);
  if (!existsSync(o.codes)) throw new LowbitError(`--codes ${o.codes} does not exist: write it with 'lowbit dq encode ${dir} --out ${o.codes}'`);
  if (!/\.png$/i.test(o.out)) throw new LowbitError(`--out must name a .png file, got '${o.out}'`);
  checkWritableFile(o.out, '--out');
  const codes = parseCodes(readFileSync(o.codes), o.codes);
  await useBackend(parseBackend(o.backend), true);
  const model = await loadModelDir(dir);
  const images = decodeCodes(model, options, codes);
  const shown = Math.min(codes.count, 64);
  writeFileAtomic(o.out, imageGridPng([images.dataSync() as Float32Array], shown, 28, 28));
  tf.dispose([images]);
  model.dispose();
  process.stdout.write(`${o.out}: ${shown} of ${codes.count} decoded images\n`);
}
