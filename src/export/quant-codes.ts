/**
 * Integer codes for quantized kernels: how a quantizer's values map to an integer grid and a
 * scale, per export target. QDQ stores int8 codes × scale; QONNX stores float values with a
 * Quant / BipolarQuant node; the packed format stores the codes at their real bit-width.
 */
import type * as tf from '../backend/tf.js';
import type { QuantizerSpec } from '../quantizers/spec.js';

export interface IntCodes {
  /** Integer code per weight, in the kernel's own order. */
  codes: Int32Array;
  /** value = (code − zeroPoint) · scale. */
  scale: number;
  zeroPoint: number;
  /** Bits per code. */
  bits: number;
  /** Codes are in [0, 2^bits − 1] (unsigned) or [−2^(bits−1), 2^(bits−1) − 1] (signed). */
  signed: boolean;
  /** Per-output-channel scales (value i uses channelScales[i % columns]) instead of `scale`. */
  channelScales?: Float32Array;
}

/**
 * Exact integer codes for the quantizers lowbit can store as integers, or null (learned or
 * dynamic grids: uniform, LSQ, PACT are kept as float).
 * - binary / DoReFa W1: ±E → codes {0, 1} (1 bit), value = (code − ½)·2E
 * - binary per channel (BiTAT, ReActNet): ±α_o → codes {0, 1}, value = (code − ½)·2α_o
 * - DoReFa k ≥ 2: {2i/n − 1} → codes i ∈ [0, n], value = (i − n/2)·(2/n)
 * - ternary: {−α, 0, α} → codes {−1, 0, 1} (2 bits, signed), value = code·α
 * - STE (LSQ), RQ, RQ-ST, SRQ with their learned step α (`step`): {i·α} → codes i, value = code·α
 */
export function kernelCodes(spec: QuantizerSpec | null, values: Float32Array, columns = 1, step?: number): IntCodes | null {
  if (spec == null) return null;
  if (isGridKind(spec)) {
    if (step == null || !(step > 0)) return null;
    const { lo, hi, signed } = gridRange(spec, 'weight');
    const codes = Int32Array.from(values, (v) => Math.min(hi, Math.max(lo, Math.round(v / step))));
    return { codes, scale: step, zeroPoint: 0, bits: spec.bits, signed };
  }
  const codes = new Int32Array(values.length);
  if (spec.kind === 'binary' && spec.scale === 'channel') {
    // ±α_o per output channel (the kernel's last axis in TF layout): codes {0, 1}, value = (code − ½)·2α_o.
    const channelScales = new Float32Array(columns);
    for (let o = 0; o < columns; o++) channelScales[o] = 2 * Math.abs(values[o]) || 1;
    values.forEach((v, i) => { codes[i] = v >= 0 ? 1 : 0; });
    return { codes, scale: 1, zeroPoint: 0.5, bits: 1, signed: false, channelScales };
  }
  if (spec.kind === 'binary' || (spec.kind === 'dorefa' && spec.bits === 1)) {
    const e = Math.abs(values[0]);
    values.forEach((v, i) => { codes[i] = v >= 0 ? 1 : 0; });
    return { codes, scale: 2 * e || 1, zeroPoint: 0.5, bits: 1, signed: false };
  }
  if (spec.kind === 'dorefa') {
    const n = 2 ** spec.bits - 1;
    values.forEach((v, i) => { codes[i] = Math.round(((v + 1) * n) / 2); });
    return { codes, scale: 2 / n, zeroPoint: n / 2, bits: spec.bits, signed: false };
  }
  if (spec.kind === 'ternary') {
    let alpha = 0;
    values.forEach((v) => { alpha = Math.max(alpha, Math.abs(v)); });
    values.forEach((v, i) => { codes[i] = alpha === 0 ? 0 : Math.round(v / alpha); });
    return { codes, scale: alpha || 1, zeroPoint: 0, bits: 2, signed: true };
  }
  return null;
}

/** The same codes as int8 with an integer zero point of 0 (QDQ), when they fit: value = q·scale. */
export function int8Codes(c: IntCodes): { q: Int8Array; scale: number } | null {
  if (c.channelScales) return null;
  if (Number.isInteger(c.zeroPoint)) {
    // value = (code − zp)·s directly.
    const q = Int8Array.from(c.codes, (code) => code - c.zeroPoint);
    return q.every((v, i) => v === c.codes[i] - c.zeroPoint) ? { q, scale: c.scale } : null;
  }
  // value = (code − zp)·s = (2·code − 2·zp)·(s/2); 2·zp is an integer for every other code family above.
  const twoZp = Math.round(2 * c.zeroPoint);
  const q = new Int8Array(c.codes.length);
  for (let i = 0; i < q.length; i++) {
    const v = 2 * c.codes[i] - twoZp;
    if (v < -127 || v > 127) return null;
    q[i] = v;
  }
  return { q, scale: c.scale / 2 };
}

type GridSpec = Extract<QuantizerSpec, { kind: 'lsq' | 'rq' | 'rq-st' | 'srq' }>;

/** Quantizers whose values are i·α on an integer grid with a learned step α (a layer weight). */
export function isGridKind(spec: QuantizerSpec): spec is GridSpec {
  return spec.kind === 'lsq' || spec.kind === 'rq' || spec.kind === 'rq-st' || spec.kind === 'srq';
}

/** The integer grid [lo, hi] of a learned-step quantizer: signed {−2^(b−1) … 2^(b−1)−1} or unsigned {0 … 2^b−1}. */
export function gridRange(spec: GridSpec, role: 'weight' | 'activation'): { lo: number; hi: number; signed: boolean } {
  // RQ/SRQ grids are signed for weights and unsigned for (post-ReLU) activations; LSQ says so itself.
  const signed = spec.kind === 'lsq' ? spec.signed ?? true : role === 'weight';
  return signed ? { lo: -(2 ** (spec.bits - 1)), hi: 2 ** (spec.bits - 1) - 1, signed } : { lo: 0, hi: 2 ** spec.bits - 1, signed };
}

/** A layer's learned grid step α for its kernel ('kernel'), input ('input') or QuantActivation ('act') quantizer. */
export function gridStep(layer: tf.layers.Layer, prefix: 'kernel' | 'input' | 'act'): number | undefined {
  for (const w of layer.weights) {
    if (w.originalName.endsWith(`${prefix}_log_alpha`)) return Math.exp(w.read().dataSync()[0]);
    if (w.originalName.endsWith(`${prefix}_lsq_step`)) return w.read().dataSync()[0];
  }
  return undefined;
}
