/**
 * The wasm backend's RuntimeOps (src/runtime/wasm/index.ts WasmOps, the AssemblyScript passes in
 * src/runtime/wasm/assembly/kernels.ts) give the bits of the JavaScript loops they replace: the
 * quantizer's loops (ActivationQuantizer without `ops`) at rounding ties, grid edges and −0; the
 * plan's pool, global pooling, Add, Concatenate, affine, ReLU, PReLU and epilogue loops (written
 * out below as src/runtime/plan.ts has them) on odd channel counts, batch 1, padded windows; the
 * fused convolution forms against the unfused kernel + pass; whole models run with the passes
 * and with createWasmKernels({ ops: false }) (the plan's JavaScript loops); and the passes bundled
 * into headless Chromium give Node's bits (as test/runtime-wasm-browser.test.ts for the kernels).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { firstPassOnly } from './helpers.js';
import { buildModel, dorefaModel, quantizeModel, tf } from '../src/node.js';
import { packModel } from '../src/export/packed.js';
import { createRuntime } from '../src/runtime/index.js';
import { wordsFor, type ConvGeometry, type RuntimeKernels, type RuntimeOps } from '../src/runtime/kernels.js';
import { ActivationQuantizer } from '../src/runtime/quantize.js';
import { createWasmKernels } from '../src/runtime/wasm/index.js';
import { mulberry32 } from '../src/random.js';
import { squareGeometry } from './runtime-helpers.js';

const rand = mulberry32(17);
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
let kernels: RuntimeKernels | undefined;
const wasm = async () => (kernels ??= await createWasmKernels());
const opsOf = async (): Promise<RuntimeOps> => {
  const ops = (await wasm()).ops;
  assert.ok(ops, 'createWasmKernels() has ops');
  return ops;
};

/** Random values in [−1, 1) with exact zeros and −0 mixed in (no NaN). */
const values = (count: number, scale = 1) => Float32Array.from({ length: count }, (_, i) => (i % 13 === 0 ? 0 : i % 17 === 0 ? -0 : (rand() * 2 - 1) * scale));

test('createWasmKernels({ ops: false }) has no passes; the default has every RuntimeOps pass and fused form', { skip: firstPassOnly }, async () => {
  assert.equal((await createWasmKernels({ ops: false })).ops, undefined);
  const ops = await opsOf();
  for (const name of ['affineInt', 'packThreshold', 'packSigns', 'quantize', 'signs', 'affine', 'clamp', 'prelu', 'addInto', 'add', 'pool', 'globalAveragePool', 'concatInto',
    'binaryConv2dThreshold', 'binaryConv2dAffine', 'binaryConv2dAffineResidual', 'floatDepthwiseConv2dResidual', 'int8Conv2dAffine', 'floatConv2dSigns', 'floatConv2dRelu', 'floatConv2dMaxPool'] as const) {
    assert.equal(typeof ops[name], 'function', name);
  }
});

test('wasm quantize / signs / packSigns equal the JS quantizer loops at rounding ties, grid edges, ±0, ±∞, with offsets and per-channel scales (odd channels)', { skip: firstPassOnly }, async () => {
  const ops = await opsOf();
  for (const c of [5, 1, 8]) {
    const offset = Float32Array.from({ length: c }, (_, i) => [0.25, -0.5, 0, 0.125, -0.0625, 0.75, -0, 0.5][i]);
    const perChannel = Float32Array.from({ length: c }, (_, i) => [0.5, 0.25, 1, 0.75, 2, 0.3, 1.5, 0.125][i]);
    const grids = [
      { type: 'uniform', bits: 2, signed: false, narrow: false, scale: 1 / 3, zeroPoint: 0, axis: null }, // DoReFa A2: ·3, mode 0
      { type: 'uniform', bits: 4, signed: true, narrow: true, scale: 0.1, zeroPoint: 0, axis: null }, // / scale, mode 1
      { type: 'uniform', bits: 3, signed: false, narrow: false, scale: perChannel, zeroPoint: 0, axis: -1 },
      { type: 'uniform', bits: 2, signed: false, narrow: false, scale: 0.5, zeroPoint: 0.5, axis: null, offset }, // zp ≠ 0: mode 1 in doubles, int8 m = 2
      { type: 'uniform', bits: 8, signed: false, narrow: false, scale: 0.05, zeroPoint: 128, axis: null }, // int8 codes q − 128 span −128 … 127
      { type: 'uniform', bits: 1, signed: false, narrow: false, scale: 2, zeroPoint: 0.5, axis: null, offset }, // bipolar (rsign)
      { type: 'uniform', bits: 1, signed: false, narrow: false, scale: perChannel, zeroPoint: 0.5, axis: -1 },
    ] as const;
    // Ties k/6 (half steps of a ⅓ grid), ±0, values past both ends, ±∞, tiny values, and random values.
    const special = [0, -0, 1 / 6, 0.5, 1.5 / 3, 2.5 / 3, 0.05, 0.15, -0.25, 0.125, 3, -3, 0.5 - 2 ** -24, 1e-30, -1e-30, Infinity, -Infinity, 1e30, 0.25, 0.75];
    const x = Float32Array.from({ length: c * 41 }, (_, i) => (i < special.length * 2 ? special[i >> 1] * (i & 1 ? 1 : -1) : rand() * 4 - 2));
    for (const grid of grids) {
      const q = new ActivationQuantizer(grid as never, c);
      const a = new Float32Array(x.length);
      const b = new Float32Array(x.length).fill(7);
      q.toValues(x, a);
      q.toValues(x, b, ops);
      assert.deepEqual(bits(b), bits(a), `toValues c=${c} ${JSON.stringify(grid)}`);
      if (q.bipolar || q.fitsInt8) {
        const i = new Int8Array(x.length);
        const j = new Int8Array(x.length).fill(7);
        q.toInt8(x, i);
        q.toInt8(x, j, ops);
        assert.deepEqual(j, i, `toInt8 c=${c} ${JSON.stringify(grid)}`);
      }
      if (q.bipolar) {
        const u = new Uint32Array((x.length / c) * wordsFor(c));
        const v = new Uint32Array(u.length).fill(0xffffffff);
        q.toBits(x, u);
        q.toBits(x, v, ops);
        assert.deepEqual(v, u, `toBits c=${c}`);
      }
    }
  }
  // Arguments outside the module's exact lanes (a step not exact in float32, codes past int8) run the JavaScript loop: still its bits.
  const c = 3;
  const x = values(c * 20, 3);
  const scales = Float32Array.from([0.1, 0.2, 0.3]);
  const ref = (n: number, zp: number, lo: number, hi: number, mode: 0 | 1 | 2, m: number, out: Float32Array | Int8Array) => {
    for (let i = 0; i < x.length; i++) {
      let u = n !== 0 ? Math.fround(x[i] * n) : Math.fround(x[i] / scales[i % c]);
      if (zp !== 0) u = Math.fround(u + zp);
      const f = Math.floor(u);
      const d = u - f;
      let q = d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
      q = q < lo ? lo : q > hi ? hi : q;
      out[i] = mode === 0 ? q / n : mode === 1 ? (q - zp) * scales[i % c] : m * (q - zp);
    }
  };
  for (const [n, zp, lo, hi, mode, m] of [[0, 0.1, -4, 4, 1, 0], [3, 0, 0, 3, 0, 0], [0, 0, -200, 200, 2, 1], [0, 0.5, -2, 2, 2, 2], [0, 0.5, -2, 2, 1, 0]] as const) {
    const want = mode === 2 ? new Int8Array(x.length) : new Float32Array(x.length);
    const got = mode === 2 ? new Int8Array(x.length) : new Float32Array(x.length);
    ref(n, zp, lo, hi, mode, m, want);
    ops.quantize(x, c, null, n, scales, zp, lo, hi, mode, m, got);
    assert.deepEqual(got instanceof Float32Array ? bits(got) : got, want instanceof Float32Array ? bits(want) : want, `quantize n=${n} zp=${zp} [${lo}, ${hi}] mode ${mode}`);
  }
  // signs: float levels ±fround(factor·scale), int8 ±factor.
  const off = Float32Array.from([0.5, -0.25, 0]);
  for (const [sc, factor, int8] of [[scales, 0.5, false], [null, 1, true], [null, 0.5, false], [scales, 1, true]] as const) {
    const got = int8 ? new Int8Array(x.length) : new Float32Array(x.length);
    const want = int8 ? new Int8Array(x.length) : new Float32Array(x.length);
    ops.signs(x, c, off, sc, factor, got);
    x.forEach((v, i) => { const h = sc ? sc[i % c] * factor : factor; want[i] = Math.fround(v + off[i % c]) >= 0 ? h : -h; });
    assert.deepEqual(got instanceof Float32Array ? bits(got) : got, want instanceof Float32Array ? bits(want) : want, `signs scales=${!!sc} factor=${factor} int8=${int8}`);
  }
});

/** The plan's pool loop (src/runtime/plan.ts `pool`): max by `v > y` from −∞, average as double sums in tap order / count. */
function planPool(x: Float32Array, g: ConvGeometry, max: boolean): Float32Array {
  const y = new Float32Array(g.n * g.outH * g.outW * g.c);
  for (let b = 0; b < g.n; b++) for (let oy = 0; oy < g.outH; oy++) for (let ox = 0; ox < g.outW; ox++) {
    const iy0 = oy * g.strideH - g.padTop;
    const ix0 = ox * g.strideW - g.padLeft;
    const ky0 = Math.max(0, -iy0), ky1 = Math.min(g.kh, g.h - iy0), kx0 = Math.max(0, -ix0), kx1 = Math.min(g.kw, g.w - ix0);
    for (let ch = 0; ch < g.c; ch++) {
      let m = -Infinity;
      let s = 0;
      for (let ky = ky0; ky < ky1; ky++) for (let kx = kx0; kx < kx1; kx++) {
        const v = x[((b * g.h + iy0 + ky) * g.w + ix0 + kx) * g.c + ch];
        if (v > m) m = v;
        s += v;
      }
      y[((b * g.outH + oy) * g.outW + ox) * g.c + ch] = max ? m : s / ((ky1 - ky0) * (kx1 - kx0));
    }
  }
  return y;
}

test('wasm pool, globalAveragePool, affineInt, packThreshold, packSigns, affine, clamp, prelu, addInto, add and concatInto equal the plan\'s loops (odd channels, batch 1, padded windows)', { skip: firstPassOnly }, async () => {
  const ops = await opsOf();
  for (const [n, h, w, c] of [[1, 7, 5, 37], [2, 6, 6, 16], [1, 5, 9, 3], [1, 4, 4, 1]] as const) {
    const x = values(n * h * w * c);
    // 3×3 stride 2 same (border windows hold fewer taps), 2×2 stride 2 valid (the pooled shortcut), 3×3 stride 1 same.
    for (const [k, stride, same] of [[3, 2, true], [2, 2, false], [3, 1, true]] as const) {
      const g = squareGeometry(n, h, w, c, k, stride, same, c);
      for (const max of [true, false]) {
        const out = new Float32Array(n * g.outH * g.outW * c).fill(7);
        ops.pool(x, g, max, out);
        assert.deepEqual(bits(out), bits(planPool(x, g, max)), `${max ? 'max' : 'avg'} pool ${JSON.stringify(g)}`);
      }
    }
    const gap = new Float32Array(n * c).fill(7);
    ops.globalAveragePool(x, n, h * w, c, gap);
    const wantGap = new Float32Array(n * c);
    for (let b = 0; b < n; b++) for (let p = 0; p < h * w; p++) for (let ch = 0; ch < c; ch++) wantGap[b * c + ch] += x[(b * h * w + p) * c + ch];
    for (let i = 0; i < wantGap.length; i++) wantGap[i] /= h * w;
    assert.deepEqual(bits(gap), bits(wantGap), `globalAveragePool c=${c}`);
    // Integer epilogue: large sums (r·a rounds in double), negative scales, zero sums and biases; the ReLU tests the double.
    const acc = Int32Array.from({ length: 6 * c }, (_, i) => (i % 7 === 0 ? 0 : Math.floor(rand() * 2 ** 24) - 2 ** 23));
    const a = Float32Array.from({ length: c }, () => rand() * 2e-3 - 1e-3);
    const bias = Float32Array.from({ length: c }, (_, o) => (o % 3 === 0 ? 0 : rand() * 2 - 1));
    for (const relu of [false, true]) {
      const out = new Float32Array(acc.length).fill(7);
      ops.affineInt(acc, a, bias, relu, out);
      const want = new Float32Array(acc.length);
      for (let i = 0; i < acc.length; i++) { const v = acc[i] * a[i % c] + bias[i % c]; want[i] = relu && v < 0 ? 0 : v; }
      assert.deepEqual(bits(out), bits(want), `affineInt c=${c} relu=${relu}`);
    }
    // The threshold packing, as the plan's `(t − s·r) >>> 31` (some ties).
    const words = wordsFor(c);
    const r = Int32Array.from({ length: 5 * c }, () => Math.floor(rand() * 2 ** 12) - 2 ** 11);
    const sign = Int32Array.from({ length: c }, () => (rand() < 0.5 ? -1 : 1));
    const t = Int32Array.from({ length: c }, (_, o) => (o % 5 === 0 ? r[o] * sign[o] : Math.floor(rand() * 2 ** 12) - 2 ** 11));
    const packed = new Uint32Array(5 * words).fill(0xffffffff);
    ops.packThreshold(r, sign, t, packed);
    const wantPacked = new Uint32Array(5 * words);
    for (let p = 0; p < 5; p++) for (let o = 0; o < c; o++) wantPacked[p * words + (o >>> 5)] |= ((t[o] - sign[o] * r[p * c + o]) >>> 31) << (o & 31);
    assert.deepEqual(packed, wantPacked, `packThreshold c=${c}`);
    // Sign packing with and without the fused ReLU and offset (the plan's packPixels).
    const v = values(5 * c);
    const offset = Float32Array.from({ length: c }, (_, o) => (o % 5 === 0 ? 0 : rand() - 0.5));
    for (const off of [null, offset]) for (const relu of [false, true]) {
      const got = new Uint32Array(5 * words).fill(0xffffffff);
      ops.packSigns(v, c, off, relu, got);
      const want = new Uint32Array(5 * words);
      for (let p = 0; p < 5; p++) for (let o = 0; o < c; o++) {
        const s = v[p * c + o];
        const y = relu ? (s < 0 ? 0 : s) : s;
        if ((off ? Math.fround(y + off[o]) : y) >= 0) want[p * words + (o >>> 5)] |= 1 << (o & 31);
      }
      assert.deepEqual(got, want, `packSigns c=${c} relu=${relu} offset=${!!off}`);
    }
    // The stages (runStages): affine in doubles, ReLU / ReLU6, PReLU per channel and per element, RPReLU shifts.
    const sa = Float32Array.from({ length: c }, () => rand() * 4 - 2);
    const y1 = x.slice();
    ops.affine(y1, sa, bias);
    const want1 = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) want1[i] = x[i] * sa[i % c] + bias[i % c];
    assert.deepEqual(bits(y1), bits(want1), `affine c=${c}`);
    for (const max of [Infinity, 6, 0.3]) {
      const y = x.map((u) => u * 8);
      const want = y.map((u) => (u < 0 ? 0 : u > max ? max : u));
      ops.clamp(y, max);
      assert.deepEqual(bits(y), bits(want), `clamp ${max}`);
    }
    const alphaC = Float32Array.from({ length: c }, () => rand() * 2 - 1);
    const alphaE = Float32Array.from({ length: h * w * c }, () => rand() * 2 - 1);
    const alphaOdd = Float32Array.from({ length: 2 * c + 1 }, () => rand());
    const shift = Float32Array.from({ length: c }, () => rand() - 0.5);
    for (const [alpha, sIn, sOut] of [[alphaC, null, null], [alphaC, shift, bias], [alphaE, shift, null], [alphaE, null, null], [alphaC, null, shift], [alphaOdd, shift, shift]] as const) {
      const y = x.slice();
      ops.prelu(y, c, alpha, sIn, sOut);
      const want = new Float32Array(x.length);
      for (let i = 0; i < x.length; i += c) for (let ch = 0; ch < c; ch++) {
        const u = sIn ? x[i + ch] - sIn[ch] : x[i + ch];
        const z = u >= 0 ? u : alpha[alpha.length === c ? ch : (i + ch) % alpha.length] * u;
        want[i + ch] = sOut ? z + sOut[ch] : z;
      }
      assert.deepEqual(bits(y), bits(want), `prelu c=${c} alpha ${alpha.length} shiftIn=${!!sIn} shiftOut=${!!sOut}`);
    }
    const other = values(x.length, 2);
    const sum = x.slice();
    ops.addInto(sum, other);
    const wantSum = new Float32Array(x.length);
    for (let i = 0; i < x.length; i++) wantSum[i] = x[i] + other[i];
    assert.deepEqual(bits(sum), bits(wantSum), 'addInto');
    const sum2 = new Float32Array(x.length).fill(7);
    ops.add(sum2, x, other);
    assert.deepEqual(bits(sum2), bits(wantSum), 'add');
    // Concatenate: each input's channels at its offset, the other channels untouched.
    const pixels = n * h * w;
    const x3 = values(pixels * 3);
    const cat = new Float32Array(pixels * (c + 5)).fill(9);
    ops.concatInto(x, c, cat, c + 5, 0);
    ops.concatInto(x3, 3, cat, c + 5, c + 1);
    for (let p = 0; p < pixels; p++) {
      for (let ch = 0; ch < c; ch++) assert.equal(Object.is(cat[p * (c + 5) + ch], x[p * c + ch]), true);
      assert.equal(cat[p * (c + 5) + c], 9);
      for (let ch = 0; ch < 3; ch++) assert.equal(Object.is(cat[p * (c + 5) + c + 1 + ch], x3[p * 3 + ch]), true);
      assert.equal(cat[p * (c + 5) + c + 4], 9);
    }
  }
});

test('wasm fused forms equal the kernel + pass: binaryConv2dThreshold, binaryConv2dAffine, int8Conv2dAffine, floatConv2dSigns, floatConv2dRelu, floatConv2dMaxPool (floats and int8 codes); odd channels, stride 2, same/valid, batch 1 and 3', { skip: firstPassOnly }, async () => {
  const k = await wasm();
  const ops = await opsOf();
  const shapes = [
    { n: 1, h: 7, w: 6, c: 3, kh: 3, stride: 1, same: true, outC: 5 },
    { n: 3, h: 9, w: 9, c: 33, kh: 3, stride: 2, same: true, outC: 20 },
    { n: 1, h: 8, w: 7, c: 65, kh: 3, stride: 2, same: false, outC: 37 },
    { n: 2, h: 10, w: 9, c: 1, kh: 5, stride: 1, same: false, outC: 33 },
    { n: 1, h: 1, w: 1, c: 800, kh: 1, stride: 1, same: false, outC: 17 },
  ];
  for (const t of shapes) {
    const g = squareGeometry(t.n, t.h, t.w, t.c, t.kh, t.stride, t.same, t.outC);
    const pixels = t.n * g.outH * g.outW;
    const words = wordsFor(t.outC);
    const inWords = wordsFor(t.c);
    const mask = t.c % 32 ? 2 ** (t.c % 32) - 1 : 0xffffffff;
    const x = Uint32Array.from({ length: t.n * t.h * t.w * inWords }, (_, i) => Math.floor(rand() * 2 ** 32) & (i % inWords === inWords - 1 ? mask : 0xffffffff));
    const wgt = Uint32Array.from({ length: t.outC * t.kh * t.kh * inWords }, (_, i) => Math.floor(rand() * 2 ** 32) & (i % inWords === inWords - 1 ? mask : 0xffffffff));
    const acc = new Int32Array(pixels * t.outC);
    k.binaryConv2d(x, wgt, g, acc);
    const sign = Int32Array.from({ length: t.outC }, () => (rand() < 0.5 ? -1 : 1));
    const th = Int32Array.from({ length: t.outC }, (_, o) => (o % 3 === 0 ? sign[o] * acc[o] : Math.floor(rand() * 2 * t.c) - t.c));
    const want = new Uint32Array(pixels * words);
    ops.packThreshold(acc, sign, th, want);
    const got = new Uint32Array(pixels * words).fill(0xffffffff);
    assert.equal(ops.binaryConv2dThreshold!(x, wgt, g, sign, th, got), true);
    assert.deepEqual(got, want, `binary threshold ${JSON.stringify(t)}`);
    const ea = Float32Array.from({ length: t.outC }, () => (rand() - 0.5) * 0.02);
    const eb = Float32Array.from({ length: t.outC }, (_, o) => (o % 4 === 0 ? -ea[o] * acc[o] : rand() - 0.5));
    const xi = Int8Array.from({ length: t.n * t.h * t.w * t.c }, () => Math.floor(rand() * 256) - 128);
    const wi = Int8Array.from({ length: t.outC * t.kh * t.kh * t.c }, () => Math.floor(rand() * 255) - 127);
    const acci = new Int32Array(pixels * t.outC);
    k.int8Conv2d(xi, wi, g, acci);
    for (const relu of [false, true]) {
      const wantA = new Float32Array(pixels * t.outC);
      ops.affineInt(acc, ea, eb, relu, wantA);
      const gotA = new Float32Array(pixels * t.outC).fill(7);
      assert.equal(ops.binaryConv2dAffine!(x, wgt, g, ea, eb, relu, gotA), true);
      assert.deepEqual(bits(gotA), bits(wantA), `binary affine ${JSON.stringify(t)} relu=${relu}`);
      const wantI = new Float32Array(pixels * t.outC);
      ops.affineInt(acci, ea, eb, relu, wantI);
      const gotI = new Float32Array(pixels * t.outC).fill(7);
      assert.equal(ops.int8Conv2dAffine!(xi, wi, g, ea, eb, relu, gotI), true);
      assert.deepEqual(bits(gotI), bits(wantI), `int8 affine ${JSON.stringify(t)} relu=${relu}`);
    }
    const xf = Float32Array.from({ length: t.n * t.h * t.w * t.c }, () => rand() * 2 - 1);
    const wf = Float32Array.from({ length: t.outC * t.kh * t.kh * t.c }, () => rand() * 2 - 1);
    const bias = Float32Array.from({ length: t.outC }, () => rand() - 0.5);
    const offset = Float32Array.from({ length: t.outC }, () => rand() - 0.5);
    const y = new Float32Array(pixels * t.outC);
    k.floatConv2d(xf, wf, bias, g, y);
    for (const off of [null, offset]) for (const relu of [false, true]) {
      const wantF = new Uint32Array(pixels * words);
      ops.packSigns(y, t.outC, off, relu, wantF);
      const gotF = new Uint32Array(pixels * words).fill(0xffffffff);
      assert.equal(ops.floatConv2dSigns!(xf, wf, bias, g, relu, off, new Float32Array(pixels * t.outC), gotF), true);
      assert.deepEqual(gotF, wantF, `float signs ${JSON.stringify(t)} relu=${relu} offset=${!!off}`);
    }
    const relued = y.map((v) => (v < 0 ? 0 : v));
    const yr = new Float32Array(pixels * t.outC).fill(7);
    assert.equal(ops.floatConv2dRelu!(xf, wf, bias, g, yr), true);
    assert.deepEqual(bits(yr), bits(relued), `float relu ${JSON.stringify(t)}`);
    // conv (+ ReLU) → 2×2 (or 3×3 stride 2 same) max pool (→ DoReFa A2 codes m·q and zp = ½ codes m = 2).
    if (g.outH < 2 || g.outW < 2) continue;
    for (const [pk, ps, psame] of [[2, 2, false], [3, 2, true]] as const) {
      const pg = squareGeometry(t.n, g.outH, g.outW, t.outC, pk, ps, psame, t.outC);
      for (const relu of [false, true]) {
        const pooled = planPool(relu ? relued : y, pg, true);
        const gotP = new Float32Array(pooled.length).fill(7);
        assert.equal(ops.floatConv2dMaxPool!(xf, wf, bias, g, relu, pg, null, gotP), true);
        assert.deepEqual(bits(gotP), bits(pooled), `conv max pool ${JSON.stringify(t)} relu=${relu}`);
        for (const grid of [{ type: 'uniform', bits: 2, signed: false, narrow: false, scale: 1 / 3, zeroPoint: 0, axis: null }, { type: 'uniform', bits: 2, signed: false, narrow: false, scale: 0.5, zeroPoint: 0.5, axis: null, offset }]) {
          const q = new ActivationQuantizer(grid as never, t.outC);
          const wantQ = new Int8Array(pooled.length);
          q.toInt8(pooled, wantQ);
          const gotQ = new Int8Array(pooled.length).fill(7);
          assert.equal(ops.floatConv2dMaxPool!(xf, wf, bias, g, relu, pg, q.int8CodeArgs, gotQ), true);
          assert.deepEqual(gotQ, wantQ, `conv max pool codes ${JSON.stringify(t)} relu=${relu} ${JSON.stringify(grid)}`);
        }
      }
    }
  }
});

test('whole models give identical outputs with the wasm passes and with the plan\'s JS loops (createWasmKernels({ ops: false })): binary vgg-small with rsign, mobilenet-tiny binary and W2/A2, lenet5 W1/A2 and W2/A2; batch 1 and 3', async () => {
  const vgg = await quantizeModel(buildModel('vgg-small', { seed: 4 }), { kernelQuantizer: 'binary', inputQuantizer: 'rsign' });
  for (const l of vgg.layers) for (const w of l.weights) if (w.name.includes('rsign_threshold')) tf.tidy(() => { w.write(tf.randomUniform(w.shape as number[], -0.8, 0.1, 'float32', 9)); });
  const lenet = buildModel('lenet5', { seed: 3 });
  const mobile = buildModel('mobilenet-tiny', { seed: 5 });
  const models: Array<[string, tf.LayersModel]> = [
    ['vgg-small rsign', vgg],
    ['mobilenet-tiny binary', await quantizeModel(mobile, { kernelQuantizer: 'binary', inputQuantizer: 'binary' })],
    ['mobilenet-tiny W2/A2', await dorefaModel(mobile, { wbits: 2, abits: 2 })],
    ['lenet5 W1/A2', await dorefaModel(lenet, { wbits: 1, abits: 2 })],
    ['lenet5 W2/A2', await dorefaModel(lenet, { wbits: 2, abits: 2 })],
  ];
  const withOps = await createWasmKernels();
  const without = await createWasmKernels({ ops: false });
  for (const [label, model] of models) {
    const packed = packModel(model);
    const a = createRuntime(packed, { kernels: withOps });
    const b = createRuntime(packed, { kernels: without });
    for (const n of [1, 3]) {
      const x = Float32Array.from({ length: n * 28 * 28 }, () => rand() * 1.2 - 0.1);
      const got = Float32Array.from(a.run(x, n));
      const want = b.run(x, n);
      assert.ok(want.some((v) => v !== want[0]), `${label}: the logits vary`);
      assert.deepEqual(bits(got), bits(want), `${label}, batch ${n}`);
    }
  }
});

const CHROMIUM = '/usr/bin/chromium';
type PageModule = { lowbitWasm: typeof import('../src/runtime/wasm/index.js') };
interface OpsCase { c: number; x: number[]; a: number[]; b: number[]; acc: number[] }

/** Runs a set of passes on `t` (plain arrays, so that it can be sent to a page); returns every output's bits. Self-contained: serialized into the page. */
async function runOps(m: PageModule['lowbitWasm'], t: OpsCase): Promise<number[][]> {
  const ops = (await m.createWasmKernels()).ops!;
  const c = t.c;
  const x = Float32Array.from(t.x), a = Float32Array.from(t.a), b = Float32Array.from(t.b), acc = Int32Array.from(t.acc);
  const u32 = (v: Float32Array) => Array.from(new Uint32Array(v.buffer));
  const outs: number[][] = [];
  const pixels = x.length / c;
  const g = { n: 1, h: 5, w: pixels / 5, c, kh: 3, kw: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, outH: 3, outW: Math.ceil(pixels / 10), outC: c };
  for (const max of [true, false]) { const y = new Float32Array(g.outH * g.outW * c); ops.pool(x, g, max, y); outs.push(u32(y)); }
  for (const [n, zp, mode] of [[3, 0, 0], [0, 0.5, 1], [0, 0, 1]] as const) { const y = new Float32Array(x.length); ops.quantize(x, c, b, n, a.map(Math.abs), zp, -2, 3, mode, 0, y); outs.push(u32(y)); }
  const q = new Int8Array(x.length);
  ops.quantize(x, c, null, 0, a.map(Math.abs), 0.5, -2, 3, 2, 2, q);
  outs.push(Array.from(q));
  const f = new Float32Array(acc.length);
  ops.affineInt(acc, a, b, true, f);
  outs.push(u32(f));
  const y = x.slice();
  ops.affine(y, a, b);
  ops.prelu(y, c, a, b, a);
  ops.clamp(y, 6);
  outs.push(u32(y));
  const gap = new Float32Array(c);
  ops.globalAveragePool(x, 1, pixels, c, gap);
  outs.push(u32(gap));
  const bitsOut = new Uint32Array(pixels * Math.ceil(c / 32));
  ops.packSigns(x, c, b, true, bitsOut);
  outs.push(Array.from(bitsOut));
  return outs;
}

test('the wasm passes bundled into headless Chromium give the bits they give in Node (pool, quantize, affineInt, affine, RPReLU, clamp, global pooling, packSigns)', { skip: firstPassOnly || (existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)`), timeout: 120_000 }, async () => {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('../src/runtime/wasm/index.js', import.meta.url))],
    bundle: true, platform: 'browser', format: 'iife', globalName: 'lowbitWasm', target: 'es2020', write: false, logLevel: 'silent',
  });
  const c = 37;
  const t: OpsCase = { c, x: Array.from(values(c * 5 * 6, 3)), a: Array.from(values(c, 2)), b: Array.from(values(c)), acc: Array.from({ length: c * 4 }, () => Math.floor(rand() * 2 ** 24) - 2 ** 23) };
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.setContent('<!doctype html><title>lowbit wasm passes</title>');
    await page.addScriptTag({ content: bundle.outputFiles[0].text });
    const inPage = await page.evaluate(
      ([src, arg]) => (0, eval)(`(${src})`)((window as unknown as PageModule).lowbitWasm, arg) as Promise<number[][]>,
      [runOps.toString(), t] as const,
    );
    assert.deepEqual(errors, []);
    const inNode = await runOps({ createWasmKernels } as PageModule['lowbitWasm'], t);
    assert.equal(inPage.length, 10);
    assert.deepEqual(inPage, inNode);
    assert.ok(inNode.every((o) => o.some((v) => v !== 0)), 'every pass wrote something non-zero');
  } finally {
    await browser.close();
  }
});
