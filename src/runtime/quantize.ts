/**
 * Activation quantizers as the runtime applies them, from their grid read-out (QuantGrid, the
 * same read-out the ONNX exporter consumes): an optional per-channel offset (RSign's threshold),
 * then a sign (bipolar grids, sign(0) = +) or code = clip(round(x/s + z), lo, hi) with rounding
 * half to even (TF.js's and ONNX's Round). Three outputs: values on the grid (float kernels),
 * integer codes (int8 kernels), packed sign bits (binary kernels).
 */
import { codeRange, isBipolar, QuantGrid, UniformGrid } from '../quantizers/kind.js';
import { Int8CodeArgs, RuntimeOps, wordsFor } from './kernels.js';

/** Rounds half to even (tf.round, ONNX Round). */
export function roundHalfEven(u: number): number {
  const f = Math.floor(u);
  const d = u - f;
  if (d < 0.5) return f;
  if (d > 0.5) return f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** An activation quantizer ready to run on NHWC data with `channels` channels. */
export class ActivationQuantizer {
  readonly bipolar: boolean;
  readonly offset: Float32Array | null;
  /** One scale per channel (a scalar grid repeats its scale). */
  private readonly scales: Float32Array;
  readonly scalarScale: number | null;
  readonly zeroPoint: number;
  readonly lo: number;
  readonly hi: number;
  /** A step 1/n applied as ·n (as the exporter and TF.js's DoReFa do); 0 when the step is not such. */
  private readonly n: number;

  constructor(readonly grid: UniformGrid, readonly channels: number) {
    this.bipolar = isBipolar(grid);
    this.offset = grid.offset ?? null;
    const s = grid.scale;
    this.scalarScale = typeof s === 'number' ? s : null;
    this.scales = typeof s === 'number' ? new Float32Array(channels).fill(s) : s;
    this.zeroPoint = grid.zeroPoint;
    [this.lo, this.hi] = codeRange(grid);
    const n = typeof s === 'number' ? Math.round(1 / s) : 0;
    this.n = n > 0 && Math.abs(1 / (s as number) - n) < 1e-9 * n ? n : 0;
  }

  /** The code of x at channel c (uniform grids). */
  code(x: number, c: number): number {
    const v = this.offset ? Math.fround(x + this.offset[c]) : x;
    let u = this.n ? Math.fround(v * this.n) : Math.fround(v / this.scales[c]);
    if (this.zeroPoint !== 0) u = Math.fround(u + this.zeroPoint);
    const q = roundHalfEven(u);
    return q < this.lo ? this.lo : q > this.hi ? this.hi : q;
  }

  /** Whether x at channel c quantizes to the positive level (bipolar grids). */
  positive(x: number, c: number): boolean {
    return (this.offset ? Math.fround(x + this.offset[c]) : x) >= 0;
  }

  /**
   * Codes q of x [pixels, channels] (as `code`, element by element: the same float32 roundings),
   * written as `mode` 0: q / n, 1: (q − z)·scale[channel], 2: m·(q − z) — toValues' and toInt8's
   * loop, hoisted.
   */
  private codes(x: Float32Array, out: Float32Array | Int8Array, mode: 0 | 1 | 2, m: number, ops?: RuntimeOps): void {
    const c = this.channels;
    if (ops) { ops.quantize(x, c, this.offset, this.n, this.scales, this.zeroPoint, this.lo, this.hi, mode, m, out); return; }
    quantizeCodes(x, c, this.offset, this.n, this.scales, this.zeroPoint, this.lo, this.hi, mode, m, out);
  }

  /** Values on the grid, as the TF.js model's quantizer outputs them (`ops`: the backend's loop, same bits). */
  toValues(x: Float32Array, out: Float32Array, ops?: RuntimeOps): void {
    if (this.bipolar) {
      this.signs(x, out, this.scales, 0.5, ops);
      return;
    }
    this.codes(x, out, this.n !== 0 && this.zeroPoint === 0 ? 0 : 1, 0, ops);
  }

  /** Bipolar grids: the levels toValues writes, fround(0.5·scale[ch]) per channel (+ where x (+ offset) ≥ 0, − elsewhere). */
  valueLevels(): Float32Array {
    return Float32Array.from(this.scales, (s) => s * 0.5);
  }

  /** Bipolar grids: ±(factor·scale[ch]) (±factor without scales), + where x (+ offset) ≥ 0. */
  private signs(x: Float32Array, out: Float32Array | Int8Array, scales: Float32Array | null, factor: number, ops?: RuntimeOps): void {
    const c = this.channels;
    if (ops) { ops.signs(x, c, this.offset, scales, factor, out); return; }
    const off = this.offset;
    const len = x.length;
    for (let p = 0; p < len; p += c) {
      for (let ch = 0; ch < c; ch++) {
        const i = p + ch;
        const h = scales !== null ? scales[ch] * factor : factor;
        out[i] = (off !== null ? Math.fround(x[i] + off[ch]) : x[i]) >= 0 ? h : -h;
      }
    }
  }

  /**
   * The multiplier m making m·(code − zeroPoint) an integer (1, or 2 for half-integer zero points
   * such as the bipolar grid's ½), or 0 when none does; the value is then q·scale/m.
   */
  get codeMultiplier(): number {
    if (Number.isInteger(this.zeroPoint)) return 1;
    return Number.isInteger(2 * this.zeroPoint) ? 2 : 0;
  }

  /** Whether the integer codes m·(code − z) fit int8 with one scale for every channel. */
  get fitsInt8(): boolean {
    const m = this.codeMultiplier;
    return m > 0 && this.scalarScale != null && m * (this.lo - this.zeroPoint) >= -128 && m * (this.hi - this.zeroPoint) <= 127;
  }

  /**
   * The arguments toInt8 passes to `ops.quantize` (mode 2) on non-bipolar grids, for a backend
   * pass that writes the same codes itself (RuntimeOps.floatConv2dMaxPool).
   */
  get int8CodeArgs(): Int8CodeArgs {
    return { offset: this.offset, n: this.n, scales: this.scales, zp: this.zeroPoint, lo: this.lo, hi: this.hi, m: this.codeMultiplier };
  }

  /** x → int8 codes m·(code − z); the value is code·scale/m (padding 0 is the value 0). */
  toInt8(x: Float32Array, out: Int8Array, ops?: RuntimeOps): void {
    if (this.bipolar) {
      this.signs(x, out, null, 1, ops);
      return;
    }
    this.codes(x, out, 2, this.codeMultiplier, ops);
  }

  /** x [pixels, channels] → packed sign bits [pixels, wordsFor(channels)] (bipolar grids). */
  toBits(x: Float32Array, out: Uint32Array, ops?: RuntimeOps): void {
    const c = this.channels;
    if (ops) { ops.packSigns(x, c, this.offset, false, out); return; }
    const words = wordsFor(c);
    const pixels = x.length / c;
    const off = this.offset;
    for (let p = 0; p < pixels; p++) {
      const xi = p * c;
      const wi = p * words;
      for (let k = 0; k < words; k++) {
        const ch0 = k << 5;
        const ch1 = Math.min(c, ch0 + 32);
        let word = 0;
        if (off !== null) {
          for (let ch = ch0; ch < ch1; ch++) if (Math.fround(x[xi + ch] + off[ch]) >= 0) word |= 1 << (ch & 31);
        } else {
          for (let ch = ch0; ch < ch1; ch++) if (x[xi + ch] >= 0) word |= 1 << (ch & 31);
        }
        out[wi + k] = word;
      }
    }
  }
}

/** The runtime's quantizer for a grid read-out, or null for grids it cannot run (codebooks). */
export function activationQuantizer(grid: QuantGrid, channels: number): ActivationQuantizer | null {
  return grid.type === 'uniform' ? new ActivationQuantizer(grid, channels) : null;
}

/**
 * The codes loop of ActivationQuantizer (its `codes`): q = clip(roundHalfEven(fround(fround(x + off)·n
 * or /scale) + zp), lo, hi) per element of x [pixels, c], written as `mode` 0: q / n, 1: (q − zp)·scale,
 * 2: m·(q − zp). Also the wasm passes' fallback for arguments the module does not take.
 */
export function quantizeCodes(x: Float32Array, c: number, off: Float32Array | null, n: number, scales: Float32Array, zp: number, lo: number, hi: number,
  mode: 0 | 1 | 2, m: number, out: Float32Array | Int8Array): void {
  const len = x.length;
  for (let p = 0; p < len; p += c) {
    for (let ch = 0; ch < c; ch++) {
      const i = p + ch;
      const v = off !== null ? Math.fround(x[i] + off[ch]) : x[i];
      let u = n !== 0 ? Math.fround(v * n) : Math.fround(v / scales[ch]);
      if (zp !== 0) u = Math.fround(u + zp);
      // Round half to even (roundHalfEven, inlined), then clip.
      const f = Math.floor(u);
      const d = u - f;
      let q = d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
      q = q < lo ? lo : q > hi ? hi : q;
      out[i] = mode === 0 ? q / n : mode === 1 ? (q - zp) * scales[ch] : m * (q - zp);
    }
  }
}
