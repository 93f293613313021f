/** Uniform (integer-grid) quantizers: QONNX Quant semantics, LSQ and PACT. */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { checkBits, insideMask, withGradient } from './common.js';
import { fusedLsqApplies, lsqFused } from './fakequant-fused.js';
import type { QuantizerKind, QuantizerRole, UniformGrid } from './kind.js';

export interface UniformOptions {
  bits: number;
  /** Signed integer grid (default true). */
  signed?: boolean;
  /** Narrow range: drop the most negative (signed) or the largest (unsigned) level. */
  narrow?: boolean;
  /**
   * Step size: a number, a per-channel tensor (with `axis`), or 'max' for a dynamic scale
   * max|x| / q_max computed on the current tensor (per channel when `axis` is set), a constant
   * for the gradient.
   */
  scale?: number | tf.Tensor | 'max';
  /** Zero point on the integer grid (default 0). */
  zeroPoint?: number;
  /** Channel axis for per-channel scales (negative counts from the end). */
  axis?: number;
  /**
   * Per-channel bit-widths along `axis` (with scale 'max'): channel c uses the grid of
   * channelBits[c] bits (its own q_min, q_max and scale max|x_c| / q_max_c). `bits` is then the
   * code width, at least every channelBits[c].
   */
  channelBits?: readonly number[];
}

/** The integer range of QONNX Quant: [q_min, q_max]. */
export function integerRange(bits: number, signed: boolean, narrow: boolean): [number, number] {
  if (signed) return [-(2 ** (bits - 1)) + (narrow ? 1 : 0), 2 ** (bits - 1) - 1];
  return [0, 2 ** bits - 1 - (narrow ? 1 : 0)];
}

function channelShape(rank: number, axis: number, channels: number): number[] {
  const shape = new Array(rank).fill(1);
  shape[axis] = channels;
  return shape;
}

/**
 * uniform(x) follows QONNX `Quant` (rounding_mode ROUND, half to even):
 * q = clamp(round(x/s + z), q_min, q_max), y = (q − z)·s. Gradient: the STE where
 * q_min ≤ x/s + z ≤ q_max, zero outside. Values: {(i − z)·s : i = q_min … q_max}.
 */
export function uniform(x: tf.Tensor, options: UniformOptions): tf.Tensor {
  const bits = checkBits(options.bits, 'uniform', 1, 32);
  const signed = options.signed ?? true;
  const narrow = options.narrow ?? false;
  if (bits === 1 && signed && !narrow) {
    throw new LowbitError('uniform: a signed 1-bit grid has levels {−1, 0}; use narrow: false with signed: false, or the binary quantizer');
  }
  const [qMin, qMax] = integerRange(bits, signed, narrow);
  const zp = options.zeroPoint ?? 0;
  return tf.tidy(() => {
    const axis = options.axis == null ? null : options.axis < 0 ? x.rank + options.axis : options.axis;
    const cb = options.channelBits;
    if (cb != null) {
      if (axis == null || !(options.scale === 'max' || options.scale == null)) throw new LowbitError('uniform: channelBits needs a channel axis and the \'max\' scale');
      if (cb.length !== x.shape[axis]) throw new LowbitError(`uniform: channelBits has ${cb.length} bit-widths for ${x.shape[axis]} channels`);
    }
    // Per-channel bit-widths: per-channel code ranges (as tensors shaped like the channel axis).
    const ranges = cb == null ? null : cb.map((b) => integerRange(b, signed, narrow));
    // Made afresh where used: the gradient runs after this tidy has freed its tensors.
    const bound = (k: 0 | 1): number | tf.Tensor => (ranges == null ? [qMin, qMax][k] : tf.reshape(tf.tensor1d(ranges.map((r) => r[k])), channelShape(x.rank, axis!, ranges.length)));
    let scale: tf.Tensor;
    if (options.scale === 'max' || options.scale == null) {
      const reduceAxes = axis == null ? undefined : x.shape.map((_, i) => i).filter((i) => i !== axis);
      const maxAbs = tf.max(tf.abs(x), reduceAxes, axis != null);
      const denom = ranges == null ? Math.max(Math.abs(qMax), Math.abs(qMin), 1)
        : tf.reshape(tf.tensor1d(ranges.map(([a, b]) => Math.max(Math.abs(a), Math.abs(b), 1))), channelShape(x.rank, axis!, cb!.length));
      scale = tf.div(tf.maximum(maxAbs, 1e-8), denom);
    } else if (typeof options.scale === 'number') {
      if (!(options.scale > 0)) throw new LowbitError(`uniform: scale must be > 0, got ${options.scale}`);
      scale = tf.scalar(options.scale);
    } else {
      scale = axis == null ? options.scale : tf.reshape(options.scale, channelShape(x.rank, axis, x.shape[axis]));
    }
    const quant = withGradient(([input, s], save) => {
      const v = tf.add(tf.div(input, s), zp);
      save([v]);
      const [lo, hi] = [bound(0), bound(1)];
      const clipped = typeof lo === 'number' && typeof hi === 'number' ? tf.clipByValue(tf.round(v), lo, hi) : tf.minimum(tf.maximum(tf.round(v), lo), hi);
      return {
        value: tf.mul(tf.sub(clipped, zp), s),
        gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.tidy(() => [tf.mul(dy, insideMask(saved[0], bound(0), bound(1))), tf.zerosLike(s)]),
      };
    });
    return quant(x, scale);
  });
}

/**
 * LSQ, Learned Step Size Quantization (Esser et al., ICLR 2020): v = x/s,
 * y = round(clip(v, q_min, q_max))·s with a learned step s. Gradients: ∂y/∂x = [q_min ≤ v ≤ q_max];
 * ∂y/∂s = (round(v) − v) inside, q_min below, q_max above, times g = 1/√(N·q_max).
 * Values: {i·s : i = q_min … q_max}. On wasm and native one fused kernel each way
 * (fakequant-fused.ts; ∂s summed in float64); elsewhere the op chain of lsqReference.
 */
export function lsq(x: tf.Tensor, step: tf.Tensor, options: { bits: number; signed?: boolean }): tf.Tensor {
  if (fusedLsqApplies(x, step)) {
    const bits = checkBits(options.bits, 'lsq', 2, 32);
    const [qMin, qMax] = integerRange(bits, options.signed ?? true, false);
    return lsqFused(x, step, qMin, qMax, 1 / Math.sqrt(x.size * Math.max(qMax, 1)));
  }
  return lsqReference(x, step, options);
}

/** lsq as the tfjs-ops chain: the cpu/webgl/webgpu path and the reference of the fused kernels (wasm, native). */
export function lsqReference(x: tf.Tensor, step: tf.Tensor, options: { bits: number; signed?: boolean }): tf.Tensor {
  const bits = checkBits(options.bits, 'lsq', 2, 32);
  const [qMin, qMax] = integerRange(bits, options.signed ?? true, false);
  const g = 1 / Math.sqrt(x.size * Math.max(qMax, 1));
  const f = withGradient(([input, s], save) => {
    const v = tf.div(input, s);
    save([v]);
    return {
      value: tf.mul(tf.round(tf.clipByValue(v, qMin, qMax)), s),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const vv = saved[0];
        const inside = insideMask(vv, qMin, qMax);
        const below = tf.cast(tf.less(vv, qMin), 'float32');
        const above = tf.cast(tf.greater(vv, qMax), 'float32');
        const dsElem = tf.addN([tf.mul(inside, tf.sub(tf.round(vv), vv)), tf.mul(below, qMin), tf.mul(above, qMax)]);
        return [tf.mul(dy, inside), tf.reshape(tf.mul(tf.sum(tf.mul(dy, dsElem)), g), s.shape)];
      },
    };
  });
  return f(x, step);
}

/**
 * PACT (Choi et al., arXiv:1805.06085, 2018): y = clip(x, 0, α), y_q = round(y·(2^k − 1)/α)·α/(2^k − 1)
 * with a learned clip α. Gradients (STE at the rounding): ∂y_q/∂x = [0 ≤ x ≤ α],
 * ∂y_q/∂α = [x ≥ α]. Values: {i·α/(2^k − 1) : i = 0 … 2^k − 1}.
 */
export function pact(x: tf.Tensor, alpha: tf.Tensor, bits: number): tf.Tensor {
  checkBits(bits, 'pact', 1, 32);
  const n = 2 ** bits - 1;
  const f = withGradient(([input, a], save) => {
    save([input, a]);
    return {
      value: tf.tidy(() => tf.mul(tf.round(tf.div(tf.mul(tf.minimum(tf.relu(input), a), n), a)), tf.div(a, n))),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, as] = saved;
        return [tf.mul(dy, insideMask(xs, 0, as)), tf.reshape(tf.sum(tf.mul(dy, tf.cast(tf.greaterEqual(xs, as), 'float32'))), as.shape)];
      },
    };
  });
  return f(x, alpha);
}

/** A fixed integer grid (QONNX Quant): scale a number, or 'max' (max|x| / q_max, dynamic). */
export interface UniformSpec { kind: 'uniform'; bits: number; signed?: boolean; narrow?: boolean; scale?: number | 'max'; zeroPoint?: number; axis?: number; channelBits?: number[] }

/** Whether `axis` (negative from the end) is the last axis of a rank-`rank` tensor. */
const isLastAxis = (axis: number, rank: number) => (axis < 0 ? rank + axis : axis) === rank - 1;

/**
 * A kernel's values grouped by output channel: per-channel weight grids along the last axis mean
 * one channel per kernel column (the kernel viewed as [d_in, columns]). For most kernels that is
 * the last axis; a DepthwiseConv2D kernel [kh, kw, cin, multiplier] has cin·multiplier columns
 * (its last two axes together), and value i belongs to column i mod columns either way.
 */
function byColumns(s: UniformSpec, x: tf.Tensor, role: QuantizerRole, columns: number | undefined): number | null {
  if (role !== 'weight' || s.axis == null || columns == null || !isLastAxis(s.axis, x.rank)) return null;
  return x.shape[x.rank - 1] !== columns && x.size % columns === 0 ? columns : null;
}

/** LSQ with a learned step (initStep, default 0.05). */
export interface LsqSpec { kind: 'lsq'; bits: number; signed?: boolean; initStep?: number }

/** PACT with a learned clip α (initAlpha, default 6). */
export interface PactSpec { kind: 'pact'; bits: number; initAlpha?: number }

/**
 * uniform: QONNX Quant semantics. Grid: the spec's own (bits, signed, narrow, zero point); a
 * numeric scale as is, a 'max' scale read off the latent kernel like `uniform` computes it (per
 * tensor, or per output channel when `axis` is the last axis). 'max' activations have none
 * (dynamic), nor has a per-channel kernel scale on another axis.
 */
export const uniformKind: QuantizerKind<UniformSpec> = {
  kind: 'uniform',
  naming: 'bits',
  validate(s, where) {
    checkBits(s.bits, `${where} (uniform)`, 1, 32);
    if (s.channelBits != null) {
      if (!Array.isArray(s.channelBits) || s.channelBits.length === 0) throw new LowbitError(`${where} (uniform): channelBits must be a non-empty list of bit-widths, got ${JSON.stringify(s.channelBits)}`);
      s.channelBits.forEach((b) => checkBits(b, `${where} (uniform channelBits)`, 2, s.bits));
      if (s.axis == null || (s.scale != null && s.scale !== 'max')) throw new LowbitError(`${where} (uniform): channelBits needs axis -1 and the 'max' scale`);
    }
  },
  // With per-channel bit-widths: their mean, the bits per weight a summary counts (channels hold equally many weights).
  precision: (s) => (s.channelBits ? s.channelBits.reduce((a, b) => a + b, 0) / s.channelBits.length : s.bits),
  params: () => [],
  apply: (s, x, role, _p, _t, context) => {
    const columns = byColumns(s, x, role, context.outputChannels);
    if (columns == null) return uniform(x, s);
    return tf.tidy(() => tf.reshape(uniform(tf.reshape(x, [-1, columns]), { ...s, axis: -1 }), x.shape));
  },
  valueSet: (s) => `{(i − z)·s : i = q_min…q_max} (${s.channelBits ? `${Math.min(...s.channelBits)}–${Math.max(...s.channelBits)} bits per channel` : `${s.bits}-bit`} ${s.signed === false ? 'unsigned' : 'signed'})`,
  grid(s, role, input) {
    const signed = s.signed ?? true;
    const narrow = s.narrow ?? false;
    const base = { type: 'uniform' as const, bits: s.bits, signed, narrow, zeroPoint: s.zeroPoint ?? 0 };
    if (typeof s.scale === 'number') return { ...base, scale: s.scale, axis: null };
    const w = input.latent;
    if (role === 'activation' || w == null) return null;
    const denomOf = (bits: number) => {
      const [qMin, qMax] = integerRange(bits, signed, narrow);
      return Math.max(Math.abs(qMax), Math.abs(qMin), 1);
    };
    // As `uniform` computes it in float32: max(max|w|, 1e-8) / denom.
    const step = (m: number, bits = s.bits) => Math.fround(Math.fround(Math.max(m, Math.fround(1e-8))) / denomOf(bits));
    if (s.axis == null) {
      let m = 0;
      w.forEach((v) => { m = Math.max(m, Math.abs(v)); });
      return { ...base, scale: step(m), axis: null };
    }
    // Per channel only along the last axis, when the layer's columns (output channels) are its
    // last axis or, for DepthwiseConv2D, its last two (see byColumns); another axis has no read-out here.
    const shape = input.shape ?? [];
    const c = input.channels;
    if (shape.length === 0 || !isLastAxis(s.axis, shape.length) || !(shape[shape.length - 1] === c || shape[shape.length - 2] * shape[shape.length - 1] === c)) return null;
    if (s.channelBits != null && s.channelBits.length !== c) return null;
    const m = new Float32Array(c);
    w.forEach((v, i) => { m[i % c] = Math.max(m[i % c], Math.abs(v)); });
    const cb = s.channelBits;
    return { ...base, scale: m.map((v, ch) => step(v, cb ? cb[ch] : s.bits)), axis: -1, ...(cb ? { channelBits: Int32Array.from(cb) } : {}) };
  },
};

/** lsq: learned step s (a scalar). Grid: i·s on [q_min, q_max], s the learned step. */
export const lsqKind: QuantizerKind<LsqSpec> = {
  kind: 'lsq',
  naming: 'bits',
  validate(s, where) {
    checkBits(s.bits, `${where} (lsq)`, 2, 32);
  },
  precision: (s) => s.bits,
  params: (s) => [{ name: 'lsq_step', init: s.initStep ?? 0.05 }],
  apply: (s, x, _role, p) => lsq(x, p[0], s),
  valueSet: (s) => `{i·s : i = q_min…q_max} (${s.bits}-bit, learned s)`,
  grid: (s, _role, input): UniformGrid => ({ type: 'uniform', bits: s.bits, signed: s.signed ?? true, narrow: false, scale: input.params[0][0], zeroPoint: 0, axis: null, learned: true }),
};

/** pact: learned clip α. Grid: i·α/n, i = 0 … n = 2^k − 1. */
export const pactKind: QuantizerKind<PactSpec> = {
  kind: 'pact',
  naming: 'bits',
  validate(s, where) {
    checkBits(s.bits, `${where} (pact)`, 1, 32);
  },
  precision: (s) => s.bits,
  params: (s) => [{ name: 'pact_alpha', init: s.initAlpha ?? 6 }],
  apply: (s, x, _role, p) => pact(x, p[0], s.bits),
  valueSet: (s) => `{i·α/${2 ** s.bits - 1} : i = 0…${2 ** s.bits - 1}} (learned α)`,
  grid: (s, _role, input): UniformGrid => ({ type: 'uniform', bits: s.bits, signed: false, narrow: false, scale: Math.fround(input.params[0][0] / (2 ** s.bits - 1)), zeroPoint: 0, axis: null, learned: true }),
};
