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
  /**
   * Optional, for backends without `ops` (wasm): RuntimeOps.binaryConv2dAffineResidual and
   * floatDepthwiseConv2dResidual (the same values), and ActivationQuantizer.toBits's packing
   * (RuntimeOps.packSigns without the ReLU).
   */
  binaryConv2dAffineResidual?: RuntimeOps['binaryConv2dAffineResidual'];
  floatDepthwiseConv2dResidual?: RuntimeOps['floatDepthwiseConv2dResidual'];
  packSigns?(x: Float32Array, c: number, offset: Float32Array | null, out: Uint32Array): void;
  /** A PReLU stage with one alpha per channel and no shifts, in place: v ≥ 0 ? v : fround(alpha·v). */
  prelu?(buf: Float32Array, c: number, alpha: Float32Array): void;
  /** ActivationQuantizer.toValues on bipolar grids: out = fround(x + offset[ch]) ≥ 0 ? levels[ch] : −levels[ch] (x ≥ 0 without offset). */
  signs?(x: Float32Array, c: number, offset: Float32Array | null, levels: Float32Array, out: Float32Array): void;
  /**
   * Optional: the plan's elementwise passes (quantizing, packing, epilogues, pooling, Add,
   * Concatenate) as backend code. Where absent the plan runs its own JavaScript loops; where
   * present each must give the same bits as that loop (src/runtime/plan.ts).
   */
  readonly ops?: RuntimeOps;
}

/** Geometry of a pooling window as a convolution's ([n, h, w, c, kh, kw, …] with outC = c). */
export type PoolGeometry = ConvGeometry;

/** `quantize`'s arguments for int8 codes m·(q − zp) (mode 2; ActivationQuantizer.int8CodeArgs). */
export interface Int8CodeArgs {
  offset: Float32Array | null;
  n: number;
  scales: Float32Array;
  zp: number;
  lo: number;
  hi: number;
  m: number;
}

/**
 * The plan's elementwise passes. Per-channel arrays have `c` entries; tensors are [pixels, c]
 * NHWC; packed bits are [pixels, wordsFor(c)] (kernels.ts). Each computes what the JavaScript
 * loop in plan.ts / quantize.ts computes, including its float32 roundings.
 */
export interface RuntimeOps {
  /** out = fround(acc·a[o] + b[o]) (c = a.length), then 0 where negative when `relu`. */
  affineInt(acc: Int32Array, a: Float32Array, b: Float32Array, relu: boolean, out: Float32Array): void;
  /** Packed bits of sign[o]·acc > t[o] (c = sign.length). */
  packThreshold(acc: Int32Array, sign: Int32Array, t: Int32Array, out: Uint32Array): void;
  /**
   * Optional fused forms (false: not done here, nothing written; the plan then runs the kernel and
   * the pass): binaryConv2d then packThreshold, with no int32 result in between.
   */
  binaryConv2dThreshold?(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry, sign: Int32Array, t: Int32Array, out: Uint32Array): boolean;
  /** binaryConv2d then affineInt, with no int32 result in between. */
  binaryConv2dAffine?(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry, a: Float32Array, b: Float32Array, relu: boolean, out: Float32Array): boolean;
  /**
   * binaryConv2d, affineInt, then a residual Add (`res`, the output's shape: out = fround(out + res))
   * and, with `alpha` (one per output channel), a PReLU (v ≥ 0 ? v : fround(alpha·v)) — one pass.
   */
  binaryConv2dAffineResidual?(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry, a: Float32Array, b: Float32Array, relu: boolean, res: Float32Array, alpha: Float32Array | null, out: Float32Array): boolean;
  /** floatDepthwiseConv2d (the same bits), then the residual Add and PReLU as binaryConv2dAffineResidual. */
  floatDepthwiseConv2dResidual?(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, res: Float32Array, alpha: Float32Array | null, out: Float32Array): boolean;
  /** int8Conv2d then affineInt. */
  int8Conv2dAffine?(x: Int8Array, wgt: Int8Array, g: ConvGeometry, a: Float32Array, b: Float32Array, relu: boolean, out: Float32Array): boolean;
  /** floatConv2d then packSigns (`scratch`: a float output buffer the kernel may use). */
  floatConv2dSigns?(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, relu: boolean, offset: Float32Array | null, scratch: Float32Array, out: Uint32Array): boolean;
  /** floatConv2d then a ReLU (v < 0 → 0) on its output. */
  floatConv2dRelu?(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, out: Float32Array): boolean;
  /**
   * floatConv2d, a ReLU when `relu` (floatConv2dRelu), max pooling `pg` of the result (`pg.h`,
   * `pg.w`, `pg.c` = `g.outH`, `g.outW`, `g.outC`), and with `codes` the next layer's int8 codes of
   * the pooled values (`quantize` mode 2 with these arguments) — one pass that never holds the
   * whole convolution output. `out`: the pooled floats, or the codes.
   */
  floatConv2dMaxPool?(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, relu: boolean, pg: PoolGeometry, codes: Int8CodeArgs | null, out: Float32Array | Int8Array): boolean;
  /** Packed bits of fround((relu ? max(x, 0) : x) + offset[o]) ≥ 0 (no offset: x ≥ 0). */
  packSigns(x: Float32Array, c: number, offset: Float32Array | null, relu: boolean, out: Uint32Array): void;
  /**
   * Uniform-grid codes q = clip(roundHalfEven(fround(fround(x + offset)·n or /scale) + zp), lo, hi)
   * written as mode 0: q/n, 1: (q − zp)·scale, 2: int8 m·(q − zp) (ActivationQuantizer).
   */
  quantize(x: Float32Array, c: number, offset: Float32Array | null, n: number, scales: Float32Array, zp: number, lo: number, hi: number, mode: 0 | 1 | 2, m: number, out: Float32Array | Int8Array): void;
  /** ±(factor·scale[ch]) (±factor without scales), + where fround(x + offset) ≥ 0. */
  signs(x: Float32Array, c: number, offset: Float32Array | null, scales: Float32Array | null, factor: number, out: Float32Array | Int8Array): void;
  /** In place, per channel: buf = fround(buf·a + b). */
  affine(buf: Float32Array, a: Float32Array, b: Float32Array): void;
  /** In place: below 0 → 0, above max → max. */
  clamp(buf: Float32Array, max: number): void;
  /** In place: (PReLU / RPReLU) v = buf − shiftIn, v ≥ 0 ? v : alpha·v, + shiftOut; alpha per channel or per element (alpha.length ≠ c). */
  prelu(buf: Float32Array, c: number, alpha: Float32Array, shiftIn: Float32Array | null, shiftOut: Float32Array | null): void;
  /** y += x (float32 sums). */
  addInto(y: Float32Array, x: Float32Array): void;
  /** y = a + b (float32 sums). */
  add(y: Float32Array, a: Float32Array, b: Float32Array): void;
  /** Max or average pooling over each window's in-image taps (`g.outC` = `g.c`). */
  pool(x: Float32Array, g: PoolGeometry, max: boolean, out: Float32Array): void;
  /** Mean over the hw pixels of each image: float32 sums, then / hw. */
  globalAveragePool(x: Float32Array, n: number, hw: number, c: number, out: Float32Array): void;
  /** Copies x's c channels per pixel to channels at … at + c − 1 of y (total channels per pixel). */
  concatInto(x: Float32Array, c: number, y: Float32Array, total: number, at: number): void;
}
