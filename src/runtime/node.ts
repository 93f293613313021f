/**
 * `lowbit/runtime/node`: the bitwise runtime in Node — everything `lowbit/runtime` has, plus the
 * native kernels (lowbit's addon, native/bitops.cc: AVX-512 VPOPCNTDQ / AVX2 popcounts chosen at
 * run time, OpenMP threads), reading a packed export directory, and kernel backends by name.
 */
import { loadNativeAddon } from '../backend/addon.js';
import { LowbitError } from '../errors.js';
import { readPackedFiles } from '../export/packed-files.js';
import { createRuntime, createWasmKernels, jsKernels, RuntimeModel, RuntimeOptions } from './index.js';
import { ConvGeometry, Int8CodeArgs, RuntimeKernels, RuntimeOps, wordsFor } from './kernels.js';
import type { PackedModel } from './load.js';

export * from './index.js';

interface Bitops {
  /** `wt`: optional, the weights interleaved 16 output channels at a time (used with AVX-512 VPOPCNTDQ). */
  binaryConv2d(x: Uint32Array, w: Uint32Array, g: Int32Array, out: Int32Array, wt?: Uint32Array): void;
  /** `wp`, `wsum`: optional (AVX-512 VNNI or AVX2: `int8Padded`), the weights interleaved 16 output channels × 4 codes at a time, and their sums. */
  int8Conv2d(x: Int8Array, w: Int8Array, g: Int32Array, out: Int32Array, wp?: Int8Array, wsum?: Int32Array): void;
  /** Whether the int8 convolution can use AVX-512 VNNI. */
  vnni?: boolean;
  /** int8Conv2d / int8Conv2dAffine take `wp`, `wsum` (VNNI, or AVX2 where every code is within ±64). */
  int8Padded?: boolean;
  /** With `relu`, `offset`, `bits`: the packed signs of the result instead (true), or false when that path does not exist. */
  floatConv2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, g: Int32Array, out: Float32Array, relu?: boolean, offset?: Float32Array | null, bits?: Uint32Array): boolean | undefined;
  binaryConv2dThreshold?(x: Uint32Array, w: Uint32Array, g: Int32Array, wt: Uint32Array, sign: Int32Array, t: Int32Array, out: Uint32Array): boolean;
  int8Conv2dAffine?(x: Int8Array, w: Int8Array, g: Int32Array, wp: Int8Array, wsum: Int32Array, a: Float32Array, b: Float32Array, relu: boolean, out: Float32Array): boolean;
  /** `res`, `alpha` (addons with `residualEpilogue`): a residual Add and a PReLU fused after the affine. */
  binaryConv2dAffine?(x: Uint32Array, w: Uint32Array, g: Int32Array, wt: Uint32Array, a: Float32Array, b: Float32Array, relu: boolean, out: Float32Array, res?: Float32Array | null, alpha?: Float32Array | null): boolean;
  /** Whether binaryConv2dAffine takes `res` and `alpha` (absent in addons built before them). */
  residualEpilogue?: boolean;
  floatDepthwiseConv2dResidual?(x: Float32Array, w: Float32Array, bias: Float32Array | null, g: Int32Array, out: Float32Array, res: Float32Array | null, alpha: Float32Array | null): boolean;
  floatDepthwiseConv2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, g: Int32Array, out: Float32Array): void;
  /** floatConv2d + ReLU + max pool (+ int8 codes when `out` is an Int8Array); false where it does not apply. Absent in addons built before it. */
  floatConv2dPool?(x: Float32Array, w: Float32Array, bias: Float32Array | null, g: Int32Array, relu: boolean, pg: Int32Array, out: Float32Array | Int8Array,
    offset?: Float32Array | null, n?: number, scales?: Float32Array, zp?: number, lo?: number, hi?: number, m?: number): boolean;
  /** The popcount variant chosen for this CPU: 'avx512vpopcntdq', 'avx2' or 'baseline'. */
  popcount: string;
  /** The plan's elementwise passes (RuntimeOps; pool takes the packed geometry). `add` (the newest) is absent in addons built before them: then none is used. */
  affineInt: RuntimeOps['affineInt'];
  packThreshold: RuntimeOps['packThreshold'];
  packSigns: RuntimeOps['packSigns'];
  quantize: RuntimeOps['quantize'];
  signs: RuntimeOps['signs'];
  affine: RuntimeOps['affine'];
  clamp: RuntimeOps['clamp'];
  prelu: RuntimeOps['prelu'];
  addInto: RuntimeOps['addInto'];
  add?: RuntimeOps['add'];
  pool(x: Float32Array, g: Int32Array, max: boolean, out: Float32Array): void;
  globalAveragePool: RuntimeOps['globalAveragePool'];
  concatInto: RuntimeOps['concatInto'];
}

/** The addon's runtime kernels, or null (addon not built, disabled by LOWBIT_NATIVE=0, or built before bitops). */
function bitops(): Bitops | null {
  return (loadNativeAddon() as { bitops?: Bitops } | null)?.bitops ?? null;
}

/** Whether the native kernels can load here. */
export function nativeKernelsAvailable(): boolean {
  return bitops() != null;
}

/**
 * The native kernel backend (lowbit's addon). Throws a LowbitError saying how to build it when
 * the addon is missing.
 */
export function nativeKernels(): RuntimeKernels & { readonly popcount: string } {
  const b = bitops();
  if (b == null) {
    throw new LowbitError(process.env.LOWBIT_NATIVE === '0'
      ? 'native runtime kernels are disabled by LOWBIT_NATIVE=0: unset it, or use --runtime-kernels js'
      : 'native runtime kernels need lowbit\'s addon: apt-get install libdnnl-dev && npm rebuild lowbit (or use --runtime-kernels js)');
  }
  const geom = new Int32Array(13);
  const poolGeom = new Int32Array(13);
  const pack = (g: ConvGeometry, into = geom) => {
    into[0] = g.n; into[1] = g.h; into[2] = g.w; into[3] = g.c; into[4] = g.kh; into[5] = g.kw; into[6] = g.strideH;
    into[7] = g.strideW; into[8] = g.padTop; into[9] = g.padLeft; into[10] = g.outH; into[11] = g.outW; into[12] = g.outC;
    return into;
  };
  // With AVX-512 VPOPCNTDQ the kernel reads each layer's weights interleaved 16 output channels
  // at a time ([⌈outC/16⌉][kh·kw·words][16]); built once per weight array (runtime weights never change).
  const blocked = new WeakMap<Uint32Array, Uint32Array>();
  const interleaved = (w: Uint32Array, g: ConvGeometry) => {
    let wt = blocked.get(w);
    if (wt) return wt;
    const k = g.kh * g.kw * wordsFor(g.c);
    wt = new Uint32Array(Math.ceil(g.outC / 16) * k * 16);
    for (let o = 0; o < g.outC; o++) for (let j = 0; j < k; j++) wt[((o >>> 4) * k + j) * 16 + (o & 15)] = w[o * k + j];
    blocked.set(w, wt);
    return wt;
  };
  const useBlocked = b.popcount === 'avx512vpopcntdq';
  // With AVX-512 VNNI or AVX2 the int8 kernel reads each layer's weights interleaved 16 output
  // channels × 4 codes at a time ([⌈outC/16⌉][⌈K/4⌉][16][4], zero padded), with each channel's sum
  // of codes; built once per weight array.
  const int8Padded = b.int8Padded ?? b.vnni === true;
  const padded = new WeakMap<Int8Array, { wp: Int8Array; wsum: Int32Array }>();
  const paddedInt8 = (w: Int8Array, g: ConvGeometry) => {
    let p = padded.get(w);
    if (p) return p;
    const k = g.kh * g.kw * g.c;
    const k4 = Math.ceil(k / 4);
    const blocks = Math.ceil(g.outC / 16);
    p = { wp: new Int8Array(blocks * k4 * 64), wsum: new Int32Array(blocks * 16) };
    for (let o = 0; o < g.outC; o++) {
      for (let j = 0; j < k; j++) {
        p.wp[(((o >>> 4) * k4 + (j >>> 2)) * 16 + (o & 15)) * 4 + (j & 3)] = w[o * k + j];
        p.wsum[o] += w[o * k + j];
      }
    }
    padded.set(w, p);
    return p;
  };
  const ops: RuntimeOps | undefined = b.add ? {
    affineInt: b.affineInt, packThreshold: b.packThreshold, packSigns: b.packSigns, quantize: b.quantize, signs: b.signs,
    affine: b.affine, clamp: b.clamp, prelu: b.prelu, addInto: b.addInto, add: b.add, globalAveragePool: b.globalAveragePool, concatInto: b.concatInto,
    pool: (x, g, max, out) => b.pool(x, pack(g), max, out),
    // Without AVX-512 VPOPCNTDQ the addon runs its AVX2 kernel (it interleaves the weights itself; `wt` unused).
    binaryConv2dThreshold: (x, w, g, sign, t, out) => b.binaryConv2dThreshold != null && b.binaryConv2dThreshold(x, w, pack(g), useBlocked ? interleaved(w, g) : w, sign, t, out),
    int8Conv2dAffine: (x, w, g, a, bb, relu, out) => {
      if (!int8Padded || b.int8Conv2dAffine == null) return false;
      const { wp, wsum } = paddedInt8(w, g);
      return b.int8Conv2dAffine(x, w, pack(g), wp, wsum, a, bb, relu, out);
    },
    binaryConv2dAffine: (x, w, g, a, bb, relu, out) => b.binaryConv2dAffine != null && (useBlocked || b.residualEpilogue === true) && b.binaryConv2dAffine(x, w, pack(g), useBlocked ? interleaved(w, g) : w, a, bb, relu, out),
    ...(b.residualEpilogue && b.binaryConv2dAffine && b.floatDepthwiseConv2dResidual ? {
      binaryConv2dAffineResidual: (x: Uint32Array, w: Uint32Array, g: ConvGeometry, a: Float32Array, bb: Float32Array, relu: boolean, res: Float32Array, alpha: Float32Array | null, out: Float32Array) =>
        b.binaryConv2dAffine!(x, w, pack(g), w, a, bb, relu, out, res, alpha),
      floatDepthwiseConv2dResidual: (x: Float32Array, w: Float32Array, bias: Float32Array | null, g: ConvGeometry, res: Float32Array, alpha: Float32Array | null, out: Float32Array) =>
        b.floatDepthwiseConv2dResidual!(x, w, bias, pack(g), out, res, alpha),
    } : {}),
    floatConv2dSigns: (x, w, bias, g, relu, offset, scratch, out) => b.floatConv2d(x, w, bias, pack(g), scratch, relu, offset, out) === true,
    floatConv2dRelu: (x, w, bias, g, out) => b.floatConv2d(x, w, bias, pack(g), out, true) === true,
    ...(b.floatConv2dPool ? {
      floatConv2dMaxPool: (x: Float32Array, w: Float32Array, bias: Float32Array | null, g: ConvGeometry, relu: boolean, pg: ConvGeometry, q: Int8CodeArgs | null, out: Float32Array | Int8Array) => (q
        ? b.floatConv2dPool!(x, w, bias, pack(g), relu, pack(pg, poolGeom), out, q.offset, q.n, q.scales, q.zp, q.lo, q.hi, q.m)
        : b.floatConv2dPool!(x, w, bias, pack(g), relu, pack(pg, poolGeom), out)) === true,
    } : {}),
  } : undefined;
  return {
    ops,
    name: 'native',
    popcount: b.popcount,
    binaryConv2d: (x, w, g, out) => (useBlocked ? b.binaryConv2d(x, w, pack(g), out, interleaved(w, g)) : b.binaryConv2d(x, w, pack(g), out)),
    int8Conv2d: (x, w, g, out) => {
      if (!int8Padded) return b.int8Conv2d(x, w, pack(g), out);
      const { wp, wsum } = paddedInt8(w, g);
      return b.int8Conv2d(x, w, pack(g), out, wp, wsum);
    },
    floatConv2d: (x, w, bias, g, out) => { b.floatConv2d(x, w, bias, pack(g), out); },
    floatDepthwiseConv2d: (x, w, bias, g, out) => b.floatDepthwiseConv2d(x, w, bias, pack(g), out),
  };
}

export type RuntimeKernelName = 'js' | 'native' | 'wasm';
export const runtimeKernelNames: readonly RuntimeKernelName[] = ['js', 'native', 'wasm'];

/**
 * A kernel backend by name: 'js' (reference), 'native' (the addon; an error says how to build it
 * when it is missing), 'wasm' (WebAssembly SIMD; an error when the runtime has no SIMD).
 */
export async function runtimeKernels(name: RuntimeKernelName): Promise<RuntimeKernels> {
  if (name === 'js') return jsKernels;
  if (name === 'native') return nativeKernels();
  return createWasmKernels();
}

/** The packed model of an export directory (packed.json + packed.bin). */
export function readPackedDir(dir: string): PackedModel {
  return readPackedFiles(dir);
}

/** Compiles the packed model in `dir` for the runtime (see createRuntime). */
export function loadRuntime(dir: string, options: RuntimeOptions = {}): RuntimeModel {
  return createRuntime(readPackedDir(dir), { where: dir, ...options });
}
