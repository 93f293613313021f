/**
 * Methods as library objects. A method (float training, DoReFa, DCQ, the relaxed quantizers,
 * BiTAT, DQ) is a `Method`: its options (typed, with the flags the CLI and recipes map onto
 * them), their validation, and `run(options, context)`, which trains with the one training loop
 * and writes only through the context's store. `runMethod` is the one run engine: it resolves
 * options and training settings, runs the method, evaluates, writes the model and the run record
 * to the store, and returns both. The CLI, recipes and the demo are thin layers over it.
 */
import * as tf from '../backend/tf.js';
import { ensureBackend, getBackendName } from '../backend/index.js';
import type { DatasetSplits } from '../data/dataset.js';
import { LowbitError } from '../errors.js';
import { logitsModel } from '../models/logits.js';
import { floatModel } from '../layers/float-model.js';
import { summary } from '../report/summary.js';
import { reestimateBatchNorm } from '../train/batchnorm.js';
import type { EpochRecord } from '../train/checkpoint.js';
import { AnyLossFn, evaluate, modelForward } from '../train/evaluate.js';
import { train, TrainConfig, TrainHooks, validateTrainConfig } from '../train/loop.js';
import { OptionSpec, parseOptions, RawOptions } from './options.js';
import { ClassifierRecord, DqRunRecord, Provenance, RUN_RECORD_VERSION, RunRecord } from './record.js';
import { LOG_FILE, LOWBIT_JSON, MemoryStore, RunStore, writeJson } from './store.js';

export { LOWBIT_JSON, LOG_FILE } from './store.js';

/** Training settings every method starts from; a method's `trainDefaults` and the caller's override them. */
export const DEFAULT_TRAIN: TrainConfig = {
  epochs: 3, batchSize: 64, learningRate: 1e-3, optimizer: { name: 'adam', momentum: 0.9 }, schedule: { name: 'step' }, weightDecay: 0, seed: 0,
};

/** What a method runs on. Only `data` is required; `teacher` for methods that quantize one. */
export interface RunContext {
  data: DatasetSplits;
  /** The float model to quantize (left untouched; the method trains a copy). */
  teacher?: tf.LayersModel;
  /** Where the teacher came from, for the record (default 'memory'); DCQ's worker threads load it from this directory. */
  teacherDir?: string;
  /** The reference model's name when the teacher is one (picks DCQ's default cuts; recorded). */
  modelName?: string | null;
  /** Training settings over the method's defaults (epochs, batch, learning rate, optimizer, schedule, seed…). */
  train?: Partial<TrainConfig>;
  /** Where checkpoints, the model and the record go (default: a new MemoryStore). A store with a checkpoint resumes from it. */
  store?: RunStore;
  /** Progress: called per step and per epoch (the CLI's progress bar). */
  hooks?: Pick<TrainHooks, 'onStep' | 'onEpochStart' | 'onEpoch'>;
  /** One-line messages (stage reports); default silent. */
  log?: (line: string) => void;
  /** Which build ran (the Node entry fills in git commit and dirty state). */
  provenance?: Partial<Provenance>;
  /** Native OpenMP threads, recorded (the Node entry fills it in). */
  threads?: number | null;
  /** Recorded only: the class-balanced training subset `data.train` was cut to. */
  trainSubset?: number | null;
  /** Recorded only: the dataset's directory on disk, for methods that reload it in worker threads. */
  dataDir?: string;
}

/** A context with its defaults filled in, as a method's `run` receives it. */
export interface ResolvedContext extends RunContext {
  train: TrainConfig;
  store: RunStore;
  log: (line: string) => void;
  backend: string;
}

/** What a method's run returns to the engine. */
export interface MethodOutput {
  model: tf.LayersModel;
  history: EpochRecord[];
  resumedFrom: number;
  /** Epochs actually trained when the method derives them (BiTAT's stages); default train.epochs. */
  epochs?: number;
  /** A validation result measured after the last epoch changed the model (finalize, BatchNorm, stitching). */
  val?: { accuracy: number; loss: number } | null;
  /** Record fields of this method (bits, sections, stages, DQ evaluations…). */
  fields: Partial<ClassifierRecord> | Partial<DqRunRecord>;
  /** In-memory results beside the record (e.g. DQ's code usage and correlation matrix, for figures). */
  artifacts?: unknown;
}

/** What option validation may look at: the teacher's layers (a model, or its names and classes read from model.json), the data, the training settings. */
export interface ValidationContext {
  teacher?: { layers: ReadonlyArray<{ name: string; getClassName(): string }> };
  data?: DatasetSplits;
  train: TrainConfig;
}

export interface Method<O extends object = Record<string, unknown>> {
  name: string;
  /** One line for help and listings. */
  description: string;
  /** What the record is: a float classifier, a quantized one, or the DQ auto-encoder. */
  kind: 'float' | 'quantized' | 'dq';
  /** Whether `run` needs `context.teacher`. */
  needsTeacher: boolean;
  /** Every option: its key, CLI flag, type, default and help (the CLI and recipes are built from these). */
  options: readonly OptionSpec[];
  /** The option a recipe's `epochs` sets instead of the training epochs (BiTAT: 'epochs-per-layer'). */
  recipeEpochs?: string;
  /** This method's training defaults (e.g. a lower learning rate for fine-tuning). */
  trainDefaults?: Partial<TrainConfig>;
  /** Cross-option checks after each option parsed; returns the options as run. */
  validate?(options: O, context: ValidationContext): O;
  /** A short tag for default output names, e.g. 'dorefa-w1a32'. */
  tag(options: O): string;
  run(options: O, context: ResolvedContext): Promise<MethodOutput>;
}

const registry = new Map<string, Method<object>>();

/** Adds a method (or replaces one of the same name: the Node entry adds file artifacts to DQ's). */
export function registerMethod<O extends object>(method: Method<O>): void {
  registry.set(method.name, method as unknown as Method<object>);
}

export function methodNames(): string[] {
  return [...registry.keys()];
}

export function getMethod(name: string): Method<object> {
  const m = registry.get(name);
  if (m == null) throw new LowbitError(`unknown method '${name}': choose one of ${methodNames().join(', ')}`);
  return m;
}

/** Options from raw values (CLI strings, recipe JSON, or typed values), parsed, defaulted and validated. */
export function resolveOptions(method: Method<object>, raw: RawOptions, context: ValidationContext): object {
  const parsed = parseOptions(method.options, raw, method.name);
  return method.validate ? method.validate(parsed, context) : parsed;
}

/** The training settings a run uses: DEFAULT_TRAIN, then the method's, then the caller's; validated. */
export function resolveTrain(method: Method<object>, given: Partial<TrainConfig> = {}): TrainConfig {
  const config = { ...DEFAULT_TRAIN, ...method.trainDefaults, ...given };
  validateTrainConfig(config);
  return config;
}

export interface RunResult<R extends RunRecord = RunRecord> {
  model: tf.LayersModel;
  record: R;
  store: RunStore;
  /** The method's in-memory results beside the record, if any. */
  artifacts?: unknown;
}

/**
 * Runs a method: `runMethod('dorefa', { wbits: 1 }, { data, teacher, train: { epochs: 2 } })`.
 * Options may be typed values or strings (as the CLI gives them). Resumes from the store's
 * checkpoint when it has one. The caller owns (and disposes) the returned model.
 */
export async function runMethod(name: 'dq', options: RawOptions, context: RunContext): Promise<RunResult<DqRunRecord>>;
export async function runMethod(name: 'float' | 'dorefa' | 'dcq' | 'ste' | 'rq' | 'rq-st' | 'srq' | 'bitat' | 'ptq' | 'sq' | 'alq' | 'pq', options: RawOptions, context: RunContext): Promise<RunResult<ClassifierRecord>>;
export async function runMethod(name: string | Method<object>, options: RawOptions, context: RunContext): Promise<RunResult>;
export async function runMethod(name: string | Method<object>, options: RawOptions, context: RunContext): Promise<RunResult> {
  const method = typeof name === 'string' ? getMethod(name) : name;
  await ensureBackend();
  const trainConfig = resolveTrain(method, context.train);
  if (method.needsTeacher && context.teacher == null) throw new LowbitError(`method ${method.name} quantizes a trained float model: pass it as context.teacher`);
  if (context.teacher != null) checkTeacherInputs(context.teacher, context.data, context.teacherDir ?? 'the teacher');
  // A quantized teacher (e.g. a PTQ model) starts the method from its float weights (docs/methods/ptq.md); the copy is disposed after the run.
  const fromQuantized = context.teacher != null ? await floatModel(context.teacher) : null;
  const teacher = fromQuantized?.model ?? context.teacher;
  const resolved = resolveOptions(method, options, { teacher, data: context.data, train: trainConfig });
  // A teacher ending in softmax is trained on its logits (docs/models.md); the copy is disposed after the run.
  const logits = teacher != null ? await logitsModel(teacher) : null;
  const ctx: ResolvedContext = {
    ...context, train: trainConfig, store: context.store ?? new MemoryStore(), log: context.log ?? (() => {}), backend: getBackendName()!,
    ...(teacher ? { teacher: logits?.model ?? teacher } : {}),
  };
  if (fromQuantized) ctx.log(`the teacher is quantized: starting from its float weights (${fromQuantized.layers.join(', ')}), its quantizers dropped`);
  if (logits) ctx.log(`the teacher ends in softmax (layer ${logits.removed.layer}): training on its logits`);
  try {
    const started = performance.now();
    const out = await method.run(resolved, ctx);
    try {
      const record = await finishRun(method, resolved, ctx, out, (performance.now() - started) / 1000);
      if (record.kind !== 'dq' && logits) record.teacherSoftmax = logits.removed;
      if (record.kind !== 'dq' && fromQuantized) record.teacherQuantizedLayers = fromQuantized.layers;
      await ctx.store.saveModel(out.model);
      writeJson(ctx.store, LOWBIT_JSON, record);
      return { model: out.model, record, store: ctx.store, artifacts: out.artifacts };
    } catch (e) {
      out.model.dispose();
      throw e;
    }
  } finally {
    logits?.model.dispose();
    fromQuantized?.model.dispose();
  }
}

async function finishRun(method: Method<object>, options: object, ctx: ResolvedContext, out: MethodOutput, wallSeconds: number): Promise<RunRecord> {
  const { data, train: config } = ctx;
  const p = ctx.provenance ?? {};
  const base = {
    version: RUN_RECORD_VERSION, method: method.name, options: options as Record<string, unknown>,
    dataset: data.name, datasetDescription: data.description, inputShape: [...data.shape], numClasses: data.numClasses,
    ...(data.source ? { data: data.source } : {}), ...(data.classNames ? { classNames: data.classNames } : {}), ...(data.normalization ? { normalization: data.normalization } : {}),
    epochs: out.epochs ?? config.epochs, batchSize: config.batchSize, learningRate: config.learningRate,
    optimizer: config.optimizer, schedule: config.schedule, weightDecay: config.weightDecay,
    maxStepsPerEpoch: config.maxStepsPerEpoch ?? null, seed: config.seed, backend: ctx.backend, threads: ctx.threads ?? null,
    history: out.history, resumedFrom: out.resumedFrom, wallSeconds,
    lowbit: p.lowbit ?? 'unknown', commit: p.commit ?? 'unknown', dirty: p.dirty ?? null, diffHash: p.diffHash ?? null,
    tfjs: tf.version_core, createdAt: new Date().toISOString(),
  };
  if (method.kind === 'dq') return { ...base, kind: 'dq', ...(out.fields as Partial<DqRunRecord>) } as DqRunRecord;
  const test = await evaluate(modelForward(out.model), data.test, data.shape, data.numClasses);
  const last = out.history.at(-1);
  const size = summary(out.model);
  return {
    ...base, kind: method.kind, outputs: 'logits', model: ctx.modelName ?? null,
    teacher: method.needsTeacher ? ctx.teacherDir ?? 'memory' : null,
    trainSubset: ctx.trainSubset ?? null,
    ...(out.fields as Partial<ClassifierRecord>),
    test: { accuracy: test.accuracy, loss: test.loss, count: test.count },
    val: out.val ?? (last ? { accuracy: last.valAccuracy, loss: last.valLoss } : null),
    ...(out.val && last ? { valBeforeFinalize: { accuracy: last.valAccuracy } } : {}),
    size: { params: size.totalParams, bytes: size.totalBytes, floatBytes: size.floatBytes, compression: size.compression },
  } as ClassifierRecord;
}

export function checkTeacherInputs(teacher: tf.LayersModel, data: DatasetSplits, where: string): void {
  const inShape = teacher.inputs[0].shape.slice(1).join('×');
  if (inShape !== data.shape.join('×')) {
    throw new LowbitError(`the teacher in ${where} takes ${inShape} inputs but ${data.name} images are ${data.shape.join('×')}`);
  }
  const outShape = teacher.outputs[0].shape;
  if (teacher.outputs.length !== 1 || outShape.length !== 2 || outShape[1] !== data.numClasses) {
    const what = teacher.outputs.length !== 1 ? `${teacher.outputs.length} outputs` : `outputs of shape ${outShape.slice(1).join('×')}`;
    throw new LowbitError(`the teacher in ${where} has ${what} but ${data.name} has ${data.numClasses} classes: lowbit trains classifiers with one output of ${data.numClasses} logits (or softmax probabilities)`);
  }
}

/**
 * The training-loop hooks of a run: the store's checkpoint, the caller's progress hooks, and
 * log.jsonl rewritten from the checkpointed history after each epoch (so it always matches it);
 * `onEpoch` adds a method's own per-epoch work.
 */
export function runHooks(ctx: ResolvedContext, onEpoch?: (record: EpochRecord) => void): TrainHooks {
  return {
    checkpoints: ctx.store.checkpoints,
    ...ctx.hooks,
    onEpoch: async (record, history) => {
      onEpoch?.(record);
      await ctx.hooks?.onEpoch?.(record, history);
      ctx.store.writeFile(LOG_FILE, history.map((r) => JSON.stringify(r)).join('\n') + '\n');
    },
  };
}

/** How a classifier method trains the model it made: a loss, a finalize step, BatchNorm re-estimation. */
export interface ClassifierTraining {
  loss?: AnyLossFn;
  /** Turns the trained model into the one to keep (e.g. fixes learned bit-widths), with record fields. */
  finalize?: (model: tf.LayersModel) => Promise<{ model: tf.LayersModel; fields: Partial<ClassifierRecord> }>;
  /** Re-estimate BatchNorm statistics on this many training images after training (and finalize). */
  bnRecalImages?: number;
  /** Called before each epoch (also for the first epoch of a resumed run): a method's per-epoch setting (SQ's ratio). */
  onEpochStart?: (epoch: number, stepsPerEpoch: number) => void;
  /** Called after each epoch's steps, before validation and checkpoint (TrainHooks.onEpochTrained: ALQ's pruning). */
  onEpochTrained?: TrainHooks['onEpochTrained'];
}

/**
 * The shared training step of the classifier methods: the one training loop with the store's
 * checkpoint and the log, then finalize and BatchNorm re-estimation; a model changed after
 * training is validated again (lr selection must see the model that is kept).
 */
export async function trainClassifier(model: tf.LayersModel, ctx: ResolvedContext, how: ClassifierTraining = {}): Promise<MethodOutput & { fields: Partial<ClassifierRecord> }> {
  try {
    const hooks = runHooks(ctx);
    const callerStart = hooks.onEpochStart;
    if (how.onEpochStart) hooks.onEpochStart = (epoch, steps) => { how.onEpochStart!(epoch, steps); callerStart?.(epoch, steps); };
    if (how.onEpochTrained) hooks.onEpochTrained = how.onEpochTrained;
    const result = await train(model, ctx.data, { ...ctx.train, ...(how.loss ? { loss: how.loss } : {}) }, hooks);
    const final = how.finalize ? await how.finalize(model) : { model, fields: {} };
    if (final.model !== model) model.dispose();
    const bn = how.bnRecalImages ?? 0;
    if (bn > 0) reestimateBatchNorm(final.model, ctx.data, bn, ctx.train.seed);
    const changed = final.model !== model || bn > 0;
    const val = changed ? await evaluate(modelForward(final.model), ctx.data.val, ctx.data.shape, ctx.data.numClasses) : null;
    return { model: final.model, history: result.history, resumedFrom: result.resumedFrom, val: val ? { accuracy: val.accuracy, loss: val.loss } : null,
      fields: { ...final.fields, bnRecalImages: bn } };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
