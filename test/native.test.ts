import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, setBackend, backendAvailable, getBackendName, nativeKernelNames } from '../src/node.js';
import { nativeFallbackCounts } from '../src/backend/native.js';
import { assertClose, convCases, convOutShape, depthwiseCases, modelGradients, randn, runOn, Shape4 } from './helpers.js';

const skip = backendAvailable('native') ? false : 'the oneDNN addon is not built (LOWBIT_NATIVE=0 or no libdnnl-dev)';

// CI installs oneDNN and sets LOWBIT_REQUIRE_NATIVE=1: there, a missing addon is a failure, not 22 skips.
test('the addon is built where it is required (LOWBIT_REQUIRE_NATIVE=1)', { skip: process.env.LOWBIT_REQUIRE_NATIVE === '1' && process.env.LOWBIT_NATIVE !== '0' ? false : 'not required' }, () => {
  assert.ok(backendAvailable('native'), `LOWBIT_REQUIRE_NATIVE=1 but the oneDNN addon did not load: rebuild it with 'npm rebuild' and read its error`);
});
const onBoth = (kernel: string, inputs: Parameters<typeof runOn>[2], attrs: object) => runOn(['cpu', 'native'], kernel, inputs, attrs);

test('native backend: selecting it swaps kernels in, selecting wasm swaps them out', { skip }, async () => {
  const wasmConv = tf.getKernel('Conv2D', 'wasm')!.kernelFunc;
  await setBackend('native');
  assert.equal(getBackendName(), 'native');
  assert.equal(tf.getBackend(), 'wasm');
  for (const name of nativeKernelNames) assert.ok(tf.getKernel(name, 'wasm'));
  assert.notEqual(tf.getKernel('Conv2D', 'wasm')!.kernelFunc, wasmConv);
  await setBackend('wasm');
  assert.equal(tf.getKernel('Conv2D', 'wasm')!.kernelFunc, wasmConv);
});

test('without the addon, selecting native says how to enable it', { skip: skip === false ? 'the addon is built' : false }, async () => {
  await assert.rejects(setBackend('native'), /not available: .*apt-get install libdnnl-dev/);
});

for (const c of convCases) {
  test(`native conv2d forward, fused bias+relu, input and filter gradients = cpu: x ${c.x} f ${c.f} s${c.stride} ${c.pad} d${c.dil}`, { skip }, async () => {
    const ys = convOutShape(c.x, c.f, c.stride, c.pad, c.dil, false);
    const x = { values: randn(c.x), shape: c.x };
    const filter = { values: randn(c.f), shape: c.f };
    const dy = { values: randn(ys), shape: ys };
    const base = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dilations: c.dil };
    const fwd = await onBoth('Conv2D', { x, filter }, base);
    assertClose(fwd.native, fwd.cpu, 'Conv2D');
    const fused = await onBoth('FusedConv2D', { x, filter, bias: { values: randn([c.f[3]]), shape: [c.f[3]] } }, { ...base, activation: 'relu' });
    assertClose(fused.native, fused.cpu, 'FusedConv2D bias+relu');
    if (c.dil === 1) { // TF.js has no gradient for dilated convolutions
      const dx = await onBoth('Conv2DBackpropInput', { dy, filter }, { ...base, inputShape: c.x });
      assertClose(dx.native, dx.cpu, 'Conv2DBackpropInput');
      const dw = await onBoth('Conv2DBackpropFilter', { x, dy }, { ...base, filterShape: c.f });
      assertClose(dw.native, dw.cpu, 'Conv2DBackpropFilter');
    }
  });
}

// oneDNN's backward-weights of a 1×1 filter with stride 2 corrupted the C heap (the process aborted
// at exit in about 1 run of 3; bench/conv1x1-crash.mjs): the addon runs such filters as a stride-1
// 1×1 backward-weights on a strided copy of x (native/dnnl_addon.cc Conv). This checks the values and
// that the native kernel ran; the crash itself needs repeated runs of this file
// (`for i in 1 2 3 4 5 6; do node dist/test/native.test.js; done`).
const strided1x1: Array<{ x: Shape4; dy: Shape4; strides: [number, number]; pad: unknown }> = [
  { x: [1, 6, 6, 4], dy: [1, 3, 3, 3], strides: [2, 2], pad: 'same' },
  { x: [3, 7, 7, 5], dy: [3, 4, 4, 6], strides: [2, 2], pad: 'same' },
  { x: [2, 7, 8, 3], dy: [2, 4, 4, 2], strides: [2, 2], pad: 'valid' },
  { x: [2, 9, 8, 3], dy: [2, 4, 5, 5], strides: [3, 2], pad: [[0, 0], [1, 1], [0, 1], [0, 0]] },
];
for (const c of strided1x1) {
  test(`native Conv2DBackpropFilter of a 1×1 filter, stride ${c.strides}, ${JSON.stringify(c.pad)}: native (not the fallback) = cpu`, { skip }, async () => {
    const x = { values: randn(c.x), shape: c.x };
    const dy = { values: randn(c.dy), shape: c.dy };
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dilations: 1, filterShape: [1, 1, c.x[3], c.dy[3]] };
    const want = (await runOn(['cpu'], 'Conv2DBackpropFilter', { x, dy }, attrs)).cpu;
    await setBackend('native');
    const xt = tf.tensor(x.values, x.shape), dyt = tf.tensor(dy.values, dy.shape);
    const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x: xt, dy: dyt }, attrs as never) as tf.Tensor;
    const got = dw.dataSync().slice();
    const declined = nativeFallbackCounts.get('Conv2DBackpropFilter') ?? 0;
    tf.dispose([xt, dyt, dw]);
    await setBackend('wasm');
    assertClose(got, want, `Conv2DBackpropFilter 1×1 stride ${c.strides}`);
    assert.equal(declined, 0, 'the native kernel declined (the wasm fallback ran)');
  });
}

for (const c of depthwiseCases.filter((d) => d.dil === 1)) {
  test(`native depthwise forward and gradients = cpu: x ${c.x} f ${c.f} s${c.stride} ${c.pad}`, { skip }, async () => {
    const ys = convOutShape(c.x, c.f, c.stride, c.pad, 1, true);
    const x = { values: randn(c.x), shape: c.x };
    const filter = { values: randn(c.f), shape: c.f };
    const dy = { values: randn(ys), shape: ys };
    const base = { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dilations: 1 };
    const fwd = await onBoth('DepthwiseConv2dNative', { x, filter }, base);
    assertClose(fwd.native, fwd.cpu, 'DepthwiseConv2dNative');
    const dx = await onBoth('DepthwiseConv2dNativeBackpropInput', { dy, filter }, { ...base, inputShape: c.x });
    assertClose(dx.native, dx.cpu, 'DepthwiseConv2dNativeBackpropInput');
    const dw = await onBoth('DepthwiseConv2dNativeBackpropFilter', { x, dy }, { ...base, filterShape: c.f });
    assertClose(dw.native, dw.cpu, 'DepthwiseConv2dNativeBackpropFilter');
  });
}

test('native matmul = cpu: transposes, batch broadcast, fused bias + relu', { skip }, async () => {
  const cases: Array<[number[], number[], boolean, boolean]> = [
    [[1, 5, 7], [1, 7, 3], false, false], [[2, 7, 5], [2, 7, 3], true, false], [[3, 5, 7], [1, 3, 7], false, true],
    [[1, 7, 5], [4, 3, 7], true, true], [[64, 800], [800, 500], false, false], [[64, 800], [64, 500], true, false],
  ];
  for (const [as, bs, tA, tB] of cases) {
    const a = { values: randn(as), shape: as };
    const b = { values: randn(bs), shape: bs };
    const r = await onBoth('BatchMatMul', { a, b }, { transposeA: tA, transposeB: tB });
    assertClose(r.native, r.cpu, `BatchMatMul ${as} ${bs} ${tA} ${tB}`);
  }
  const a = { values: randn([6, 9]), shape: [6, 9] };
  const b = { values: randn([9, 4]), shape: [9, 4] };
  const r = await onBoth('_FusedMatMul', { a, b, bias: { values: randn([4]), shape: [4] } }, { transposeA: false, transposeB: false, activation: 'relu' });
  assertClose(r.native, r.cpu, '_FusedMatMul bias+relu');
});

test('native per-channel Sum and Mean = cpu; other reductions fall back to wasm', { skip }, async () => {
  const x = { values: randn([4, 5, 6, 7]), shape: [4, 5, 6, 7] };
  for (const kernel of ['Sum', 'Mean']) {
    for (const [axis, keepDims] of [[[0, 1, 2], false], [[2, 0, 1], true], [[3], false], [[0], true], [[1, 2], false]] as Array<[number[], boolean]>) {
      const r = await onBoth(kernel, { x }, { axis, keepDims });
      assertClose(r.native, r.cpu, `${kernel} axis ${axis} keepDims ${keepDims}`);
    }
  }
});

test('native MaxPoolGrad = cpu, including ties and padding', { skip }, async () => {
  for (const [xs, k, s, pad] of [[[2, 8, 8, 3], 2, 2, 'valid'], [[1, 7, 9, 2], 3, 2, 'same'], [[2, 5, 5, 1], 3, 1, 'same']] as Array<[Shape4, number, number, 'same' | 'valid']>) {
    const values = randn(xs).map((v) => Math.round(v * 3) / 3); // coarse values make ties
    await setBackend('cpu');
    const xt = tf.tensor4d(values, xs);
    const y = tf.maxPool(xt, k, s, pad);
    const ys = y.shape;
    const yv = Array.from(y.dataSync());
    tf.dispose([xt, y]);
    const r = await onBoth('MaxPoolGrad', { dy: { values: randn(ys), shape: ys }, input: { values, shape: xs }, output: { values: yv, shape: ys } },
      { filterSize: k, strides: s, pad });
    assertClose(r.native, r.cpu, `MaxPoolGrad ${xs} k${k} s${s} ${pad}`);
  }
});

test('lenet5 and mobilenet-tiny gradients on native = cpu', { skip }, async () => {
  for (const name of ['lenet5', 'mobilenet-tiny']) {
    const cpu = await modelGradients(name, 'cpu');
    const native = await modelGradients(name, 'native');
    cpu.forEach((c, i) => assertClose(native[i], c, `${name} gradient ${i}`, 1e-3));
  }
});

test('native kernels work in worker threads, including shapes the main thread already ran', { skip }, async () => {
  const { Worker } = await import('node:worker_threads');
  const { writeFileSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const nodeEntry = new URL('../src/node.js', import.meta.url).href;
  const run = `const { tf, setBackend } = await import(${JSON.stringify(nodeEntry)});
await setBackend('native');
const x = tf.randomUniform([4, 12, 12, 3], 0, 1, 'float32', 1);
const f = tf.randomUniform([3, 3, 3, 8], -1, 1, 'float32', 2);
const g = tf.grad((t) => tf.sum(tf.conv2d(t, f, 1, 'same')))(x);
return Array.from(g.dataSync()).slice(0, 20);`;
  const inMain = await (new Function(`return (async () => { ${run} })()`) as () => Promise<number[]>)();
  const file = join(mkdtempSync(join(tmpdir(), 'lowbit-worker-')), 'w.mjs');
  writeFileSync(file, `import { parentPort } from 'node:worker_threads';\nconst out = await (async () => { ${run} })();\nparentPort.postMessage(out);\n`);
  const inWorker = await new Promise<number[]>((resolve, reject) => {
    const w = new Worker(file);
    w.once('message', (m) => { resolve(m as number[]); void w.terminate(); });
    w.once('error', reject);
  });
  assertClose(inWorker, inMain, 'conv gradient in a worker vs the main thread', 1e-5);
  await setBackend('wasm');
});

test('native elementwise ops = cpu: same shapes, trailing and scalar broadcasts both ways, large (threaded), fallbacks', { skip }, async () => {
  const pairs: Array<[number[], number[]]> = [[[2, 5, 7, 3], [2, 5, 7, 3]], [[2, 5, 7, 3], [3]], [[3], [2, 5, 7, 3]], [[2, 5, 7, 3], [1, 7, 3]],
    [[64, 1024], []], [[], [64, 1024]], [[300, 200], [300, 200]], [[2, 3, 1], [1, 3, 4]], [[4, 1], [4, 6]]];
  for (const op of ['Add', 'Sub', 'Multiply', 'RealDiv', 'Maximum', 'Minimum', 'SquaredDifference']) {
    for (const [sa, sb] of pairs) {
      const a = randn(sa);
      const b = op === 'RealDiv' ? randn(sb).map((v) => v + Math.sign(v || 1) * 0.5) : randn(sb);
      if (op === 'Maximum' && a.length > 3) a[2] = NaN; // NaN propagates as in TF.js
      const r = await onBoth(op, { a: { values: a, shape: sa }, b: { values: b, shape: sb } }, {});
      assert.equal(r.native.length, r.cpu.length);
      r.cpu.forEach((v, i) => assert.ok(Object.is(v, r.native[i]) || Math.abs(v - r.native[i]) <= (op === 'SquaredDifference' ? 3e-7 : 1e-7) * Math.abs(v), `${op} ${sa}·${sb} [${i}]: ${r.native[i]} vs cpu ${v}`));
    }
  }
  // SquaredDifference rounds a − b to float32 before squaring (as wasm does); cpu squares in double.
  const wide = randn([200, 300]).map((v, i) => v * (i % 7 === 0 ? 40 : 3));
  for (const op of ['Exp', 'Log', 'Neg', 'Sqrt', 'Abs', 'Softplus', 'Sigmoid', 'Relu', 'Step']) {
    const values = op === 'Log' || op === 'Sqrt' ? wide.map((v) => Math.abs(v) + 1e-3) : op === 'Exp' ? wide.map((v) => Math.max(-80, Math.min(80, v)))
      : op === 'Relu' || op === 'Step' ? wide.map((v, i) => (i % 11 === 0 ? 0 : i === 5 ? NaN : v)) : wide;
    const r = await onBoth(op, { x: { values, shape: [200, 300] } }, op === 'Step' ? { alpha: 0.25 } : {});
    if (op === 'Relu' || op === 'Step') assert.ok(Number.isNaN(r.native[5]) && Number.isNaN(r.cpu[5]), `${op} keeps NaN`);
    // exp and log come from different libm implementations: a few ulps apart.
    r.cpu.forEach((v, i) => assert.ok(Object.is(v, r.native[i]) || Math.abs(v - r.native[i]) <= 4e-7 * Math.max(Math.abs(v), 1e-30) || Math.abs(v - r.native[i]) < 1e-37, `${op} [${i}] x = ${values[i]}: ${r.native[i]} vs cpu ${v}`));
  }
});

test('native FusedBatchNorm = cpu: per-channel statistics, with and without offset and scale, [C] and [1,1,1,C] shapes', { skip }, async () => {
  for (const [xs, cs] of [[[8, 6, 5, 16], [16]], [[3, 4, 4, 7], [1, 1, 1, 7]], [[40, 50, 40], [40]]] as Array<[number[], number[]]>) {
    const x = { values: randn(xs), shape: xs };
    const mean = { values: randn(cs), shape: cs };
    const variance = { values: randn(cs).map((v) => Math.abs(v) + 0.1), shape: cs };
    const offset = { values: randn(cs), shape: cs };
    const scale = { values: randn(cs), shape: cs };
    const full = await onBoth('FusedBatchNorm', { x, mean, variance, offset, scale }, { varianceEpsilon: 1e-3 });
    assertClose(full.native, full.cpu, `FusedBatchNorm ${xs}`, 1e-5);
    const bare = await onBoth('FusedBatchNorm', { x, mean, variance }, { varianceEpsilon: 1e-3 });
    assertClose(bare.native, bare.cpu, `FusedBatchNorm ${xs} without offset/scale`, 1e-5);
  }
});

test('native Identity and same-dtype Cast share the buffer: values survive disposing the source, nothing leaks; Cast to int32 converts', { skip }, async () => {
  await setBackend('native');
  const before = tf.memory();
  const a = tf.tensor([1.5, -2.25, 3], [3]);
  const b = tf.clone(a);
  const c = tf.cast(a, 'float32');
  assert.equal(tf.memory().numDataBuffers - before.numDataBuffers, 1, 'three tensors, one buffer');
  const d = tf.cast(a, 'int32');
  a.dispose();
  assert.deepEqual([...b.dataSync()], [1.5, -2.25, 3]);
  assert.deepEqual([...c.dataSync()], [1.5, -2.25, 3]);
  assert.deepEqual([...d.dataSync()], [1, -2, 3]);
  b.dispose();
  assert.deepEqual([...c.dataSync()], [1.5, -2.25, 3]);
  tf.dispose([c, d]);
  assert.equal(tf.memory().numTensors, before.numTensors);
  assert.equal(tf.memory().numBytes, before.numBytes);
});

test('native BatchNormalization training (fused kernels) = cpu: output, moving statistics, gradients of x, gamma, beta; the fused kernel runs', { skip }, async () => {
  const shape = [4, 5, 6, 7];
  const xs = randn(shape).map((v, i) => v * 3 + (i % 7));
  const dys = randn(shape);
  const gammaBeta = [randn([7]), randn([7])];
  const run = async (backend: string) => {
    await setBackend(backend);
    const layer = tf.layers.batchNormalization({ momentum: 0.9 });
    const x = tf.tensor(xs, shape);
    const dyW = tf.tensor(dys, shape);
    layer.build(x.shape);
    const [, , mm, mv] = layer.getWeights();
    layer.setWeights([tf.tensor1d(gammaBeta[0]), tf.tensor1d(gammaBeta[1]), mm, mv]);
    const vars = layer.trainableWeights.map((w) => w.read() as tf.Variable);
    const loss = (xx: tf.Tensor) => tf.sum(tf.mul(layer.apply(xx, { training: true }) as tf.Tensor, dyW)) as tf.Scalar;
    const profile = await tf.profile(() => tf.dispose(tf.grads(loss)([x])));
    const { value, grads } = tf.variableGrads(() => loss(x), vars);
    const [dx] = tf.grads(loss)([x]);
    const y = layer.apply(x, { training: true }) as tf.Tensor;
    const out = { y: y.dataSync().slice(), dx: dx.dataSync().slice(), dgamma: grads[vars[0].name].dataSync().slice(), dbeta: grads[vars[1].name].dataSync().slice(),
      movingMean: layer.getWeights()[2].dataSync().slice(), movingVariance: layer.getWeights()[3].dataSync().slice(), kernels: profile.kernels.map((k) => k.name) };
    tf.dispose([x, dyW, value, dx, y, ...Object.values(grads)]);
    await setBackend('wasm');
    return out;
  };
  const cpu = await run('cpu');
  const native = await run('native');
  assert.ok(native.kernels.includes('LowbitBatchNormTrain') && native.kernels.includes('LowbitBatchNormTrainGrad'), 'the fused kernels ran');
  assert.ok(!cpu.kernels.includes('LowbitBatchNormTrain'));
  for (const k of ['y', 'dx', 'dgamma', 'dbeta', 'movingMean', 'movingVariance'] as const) assertClose(native[k], cpu[k], `BatchNormalization ${k}`, 1e-4);
});

test('native Adam (one fused kernel per variable) = tf.train.adam on cpu over several steps with a changing lr; same slot names; the fused kernel runs', { skip }, async () => {
  const x0 = randn([16, 12]);
  const y0 = randn([16, 5]);
  const w0 = randn([12, 5]);
  const b0 = randn([5]);
  const run = async (backend: string) => {
    await setBackend(backend);
    const w = tf.variable(tf.tensor2d(w0, [12, 5]), true, 'adam_test_w');
    const b = tf.variable(tf.tensor1d(b0), true, 'adam_test_b');
    const x = tf.tensor2d(x0, [16, 12]);
    const y = tf.tensor2d(y0, [16, 5]);
    const opt = tf.train.adam(0.01);
    const loss = () => tf.mean(tf.square(tf.sub(tf.add(tf.matMul(x, w), b), y))) as tf.Scalar;
    let kernels: string[] = [];
    for (let step = 0; step < 5; step++) {
      (opt as unknown as { learningRate: number }).learningRate = 0.01 / (step + 1);
      const info = await tf.profile(() => tf.dispose(opt.minimize(loss, true, [w, b])!));
      kernels = kernels.concat(info.kernels.map((k) => k.name));
    }
    const slots = (await opt.getWeights()).map((s) => s.name);
    const out = { w: w.dataSync().slice(), b: b.dataSync().slice(), kernels, slots };
    opt.dispose();
    tf.dispose([w, b, x, y]);
    await setBackend('wasm');
    return out;
  };
  const cpu = await run('cpu');
  const native = await run('native');
  assert.ok(native.kernels.includes('LowbitAdamUpdate') && !cpu.kernels.includes('LowbitAdamUpdate'), 'the fused kernel ran on native only');
  assert.deepEqual(native.slots, cpu.slots);
  assertClose(native.w, cpu.w, 'Adam weights', 1e-5);
  assertClose(native.b, cpu.b, 'Adam bias', 1e-5);
});
