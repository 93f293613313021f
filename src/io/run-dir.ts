/**
 * A method run into a run directory: the one Node path behind `lowbit train`, `lowbit quantize`,
 * `lowbit dq train`, recipes and the demo. Checks --out / --resume before any work, loads the
 * dataset and the teacher, runs the method through `runMethod` with the directory as its store
 * (checkpoint every epoch, log.jsonl, model, lowbit.json), and prints one result line. A failure
 * before the first checkpoint leaves no directory behind. Node-only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackendName } from '../backend/index.js';
import type * as tf from '../backend/tf.js';
import { balancedSubset, DatasetSplits } from '../data/dataset.js';
import type { DataFileSpec } from '../data/arrays.js';
import { chooseData, dataLabel, loadChoice } from '../data/load.js';
import { LowbitError } from '../errors.js';
import { useBackend } from '../cli/backend-choice.js';
import { getMethod, LOWBIT_JSON, resolveOptions, resolveTrain, runMethod, RunResult } from '../run/method.js';
import type { RawOptions } from '../run/options.js';
import { parseRunRecord, RunRecord } from '../run/record.js';
import type { TrainConfig } from '../train/loop.js';
import { CHECKPOINT_FILE } from './checkpoint-file.js';
import { dirStore } from './dir-store.js';
import { checkFiniteWeights, loadModelDir, modelJsonPath, readLowbitJson, readModelLayers } from './model-dir.js';
import { checkWritableDir, createDir, isRestartable, removeIfCreated } from './out-dir.js';
import { progressHooks } from './progress.js';
import { buildProvenance, lowbitVersion, threadCount } from './run-info.js';
import { runFingerprint } from '../train/fingerprint.js';

export interface DirRun {
  method: string;
  /** The method's options: typed values, or strings as the CLI gives them. */
  options: RawOptions;
  /** Dataset name; default the teacher's (from its lowbit.json). */
  dataset?: string;
  /** The user's files instead of a named dataset (docs/data.md); default the teacher's. */
  data?: DataFileSpec;
  dataDir?: string;
  /** Train on a fixed class-balanced subset of this many training images. */
  trainSubset?: number | null;
  /** The float model's directory or model.json path (lowbit's, or any TF.js LayersModel), for methods that quantize one. */
  teacherDir?: string;
  train: Partial<TrainConfig>;
  /** Output directory; default runs/MODEL-DATASET-TAG-sSEED. */
  out?: string;
  /** Continue from the directory's checkpoint; 'auto': continue when there is one, else start (recipes, the demo). */
  resume?: boolean | 'auto';
  backend: BackendName | 'auto';
  quiet?: boolean;
  /** Print the one-line result (default true). */
  announce?: boolean;
  /** The label of progress lines (default e.g. 'lenet5/mnist dorefa-w1a32'). */
  label?: string;
}

/** A run directory's record, parsed and checked. */
export function readRunRecord(dir: string): RunRecord {
  const path = join(dir, LOWBIT_JSON);
  if (!existsSync(path)) throw new LowbitError(`${dir} holds no ${LOWBIT_JSON}: it was not written by lowbit`);
  return parseRunRecord(readFileSync(path, 'utf8'), path);
}

/** What the teacher's lowbit.json says of it (model name, dataset or data files), if it has one (a user's model has none). */
function teacherInfo(path: string): { model: string | null; dataset?: unknown; data?: unknown } {
  const { dir, file } = modelJsonPath(path);
  if (!existsSync(file)) throw new LowbitError(`--teacher ${path} holds no model.json: pass a directory written by 'lowbit train', or a TF.js LayersModel's model.json (or its directory)`);
  if (!existsSync(join(dir, LOWBIT_JSON))) return { model: null };
  const r = readLowbitJson<{ model?: unknown; dataset?: unknown; data?: unknown }>(dir);
  return { model: typeof r.model === 'string' ? r.model : null, dataset: r.dataset, data: r.data };
}

/** The teacher's layers (name, class) from its model.json, before any backend or data work. */
function teacherLayers(path: string): { layers: Array<{ name: string; getClassName(): string }> } {
  return { layers: readModelLayers(path).map((l) => ({ name: l.name, getClassName: () => l.className })) };
}

/** Runs a method into a directory; returns the model (the caller disposes it) and the record. */
export async function runInDir(job: DirRun): Promise<RunResult> {
  const method = getMethod(job.method);
  const train = resolveTrain(method, job.train);
  if (method.needsTeacher && job.teacherDir == null) throw new LowbitError(`method ${method.name} quantizes a trained float model: pass --teacher DIR`);
  const info = job.teacherDir != null ? teacherInfo(job.teacherDir) : { model: null };
  const choice = chooseData(job, info, job.teacherDir != null ? `--teacher ${job.teacherDir}` : undefined);
  const dataset = dataLabel(choice);
  // Options are checked here, before any work, against the teacher's layers as model.json lists them (and again by runMethod).
  const options = resolveOptions(method, job.options, { train, teacher: job.teacherDir != null ? teacherLayers(job.teacherDir) : undefined });
  const tag = method.tag(options);
  const modelName = info.model ?? (method.kind === 'float' ? tag : null);
  const out = job.out ?? join('runs', method.kind === 'quantized' ? `${modelName ?? 'model'}-${dataset}-${tag}-s${train.seed}` : `${tag}-${dataset}-s${train.seed}`);
  const label = job.label ?? (method.kind === 'quantized' ? `${modelName ?? 'model'}/${dataset} ${tag}` : method.kind === 'float' ? `${tag}/${dataset}` : `${tag} on ${dataset}`);
  const store = dirStore(out);
  const hasProgress = () => existsSync(join(out, CHECKPOINT_FILE)) || existsSync(join(out, 'sections'));
  // A directory killed before its first checkpoint (temp files, a lock, a partial log) restarts in place.
  const restartable = isRestartable(out);
  const resume = job.resume === 'auto' ? hasProgress() : job.resume === true;
  if (resume && !existsSync(out)) throw new LowbitError(`--resume: ${out} does not exist; run without --resume to start a new run`);
  if (resume && !hasProgress() && !restartable) throw new LowbitError(`--resume: ${out} holds no ${CHECKPOINT_FILE}; run without --resume to start a new run`);
  if (!resume && !restartable) {
    throw new LowbitError(`${out} already exists and is not empty: pass --resume to continue the run in it, or choose another --out`);
  }
  checkWritableDir(out);
  const loaded = loadChoice(choice, { dataDir: job.dataDir });
  const data: DatasetSplits = job.trainSubset == null ? loaded : balancedSubset(loaded, job.trainSubset);
  const backend = await useBackend(job.backend, job.quiet);
  const threads = threadCount(backend);
  // The checkpoint carries everything that determines the run; --resume with other settings is refused.
  const { epochs: _e, maxStepsPerEpoch: _m, ...settings } = train;
  store.checkpoints.expectFingerprint(runFingerprint({
    command: method.name, options, train: settings, dataset, ...(choice.data ? { data: loaded.source } : {}), trainSubset: job.trainSubset ?? null, trainImages: data.train.count,
    teacher: job.teacherDir ?? null, backend, threads, lowbit: lowbitVersion(),
  }));
  const created = createDir(out);
  let teacher: tf.LayersModel | undefined;
  try {
    teacher = job.teacherDir != null ? await loadModelDir(job.teacherDir) : undefined;
    if (teacher != null) checkFiniteWeights(teacher, job.teacherDir!, 'the teacher');
    const result = await runMethod(method, job.options, {
      data, teacher, teacherDir: job.teacherDir, modelName, train, store, trainSubset: job.trainSubset ?? null, dataDir: job.dataDir,
      hooks: job.quiet ? undefined : progressHooks({ label, totalEpochs: train.epochs }),
      log: job.quiet ? undefined : (line) => process.stderr.write(`${label}: ${line}\n`),
      provenance: buildProvenance(), threads,
    });
    if (job.announce !== false) process.stdout.write(`${label}: ${resultLine(result.record)}; saved to ${out}\n`);
    return result;
  } catch (e) {
    removeIfCreated(out, created, (names) => names.includes(CHECKPOINT_FILE) || names.includes('sections'));
    throw e;
  } finally {
    teacher?.dispose();
  }
}

export function resultLine(r: RunRecord): string {
  if (r.kind === 'dq') return `test bits/dim ${r.test.bpdDecoder.toFixed(4)} (decoder), ${r.test.bpdFull.toFixed(4)} (with codes); MSE ${r.test.mse.toFixed(5)}`;
  return `test accuracy ${(r.test.accuracy * 100).toFixed(2)}% (loss ${r.test.loss.toFixed(4)}, ${r.test.count} images)`;
}
