/**
 * The run record: what a finished run was and what it measured, one typed schema written as
 * `lowbit.json` and read by every consumer (recipe tables, reports, `eval`, `verify`, `demo`).
 * `version` 2 adds `method`, `options`, `threads` and the provenance fields `dirty`/`diffHash`;
 * version-1 files (no `version` field) have the same layout without them and are still read.
 */
import { LowbitError } from '../errors.js';
import type { DataFileSpec } from '../data/arrays.js';
import type { EpochRecord } from '../train/checkpoint.js';
import type { OptimizerConfig } from '../train/optimizer.js';
import type { ScheduleConfig } from '../train/schedule.js';
import type { QuantizeConfig } from '../layers/quantize-model.js';
import type { DqEvaluation, LevelReport } from '../methods/dq/run.js';

export const RUN_RECORD_VERSION = 2;

/** Which build wrote a record, and whether its source was exactly a commit. */
export interface Provenance {
  lowbit: string;
  /** git commit of the lowbit checkout, or 'unknown' (an installed package, the browser). */
  commit: string;
  /** Whether the checkout had uncommitted changes (null when unknown). */
  dirty: boolean | null;
  /** sha256 (first 16 hex digits) of `git diff HEAD` when dirty. */
  diffHash: string | null;
  tfjs: string;
  createdAt: string;
}

interface RecordBase extends Provenance {
  version: number;
  method: string;
  /** The method's options as resolved (defaults filled in). */
  options?: Record<string, unknown>;
  dataset: string;
  datasetDescription: string;
  /** The user's files and how they were read (--data), so later commands reload the same data. */
  data?: DataFileSpec;
  /** Class names by label, when the data has them (image folders). */
  classNames?: string[];
  /** Per-channel normalisation of the inputs ((x − mean) / std), when the data applied one. */
  normalization?: { mean: number[]; std: number[] };
  inputShape: number[];
  numClasses: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  optimizer: OptimizerConfig;
  schedule: ScheduleConfig;
  weightDecay?: number;
  maxStepsPerEpoch: number | null;
  seed: number;
  backend: string;
  /** OpenMP threads of the native backend (native results may differ between thread counts). */
  threads?: number | null;
  history: EpochRecord[];
  resumedFrom?: number;
  wallSeconds: number;
}

export interface Accuracy { accuracy: number; loss: number }

/** A classifier: float training or a quantization method. */
export interface ClassifierRecord extends RecordBase {
  kind: 'float' | 'quantized';
  outputs: 'logits';
  model: string | null;
  /** Float models: the width multiplier. */
  width?: number;
  wbits?: number;
  abits?: number;
  /** The teacher's location (a directory, or 'memory'). */
  teacher?: string | null;
  /** The teacher's softmax output that was removed to train on logits (docs/models.md), when it had one. */
  teacherSoftmax?: { layer: string; how: 'removed-layer' | 'linear-activation' } | null;
  /** The teacher's quantized layers, when the teacher was a quantized model (e.g. PTQ): the run started from their float weights. */
  teacherQuantizedLayers?: string[];
  quantizeConfig?: QuantizeConfig | null;
  test: Accuracy & { count: number };
  val: Accuracy | null;
  /** Validation before `finalize` / BatchNorm re-estimation, when the saved model differs from the trained one. */
  valBeforeFinalize?: { accuracy: number } | null;
  size: { params: number; bytes: number; floatBytes: number; compression: number };
  bnRecalImages?: number;
  /** Statement of what is a reconstruction (paper text unavailable), when it applies. */
  reconstruction?: string | null;
  // Relaxed quantizers (ste, rq, rq-st, srq).
  dropBits?: number;
  dropBitsMask?: 'element' | 'layer';
  temperature?: number;
  learnBits?: boolean;
  targetBits?: number | null;
  bitsLambda?: number | null;
  layerBits?: Record<string, number>;
  learnedBits?: Record<string, number>;
  learnedAverageBits?: number;
  /** SQ: the ratio schedule (fraction of channels quantized per stage) and the selection function (docs/methods/sq.md). */
  sqSchedule?: number[];
  sqProbability?: string;
  /** ALQ: the multi-bit bases per layer after pruning, and the budget (docs/methods/alq.md). */
  alq?: import('../methods/alq/alq.js').AlqReport;
  /** PTQ: folded BatchNorms and per-layer calibration (src/methods/ptq). */
  ptq?: import('../methods/ptq/ptq.js').PtqReport;
  /** PQ: per-layer sub-vector length, codewords, bits per weight and output error after the k-means (src/methods/pq). */
  pq?: import('../methods/pq/quantize.js').PqReport;
  // DCQ.
  cuts?: string[];
  epochsPerSection?: number;
  lastLoss?: 'ce' | 'kd';
  sectionLr?: number[] | null;
  finetuneEpochs?: number;
  sections?: Array<{ name: string; from: string | null; to: string | null; loss: 'mse' | 'ce' | 'kd'; epochs: number; learningRate: number; valLoss: number; testLoss: number; testAccuracy: number | null; seconds: number }>;
  cacheSeconds?: number;
  cacheBytes?: number;
  sectionSecondsSum?: number;
  workers?: number | string;
  stitchedVal?: Accuracy;
  // BiTAT.
  variant?: string;
  epochsPerLayer?: number;
  finalEpochs?: number;
  distill?: boolean;
  freezeUpper?: boolean;
  fixedTransform?: boolean;
  rprelu?: boolean;
  trainSubset?: number | null;
  stages?: Array<{ stage: number; layers: string[]; dims: number[]; orthonormalityError: number | null; importanceRange: Array<[number, number]>; valAccuracy: number; seconds: number }>;
}

/** One split's DQ evaluation as recorded (per-code usage counts left out). */
export type DqRecordedEvaluation = Omit<DqEvaluation, 'levels'> & { levels: Array<Omit<LevelReport, 'usage'>> };

/** The DQ auto-encoder: bits/dim and reconstruction instead of accuracy. */
export interface DqRunRecord extends RecordBase {
  kind: 'dq';
  dq: { groups: number; codes: number; levels: 1 | 2; embedChannels?: number; width?: number; mixtures?: number; learning?: string; init?: string; seed: number };
  val: DqRecordedEvaluation;
  test: DqRecordedEvaluation;
  correlation?: { channelMeanAbs: number; spatialMeanAbs: number; spatialNeighbourMeanAbs: number; groupNormalizedMI?: number | null; [k: string]: unknown };
  codeStatsPerEpoch?: unknown[];
  bpdNote?: string;
}

export type RunRecord = ClassifierRecord | DqRunRecord;

/**
 * Parses a run record (a `lowbit.json`'s text), checking what every reader relies on; `where`
 * names the file in the error.
 */
export function parseRunRecord(text: string, where: string): RunRecord {
  const value = parseRecordJson(text, where);
  const bad = (why: string) => new LowbitError(`${where} is not a lowbit run record (${why}); rerun the command that wrote it`);
  if (value == null || typeof value !== 'object' || Array.isArray(value)) throw bad('not a JSON object');
  const r = value as Partial<RunRecord> & { version?: unknown };
  const version = r.version ?? 1;
  if (typeof version !== 'number' || version > RUN_RECORD_VERSION) throw bad(`version ${JSON.stringify(r.version)}; this lowbit reads versions 1–${RUN_RECORD_VERSION}: upgrade lowbit`);
  if (r.kind !== 'float' && r.kind !== 'quantized' && r.kind !== 'dq') throw bad(`kind ${JSON.stringify(r.kind)}, expected float, quantized or dq`);
  if (typeof r.dataset !== 'string') throw bad('no dataset');
  if (r.test == null || typeof r.test !== 'object') throw bad('no test evaluation');
  const method = r.method ?? (r.kind === 'float' ? 'float' : r.kind === 'dq' ? 'dq' : undefined);
  if (typeof method !== 'string') throw bad('no method');
  return { ...r, version, method } as RunRecord;
}

/** A record's JSON object, unchecked beyond being an object (for readers that need only a field or two, e.g. a teacher's model name). */
export function parseRecordJson(text: string, where: string): Partial<RunRecord> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new LowbitError(`${where}: not valid JSON (${(e as Error).message.split('\n')[0]}); restore it or rerun the command that wrote it`);
  }
  if (value == null || typeof value !== 'object' || Array.isArray(value)) throw new LowbitError(`${where}: not a JSON object; restore it or rerun the command that wrote it`);
  return value as Partial<RunRecord>;
}

/** The record as a classifier's, or a clear error naming what it is instead. */
export function classifierRecord(record: RunRecord, where: string): ClassifierRecord {
  if (record.kind === 'dq') throw new LowbitError(`${where} is a DQ auto-encoder, not a classifier: use 'lowbit dq eval' / 'lowbit dq export'`);
  return record;
}
