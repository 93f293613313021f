/**
 * DCQ, Divide-and-Conquer Quantization (Elthakeb et al., ICML 2020; spec: shared/methods/dcq.md):
 * cut a float teacher into sections, train each quantized section alone against the teacher's
 * features at its cut (sections in parallel worker threads, each with its own TF.js instance),
 * then stitch the sections into one quantized model. BatchNorm re-estimation and an end-to-end
 * fine-tune are options, off by default: the paper only stitches. Node-only.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '../../backend/tf.js';
import type { BackendName } from '../../backend/index.js';
import type { DatasetSplits } from '../../data/dataset.js';
import { LowbitError } from '../../errors.js';
import { FileCheckpointStore } from '../../io/checkpoint-file.js';
import { loadModelDir } from '../../io/model-dir.js';
import type { QuantizeConfig } from '../../layers/quantize-model.js';
import { restoreTensor } from '../../train/checkpoint.js';
import type { EpochRecord } from '../../train/checkpoint.js';
import { reestimateBatchNorm } from '../../train/batchnorm.js';
import { train, TrainConfig } from '../../train/loop.js';
import { buildFeatureCache } from './cache.js';
import { runSectionJob, SectionJob, SectionReport, sectionDir, studentSections } from './section-job.js';
import { checkCuts, sectionCutPoints } from './sections.js';

export interface DcqOptions {
  teacherDir: string;
  /** Reference model name (picks dcq.md's cuts); null for a user's model. */
  modelName?: string | null;
  dataset: string;
  dataDir?: string;
  /** `data` is balancedSubset(dataset, trainSubset): section jobs reload the dataset and cut the same subset. */
  trainSubset?: number | null;
  /** Cut layer names, or 'auto'. */
  cuts: string[] | 'auto';
  quantize: QuantizeConfig;
  /** Per-section training (epochs = epochs per section). */
  train: TrainConfig;
  /** One learning rate per section (dcq.md pitfall 7: MSE magnitudes differ per section); default train.learningRate for all. */
  sectionLr?: number[];
  lastLoss: 'ce' | 'kd';
  /** Worker threads (default: one per core); 0 trains the sections in this thread. */
  workers?: number;
  backend: BackendName;
  outDir: string;
  cacheBudgetBytes: number;
  /** Re-estimate BatchNorm statistics on this many training images after stitching (0 = off). */
  bnRecalImages?: number;
  /** End-to-end fine-tune epochs after stitching (0 = off). */
  finetuneEpochs?: number;
  quiet?: boolean;
}

export interface DcqResult {
  model: tf.LayersModel;
  cuts: string[];
  sections: SectionReport[];
  cacheSeconds: number;
  cacheBytes: number;
  /** Sum of the sections' training times (the sequential cost). */
  sectionSecondsSum: number;
  finetuneHistory: EpochRecord[];
}

function readReport(outDir: string, name: string): SectionReport | null {
  const path = join(sectionDir(outDir, name), 'done.json');
  return existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as SectionReport) : null;
}

/** Runs jobs on a pool of worker threads; collects every failure instead of stopping at the first. */
async function runInWorkers(jobs: SectionJob[], workers: number, backend: BackendName): Promise<Array<{ job: SectionJob; message: string }>> {
  const failures: Array<{ job: SectionJob; message: string }> = [];
  const queue = jobs.slice();
  const one = async () => {
    const worker = new Worker(new URL('./worker.js', import.meta.url));
    try {
      for (let job = queue.shift(); job; job = queue.shift()) {
        const current = job;
        const reply = await new Promise<{ ok: boolean; message?: string }>((resolve) => {
          worker.once('message', resolve);
          worker.once('error', (e) => resolve({ ok: false, message: e.message }));
          worker.postMessage({ job: current, backend });
        });
        worker.removeAllListeners('message');
        worker.removeAllListeners('error');
        if (!reply.ok) failures.push({ job: current, message: reply.message ?? 'unknown error' });
      }
    } finally {
      await worker.terminate();
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, one));
  return failures;
}

export async function runDcq(o: DcqOptions, data: DatasetSplits): Promise<DcqResult> {
  const teacher = await loadModelDir(o.teacherDir);
  const cuts = o.cuts === 'auto' ? sectionCutPoints(teacher, o.modelName ?? undefined) : o.cuts;
  checkCuts(teacher, cuts);
  if (o.sectionLr && o.sectionLr.length !== cuts.length + 1) {
    teacher.dispose();
    throw new LowbitError(`--section-lr gives ${o.sectionLr.length} learning rates but the cuts ${cuts.join(', ')} make ${cuts.length + 1} sections: give one per section`);
  }
  const cacheDir = join(o.outDir, 'cache');
  const cache = await buildFeatureCache(teacher, cuts, data, { budgetBytes: o.cacheBudgetBytes, dir: cacheDir });
  teacher.dispose();

  const names = Array.from({ length: cuts.length + 1 }, (_, i) => `s${i + 1}`);
  const jobs: SectionJob[] = names.map((_, index) => ({
    index, teacherDir: o.teacherDir, dataset: o.dataset, dataDir: o.dataDir, trainSubset: o.trainSubset ?? null, cuts, quantize: o.quantize,
    train: { ...o.train, learningRate: o.sectionLr?.[index] ?? o.train.learningRate }, lastLoss: o.lastLoss, cache, outDir: o.outDir, quiet: o.quiet,
  })).filter((j) => readReport(o.outDir, names[j.index]) == null);
  const workers = o.workers ?? cpus().length;
  const failures: Array<{ job: SectionJob; message: string }> = [];
  if (workers === 0) {
    for (const job of jobs) {
      try {
        await runSectionJob(job);
      } catch (e) {
        failures.push({ job, message: (e as Error).message });
      }
    }
  } else {
    failures.push(...await runInWorkers(jobs, workers, o.backend));
  }
  if (failures.length > 0) {
    const what = failures.map((f) => `section ${names[f.job.index]} (${f.job.index === 0 ? 'input' : cuts[f.job.index - 1]} → ${cuts[f.job.index] ?? 'output'}) failed: ${f.message}`);
    throw new LowbitError(`${what.join('; ')}. Finished sections are saved in ${join(o.outDir, 'sections')}; rerun the same command to resume`, 1);
  }

  rmSync(cacheDir, { recursive: true, force: true }); // spilled features are rebuilt by a rerun

  // Stitch: load every trained section into one student built from the teacher.
  const { student, sections } = await studentSections(o.teacherDir, o.quantize, cuts);
  const reports: SectionReport[] = [];
  for (const s of sections) {
    const ckpt = await new FileCheckpointStore(sectionDir(o.outDir, s.name)).load();
    if (ckpt == null) throw new LowbitError(`section ${s.name} has no checkpoint in ${sectionDir(o.outDir, s.name)}`, 1);
    const tensors = ckpt.modelWeights.map(restoreTensor);
    s.model.setWeights(tensors);
    tf.dispose(tensors);
    reports.push(readReport(o.outDir, s.name)!);
  }
  if ((o.bnRecalImages ?? 0) > 0) reestimateBatchNorm(student, data, o.bnRecalImages!, o.train.seed);
  let finetuneHistory: EpochRecord[] = [];
  if ((o.finetuneEpochs ?? 0) > 0) {
    const r = await train(student, data, { ...o.train, epochs: o.finetuneEpochs! }, { checkpoints: new FileCheckpointStore(join(o.outDir, 'finetune')) });
    finetuneHistory = r.history;
  }
  return {
    model: student, cuts, sections: reports, cacheSeconds: cache.seconds, cacheBytes: cache.bytes,
    sectionSecondsSum: reports.reduce((a, r) => a + r.seconds, 0), finetuneHistory,
  };
}
