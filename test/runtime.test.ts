/**
 * The bitwise runtime (src/runtime): every kernel backend against a direct reference loop on
 * random shapes, whole models against the TF.js model (unpackModel), and bad packed input.
 */
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, buildModel, dorefaModel, quantizeModel, LowbitError, ensureBackend } from '../src/node.js'; // the Node entry: it registers the native backend
import { packModel, unpackModel } from '../src/export/packed.js';
import { createRuntime, jsKernels, nativeKernels, nativeKernelsAvailable, runtimeKernels, RuntimeKernels, ConvGeometry, wordsFor } from '../src/runtime/node.js';
import { mulberry32 } from '../src/random.js';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { firstPassOnly } from './helpers.js';
import { squareGeometry } from './runtime-helpers.js';

const rand = mulberry32(20);

/**
 * The kernel backends available in this pass: js always; native when the addon is built (and not
 * LOWBIT_NATIVE=0); wasm (WebAssembly SIMD, src/runtime/wasm/) always.
 */
const backends: RuntimeKernels[] = [jsKernels, ...(nativeKernelsAvailable() ? [nativeKernels()] : [])];
backends.push(await runtimeKernels('wasm'));

// The TF.js reference runs on this pass's backend (native with the addon, else wasm).
before(() => ensureBackend(nativeKernelsAvailable() ? 'native' : 'wasm'));

interface Case { n: number; h: number; w: number; c: number; k: number; stride: number; same: boolean; outC: number }

function geometryOf(t: Case): ConvGeometry {
  return squareGeometry(t.n, t.h, t.w, t.c, t.k, t.stride, t.same, t.outC);
}

/** Direct convolution with zero padding: x [n,h,w,c], wgt [outC,kh,kw,c] (depthwise: [kh,kw,c]). */
function referenceConv(x: ArrayLike<number>, wgt: ArrayLike<number>, bias: ArrayLike<number> | null, g: ConvGeometry, depthwise = false): Float64Array {
  const outC = depthwise ? g.c : g.outC;
  const out = new Float64Array(g.n * g.outH * g.outW * outC);
  for (let b = 0; b < g.n; b++) for (let oy = 0; oy < g.outH; oy++) for (let ox = 0; ox < g.outW; ox++) for (let o = 0; o < outC; o++) {
    let s = bias ? bias[o] : 0;
    for (let ky = 0; ky < g.kh; ky++) for (let kx = 0; kx < g.kw; kx++) {
      const iy = oy * g.strideH - g.padTop + ky;
      const ix = ox * g.strideW - g.padLeft + kx;
      if (iy < 0 || iy >= g.h || ix < 0 || ix >= g.w) continue; // zero padding
      if (depthwise) s += x[((b * g.h + iy) * g.w + ix) * g.c + o] * wgt[(ky * g.kw + kx) * g.c + o];
      else for (let k = 0; k < g.c; k++) s += x[((b * g.h + iy) * g.w + ix) * g.c + k] * wgt[((o * g.kh + ky) * g.kw + kx) * g.c + k];
    }
    out[((b * g.outH + oy) * g.outW + ox) * outC + o] = s;
  }
  return out;
}

/** ±1 values [pixels, c] → packed sign bits [pixels, wordsFor(c)] (bit 1 = +1; unused bits 0). */
function packSigns(v: Int8Array, c: number): Uint32Array {
  const words = wordsFor(c);
  const out = new Uint32Array((v.length / c) * words);
  for (let p = 0; p < v.length / c; p++) for (let k = 0; k < c; k++) if (v[p * c + k] > 0) out[p * words + (k >>> 5)] |= 1 << (k & 31);
  return out;
}

const cases: Case[] = [
  { n: 1, h: 7, w: 6, c: 3, k: 3, stride: 1, same: true, outC: 5 },
  { n: 3, h: 9, w: 9, c: 33, k: 3, stride: 2, same: true, outC: 4 },
  { n: 1, h: 8, w: 7, c: 65, k: 3, stride: 2, same: false, outC: 7 },
  { n: 3, h: 5, w: 5, c: 64, k: 1, stride: 1, same: false, outC: 3 },
  { n: 1, h: 6, w: 6, c: 32, k: 5, stride: 1, same: true, outC: 2 },
  { n: 1, h: 1, w: 1, c: 800, k: 1, stride: 1, same: false, outC: 9 }, // a dense layer
  // First layers (few input channels: native register-blocked float path, 1–4 blocks of 16 outputs).
  { n: 2, h: 10, w: 9, c: 1, k: 5, stride: 1, same: false, outC: 20 },
  { n: 1, h: 9, w: 8, c: 2, k: 3, stride: 2, same: true, outC: 33 },
  { n: 1, h: 6, w: 6, c: 7, k: 3, stride: 1, same: true, outC: 64 },
  { n: 1, h: 5, w: 7, c: 1, k: 3, stride: 1, same: true, outC: 65 },
  // AVX2 register blocks of 8 pixels × 8 outputs and 6 pixels × 16 outputs, with a pixel tail.
  { n: 1, h: 12, w: 13, c: 3, k: 3, stride: 1, same: true, outC: 7 },
  { n: 2, h: 9, w: 14, c: 2, k: 3, stride: 2, same: true, outC: 12 },
  // Depthwise with 16–64 channels (native AVX-512 depthwise rows), stride 2 and padding.
  { n: 2, h: 9, w: 7, c: 48, k: 3, stride: 2, same: true, outC: 5 },
  { n: 1, h: 6, w: 5, c: 16, k: 3, stride: 1, same: true, outC: 3 },
  // lenet5's second layer (int8: 500 codes per output, native VNNI path), and an odd dense layer.
  { n: 2, h: 12, w: 12, c: 20, k: 5, stride: 1, same: false, outC: 50 },
  { n: 3, h: 1, w: 1, c: 67, k: 1, stride: 1, same: false, outC: 13 },
];

const randomSigns = (count: number) => Int8Array.from({ length: count }, () => (rand() < 0.5 ? -1 : 1));
const randomInts = (count: number, lo: number, hi: number) => Int8Array.from({ length: count }, () => lo + Math.floor(rand() * (hi - lo + 1)));
const randomFloats = (count: number) => Float32Array.from({ length: count }, () => rand() * 2 - 1);

for (const k of backends) {
  test(`${k.name} binaryConv2d equals the direct ±1 convolution (odd channel counts, stride 2, same/valid, batch 1 and 3)`, () => {
    for (const t of cases) {
      const g = geometryOf(t);
      const x = randomSigns(t.n * t.h * t.w * t.c);
      const w = randomSigns(t.outC * t.k * t.k * t.c);
      const out = new Int32Array(t.n * g.outH * g.outW * t.outC);
      k.binaryConv2d(packSigns(x, t.c), packSigns(w, t.c), g, out);
      assert.deepEqual(Array.from(out), Array.from(referenceConv(x, w, null, g)), `${JSON.stringify(t)}`);
    }
  });

  test(`${k.name} int8Conv2d equals the direct integer convolution`, () => {
    for (const t of cases) {
      const g = geometryOf(t);
      const x = randomInts(t.n * t.h * t.w * t.c, -128, 127);
      const w = randomInts(t.outC * t.k * t.k * t.c, -127, 127);
      const out = new Int32Array(t.n * g.outH * g.outW * t.outC);
      k.int8Conv2d(x, w, g, out);
      assert.deepEqual(Array.from(out), Array.from(referenceConv(x, w, null, g)), `${JSON.stringify(t)}`);
    }
  });

  test(`${k.name} floatConv2d and floatDepthwiseConv2d equal the direct float convolution`, () => {
    for (const t of cases) {
      const g = geometryOf(t);
      const x = randomFloats(t.n * t.h * t.w * t.c);
      const w = randomFloats(t.outC * t.k * t.k * t.c);
      const bias = randomFloats(t.outC);
      const out = new Float32Array(t.n * g.outH * g.outW * t.outC);
      k.floatConv2d(x, w, bias, g, out);
      const want = referenceConv(x, w, bias, g);
      want.forEach((v, i) => assert.ok(Math.abs(out[i] - v) < 1e-4 * Math.max(1, Math.abs(v)), `${JSON.stringify(t)} [${i}]: ${out[i]} vs ${v}`));
      const dw = randomFloats(t.k * t.k * t.c);
      const dbias = randomFloats(t.c);
      const dg = { ...g, outC: t.c };
      const dout = new Float32Array(t.n * g.outH * g.outW * t.c);
      k.floatDepthwiseConv2d(x, dw, dbias, dg, dout);
      referenceConv(x, dw, dbias, dg, true).forEach((v, i) => assert.ok(Math.abs(dout[i] - v) < 1e-4 * Math.max(1, Math.abs(v)), `depthwise ${JSON.stringify(t)} [${i}]`));
    }
  });
}

/** Runtime logits vs the TF.js model's (unpackModel of the same packed model) on `count` random images, per kernel backend. */
async function agreements(model: tf.LayersModel, count: number, kernelSets: RuntimeKernels[]) {
  const packed = packModel(model);
  const reference = await unpackModel(JSON.parse(JSON.stringify(packed.manifest)), packed.data);
  const x = tf.randomUniform([count, 28, 28, 1], 0, 1, 'float32', 11);
  const want = tf.tidy(() => (reference.predict(x) as tf.Tensor).dataSync() as Float32Array);
  const xs = x.dataSync() as Float32Array;
  x.dispose();
  reference.dispose();
  const per = 28 * 28;
  const classes = want.length / count;
  const argmax = (v: Float32Array, i: number) => { let b = 0; for (let j = 1; j < classes; j++) if (v[i * classes + j] > v[i * classes + b]) b = j; return b; };
  return kernelSets.map((kernels) => {
    const rt = createRuntime(packed, { kernels });
    const got = new Float32Array(want.length);
    for (let at = 0; at < count; at += 50) { // batches of 50, then a batch of 1 (two buffer sets)
      const n = Math.min(50, count - at);
      got.set(rt.run(xs.subarray(at * per, (at + n) * per), n), at * classes);
    }
    got.set(rt.run(xs.subarray(0, per)), 0);
    let maxDelta = 0;
    let scale = 0;
    let agree = 0;
    for (let i = 0; i < want.length; i++) { maxDelta = Math.max(maxDelta, Math.abs(want[i] - got[i])); scale = Math.max(scale, Math.abs(want[i])); }
    for (let i = 0; i < count; i++) if (argmax(want, i) === argmax(got, i)) agree++;
    return { kernels: kernels.name, agreement: agree / count, relative: maxDelta / scale, modes: new Set(rt.steps.map((s) => s.kernel).filter(Boolean)), steps: rt.steps };
  });
}

const agreement = async (model: tf.LayersModel, count: number, kernels: RuntimeKernels) => (await agreements(model, count, [kernels]))[0];

test('whole models agree with TF.js: binary (DoReFa W1 + sign inputs), W2/A2 and float lenet5; 100 % top-1 on 200 images', async () => {
  const m = buildModel('lenet5', { seed: 3 });
  const variants: Array<[string, tf.LayersModel, string]> = [
    ['binary', await quantizeModel(m, { kernelQuantizer: { kind: 'dorefa', bits: 1 }, inputQuantizer: 'binary' }), 'binary'],
    ['W2/A2', await dorefaModel(m, { wbits: 2, abits: 2 }), 'int8'],
    ['float', m, 'float'],
  ];
  for (const [label, model, kernel] of variants) {
    for (const a of await agreements(model, 200, backends)) {
      assert.ok(a.modes.has(kernel as never), `${label}: the ${kernel} kernel runs (steps: ${JSON.stringify(a.steps)})`);
      assert.equal(a.agreement, 1, `${label} (${a.kernels}): top-1 agreement ${a.agreement}`);
      assert.ok(a.relative < 1e-5, `${label} (${a.kernels}): max |Δlogit| / max |logit| = ${a.relative}`);
    }
  }
});

test('binary layers read packed bits written by the layer before, through max-pooling (sign as a comparison, no float tensor between)', async () => {
  const m = buildModel('vgg-small', { seed: 4 });
  const q = await quantizeModel(m, { kernelQuantizer: 'binary', inputQuantizer: 'rsign' });
  // Learned-looking thresholds (ReLU outputs are ≥ 0: a threshold of 0 would make every sign +1).
  for (const l of q.layers) for (const w of l.weights) if (w.name.includes('rsign_threshold')) tf.tidy(() => { w.write(tf.randomUniform(w.shape as number[], -0.8, 0.1, 'float32', 9)); });
  const { steps } = await agreement(q, 4, jsKernels).then((a) => { assert.equal(a.agreement, 1); assert.ok(a.relative < 1e-5, `relative ${a.relative}`); return a; });
  const conv = steps.filter((s) => s.op === 'conv');
  assert.ok(conv.filter((s) => s.kernel === 'binary').length >= 5, JSON.stringify(steps));
  assert.deepEqual(steps.find((s) => s.layers[0] === 'conv1_2')?.layers, ['conv1_2', 'bn1_2', 'relu1_2']);
  assert.ok(steps.some((s) => s.output === 'bits' && s.kernel === 'binary'), 'a binary layer feeds the next binary layer with bits');
  assert.ok(steps.some((s) => s.op === 'max-pool' && s.output === 'bits'), 'max-pooling between binary layers ORs the packed bits');
});

test('resnet20 (Add) and mobilenet-tiny (depthwise, PReLU, Concatenate, global pooling) with binary and 2-bit layers agree with TF.js', async () => {
  for (const name of ['resnet20', 'mobilenet-tiny']) {
    const m = buildModel(name, { seed: 5 });
    for (const q of [await quantizeModel(m, { kernelQuantizer: 'binary', inputQuantizer: 'binary' }), await dorefaModel(m, { wbits: 2, abits: 2 })]) {
      const a = await agreement(q, 3, backends[backends.length - 1]);
      assert.equal(a.agreement, 1, name);
      assert.ok(a.relative < 1e-5, `${name}: relative ${a.relative}`);
    }
  }
});

test("the 'lowbit/runtime' entry imports no Node-only module (it runs in the browser)", { skip: firstPassOnly }, () => {
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\s+'([^']+)'/g)) {
      const spec = m[1] ?? m[2];
      if (spec.startsWith('.')) visit(join(dirname(file), spec));
      else assert.ok(!spec.startsWith('node:') && !builtinModules.includes(spec), `${file} imports Node-only '${spec}'`);
    }
  };
  visit(fileURLToPath(new URL('../src/runtime/index.js', import.meta.url)));
  assert.ok([...seen].some((f) => f.endsWith('plan.js')) && ![...seen].some((f) => f.endsWith('runtime/node.js')));
});

test('in a process that never loads TF.js the runtime gives the same logits and the same spec errors (grids from src/quantizers/kind-info.ts)', async () => {
  const m = buildModel('lenet5', { seed: 6 });
  const models = [await dorefaModel(m, { wbits: 2, abits: 2 }), await quantizeModel(m, { kernelQuantizer: 'binary', inputQuantizer: 'rsign' })];
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-runtime-notf-'));
  const r = mulberry32(6);
  const x = Float32Array.from({ length: 3 * 28 * 28 }, () => r());
  writeFileSync(join(dir, 'x.bin'), new Uint8Array(x.buffer));
  const want: number[][] = [];
  const packs = models.map((q, i) => {
    const { manifest, data } = packModel(q);
    writeFileSync(join(dir, `m${i}.json`), JSON.stringify(manifest));
    writeFileSync(join(dir, `m${i}.bin`), data);
    want.push(Array.from(createRuntime({ manifest, data }, { kernels: jsKernels }).run(x, 3)));
    return { manifest, data };
  });
  // Bad specs in model 0 (DoReFa A2 inputs): out-of-range bits, an unknown kind.
  const wantErrors: string[] = [];
  for (const [i, spec] of [{ kind: 'dorefa', bits: 40 }, { kind: 'nope' }].entries()) {
    const bad = JSON.parse(JSON.stringify(packs[0].manifest));
    bad.modelTopology.config.layers.find((l: { config: { input_quantizer?: { kind: string } } }) => l.config.input_quantizer?.kind === 'dorefa').config.input_quantizer = spec;
    writeFileSync(join(dir, `bad${i}.json`), JSON.stringify(bad));
    try { createRuntime({ manifest: bad, data: packs[0].data }); wantErrors.push('no error'); } catch (e) { wantErrors.push((e as Error).message); }
  }
  assert.match(wantErrors[0], /bits must be a whole number from 1 to 32, got 40/);
  assert.match(wantErrors[1], /unknown quantizer kind "nope": choose one of none, dorefa, binary, rsign, ternary, uniform, lsq, pact, rq, rq-st, srq, multibit, pq/);
  assert.notEqual((globalThis as { _tfengine?: unknown })._tfengine, undefined, 'this process has TF.js (the child\'s check below can see it)');
  const script = `
    import { readFileSync } from 'node:fs';
    const { createRuntime, jsKernels } = await import(${JSON.stringify(new URL('../src/runtime/index.js', import.meta.url).href)});
    const dir = ${JSON.stringify(dir)};
    const buf = readFileSync(dir + '/x.bin');
    const x = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const load = (i) => ({ manifest: JSON.parse(readFileSync(dir + '/m' + i + '.json', 'utf8')), data: new Uint8Array(readFileSync(dir + '/m' + i + '.bin')) });
    const logits = [0, 1].map((i) => Array.from(createRuntime(load(i), { kernels: jsKernels }).run(x, 3)));
    const errors = [0, 1].map((i) => {
      try { createRuntime({ manifest: JSON.parse(readFileSync(dir + '/bad' + i + '.json', 'utf8')), data: load(0).data }); return 'no error'; } catch (e) { return e.message; }
    });
    process.stdout.write(JSON.stringify({ logits, errors, tfjs: globalThis._tfengine !== undefined }));
  `;
  const got = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
  assert.equal(got.tfjs, false, 'the runtime loaded TF.js');
  assert.deepEqual(got.logits, want);
  assert.deepEqual(got.errors, wantErrors);
});

test('bad packed input: one LowbitError naming the problem, before any work', async () => {
  const m = await quantizeModel(buildModel('lenet5', { seed: 1 }), { kernelQuantizer: 'binary', inputQuantizer: 'binary' });
  const { manifest, data } = packModel(m);
  const copy = () => JSON.parse(JSON.stringify(manifest));
  const throwsLowbit = (f: () => unknown, re: RegExp) => assert.throws(f, (e: unknown) => e instanceof LowbitError && e.exitCode === 2 && re.test(e.message) && !e.message.includes('\n'));
  throwsLowbit(() => createRuntime({ manifest, data: data.subarray(0, data.byteLength - 1) }), /weights file is truncated \(\d+ bytes, the manifest needs \d+\)/);
  throwsLowbit(() => createRuntime({ manifest: { ...copy(), version: 2 }, data }), /packed format version 2, this runtime reads version 1/);
  throwsLowbit(() => createRuntime({ manifest: { ...copy(), format: 'other' }, data }), /not a lowbit packed manifest/);
  const lstm = copy();
  lstm.modelTopology.config.layers[2].class_name = 'LSTM';
  throwsLowbit(() => createRuntime({ manifest: lstm, data }), /cannot run bn1 \(LSTM\)/);
  const rt = createRuntime({ manifest, data });
  throwsLowbit(() => rt.run(new Float32Array(100)), /input of 100 values is not a whole number of image\(s\) of 28×28×1/);
});
