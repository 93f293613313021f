/**
 * The WebAssembly SIMD kernel backend of the bitwise runtime: `createWasmKernels()` instantiates the
 * kernels compiled from ./assembly/kernels.ts (embedded as base64 in kernels-wasm.generated.ts, so
 * nothing is fetched) and returns a `RuntimeKernels`. Browser-safe: no Node module or global.
 *
 * Memory: the module owns one linear memory. Each call lays out input, weights, bias, output and the
 * kernel's scratch space one after another from the module's heap base, grows the memory when a
 * call needs more (never shrinks it, so a model's largest layer sets the size once), copies the
 * caller's arrays in and the result out. Layout, kernels and numbers: docs/runtime-wasm.md.
 *
 * `ops` (RuntimeOps): the plan's elementwise passes and fused convolution + epilogue forms in the
 * module too (class WasmOps), each with the bits of the JavaScript loop it replaces.
 */
import type { ConvGeometry, Int8CodeArgs, PoolGeometry, RuntimeKernels, RuntimeOps } from '../kernels.js';
import { wordsFor } from '../kernels.js';
import { quantizeCodes } from '../quantize.js';
import { KERNELS_WASM_BASE64 } from './kernels-wasm.generated.js';

type Geometry12 = [number, number, number, number, number, number, number, number, number, number, number, number];
type Geometry13 = [...Geometry12, number];

interface KernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  binaryScratchBytes(c: number, kh: number, kw: number, outC: number): number;
  int8ScratchBytes(c: number, kh: number, kw: number, outC: number): number;
  floatScratchBytes(c: number, kh: number, kw: number, outC: number): number;
  /** Pointers (byte offsets), then n, h, w, c, kh, kw, strideH, strideW, padTop, padLeft, outH, outW, outC. */
  binaryConv2d(x: number, w: number, out: number, scratch: number, ...geometry: Geometry13): void;
  int8Conv2d(x: number, w: number, out: number, scratch: number, ...geometry: Geometry13): void;
  floatConv2d(x: number, w: number, bias: number, out: number, scratch: number, ...geometry: Geometry13): void;
  /** As above without outC (= c). */
  floatDepthwiseConv2d(x: number, w: number, bias: number, out: number, ...geometry: Geometry12): void;
  packSigns(x: number, c: number, offset: number, relu: boolean, out: number, pixels: number): void;
  /** res, alpha 0: absent (then affineInt). */
  affineResidual(acc: number, a: number, b: number, relu: boolean, res: number, alpha: number, out: number, pixels: number, c: number): void;
  residualPrelu(y: number, res: number, alpha: number, pixels: number, c: number): void;
  signValues(x: number, c: number, offset: number, levels: number, out: number, pixels: number): void;
  packThreshold(acc: number, sign: number, t: number, out: number, pixels: number, c: number): void;
  quantize(x: number, c: number, offset: number, n: number, scales: number, zp: number, lo: number, hi: number, mode: number, m: number, out: number, pixels: number): void;
  signBytes(x: number, c: number, offset: number, f: number, out: number, pixels: number): void;
  affine(buf: number, a: number, b: number, pixels: number, c: number): void;
  clamp(buf: number, hi: number, len: number): void;
  preluShift(buf: number, c: number, alpha: number, na: number, shiftIn: number, shiftOut: number, pixels: number): void;
  add(y: number, a: number, b: number, len: number): void;
  pool(x: number, out: number, isMax: boolean, ...geometry: Geometry12): void;
  globalAveragePool(x: number, n: number, hw: number, c: number, out: number): void;
  concatInto(x: number, c: number, y: number, total: number, at: number, pixels: number): void;
}

/**
 * The smallest module that uses a SIMD instruction (`v128.const` then `i32x4.extract_lane`): it
 * validates only where WebAssembly SIMD is supported.
 */
const SIMD_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 127, 3, 2, 1, 0, 10, 25, 1, 23, 0, 253, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
  0, 0, 0, 0, 253, 27, 0, 11,
]);

/**
 * Whether this JavaScript engine runs WebAssembly SIMD (every current browser and Node ≥ 16 do),
 * i.e. whether `createWasmKernels()` can succeed. Synchronous and cheap: it validates a 46-byte module.
 */
export function hasWasmSimd(): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(SIMD_PROBE);
  } catch {
    return false;
  }
}

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

let compiled: Promise<WebAssembly.Module> | null = null;

const align16 = (bytes: number) => (bytes + 15) & ~15;
const PAGE = 65536;

function checkLength(kernel: string, name: string, got: number, want: number): void {
  if (got !== want) throw new Error(`wasm ${kernel}: ${name} holds ${got} elements, the geometry needs ${want}`);
}

/** `RuntimeKernels` on one WebAssembly instance; one per thread (calls run synchronously). */
class WasmKernels implements RuntimeKernels {
  readonly name = 'wasm';
  private readonly base: number;
  /** Views of the whole memory, replaced when it grows (growing detaches the old buffer). */
  private u8!: Uint8Array;
  private i32!: Int32Array;
  private u32!: Uint32Array;
  private i8!: Int8Array;
  private f32!: Float32Array;
  /** The plan's passes in the module (undefined: createWasmKernels({ ops: false })). */
  readonly ops?: RuntimeOps;

  constructor(readonly k: KernelExports, withOps: boolean) {
    this.base = align16(k.heapBase());
    this.views();
    if (withOps) this.ops = new WasmOps(this);
  }

  private views(): void {
    const buf = this.k.memory.buffer;
    this.u8 = new Uint8Array(buf);
    this.i32 = new Int32Array(buf);
    this.u32 = new Uint32Array(buf);
    this.i8 = new Int8Array(buf);
    this.f32 = new Float32Array(buf);
  }

  /** The first byte a call may use. */
  get heap(): number {
    return this.base;
  }

  /** Makes the memory hold `end` bytes (whole 64 KiB pages, never shrunk). */
  reserve(end: number): void {
    const have = this.k.memory.buffer.byteLength;
    if (end > have) this.k.memory.grow(Math.ceil((end - have) / PAGE));
    if (this.u8.buffer !== this.k.memory.buffer) this.views();
  }

  put(src: ArrayBufferView, offset: number): void {
    this.u8.set(src.byteLength === src.buffer.byteLength ? new Uint8Array(src.buffer) : new Uint8Array(src.buffer, src.byteOffset, src.byteLength), offset);
  }

  /** Copies `out.length` elements at byte `offset` of the memory into `out` (one memcpy: the same element type). */
  getF32(offset: number, out: Float32Array): void {
    out.set(this.f32.subarray(offset >> 2, (offset >> 2) + out.length));
  }

  getU32(offset: number, out: Uint32Array): void {
    out.set(this.u32.subarray(offset >> 2, (offset >> 2) + out.length));
  }

  getI8(offset: number, out: Int8Array): void {
    out.set(this.i8.subarray(offset, offset + out.length));
  }

  getI32(offset: number, out: Int32Array): void {
    out.set(this.i32.subarray(offset >> 2, (offset >> 2) + out.length));
  }

  /** Lays out and runs binaryConv2d; returns the output's address (int32 sums, in the module) and the first free byte after the scratch. */
  convBinary(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry, kernel: string, extra = 0): { po: number; end: number } {
    const W = wordsFor(g.c);
    checkLength(kernel, 'x', x.length, g.n * g.h * g.w * W);
    checkLength(kernel, 'wgt', wgt.length, g.outC * g.kh * g.kw * W);
    const px = this.base, pw = align16(px + x.byteLength), po = align16(pw + wgt.byteLength), ps = align16(po + g.n * g.outH * g.outW * g.outC * 4);
    const end = align16(ps + this.k.binaryScratchBytes(g.c, g.kh, g.kw, g.outC));
    this.reserve(end + extra);
    this.put(x, px);
    this.put(wgt, pw);
    this.k.binaryConv2d(px, pw, po, ps, g.n, g.h, g.w, g.c, g.kh, g.kw, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW, g.outC);
    return { po, end };
  }

  /** As convBinary for int8Conv2d. */
  convInt8(x: Int8Array, wgt: Int8Array, g: ConvGeometry, kernel: string, extra = 0): { po: number; end: number } {
    checkLength(kernel, 'x', x.length, g.n * g.h * g.w * g.c);
    checkLength(kernel, 'wgt', wgt.length, g.outC * g.kh * g.kw * g.c);
    const px = this.base, pw = align16(px + x.byteLength), po = align16(pw + wgt.byteLength), ps = align16(po + g.n * g.outH * g.outW * g.outC * 4);
    const end = align16(ps + this.k.int8ScratchBytes(g.c, g.kh, g.kw, g.outC));
    this.reserve(end + extra);
    this.put(x, px);
    this.put(wgt, pw);
    this.k.int8Conv2d(px, pw, po, ps, g.n, g.h, g.w, g.c, g.kh, g.kw, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW, g.outC);
    return { po, end };
  }

  /** As convBinary for floatConv2d (float outputs). */
  convFloat(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, kernel: string, extra = 0): { po: number; end: number } {
    checkLength(kernel, 'x', x.length, g.n * g.h * g.w * g.c);
    checkLength(kernel, 'wgt', wgt.length, g.outC * g.kh * g.kw * g.c);
    if (bias) checkLength(kernel, 'bias', bias.length, g.outC);
    const px = this.base, pw = align16(px + x.byteLength), pb = align16(pw + wgt.byteLength);
    const po = align16(pb + (bias?.byteLength ?? 0)), ps = align16(po + g.n * g.outH * g.outW * g.outC * 4);
    const end = align16(ps + this.k.floatScratchBytes(g.c, g.kh, g.kw, g.outC));
    this.reserve(end + extra);
    this.put(x, px);
    this.put(wgt, pw);
    if (bias) this.put(bias, pb);
    this.k.floatConv2d(px, pw, bias ? pb : 0, po, ps, g.n, g.h, g.w, g.c, g.kh, g.kw, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW, g.outC);
    return { po, end };
  }

  binaryConv2d(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry, out: Int32Array): void {
    checkLength('binaryConv2d', 'out', out.length, g.n * g.outH * g.outW * g.outC);
    this.getI32(this.convBinary(x, wgt, g, 'binaryConv2d').po, out);
  }

  int8Conv2d(x: Int8Array, wgt: Int8Array, g: ConvGeometry, out: Int32Array): void {
    checkLength('int8Conv2d', 'out', out.length, g.n * g.outH * g.outW * g.outC);
    this.getI32(this.convInt8(x, wgt, g, 'int8Conv2d').po, out);
  }

  floatConv2d(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, out: Float32Array): void {
    checkLength('floatConv2d', 'out', out.length, g.n * g.outH * g.outW * g.outC);
    this.getF32(this.convFloat(x, wgt, bias, g, 'floatConv2d').po, out);
  }

  /** ActivationQuantizer.toBits's packing (RuntimeKernels.packSigns): bits of fround(x + offset) ≥ 0. */
  packSigns(x: Float32Array, c: number, offset: Float32Array | null, out: Uint32Array): void {
    const pixels = x.length / c;
    checkLength('packSigns', 'out', out.length, pixels * wordsFor(c));
    const px = this.base, po = align16(px + x.byteLength), pf = align16(po + out.byteLength);
    this.reserve(pf + (offset?.byteLength ?? 0));
    this.put(x, px);
    if (offset) this.put(offset, pf);
    this.k.packSigns(px, c, offset ? pf : 0, false, po, pixels);
    this.getU32(po, out);
  }

  /** In place, per channel: v ≥ 0 ? v : fround(alpha·v) (RuntimeKernels.prelu). */
  prelu(buf: Float32Array, c: number, alpha: Float32Array): void {
    checkLength('prelu', 'alpha', alpha.length, c);
    const py = this.base, pa = align16(py + buf.byteLength);
    this.reserve(pa + alpha.byteLength);
    this.put(buf, py);
    this.put(alpha, pa);
    this.k.residualPrelu(py, 0, pa, buf.length / c, c);
    this.getF32(py, buf);
  }

  /** ActivationQuantizer.toValues on bipolar grids (RuntimeKernels.signs): ±levels[ch] by the sign of x (+ offset). */
  signs(x: Float32Array, c: number, offset: Float32Array | null, levels: Float32Array, out: Float32Array): void {
    checkLength('signs', 'out', out.length, x.length);
    checkLength('signs', 'levels', levels.length, c);
    const px = this.base, po = align16(px + x.byteLength), pl = align16(po + out.byteLength), pf = align16(pl + levels.byteLength);
    this.reserve(pf + (offset?.byteLength ?? 0));
    this.put(x, px);
    this.put(levels, pl);
    if (offset) this.put(offset, pf);
    this.k.signValues(px, c, offset ? pf : 0, pl, po, x.length / c);
    this.getF32(po, out);
  }

  /** binaryConv2d, then affineInt, the residual Add and the PReLU in the module (RuntimeKernels.binaryConv2dAffineResidual). */
  binaryConv2dAffineResidual(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry, a: Float32Array, b: Float32Array, relu: boolean, res: Float32Array, alpha: Float32Array | null, out: Float32Array): boolean {
    const pixels = g.n * g.outH * g.outW;
    checkLength('binaryConv2dAffineResidual', 'out', out.length, pixels * g.outC);
    checkLength('binaryConv2dAffineResidual', 'res', res.length, pixels * g.outC);
    // The epilogue's operands go after the convolution's scratch space.
    const extra = align16(a.byteLength) + align16(b.byteLength) + align16(res.byteLength) + (alpha?.byteLength ?? 0);
    const { po, end } = this.convBinary(x, wgt, g, 'binaryConv2dAffineResidual', extra);
    const qa = end, qb = align16(qa + a.byteLength), qr = align16(qb + b.byteLength), qal = align16(qr + res.byteLength);
    this.put(a, qa);
    this.put(b, qb);
    this.put(res, qr);
    if (alpha) this.put(alpha, qal);
    this.k.affineResidual(po, qa, qb, relu, qr, alpha ? qal : 0, po, pixels, g.outC);
    this.getF32(po, out);
    return true;
  }

  /** floatDepthwiseConv2d (the same bits), then the residual Add and the PReLU in the module. */
  floatDepthwiseConv2dResidual(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, res: Float32Array, alpha: Float32Array | null, out: Float32Array): boolean {
    checkLength('floatDepthwiseConv2dResidual', 'x', x.length, g.n * g.h * g.w * g.c);
    checkLength('floatDepthwiseConv2dResidual', 'wgt', wgt.length, g.kh * g.kw * g.c);
    if (bias) checkLength('floatDepthwiseConv2dResidual', 'bias', bias.length, g.c);
    checkLength('floatDepthwiseConv2dResidual', 'out', out.length, g.n * g.outH * g.outW * g.c);
    checkLength('floatDepthwiseConv2dResidual', 'res', res.length, out.length);
    const px = this.base, pw = align16(px + x.byteLength), pb = align16(pw + wgt.byteLength), po = align16(pb + (bias?.byteLength ?? 0));
    const pr = align16(po + out.byteLength), pal = align16(pr + res.byteLength);
    this.reserve(pal + (alpha?.byteLength ?? 0));
    this.put(x, px);
    this.put(wgt, pw);
    if (bias) this.put(bias, pb);
    this.put(res, pr);
    if (alpha) this.put(alpha, pal);
    this.k.floatDepthwiseConv2d(px, pw, bias ? pb : 0, po, g.n, g.h, g.w, g.c, g.kh, g.kw, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW);
    this.k.residualPrelu(po, pr, alpha ? pal : 0, g.n * g.outH * g.outW, g.c);
    this.getF32(po, out);
    return true;
  }

  floatDepthwiseConv2d(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, out: Float32Array): void {
    checkLength('floatDepthwiseConv2d', 'x', x.length, g.n * g.h * g.w * g.c);
    checkLength('floatDepthwiseConv2d', 'wgt', wgt.length, g.kh * g.kw * g.c);
    if (bias) checkLength('floatDepthwiseConv2d', 'bias', bias.length, g.c);
    checkLength('floatDepthwiseConv2d', 'out', out.length, g.n * g.outH * g.outW * g.c);
    const px = this.base, pw = align16(px + x.byteLength), pb = align16(pw + wgt.byteLength), po = align16(pb + (bias?.byteLength ?? 0));
    this.reserve(po + out.byteLength);
    this.put(x, px);
    this.put(wgt, pw);
    if (bias) this.put(bias, pb);
    this.k.floatDepthwiseConv2d(px, pw, bias ? pb : 0, po, g.n, g.h, g.w, g.c, g.kh, g.kw, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW);
    this.getF32(po, out);
  }
}

const f32Exact = (v: number) => Math.fround(v) === v;

/**
 * Whether the module's `quantize` gives ActivationQuantizer's bits for these arguments: its f32
 * lanes need n, zp, lo, hi exact in float32, and int8 codes (mode 2) exact integers m·(q − zp) in
 * −128 … 127 for every q in [lo, hi] (true for every ActivationQuantizer with fitsInt8).
 */
function quantizeInModule(n: number, zp: number, lo: number, hi: number, mode: 0 | 1 | 2, m: number, out: Float32Array | Int8Array): boolean {
  if (!f32Exact(n) || !f32Exact(zp) || !f32Exact(lo) || !f32Exact(hi) || !(lo <= hi)) return false;
  if (mode === 0 && n === 0) return false;
  if (mode !== 2) return out instanceof Float32Array;
  const a = m * (lo - zp), b = m * (hi - zp);
  return out instanceof Int8Array && Number.isInteger(m) && Math.abs(m) <= 65536 && Number.isInteger(m * zp) && Math.min(a, b) >= -128 && Math.max(a, b) <= 127;
}

/**
 * RuntimeOps in the module: each pass copies its operands in, runs one AssemblyScript loop
 * (assembly/kernels.ts) and copies the result out; the fused forms run the convolution and its
 * epilogue back to back in the module, so the convolution's result never leaves it. Same bits as
 * the plan's JavaScript loops (test/runtime-wasm-ops.test.ts); arguments outside what the module's
 * lanes reproduce exactly (quantize, signs, prelu: see each) run the JavaScript loop instead.
 */
class WasmOps implements RuntimeOps {
  /** signs' per-channel levels (grown as needed). */
  private levels = new Float32Array(0);

  constructor(private readonly m: WasmKernels) {}

  affineInt(acc: Int32Array, a: Float32Array, b: Float32Array, relu: boolean, out: Float32Array): void {
    const c = a.length;
    checkLength('affineInt', 'b', b.length, c);
    checkLength('affineInt', 'out', out.length, acc.length);
    const m = this.m, pacc = m.heap, pa = align16(pacc + acc.byteLength), pb = align16(pa + a.byteLength);
    m.reserve(pb + b.byteLength);
    m.put(acc, pacc);
    m.put(a, pa);
    m.put(b, pb);
    // In place: each lane's sum is read before its float is stored.
    m.k.affineResidual(pacc, pa, pb, relu, 0, 0, pacc, acc.length / c, c);
    m.getF32(pacc, out);
  }

  packThreshold(acc: Int32Array, sign: Int32Array, t: Int32Array, out: Uint32Array): void {
    const c = sign.length;
    const pixels = acc.length / c;
    checkLength('packThreshold', 't', t.length, c);
    checkLength('packThreshold', 'out', out.length, pixels * wordsFor(c));
    const m = this.m, pacc = m.heap, ps = align16(pacc + acc.byteLength), pt = align16(ps + sign.byteLength), po = align16(pt + t.byteLength);
    m.reserve(po + out.byteLength);
    m.put(acc, pacc);
    m.put(sign, ps);
    m.put(t, pt);
    m.k.packThreshold(pacc, ps, pt, po, pixels, c);
    m.getU32(po, out);
  }

  binaryConv2dThreshold(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry, sign: Int32Array, t: Int32Array, out: Uint32Array): boolean {
    const pixels = g.n * g.outH * g.outW;
    checkLength('binaryConv2dThreshold', 'sign', sign.length, g.outC);
    checkLength('binaryConv2dThreshold', 't', t.length, g.outC);
    checkLength('binaryConv2dThreshold', 'out', out.length, pixels * wordsFor(g.outC));
    const m = this.m;
    const { po, end } = m.convBinary(x, wgt, g, 'binaryConv2dThreshold', align16(sign.byteLength) + align16(t.byteLength) + out.byteLength);
    const ps = end, pt = align16(ps + sign.byteLength), pout = align16(pt + t.byteLength);
    m.put(sign, ps);
    m.put(t, pt);
    m.k.packThreshold(po, ps, pt, pout, pixels, g.outC);
    m.getU32(pout, out);
    return true;
  }

  binaryConv2dAffine(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry, a: Float32Array, b: Float32Array, relu: boolean, out: Float32Array): boolean {
    return this.convAffine('binaryConv2dAffine', g, a, b, relu, out, (extra) => this.m.convBinary(x, wgt, g, 'binaryConv2dAffine', extra));
  }

  /** A convolution (`conv`, leaving room for `extra` bytes after its int32 result) then affineInt in the module. */
  private convAffine(kernel: string, g: ConvGeometry, a: Float32Array, b: Float32Array, relu: boolean, out: Float32Array,
    conv: (extra: number) => { po: number; end: number }): boolean {
    const pixels = g.n * g.outH * g.outW;
    checkLength(kernel, 'a', a.length, g.outC);
    checkLength(kernel, 'b', b.length, g.outC);
    checkLength(kernel, 'out', out.length, pixels * g.outC);
    const m = this.m;
    const { po, end } = conv(align16(a.byteLength) + b.byteLength);
    const pa = end, pb = align16(pa + a.byteLength);
    m.put(a, pa);
    m.put(b, pb);
    m.k.affineResidual(po, pa, pb, relu, 0, 0, po, pixels, g.outC);
    m.getF32(po, out);
    return true;
  }

  // The kernels' own fused residual forms, looked up on the kernels object at each call.
  binaryConv2dAffineResidual(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry, a: Float32Array, b: Float32Array, relu: boolean, res: Float32Array, alpha: Float32Array | null, out: Float32Array): boolean {
    return this.m.binaryConv2dAffineResidual(x, wgt, g, a, b, relu, res, alpha, out);
  }

  floatDepthwiseConv2dResidual(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, res: Float32Array, alpha: Float32Array | null, out: Float32Array): boolean {
    return this.m.floatDepthwiseConv2dResidual(x, wgt, bias, g, res, alpha, out);
  }

  int8Conv2dAffine(x: Int8Array, wgt: Int8Array, g: ConvGeometry, a: Float32Array, b: Float32Array, relu: boolean, out: Float32Array): boolean {
    return this.convAffine('int8Conv2dAffine', g, a, b, relu, out, (extra) => this.m.convInt8(x, wgt, g, 'int8Conv2dAffine', extra));
  }

  floatConv2dSigns(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, relu: boolean, offset: Float32Array | null, _scratch: Float32Array, out: Uint32Array): boolean {
    const pixels = g.n * g.outH * g.outW;
    if (offset) checkLength('floatConv2dSigns', 'offset', offset.length, g.outC);
    checkLength('floatConv2dSigns', 'out', out.length, pixels * wordsFor(g.outC));
    const m = this.m;
    const { po, end } = m.convFloat(x, wgt, bias, g, 'floatConv2dSigns', align16(offset?.byteLength ?? 0) + out.byteLength);
    const pf = end, pout = align16(pf + (offset?.byteLength ?? 0));
    if (offset) m.put(offset, pf);
    m.k.packSigns(po, g.outC, offset ? pf : 0, relu, pout, pixels);
    m.getU32(pout, out);
    return true;
  }

  floatConv2dRelu(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, out: Float32Array): boolean {
    checkLength('floatConv2dRelu', 'out', out.length, g.n * g.outH * g.outW * g.outC);
    const m = this.m;
    const { po } = m.convFloat(x, wgt, bias, g, 'floatConv2dRelu');
    m.k.clamp(po, Infinity, out.length);
    m.getF32(po, out);
    return true;
  }

  /** The convolution's output stays in the module; false (nothing written) for int8 codes the module's quantize does not reproduce. */
  floatConv2dMaxPool(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, relu: boolean, pg: PoolGeometry, codes: Int8CodeArgs | null, out: Float32Array | Int8Array): boolean {
    if (pg.n !== g.n || pg.h !== g.outH || pg.w !== g.outW || pg.c !== g.outC || pg.outC !== g.outC) return false;
    if (codes ? !quantizeInModule(codes.n, codes.zp, codes.lo, codes.hi, 2, codes.m, out) : !(out instanceof Float32Array)) return false;
    const pooled = pg.n * pg.outH * pg.outW * pg.c;
    checkLength('floatConv2dMaxPool', 'out', out.length, pooled);
    if (codes) {
      checkLength('floatConv2dMaxPool', 'scales', codes.scales.length, pg.c);
      if (codes.offset) checkLength('floatConv2dMaxPool', 'offset', codes.offset.length, pg.c);
    }
    const m = this.m;
    const extra = align16(pooled * 4) + (codes ? align16(codes.scales.byteLength) + align16(codes.offset?.byteLength ?? 0) + pooled : 0);
    const { po, end } = m.convFloat(x, wgt, bias, g, 'floatConv2dMaxPool', extra);
    if (relu) m.k.clamp(po, Infinity, g.n * g.outH * g.outW * g.outC);
    const pp = end;
    m.k.pool(po, pp, true, pg.n, pg.h, pg.w, pg.c, pg.kh, pg.kw, pg.strideH, pg.strideW, pg.padTop, pg.padLeft, pg.outH, pg.outW);
    if (!codes) {
      m.getF32(pp, out as Float32Array);
      return true;
    }
    const ps = align16(pp + pooled * 4), pf = align16(ps + codes.scales.byteLength), pq = align16(pf + (codes.offset?.byteLength ?? 0));
    m.put(codes.scales, ps);
    if (codes.offset) m.put(codes.offset, pf);
    m.k.quantize(pp, pg.c, codes.offset ? pf : 0, codes.n, ps, codes.zp, codes.lo, codes.hi, 2, codes.m, pq, pooled / pg.c);
    m.getI8(pq, out as Int8Array);
    return true;
  }

  packSigns(x: Float32Array, c: number, offset: Float32Array | null, relu: boolean, out: Uint32Array): void {
    const pixels = x.length / c;
    checkLength('packSigns', 'out', out.length, pixels * wordsFor(c));
    if (offset) checkLength('packSigns', 'offset', offset.length, c);
    const m = this.m, px = m.heap, pf = align16(px + x.byteLength), po = align16(pf + (offset?.byteLength ?? 0));
    m.reserve(po + out.byteLength);
    m.put(x, px);
    if (offset) m.put(offset, pf);
    m.k.packSigns(px, c, offset ? pf : 0, relu, po, pixels);
    m.getU32(po, out);
  }

  quantize(x: Float32Array, c: number, offset: Float32Array | null, n: number, scales: Float32Array, zp: number, lo: number, hi: number, mode: 0 | 1 | 2, mult: number, out: Float32Array | Int8Array): void {
    checkLength('quantize', 'out', out.length, x.length);
    if (!quantizeInModule(n, zp, lo, hi, mode, mult, out) || x.length % c !== 0 || scales.length < c) {
      quantizeCodes(x, c, offset, n, scales, zp, lo, hi, mode, mult, out);
      return;
    }
    const m = this.m, px = m.heap, ps = align16(px + x.byteLength), pf = align16(ps + c * 4), po = align16(pf + (offset ? c * 4 : 0));
    m.reserve(po + out.byteLength);
    m.put(x, px);
    m.put(scales.length === c ? scales : scales.subarray(0, c), ps);
    if (offset) m.put(offset.length === c ? offset : offset.subarray(0, c), pf);
    m.k.quantize(px, c, offset ? pf : 0, n, ps, zp, lo, hi, mode, mult, po, x.length / c);
    if (mode === 2) m.getI8(po, out as Int8Array);
    else m.getF32(po, out as Float32Array);
  }

  /**
   * Float outputs: levels fround(factor·scale[ch]) made here, the signs in the module (signValues);
   * int8 outputs without scales: ±factor bytes (integer |factor| ≤ 127); else the JavaScript loop.
   */
  signs(x: Float32Array, c: number, offset: Float32Array | null, scales: Float32Array | null, factor: number, out: Float32Array | Int8Array): void {
    checkLength('signs', 'out', out.length, x.length);
    const m = this.m;
    if (out instanceof Float32Array) {
      if (this.levels.length !== c) this.levels = new Float32Array(c);
      const levels = this.levels;
      for (let ch = 0; ch < c; ch++) levels[ch] = scales !== null ? scales[ch] * factor : factor;
      m.signs(x, c, offset, levels, out);
      return;
    }
    if (scales === null && Number.isInteger(factor) && Math.abs(factor) <= 127) {
      const px = m.heap, pf = align16(px + x.byteLength), po = align16(pf + (offset?.byteLength ?? 0));
      m.reserve(po + out.byteLength);
      m.put(x, px);
      if (offset) m.put(offset, pf);
      m.k.signBytes(px, c, offset ? pf : 0, factor, po, x.length / c);
      m.getI8(po, out);
      return;
    }
    for (let i = 0; i < x.length; i++) {
      const ch = i % c;
      const h = scales !== null ? scales[ch] * factor : factor;
      out[i] = (offset !== null ? Math.fround(x[i] + offset[ch]) : x[i]) >= 0 ? h : -h;
    }
  }

  affine(buf: Float32Array, a: Float32Array, b: Float32Array): void {
    const c = a.length;
    checkLength('affine', 'b', b.length, c);
    const m = this.m, py = m.heap, pa = align16(py + buf.byteLength), pb = align16(pa + a.byteLength);
    m.reserve(pb + b.byteLength);
    m.put(buf, py);
    m.put(a, pa);
    m.put(b, pb);
    m.k.affine(py, pa, pb, buf.length / c, c);
    m.getF32(py, buf);
  }

  clamp(buf: Float32Array, max: number): void {
    const m = this.m, py = m.heap;
    m.reserve(py + buf.byteLength);
    m.put(buf, py);
    // v > max ? max : v with float32 v: comparing with fround(max) picks the same values.
    m.k.clamp(py, Math.fround(max), buf.length);
    m.getF32(py, buf);
  }

  /** Per-channel alpha without shifts: residualPrelu's f32 lanes; shifts or per-element alpha (a multiple of c): preluShift's doubles; else the JavaScript loop. */
  prelu(buf: Float32Array, c: number, alpha: Float32Array, shiftIn: Float32Array | null, shiftOut: Float32Array | null): void {
    const na = alpha.length;
    if (na % c !== 0 || buf.length % c !== 0) {
      for (let i = 0; i < buf.length; i += c) {
        for (let ch = 0; ch < c; ch++) {
          const v = shiftIn ? buf[i + ch] - shiftIn[ch] : buf[i + ch];
          const y = v >= 0 ? v : alpha[na === c ? ch : (i + ch) % na] * v;
          buf[i + ch] = shiftOut ? y + shiftOut[ch] : y;
        }
      }
      return;
    }
    const m = this.m, py = m.heap, pa = align16(py + buf.byteLength), pi = align16(pa + alpha.byteLength), po = align16(pi + (shiftIn ? c * 4 : 0));
    m.reserve(po + (shiftOut ? c * 4 : 0));
    m.put(buf, py);
    m.put(alpha, pa);
    if (shiftIn) m.put(shiftIn.subarray(0, c), pi);
    if (shiftOut) m.put(shiftOut.subarray(0, c), po);
    if (na === c && !shiftIn && !shiftOut) m.k.residualPrelu(py, 0, pa, buf.length / c, c);
    else m.k.preluShift(py, c, pa, na, shiftIn ? pi : 0, shiftOut ? po : 0, buf.length / c);
    m.getF32(py, buf);
  }

  addInto(y: Float32Array, x: Float32Array): void {
    checkLength('addInto', 'x', x.length, y.length);
    const m = this.m, py = m.heap, px = align16(py + y.byteLength);
    m.reserve(px + x.byteLength);
    m.put(y, py);
    m.put(x, px);
    m.k.add(py, py, px, y.length);
    m.getF32(py, y);
  }

  add(y: Float32Array, a: Float32Array, b: Float32Array): void {
    checkLength('add', 'a', a.length, y.length);
    checkLength('add', 'b', b.length, y.length);
    const m = this.m, pa = m.heap, pb = align16(pa + a.byteLength);
    m.reserve(pb + b.byteLength);
    m.put(a, pa);
    m.put(b, pb);
    m.k.add(pa, pa, pb, y.length);
    m.getF32(pa, y);
  }

  pool(x: Float32Array, g: PoolGeometry, max: boolean, out: Float32Array): void {
    checkLength('pool', 'x', x.length, g.n * g.h * g.w * g.c);
    checkLength('pool', 'out', out.length, g.n * g.outH * g.outW * g.c);
    const m = this.m, px = m.heap, po = align16(px + x.byteLength);
    m.reserve(po + out.byteLength);
    m.put(x, px);
    m.k.pool(px, po, max, g.n, g.h, g.w, g.c, g.kh, g.kw, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW);
    m.getF32(po, out);
  }

  globalAveragePool(x: Float32Array, n: number, hw: number, c: number, out: Float32Array): void {
    checkLength('globalAveragePool', 'x', x.length, n * hw * c);
    checkLength('globalAveragePool', 'out', out.length, n * c);
    const m = this.m, px = m.heap, po = align16(px + x.byteLength);
    m.reserve(po + out.byteLength);
    m.put(x, px);
    m.k.globalAveragePool(px, n, hw, c, po);
    m.getF32(po, out);
  }

  concatInto(x: Float32Array, c: number, y: Float32Array, total: number, at: number): void {
    const pixels = y.length / total;
    checkLength('concatInto', 'x', x.length, pixels * c);
    const m = this.m, py = m.heap, px = align16(py + y.byteLength);
    m.reserve(px + x.byteLength);
    m.put(y, py);
    m.put(x, px);
    m.k.concatInto(px, c, py, total, at, pixels);
    m.getF32(py, y);
  }
}

/**
 * The WebAssembly SIMD kernels (`name` 'wasm'). The module is compiled once per process or page and
 * each call gets its own instance and memory. Rejects where WebAssembly SIMD is missing: check
 * `hasWasmSimd()` first to fall back to the JS kernels. `ops: false` leaves out `ops` (RuntimeOps):
 * the plan then runs its passes as JavaScript loops (the same values; for comparisons and A/B runs).
 */
export async function createWasmKernels(options: { ops?: boolean } = {}): Promise<RuntimeKernels> {
  if (!hasWasmSimd()) throw new Error('this JavaScript engine has no WebAssembly SIMD: use the JS kernels');
  compiled ??= WebAssembly.compile(decodeBase64(KERNELS_WASM_BASE64));
  const instance = await WebAssembly.instantiate(await compiled, {});
  return new WasmKernels(instance.exports as unknown as KernelExports, options.ops ?? true);
}
