/**
 * The bitwise runtime's kernel interface: what every kernel backend (plain JS reference, WebAssembly
 * SIMD, native addon) implements. All tensors are NHWC, row-major, in caller-owned typed arrays;
 * kernels write into `out` and allocate nothing per call (scratch space may be kept between calls).
 *
 * Binary operands are packed sign bits: bit j of word k of a pixel holds channel 32·k + j, bit = 1
 * means +1 and bit = 0 means −1; the unused high bits of the last word are 0 in both operands.
 * Padding positions of a binary convolution contribute 0 (as zero padding does in the TF.js model
 * the codes came from), so a kernel counts only in-image taps: per output, the result is
 * Σ_valid taps (c − 2·popcount(x XOR w)).
 */

/** Geometry of a 2-D convolution (also used by dense layers as a 1×1 convolution on a 1×1 image). */
export interface ConvGeometry {
  /** Batch, input height, width and (logical) channels. */
  n: number;
  h: number;
  w: number;
  c: number;
  /** Kernel height and width, strides, top/left padding (bottom/right follow from outH/outW). */
  kh: number;
  kw: number;
  strideH: number;
  strideW: number;
  padTop: number;
  padLeft: number;
  /** Output height, width and channels. */
  outH: number;
  outW: number;
  outC: number;
}

/** 32-bit words per pixel for `c` packed channels. */
export function wordsFor(c: number): number {
  return (c + 31) >>> 5;
}

export interface RuntimeKernels {
  /** Name shown in benchmarks and errors: 'js', 'wasm', 'native'. */
  readonly name: string;
  /**
   * Binary × binary convolution. `x`: [n, h, w, wordsFor(c)] packed input; `wgt`: [outC, kh, kw,
   * wordsFor(c)] packed weights; `out`: [n, outH, outW, outC] integer dot products of ±1 values.
   */
  binaryConv2d(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry, out: Int32Array): void;
  /**
   * Integer-code convolution: `x` [n, h, w, c] int8 activation codes, `wgt` [outC, kh, kw, c] int8
   * weight codes (both grids symmetric about 0 or already offset so that 0 is the padding value),
   * `out` [n, outH, outW, outC] int32 sums of products.
   */
  int8Conv2d(x: Int8Array, wgt: Int8Array, g: ConvGeometry, out: Int32Array): void;
  /**
   * Float convolution: `x` [n, h, w, c], `wgt` [outC, kh, kw, c] (note: output-channel major, not
   * TF.js's HWIO), `bias` [outC] or null, `out` [n, outH, outW, outC].
   */
  floatConv2d(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, out: Float32Array): void;
  /**
   * Float depthwise convolution, depth multiplier 1: `wgt` [kh, kw, c], `out` [n, outH, outW, c]
   * (`g.outC` = `g.c`).
   */
  floatDepthwiseConv2d(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, out: Float32Array): void;
}
