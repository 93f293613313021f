/**
 * DCQ, Divide-and-Conquer Quantization (Elthakeb et al., ICML 2020; how it works here: docs/methods/dcq.md):
 * cut a float teacher into sections, train each quantized section alone against the teacher's
 * features at its cut (sections in parallel worker threads, each with its own TF.js instance),
 * then stitch the sections into one quantized model. BatchNorm re-estimation and an end-to-end
 * fine-tune are options, off by default: the paper only stitches. Node-only.
 */
import { rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import * as tf from '../../backend/tf.js';
import type { DatasetSplits } from '../../data/dataset.js';
import { LowbitError } from '../../errors.js';
import { readJson, RunStore, writeJson } from '../../run/store.js';
import type { QuantizeConfig } from '../../layers/quantize-model.js';
import { restoreTensor } from '../../train/checkpoint.js';
import type { Checkpoint, EpochRecord } from '../../train/checkpoint.js';
import { reestimateBatchNorm } from '../../train/batchnorm.js';
import { train, TrainConfig } from '../../train/loop.js';
import { buildFeatureCache } from './cache.js';
import { runSectionJob, SectionJob, SectionReport, sectionDir, studentSections, teacherArtifacts } from './section-job.js';
import { checkCuts, sectionCutPoints } from './sections.js';

export interface DcqOptions {
  /** The float teacher (left untouched). */
  teacher: tf.LayersModel;
  /** Reference model name (picks the default cuts); null for a user's model. */
  modelName?: string | null;
  /** Cut layer names, or 'auto'. */
  cuts: string[] | 'auto';
  quantize: QuantizeConfig;
  /** Per-section training (epochs = epochs per section). */
  train: TrainConfig;
  /** One learning rate per section (pitfall 7: MSE magnitudes differ per section); default train.learningRate for all. */
  sectionLr?: number[];
  lastLoss: 'ce' | 'kd';
  /** Worker threads (default: one per core); 0 trains the sections in this thread. */
  workers?: number;
  backend: string;
  /** Where sections, their checkpoints and reports go; a rerun with the same store skips finished sections. */
  store: RunStore;
  cacheBudgetBytes: number;
  /** Re-estimate BatchNorm statistics on this many training images after stitching (0 = off). */
  bnRecalImages?: number;
  /** End-to-end fine-tune epochs after stitching (0 = off). */
  finetuneEpochs?: number;
  /** Per-epoch progress lines of each section. */
  progress?: boolean;
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

const DONE = 'done.json';

const sectionStore = (store: RunStore, name: string) => store.child('sections').child(name);
const readReport = (store: RunStore, name: string) => readJson<SectionReport>(sectionStore(store, name), DONE);

/** A finished section: its final checkpoint and report, kept in the run's store. */
async function keepSection(store: RunStore, result: { report: SectionReport; checkpoint: Checkpoint }): Promise<void> {
  const s = sectionStore(store, result.report.name);
  await s.checkpoints.save(result.checkpoint);
  writeJson(s, DONE, result.report);
}

/** Runs jobs on a pool of worker threads; collects every failure instead of stopping at the first. */
async function runInWorkers(jobs: SectionJob[], workers: number, backend: string, store: RunStore): Promise<Array<{ job: SectionJob; message: string }>> {
  const failures: Array<{ job: SectionJob; message: string }> = [];
  const queue = jobs.slice();
  const one = async () => {
    const worker = new Worker(new URL('./worker.js', import.meta.url));
    try {
      for (let job = queue.shift(); job; job = queue.shift()) {
        const current = job;
        const reply = await new Promise<{ ok: boolean; message?: string; report?: SectionReport; checkpoint?: Checkpoint }>((resolve) => {
          worker.once('message', resolve);
          worker.once('error', (e) => resolve({ ok: false, message: e.message }));
          worker.postMessage({ job: current, backend });
        });
        worker.removeAllListeners('message');
        worker.removeAllListeners('error');
        if (!reply.ok) failures.push({ job: current, message: reply.message ?? 'unknown error' });
        else await keepSection(store, { report: reply.report!, checkpoint: reply.checkpoint! });
      }
    } finally {
      await worker.terminate();
    }
  };
  await Promise.all(Array.from({ length: Math.min(workers, jobs.length) }, one));
  return failures;
}

export async function runDcq(o: DcqOptions, data: DatasetSplits): Promise<DcqResult> {
  const { teacher, store } = o;
  const cuts = o.cuts === 'auto' ? sectionCutPoints(teacher, o.modelName ?? undefined) : o.cuts;
  checkCuts(teacher, cuts);
  if (o.sectionLr && o.sectionLr.length !== cuts.length + 1) {
    throw new LowbitError(`--section-lr gives ${o.sectionLr.length} learning rates but the cuts ${cuts.join(', ')} make ${cuts.length + 1} sections: give one per section`);
  }
  const cacheDir = store.dir != null ? join(store.dir, 'cache') : null;
  const cache = await buildFeatureCache(teacher, cuts, data, { budgetBytes: o.cacheBudgetBytes, dir: cacheDir });
  const artifacts = await teacherArtifacts(teacher);

  const names = Array.from({ length: cuts.length + 1 }, (_, i) => `s${i + 1}`);
  const jobs: SectionJob[] = names.map((name, index) => ({
    index, teacher: artifacts, data, cuts, quantize: o.quantize, lastLoss: o.lastLoss, cache, progress: o.progress ?? false,
    train: { ...o.train, learningRate: o.sectionLr?.[index] ?? o.train.learningRate },
    dir: store.dir != null ? sectionDir(store.dir, name) : null,
  })).filter((j) => readReport(store, names[j.index]) == null);
  const workers = o.workers ?? cpus().length;
  const failures: Array<{ job: SectionJob; message: string }> = [];
  if (workers === 0) {
    for (const job of jobs) {
      try {
        await keepSection(store, await runSectionJob(job));
      } catch (e) {
        failures.push({ job, message: (e as Error).message });
      }
    }
  } else {
    failures.push(...await runInWorkers(jobs, workers, o.backend, store));
  }
  if (failures.length > 0) {
    const what = failures.map((f) => `section ${names[f.job.index]} (${f.job.index === 0 ? 'input' : cuts[f.job.index - 1]} → ${cuts[f.job.index] ?? 'output'}) failed: ${f.message}`);
    throw new LowbitError(`${what.join('; ')}. Finished sections are kept in ${store.location}/sections; rerun the same command to resume`, 1);
  }

  if (cacheDir != null) rmSync(cacheDir, { recursive: true, force: true }); // spilled features are rebuilt by a rerun

  // Stitch: load every trained section into one student built from the teacher.
  const { student, sections } = await studentSections(artifacts, o.quantize, cuts);
  const reports: SectionReport[] = [];
  for (const s of sections) {
    const ckpt = await sectionStore(store, s.name).checkpoints.load();
    if (ckpt == null) throw new LowbitError(`section ${s.name} has no checkpoint in ${store.location}/sections/${s.name}`, 1);
    const tensors = ckpt.modelWeights.map(restoreTensor);
    s.model.setWeights(tensors);
    tf.dispose(tensors);
    reports.push(readReport(store, s.name)!);
  }
  for (const s of sections) s.model.dispose(); // their layers (and weights) live on in the student
  if ((o.bnRecalImages ?? 0) > 0) reestimateBatchNorm(student, data, o.bnRecalImages!, o.train.seed);
  let finetuneHistory: EpochRecord[] = [];
  if ((o.finetuneEpochs ?? 0) > 0) {
    const r = await train(student, data, { ...o.train, epochs: o.finetuneEpochs! }, { checkpoints: store.child('finetune').checkpoints });
    finetuneHistory = r.history;
  }
  return {
    model: student, cuts, sections: reports, cacheSeconds: cache.seconds, cacheBytes: cache.bytes,
    sectionSecondsSum: reports.reduce((a, r) => a + r.seconds, 0), finetuneHistory,
  };
}
