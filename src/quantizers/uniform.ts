/** Uniform (integer-grid) quantizers: QONNX Quant semantics, LSQ and PACT. */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { checkBits, insideMask, withGradient } from './common.js';
import { fusedLsqApplies, lsqFused } from './fakequant-fused.js';
import type { QuantizerKind, QuantizerRole } from './kind.js';
import { integerRange, isLastAxis, lsqInfo, pactInfo, uniformInfo } from './kind-info.js';

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

/** The integer range of QONNX Quant (TF.js-free, in kind-info.ts). */
export { integerRange } from './kind-info.js';

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

/** uniform (the rest of the kind: uniformInfo in kind-info.ts). */
export const uniformKind: QuantizerKind<UniformSpec> = {
  ...uniformInfo,
  apply: (s, x, role, _p, _t, context) => {
    const columns = byColumns(s, x, role, context.outputChannels);
    if (columns == null) return uniform(x, s);
    return tf.tidy(() => tf.reshape(uniform(tf.reshape(x, [-1, columns]), { ...s, axis: -1 }), x.shape));
  },
};

/** lsq (the rest of the kind: lsqInfo in kind-info.ts). */
export const lsqKind: QuantizerKind<LsqSpec> = {
  ...lsqInfo,
  apply: (s, x, _role, p) => lsq(x, p[0], s),
};

/** pact (the rest of the kind: pactInfo in kind-info.ts). */
export const pactKind: QuantizerKind<PactSpec> = {
  ...pactInfo,
  apply: (s, x, _role, p) => pact(x, p[0], s.bits),
};
