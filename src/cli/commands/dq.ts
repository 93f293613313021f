/**
 * `lowbit dq train | eval | encode | decode | export`: the Depthwise-Quantization auto-encoder
 * (methods/dq). A run directory holds the model (model.json + weights.bin, codebooks included),
 * lowbit.json (options, bits/dim, MSE, code usage, correlation analysis), recon.png,
 * code-usage.svg and channel-correlation.svg. Node-only.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../../backend/tf.js';
import { DatasetSplits, imageBatch } from '../../data/dataset.js';
import { loadDataset } from '../../data/load.js';
import { LowbitError } from '../../errors.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { CHECKPOINT_FILE } from '../../io/checkpoint-file.js';
import { LOWBIT_JSON, loadModelDir, readLowbitJson, saveModelDir, writeJsonAtomic } from '../../io/model-dir.js';
import { progressHooks } from '../../io/progress.js';
import { gitCommit, lowbitVersion } from '../../io/run-info.js';
import { correlationAnalysis } from '../../methods/dq/analysis.js';
import { decodeCodes, encodeImages, parseCodes, serializeCodes } from '../../methods/dq/codes.js';
import { cropParams, mixtureMean } from '../../methods/dq/mixture.js';
import { buildDqAutoencoder, DqModelOptions } from '../../methods/dq/model.js';
import { DqEvaluation, dqLoss, evaluateDq, lastStepStats } from '../../methods/dq/run.js';
import { exportDqOnnx } from '../../export/dq-onnx.js';
import { encodeModel } from '../../export/onnx-builder.js';
import { compareDq } from '../../export/verify.js';
import { codeUsageSpec, correlationHeatmapSpec, imageGridPng } from '../../report/dq-figures.js';
import { renderSvg } from '../../report/plots.js';
import { train } from '../../train/loop.js';
import { parseBackend, useBackend } from '../backend-choice.js';
import { parseChoice, parseInteger } from '../options.js';
import { checkWritableDir, checkWritableFile, isRestartable, makeDirs } from '../../io/out-dir.js';
import { inOutputDir, LOG_FILE, PreparedRun, prepareRun, TrainingFlags } from '../run-training.js';

export interface DqTrainOptions extends TrainingFlags {
  dataset: string;
  groups: string;
  codes: string;
  levels: string;
  width: string;
  embed: string;
  mixtures: string;
  learning: string;
  init: string;
}

function parseDqOptions(o: DqTrainOptions, seed: number): DqModelOptions {
  const levels = parseInteger(o.levels, '--levels', 1);
  if (levels > 2) throw new LowbitError(`--levels must be 1 or 2, got '${o.levels}'`);
  const options: DqModelOptions = {
    groups: parseInteger(o.groups, '--groups', 1), codes: parseInteger(o.codes, '--codes', 2), levels: levels as 1 | 2,
    width: parseInteger(o.width, '--width', 2), embedChannels: parseInteger(o.embed, '--embed', 1), mixtures: parseInteger(o.mixtures, '--mixtures', 1),
    learning: parseChoice(o.learning, '--learning', ['ema', 'loss'] as const), init: parseChoice(o.init, '--init', ['normal', 'batch', 'kmeans'] as const), seed,
  };
  if (options.codes > 65536) throw new LowbitError(`--codes must be at most 65536 (codes are stored as uint16), got ${options.codes}`);
  if (options.embedChannels! % options.groups !== 0) throw new LowbitError(`--embed ${options.embedChannels} must be a multiple of --groups ${options.groups} (D = embed / groups)`);
  return options;
}

/** recon.png, code-usage.svg and channel-correlation.svg in `out`; returns the correlation numbers. */
async function writeFigures(model: tf.LayersModel, data: DatasetSplits, evaluation: DqEvaluation, out: string) {
  const originals = imageBatch(data.test, data.shape, 16, true);
  const recon = tf.tidy(() => mixtureMean(cropParams((model.predict(originals) as tf.Tensor[])[0] as tf.Tensor4D)));
  writeFileAtomic(join(out, 'recon.png'), imageGridPng([originals.dataSync() as Float32Array, recon.dataSync() as Float32Array], 16, 28, 28));
  tf.dispose([originals, recon]);
  const usage = evaluation.levels.flatMap((l) => l.usage.flatMap((u, group) => u.map((count, code) => ({ level: l.level, group, code, count }))));
  writeFileAtomic(join(out, 'code-usage.svg'), await renderSvg(codeUsageSpec(usage)));
  const sample = imageBatch(data.test, data.shape, 1000, true) as tf.Tensor4D;
  const corr = correlationAnalysis(model, sample);
  sample.dispose();
  writeFileAtomic(join(out, 'channel-correlation.svg'), await renderSvg(correlationHeatmapSpec(corr.channelMatrix, `Bottom-level channel correlation (M = ${corr.groups})`)));
  const { channelMatrix: _omit, ...numbers } = corr;
  return numbers;
}

export async function dqTrainCommand(o: DqTrainOptions): Promise<void> {
  const run = await prepareRun(o, o.dataset, join('runs', `dq-${o.dataset}-m${o.groups}-k${o.codes}-s${o.seed}`));
  if (run.data.shape.join('x') !== '28x28x1') throw new LowbitError(`the DQ auto-encoder takes 28×28 grey images; ${o.dataset} has ${run.data.shape.join('×')}`);
  const options = parseDqOptions(o, run.config.seed);
  if (o.resume && !run.checkpoints.exists() && !isRestartable(run.out)) throw new LowbitError(`--resume: ${run.out} holds no ${CHECKPOINT_FILE}; run without --resume to start a new run`);
  await trainDqRun(run.data, options, run, label(options, o.dataset), o.quiet);
}

const label = (options: DqModelOptions, dataset: string) => `dq M=${options.groups} K=${options.codes} L=${options.levels} on ${dataset}`;

/**
 * Trains a DQ auto-encoder into `run.out` with checkpoints (resuming from one), evaluates it on
 * validation and test, writes the figures, the model and lowbit.json; returns the test evaluation.
 */
export async function trainDqRun(data: DatasetSplits, options: DqModelOptions, run: PreparedRun, name: string, quiet = false, announce = true): Promise<DqEvaluation> {
  const model = buildDqAutoencoder(options, data.shape as [number, number, number]);
  const started = performance.now();
  const codeStats: unknown[] = [];
  try {
    return await inOutputDir(run.out, async () => {
      const progress = progressHooks({ label: name, totalEpochs: run.config.epochs, quiet });
      const result = await train(model, data, { ...run.config, loss: dqLoss }, {
        checkpoints: run.checkpoints, ...progress,
        onEpoch: (record, history) => {
          progress.onEpoch?.(record, history);
          codeStats.push({ epoch: record.epoch, lastStep: lastStepStats(model) });
          writeFileAtomic(join(run.out, LOG_FILE), history.map((r) => JSON.stringify(r)).join('\n') + '\n');
        },
      });
      const val = evaluateDq(model, data.val, data.shape, data.numClasses);
      const test = evaluateDq(model, data.test, data.shape, data.numClasses);
      const correlation = await writeFigures(model, data, test, run.out);
      await saveModelDir(model, run.out);
      const strip = (e: DqEvaluation) => ({ ...e, levels: e.levels.map(({ usage: _u, ...l }) => l) });
      writeJsonAtomic(join(run.out, LOWBIT_JSON), {
        kind: 'dq', dq: options, dataset: data.name, datasetDescription: data.description, inputShape: data.shape,
        epochs: run.config.epochs, batchSize: run.config.batchSize, learningRate: run.config.learningRate, optimizer: run.config.optimizer,
        schedule: run.config.schedule, seed: run.config.seed, backend: run.backend, maxStepsPerEpoch: run.config.maxStepsPerEpoch ?? null,
        val: strip(val), test: strip(test), correlation, history: result.history, codeStatsPerEpoch: codeStats, resumedFrom: result.resumedFrom,
        bpdNote: 'bits/dim over the 784 original pixels (the 2-pixel padding excluded); full bound adds Σ levels H·W·M·log2 K / 784 (uniform prior)',
        wallSeconds: (performance.now() - started) / 1000, lowbit: lowbitVersion(), commit: gitCommit(), tfjs: tf.version_core, createdAt: new Date().toISOString(),
      });
      if (announce) process.stdout.write(`${name}: test bits/dim ${test.bpdDecoder.toFixed(4)} (decoder), ${test.bpdFull.toFixed(4)} (with codes); MSE ${test.mse.toFixed(5)}; saved to ${run.out}\n`);
      return test;
    });
  } finally {
    model.dispose();
  }
}

function readDq(dir: string): { options: DqModelOptions; dataset: string } {
  if (!existsSync(join(dir, 'model.json'))) throw new LowbitError(`${dir} holds no model.json: pass a directory written by 'lowbit dq train'`);
  const meta = readLowbitJson<{ kind?: string; dq?: DqModelOptions; dataset?: string }>(dir);
  if (meta.kind !== 'dq' || meta.dq == null || meta.dataset == null) throw new LowbitError(`${dir} is not a DQ auto-encoder (its ${LOWBIT_JSON} has kind ${JSON.stringify(meta.kind)}); use 'lowbit eval' for classifiers`);
  return { options: meta.dq, dataset: meta.dataset };
}

export async function dqEvalCommand(dir: string, o: { split: string; backend: string; dataDir?: string }): Promise<void> {
  const { dataset } = readDq(dir);
  const split = parseChoice(o.split, '--split', ['test', 'val'] as const);
  await useBackend(parseBackend(o.backend), true);
  const data = loadDataset(dataset, { dataDir: o.dataDir });
  const model = await loadModelDir(dir);
  const e = evaluateDq(model, data[split], data.shape, data.numClasses);
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
  const { dataset } = readDq(dir);
  const split = parseChoice(o.split, '--split', ['test', 'val', 'train'] as const);
  checkWritableFile(o.out, '--out');
  await useBackend(parseBackend(o.backend), true);
  const data = loadDataset(dataset, { dataDir: o.dataDir });
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
  const { dataset, options } = readDq(dir);
  const n = parseInteger(o.images, '--images', 1);
  const out = o.out ?? join(dir, 'export');
  checkWritableDir(out, o.out != null ? '--out' : 'the export directory');
  await useBackend(parseBackend(o.backend), true);
  const data = loadDataset(dataset, { dataDir: o.dataDir });
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
