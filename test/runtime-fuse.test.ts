/**
 * The fused first-layer pass (RuntimeOps.floatConv2dMaxPool, native/bitops.cc floatConv2dPool):
 * float convolution + ReLU + max pooling (+ the next int8 layer's input codes) in one pass gives
 * exactly the bits of the passes it replaces — floatConv2d (with its ReLU), pool, quantize — on
 * random shapes (odd sizes, padding, stride 2, overlapping pool windows, batch 1), and whole
 * models give the same logits with and without it (also with LOWBIT_BITSERIAL=0, in a child
 * process). The plan uses it only on backends that have it (the JS and wasm kernels do not).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildModel, dorefaModel, ensureBackend, tf } from '../src/node.js'; // the Node entry: it registers the native backend
import { packModel } from '../src/export/packed.js';
import { ConvGeometry, createRuntime, jsKernels, nativeKernels, nativeKernelsAvailable, RuntimeKernels } from '../src/runtime/node.js';
import { ActivationQuantizer } from '../src/runtime/quantize.js';
import { mulberry32 } from '../src/random.js';
import { squareGeometry } from './runtime-helpers.js';

const skip = nativeKernelsAvailable() && nativeKernels().ops?.floatConv2dMaxPool ? false : 'the native addon (with floatConv2dPool) is not built';
const rand = mulberry32(20);
const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

const geometry = squareGeometry;

/** Without the fused pass: the same native kernels and passes otherwise. */
function unfused(k: RuntimeKernels): RuntimeKernels {
  const { floatConv2dMaxPool: _, ...ops } = k.ops!;
  return { ...k, name: 'native-unfused', ops };
}

test('floatConv2dMaxPool = floatConv2d (+ ReLU) → pool → quantize, bit for bit (odd sizes, same padding, stride 2, pool 2/3 with stride 1/2 and padding, batch 1 and 3, 1–3 input and 5–64 output channels)', { skip }, () => {
  const k = nativeKernels();
  const ops = k.ops!;
  const convs = [
    geometry(64, 28, 28, 1, 5, 1, false, 20), // lenet5 conv1 at batch 64
    geometry(1, 28, 28, 1, 5, 1, false, 20), // … batch 1
    geometry(3, 11, 9, 1, 5, 1, true, 20), // odd sizes, padding
    geometry(1, 13, 10, 3, 3, 2, true, 5), // stride 2, 3 channels, 5 outputs
    geometry(2, 9, 12, 2, 3, 1, false, 33), // 33 outputs (3 blocks, the last one channel)
    geometry(1, 8, 8, 1, 3, 1, true, 64), // 64 outputs
    geometry(3, 7, 7, 1, 2, 1, false, 16),
    geometry(2, 15, 29, 1, 5, 1, true, 20), // rows of 29: 12 + 12 + 4 + 1 pixels per call, padding at both ends
    geometry(1, 9, 30, 2, 3, 2, true, 9), // stride 2, rows of 15
  ];
  const pools = [
    { k: 2, s: 2, same: false },
    { k: 3, s: 2, same: true }, // overlapping windows, padding
    { k: 3, s: 1, same: false }, // every conv row in three windows
    { k: 2, s: 2, same: true }, // odd input: a last window of one row / column
  ];
  const grids = [
    { type: 'uniform', bits: 2, signed: false, narrow: false, scale: 1 / 3, zeroPoint: 0, axis: null }, // DoReFa A2 (the AVX-512 quantize path)
    { type: 'uniform', bits: 4, signed: true, narrow: true, scale: 0.1, zeroPoint: 0, axis: null }, // signed, ÷ scale
    { type: 'uniform', bits: 2, signed: false, narrow: false, scale: 0.5, zeroPoint: 0.5, axis: null }, // half-integer zero point (m = 2)
  ] as const;
  let fused = 0;
  const avx512 = (k as { popcount?: string }).popcount === 'avx512vpopcntdq';
  for (const g of convs) {
    const xf = Float32Array.from({ length: g.n * g.h * g.w * g.c }, () => rand() * 2 - 0.5);
    const wf = Float32Array.from({ length: g.outC * g.kh * g.kw * g.c }, () => rand() - 0.5);
    const bias = Float32Array.from({ length: g.outC }, () => rand() * 0.4 - 0.2);
    const conv = new Float32Array(g.n * g.outH * g.outW * g.outC);
    const convRelu = new Float32Array(conv.length);
    k.floatConv2d(xf, wf, bias, g, conv);
    assert.ok(ops.floatConv2dRelu!(xf, wf, bias, g, convRelu), 'the register-blocked float path runs');
    // The convolution itself against a float64 loop (within 1e-5 of Σ|terms|: float32 sums).
    for (let b = 0; b < g.n; b++) for (let oy = 0; oy < g.outH; oy++) for (let ox = 0; ox < g.outW; ox++) for (let o = 0; o < g.outC; o++) {
      let sum = bias[o];
      let mag = Math.abs(bias[o]);
      for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
        const iy = oy * g.strideH - g.padTop + ky;
        const ix = ox * g.strideW - g.padLeft + kx;
        if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue;
        for (let ci = 0; ci < g.c; ci++) {
          const t = xf[((b * g.h + iy) * g.w + ix) * g.c + ci] * wf[((o * g.kh + ky) * g.kw + kx) * g.c + ci];
          sum += t;
          mag += Math.abs(t);
        }
      }
      const i = ((b * g.outH + oy) * g.outW + ox) * g.outC + o;
      assert.ok(Math.abs(conv[i] - sum) <= 1e-5 * mag, `conv ${JSON.stringify(g)} output ${i}: ${conv[i]} vs ${sum}`);
    }
    for (const p of pools) {
      const pg0 = geometry(g.n, g.outH, g.outW, g.outC, p.k, p.s, p.same, g.outC);
      const pg = { ...pg0, padTop: p.same ? pg0.padTop : 0, padLeft: p.same ? pg0.padLeft : 0 };
      if (pg.outH < 1 || pg.outW < 1) continue;
      const pooledLen = g.n * pg.outH * pg.outW * g.outC;
      for (const relu of [true, false]) {
        const want = new Float32Array(pooledLen);
        ops.pool(relu ? convRelu : conv, pg, true, want);
        const got = new Float32Array(pooledLen).fill(7);
        const label = `conv ${JSON.stringify(g)} pool ${JSON.stringify(p)} relu=${relu}`;
        // The fused pass is AVX-512 code: elsewhere (AVX2) it declines, writing nothing.
        if (!ops.floatConv2dMaxPool!(xf, wf, bias, g, relu, pg, null, got)) {
          assert.ok(!avx512, `${label}: declined on an AVX-512 CPU`);
          assert.ok(got.every((v) => v === 7), `${label}: declined but wrote`);
          continue;
        }
        fused++;
        assert.deepEqual(bits(got), bits(want), `${label}: pooled floats`);
        for (const grid of grids) {
          const q = new ActivationQuantizer(grid as never, g.outC);
          const wantI = new Int8Array(pooledLen);
          q.toInt8(want, wantI, ops);
          const jsI = new Int8Array(pooledLen);
          q.toInt8(want, jsI);
          assert.deepEqual(wantI, jsI, `${label}: native and JS codes`);
          const gotI = new Int8Array(pooledLen).fill(99);
          assert.ok(ops.floatConv2dMaxPool!(xf, wf, bias, g, relu, pg, q.int8CodeArgs, gotI), label);
          assert.deepEqual(gotI, wantI, `${label}: codes of ${JSON.stringify(grid)}`);
        }
      }
    }
  }
  assert.ok(fused >= 40 || !avx512, `${fused} fused calls`);
  // Where the register-blocked path does not apply (16 input channels; fewer than 16 output pixels) it declines, writing nothing.
  for (const g of [geometry(1, 6, 6, 16, 3, 1, true, 8), geometry(1, 4, 4, 1, 3, 1, false, 8)]) {
    const out = new Float32Array(g.outH * g.outW * g.outC).fill(7);
    const pg = geometry(1, g.outH, g.outW, g.outC, 2, 2, false, g.outC);
    assert.equal(ops.floatConv2dMaxPool!(new Float32Array(g.h * g.w * g.c), new Float32Array(g.outC * 9 * g.c), null, g, true, pg, null, out), false);
    assert.ok(out.every((v) => v === 7));
  }
});

/** lenet5 (float, W1/A2, W2/A2) packed, and a float conv → ReLU → pool → int8 layer with same padding, odd sizes, stride 2, pool 3/2. */
async function models(): Promise<Array<[string, tf.LayersModel]>> {
  const lenet = buildModel('lenet5', { seed: 11 });
  const input = tf.input({ shape: [13, 11, 3] });
  let y = tf.layers.conv2d({ filters: 7, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu', name: 'c1' }).apply(input) as tf.SymbolicTensor;
  y = tf.layers.maxPooling2d({ poolSize: 3, strides: 2, padding: 'same', name: 'p1' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.conv2d({ filters: 6, kernelSize: 2, name: 'c2' }).apply(y) as tf.SymbolicTensor;
  y = tf.layers.flatten().apply(y) as tf.SymbolicTensor;
  y = tf.layers.dense({ units: 4, name: 'd' }).apply(y) as tf.SymbolicTensor;
  const odd = tf.model({ inputs: input, outputs: y });
  return [
    ['lenet5 float', lenet],
    ['lenet5 W1/A2', await dorefaModel(lenet, { wbits: 1, abits: 2 })],
    ['lenet5 W2/A2', await dorefaModel(lenet, { wbits: 2, abits: 2 })],
    ['odd float', odd],
    ['odd W2/A2', await dorefaModel(odd, { wbits: 2, abits: 2 })],
  ];
}

test('whole models: identical logits with the fused pass, without it, and on the JS kernels\' plan shape (lenet5 float / W1/A2 / W2/A2, an odd-shaped stride-2 model; batch 1 and 5)', { skip }, async () => {
  await ensureBackend('native');
  const k = nativeKernels();
  for (const [label, model] of await models()) {
    const packed = packModel(model);
    const a = createRuntime(packed, { kernels: k });
    const b = createRuntime(packed, { kernels: unfused(k) });
    // A backend whose fused pass declines at run time: the plan fuses, the step falls back to the unfused passes.
    const declining = createRuntime(packed, { kernels: { ...k, name: 'native-declining', ops: { ...k.ops!, floatConv2dMaxPool: () => false } } });
    const [h, w, c] = a.inputShape;
    for (const n of [1, 5]) {
      const x = Float32Array.from({ length: n * h * w * c }, () => rand() * 1.2 - 0.1);
      const got = a.run(x, n);
      const want = b.run(x, n);
      assert.deepEqual(bits(got), bits(want), `${label}, batch ${n}`);
      assert.deepEqual(bits(declining.run(x, n)), bits(want), `${label}, batch ${n}, fused pass declined`);
      // The JS kernels run the plan unfused (their float convolution rounds differently: agreement, not bits).
      const js = createRuntime(packed, { kernels: jsKernels }).run(x, n);
      const scale = Math.max(1e-6, ...Array.from(want, Math.abs));
      if (!label.includes('/A2')) want.forEach((v, i) => assert.ok(Math.abs(js[i] - v) <= 1e-4 * scale, `${label} JS logit ${i}: ${js[i]} vs ${v}`));
    }
  }
  // The fused pass is in the native plan where the pattern is (lenet5: conv1 + pool1 writes conv2's codes).
  const packed = packModel(await dorefaModel(buildModel('lenet5', { seed: 2 }), { wbits: 2, abits: 2 }));
  const labels = createRuntime(packed, { kernels: k }).profile(new Float32Array(28 * 28), 1).map((s) => s.step);
  assert.ok(labels.includes('conv1+bn1+relu1+pool1'), labels.join(', '));
  assert.ok(!labels.includes('pool1'), labels.join(', '));
  const jsLabels = createRuntime(packed, { kernels: jsKernels }).profile(new Float32Array(28 * 28), 1).map((s) => s.step);
  assert.ok(jsLabels.includes('pool1') && jsLabels.includes('conv1+bn1+relu1'), jsLabels.join(', '));
});

test('lenet5 W1/A2 and W2/A2 with LOWBIT_BITSERIAL=0 (child processes): fused and unfused logits are bit-identical', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-fuse-'));
  const r = mulberry32(5);
  const x = Float32Array.from({ length: 3 * 28 * 28 }, () => r());
  writeFileSync(join(dir, 'x.bin'), new Uint8Array(x.buffer));
  const base = buildModel('lenet5', { seed: 12 });
  for (const wbits of [1, 2]) {
    const { manifest, data } = packModel(await dorefaModel(base, { wbits, abits: 2 }));
    writeFileSync(join(dir, `m${wbits}.json`), JSON.stringify(manifest));
    writeFileSync(join(dir, `m${wbits}.bin`), data);
    const run = (fuse: boolean) => {
      const script = `
        import { readFileSync } from 'node:fs';
        const { createRuntime, nativeKernels } = await import(${JSON.stringify(new URL('../src/runtime/node.js', import.meta.url).href)});
        const dir = ${JSON.stringify(dir)};
        const buf = readFileSync(dir + '/x.bin');
        const x = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
        const k = nativeKernels();
        const { floatConv2dMaxPool, ...rest } = k.ops;
        const kernels = ${fuse} ? k : { ...k, ops: rest };
        const rt = createRuntime({ manifest: JSON.parse(readFileSync(dir + '/m${wbits}.json', 'utf8')), data: new Uint8Array(readFileSync(dir + '/m${wbits}.bin')) }, { kernels });
        process.stdout.write(JSON.stringify(Array.from(new Uint32Array(rt.run(x, 3).buffer))));
      `;
      return JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, LOWBIT_BITSERIAL: '0' } })) as number[];
    };
    const fusedOut = run(true);
    assert.deepEqual(fusedOut, run(false), `W${wbits}/A2, LOWBIT_BITSERIAL=0`);
    // … and the same logits as the bit-serial path in this process (int8 sums are exact either way).
    const here = createRuntime({ manifest, data }, { kernels: nativeKernels() }).run(x, 3);
    assert.deepEqual(Array.from(new Uint32Array(here.buffer)), fusedOut, `W${wbits}/A2: bit-serial (fused) vs int8 kernels (fused)`);
  }
});
