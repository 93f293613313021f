/**
 * The native bit-serial int8 convolution (native/bitops.cc, bitSerialConv: Σ w·x from AND +
 * popcount over bit planes, for weight codes of at most 4 levels and activation codes 0 … 3)
 * gives exactly the integer sums of a direct loop, on random shapes: channel counts that do not
 * fill a word, stride 2, same padding, batch 1 and 3, a dense layer — both the AVX-512 VPOPCNTDQ
 * kernel and the portable one (64-bit popcounts; CPUs without VPOPCNTDQ, run here on request);
 * int8Conv2d and int8Conv2dAffine take those paths by themselves and stay exact where they do not apply.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tf, buildModel, dorefaModel, ensureBackend } from '../src/node.js'; // the Node entry: it registers the native backend
import { packModel, unpackModel } from '../src/export/packed.js';
import { nativeAddon } from '../src/backend/native.js';
import { ConvGeometry, createRuntime, jsKernels, nativeKernels, nativeKernelsAvailable } from '../src/runtime/node.js';
import { mulberry32 } from '../src/random.js';
import { directIntConv as reference, squareGeometry } from './runtime-helpers.js';

interface BitSerialAddon { bitops?: { bitSerialConv2d?: (x: Int8Array, w: Int8Array, g: Int32Array, out: Int32Array, portable?: boolean) => boolean; popcount: string } }
const bitops = (nativeAddon() as unknown as BitSerialAddon | null)?.bitops;
const skip = !nativeKernelsAvailable() || !bitops?.bitSerialConv2d ? 'the native addon (with bitSerialConv2d) is not built' : false;
/** The bit-serial path exists on this CPU (AVX-512 VPOPCNTDQ); elsewhere bitSerialConv2d says false and the int8 kernels run. */
const vpopcnt = bitops?.popcount === 'avx512vpopcntdq';
const rand = mulberry32(42);

const pack = (g: ConvGeometry) => Int32Array.from([g.n, g.h, g.w, g.c, g.kh, g.kw, g.strideH, g.strideW, g.padTop, g.padLeft, g.outH, g.outW, g.outC]);

const geometry = squareGeometry;

/** Direct integer convolution with zero padding: x [n,h,w,c], wgt [outC,kh,kw,c]. */

const shapes: ConvGeometry[] = [
  geometry(2, 12, 12, 20, 5, 1, false, 50), // lenet5 conv2 (500 codes per patch)
  geometry(1, 12, 12, 20, 5, 1, false, 50), // … batch 1
  geometry(3, 9, 7, 33, 3, 2, true, 17), // stride 2, padding, 33 channels (a word and one bit)
  geometry(1, 8, 7, 3, 3, 2, true, 5), // 3 channels: taps straddle words
  geometry(1, 6, 5, 67, 3, 1, true, 16),
  geometry(2, 5, 6, 1, 5, 1, true, 20), // one channel, kernel larger than half the image
  geometry(1, 7, 7, 64, 1, 1, false, 33),
  { ...geometry(3, 1, 1, 800, 1, 1, false, 13) }, // a dense layer (lenet5 fc1's 800 inputs)
  geometry(64, 1, 1, 67, 1, 1, false, 9), // a dense layer at batch 64
];
// Weight code sets: DoReFa W1 (±1), W2 (±1, ±3), {0, 1}, an offset grid with step 2, one level.
const weightLevels = [[-1, 1], [-3, -1, 1, 3], [0, 1], [-2, 0, 2, 4], [5]];
const pick = (levels: number[], count: number) => Int8Array.from({ length: count }, () => levels[Math.floor(rand() * levels.length)]);

test('bitSerialConv2d (AVX-512 and portable) equals the direct integer convolution (W1/W2-like weight codes, activation codes 0..1 and 0..3; odd channels, stride 2, padding, batch 1, dense)', { skip }, () => {
  for (const g of shapes) {
    for (const levels of weightLevels) {
      for (const maxCode of [1, 3]) {
        const x = pick(Array.from({ length: maxCode + 1 }, (_, i) => i), g.n * g.h * g.w * g.c);
        const w = pick(levels, g.outC * g.kh * g.kw * g.c);
        const got = new Int32Array(g.n * g.outH * g.outW * g.outC).fill(-7);
        const done = bitops!.bitSerialConv2d!(x, w, pack(g), got);
        assert.equal(done, vpopcnt, `bit-serial path taken (${JSON.stringify(g)})`);
        const want = reference(x, w, g);
        if (done) assert.deepEqual(got, want, `${JSON.stringify(g)} weights ${levels} codes 0..${maxCode}`);
        const portable = new Int32Array(got.length).fill(-7);
        assert.equal(bitops!.bitSerialConv2d!(x, w, pack(g), portable, true), true, 'portable path taken');
        assert.deepEqual(portable, want, `portable ${JSON.stringify(g)} weights ${levels} codes 0..${maxCode}`);
        // The runtime's int8 entry (bit-serial where it applies) and the JS reference kernel agree.
        const viaKernel = new Int32Array(want.length);
        nativeKernels().int8Conv2d(x, w, g, viaKernel);
        assert.deepEqual(viaKernel, want, `int8Conv2d ${JSON.stringify(g)}`);
        const viaJs = new Int32Array(want.length);
        jsKernels.int8Conv2d(x, w, g, viaJs);
        assert.deepEqual(viaJs, want);
      }
    }
  }
});

test('where the bit-serial path does not apply (5 weight levels, negative or ≥ 4 activation codes) bitSerialConv2d declines and int8Conv2d stays exact', { skip }, () => {
  const g = geometry(2, 9, 8, 21, 3, 2, true, 19);
  const count = g.n * g.h * g.w * g.c;
  const wCount = g.outC * g.kh * g.kw * g.c;
  const cases: Array<[string, Int8Array, Int8Array]> = [
    ['5 weight levels', pick([0, 1, 2, 3], count), pick([-2, -1, 0, 1, 2], wCount)],
    ['a negative activation code', Int8Array.from(pick([0, 1, 2, 3], count), (v, i) => (i === count - 1 ? -1 : v)), pick([-1, 1], wCount)],
    ['an activation code of 4', Int8Array.from(pick([0, 1, 2, 3], count), (v, i) => (i === 17 ? 4 : v)), pick([-1, 1], wCount)],
  ];
  for (const [label, x, w] of cases) {
    const out = new Int32Array(g.n * g.outH * g.outW * g.outC);
    assert.equal(bitops!.bitSerialConv2d!(x, w, pack(g), out), false, label);
    assert.equal(bitops!.bitSerialConv2d!(x, w, pack(g), out, true), false, `${label} (portable)`);
    assert.ok(out.every((v) => v === 0), `${label}: nothing written`);
    const got = new Int32Array(out.length);
    nativeKernels().int8Conv2d(x, w, g, got);
    assert.deepEqual(got, reference(x, w, g), label);
  }
  // The same weight array later with small codes: still exact (its planes are built once).
  const w = pick([-3, -1, 1, 3], wCount);
  for (const codes of [[0, 1, 2, 3], [0, 1, 2, 3, 4, 5]]) {
    const x = pick(codes, count);
    const got = new Int32Array(g.n * g.outH * g.outW * g.outC);
    nativeKernels().int8Conv2d(x, w, g, got);
    assert.deepEqual(got, reference(x, w, g), `codes up to ${codes.length - 1}`);
  }
});

test('int8Conv2dAffine on the bit-serial path equals int8Conv2d then affineInt (ReLU or not; odd channels, stride 2, batch 1 and 3)', { skip }, () => {
  const k = nativeKernels();
  const ops = k.ops;
  if (!ops?.int8Conv2dAffine) return;
  for (const g of [shapes[0], shapes[2], shapes[3], shapes[7]]) {
    const x = pick([0, 1, 2, 3], g.n * g.h * g.w * g.c);
    const w = pick([-3, -1, 1, 3], g.outC * g.kh * g.kw * g.c);
    const a = Float32Array.from({ length: g.outC }, () => rand() * 0.02 - 0.01);
    const b = Float32Array.from({ length: g.outC }, () => rand() * 2 - 1);
    const acc = reference(x, w, g);
    for (const relu of [false, true]) {
      const want = new Float32Array(acc.length);
      ops.affineInt(acc, a, b, relu, want);
      const got = new Float32Array(acc.length);
      if (!ops.int8Conv2dAffine(x, w, g, a, b, relu, got)) continue; // no VNNI: the plan runs the kernel and affineInt
      assert.deepEqual(new Uint32Array(got.buffer), new Uint32Array(want.buffer), `${JSON.stringify(g)} relu ${relu}`);
    }
  }
});

test('lenet5 W1/A2 and W2/A2: logits with the bit-serial path are bit-identical to the int8 kernels\' (LOWBIT_BITSERIAL=0 in a child process) and agree with TF.js', { skip: skip || !vpopcnt ? 'needs the addon on a CPU with AVX-512 VPOPCNTDQ' : false }, async () => {
  await ensureBackend('native');
  const r = mulberry32(9);
  const x = Float32Array.from({ length: 5 * 28 * 28 }, () => r());
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-bitserial-'));
  writeFileSync(join(dir, 'x.bin'), new Uint8Array(x.buffer));
  const base = buildModel('lenet5', { seed: 8 });
  for (const wbits of [1, 2]) {
    const q = await dorefaModel(base, { wbits, abits: 2 });
    const { manifest, data } = packModel(q);
    writeFileSync(join(dir, `m${wbits}.json`), JSON.stringify(manifest));
    writeFileSync(join(dir, `m${wbits}.bin`), data);
    const rt = createRuntime({ manifest, data }, { kernels: nativeKernels() });
    assert.deepEqual(rt.steps.filter((s) => s.kernel === 'int8').map((s) => s.layers[0]), ['conv2', 'fc1']);
    const got = rt.run(x, 5);
    const script = `
      import { readFileSync } from 'node:fs';
      const { createRuntime, nativeKernels } = await import(${JSON.stringify(new URL('../src/runtime/node.js', import.meta.url).href)});
      const dir = ${JSON.stringify(dir)};
      const buf = readFileSync(dir + '/x.bin');
      const x = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      const rt = createRuntime({ manifest: JSON.parse(readFileSync(dir + '/m${wbits}.json', 'utf8')), data: new Uint8Array(readFileSync(dir + '/m${wbits}.bin')) }, { kernels: nativeKernels() });
      process.stdout.write(JSON.stringify(Array.from(new Uint32Array(rt.run(x, 5).buffer))));
    `;
    const want = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, LOWBIT_BITSERIAL: '0' } })) as number[];
    assert.deepEqual(Array.from(new Uint32Array(got.buffer)), want, `W${wbits}/A2: bit-serial vs int8 kernels`);
    const reference = await unpackModel(JSON.parse(JSON.stringify(manifest)), data);
    const tfOut = tf.tidy(() => (reference.predict(tf.tensor4d(x, [5, 28, 28, 1])) as tf.Tensor).dataSync() as Float32Array);
    reference.dispose();
    const scale = Math.max(...Array.from(tfOut, Math.abs));
    tfOut.forEach((v, i) => assert.ok(Math.abs(got[i] - v) <= 1e-5 * scale, `W${wbits}/A2 logit ${i}: ${got[i]} vs TF.js ${v}`));
  }
});

test('the padded-weight int8 kernel (VNNI, or AVX2 while every weight code is within ±64) equals the direct loop on full-range activation codes, fused affine included; wider weights decline to the plain kernel', { skip }, () => {
  const k = nativeKernels();
  const padded = (bitops as unknown as { int8Padded?: boolean; vnni?: boolean }).int8Padded === true;
  const vnni = (bitops as unknown as { vnni?: boolean }).vnni === true;
  // Every CPU with the AVX2 (or AVX-512) popcount kernels has one of the two padded kernels.
  if (bitops!.popcount === 'avx2' || bitops!.popcount === 'avx512vpopcntdq') assert.ok(padded, 'int8Padded on an AVX2 CPU');
  for (const g of [shapes[0], shapes[2], shapes[3], shapes[5], shapes[7], shapes[8]]) {
    const x = Int8Array.from({ length: g.n * g.h * g.w * g.c }, (_, i) => (i === 0 ? -128 : i === 1 ? 127 : Math.floor(rand() * 256) - 128));
    for (const range of [64, 127]) {
      const w = Int8Array.from({ length: g.outC * g.kh * g.kw * g.c }, (_, i) => (i === 0 ? -range : i === 1 ? range : Math.floor(rand() * (2 * range + 1)) - range));
      const want = reference(x, w, g);
      const got = new Int32Array(want.length).fill(-7);
      k.int8Conv2d(x, w, g, got);
      assert.deepEqual(got, want, `${JSON.stringify(g)} weights ±${range}`);
      const a = Float32Array.from({ length: g.outC }, () => (rand() - 0.5) * 1e-3);
      const b = Float32Array.from({ length: g.outC }, (_, o) => (o % 4 === 0 ? -a[o] * want[o] : rand() - 0.5)); // some exact zeros
      for (const relu of [false, true]) {
        const wantF = new Float32Array(want.length);
        k.ops!.affineInt(want, a, b, relu, wantF);
        const gotF = new Float32Array(want.length).fill(7);
        const fused = k.ops!.int8Conv2dAffine!(x, w, g, a, b, relu, gotF);
        assert.equal(fused, padded && (range <= 64 || vnni), `fused int8 affine taken (${JSON.stringify(g)} ±${range})`);
        if (fused) assert.deepEqual(new Uint32Array(gotF.buffer), new Uint32Array(wantF.buffer), `${JSON.stringify(g)} ±${range} relu ${relu}`);
        else assert.ok(gotF.every((v) => v === 7), 'declined: nothing written');
      }
    }
  }
});
