/**
 * The packed format's manifest types and its bit packing (src/export/packed.ts writes and reads
 * the format with TF.js; the runtime, src/runtime/load.ts, reads it without). TF.js-free: the
 * runtime's import graph must not reach TF.js (test/browser-bundle.test.ts checks it).
 */

export const PACKED_FORMAT = 'lowbit-packed';

export interface PackedWeight {
  name: string;
  shape: number[];
  /** 'float32', 'codes' (bit-packed integers) or 'planes' (multi-bit binary bases, one bit plane per basis). */
  storage: 'float32' | 'codes' | 'planes';
  bits?: number;
  scale?: number;
  /** Per-output-channel scales (float32 after the codes, one per output channel), for per-channel grids. */
  channelScales?: number;
  /** Codebook grids: the float32 codebook values after the codes (K per tensor, or channels × K). */
  codebook?: number;
  /** Codebook grids: K, the values per channel. */
  codebookSize?: number;
  /**
   * Multi-bit grids (storage 'planes'): the codes are bit planes (quant-codes.ts packPlanes),
   * followed by float32 bases per channel, then channels × bits float32 α's.
   */
  planes?: { channels: number };
  /** Product-quantized kernels: d values per code (one code per sub-vector), cut along the axis order `order` (CodebookGrid). */
  dim?: number;
  order?: number[];
  zeroPoint?: number;
  /** Smallest code (codes are stored as code − minCode, unsigned). */
  minCode?: number;
  /**
   * Per-channel bit-widths (PTQ's bit allocation): value i is stored in channelBits[i % channels]
   * bits, as code − (that width's smallest code); `bits` and `minCode` are the widest channel's.
   */
  channelBits?: number[];
  offset: number;
  byteLength: number;
}

export interface PackedManifest {
  format: typeof PACKED_FORMAT;
  version: 1;
  modelTopology: object;
  weights: PackedWeight[];
}

/** Packs unsigned integers of `bits` bits each, LSB-first. */
export function packBits(values: ArrayLike<number>, bits: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((values.length * bits) / 8));
  let bit = 0;
  for (let i = 0; i < values.length; i++, bit += bits) {
    for (let b = 0; b < bits; b++) if ((values[i] >> b) & 1) out[(bit + b) >> 3] |= 1 << ((bit + b) & 7);
  }
  return out;
}

export function unpackBits(bytes: Uint8Array, count: number, bits: number): Int32Array {
  const out = new Int32Array(count);
  let bit = 0;
  for (let i = 0; i < count; i++, bit += bits) {
    let v = 0;
    for (let b = 0; b < bits; b++) if ((bytes[(bit + b) >> 3] >> ((bit + b) & 7)) & 1) v |= 1 << b;
    out[i] = v;
  }
  return out;
}

/** The smallest code of a `bits`-bit grid stored from `minCode` (signed grids start at −2^(bits−1)). */
export const lowest = (bits: number, signed: boolean) => (signed ? -(2 ** (bits - 1)) : 0);

/** Codes packed LSB-first, value i at `widths[i % widths.length]` bits, each as code − its width's smallest code. */
export function packChannelBits(codes: Int32Array, widths: ArrayLike<number>, signed: boolean): Uint8Array {
  const c = widths.length;
  let total = 0;
  for (let i = 0; i < codes.length; i++) total += widths[i % c];
  const out = new Uint8Array(Math.ceil(total / 8));
  let bit = 0;
  for (let i = 0; i < codes.length; i++) {
    const b = widths[i % c];
    const v = codes[i] - lowest(b, signed);
    for (let k = 0; k < b; k++, bit++) if ((v >> k) & 1) out[bit >> 3] |= 1 << (bit & 7);
  }
  return out;
}

/** The integer codes of a 'codes' weight (`count` of them): the inverse of packModel's bit packing. */
export function unpackCodes(w: PackedWeight, bytes: Uint8Array, count: number): Int32Array {
  if (w.channelBits == null) return Int32Array.from(unpackBits(bytes, count, w.bits!), (c) => c + w.minCode!);
  const widths = w.channelBits;
  const signed = w.minCode! < 0;
  const out = new Int32Array(count);
  let bit = 0;
  for (let i = 0; i < count; i++) {
    const b = widths[i % widths.length];
    let v = 0;
    for (let k = 0; k < b; k++, bit++) if ((bytes[bit >> 3] >> (bit & 7)) & 1) v |= 1 << k;
    out[i] = v + lowest(b, signed);
  }
  return out;
}
