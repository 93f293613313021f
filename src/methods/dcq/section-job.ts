/**
 * One DCQ section's training job, the same in a worker thread or in the main thread: rebuild
 * the quantized student from the teacher, cut out section i, train it alone on the cached teacher
 * features with lowbit's training loop, and report its loss. A job carries everything it needs
 * in memory (the teacher's artifacts, the images, the feature cache), so it runs on any data;
 * with `dir` its epochs are checkpointed there (a rerun resumes the section). Node-only.
 */
import { join } from 'node:path';
import * as tf from '../../backend/tf.js';
import type { DatasetSplits, ExampleSet } from '../../data/dataset.js';
import { imageSize } from '../../data/dataset.js';
import { LowbitError } from '../../errors.js';
import { FileCheckpointStore } from '../../io/checkpoint-file.js';
import { progressHooks } from '../../io/progress.js';
import { QuantizeConfig, quantizeModel } from '../../layers/quantize-model.js';
import { MemoryCheckpointStore } from '../../run/store.js';
import type { Checkpoint } from '../../train/checkpoint.js';
import { crossEntropy, evaluate, modelForward } from '../../train/evaluate.js';
import { train, TrainConfig, TrainHooks } from '../../train/loop.js';
import { FeatureCache, rowsOf, Split, SPLITS } from './cache.js';
import { distillationLoss, sectionMSE } from './losses.js';
import { Section, splitModel } from './sections.js';

/** A model as plain data (topology, weight specs, weight bytes): what crosses to a worker thread. */
export interface TeacherArtifacts {
  modelTopology: object;
  weightSpecs: tf.io.WeightsManifestEntry[];
  weightData: ArrayBuffer;
}

export interface SectionJob {
  index: number;
  teacher: TeacherArtifacts;
  /** The images the cache was built from (same subset, same order). */
  data: DatasetSplits;
  cuts: string[];
  quantize: QuantizeConfig;
  train: TrainConfig;
  lastLoss: 'ce' | 'kd';
  cache: FeatureCache;
  /** Checkpoint directory of this section (a run directory's sections/NAME), or null (in memory). */
  dir: string | null;
  /** Print per-epoch progress lines (to stderr). */
  progress: boolean;
}

export interface SectionReport {
  name: string;
  from: string | null;
  to: string | null;
  loss: 'mse' | 'ce' | 'kd';
  epochs: number;
  learningRate: number;
  valLoss: number;
  testLoss: number;
  /** Top-1 on the teacher's features (last section only). */
  testAccuracy: number | null;
  seconds: number;
}

export const sectionDir = (outDir: string, name: string) => join(outDir, 'sections', name);

/** The teacher as artifacts (weights copied out of the engine). */
export async function teacherArtifacts(teacher: tf.LayersModel): Promise<TeacherArtifacts> {
  let out: TeacherArtifacts | null = null;
  await teacher.save(tf.io.withSaveHandler(async (a) => {
    const data = a.weightData == null ? new ArrayBuffer(0) : Array.isArray(a.weightData) ? tf.io.concatenateArrayBuffers(a.weightData) : a.weightData;
    out = { modelTopology: a.modelTopology as object, weightSpecs: a.weightSpecs ?? [], weightData: data };
    return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(a) };
  }));
  return out!;
}

/** The quantized student, split into sections (shared layers), built from the teacher's artifacts. */
export async function studentSections(teacher: TeacherArtifacts, quantize: QuantizeConfig, cuts: string[]): Promise<{ student: tf.LayersModel; sections: Section[] }> {
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: teacher.modelTopology, weightSpecs: teacher.weightSpecs, weightData: teacher.weightData }));
  const student = await quantizeModel(model, quantize);
  model.dispose();
  return { student, sections: splitModel(student, cuts) };
}

/** Disposes a split student: the section models share its layers, so each holds a reference to their weights. */
export function disposeSections(student: tf.LayersModel, sections: Section[]): void {
  for (const s of sections) s.model.dispose();
  student.dispose();
}

/** Section i's data: inputs are the teacher's features at cut i−1 (or the images), targets at cut i. */
export function sectionData(job: Pick<SectionJob, 'index' | 'cuts' | 'lastLoss' | 'cache'>, images: DatasetSplits): DatasetSplits<ExampleSet> {
  const i = job.index;
  const last = i === job.cuts.length;
  const set = (split: Split): ExampleSet => {
    const targetIndex = last ? (job.lastLoss === 'kd' ? i : -1) : i;
    return {
      images: i === 0 ? images[split].images : rowsOf(job.cache.rows[split][i - 1]),
      labels: images[split].labels,
      count: images[split].count,
      ...(targetIndex >= 0 ? { targets: rowsOf(job.cache.rows[split][targetIndex]), targetShape: job.cache.shapes[targetIndex] } : {}),
    };
  };
  const sets = Object.fromEntries(SPLITS.map((s) => [s, set(s)])) as Record<Split, ExampleSet>;
  // The cached features must be of these very images (same subset, same order).
  for (const split of SPLITS) {
    for (const k of [i - 1, i]) {
      if (k < 0 || k >= job.cache.rows[split].length) continue;
      const rows = rowsOf(job.cache.rows[split][k]).length / imageSize(job.cache.shapes[k]);
      if (rows !== images[split].count) {
        throw new LowbitError(`DCQ section ${i + 1}: the teacher-feature cache holds ${rows} ${split} examples but the ${split} split has ${images[split].count}: build the cache from the same data (trainSubset) the sections train on`);
      }
    }
  }
  return { name: `${images.name}/s${i + 1}`, description: `DCQ section ${i + 1} of ${images.description}`, shape: i === 0 ? images.shape : job.cache.shapes[i - 1], numClasses: images.numClasses, ...sets };
}

/** Trains one section; returns its report and final checkpoint (the trained section's weights). */
export async function runSectionJob(job: SectionJob, hooks: Pick<TrainHooks, 'onStep' | 'onEpochStart' | 'onEpoch'> = {}): Promise<{ report: SectionReport; checkpoint: Checkpoint }> {
  const started = performance.now();
  const { student, sections } = await studentSections(job.teacher, job.quantize, job.cuts);
  try {
    const section = sections[job.index];
    const last = job.index === job.cuts.length;
    const loss = last ? (job.lastLoss === 'kd' ? distillationLoss() : crossEntropy) : sectionMSE;
    const data = sectionData(job, job.data);
    const checkpoints = job.dir != null ? new FileCheckpointStore(job.dir) : new MemoryCheckpointStore();
    const progress = job.progress ? progressHooks({ label: `dcq ${section.name} (${section.from ?? 'input'} → ${section.to ?? 'output'})`, totalEpochs: job.train.epochs }) : {};
    await train(section.model, data, { ...job.train, loss }, { checkpoints, ...progress, ...hooks });
    const forward = modelForward(section.model);
    const val = await evaluate(forward, data.val, data.shape, data.numClasses, 256, loss);
    const test = await evaluate(forward, data.test, data.shape, data.numClasses, 256, loss);
    const report: SectionReport = {
      name: section.name, from: section.from, to: section.to, loss: last ? job.lastLoss : 'mse', epochs: job.train.epochs,
      learningRate: job.train.learningRate, valLoss: val.loss, testLoss: test.loss, testAccuracy: last ? test.accuracy : null, seconds: (performance.now() - started) / 1000,
    };
    const checkpoint = (await checkpoints.load())!;
    return { report, checkpoint };
  } finally {
    disposeSections(student, sections);
  }
}
