/**
 * Multi-bit binary kernels (ALQ's weight form, docs/methods/alq.md) on the runtime's integer
 * kernels. Channel c's weights are w = Σ_{i < I_c} α_{c,i}·β_i with β_i ∈ {−1, +1}, and the
 * packed format stores each β_i as a bit plane with its α's (src/export/packed.ts). When the
 * layer's input is quantized to integer codes (DoReFa/uniform/… codes that fit int8) or to signs,
 * the layer runs as ONE integer layer of R = Σ_c I_c rows — row (c, i) holds β_i of channel c as
 * ±1 codes, channels with fewer bases simply have fewer rows — through the same kernels as any
 * other integer layer: `int8Conv2d` (bit-serial AND/popcount in the native addon for 2-bit
 * activation codes, native/bitops.cc) or `binaryConv2d` (XNOR/popcount) for sign inputs. A small
 * pass then sums each channel's rows:
 *
 *   y[p, c] = b[c] + Σ_{i < I_c} r[p, (c, i)]·A[(c, i)],   A[(c, i)] = α_{c,i}·(input step),
 *
 * with r the exact integer sums, b the bias (BatchNorm folded into A and b, as for the other
 * integer layers), in float64 with one float32 rounding. The layer's epilogue stages (ReLU, …, the
 * next layer's sign packing) then run on y as on a float layer's result (src/runtime/plan.ts).
 * With float activations the layer runs as a float layer on the decoded values.
 *
 * `LOWBIT_MULTIBIT=0` in the environment (Node) keeps every multi-bit layer on the float path,
 * for comparisons.
 */
import type { PackedWeight } from '../export/packed-format.js';
import { codeValue, IntCodes, unpackPlanes } from '../export/quant-codes.js';
import { ConvGeometry, RuntimeKernels, wordsFor } from './kernels.js';
import type { ActivationQuantizer } from './quantize.js';

/** A multi-bit layer compiled to integer rows. */
export interface MultibitLayer {
  /** 'int8': integer activation codes × ±1 rows (`int8Conv2d`); 'binary': sign bits × sign bits (`binaryConv2d`). */
  kernel: 'int8' | 'binary';
  /** Geometry of the row convolution (outC = rows). */
  rowGeom: Omit<ConvGeometry, 'n'>;
  /** Channel c's rows are first[c] … first[c + 1] − 1 (first has outC + 1 entries). */
  first: Int32Array;
  /** Per row: α·input step (× the folded BatchNorm scale of its channel). */
  scale: Float64Array;
  /** Per output channel: the bias (with the folded BatchNorm shift). */
  bias: Float64Array;
  /** kernel 'int8': [rows, taps, cin] ±1 codes. */
  wInt8: Int8Array | null;
  /** kernel 'binary': [rows, taps, wordsFor(cin)] packed sign bits (1 = +1). */
  wBits: Uint32Array | null;
  /** The basis-major padded rows (built on first use by a backend with passes; see bindMultibit). */
  padded?: { bases: number; wInt8: Int8Array | null; wBits: Uint32Array | null };
}

/** A 'planes' weight of packed.bin (bit planes, then bases per channel, then channels × bits α's) as codes and values. */
export function decodePlanes(w: PackedWeight, bytes: Uint8Array, count: number): { values: Float32Array; codes: IntCodes } {
  const channels = w.planes!.channels;
  const bits = w.bits!;
  const tail = new Uint8Array(4 * channels * (1 + bits)); // aligned copy of the bases and α's after the planes
  tail.set(bytes.subarray(bytes.byteLength - tail.byteLength));
  const floats = new Float32Array(tail.buffer);
  const bases = Int32Array.from(floats.subarray(0, channels));
  const codes: IntCodes = { codes: unpackPlanes(bytes, count, bases, bits), scale: 1, zeroPoint: 0, bits, signed: false, narrow: false, multibit: { bases, alphas: floats.slice(channels) } };
  const values = Float32Array.from(codes.codes, (code, i) => codeValue(codes, code, i));
  return { values, codes };
}

/** Whether the environment switches the integer path off (LOWBIT_MULTIBIT=0). */
function disabled(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.LOWBIT_MULTIBIT === '0';
}

/**
 * The integer-row form of a multi-bit kernel (TF layout [taps, cin, outC], codes: bit i set ⇔
 * β_i = +1), or null when the layer stays float: no input quantizer, a quantizer whose codes do
 * not fit int8 with one scale, or LOWBIT_MULTIBIT=0.
 */
export function compileMultibit(codes: IntCodes, quant: ActivationQuantizer | null, geom: Omit<ConvGeometry, 'n'>, bias: Float32Array | null): MultibitLayer | null {
  if (!codes.multibit || quant == null || quant.scalarScale == null || disabled()) return null;
  const binary = quant.bipolar;
  if (!binary && !quant.fitsInt8) return null;
  const xScale = binary ? quant.scalarScale / 2 : quant.scalarScale / quant.codeMultiplier;
  const { bases, alphas } = codes.multibit;
  const { c: cin, outC } = geom;
  const taps = geom.kh * geom.kw;
  const width = codes.bits;
  const first = new Int32Array(outC + 1);
  for (let o = 0; o < outC; o++) first[o + 1] = first[o] + Math.max(0, Math.min(width, bases[o]));
  const rows = first[outC];
  const scale = new Float64Array(rows);
  for (let o = 0; o < outC; o++) for (let r = first[o]; r < first[o + 1]; r++) scale[r] = alphas[o * width + (r - first[o])] * xScale;
  const b = Float64Array.from({ length: outC }, (_, o) => (bias ? bias[o] : 0));
  const q = codes.codes;
  const words = wordsFor(cin);
  const wInt8 = binary ? null : new Int8Array(rows * taps * cin);
  const wBits = binary ? new Uint32Array(rows * taps * words) : null;
  for (let o = 0; o < outC; o++) {
    for (let r = first[o]; r < first[o + 1]; r++) {
      const bit = r - first[o];
      for (let t = 0; t < taps; t++) {
        for (let k = 0; k < cin; k++) {
          const plus = (q[(t * cin + k) * outC + o] >> bit) & 1;
          if (wInt8) wInt8[(r * taps + t) * cin + k] = plus ? 1 : -1;
          else if (plus) wBits![(r * taps + t) * words + (k >>> 5)] |= 1 << (k & 31);
        }
      }
    }
  }
  return { kernel: binary ? 'binary' : 'int8', rowGeom: { ...geom, outC: rows }, first, scale, bias: b, wInt8, wBits };
}

/** Folds y = x·s + t (per output channel, a BatchNorm after the layer) into the rows' scales and the bias. */
export function foldMultibit(m: MultibitLayer, s: Float32Array, t: Float32Array): void {
  for (let o = 0; o + 1 < m.first.length; o++) {
    for (let r = m.first[o]; r < m.first[o + 1]; r++) m.scale[r] *= s[o];
    m.bias[o] = m.bias[o] * s[o] + t[o];
  }
}

/**
 * The rows in basis-major order with every channel padded to `bases` rows: row i·outC + c holds
 * basis i of channel c (a channel with fewer bases gets rows of +1 codes, or −1 signs, which the
 * bound layer gives α = 0).
 */
function padRows(m: MultibitLayer, bases: number): NonNullable<MultibitLayer['padded']> {
  const outC = m.first.length - 1;
  const g = m.rowGeom;
  const per = g.kh * g.kw * (m.wBits ? wordsFor(g.c) : g.c);
  const src = m.wInt8 ?? m.wBits!;
  const dst = m.wInt8 ? new Int8Array(bases * outC * per).fill(1) : new Uint32Array(bases * outC * per);
  for (let o = 0; o < outC; o++) {
    for (let r = m.first[o]; r < m.first[o + 1]; r++) dst.set(src.subarray(r * per, (r + 1) * per), ((r - m.first[o]) * outC + o) * per);
  }
  return m.wInt8 ? { bases, wInt8: dst as Int8Array, wBits: null } : { bases, wInt8: null, wBits: dst as Uint32Array };
}

/**
 * The layer bound to a batch size and its buffers: quantize the input (unless the producer wrote
 * packed sign bits), the row convolution, then y = b + Σ rows·A per channel into `y`
 * ([pixels, outC] floats).
 *
 * With the backend's passes (the native addon) and at most 3× as many rows after padding, every
 * channel gets B = max I_c rows in basis-major order (padRows), so the whole layer is backend code:
 * the integer convolution with r·(B·A) + B·b written as floats (fused where the backend fuses it),
 * then the mean over the B basis outputs of each pixel and channel (`globalAveragePool` over
 * B "pixels"), which is their sum ×B/B. Otherwise the compact rows and a JavaScript loop for the sum.
 */
export function bindMultibit(m: MultibitLayer, quant: ActivationQuantizer, n: number, k: RuntimeKernels, x: Float32Array | Uint32Array, y: Float32Array): () => void {
  const g: ConvGeometry = { n, ...m.rowGeom };
  const rows = g.outC;
  const outC = m.first.length - 1;
  const pixels = n * g.outH * g.outW;
  const { first, scale, bias } = m;
  const ops = k.ops;
  const binary = m.kernel === 'binary';
  const inputBits = x instanceof Uint32Array;
  const xb = binary ? (inputBits ? x : new Uint32Array(n * g.h * g.w * wordsFor(g.c))) : null;
  const xi = binary ? null : new Int8Array(n * g.h * g.w * g.c);
  const quantize = () => {
    if (xi) quant.toInt8(x as Float32Array, xi, ops);
    else if (!inputBits) quant.toBits(x as Float32Array, xb!, ops);
  };
  let bases = 0;
  for (let o = 0; o < outC; o++) bases = Math.max(bases, first[o + 1] - first[o]);
  if (ops && bases > 0 && bases * outC <= 3 * rows) {
    const pad = (m.padded?.bases === bases ? m.padded : undefined) ?? (m.padded = padRows(m, bases));
    const gp: ConvGeometry = { ...g, outC: bases * outC };
    const a = new Float32Array(bases * outC);
    const b = new Float32Array(bases * outC);
    for (let o = 0; o < outC; o++) {
      for (let r = first[o]; r < first[o + 1]; r++) a[(r - first[o]) * outC + o] = scale[r] * bases;
      b[o] = bias[o] * bases;
    }
    const f = bases === 1 ? y : new Float32Array(pixels * bases * outC);
    const acc = new Int32Array(pixels * bases * outC);
    return () => {
      quantize();
      if (xi) {
        if (!ops.int8Conv2dAffine?.(xi, pad.wInt8!, gp, a, b, false, f)) { k.int8Conv2d(xi, pad.wInt8!, gp, acc); ops.affineInt(acc, a, b, false, f); }
      } else if (!ops.binaryConv2dAffine?.(xb!, pad.wBits!, gp, a, b, false, f)) {
        k.binaryConv2d(xb!, pad.wBits!, gp, acc);
        ops.affineInt(acc, a, b, false, f);
      }
      if (bases > 1) ops.globalAveragePool(f, pixels, bases, outC, y);
    };
  }
  const acc = new Int32Array(pixels * rows);
  const sum = () => {
    for (let p = 0; p < pixels; p++) {
      const r0 = p * rows;
      const y0 = p * outC;
      for (let o = 0; o < outC; o++) {
        let v = bias[o];
        const end = first[o + 1];
        for (let r = first[o]; r < end; r++) v += acc[r0 + r] * scale[r];
        y[y0 + o] = v;
      }
    }
  };
  return () => {
    quantize();
    if (xi) k.int8Conv2d(xi, m.wInt8!, g, acc);
    else k.binaryConv2d(xb!, m.wBits!, g, acc);
    sum();
  };
}
