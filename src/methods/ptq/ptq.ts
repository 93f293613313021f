/**
 * Post-training quantization (docs/methods/ptq.md): fold BatchNorm, clip weights (optional MSE
 * search), calibrate each quantized layer's input range on N training images with an observer
 * (minmax, percentile, mse, aciq), optionally correct each output channel's bias for the mean
 * shift weight quantization causes, and return an ordinary lowbit quantized model — `uniform`
 * quantizers with fixed activation scales — made by `quantizeModel`. No training; deterministic
 * given the data and the seed.
 */
import * as tf from '../../backend/tf.js';
import { batches, DatasetSplits, disposeBatch, shuffledOrder } from '../../data/dataset.js';
import { LowbitError } from '../../errors.js';
import { foldBatchNorm } from '../../layers/batchnorm-fold.js';
import { LayerOverride, LayerPlan, planQuantization, QuantizeConfig, quantizeModel } from '../../layers/quantize-model.js';
import { resolveQuantizer } from '../../quantizers/spec.js';
import type { UniformSpec } from '../../quantizers/uniform.js';
import { Rng } from '../../random.js';
import { allocateBits } from './bit-allocation.js';
import { AffineGrid, asymmetricGrid, asymmetricObservers, AciqPrior, clipThreshold, gridScale, GridChoice, mseThreshold, ObserverName, rangeStats, RangeStats } from './observers.js';

export interface PtqOptions {
  /** Weight bits, 2–16 (32 = float weights). */
  wbits: number;
  /** Activation bits, 2–16 (32 = float activations). */
  abits: number;
  /**
   * One weight scale per output channel (default: one per tensor). A DepthwiseConv2D kernel
   * [kh, kw, cin, multiplier] has cin·multiplier output channels (its last two axes).
   */
  perChannel?: boolean;
  /**
   * Per-channel weight bit-widths (Banner et al. 2019's allocation, bit-allocation.ts): each output
   * channel gets 2–8 bits from its range, the layer's Σ 2^bits within C·2^wbits (so mean bits ≤
   * wbits). Implies per-channel scales; needs wbits 2–8. Weights only (default false).
   */
  bitAllocation?: boolean;
  /**
   * Asymmetric activation grids: unsigned codes with a zero point over the observed [lo, hi]
   * (minmax, percentile and mse observers) instead of [−α, α] for signed inputs (default false).
   */
  asymmetric?: boolean;
  /** Calibration images, a seeded sample of the training set (default 512). */
  calibration?: number;
  /** Activation observer (default minmax). */
  observer?: ObserverName;
  /** Weight clipping: minmax (none) or mse (default minmax). */
  weightObserver?: 'minmax' | 'mse';
  /** percentile observer: the percentile (default 99.99). */
  percentile?: number;
  /** aciq observer: the assumed distribution (default laplace). */
  aciqPrior?: AciqPrior;
  /** Subtract each output channel's mean shift E[(W_q − W)·x] from its bias (default false). */
  biasCorrection?: boolean;
  /** Keep the first and last quantizable layers in float (default false). */
  keepFirstAndLastFloat?: boolean;
  /** Seeds the calibration sample (default 0). */
  seed?: number;
  /** Values kept per layer for the percentile, mse and aciq observers (every k-th; default 2^18). */
  maxSamples?: number;
}

/** What PTQ did, per layer, for the run record. */
export interface PtqReport {
  /** The BatchNorms folded, as 'bn → layer'. */
  folded: string[];
  calibrationImages: number;
  layers: Array<{ name: string; signed: boolean | null; min: number | null; max: number | null; threshold: number | null; weightClip: number[] | null; biasShift: number | null;
    /** --asymmetric: the grid's range [lo, hi] and zero point (threshold is then null). */
    range?: [number, number]; zeroPoint?: number;
    /** --bit-allocation: the bits of each output channel. */
    channelBits?: number[] }>;
}

const BIT_RANGE = 'a whole number from 2 to 16, or 32 (float)';

export function checkPtqOptions(o: PtqOptions): void {
  for (const [flag, bits] of [['wbits', o.wbits], ['abits', o.abits]] as const) {
    if (!Number.isInteger(bits) || !((bits >= 2 && bits <= 16) || bits === 32)) throw new LowbitError(`--${flag} must be ${BIT_RANGE} for ptq, got ${bits}`);
  }
  if (o.percentile != null && !(o.percentile > 0 && o.percentile <= 100)) throw new LowbitError(`--percentile must be in (0, 100], e.g. 99.99; got ${o.percentile}`);
  if (o.calibration != null && !(Number.isInteger(o.calibration) && o.calibration >= 1)) throw new LowbitError(`--calibration must be a whole number ≥ 1, got ${o.calibration}`);
  if (o.biasCorrection && o.wbits === 32) throw new LowbitError('--bias-correction corrects the shift weight quantization causes: it needs --wbits below 32');
  if (o.asymmetric && o.observer != null && !asymmetricObservers.includes(o.observer)) throw new LowbitError(`--asymmetric works with the ${asymmetricObservers.join(', ')} observers, not ${o.observer} (ACIQ's error model is for symmetric or one-sided grids)`);
  if (o.bitAllocation && !(o.wbits >= 2 && o.wbits <= 8)) throw new LowbitError(`--bit-allocation gives each output channel 2–8 bits within an average of --wbits: it needs --wbits from 2 to 8, got ${o.wbits}`);
}

/**
 * The weight quantizer: a signed narrow grid [−(2^(b−1) − 1), 2^(b−1) − 1]·s, s = max|w|/q_max per
 * tensor or per output channel; with `channelBits`, channel c's grid has channelBits[c] bits.
 */
export function ptqWeightSpec(bits: number, perChannel: boolean, channelBits?: number[]): UniformSpec | null {
  if (bits === 32) return null;
  if (channelBits) return { kind: 'uniform', bits: Math.max(...channelBits), signed: true, narrow: true, scale: 'max', axis: -1, channelBits };
  return { kind: 'uniform', bits, signed: true, narrow: true, scale: 'max', ...(perChannel ? { axis: -1 } : {}) };
}

const weightGrid = (bits: number): GridChoice => ({ bits, signed: true, narrow: true });

/** Output channels of a float kernel: its last axis, or a DepthwiseConv2D's last two (cin·multiplier). */
function kernelColumns(layer: tf.layers.Layer): number {
  const shape = layer.weights[0].shape as number[];
  return layer.getClassName() === 'DepthwiseConv2D' ? shape[shape.length - 2] * shape[shape.length - 1] : shape[shape.length - 1];
}

/** max|w| of each output channel of a float kernel (value i in channel i mod columns). */
function channelRanges(layer: tf.layers.Layer): Float32Array {
  const w = layer.weights[0].read().dataSync() as Float32Array;
  const c = kernelColumns(layer);
  const m = new Float32Array(c);
  w.forEach((v, i) => { m[i % c] = Math.max(m[i % c], Math.abs(v)); });
  return m;
}

/** A layer's kernel quantizer spec (per output channel with --per-channel or bit allocation). */
function kernelSpecFor(o: PtqOptions, channelBits?: number[]): UniformSpec | null {
  return ptqWeightSpec(o.wbits, o.perChannel ?? false, channelBits);
}

/** The linear part of a float Conv2D / DepthwiseConv2D / Conv1D / Dense applied to x with `kernel` (no bias, no activation). */
function linearOp(layer: tf.layers.Layer, x: tf.Tensor, kernel: tf.Tensor): tf.Tensor {
  const c = layer.getConfig() as { strides?: [number, number]; padding?: 'same' | 'valid'; dilationRate?: number | [number, number] };
  switch (layer.getClassName()) {
    case 'Conv2D': return tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, c.strides!, c.padding!, 'NHWC', c.dilationRate as [number, number]);
    case 'DepthwiseConv2D': return tf.depthwiseConv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, c.strides!, c.padding!, 'NHWC', c.dilationRate as [number, number]);
    case 'Conv1D': {
      const one = (v: unknown) => (Array.isArray(v) ? v[0] as number : (v as number | undefined) ?? 1);
      return tf.conv1d(x as tf.Tensor3D, kernel as tf.Tensor3D, one(c.strides), c.padding!, 'NWC', one(c.dilationRate));
    }
    case 'Dense': return tf.matMul(tf.reshape(x, [-1, kernel.shape[0]]), kernel as tf.Tensor2D);
    default: throw new LowbitError(`--bias-correction measures the output shift of Conv2D, DepthwiseConv2D, Conv1D and Dense layers, not ${layer.name} (${layer.getClassName()})`);
  }
}

/** Per-layer accumulation over the calibration batches: exact extremes, a strided sample, and the bias shift sums. */
class LayerCalibration {
  min = Infinity;
  max = -Infinity;
  readonly sample: Float32Array;
  private kept = 0;
  private seen = 0;
  shiftSum: Float64Array | null = null;
  shiftRows = 0;

  constructor(total: number, maxSamples: number, private readonly stride = Math.max(1, Math.ceil(total / maxSamples))) {
    this.sample = new Float32Array(Math.ceil(total / this.stride));
  }

  add(values: Float32Array): void {
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
      if ((this.seen + i) % this.stride === 0 && this.kept < this.sample.length) this.sample[this.kept++] = v;
    }
    this.seen += values.length;
  }

  stats(): RangeStats {
    return { min: this.min, max: this.max, values: this.sample.subarray(0, this.kept) };
  }
}

/**
 * The teacher quantized after training: `postTrainingQuantize(teacher, data, { wbits: 8, abits: 8 })`.
 * The teacher is left untouched; the caller owns the returned model.
 */
export async function postTrainingQuantize(teacher: tf.LayersModel, data: DatasetSplits, options: PtqOptions): Promise<{ model: tf.LayersModel; config: QuantizeConfig; report: PtqReport }> {
  checkPtqOptions(options);
  const o = { calibration: 512, observer: 'minmax' as ObserverName, weightObserver: 'minmax' as const, percentile: 99.99, aciqPrior: 'laplace' as AciqPrior, seed: 0, maxSamples: 1 << 18, ...options };
  const { model: folded, folds } = await foldBatchNorm(teacher, { addBias: o.biasCorrection ?? false });
  try {
    const aSpec: UniformSpec | null = o.abits === 32 ? null : { kind: 'uniform', bits: o.abits, scale: 'max' };
    const plan = planQuantization(folded, { kernelQuantizer: ptqWeightSpec(o.wbits, false), inputQuantizer: aSpec, keepFirstAndLastFloat: o.keepFirstAndLastFloat ?? false });
    // Bit allocation reads the unclipped ranges; the MSE clip then searches each channel at its own bits.
    const channelBits = new Map<string, number[]>();
    if (o.bitAllocation) for (const p of plan) if (p.kernelQuantizer) channelBits.set(p.name, allocateBits(channelRanges(folded.getLayer(p.name)), o.wbits));
    const specs = new Map(plan.map((p) => [p.name, p.kernelQuantizer ? kernelSpecFor(o, channelBits.get(p.name)) : null]));
    const weightClips = new Map<string, number[]>();
    if (o.weightObserver === 'mse') for (const p of plan) if (p.kernelQuantizer) weightClips.set(p.name, clipKernel(folded.getLayer(p.name), specs.get(p.name)!));
    const calibration = await calibrate(folded, data, plan, o, specs);
    const overrides: LayerOverride[] = [];
    const thresholds = new Map<string, { signed: boolean; threshold: number | null; affine?: AffineGrid }>();
    for (const p of plan) {
      const override: LayerOverride = { match: p.name, ...(p.kernelQuantizer ? { kernelQuantizer: specs.get(p.name)! } : {}) };
      const cal = calibration.get(p.name);
      if (p.inputQuantizer && cal) {
        const stats = cal.stats();
        if (o.asymmetric) {
          const affine = asymmetricGrid(o.observer, stats, o.abits, { percentile: o.percentile });
          thresholds.set(p.name, { signed: false, threshold: null, affine });
          override.inputQuantizer = { kind: 'uniform', bits: o.abits, signed: false, scale: affine.scale, zeroPoint: affine.zeroPoint };
          overrides.push(override);
          continue;
        }
        const grid: GridChoice = { bits: o.abits, signed: stats.min < 0 };
        const threshold = clipThreshold(o.observer, stats, { ...grid, percentile: o.percentile, prior: o.aciqPrior });
        thresholds.set(p.name, { signed: grid.signed, threshold });
        override.inputQuantizer = { kind: 'uniform', bits: o.abits, signed: grid.signed, scale: gridScale(threshold, grid) };
      }
      overrides.push(override);
    }
    const config: QuantizeConfig = { kernelQuantizer: null, inputQuantizer: null, keepFirstAndLastFloat: false, overrides };
    const model = await quantizeModel(folded, config);
    const shifts = new Map<string, number>();
    for (const [name, cal] of calibration) {
      if (cal.shiftSum == null || cal.shiftRows === 0) continue;
      const bias = model.getLayer(name).weights.find((w) => w.originalName.endsWith('/bias'));
      if (bias == null) continue;
      const shift = Float32Array.from(cal.shiftSum, (s) => s / cal.shiftRows);
      const corrected = Float32Array.from(bias.read().dataSync() as Float32Array, (b, i) => b - shift[i]);
      tf.tidy(() => { bias.write(tf.tensor1d(corrected)); });
      shifts.set(name, shift.reduce((a, v) => Math.max(a, Math.abs(v)), 0));
    }
    const report: PtqReport = {
      folded: folds.map((f) => `${f.batchNorm} → ${f.layer}`),
      calibrationImages: Math.min(o.calibration, data.train.count),
      layers: plan.map((p) => {
        const cal = calibration.get(p.name);
        const t = thresholds.get(p.name);
        return {
          name: p.name, signed: t?.signed ?? null, min: t && cal ? cal.min : null, max: t && cal ? cal.max : null, threshold: t?.threshold ?? null,
          ...(t?.affine ? { range: [t.affine.lo, t.affine.hi] as [number, number], zeroPoint: t.affine.zeroPoint } : {}),
          weightClip: weightClips.get(p.name) ?? null, biasShift: shifts.get(p.name) ?? null,
          ...(channelBits.has(p.name) ? { channelBits: channelBits.get(p.name) } : {}),
        };
      }),
    };
    return { model, config, report };
  } finally {
    folded.dispose();
  }
}

/**
 * Weight MSE clipping: per output channel (or per tensor) the α of `mseThreshold` on the signed
 * narrow weight grid (of the channel's own bits with bit allocation); the latent kernel is clipped
 * to [−α, α] so that its 'max' scale is α/q_max. Returns the thresholds.
 */
function clipKernel(layer: tf.layers.Layer, spec: UniformSpec): number[] {
  const kernelVar = layer.weights[0];
  const w = Float32Array.from(kernelVar.read().dataSync() as Float32Array);
  const shape = kernelVar.shape as number[];
  const c = spec.axis === -1 ? kernelColumns(layer) : 1;
  const alphas: number[] = [];
  for (let ch = 0; ch < c; ch++) {
    const values = Float32Array.from({ length: w.length / c }, (_, j) => w[j * c + ch]);
    alphas.push(mseThreshold(rangeStats(values), weightGrid(spec.channelBits ? spec.channelBits[ch] : spec.bits)));
  }
  for (let i = 0; i < w.length; i++) {
    const a = alphas[i % c];
    w[i] = Math.min(a, Math.max(-a, w[i]));
  }
  tf.tidy(() => { kernelVar.write(tf.tensor(w, shape)); });
  return alphas;
}

/**
 * One pass over the calibration images through `model` (float, folded): each planned layer's
 * input values (for its observer) and, with bias correction, the per-channel sum of
 * (W_q − W)·x over all output positions.
 */
async function calibrate(model: tf.LayersModel, data: DatasetSplits, plan: LayerPlan[], o: Required<Pick<PtqOptions, 'calibration' | 'seed' | 'maxSamples'>> & PtqOptions,
  specs: Map<string, UniformSpec | null>): Promise<Map<string, LayerCalibration>> {
  const wanted = plan.filter((p) => p.inputQuantizer != null || (o.biasCorrection && p.kernelQuantizer != null));
  const out = new Map<string, LayerCalibration>();
  if (wanted.length === 0) return out;
  const n = Math.min(o.calibration, data.train.count);
  const layers = wanted.map((p) => model.getLayer(p.name));
  const inputs = layers.map((l) => l.input as tf.SymbolicTensor);
  // Layers that share an input (branches of one activation) read one probe output: TF.js refuses a
  // model that lists an output twice.
  const unique = [...new Set(inputs)];
  const slot = inputs.map((t) => unique.indexOf(t));
  const probe = tf.model({ inputs: model.inputs, outputs: unique });
  const deltas = layers.map((l, i) => {
    if (!(o.biasCorrection && wanted[i].kernelQuantizer)) return null;
    const spec = specs.get(l.name)!;
    return tf.tidy(() => {
      const k = l.weights[0].read();
      return tf.sub(resolveQuantizer(spec).apply(k, 'weight', [], false, { outputChannels: kernelColumns(l) }), k);
    });
  });
  try {
    layers.forEach((l, i) => {
      const perImage = (inputs[i].shape.slice(1) as number[]).reduce((a, b) => a * b, 1);
      out.set(l.name, new LayerCalibration(perImage * n, o.maxSamples));
    });
    const order = shuffledOrder(data.train.count, new Rng(o.seed)).subarray(0, n);
    for (const b of batches(data.train, data.shape, data.numClasses, 64, order)) {
      const acts = probe.predict(b.x) as tf.Tensor | tf.Tensor[];
      const list = Array.isArray(acts) ? acts : [acts];
      layers.forEach((l, i) => {
        const cal = out.get(l.name)!;
        const x = list[slot[i]];
        cal.add(x.dataSync() as Float32Array);
        const delta = deltas[i];
        if (delta) {
          let rows = 0;
          const sums = tf.tidy(() => {
            const y = linearOp(l, x, delta);
            rows = y.size / y.shape[y.rank - 1];
            return tf.sum(tf.reshape(y, [rows, -1]), 0);
          });
          const s = sums.dataSync() as Float32Array;
          cal.shiftSum ??= new Float64Array(s.length);
          s.forEach((v, j) => { cal.shiftSum![j] += v; });
          cal.shiftRows += rows;
          sums.dispose();
        }
      });
      tf.dispose(list);
      disposeBatch(b);
    }
  } finally {
    tf.dispose(deltas.filter((d): d is tf.Tensor => d != null));
  }
  return out;
}
