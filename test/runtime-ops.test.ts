/**
 * The native runtime's elementwise passes (RuntimeOps in src/runtime/kernels.ts: epilogues,
 * packing, quantizing, pooling, Add, Concatenate) give the same bits as the plan's JavaScript
 * loops: whole models run with and without them, and the quantizer passes on values at the
 * rounding ties and grid edges.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, buildModel, dorefaModel, quantizeModel, ensureBackend } from '../src/node.js'; // the Node entry: it registers the native backend
import { packModel } from '../src/export/packed.js';
import { createRuntime, nativeKernels, nativeKernelsAvailable, RuntimeKernels, wordsFor } from '../src/runtime/node.js';
import { ActivationQuantizer } from '../src/runtime/quantize.js';
import { mulberry32 } from '../src/random.js';

const skip = nativeKernelsAvailable() && nativeKernels().ops ? false : 'the native addon (with the runtime passes) is not built';
const rand = mulberry32(7);

/** Native kernels with and without the passes: the same convolutions, the passes in C or in the plan's JS. */
function pair(): [RuntimeKernels, RuntimeKernels] {
  const k = nativeKernels();
  return [k, { ...k, name: 'native-no-ops', ops: undefined }];
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

test('whole models give identical outputs with the native passes and with the plan\'s JS loops (binary vgg-small with rsign, mobilenet-tiny binary and W2/A2, lenet5 W1/A2 and W2/A2, resnet20 binary; batch 1 and 3)', { skip }, async () => {
  await ensureBackend('native');
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
    ['resnet20 binary', await quantizeModel(buildModel('resnet20', { seed: 6 }), { kernelQuantizer: 'binary', inputQuantizer: 'binary' })],
  ];
  const [withOps, without] = pair();
  for (const [label, model] of models) {
    const packed = packModel(model);
    const a = createRuntime(packed, { kernels: withOps });
    const b = createRuntime(packed, { kernels: without });
    for (const n of [1, 3]) {
      const x = Float32Array.from({ length: n * 28 * 28 }, () => rand() * 1.2 - 0.1);
      const got = a.run(x, n);
      const want = b.run(x, n);
      assert.deepEqual(bits(got), bits(want), `${label}, batch ${n}`);
    }
  }
});

test('native quantize / signs / packSigns equal the JS quantizer at rounding ties, grid edges, −0, with offsets and per-channel scales', { skip }, () => {
  const ops = nativeKernels().ops!;
  const c = 5;
  const offset = Float32Array.from([0.25, -0.5, 0, 0.125, -0.0625]);
  const grids = [
    { type: 'uniform', bits: 2, signed: false, narrow: false, scale: 1 / 3, zeroPoint: 0, axis: null }, // DoReFa A2: ·3
    { type: 'uniform', bits: 4, signed: true, narrow: true, scale: 0.1, zeroPoint: 0, axis: null },
    { type: 'uniform', bits: 3, signed: false, narrow: false, scale: Float32Array.from([0.5, 0.25, 1, 0.75, 2]), zeroPoint: 0, axis: -1 },
    { type: 'uniform', bits: 2, signed: false, narrow: false, scale: 0.5, zeroPoint: 0.5, axis: null, offset },
    { type: 'uniform', bits: 1, signed: false, narrow: false, scale: 2, zeroPoint: 0.5, axis: null, offset }, // bipolar (rsign)
    { type: 'uniform', bits: 1, signed: false, narrow: false, scale: Float32Array.from([1, 2, 3, 4, 5]), zeroPoint: 0.5, axis: -1 },
  ] as const;
  // Ties k/6 (half steps of a ⅓ grid), ±0, values past both ends, and random values.
  const special = [0, -0, 1 / 6, 0.5, 1.5 / 3, 2.5 / 3, 0.05, 0.15, -0.25, 0.125, 3, -3, 0.5 - 2 ** -24, 1e-30, -1e-30, NaN, Infinity, -Infinity, 1e30];
  const x = Float32Array.from({ length: c * 41 }, (_, i) => (i < special.length * 2 ? special[i >> 1] * (i & 1 ? 1 : -1) : rand() * 4 - 2));
  for (const grid of grids) {
    const q = new ActivationQuantizer(grid as never, c);
    const a = new Float32Array(x.length);
    const b = new Float32Array(x.length);
    q.toValues(x, a);
    q.toValues(x, b, ops);
    assert.deepEqual(bits(b), bits(a), `toValues ${JSON.stringify(grid)}`);
    if (q.bipolar || q.fitsInt8) {
      const i = new Int8Array(x.length);
      const j = new Int8Array(x.length);
      q.toInt8(x, i);
      q.toInt8(x, j, ops);
      assert.deepEqual(j, i, `toInt8 ${JSON.stringify(grid)}`);
    }
    if (q.bipolar) {
      const u = new Uint32Array((x.length / c) * wordsFor(c));
      const v = new Uint32Array(u.length);
      q.toBits(x, u);
      q.toBits(x, v, ops);
      assert.deepEqual(v, u, 'toBits');
    }
  }
});

test('native pool, affineInt, packThreshold, prelu, clamp, addInto, add, concatInto and globalAveragePool equal direct loops (odd channels, stride 2, padding)', { skip }, () => {
  const ops = nativeKernels().ops!;
  const c = 37;
  const n = 2;
  const h = 7;
  const w = 5;
  const x = Float32Array.from({ length: n * h * w * c }, () => rand() * 2 - 1);
  // 3×3 max/avg pooling, stride 2, same padding (windows at the border hold fewer taps).
  const g = { n, h, w, c, kh: 3, kw: 3, strideH: 2, strideW: 2, padTop: 1, padLeft: 1, outH: 4, outW: 3, outC: c };
  for (const max of [true, false]) {
    const out = new Float32Array(n * 4 * 3 * c);
    ops.pool(x, g, max, out);
    for (let b = 0; b < n; b++) for (let oy = 0; oy < 4; oy++) for (let ox = 0; ox < 3; ox++) for (let ch = 0; ch < c; ch++) {
      const vals: number[] = [];
      for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
        const iy = oy * 2 - 1 + ky;
        const ix = ox * 2 - 1 + kx;
        if (iy >= 0 && iy < h && ix >= 0 && ix < w) vals.push(x[((b * h + iy) * w + ix) * c + ch]);
      }
      const want = Math.fround(max ? Math.max(...vals) : vals.reduce((s, v) => s + v, 0) / vals.length);
      assert.equal(out[((b * 4 + oy) * 3 + ox) * c + ch], want, `${max ? 'max' : 'avg'} pool`);
    }
  }
  // Integer epilogue: large sums (rounding of r·a), negative scales.
  const acc = Int32Array.from({ length: 6 * c }, () => Math.floor(rand() * 2 ** 24) - 2 ** 23);
  const a = Float32Array.from({ length: c }, () => rand() * 2e-3 - 1e-3);
  const bias = Float32Array.from({ length: c }, () => rand() * 2 - 1);
  for (const relu of [false, true]) {
    const out = new Float32Array(acc.length);
    ops.affineInt(acc, a, bias, relu, out);
    acc.forEach((r, i) => { const v = r * a[i % c] + bias[i % c]; assert.equal(out[i], relu && v < 0 ? 0 : Math.fround(v)); });
  }
  // Packing (37 channels: AVX2 groups of 8 and a scalar tail, or the scalar loop; 48 and 64: 16 bits per AVX-512 comparison where present).
  for (const pc of [37, 48, 64]) {
    const words = wordsFor(pc);
    const r = Int32Array.from({ length: 5 * pc }, () => Math.floor(rand() * 2 ** 12) - 2 ** 11);
    const sign = Int32Array.from({ length: pc }, () => (rand() < 0.5 ? -1 : 1));
    const t = Int32Array.from({ length: pc }, (_, o) => (o % 7 === 0 ? r[o] * sign[o] : Math.floor(rand() * 2 ** 12) - 2 ** 11)); // some ties
    const packed = new Uint32Array(5 * words).fill(0xffffffff);
    ops.packThreshold(r, sign, t, packed);
    const bitAt = (arr: Uint32Array, p: number, o: number) => (arr[p * words + (o >>> 5)] >>> (o & 31)) & 1;
    r.forEach((v, i) => assert.equal(bitAt(packed, Math.floor(i / pc), i % pc), sign[i % pc] * v > t[i % pc] ? 1 : 0, `packThreshold c=${pc}`));
    for (let p = 0; p < 5; p++) if (pc % 32) assert.equal(packed[p * words + words - 1] >>> (pc % 32), 0, 'unused high bits are 0');
    const v = Float32Array.from({ length: 5 * pc }, (_, i) => [0, -0, NaN, -1e-30][i % 11] ?? rand() * 2 - 1);
    const off = Float32Array.from({ length: pc }, (_, o) => (o % 5 === 0 ? 0 : rand() - 0.5));
    for (const offset of [null, off]) for (const relu of [false, true]) {
      const got = new Uint32Array(5 * words).fill(0xffffffff);
      ops.packSigns(v, pc, offset, relu, got);
      v.forEach((x, i) => {
        const o = i % pc;
        const y = relu ? (x < 0 ? 0 : x) : x;
        assert.equal(bitAt(got, Math.floor(i / pc), o), (offset ? Math.fround(y + offset[o]) : y) >= 0 ? 1 : 0, `packSigns c=${pc} relu=${relu} offset=${!!offset} x=${x}`);
      });
    }
  }
  // PReLU / RPReLU (per channel and per element alpha), ReLU6, Add, Concatenate, global pooling.
  const alphaC = Float32Array.from({ length: c }, () => rand());
  const alphaE = Float32Array.from({ length: h * w * c }, () => rand());
  const shift = Float32Array.from({ length: c }, () => rand() - 0.5);
  for (const [alpha, sIn, sOut] of [[alphaC, null, null], [alphaC, shift, bias], [alphaE, shift, null]] as const) {
    const y = x.slice();
    ops.prelu(y, c, alpha, sIn, sOut);
    x.forEach((v0, i) => {
      const ch = i % c;
      const v = sIn ? v0 - sIn[ch] : v0;
      const r = v >= 0 ? v : alpha[alpha.length === c ? ch : i % alpha.length] * v;
      assert.equal(y[i], Math.fround(sOut ? r + sOut[ch] : r));
    });
  }
  const y6 = x.map((v) => v * 8);
  ops.clamp(y6, 6);
  x.forEach((v, i) => assert.equal(y6[i], Math.fround(Math.min(6, Math.max(0, Math.fround(v * 8))))));
  const sum = x.slice();
  ops.addInto(sum, y6);
  x.forEach((v, i) => assert.equal(sum[i], Math.fround(v + y6[i])));
  const sum2 = new Float32Array(x.length);
  ops.add(sum2, x, y6);
  assert.deepEqual(sum2, sum);
  const cat = new Float32Array(n * h * w * (c + 3));
  const x3 = Float32Array.from({ length: n * h * w * 3 }, () => rand());
  ops.concatInto(x, c, cat, c + 3, 0);
  ops.concatInto(x3, 3, cat, c + 3, c);
  for (let p = 0; p < n * h * w; p++) {
    for (let ch = 0; ch < c; ch++) assert.equal(cat[p * (c + 3) + ch], x[p * c + ch]);
    for (let ch = 0; ch < 3; ch++) assert.equal(cat[p * (c + 3) + c + ch], x3[p * 3 + ch]);
  }
  const gap = new Float32Array(n * c);
  ops.globalAveragePool(x, n, h * w, c, gap);
  for (let b = 0; b < n; b++) for (let ch = 0; ch < c; ch++) {
    let s = 0;
    for (let p = 0; p < h * w; p++) s = Math.fround(s + x[(b * h * w + p) * c + ch]);
    assert.equal(gap[b * c + ch], Math.fround(s / (h * w)));
  }
});

test('fused native kernels: binaryConv2dThreshold = binaryConv2d + packThreshold, floatConv2dSigns = floatConv2d + packSigns, floatConv2dRelu = floatConv2d + ReLU, binaryConv2dAffine / int8Conv2dAffine = the kernel + affineInt (odd channels, stride 2, same/valid, batch 1 and 3)', { skip }, () => {
  const k = nativeKernels();
  const ops = k.ops!;
  const shapes = [
    { n: 1, h: 7, w: 6, c: 3, kh: 3, stride: 1, same: true, outC: 5 },
    { n: 3, h: 9, w: 9, c: 33, kh: 3, stride: 2, same: true, outC: 20 },
    { n: 1, h: 8, w: 7, c: 65, kh: 3, stride: 2, same: false, outC: 48 },
    { n: 2, h: 10, w: 9, c: 1, kh: 5, stride: 1, same: false, outC: 33 },
    { n: 1, h: 6, w: 6, c: 2, kh: 3, stride: 1, same: true, outC: 64 },
    { n: 1, h: 1, w: 1, c: 800, kh: 1, stride: 1, same: false, outC: 17 },
  ];
  let fusedBinary = 0;
  let fusedFloat = 0;
  let fusedInt8 = 0;
  for (const t of shapes) {
    const outH = t.same ? Math.ceil(t.h / t.stride) : Math.ceil((t.h - t.kh + 1) / t.stride);
    const outW = t.same ? Math.ceil(t.w / t.stride) : Math.ceil((t.w - t.kh + 1) / t.stride);
    const padTop = t.same ? Math.floor(Math.max((outH - 1) * t.stride + t.kh - t.h, 0) / 2) : 0;
    const padLeft = t.same ? Math.floor(Math.max((outW - 1) * t.stride + t.kh - t.w, 0) / 2) : 0;
    const g = { n: t.n, h: t.h, w: t.w, c: t.c, kh: t.kh, kw: t.kh, strideH: t.stride, strideW: t.stride, padTop, padLeft, outH, outW, outC: t.outC };
    const pixels = t.n * outH * outW;
    const words = wordsFor(t.outC);
    const inWords = wordsFor(t.c);
    const mask = t.c % 32 ? 2 ** (t.c % 32) - 1 : 0xffffffff;
    const x = Uint32Array.from({ length: t.n * t.h * t.w * inWords }, (_, i) => Math.floor(rand() * 2 ** 32) & (i % inWords === inWords - 1 ? mask : 0xffffffff));
    const wgt = Uint32Array.from({ length: t.outC * t.kh * t.kh * inWords }, (_, i) => Math.floor(rand() * 2 ** 32) & (i % inWords === inWords - 1 ? mask : 0xffffffff));
    const acc = new Int32Array(pixels * t.outC);
    k.binaryConv2d(x, wgt, g, acc);
    const sign = Int32Array.from({ length: t.outC }, () => (rand() < 0.5 ? -1 : 1));
    const th = Int32Array.from({ length: t.outC }, (_, o) => (o % 3 === 0 ? sign[o] * acc[o] : Math.floor(rand() * 2 * t.c) - t.c)); // some ties
    const want = new Uint32Array(pixels * words);
    ops.packThreshold(acc, sign, th, want);
    const got = new Uint32Array(pixels * words).fill(0xffffffff);
    if (ops.binaryConv2dThreshold!(x, wgt, g, sign, th, got)) { fusedBinary++; assert.deepEqual(got, want, `binary ${JSON.stringify(t)}`); }
    const ea = Float32Array.from({ length: t.outC }, () => (rand() - 0.5) * 0.02);
    const eb = Float32Array.from({ length: t.outC }, (_, o) => (o % 4 === 0 ? -ea[o] * acc[o] : rand() - 0.5)); // some exact zeros
    for (const relu of [false, true]) {
      const wantA = new Float32Array(pixels * t.outC);
      ops.affineInt(acc, ea, eb, relu, wantA);
      const gotA = new Float32Array(pixels * t.outC).fill(7);
      if (ops.binaryConv2dAffine!(x, wgt, g, ea, eb, relu, gotA)) { fusedBinary++; assert.deepEqual(bits(gotA), bits(wantA), `binary affine ${JSON.stringify(t)} relu=${relu}`); }
      else assert.ok(gotA.every((v) => v === 7), 'not fused: nothing written');
    }
    // The int8 convolution with the same epilogue fused (VNNI).
    const xi = Int8Array.from({ length: t.n * t.h * t.w * t.c }, () => Math.floor(rand() * 256) - 128);
    const wi = Int8Array.from({ length: t.outC * t.kh * t.kh * t.c }, () => Math.floor(rand() * 255) - 127);
    const acci = new Int32Array(pixels * t.outC);
    k.int8Conv2d(xi, wi, g, acci);
    const ia = Float32Array.from({ length: t.outC }, () => (rand() - 0.5) * 1e-3);
    const ib = Float32Array.from({ length: t.outC }, (_, o) => (o % 4 === 0 ? -ia[o] * acci[o] : rand() - 0.5));
    for (const relu of [false, true]) {
      const wantI = new Float32Array(pixels * t.outC);
      ops.affineInt(acci, ia, ib, relu, wantI);
      const gotI = new Float32Array(pixels * t.outC).fill(7);
      if (ops.int8Conv2dAffine!(xi, wi, g, ia, ib, relu, gotI)) { fusedInt8++; assert.deepEqual(bits(gotI), bits(wantI), `int8 affine ${JSON.stringify(t)} relu=${relu}`); }
      else assert.ok(gotI.every((v) => v === 7), 'not fused: nothing written');
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
      if (ops.floatConv2dSigns!(xf, wf, bias, g, relu, off, new Float32Array(pixels * t.outC), gotF)) { fusedFloat++; assert.deepEqual(gotF, wantF, `float ${JSON.stringify(t)} relu=${relu}`); }
      else assert.ok(gotF.every((v) => v === 0xffffffff), 'not fused: nothing written');
    }
    const yr = new Float32Array(pixels * t.outC).fill(7);
    if (ops.floatConv2dRelu!(xf, wf, bias, g, yr)) {
      fusedFloat++;
      assert.deepEqual(bits(yr), bits(y.map((v) => (v < 0 ? 0 : v))), `float relu ${JSON.stringify(t)}`);
    } else assert.ok(yr.every((v) => v === 7), 'not fused: nothing written');
  }
  // With AVX-512 the fused paths run: every binary shape, the few-channel float ones (also with AVX2).
  if (k.popcount === 'avx512vpopcntdq') assert.equal(fusedBinary, 3 * shapes.length);
  if (k.popcount === 'avx512vpopcntdq' || k.popcount === 'avx2') assert.ok(fusedFloat >= 15, `float fused ${fusedFloat}`);
  if ((nativeKernels() as unknown as { vnni?: boolean }).vnni !== false) assert.ok(fusedInt8 === 0 || fusedInt8 === 2 * shapes.length, `int8 fused ${fusedInt8}`);
});
