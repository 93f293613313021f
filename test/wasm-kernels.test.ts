import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, setBackend, wasmTrainingKernelNames } from '../src/index.js';
import { assertClose, convCases, convOutShape, depthwiseCases, KernelInputs, randn, runOn, Shape4 } from './helpers.js';

const onBoth = (kernel: string, inputs: KernelInputs, attrs: object) => runOn(['cpu', 'wasm'], kernel, inputs, attrs);
const outShape = convOutShape;

/** Direct-loop reference for a depthwise conv's gradients (the cpu backend ignores dilation there). */
function depthwiseGradsReference(x: number[], xs: Shape4, dy: number[], f: number[], fs: Shape4, stride: number, pad: 'same' | 'valid', dil: number) {
  const info = tf.backend_util.computeConv2DInfo(xs, fs, stride, dil, pad, undefined, true);
  const [B, H, W, C] = xs; const [KH, KW, , M] = fs;
  const dF = new Float32Array(KH * KW * C * M); const dX = new Float32Array(B * H * W * C);
  for (let b = 0; b < B; b++) for (let oh = 0; oh < info.outHeight; oh++) for (let ow = 0; ow < info.outWidth; ow++)
    for (let i = 0; i < KH; i++) for (let j = 0; j < KW; j++) {
      const h = oh * stride + i * dil - info.padInfo.top; const w = ow * stride + j * dil - info.padInfo.left;
      if (h < 0 || h >= H || w < 0 || w >= W) continue;
      for (let c = 0; c < C; c++) for (let m = 0; m < M; m++) {
        const g = dy[((b * info.outHeight + oh) * info.outWidth + ow) * C * M + c * M + m];
        dF[((i * KW + j) * C + c) * M + m] += x[((b * H + h) * W + w) * C + c] * g;
        dX[((b * H + h) * W + w) * C + c] += f[((i * KW + j) * C + c) * M + m] * g;
      }
    }
  return { dF, dX };
}

test('lowbit registers the training kernels wasm lacks (and its faster Conv2DBackpropInput)', () => {
  for (const name of wasmTrainingKernelNames) assert.ok(tf.getKernel(name, 'wasm'), `${name} missing on wasm`);
  assert.deepEqual([...wasmTrainingKernelNames].sort(),
    ['Conv2DBackpropFilter', 'Conv2DBackpropInput', 'DepthwiseConv2dNativeBackpropFilter', 'DepthwiseConv2dNativeBackpropInput', 'UnsortedSegmentSum'].sort());
});

// TF.js has no gradient for dilated conv2d, so only dilation-1 cases.
for (const c of convCases.filter((k) => k.dil === 1)) {
  test(`conv2d gradients (filter, input) wasm = cpu: x ${c.x} f ${c.f} stride ${c.stride} ${c.pad}`, async () => {
    const dys = outShape(c.x, c.f, c.stride, c.pad, 1, false);
    const out = await onBoth('Conv2DBackpropFilter',
      { x: { values: randn(c.x), shape: c.x }, dy: { values: randn(dys), shape: dys } },
      { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f });
    assertClose(out.wasm, out.cpu, 'Conv2DBackpropFilter');
    const dx = await onBoth('Conv2DBackpropInput',
      { filter: { values: randn(c.f), shape: c.f }, dy: { values: randn(dys), shape: dys } },
      { strides: c.stride, pad: c.pad, dataFormat: 'NHWC', dilations: 1, inputShape: c.x });
    assertClose(dx.wasm, dx.cpu, 'Conv2DBackpropInput');
  });
}

for (const c of depthwiseCases) {
  const label = `x ${c.x} f ${c.f} stride ${c.stride} ${c.pad} dilation ${c.dil}`;
  test(`depthwise conv gradients on wasm agree with the reference: ${label}`, async () => {
    const dys = outShape(c.x, c.f, c.stride, c.pad, c.dil, true);
    const x = randn(c.x); const dy = randn(dys); const f = randn(c.f);
    const dF = await onBoth('DepthwiseConv2dNativeBackpropFilter',
      { x: { values: x, shape: c.x }, dy: { values: dy, shape: dys } },
      { strides: c.stride, dilations: c.dil, pad: c.pad, filterShape: c.f });
    const dX = await onBoth('DepthwiseConv2dNativeBackpropInput',
      { filter: { values: f, shape: c.f }, dy: { values: dy, shape: dys } },
      { strides: c.stride, dilations: c.dil, pad: c.pad, inputShape: c.x });
    const ref = depthwiseGradsReference(x, c.x, dy, f, c.f, c.stride, c.pad, c.dil);
    assertClose(dF.wasm, ref.dF, 'DepthwiseConv2dNativeBackpropFilter vs loop reference');
    assertClose(dX.wasm, ref.dX, 'DepthwiseConv2dNativeBackpropInput vs loop reference');
    // The cpu backend ignores dilation in these kernels, so compare with it only where dilation is 1.
    if (c.dil === 1) {
      assertClose(dF.wasm, dF.cpu, 'DepthwiseConv2dNativeBackpropFilter vs cpu');
      assertClose(dX.wasm, dX.cpu, 'DepthwiseConv2dNativeBackpropInput vs cpu');
    }
  });
}

test('UnsortedSegmentSum wasm = cpu, with repeated and unused segments', async () => {
  const ids = [0, 4, 2, 2, 1, 4, 0];
  for (const shape of [[7], [7, 3], [7, 2, 5]]) {
    const out = await onBoth('UnsortedSegmentSum',
      { x: { values: randn(shape), shape }, segmentIds: { values: ids, shape: [7], dtype: 'int32' } }, { numSegments: 6 });
    assertClose(out.wasm, out.cpu, `UnsortedSegmentSum ${shape}`);
  }
});

test('a conv + depthwise + gather model trains on wasm with gradients equal to cpu', async () => {
  const grads: Record<string, Float32Array[]> = {};
  const x0 = randn([2, 8, 8, 2]);
  const w1 = randn([3, 3, 2, 4]); const w2 = randn([3, 3, 4, 2]); const emb = randn([5, 3]);
  for (const backend of ['cpu', 'wasm']) {
    await setBackend(backend);
    const vars = [tf.variable(tf.tensor(w1, [3, 3, 2, 4])), tf.variable(tf.tensor(w2, [3, 3, 4, 2])), tf.variable(tf.tensor(emb, [5, 3]))];
    const x = tf.tensor(x0, [2, 8, 8, 2]);
    const { grads: g } = tf.variableGrads(() => {
      const h = tf.depthwiseConv2d(tf.relu(tf.conv2d(x as tf.Tensor4D, vars[0] as tf.Tensor4D, 2, "same")) as tf.Tensor4D, vars[1] as tf.Tensor4D, 1, 'same');
      const e = tf.gather(vars[2], tf.tensor1d([1, 3, 3], 'int32'));
      return tf.add(tf.sum(tf.square(h)), tf.sum(tf.square(e))) as tf.Scalar;
    }, vars);
    grads[backend] = vars.map((v) => Float32Array.from(g[v.name].dataSync()));
    tf.dispose([...vars, x, ...Object.values(g)]);
  }
  for (let i = 0; i < 3; i++) assertClose(grads.wasm[i], grads.cpu[i], `gradient ${i}`);
});
