/** `lowbit quantize`: quantize a trained float teacher with DoReFa fine-tuning or DCQ. Node-only. */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../../backend/tf.js';
import { DatasetSplits, imageBatch } from '../../data/dataset.js';
import { LowbitError } from '../../errors.js';
import { checkFiniteWeights, LOWBIT_JSON, loadModelDir, readLowbitJson } from '../../io/model-dir.js';
import { isRestartable } from '../../io/out-dir.js';
import { dorefaConfig } from '../../methods/dorefa/index.js';
import { runDcq } from '../../methods/dcq/run.js';
import { bitatQuantizeConfig, bitatVariants, runBitat } from '../../methods/bitat/run.js';
import { relaxedConfig, relaxedModel } from '../../methods/srq/index.js';
import { bitWidthLoss, fixLearnedBits, readLearnedBits } from '../../methods/srq/learned-bits.js';
import { quantizeModel } from '../../layers/quantize-model.js';
import { evaluate, modelForward } from '../../train/evaluate.js';
import { parseChoice, parseInteger, parseNonNegative, parsePositive } from '../options.js';
import { inOutputDir, prepareRun, runTraining, saveRun, TrainingFlags } from '../run-training.js';

export const quantizeMethods = ['dorefa', 'dcq', 'ste', 'rq', 'rq-st', 'srq', 'bitat'] as const;

export interface QuantizeCommandOptions extends TrainingFlags {
  method: string;
  teacher: string;
  wbits: string;
  abits: string;
  dataset?: string;
  // DCQ
  sections: string;
  epochsPerSection?: string;
  workers?: string;
  lastLoss: string;
  bnRecal: string;
  finetuneEpochs: string;
  sectionLr?: string;
  cacheBudgetMb: string;
  // RQ / SRQ
  dropbits?: string;
  dropbitsMask?: string;
  temperature?: string;
  learnBits?: boolean;
  targetBits?: string;
  bitsLambda: string;
  layerBits?: string;
  // BiTAT
  variant: string;
  epochsPerLayer: string;
  finalEpochs: string;
  distill?: boolean;
  freezeUpper?: boolean;
  fixedTransform?: boolean;
  rprelu?: boolean;
}

export async function quantizeCommand(o: QuantizeCommandOptions): Promise<void> {
  const method = parseChoice(o.method, '--method', quantizeMethods);
  const wbits = parseInteger(o.wbits, '--wbits', 1);
  const abits = parseInteger(o.abits, '--abits', 1);
  const qconfig = dorefaConfig({ wbits, abits });
  if (!existsSync(join(o.teacher, 'model.json'))) {
    throw new LowbitError(`--teacher ${o.teacher} holds no model.json: pass a directory written by 'lowbit train'`);
  }
  const meta = existsSync(join(o.teacher, LOWBIT_JSON)) ? readLowbitJson<{ dataset?: string; model?: string }>(o.teacher) : {};
  const dataset = o.dataset ?? meta.dataset;
  if (dataset == null) throw new LowbitError(`--teacher ${o.teacher} has no ${LOWBIT_JSON} naming its dataset: pass --dataset`);
  const tag = `${method}-w${wbits}a${abits}`;
  const label = `${meta.model ?? 'model'}/${dataset} ${tag}`;
  const defaultOut = join('runs', `${meta.model ?? 'model'}-${dataset}-${tag}-s${o.seed}`);
  const common = { method, wbits, abits, model: meta.model ?? null, teacher: o.teacher, quantizeConfig: qconfig };
  const bnRecal = parseInteger(o.bnRecal, '--bn-recal', 0);

  if (method === 'ste' || method === 'rq' || method === 'rq-st' || method === 'srq') {
    const recipe = {
      method, wbits, abits,
      dropBits: o.dropbits != null ? parseNonNegative(o.dropbits, '--dropbits') : undefined,
      dropBitsMask: o.dropbitsMask != null ? parseChoice(o.dropbitsMask, '--dropbits-mask', ['element', 'layer'] as const) : undefined,
      temperature: o.temperature != null ? parsePositive(o.temperature, '--temperature') : undefined,
      learnBits: o.learnBits === true ? true : undefined,
      layerBits: o.layerBits != null ? parseLayerBits(o.layerBits) : undefined,
    };
    if (recipe.dropBits != null && recipe.dropBits >= 1) throw new LowbitError(`--dropbits must be below 1, got ${recipe.dropBits}`);
    const targetBits = o.targetBits != null ? parsePositive(o.targetBits, '--target-bits') : null;
    if (recipe.learnBits && targetBits == null) throw new LowbitError('--learn-bits needs --target-bits B (the size-weighted average weight bits to aim for)');
    if (targetBits != null && !recipe.learnBits) throw new LowbitError('--target-bits applies with --learn-bits');
    if (targetBits != null && (targetBits < 2 || targetBits > wbits)) throw new LowbitError(`--target-bits must be between 2 (learned widths start at 2) and --wbits ${wbits}, got ${targetBits}`);
    const lambda = parseNonNegative(o.bitsLambda, '--bits-lambda');
    const layers = teacherLayers(o.teacher);
    // Validates the combination before any work, and is what lowbit.json records.
    const quantizeConfig = relaxedConfig(recipe, layers.find((l) => ['Conv2D', 'DepthwiseConv2D', 'Dense'].includes(l.className))?.name ?? '');
    if (recipe.layerBits) {
      const names = layers.map((l) => l.name);
      for (const name of Object.keys(recipe.layerBits)) if (!names.includes(name)) throw new LowbitError(`--layer-bits names '${name}', which is not a layer of the teacher (layers: ${names.join(', ')})`);
    }
    const relaxedTag = `${method}${recipe.dropBits ? `-db${recipe.dropBits}${recipe.dropBitsMask === 'layer' ? 'l' : ''}` : ''}${recipe.learnBits ? `-learn${targetBits}` : ''}${recipe.layerBits ? '-layerbits' : ''}-w${wbits}a${abits}`;
    await runTraining({
      flags: o, dataset, label: `${meta.model ?? 'model'}/${dataset} ${relaxedTag}`, bnRecalImages: bnRecal,
      defaultOut: join('runs', `${meta.model ?? 'model'}-${dataset}-${relaxedTag}-s${o.seed}`),
      makeModel: (data) => fromTeacher(o.teacher, data.shape, dataset, (t) => relaxedModel(t, recipe, calibrationBatch(data))),
      metadata: { kind: 'quantized', ...common, quantizeConfig, ...recipe, targetBits, bitsLambda: recipe.learnBits ? lambda : null,
        reconstruction: method === 'srq' ? 'SRQ forward/backward, DropBits and learned bit-widths follow srq.md §2.2/§3.2/§3.3 (paper text unavailable)' : null },
      ...(recipe.learnBits ? {
        loss: (model: tf.LayersModel) => bitWidthLoss(model, targetBits!, lambda),
        finalize: async (model: tf.LayersModel) => {
          const learned = readLearnedBits(model);
          return { model: await fixLearnedBits(model), metadata: { learnedBits: learned.layers, learnedAverageBits: learned.averageBits } };
        },
      } : {}),
    });
    return;
  }

  if (method === 'bitat') {
    await bitat(o, dataset, meta.model ?? 'model');
    return;
  }

  if (method === 'dorefa') {
    await runTraining({
      flags: o, dataset, label, defaultOut, bnRecalImages: bnRecal,
      makeModel: (data) => fromTeacher(o.teacher, data.shape, dataset, (t) => quantizeModel(t, qconfig)),
      metadata: { kind: 'quantized', ...common },
    });
    return;
  }

  // DCQ: --epochs-per-section (default: --epochs) per section, then stitch.
  const flags = { ...o, epochs: o.epochsPerSection ?? o.epochs };
  const lastLoss = parseChoice(o.lastLoss, '--last-loss', ['ce', 'kd'] as const);
  const workers = o.workers != null ? parseInteger(o.workers, '--workers', 0) : undefined;
  const finetuneEpochs = parseInteger(o.finetuneEpochs, '--finetune-epochs', 0);
  const budgetMb = parseNonNegative(o.cacheBudgetMb, '--cache-budget-mb');
  const sectionLr = o.sectionLr?.split(',').map((v) => parsePositive(v.trim(), '--section-lr'));
  const cuts = o.sections === 'auto' ? 'auto' as const : o.sections.split(',').map((s) => s.trim()).filter(Boolean);
  const run = await prepareRun(flags, dataset, defaultOut);
  const teacher = await loadModelDir(o.teacher);
  checkInputs(teacher, run.data.shape, o.teacher, dataset);
  teacher.dispose();
  const started = performance.now();
  await inOutputDir(run.out, async () => {
    const result = await runDcq({
      teacherDir: o.teacher, modelName: meta.model ?? null, dataset, dataDir: o.dataDir, trainSubset: run.trainSubset ?? null, cuts, quantize: qconfig,
      train: run.config, lastLoss, workers, backend: run.backend as never, outDir: run.out,
      cacheBudgetBytes: budgetMb * 2 ** 20, bnRecalImages: bnRecal, finetuneEpochs, quiet: o.quiet, sectionLr,
    }, run.data);
    try {
      // The stitched model on the validation split: what DCQ's hyper-parameters are chosen on.
      const val = evaluate(modelForward(result.model), run.data.val, run.data.shape, run.data.numClasses);
      await saveRun(result.model, run, label, {
        stitchedVal: { accuracy: val.accuracy, loss: val.loss },
        kind: 'quantized', ...common, cuts: result.cuts, epochsPerSection: run.config.epochs, lastLoss, bnRecalImages: bnRecal, sectionLr: sectionLr ?? null,
        finetuneEpochs, sections: result.sections, cacheSeconds: result.cacheSeconds, cacheBytes: result.cacheBytes,
        sectionSecondsSum: result.sectionSecondsSum, workers: workers ?? 'one per core',
      }, result.finetuneHistory, started);
    } finally {
      result.model.dispose();
    }
  });
}

/** BiTAT and its baselines: W1/A1 (RSign), progressive stages; the total epochs follow from the stages. */
async function bitat(o: QuantizeCommandOptions, dataset: string, model: string): Promise<void> {
  const variant = parseChoice(o.variant, '--variant', bitatVariants);
  const epochsPerLayer = parseInteger(o.epochsPerLayer, '--epochs-per-layer', 1);
  const finalEpochs = parseInteger(o.finalEpochs, '--final-epochs', 0);
  const tag = `bitat-${variant}-w1a1`;
  const label = `${model}/${dataset} ${tag}`;
  const run = await prepareRun(o, dataset, join('runs', `${model}-${dataset}-${tag}-s${o.seed}`));
  if (o.resume && !run.checkpoints.exists() && !isRestartable(run.out)) {
    throw new LowbitError(`--resume: ${run.out} holds no stage checkpoint; run without --resume to start a new run`);
  }
  const teacher = await loadModelDir(o.teacher);
  try {
    checkInputs(teacher, run.data.shape, o.teacher, dataset);
    const data = run.data;
    const started = performance.now();
    await inOutputDir(run.out, async () => {
      const result = await runBitat(teacher, data, {
        variant, epochsPerLayer, finalEpochs, distill: o.distill === true, freezeUpper: o.freezeUpper === true,
        fixedTransform: o.fixedTransform === true, rprelu: o.rprelu === true, train: run.config, checkpoints: run.checkpoints,
        onStage: (s) => {
          if (!o.quiet) process.stderr.write(`${label}: stage ${s.stage} (${s.layers.join(', ')}) binarized, val ${(s.valAccuracy * 100).toFixed(2)}%, ${s.seconds.toFixed(0)} s\n`);
        },
      });
      try {
        await saveRun(result.model, { ...run, data, config: { ...run.config, epochs: result.totalEpochs } }, label, {
          kind: 'quantized', method: 'bitat', variant, wbits: 1, abits: 1, model, teacher: o.teacher, quantizeConfig: bitatQuantizeConfig,
          epochsPerLayer, finalEpochs, distill: o.distill === true, freezeUpper: o.freezeUpper === true, fixedTransform: o.fixedTransform === true, rprelu: o.rprelu === true,
          trainSubset: run.trainSubset ?? null, stages: result.stages,
          reconstruction: 'BiTAT: the transform (bitat.md §1.3) and the schedule (§1.5) are a reconstruction; the paper text was unavailable',
        }, result.history, started);
      } finally {
        result.model.dispose();
      }
    });
  } finally {
    teacher.dispose();
  }
}

/** The teacher's layers (name, class), read from its model.json (before any data or backend work). */
function teacherLayers(dir: string): Array<{ name: string; className: string }> {
  const json = JSON.parse(readFileSync(join(dir, 'model.json'), 'utf8')) as { modelTopology?: { config?: { layers?: Array<{ class_name: string; config: { name: string } }> } } };
  return (json.modelTopology?.config?.layers ?? []).map((l) => ({ name: l.config.name, className: l.class_name }));
}

/** '--layer-bits conv1=2,conv2=3' → { conv1: 2, conv2: 3 }. */
function parseLayerBits(value: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([^=]+)=(\d+)$/.exec(part);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 16) throw new LowbitError(`--layer-bits takes name=bits pairs with bits 1–16, e.g. conv1=2,conv2=3; got '${part}'`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

/** 256 training images (the first ones: the split is already shuffled by class) for calibrating quantizer grids. */
function calibrationBatch(data: DatasetSplits): tf.Tensor {
  return imageBatch(data.train, data.shape, 256);
}

/** Loads the teacher, checks its input shape against the dataset, and quantizes it. */
async function fromTeacher(dir: string, shape: readonly number[], dataset: string,
  quantize: (teacher: tf.LayersModel) => Promise<tf.LayersModel>): Promise<tf.LayersModel> {
  const teacher = await loadModelDir(dir);
  try {
    checkInputs(teacher, shape, dir, dataset);
    return await quantize(teacher);
  } finally {
    teacher.dispose();
  }
}

function checkInputs(teacher: tf.LayersModel, shape: readonly number[], dir: string, dataset: string): void {
  checkFiniteWeights(teacher, dir, 'the teacher');
  const inShape = teacher.inputs[0].shape.slice(1).join('×');
  if (inShape !== shape.join('×')) {
    throw new LowbitError(`the teacher in ${dir} takes ${inShape} inputs but ${dataset} images are ${shape.join('×')}`);
  }
}
