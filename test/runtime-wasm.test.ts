/**
 * The WebAssembly SIMD kernels of the bitwise runtime (src/runtime/wasm) against direct reference
 * loops written here, channel by channel and tap by tap: odd channel counts that do not fill a
 * word or a v128, kernels 1×1 / 3×3 / 5×5, stride 1 and 2, valid and same padding (pad on all
 * sides), batch 1 and 3. Binary and int8 results must be equal; float within 1e-5 of the sum of
 * |terms|. Backend-independent (no TF.js): runs in the first pass of `npm test` only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { firstPassOnly } from './helpers.js';
import { mulberry32 } from '../src/random.js';
import { wordsFor, type ConvGeometry, type RuntimeKernels } from '../src/runtime/kernels.js';
import { createWasmKernels, hasWasmSimd } from '../src/runtime/wasm/index.js';

type Padding = 'valid' | 'same';

/** TF.js's geometry for `padding`: 'same' splits the total padding with the extra row/column at the bottom/right. */
function geometry(n: number, h: number, w: number, c: number, k: number, stride: number, padding: Padding, outC: number): ConvGeometry {
  const out = (size: number) => (padding === 'same' ? Math.ceil(size / stride) : Math.floor((size - k) / stride) + 1);
  const outH = out(h), outW = out(w);
  const pad = (o: number, size: number) => (padding === 'same' ? Math.floor(Math.max((o - 1) * stride + k - size, 0) / 2) : 0);
  return { n, h, w, c, kh: k, kw: k, strideH: stride, strideW: stride, padTop: pad(outH, h), padLeft: pad(outW, w), outH, outW, outC };
}

/** Calls `f(b, oy, ox, ky, kx, iy, ix)` for every in-image tap of every output pixel. */
function forTaps(g: ConvGeometry, f: (pixel: number, iy: number, ix: number, b: number, tap: number) => void): void {
  for (let b = 0; b < g.n; b++)
    for (let oy = 0; oy < g.outH; oy++)
      for (let ox = 0; ox < g.outW; ox++)
        for (let ky = 0; ky < g.kh; ky++)
          for (let kx = 0; kx < g.kw; kx++) {
            const iy = oy * g.strideH - g.padTop + ky, ix = ox * g.strideW - g.padLeft + kx;
            if (iy >= 0 && iy < g.h && ix >= 0 && ix < g.w) f((b * g.outH + oy) * g.outW + ox, iy, ix, b, ky * g.kw + kx);
          }
}

/** ±1 sign of channel `ch` of packed pixel `p`. */
const sign = (packed: Uint32Array, p: number, words: number, ch: number) => ((packed[p * words + (ch >>> 5)] >>> (ch & 31)) & 1 ? 1 : -1);

function referenceBinary(x: Uint32Array, wgt: Uint32Array, g: ConvGeometry): Int32Array {
  const out = new Int32Array(g.n * g.outH * g.outW * g.outC);
  const W = wordsFor(g.c), K = g.kh * g.kw;
  forTaps(g, (pixel, iy, ix, b, tap) => {
    const xp = (b * g.h + iy) * g.w + ix;
    for (let o = 0; o < g.outC; o++) {
      let s = 0;
      for (let ch = 0; ch < g.c; ch++) s += sign(x, xp, W, ch) * sign(wgt, o * K + tap, W, ch);
      out[pixel * g.outC + o] += s;
    }
  });
  return out;
}

function referenceInt8(x: Int8Array, wgt: Int8Array, g: ConvGeometry): Int32Array {
  const out = new Int32Array(g.n * g.outH * g.outW * g.outC);
  const K = g.kh * g.kw;
  forTaps(g, (pixel, iy, ix, b, tap) => {
    const xp = ((b * g.h + iy) * g.w + ix) * g.c;
    for (let o = 0; o < g.outC; o++) {
      let s = 0;
      for (let ch = 0; ch < g.c; ch++) s += x[xp + ch] * wgt[(o * K + tap) * g.c + ch];
      out[pixel * g.outC + o] += s;
    }
  });
  return out;
}

/** Float reference in float64, with Σ|terms| per output for the tolerance. */
function referenceFloat(x: Float32Array, wgt: Float32Array, bias: Float32Array | null, g: ConvGeometry, depthwise: boolean): { out: Float64Array; scale: Float64Array } {
  const outC = depthwise ? g.c : g.outC;
  const size = g.n * g.outH * g.outW * outC;
  const out = new Float64Array(size), scale = new Float64Array(size);
  for (let i = 0; i < size; i++) {
    out[i] = bias ? bias[i % outC] : 0;
    scale[i] = Math.abs(out[i]);
  }
  const K = g.kh * g.kw;
  forTaps(g, (pixel, iy, ix, b, tap) => {
    const xp = ((b * g.h + iy) * g.w + ix) * g.c;
    for (let o = 0; o < outC; o++) {
      let s = 0, a = 0;
      if (depthwise) {
        s = x[xp + o] * wgt[tap * g.c + o];
        a = Math.abs(s);
      } else {
        for (let ch = 0; ch < g.c; ch++) {
          const t = x[xp + ch] * wgt[(o * K + tap) * g.c + ch];
          s += t;
          a += Math.abs(t);
        }
      }
      out[pixel * outC + o] += s;
      scale[pixel * outC + o] += a;
    }
  });
  return { out, scale };
}

/** Random packed sign bits for `pixels` pixels of `c` channels, the unused high bits 0. */
function randomPacked(rand: () => number, pixels: number, c: number): Uint32Array {
  const W = wordsFor(c);
  const a = new Uint32Array(pixels * W);
  for (let p = 0; p < pixels; p++)
    for (let ch = 0; ch < c; ch++) if (rand() < 0.5) a[p * W + (ch >>> 5)] |= 1 << (ch & 31);
  return a;
}

const randomInt8 = (rand: () => number, size: number) => Int8Array.from({ length: size }, () => Math.floor(rand() * 256) - 128);
const randomFloat = (rand: () => number, size: number) => Float32Array.from({ length: size }, () => rand() * 2 - 1);

const CHANNELS = [1, 3, 31, 33, 65, 130];
const OUT_CHANNELS = [1, 3, 5, 31, 33, 65];

/** The shape grid: every channel count × kernel × stride × padding, with varied sizes, outC and batch. */
function* shapes(seed: number): Generator<ConvGeometry> {
  const rand = mulberry32(seed);
  let i = 0;
  for (const c of CHANNELS)
    for (const k of [1, 3, 5])
      for (const stride of [1, 2])
        for (const padding of ['valid', 'same'] as const) {
          const h = k + Math.floor(rand() * 5), w = k + Math.floor(rand() * 5);
          yield geometry(i % 3 === 0 ? 3 : 1, h, w, c, k, stride, padding, OUT_CHANNELS[i % OUT_CHANNELS.length]);
          i++;
        }
}

const describe = (g: ConvGeometry) => `n${g.n} ${g.h}×${g.w}×${g.c} k${g.kh} s${g.strideH} pad ${g.padTop},${g.padLeft} → ${g.outH}×${g.outW}×${g.outC}`;

let kernels: RuntimeKernels | null = null;
const wasm = async () => (kernels ??= await createWasmKernels());

test('hasWasmSimd is true in Node ≥ 20 and createWasmKernels gives the wasm kernels', { skip: firstPassOnly }, async () => {
  assert.equal(hasWasmSimd(), true);
  assert.equal((await wasm()).name, 'wasm');
});

test('wasm binaryConv2d equals the ±1 reference loop on every shape (padding taps count 0)', { skip: firstPassOnly }, async () => {
  const k = await wasm();
  const rand = mulberry32(11);
  for (const g of shapes(1)) {
    const x = randomPacked(rand, g.n * g.h * g.w, g.c);
    const wgt = randomPacked(rand, g.outC * g.kh * g.kw, g.c);
    const out = new Int32Array(g.n * g.outH * g.outW * g.outC).fill(12345);
    k.binaryConv2d(x, wgt, g, out);
    assert.deepEqual(out, referenceBinary(x, wgt, g), describe(g));
  }
});

test('wasm binaryConv2d, int8Conv2d and floatConv2d as dense layers (1×1 kernel on a 1×1 image, batch 3 and 12, 1,000 inputs)', { skip: firstPassOnly }, async () => {
  const k = await wasm();
  const rand = mulberry32(16);
  const g = geometry(3, 1, 1, 1000, 1, 1, 'valid', 10);
  const bx = randomPacked(rand, 3, 1000), bw = randomPacked(rand, 10, 1000), bout = new Int32Array(30);
  k.binaryConv2d(bx, bw, g, bout);
  assert.deepEqual(bout, referenceBinary(bx, bw, g));
  const ix = randomInt8(rand, 3000), iw = randomInt8(rand, 10000), iout = new Int32Array(30);
  k.int8Conv2d(ix, iw, g, iout);
  assert.deepEqual(iout, referenceInt8(ix, iw, g));
  // Batch 3 takes the direct dot-product path of floatConv2d, batch 12 the panel GEMM.
  for (const batch of [3, 12]) {
    const gf = geometry(batch, 1, 1, 1000, 1, 1, 'valid', 10);
    const fx = randomFloat(rand, batch * 1000), fw = randomFloat(rand, 10000), fb = randomFloat(rand, 10), fout = new Float32Array(batch * 10);
    k.floatConv2d(fx, fw, fb, gf, fout);
    assertClose(fout, referenceFloat(fx, fw, fb, gf, false), `dense batch ${batch}`);
  }
});

test('wasm binaryConv2d on all-ones and all-minus-ones operands gives ±(c · valid taps)', { skip: firstPassOnly }, async () => {
  const k = await wasm();
  const g = geometry(1, 3, 3, 33, 3, 1, 'same', 2);
  const x = new Uint32Array(9 * 2);
  for (let p = 0; p < 9; p++) [x[p * 2], x[p * 2 + 1]] = [0xffffffff, 1];
  const wgt = new Uint32Array(2 * 9 * 2);
  for (let t = 0; t < 9; t++) [wgt[t * 2], wgt[t * 2 + 1]] = [0xffffffff, 1]; // filter 0: +1, filter 1: −1 (zeros)
  const out = new Int32Array(9 * 2);
  k.binaryConv2d(x, wgt, g, out);
  const taps = [4, 6, 4, 6, 9, 6, 4, 6, 4];
  assert.deepEqual([...out], taps.flatMap((t) => [33 * t, -33 * t]));
});

test('wasm int8Conv2d equals the reference loop on every shape, and on −128/127 codes over 3,250 taps', { skip: firstPassOnly }, async () => {
  const k = await wasm();
  const rand = mulberry32(12);
  for (const g of shapes(2)) {
    const x = randomInt8(rand, g.n * g.h * g.w * g.c);
    const wgt = randomInt8(rand, g.outC * g.kh * g.kw * g.c);
    const out = new Int32Array(g.n * g.outH * g.outW * g.outC).fill(12345);
    k.int8Conv2d(x, wgt, g, out);
    assert.deepEqual(out, referenceInt8(x, wgt, g), describe(g));
  }
  const g = geometry(1, 5, 5, 130, 5, 1, 'valid', 3);
  const x = new Int8Array(25 * 130).fill(-128);
  const wgt = new Int8Array(3 * 25 * 130);
  wgt.fill(-128, 0, 3250);
  wgt.fill(127, 3250, 6500);
  wgt.fill(-128, 6500).fill(127, 6500, 6500 + 1625);
  const out = new Int32Array(3);
  k.int8Conv2d(x, wgt, g, out);
  assert.deepEqual([...out], [3250 * 16384, 3250 * -16256, 1625 * -16256 + 1625 * 16384]);
  assert.deepEqual(out, referenceInt8(x, wgt, g));
});

function assertClose(got: Float32Array, ref: { out: Float64Array; scale: Float64Array }, what: string): void {
  assert.equal(got.length, ref.out.length, what);
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - ref.out[i]);
    if (!(err <= 1e-5 * ref.scale[i] + 1e-7)) assert.fail(`${what}: out[${i}] = ${got[i]}, reference ${ref.out[i]} (|Δ| ${err}, Σ|terms| ${ref.scale[i]})`);
  }
}

test('wasm floatConv2d matches the float64 reference within 1e-5 of Σ|terms|, with and without bias', { skip: firstPassOnly }, async () => {
  const k = await wasm();
  const rand = mulberry32(13);
  let i = 0;
  for (const g of shapes(3)) {
    const x = randomFloat(rand, g.n * g.h * g.w * g.c);
    const wgt = randomFloat(rand, g.outC * g.kh * g.kw * g.c);
    const bias = i++ % 2 === 0 ? randomFloat(rand, g.outC) : null;
    const out = new Float32Array(g.n * g.outH * g.outW * g.outC).fill(NaN);
    k.floatConv2d(x, wgt, bias, g, out);
    assertClose(out, referenceFloat(x, wgt, bias, g, false), describe(g));
  }
});

test('wasm floatDepthwiseConv2d matches the float64 reference within 1e-5 of Σ|terms|', { skip: firstPassOnly }, async () => {
  const k = await wasm();
  const rand = mulberry32(14);
  let i = 0;
  for (const g0 of shapes(4)) {
    const g = { ...g0, outC: g0.c };
    const x = randomFloat(rand, g.n * g.h * g.w * g.c);
    const wgt = randomFloat(rand, g.kh * g.kw * g.c);
    const bias = i++ % 2 === 0 ? randomFloat(rand, g.c) : null;
    const out = new Float32Array(g.n * g.outH * g.outW * g.c).fill(NaN);
    k.floatDepthwiseConv2d(x, wgt, bias, g, out);
    assertClose(out, referenceFloat(x, wgt, bias, g, true), describe(g));
  }
});

test('wasm kernels reuse their memory: a large call, then a small one, then the large one again agree', { skip: firstPassOnly }, async () => {
  const k = await wasm();
  const rand = mulberry32(15);
  const big = geometry(3, 16, 16, 130, 3, 1, 'same', 65), small = geometry(1, 4, 4, 3, 1, 1, 'valid', 1);
  const data = (g: ConvGeometry) => [randomPacked(rand, g.n * g.h * g.w, g.c), randomPacked(rand, g.outC * g.kh * g.kw, g.c)] as const;
  const [bx, bw] = data(big), [sx, sw] = data(small);
  const first = new Int32Array(3 * 16 * 16 * 65), again = new Int32Array(first.length), tiny = new Int32Array(16);
  k.binaryConv2d(bx, bw, big, first);
  k.binaryConv2d(sx, sw, small, tiny);
  k.binaryConv2d(bx, bw, big, again);
  assert.deepEqual(again, first);
  assert.deepEqual(tiny, referenceBinary(sx, sw, small));
});

test('a wasm kernel given an array of the wrong length names it and the length the geometry needs', { skip: firstPassOnly }, async () => {
  const k = await wasm();
  const g = geometry(1, 4, 4, 3, 3, 1, 'same', 2);
  assert.throws(() => k.int8Conv2d(new Int8Array(47), new Int8Array(54), g, new Int32Array(32)), /int8Conv2d: x holds 47 elements, the geometry needs 48/);
});
