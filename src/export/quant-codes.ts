/**
 * Integer codes for quantized tensors, from the read-out of their quantizer's grid (QuantGrid):
 * QDQ stores int8/int4 codes × scale; QONNX stores float values with a Quant / BipolarQuant node
 * (or codes and a Gather from the codebook); the packed format stores the codes at their real
 * bit-width. Nothing here knows a quantizer kind: the kinds' read-outs say everything.
 */
import { codeRange, QuantGrid } from '../quantizers/kind.js';

export interface IntCodes {
  /** Integer code per value, in the tensor's own order. */
  codes: Int32Array;
  /** Uniform grids: value = (code − zeroPoint)·scale. */
  scale: number;
  zeroPoint: number;
  /** Bits per code. */
  bits: number;
  /** Codes are in [0, 2^bits − 1] (unsigned) or [−2^(bits−1), 2^(bits−1) − 1] (signed). */
  signed: boolean;
  /** Narrow range (QONNX `narrow`): the most negative (signed) or the largest (unsigned) code unused. */
  narrow: boolean;
  /** Per-channel scales (value i uses channelScales[i % channels]) instead of `scale`. */
  channelScales?: Float32Array;
  /** Per-channel bit-widths (value i's code fits channelBits[i % channels] bits; `bits` is the widest). */
  channelBits?: Int32Array;
  /** Codebook grids: value i = codebook[(i % channels)·codebookSize + code] (per channel) or codebook[code]. */
  codebook?: Float32Array;
  codebookSize?: number;
  /** Product-quantized tensors: d values per code; `codes` holds one code per sub-vector (see CodebookGrid.dim). */
  dim?: number;
  /** With dim > 1: the axis order the tensor is cut in (CodebookGrid.order). */
  order?: number[];
  /** Multi-bit grids: value i (channel c = i % channels) = Σ_{b < bases[c]} alphas[c·bits + b]·(bit b of code ? +1 : −1). */
  multibit?: { bases: Int32Array; alphas: Float32Array };
}

/** The value of multi-bit code `code` in channel c. */
function multibitValue(bases: Int32Array, alphas: Float32Array, bits: number, c: number, code: number): number {
  let v = 0;
  for (let b = 0; b < bases[c]; b++) v += ((code >> b) & 1 ? 1 : -1) * alphas[c * bits + b];
  return v;
}

/** The index of the codebook value nearest v (the first of equals). */
function nearest(book: Float32Array, from: number, size: number, v: number): number {
  let best = 0;
  let dist = Infinity;
  for (let k = 0; k < size; k++) {
    const d = Math.abs(book[from + k] - v);
    if (d < dist) { dist = d; best = k; }
  }
  return best;
}

/**
 * The codes of `values` (already on the grid, TF layout: value i in channel i mod `channels`)
 * on a grid read-out: uniform, code = clamp(round(v/scale + zeroPoint)); codebook, the index of
 * the nearest value.
 */
export function gridCodes(grid: QuantGrid, values: Float32Array, channels = 1): IntCodes {
  if (grid.type === 'multibit') {
    // The sign pattern whose Σ ±α is nearest the value (exact for values on the grid).
    const c = grid.bases.length;
    const codes = Int32Array.from(values, (v, i) => {
      const ch = i % c;
      let best = 0;
      let dist = Infinity;
      for (let code = 0; code < 2 ** grid.bases[ch]; code++) {
        const d = Math.abs(multibitValue(grid.bases, grid.alphas, grid.bits, ch, code) - v);
        if (d < dist) { dist = d; best = code; }
      }
      return best;
    });
    return { codes, scale: 1, zeroPoint: 0, bits: grid.bits, signed: false, narrow: false, multibit: { bases: grid.bases, alphas: grid.alphas } };
  }
  if (grid.type === 'codebook' && (grid.dim ?? 1) > 1) {
    // Sub-vector codes are stored by the quantizer, not recovered from the values.
    return { codes: Int32Array.from(grid.codes!), scale: 1, zeroPoint: 0, bits: grid.bits, signed: false, narrow: false, codebook: grid.values,
      codebookSize: grid.size, dim: grid.dim, order: grid.order };
  }
  if (grid.type === 'codebook') {
    const size = grid.size;
    const perChannel = grid.axis != null;
    const c = perChannel ? grid.values.length / size : 1;
    const codes = Int32Array.from(values, (v, i) => nearest(grid.values, perChannel ? (i % c) * size : 0, size, v));
    return { codes, scale: 1, zeroPoint: 0, bits: grid.bits, signed: false, narrow: false, codebook: grid.values, codebookSize: size };
  }
  const [lo, hi] = codeRange(grid);
  const cs = typeof grid.scale === 'number' ? null : grid.scale;
  const n = cs ? cs.length : channels;
  const codes = Int32Array.from(values, (v, i) => Math.min(hi, Math.max(lo, Math.round(v / (cs ? cs[i % n] : grid.scale as number) + grid.zeroPoint))));
  return { codes, scale: cs ? 1 : grid.scale as number, zeroPoint: grid.zeroPoint, bits: grid.bits, signed: grid.signed, narrow: grid.narrow, ...(cs ? { channelScales: cs } : {}),
    ...(grid.channelBits ? { channelBits: grid.channelBits } : {}) };
}

/**
 * The same codes as int8 with an integer zero point of 0 (QDQ), when they fit: value = q·scale
 * (one scale, or `channelScales` per channel). Uniform grids only.
 */
export function int8Codes(c: IntCodes): { q: Int8Array; scale: number; channelScales?: Float32Array } | null {
  if (c.codebook || c.multibit) return null;
  if (Number.isInteger(c.zeroPoint)) {
    // value = (code − zp)·s directly.
    const q = new Int8Array(c.codes.length);
    for (let i = 0; i < q.length; i++) {
      const v = c.codes[i] - c.zeroPoint;
      if (v < -128 || v > 127) return null;
      q[i] = v;
    }
    return { q, scale: c.scale, ...(c.channelScales ? { channelScales: c.channelScales } : {}) };
  }
  // value = (code − zp)·s = (2·code − 2·zp)·(s/2), when 2·zp is an integer (bipolar ±, DoReFa's (i − n/2)).
  const twoZp = 2 * c.zeroPoint;
  if (!Number.isInteger(twoZp)) return null;
  const q = new Int8Array(c.codes.length);
  for (let i = 0; i < q.length; i++) {
    const v = 2 * c.codes[i] - twoZp;
    if (v < -127 || v > 127) return null;
    q[i] = v;
  }
  return { q, scale: c.scale / 2, ...(c.channelScales ? { channelScales: c.channelScales.map((s) => s / 2) } : {}) };
}

/** The value of code `code` at position i of a tensor with these codes (the inverse of gridCodes). */
export function codeValue(c: Pick<IntCodes, 'scale' | 'zeroPoint' | 'channelScales' | 'codebook' | 'codebookSize' | 'multibit'> & { bits?: number }, code: number, i: number): number {
  if (c.multibit) return multibitValue(c.multibit.bases, c.multibit.alphas, c.bits!, i % c.multibit.bases.length, code);
  if (c.codebook) {
    const k = c.codebookSize!;
    const channels = c.codebook.length / k;
    return c.codebook[(i % channels) * k + code];
  }
  const cs = c.channelScales;
  return (code - c.zeroPoint) * (cs ? cs[i % cs.length] : c.scale);
}

/**
 * Multi-bit codes as bit planes: for basis b = 0 … bits−1, one bit (1 = +1) for every value whose
 * channel has more than b bases, in tensor order — Σ_c bases[c]·(values in c) bits in all, the
 * layout a bitwise kernel reads one basis at a time.
 */
export function packPlanes(codes: Int32Array, bases: Int32Array, bits: number): Uint8Array {
  const c = bases.length;
  const total = bases.reduce((a, b) => a + b * (codes.length / c), 0);
  const out = new Uint8Array(Math.ceil(total / 8));
  let bit = 0;
  for (let b = 0; b < bits; b++) {
    for (let i = 0; i < codes.length; i++) {
      if (bases[i % c] <= b) continue;
      if ((codes[i] >> b) & 1) out[bit >> 3] |= 1 << (bit & 7);
      bit++;
    }
  }
  return out;
}

/** The codes of `count` values from their bit planes (the inverse of packPlanes). */
export function unpackPlanes(bytes: Uint8Array, count: number, bases: Int32Array, bits: number): Int32Array {
  const c = bases.length;
  const codes = new Int32Array(count);
  let bit = 0;
  for (let b = 0; b < bits; b++) {
    for (let i = 0; i < count; i++) {
      if (bases[i % c] <= b) continue;
      if ((bytes[bit >> 3] >> (bit & 7)) & 1) codes[i] |= 1 << b;
      bit++;
    }
  }
  return codes;
}

/**
 * The values (TF layout, `shape`) of a product-quantized tensor: codeword `codes[j]` (d values of
 * `codebook`) for sub-vector j, the sub-vectors laid out along the axis order `order` and
 * transposed back.
 */
export function subvectorValues(codebook: Float32Array, codes: ArrayLike<number>, dim: number, order: number[], shape: number[]): Float32Array {
  const cut = order.map((a) => shape[a]);
  const cutStrides = cut.map((_, i) => cut.slice(i + 1).reduce((a, b) => a * b, 1));
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(codes.length * dim);
  for (let f = 0; f < out.length; f++) {
    // f is a flat index in cut order; its TF-layout position sums each cut axis's coordinate × that axis's TF stride.
    let rest = f;
    let at = 0;
    for (let i = 0; i < cut.length; i++) {
      const coord = Math.floor(rest / cutStrides[i]);
      rest -= coord * cutStrides[i];
      at += coord * strides[order[i]];
    }
    out[at] = codebook[codes[Math.floor(f / dim)] * dim + (f % dim)];
  }
  return out;
}
