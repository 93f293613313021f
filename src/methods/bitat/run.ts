/**
 * BiTAT's progressive, bottom-to-top binarization (bitat.md §1.5) and its baselines, composed
 * from lowbit's shared parts (quantizeModel, the training loop, BatchNorm re-estimation).
 * RECONSTRUCTION: the paper's text was unavailable; schedule details follow bitat.md §1.5 [R].
 *
 * Variants (same architecture, loss, optimiser, data order and total epochs):
 * - 'bitat': per stage, PCA-initialised trainable transform M = V diag(s) Vᵀ on the stage's layers;
 * - 'progressive': the same schedule with V = I, s = 1 (ablation A1);
 * - 'plain': every layer binarized from the start (plain 1/1 QAT, ReActNet-style).
 * A stage is the binarized layers that read the same tensor (two point-wise halves form one).
 * Layers below a stage are binarized with frozen binary kernels; layers above stay float and are
 * fine-tuned (or frozen with freezeUpper). After the last stage: `finalEpochs` of everything but
 * the binary kernels, then BatchNorm statistics are re-estimated (all variants alike).
 */
import * as tf from '../../backend/tf.js';
import { batches, DatasetSplits, disposeBatch, ExampleSet, imageBatch, ImageSet, sequentialOrder } from '../../data/dataset.js';
import { LowbitError } from '../../errors.js';
import { isQuantLayer, QuantLayer } from '../../layers/quant-layers.js';
import { QuantizeConfig, quantizeModel } from '../../layers/quantize-model.js';
import { reestimateBatchNorm } from '../../train/batchnorm.js';
import { CheckpointStore, EpochRecord, restoreTensor, storeTensors } from '../../train/checkpoint.js';
import { crossEntropy, LossFn } from '../../train/evaluate.js';
import { train, TrainConfig } from '../../train/loop.js';
import { distillationLoss } from '../dcq/losses.js';
import { inputCorrelation } from './correlation.js';
import { BitatTransform } from './transform.js';

export type BitatVariant = 'bitat' | 'progressive' | 'plain';
export const bitatVariants: readonly BitatVariant[] = ['bitat', 'progressive', 'plain'];

/** 1-bit weights (sign · per-output-channel scale) and RSign activations; first and last layers float. */
export const bitatQuantizeConfig: QuantizeConfig = {
  kernelQuantizer: { kind: 'binary', scale: 'channel' },
  inputQuantizer: { kind: 'rsign' },
  keepFirstAndLastFloat: true,
};

export interface BitatOptions {
  variant: BitatVariant;
  /** Epochs per stage (binarized layer or pair of point-wise halves). */
  epochsPerLayer: number;
  /** Epochs after the last stage with every binary kernel fixed. */
  finalEpochs: number;
  /** Loss: KL(teacher ‖ student) at T = 1 on cached teacher logits (ReActNet) instead of CE on labels. */
  distill: boolean;
  /** Freeze the float layers above the current stage instead of fine-tuning them (ablation A5). */
  freezeUpper?: boolean;
  /** Keep V and s at their PCA values (ablation A3). */
  fixedTransform?: boolean;
  /** Training images for each stage's correlation estimate (default 512). */
  calibrationImages?: number;
  /** Training images for the final BatchNorm re-estimation (default 2048; 0 = off). */
  bnImages?: number;
  /** Replace the teacher's PReLUs by ReActNet's RPReLU (starting equal to them). */
  rprelu?: boolean;
  /** Optimiser, batch, learning rate and seed; epochs and schedule are set per phase (linear decay). */
  train: TrainConfig;
  /** Stage-level checkpoints: a rerun resumes after the last finished stage. */
  checkpoints?: CheckpointStore;
  onStage?: (report: StageReport) => void;
}

export interface StageReport {
  stage: number;
  layers: string[];
  /** d_in of each layer's transform (0 when there is none). */
  dims: number[];
  /** max |VᵀV − I| over the stage's transforms at the end of the stage. */
  orthonormalityError: number | null;
  /** Initial importance (normalised eigenvalues), largest and smallest, per layer. */
  importanceRange: Array<[number, number]>;
  valAccuracy: number;
  seconds: number;
}

export interface BitatResult {
  model: tf.LayersModel;
  stages: StageReport[];
  history: EpochRecord[];
  /** Epochs trained in all (equal across variants for the same options). */
  totalEpochs: number;
}

/** Binarized layers grouped into stages, bottom to top: layers reading the same tensor share a stage. */
export function bitatStages(model: tf.LayersModel): QuantLayer[][] {
  const stages = new Map<string, QuantLayer[]>();
  for (const l of model.layers) {
    if (!isQuantLayer(l)) continue;
    const key = (l.input as tf.SymbolicTensor).name;
    stages.set(key, [...(stages.get(key) ?? []), l]);
  }
  return [...stages.values()];
}

/** The student: the teacher's binarizable layers as quantized layers (first and last kept float). */
export function bitatStudent(teacher: tf.LayersModel, options: { rprelu?: boolean } = {}): Promise<tf.LayersModel> {
  return quantizeModel(teacher, { ...bitatQuantizeConfig, rprelu: options.rprelu });
}

/** The data with the teacher's logits as per-example targets (for the KD loss). */
export function withTeacherLogits(teacher: tf.LayersModel, data: DatasetSplits<ImageSet>): DatasetSplits<ExampleSet> {
  const logits = (set: ImageSet): Float32Array => {
    const out = new Float32Array(set.count * data.numClasses);
    let offset = 0;
    for (const b of batches(set, data.shape, data.numClasses, 256, sequentialOrder(set.count))) {
      out.set(tf.tidy(() => (teacher.predict(b.x) as tf.Tensor).dataSync()), offset * data.numClasses);
      offset += b.labels.length;
      disposeBatch(b);
    }
    return out;
  };
  const withTargets = (set: ImageSet): ExampleSet => ({ ...set, targets: logits(set), targetShape: [data.numClasses] });
  return { ...data, train: withTargets(data.train), val: withTargets(data.val), test: withTargets(data.test) };
}

interface Notes { stages: StageReport[]; history: EpochRecord[] }

export async function runBitat(teacher: tf.LayersModel, data: DatasetSplits<ImageSet>, o: BitatOptions): Promise<BitatResult> {
  for (const [name, v] of [['epochsPerLayer', o.epochsPerLayer], ['finalEpochs', o.finalEpochs]] as const) {
    if (!Number.isInteger(v) || v < 0) throw new LowbitError(`BiTAT ${name} must be a whole number ≥ 0, got ${v}`);
  }
  if (o.epochsPerLayer < 1) throw new LowbitError(`BiTAT epochsPerLayer must be ≥ 1, got ${o.epochsPerLayer}`);
  const student = await bitatStudent(teacher, { rprelu: o.rprelu });
  const stages = bitatStages(student);
  if (stages.length === 0) throw new LowbitError(`${teacher.name} has no layer to binarize besides its first and last`);
  const examples = o.distill ? withTeacherLogits(teacher, data) : data;
  const loss: LossFn = o.distill ? distillationLoss(1, 0) : crossEntropy;
  const totalEpochs = stages.length * o.epochsPerLayer + o.finalEpochs;
  const phase = (epochs: number, variables: tf.Variable[], seedOffset: number, checkpoints?: CheckpointStore) => train(student, examples, {
    ...o.train, epochs, schedule: { name: 'linear' }, loss, variables, seed: o.train.seed + 7919 * seedOffset,
  }, { checkpoints });
  const trainable = (exclude: Set<tf.LayerVariable>) => student.trainableWeights.filter((w) => !exclude.has(w)).map((w) => w.read() as tf.Variable);

  try {
    if (o.variant === 'plain') {
      const r = await phase(totalEpochs, trainable(new Set()), 0, o.checkpoints); // one run: epoch checkpoints
      reestimateBatchNorm(student, data, o.bnImages ?? 2048, o.train.seed);
      return { model: student, stages: [], history: r.history, totalEpochs };
    }

    const resumed = o.checkpoints ? await o.checkpoints.load() : null;
    const notes: Notes = resumed ? resumed.notes as Notes : { stages: [], history: [] };
    if (resumed) {
      const tensors = resumed.modelWeights.map(restoreTensor);
      student.setWeights(tensors);
      tf.dispose(tensors);
    }
    const done = resumed?.epoch ?? 0; // stages finished (stages.length + 1 once the final phase is done)
    const frozen = new Set<tf.LayerVariable>();
    stages.forEach((layers, i) => {
      for (const l of layers) {
        l.quantizationEnabled = i < done;
        if (i < done) frozen.add(l.latentKernel);
      }
    });
    const save = async (epoch: number) => o.checkpoints?.save({
      epoch, step: 0, rngState: 0, history: notes.history, optimizerWeights: [], notes,
      modelWeights: await storeTensors(student.weights.map((w) => ({ name: w.originalName, tensor: w.read() }))),
    });
    const calibration = imageBatch(data.train, data.shape, o.calibrationImages ?? 512) as tf.Tensor4D;
    try {
      for (let i = done; i < stages.length; i++) {
        const started = performance.now();
        const layers = stages[i];
        for (const l of layers) l.quantizationEnabled = true;
        // The correlation of each layer's actual (binarized) input in the current network.
        const transforms = o.variant === 'bitat'
          ? layers.map((l) => new BitatTransform(inputCorrelation(student, l, calibration), { trainRotation: !o.fixedTransform, trainImportance: !o.fixedTransform }, l.name))
          : [];
        transforms.forEach((t, k) => { layers[k].kernelMetric = () => t.metric(); });
        const exclude = new Set(frozen);
        if (o.freezeUpper) for (const upper of stages.slice(i + 1).flat()) for (const w of upper.trainableWeights) exclude.add(w);
        const r = await phase(o.epochsPerLayer, [...trainable(exclude), ...transforms.flatMap((t) => t.variables())], i + 1);
        // Fix the stage's binary kernels: the latent kernel becomes α·sign(M·w) itself, so the
        // layer reproduces it without M (sign·mean|w| of ±α_o is ±α_o) and M costs nothing at inference.
        const orth = transforms.length > 0 ? Math.max(...transforms.map(orthonormalityError)) : null;
        for (const l of layers) {
          const q = l.quantizedKernel();
          l.latentKernel.write(q);
          q.dispose();
          l.kernelMetric = null;
          frozen.add(l.latentKernel);
        }
        const report: StageReport = {
          stage: i + 1, layers: layers.map((l) => l.name), dims: transforms.length > 0 ? transforms.map((t) => t.dim) : layers.map(() => 0),
          orthonormalityError: orth,
          importanceRange: transforms.map((t) => [Math.max(...t.initialImportance), Math.min(...t.initialImportance)] as [number, number]),
          valAccuracy: r.history[r.history.length - 1].valAccuracy, seconds: (performance.now() - started) / 1000,
        };
        transforms.forEach((t) => t.dispose());
        notes.stages.push(report);
        notes.history.push(...r.history.map((h) => ({ ...h, epoch: notes.history.length + h.epoch })));
        await save(i + 1);
        o.onStage?.(report);
      }
      if (done <= stages.length && o.finalEpochs > 0) {
        const r = await phase(o.finalEpochs, trainable(frozen), stages.length + 1);
        notes.history.push(...r.history.map((h) => ({ ...h, epoch: notes.history.length + h.epoch })));
        await save(stages.length + 1);
      }
    } finally {
      calibration.dispose();
    }
    reestimateBatchNorm(student, data, o.bnImages ?? 2048, o.train.seed);
    return { model: student, stages: notes.stages, history: notes.history, totalEpochs };
  } catch (e) {
    student.dispose();
    throw e;
  }
}

/** max |VᵀV − I| of a transform's current rotation. */
export function orthonormalityError(t: BitatTransform): number {
  return tf.tidy(() => {
    const v = t.rotation();
    return tf.max(tf.abs(tf.sub(tf.matMul(v, v, true, false), tf.eye(t.dim)))).dataSync()[0];
  });
}
