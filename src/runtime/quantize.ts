/**
 * Activation quantizers as the runtime applies them, from their grid read-out (QuantGrid, the
 * same read-out the ONNX exporter consumes): an optional per-channel offset (RSign's threshold),
 * then a sign (bipolar grids, sign(0) = +) or code = clip(round(x/s + z), lo, hi) with rounding
 * half to even (TF.js's and ONNX's Round). Three outputs: values on the grid (float kernels),
 * integer codes (int8 kernels), packed sign bits (binary kernels).
 */
import { codeRange, isBipolar, QuantGrid, UniformGrid } from '../quantizers/kind.js';
import { wordsFor } from './kernels.js';

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

  /** Values on the grid, as the TF.js model's quantizer outputs them. */
  toValues(x: Float32Array, out: Float32Array): void {
    const c = this.channels;
    if (this.bipolar) {
      for (let i = 0; i < x.length; i++) { const h = this.scales[i % c] / 2; out[i] = this.positive(x[i], i % c) ? h : -h; }
      return;
    }
    const zp = this.zeroPoint;
    for (let i = 0; i < x.length; i++) {
      const ch = i % c;
      const q = this.code(x[i], ch);
      out[i] = this.n && zp === 0 ? q / this.n : (q - zp) * this.scales[ch];
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

  /** x → int8 codes m·(code − z); the value is code·scale/m (padding 0 is the value 0). */
  toInt8(x: Float32Array, out: Int8Array): void {
    const c = this.channels;
    if (this.bipolar) {
      for (let i = 0; i < x.length; i++) out[i] = this.positive(x[i], i % c) ? 1 : -1;
      return;
    }
    const m = this.codeMultiplier;
    const zp = this.zeroPoint;
    for (let i = 0; i < x.length; i++) out[i] = m * (this.code(x[i], i % c) - zp);
  }

  /** x [pixels, channels] → packed sign bits [pixels, wordsFor(channels)] (bipolar grids). */
  toBits(x: Float32Array, out: Uint32Array): void {
    const c = this.channels;
    const words = wordsFor(c);
    const pixels = x.length / c;
    out.fill(0, 0, pixels * words);
    for (let p = 0; p < pixels; p++) {
      const xi = p * c;
      const wi = p * words;
      for (let ch = 0; ch < c; ch++) if (this.positive(x[xi + ch], ch)) out[wi + (ch >>> 5)] |= 1 << (ch & 31);
    }
  }
}

/** The runtime's quantizer for a grid read-out, or null for grids it cannot run (codebooks). */
export function activationQuantizer(grid: QuantGrid, channels: number): ActivationQuantizer | null {
  return grid.type === 'uniform' ? new ActivationQuantizer(grid, channels) : null;
}
