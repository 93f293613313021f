/**
 * The WebAssembly SIMD kernel backend of the bitwise runtime: `createWasmKernels()` instantiates the
 * kernels compiled from ./assembly/kernels.ts (embedded as base64 in kernels-wasm.generated.ts, so
 * nothing is fetched) and returns a `RuntimeKernels`. Browser-safe: no Node module or global.
 *
 * Memory: the module owns one linear memory. Each call lays out input, weights, bias, output and the
 * kernel's scratch space one after another from the module's heap base, grows the memory when a
 * call needs more (never shrinks it, so a model's largest layer sets the size once), copies the
 * caller's arrays in and the result out. Layout, kernels and numbers: docs/runtime-wasm.md.
 */
import type { ConvGeometry, RuntimeKernels } from '../kernels.js';
import { wordsFor } from '../kernels.js';
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
  packSigns(x: number, c: number, offset: number, out: number, pixels: number): void;
  affineResidual(acc: number, a: number, b: number, relu: boolean, res: number, alpha: number, out: number, pixels: number, c: number): void;
  residualPrelu(y: number, res: number, alpha: number, pixels: number, c: number): void;
  signValues(x: number, c: number, offset: number, levels: number, out: number, pixels: number): void;
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
  private f32!: Float32Array;

  constructor(private readonly k: KernelExports) {
    this.base = align16(k.heapBase());
    this.views();
  }

  private views(): void {
    const buf = this.k.memory.buffer;
    this.u8 = new Uint8Array(buf);
    this.i32 = new Int32Array(buf);
    this.f32 = new Float32Array(buf);
  }

  /** Makes the memory hold `end` bytes (whole 64 KiB pages, never shrunk). */
  private reserve(end: number): void {
    const have = this.k.memory.buffer.byteLength;
    if (end > have) this.k.memory.grow(Math.ceil((end - have) / PAGE));
    if (this.u8.buffer !== this.k.memory.buffer) this.views();
  }

  private put(src: ArrayBufferView, offset: number): void {
    this.u8.set(src.byteLength === src.buffer.byteLength ? new Uint8Array(src.buffer) : new Uint8Array(src.buffer, src.byteOffset, src.byteLength), offset);
  }

  binaryConv2d(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry, out: Int32Array): void {
    const W = wordsFor(g.c);
    checkLength('binaryConv2d', 'x', x.length, g.n * g.h * g.w * W);
    checkLength('binaryConv2d', 'wgt', wgt.length, g.outC * g.kh * g.kw * W);
    checkLength('binaryConv2d', 'out', out.length, g.n * g.outH * g.outW * g.outC);
    const px = this.base, pw = align16(px + x.byteLength), po = align16(pw + wgt.byteLength), ps = align16(po + out.byteLength);
    this.reserve(ps + this.k.binaryScratchBytes(g.c, g.kh, g.kw, g.outC));
    this.put(x, px);
    this.put(wgt, pw);
    this.k.binaryConv2d(px, pw, po, ps, g.n, g.h, g.w, g.c, g.kh, g.kw, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW, g.outC);
    out.set(this.i32.subarray(po >> 2, (po >> 2) + out.length));
  }

  int8Conv2d(x: Int8Array, wgt: Int8Array, g: ConvGeometry, out: Int32Array): void {
    checkLength('int8Conv2d', 'x', x.length, g.n * g.h * g.w * g.c);
    checkLength('int8Conv2d', 'wgt', wgt.length, g.outC * g.kh * g.kw * g.c);
    checkLength('int8Conv2d', 'out', out.length, g.n * g.outH * g.outW * g.outC);
    const px = this.base, pw = align16(px + x.byteLength), po = align16(pw + wgt.byteLength), ps = align16(po + out.byteLength);
    this.reserve(ps + this.k.int8ScratchBytes(g.c, g.kh, g.kw, g.outC));
    this.put(x, px);
    this.put(wgt, pw);
    this.k.int8Conv2d(px, pw, po, ps, g.n, g.h, g.w, g.c, g.kh, g.kw, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW, g.outC);
    out.set(this.i32.subarray(po >> 2, (po >> 2) + out.length));
  }

  floatConv2d(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, out: Float32Array): void {
    checkLength('floatConv2d', 'x', x.length, g.n * g.h * g.w * g.c);
    checkLength('floatConv2d', 'wgt', wgt.length, g.outC * g.kh * g.kw * g.c);
    if (bias) checkLength('floatConv2d', 'bias', bias.length, g.outC);
    checkLength('floatConv2d', 'out', out.length, g.n * g.outH * g.outW * g.outC);
    const px = this.base, pw = align16(px + x.byteLength), pb = align16(pw + wgt.byteLength);
    const po = align16(pb + (bias?.byteLength ?? 0)), ps = align16(po + out.byteLength);
    this.reserve(ps + this.k.floatScratchBytes(g.c, g.kh, g.kw, g.outC));
    this.put(x, px);
    this.put(wgt, pw);
    if (bias) this.put(bias, pb);
    this.k.floatConv2d(px, pw, bias ? pb : 0, po, ps, g.n, g.h, g.w, g.c, g.kh, g.kw, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW, g.outC);
    out.set(this.f32.subarray(po >> 2, (po >> 2) + out.length));
  }

  /** ActivationQuantizer.toBits's packing (RuntimeKernels.packSigns): bits of fround(x + offset) ≥ 0. */
  packSigns(x: Float32Array, c: number, offset: Float32Array | null, out: Uint32Array): void {
    const pixels = x.length / c;
    checkLength('packSigns', 'out', out.length, pixels * wordsFor(c));
    const px = this.base, po = align16(px + x.byteLength), pf = align16(po + out.byteLength);
    this.reserve(pf + (offset?.byteLength ?? 0));
    this.put(x, px);
    if (offset) this.put(offset, pf);
    this.k.packSigns(px, c, offset ? pf : 0, po, pixels);
    out.set(this.i32.subarray(po >> 2, (po >> 2) + out.length));
  }

  /** In place, per channel: v ≥ 0 ? v : fround(alpha·v) (RuntimeKernels.prelu). */
  prelu(buf: Float32Array, c: number, alpha: Float32Array): void {
    checkLength('prelu', 'alpha', alpha.length, c);
    const py = this.base, pa = align16(py + buf.byteLength);
    this.reserve(pa + alpha.byteLength);
    this.put(buf, py);
    this.put(alpha, pa);
    this.k.residualPrelu(py, 0, pa, buf.length / c, c);
    buf.set(this.f32.subarray(py >> 2, (py >> 2) + buf.length));
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
    out.set(this.f32.subarray(po >> 2, (po >> 2) + out.length));
  }

  /** binaryConv2d, then affineInt, the residual Add and the PReLU in the module (RuntimeKernels.binaryConv2dAffineResidual). */
  binaryConv2dAffineResidual(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry, a: Float32Array, b: Float32Array, relu: boolean, res: Float32Array, alpha: Float32Array | null, out: Float32Array): boolean {
    const W = wordsFor(g.c);
    const pixels = g.n * g.outH * g.outW;
    checkLength('binaryConv2dAffineResidual', 'x', x.length, g.n * g.h * g.w * W);
    checkLength('binaryConv2dAffineResidual', 'wgt', wgt.length, g.outC * g.kh * g.kw * W);
    checkLength('binaryConv2dAffineResidual', 'out', out.length, pixels * g.outC);
    checkLength('binaryConv2dAffineResidual', 'res', res.length, pixels * g.outC);
    const px = this.base, pw = align16(px + x.byteLength), po = align16(pw + wgt.byteLength), ps = align16(po + out.byteLength);
    // After the convolution its scratch space holds the epilogue's operands.
    const pa = ps, pb = align16(pa + a.byteLength), pr = align16(pb + b.byteLength), pal = align16(pr + res.byteLength);
    this.reserve(Math.max(ps + this.k.binaryScratchBytes(g.c, g.kh, g.kw, g.outC), pal + (alpha?.byteLength ?? 0)));
    this.put(x, px);
    this.put(wgt, pw);
    this.k.binaryConv2d(px, pw, po, ps, g.n, g.h, g.w, g.c, g.kh, g.kw, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW, g.outC);
    this.put(a, pa);
    this.put(b, pb);
    this.put(res, pr);
    if (alpha) this.put(alpha, pal);
    this.k.affineResidual(po, pa, pb, relu, pr, alpha ? pal : 0, po, pixels, g.outC);
    out.set(this.f32.subarray(po >> 2, (po >> 2) + out.length));
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
    out.set(this.f32.subarray(po >> 2, (po >> 2) + out.length));
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
    out.set(this.f32.subarray(po >> 2, (po >> 2) + out.length));
  }
}

/**
 * The WebAssembly SIMD kernels (`name` 'wasm'). The module is compiled once per process or page and
 * each call gets its own instance and memory. Rejects where WebAssembly SIMD is missing: check
 * `hasWasmSimd()` first to fall back to the JS kernels.
 */
export async function createWasmKernels(): Promise<RuntimeKernels> {
  if (!hasWasmSimd()) throw new Error('this JavaScript engine has no WebAssembly SIMD: use the JS kernels');
  compiled ??= WebAssembly.compile(decodeBase64(KERNELS_WASM_BASE64));
  const instance = await WebAssembly.instantiate(await compiled, {});
  return new WasmKernels(instance.exports as unknown as KernelExports);
}
