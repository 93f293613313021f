/**
 * Integer codes for quantized kernels: how a quantizer's values map to an integer grid and a
 * scale, per export target. QDQ stores int8 codes × scale; QONNX stores float values with a
 * Quant / BipolarQuant node; the packed format stores the codes at their real bit-width.
 */
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
 */
export function kernelCodes(spec: QuantizerSpec | null, values: Float32Array, columns = 1): IntCodes | null {
  if (spec == null) return null;
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
  // value = (code − zp)·s = (2·code − 2·zp)·(s/2); 2·zp is an integer for every code family above.
  const twoZp = Math.round(2 * c.zeroPoint);
  const q = new Int8Array(c.codes.length);
  for (let i = 0; i < q.length; i++) {
    const v = 2 * c.codes[i] - twoZp;
    if (v < -127 || v > 127) return null;
    q[i] = v;
  }
  return { q, scale: c.scale / 2 };
}
