/**
 * One DCQ section's training job, the same in a worker thread or in the main thread: rebuild
 * the quantized student from the teacher, cut out section i, train it alone on the cached teacher
 * features with lowbit's training loop (checkpointed in its own directory), and report its MSE.
 * Node-only (reads the teacher and the dataset from disk).
 */
import { join } from 'node:path';
import type * as tf from '../../backend/tf.js';
import { balancedSubset, DatasetSplits, ExampleSet, imageSize } from '../../data/dataset.js';
import { LowbitError } from '../../errors.js';
import { loadDataset } from '../../data/load.js';
import { FileCheckpointStore } from '../../io/checkpoint-file.js';
import { loadModelDir, writeJsonAtomic } from '../../io/model-dir.js';
import { QuantizeConfig, quantizeModel } from '../../layers/quantize-model.js';
import { crossEntropy, evaluate, modelForward } from '../../train/evaluate.js';
import { train, TrainConfig } from '../../train/loop.js';
import { progressHooks } from '../../io/progress.js';
import { FeatureCache, rowsOf, Split, SPLITS } from './cache.js';
import { distillationLoss, sectionMSE } from './losses.js';
import { Section, splitModel } from './sections.js';

export interface SectionJob {
  index: number;
  teacherDir: string;
  dataset: string;
  dataDir?: string;
  /** Train on balancedSubset(dataset, trainSubset), as the feature cache was built. */
  trainSubset?: number | null;
  cuts: string[];
  quantize: QuantizeConfig;
  train: TrainConfig;
  lastLoss: 'ce' | 'kd';
  cache: FeatureCache;
  outDir: string;
  quiet?: boolean;
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

/** The quantized student, split into sections (shared layers), built from the teacher on disk. */
export async function studentSections(teacherDir: string, quantize: QuantizeConfig, cuts: string[]): Promise<{ student: tf.LayersModel; sections: Section[] }> {
  const teacher = await loadModelDir(teacherDir);
  const student = await quantizeModel(teacher, quantize);
  teacher.dispose();
  return { student, sections: splitModel(student, cuts) };
}

/** Section i's data: inputs are the teacher's features at cut i−1 (or the images), targets at cut i. */
export function sectionData(job: SectionJob, images: DatasetSplits): DatasetSplits<ExampleSet> {
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

export async function runSectionJob(job: SectionJob): Promise<SectionReport> {
  const started = performance.now();
  const loaded = loadDataset(job.dataset, { dataDir: job.dataDir });
  const images = job.trainSubset != null ? balancedSubset(loaded, job.trainSubset) : loaded;
  const { student, sections } = await studentSections(job.teacherDir, job.quantize, job.cuts);
  const section = sections[job.index];
  const last = job.index === job.cuts.length;
  const loss = last ? (job.lastLoss === 'kd' ? distillationLoss() : crossEntropy) : sectionMSE;
  const data = sectionData(job, images);
  const dir = sectionDir(job.outDir, section.name);
  await train(section.model, data, { ...job.train, loss }, {
    checkpoints: new FileCheckpointStore(dir),
    ...progressHooks({ label: `dcq ${section.name} (${section.from ?? 'input'} → ${section.to ?? 'output'})`, totalEpochs: job.train.epochs, quiet: job.quiet }),
  });
  const forward = modelForward(section.model);
  const val = evaluate(forward, data.val, data.shape, data.numClasses, 256, loss);
  const test = evaluate(forward, data.test, data.shape, data.numClasses, 256, loss);
  const report: SectionReport = {
    name: section.name, from: section.from, to: section.to, loss: last ? job.lastLoss : 'mse', epochs: job.train.epochs,
    learningRate: job.train.learningRate, valLoss: val.loss, testLoss: test.loss, testAccuracy: last ? test.accuracy : null, seconds: (performance.now() - started) / 1000,
  };
  writeJsonAtomic(join(dir, 'done.json'), report);
  student.dispose();
  return report;
}
