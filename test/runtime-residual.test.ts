/**
 * The residual epilogues (src/runtime/plan.ts Residual; native/bitops.cc binaryRowAvx2 and
 * depthwiseRowAvx2): a convolution's result + the Add's other input, then a per-channel PReLU,
 * in one pass — checked against direct loops on random shapes (odd channel counts, stride 2,
 * padding, batch 1), and the plan's fused step on mobilenet-tiny against the same model run by the
 * JS kernels (no fused passes) and by TF.js.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, buildModel, quantizeModel, ensureBackend } from '../src/node.js';
import { packModel, unpackModel } from '../src/export/packed.js';
import { ConvGeometry, createRuntime, jsKernels, nativeKernels, nativeKernelsAvailable, runtimeKernels, wordsFor } from '../src/runtime/node.js';
import { mulberry32 } from '../src/random.js';
import { directIntConv as directBinary } from './runtime-helpers.js';

const native = nativeKernelsAvailable() ? nativeKernels() : null;
const skip = native?.ops?.binaryConv2dAffineResidual ? false : 'the native addon (with the residual epilogues) is not built';
const rand = mulberry32(31);
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

function geometry(n: number, h: number, w: number, c: number, k: number, stride: number, same: boolean, outC: number): ConvGeometry {
  const outH = same ? Math.ceil(h / stride) : Math.ceil((h - k + 1) / stride);
  const outW = same ? Math.ceil(w / stride) : Math.ceil((w - k + 1) / stride);
  const padTop = same ? Math.floor(Math.max((outH - 1) * stride + k - h, 0) / 2) : 0;
  const padLeft = same ? Math.floor(Math.max((outW - 1) * stride + k - w, 0) / 2) : 0;
  return { n, h, w, c, kh: k, kw: k, strideH: stride, strideW: stride, padTop, padLeft, outH, outW, outC };
}

/** Σ over in-image taps of ±1·±1 (x, w as ±1 per channel; depthwise: per channel only, float). */

function pack(v: Int8Array, c: number): Uint32Array {
  const words = wordsFor(c);
  const out = new Uint32Array((v.length / c) * words);
  for (let p = 0; p < v.length / c; p++) for (let k = 0; k < c; k++) if (v[p * c + k] > 0) out[p * words + (k >>> 5)] |= 1 << (k & 31);
  return out;
}

const signs = (count: number) => Int8Array.from({ length: count }, () => (rand() < 0.5 ? -1 : 1));

// Shapes: odd channel counts (partial blocks of 8 outputs, partial words), stride 2 with same
// padding, batch 1 and 2; 3×3 over 1100 channels runs 105 words per kernel row (the per-byte
// popcount sums are widened every 31 words); 1×1 kernels (the native AVX2 pointwise rows: one word,
// two, 35 with stride 2); the last shape is large enough for the native kernel's threads (2^21 words).
const binaryShapes: Array<[number, number, number, number, number, number, boolean, number]> = [
  [1, 7, 6, 3, 3, 1, true, 5],
  [2, 9, 9, 33, 3, 2, true, 13],
  [1, 8, 7, 65, 3, 2, false, 8],
  [1, 14, 14, 16, 1, 1, false, 16],
  [1, 5, 4, 1100, 3, 1, true, 11],
  [1, 1, 1, 67, 1, 1, false, 9],
  [1, 6, 5, 40, 1, 1, false, 20],
  [2, 9, 9, 1100, 1, 2, true, 11],
  [2, 16, 16, 64, 3, 1, true, 256],
];

test('native binaryConv2d, binaryConv2dThreshold and binaryConv2dAffineResidual equal direct loops (odd channels, stride 2, padding, batch 1 and 2)', { skip }, () => {
  const k = native!;
  const ops = k.ops!;
  binaryChecks(k.binaryConv2d.bind(k), ops.binaryConv2dThreshold!.bind(ops), ops.binaryConv2dAffineResidual!.bind(ops));
});

test('wasm binaryConv2dAffineResidual, floatDepthwiseConv2dResidual, prelu, signs and packSigns equal direct loops / its unfused kernels bit for bit (odd channels, stride 2, padding, batch 1)', async () => {
  const k = await runtimeKernels('wasm');
  binaryChecks(k.binaryConv2d.bind(k), null, k.binaryConv2dAffineResidual!.bind(k));
  for (const [n, h, w, c, kk, stride, same] of [[1, 9, 7, 13, 3, 2, true], [2, 6, 5, 16, 3, 1, true], [1, 5, 6, 6, 3, 1, false]] as const) {
    const g = geometry(n, h, w, c, kk, stride, same, c);
    const x = Float32Array.from({ length: n * h * w * c }, () => rand() * 2 - 1);
    const wgt = Float32Array.from({ length: kk * kk * c }, () => rand() * 2 - 1);
    const bias = Float32Array.from({ length: c }, () => rand() - 0.5);
    const y = new Float32Array(n * g.outH * g.outW * c);
    k.floatDepthwiseConv2d(x, wgt, bias, g, y);
    const res = Float32Array.from({ length: y.length }, () => rand() * 2 - 1);
    const alpha = Float32Array.from({ length: c }, () => rand() * 0.5);
    for (const al of [null, alpha]) {
      const expect = y.map((v, i) => { const s = Math.fround(v + res[i]); return al && !(s >= 0) ? Math.fround(al[i % c] * s) : s; });
      const got = new Float32Array(y.length).fill(7);
      assert.equal(k.floatDepthwiseConv2dResidual!(x, wgt, bias, g, res, al, got), true);
      assert.deepEqual(bits(got), bits(expect), `wasm depthwise residual ${JSON.stringify(g)} prelu=${!!al}`);
    }
  }
  // PReLU in place (the stem's stage): zeros, −0, NaN, odd channel counts.
  for (const c of [13, 16]) {
    const x = Float32Array.from({ length: 6 * c }, (_, i) => [0, -0, NaN, -1e-30][i % 11] ?? rand() * 2 - 1);
    const alpha = Float32Array.from({ length: c }, () => rand() * 0.5);
    const want = x.map((v, i) => (v >= 0 ? v : Math.fround(alpha[i % c] * v)));
    k.prelu!(x, c, alpha);
    assert.deepEqual(bits(x), bits(want), `wasm prelu c=${c}`);
  }
  // Bipolar input values: ±levels by the sign of x (+ offset), zeros, −0 and NaN included.
  for (const c of [13, 16]) {
    const x = Float32Array.from({ length: 6 * c }, (_, i) => [0, -0, NaN, -1e-30][i % 11] ?? rand() * 2 - 1);
    const off = Float32Array.from({ length: c }, (_, o) => (o % 5 === 0 ? 0 : rand() - 0.5));
    const levels = Float32Array.from({ length: c }, () => Math.fround(rand()));
    for (const offset of [null, off]) {
      const got = new Float32Array(x.length).fill(7);
      k.signs!(x, c, offset, levels, got);
      const want = x.map((v, i) => ((offset ? Math.fround(v + offset[i % c]) : v) >= 0 ? levels[i % c] : -levels[i % c]));
      assert.deepEqual(bits(got), bits(want), `wasm signs c=${c} offset=${!!offset}`);
    }
  }
  // Sign packing: zeros, −0, NaN, offsets; 37 channels (a partial word and a tail after the groups of four).
  for (const c of [37, 16, 3]) {
    const words = wordsFor(c);
    const x = Float32Array.from({ length: 5 * c }, (_, i) => [0, -0, NaN, -1e-30][i % 13] ?? rand() * 2 - 1);
    const off = Float32Array.from({ length: c }, (_, o) => (o % 5 === 0 ? 0 : rand() - 0.5));
    for (const offset of [null, off]) {
      const got = new Uint32Array(5 * words).fill(0xffffffff);
      k.packSigns!(x, c, offset, got);
      for (let p = 0; p < 5; p++) for (let o = 0; o < words * 32; o++) {
        const v = o < c ? (offset ? Math.fround(x[p * c + o] + offset[o]) : x[p * c + o]) : -1;
        assert.equal((got[p * words + (o >>> 5)] >>> (o & 31)) & 1, v >= 0 ? 1 : 0, `wasm packSigns c=${c} pixel ${p} channel ${o}`);
      }
    }
  }
});

type BinaryConv = (x: Uint32Array, w: Uint32Array, g: ConvGeometry, out: Int32Array) => void;
type BinaryThreshold = (x: Uint32Array, w: Uint32Array, g: ConvGeometry, sign: Int32Array, t: Int32Array, out: Uint32Array) => boolean;
type BinaryAffineResidual = (x: Uint32Array, w: Uint32Array, g: ConvGeometry, a: Float32Array, b: Float32Array, relu: boolean, res: Float32Array, alpha: Float32Array | null, out: Float32Array) => boolean;

function binaryChecks(conv: BinaryConv, threshold: BinaryThreshold | null, affineResidual: BinaryAffineResidual): void {
  for (const [n, h, w, c, kk, stride, same, outC] of binaryShapes) {
    const g = geometry(n, h, w, c, kk, stride, same, outC);
    const where = JSON.stringify(g);
    const xs = signs(n * h * w * c);
    const ws = signs(outC * kk * kk * c);
    const x = pack(xs, c);
    const wgt = pack(ws, c);
    const want = directBinary(xs, ws, g);
    const acc = new Int32Array(want.length);
    conv(x, wgt, g, acc);
    assert.deepEqual(acc, want, `binaryConv2d ${where}`);
    // Threshold bits (some ties: t = s·r for the first pixel's channels).
    const pixels = want.length / outC;
    const sign = Int32Array.from({ length: outC }, () => (rand() < 0.5 ? -1 : 1));
    const th = Int32Array.from({ length: outC }, (_, o) => (o % 3 === 0 ? sign[o] * want[o] : Math.floor(rand() * 2 * c) - c));
    const words = wordsFor(outC);
    const gotBits = new Uint32Array(pixels * words).fill(0xffffffff);
    if (threshold && threshold(x, wgt, g, sign, th, gotBits)) {
      for (let p = 0; p < pixels; p++) for (let o = 0; o < words * 32; o++) {
        const bit = (gotBits[p * words + (o >>> 5)] >>> (o & 31)) & 1;
        assert.equal(bit, o < outC && sign[o] * want[p * outC + o] > th[o] ? 1 : 0, `threshold ${where} pixel ${p} channel ${o}`);
      }
    }
    // Affine (+ ReLU), + residual, + PReLU: some results exactly 0 and −0 before the residual.
    const a = Float32Array.from({ length: outC }, () => (rand() - 0.5) * 0.05);
    const b = Float32Array.from({ length: outC }, (_, o) => (o % 4 === 0 ? -a[o] * want[o] : rand() - 0.5));
    const res = Float32Array.from({ length: want.length }, (_, i) => (i % 9 === 0 ? -0 : rand() * 2 - 1));
    const alpha = Float32Array.from({ length: outC }, () => rand() * 0.5);
    for (const relu of [false, true]) for (const al of [null, alpha]) {
      const expect = new Float32Array(want.length);
      for (let i = 0; i < want.length; i++) {
        const o = i % outC;
        const v = want[i] * a[o] + b[o];
        const f = relu && v < 0 ? 0 : Math.fround(v);
        const s = Math.fround(f + res[i]);
        expect[i] = al && !(s >= 0) ? Math.fround(al[o] * s) : s;
      }
      const got = new Float32Array(want.length).fill(7);
      assert.equal(affineResidual(x, wgt, g, a, b, relu, res, al, got), true, 'the fused path runs (native: the addon needs AVX2)');
      assert.deepEqual(bits(got), bits(expect), `affine residual ${where} relu=${relu} prelu=${!!al}`);
    }
  }
}

test('native floatDepthwiseConv2dResidual = floatDepthwiseConv2d + Add + PReLU bit for bit, and the depthwise kernel matches a float64 loop (8–64 channels, stride 2, padding, batch 1)', { skip }, () => {
  const k = native!;
  const ops = k.ops!;
  const shapes: Array<[number, number, number, number, number, number, boolean]> = [
    [1, 9, 7, 8, 3, 2, true], [1, 14, 14, 16, 3, 1, true], [2, 7, 9, 24, 3, 2, true], [1, 6, 5, 64, 3, 1, false], [1, 5, 5, 40, 5, 1, true],
  ];
  let fused = 0;
  for (const [n, h, w, c, kk, stride, same] of shapes) {
    const g = geometry(n, h, w, c, kk, stride, same, c);
    const where = JSON.stringify(g);
    const x = Float32Array.from({ length: n * h * w * c }, () => rand() * 2 - 1);
    const wgt = Float32Array.from({ length: kk * kk * c }, () => rand() * 2 - 1);
    const bias = Float32Array.from({ length: c }, () => rand() - 0.5);
    const y = new Float32Array(n * g.outH * g.outW * c);
    k.floatDepthwiseConv2d(x, wgt, bias, g, y);
    for (let b = 0; b < n; b++) for (let oy = 0; oy < g.outH; oy++) for (let ox = 0; ox < g.outW; ox++) for (let ch = 0; ch < c; ch++) {
      let s = bias[ch];
      let mag = Math.abs(bias[ch]);
      for (let ky = 0; ky < kk; ky++) for (let kx = 0; kx < kk; kx++) {
        const iy = oy * stride - g.padTop + ky;
        const ix = ox * stride - g.padLeft + kx;
        if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
        const t = x[((b * h + iy) * w + ix) * c + ch] * wgt[(ky * kk + kx) * c + ch];
        s += t;
        mag += Math.abs(t);
      }
      const i = ((b * g.outH + oy) * g.outW + ox) * c + ch;
      assert.ok(Math.abs(y[i] - s) <= 1e-6 * mag, `depthwise ${where} [${i}]: ${y[i]} vs ${s}`);
    }
    const res = Float32Array.from({ length: y.length }, () => rand() * 2 - 1);
    const alpha = Float32Array.from({ length: c }, () => rand() * 0.5);
    for (const al of [null, alpha]) {
      const expect = y.map((v, i) => { const s = Math.fround(v + res[i]); return al && !(s >= 0) ? Math.fround(al[i % c] * s) : s; });
      const got = new Float32Array(y.length).fill(7);
      if (ops.floatDepthwiseConv2dResidual!(x, wgt, bias, g, res, al, got)) { fused++; assert.deepEqual(bits(got), bits(expect), `depthwise residual ${where} prelu=${!!al}`); }
      else assert.ok(got.every((v) => v === 7), 'not fused: nothing written');
    }
  }
  assert.equal(fused, 2 * shapes.length, 'the AVX2 depthwise rows run every multiple of 8 up to 64 channels');
  // Not a multiple of 8: declined, nothing written.
  const g = geometry(1, 5, 5, 12, 3, 1, true, 12);
  const out = new Float32Array(25 * 12).fill(7);
  assert.equal(ops.floatDepthwiseConv2dResidual!(new Float32Array(300), new Float32Array(108), null, g, new Float32Array(300), null, out), false);
  assert.ok(out.every((v) => v === 7));
});

test('mobilenet-tiny binary: depthwise and point-wise steps absorb their Add and PReLU; outputs equal the JS and wasm kernels\' and agree with TF.js', { skip }, async () => {
  await ensureBackend('native');
  const model = await quantizeModel(buildModel('mobilenet-tiny', { seed: 8 }), { kernelQuantizer: 'binary', inputQuantizer: 'binary' });
  const packed = packModel(model);
  // Count the fused residual calls (native passes; wasm kernels' own forms).
  const calls = { native: 0, wasm: 0 };
  const ops = native!.ops!;
  const countedOps = {
    ...ops,
    binaryConv2dAffineResidual: (...a: Parameters<NonNullable<typeof ops.binaryConv2dAffineResidual>>) => { calls.native++; return ops.binaryConv2dAffineResidual!(...a); },
    floatDepthwiseConv2dResidual: (...a: Parameters<NonNullable<typeof ops.floatDepthwiseConv2dResidual>>) => { calls.native++; return ops.floatDepthwiseConv2dResidual!(...a); },
  };
  const rt = createRuntime(packed, { kernels: { ...native!, ops: countedOps } });
  const steps = rt.steps.map((s) => s.layers.join('+'));
  for (const fusedStep of ['b1_dw+b1_dw_bn+b1_dw_add+b1_dw_act', 'b1_pw_a+b1_pw_a_bn+b1_pw_a_add+b1_pw_a_act', 'b2_dw+b2_dw_bn+b2_dw_add+b2_dw_act', 'b3_pw+b3_pw_bn+b3_pw_add+b3_pw_act']) {
    assert.ok(steps.includes(fusedStep), `${fusedStep} in ${steps.join(', ')}`);
  }
  assert.ok(!rt.steps.some((s) => s.op === 'add'), 'no standalone Add step is left');
  const js = createRuntime(packed, { kernels: jsKernels });
  const wk = await runtimeKernels('wasm');
  const wasmBinary = wk.binaryConv2dAffineResidual!.bind(wk);
  const wasmDepthwise = wk.floatDepthwiseConv2dResidual!.bind(wk);
  Object.assign(wk, {
    binaryConv2dAffineResidual: (...a: Parameters<typeof wasmBinary>) => { calls.wasm++; return wasmBinary(...a); },
    floatDepthwiseConv2dResidual: (...a: Parameters<typeof wasmDepthwise>) => { calls.wasm++; return wasmDepthwise(...a); },
  });
  const wasm = createRuntime(packed, { kernels: wk });
  const reference = await unpackModel(JSON.parse(JSON.stringify(packed.manifest)), packed.data);
  for (const n of [1, 3]) {
    const x = Float32Array.from({ length: n * 28 * 28 }, () => rand() * 1.2 - 0.1);
    const got = Float32Array.from(rt.run(x, n));
    // The JS kernels' integer results are the native ones; their float layers sum in another order.
    const viaJs = js.run(x, n);
    const viaWasm = wasm.run(x, n);
    const want = tf.tidy(() => (reference.predict(tf.tensor4d(x, [n, 28, 28, 1])) as tf.Tensor).dataSync() as Float32Array);
    // max |Δlogit| / max |logit|, as test/runtime.test.ts measures agreement with TF.js.
    const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const rel = (y: Float32Array) => y.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0) / scale;
    assert.ok(rel(got) < 1e-5, `native vs TF.js, batch ${n}: ${rel(got)}`);
    assert.ok(rel(viaJs) < 1e-5, `js vs TF.js, batch ${n}: ${rel(viaJs)}`);
    assert.ok(rel(viaWasm) < 1e-5, `wasm vs TF.js, batch ${n}: ${rel(viaWasm)}`);
  }
  // Every depthwise and point-wise step (3 + 5) ran fused, at both batch sizes.
  assert.deepEqual(calls, { native: 16, wasm: 16 });
  reference.dispose();
});
