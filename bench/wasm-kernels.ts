/**
 * Micro-benchmark of the bitwise runtime's WebAssembly SIMD kernels (src/runtime/wasm) against
 * onnxruntime-web's wasm backend (fp32 Conv, SIMD, one thread — like the kernels) on the same
 * convolution shapes: per kernel, the fastest of several calls including the copies into and out of
 * wasm memory, and onnxruntime-web's fastest `session.run` of a one-Conv model of that shape.
 *
 *   node dist/bench/wasm-kernels.js                 # vgg-small-like shapes
 *   node dist/bench/wasm-kernels.js --tiny          # smoke run: one small shape, few repetitions
 *   node dist/bench/wasm-kernels.js --lenet         # lenet5's conv1, conv2, dense1 (per-call overhead)
 *   node dist/bench/wasm-kernels.js --shape 32x32x128x128 [--reps 20]   # H×W×C×outC, 3×3 same
 *
 * Prints one JSON object per shape. Timings vary with the machine and its load: nothing is
 * asserted, nothing is written.
 */
import * as ort from 'onnxruntime-web';
import { OnnxGraph, encodeModel } from '../src/export/onnx-builder.js';
import { mulberry32 } from '../src/random.js';
import { wordsFor, type ConvGeometry, type RuntimeKernels } from '../src/runtime/kernels.js';
import { createWasmKernels } from '../src/runtime/wasm/index.js';

interface Shape { h: number; w: number; c: number; outC: number; k: number; stride: number; valid?: boolean }

const VGG_SMALL: Shape[] = [
  { h: 32, w: 32, c: 128, outC: 128, k: 3, stride: 1 },
  { h: 16, w: 16, c: 256, outC: 256, k: 3, stride: 1 },
  { h: 8, w: 8, c: 512, outC: 512, k: 3, stride: 1 },
];
const TINY: Shape[] = [{ h: 8, w: 8, c: 32, outC: 32, k: 3, stride: 1 }];
/** lenet5's conv1, conv2 and first dense layer (as a 1×1 convolution of a 1×1 image): per-call overhead territory. */
const LENET: Shape[] = [
  { h: 28, w: 28, c: 1, outC: 6, k: 5, stride: 1 },
  { h: 14, w: 14, c: 6, outC: 16, k: 5, stride: 1, valid: true },
  { h: 1, w: 1, c: 400, outC: 120, k: 1, stride: 1 },
];

/** 'same' (or 'valid') padding geometry, batch n. */
function sameGeometry(s: Shape, n: number): ConvGeometry {
  const out = (size: number) => (s.valid ? Math.floor((size - s.k) / s.stride) + 1 : Math.ceil(size / s.stride));
  const outH = out(s.h), outW = out(s.w);
  const pad = (o: number, size: number) => (s.valid ? 0 : Math.floor(Math.max((o - 1) * s.stride + s.k - size, 0) / 2));
  return { n, h: s.h, w: s.w, c: s.c, kh: s.k, kw: s.k, strideH: s.stride, strideW: s.stride, padTop: pad(outH, s.h), padLeft: pad(outW, s.w), outH, outW, outC: s.outC };
}

/**
 * Fastest of `reps` calls after `Math.max(2, reps / 5)` warm-up calls, in milliseconds: on a shared
 * machine the minimum estimates the cost of the work itself, a median also the neighbours' load.
 */
async function fastest(reps: number, f: () => unknown): Promise<number> {
  for (let i = 0; i < Math.max(2, reps / 5); i++) await f();
  const t: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await f();
    t.push(performance.now() - t0);
  }
  t.sort((a, b) => a - b);
  return t[0];
}

/** A one-Conv fp32 ONNX model (NCHW) of geometry `g`. */
function convModel(g: ConvGeometry, rand: () => number): Uint8Array {
  const graph = new OnnxGraph();
  const wgt = Float32Array.from({ length: g.outC * g.c * g.kh * g.kw }, () => rand() - 0.5);
  const w = graph.constant('W', wgt, [g.outC, g.c, g.kh, g.kw]);
  const padBottom = Math.max((g.outH - 1) * g.strideH + g.kh - g.h - g.padTop, 0);
  const padRight = Math.max((g.outW - 1) * g.strideW + g.kw - g.w - g.padLeft, 0);
  graph.op('Conv', ['x', w], { kernel_shape: [g.kh, g.kw], strides: [g.strideH, g.strideW], pads: [g.padTop, g.padLeft, padBottom, padRight] }, { output: 'y' });
  return encodeModel(graph.build({ name: 'x', shape: [g.n, g.c, g.h, g.w] }, { name: 'y', shape: [g.n, g.outC, g.outH, g.outW] }, 13));
}

async function benchShape(k: RuntimeKernels, s: Shape, n: number, reps: number): Promise<Record<string, unknown>> {
  const rand = mulberry32(1);
  const g = sameGeometry(s, n);
  const W = wordsFor(g.c), K = g.kh * g.kw, outSize = g.n * g.outH * g.outW * g.outC;
  const bx = Uint32Array.from({ length: g.n * g.h * g.w * W }, () => (rand() * 2 ** 32) >>> 0);
  const bw = Uint32Array.from({ length: g.outC * K * W }, () => (rand() * 2 ** 32) >>> 0);
  const ix = Int8Array.from({ length: g.n * g.h * g.w * g.c }, () => (rand() * 256 - 128) | 0);
  const iw = Int8Array.from({ length: g.outC * K * g.c }, () => (rand() * 256 - 128) | 0);
  const fx = Float32Array.from({ length: g.n * g.h * g.w * g.c }, () => rand() - 0.5);
  const fw = Float32Array.from({ length: g.outC * K * g.c }, () => rand() - 0.5);
  const iout = new Int32Array(outSize), fout = new Float32Array(outSize);
  const binary = await fastest(reps, () => k.binaryConv2d(bx, bw, g, iout));
  const int8 = await fastest(reps, () => k.int8Conv2d(ix, iw, g, iout));
  const float = await fastest(reps, () => k.floatConv2d(fx, fw, null, g, fout));

  const session = await ort.InferenceSession.create(convModel(g, rand), { executionProviders: ['wasm'], graphOptimizationLevel: 'all' });
  const feeds = { x: new ort.Tensor('float32', Float32Array.from({ length: fx.length }, () => rand() - 0.5), [g.n, g.c, g.h, g.w]) };
  const ortFp32 = await fastest(reps, () => session.run(feeds));
  await session.release();
  const macs = outSize * K * g.c;
  const ms = (v: number) => Math.round(v * 1000) / 1000;
  return {
    shape: `${g.n}×${g.h}×${g.w}×${g.c} → ${g.outC}, ${g.kh}×${g.kw} stride ${g.strideH} ${s.valid ? 'valid' : 'same'}`, macs,
    ms: { binary: ms(binary), int8: ms(int8), float: ms(float), ortWebFp32: ms(ortFp32) },
    speedupVsOrtWebFp32: { binary: ms(ortFp32 / binary), int8: ms(ortFp32 / int8), float: ms(ortFp32 / float) },
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const tiny = args.includes('--tiny');
  const shapeArg = args[args.indexOf('--shape') + 1];
  const repsArg = args[args.indexOf('--reps') + 1];
  const shapes = args.includes('--shape')
    ? [(([h, w, c, outC]) => ({ h, w, c, outC, k: 3, stride: 1 }))(shapeArg.split('x').map(Number))]
    : tiny ? TINY : args.includes('--lenet') ? LENET : VGG_SMALL;
  const reps = args.includes('--reps') ? Number(repsArg) : tiny ? 5 : args.includes('--lenet') ? 300 : 30;
  ort.env.wasm.numThreads = 1;
  ort.env.logLevel = 'error';
  const k = await createWasmKernels();
  for (const s of shapes) console.log(JSON.stringify(await benchShape(k, s, 1, reps)));
}

await main();
