/** Shared test helpers: seeded random inputs, running one kernel on several backends, closeness. */
import assert from 'node:assert/strict';
import { tf, setBackend, buildModel } from '../src/node.js';
import { mulberry32 } from '../src/random.js';

export type Shape4 = [number, number, number, number];

const rand = mulberry32(1234);
export const randn = (shape: number[]): number[] => {
  const n = shape.reduce((a, b) => a * b, 1);
  return Array.from({ length: n }, () => rand() * 2 - 1);
};

export type KernelInputs = Record<string, { values: number[]; shape: number[]; dtype?: 'int32' | 'float32' }>;

/** Runs one kernel on each backend with the same inputs; checks it leaks no tensor. */
export async function runOn(backends: string[], kernel: string, inputs: KernelInputs, attrs: object): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const backend of backends) {
    await setBackend(backend);
    const before = tf.memory().numTensors;
    const ins: Record<string, tf.Tensor> = {};
    for (const [k, v] of Object.entries(inputs)) ins[k] = tf.tensor(v.values, v.shape, v.dtype ?? 'float32');
    const r = tf.engine().runKernel(kernel, ins, attrs as never) as tf.Tensor;
    out[backend] = Float32Array.from(r.dataSync());
    tf.dispose([r, ...Object.values(ins)]);
    assert.equal(tf.memory().numTensors, before, `${kernel} on ${backend} leaks tensors`);
  }
  await setBackend('wasm');
  return out;
}

/** max |a − b| / max |b| < tol. */
export function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, what: string, tol = 1e-4): void {
  assert.equal(a.length, b.length, `${what}: lengths differ`);
  let scale = 1e-6;
  let diff = 0;
  for (let i = 0; i < a.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
  }
  assert.ok(diff / scale < tol, `${what}: max relative error ${diff / scale}`);
}

export const convOutShape = (x: Shape4, f: Shape4, stride: number, pad: 'same' | 'valid', dilation: number, depthwise: boolean): number[] => {
  const info = tf.backend_util.computeConv2DInfo(x, f, stride, dilation, pad, undefined, depthwise);
  return [x[0], info.outHeight, info.outWidth, info.outChannels];
};

export interface ConvCase { x: Shape4; f: Shape4; stride: number; pad: 'same' | 'valid'; dil: number }

/** Conv2D shapes for kernel agreement tests: strides 1 and 2, same/valid, odd sizes, batch 1, dilation. */
export const convCases: ConvCase[] = [
  { x: [2, 9, 9, 3], f: [3, 3, 3, 4], stride: 1, pad: 'same', dil: 1 },
  { x: [2, 9, 9, 3], f: [3, 3, 3, 4], stride: 2, pad: 'same', dil: 1 },
  { x: [1, 11, 7, 2], f: [5, 3, 2, 5], stride: 2, pad: 'valid', dil: 1 },
  { x: [3, 8, 8, 1], f: [5, 5, 1, 6], stride: 1, pad: 'valid', dil: 1 },
  { x: [1, 6, 6, 4], f: [1, 1, 4, 3], stride: 2, pad: 'same', dil: 1 },
  { x: [2, 10, 10, 2], f: [4, 4, 2, 3], stride: 2, pad: 'same', dil: 1 },
  { x: [1, 12, 12, 2], f: [3, 3, 2, 3], stride: 1, pad: 'same', dil: 2 },
];

/** Depthwise shapes: channel multiplier 1–3, strides 1 and 2, same/valid, dilation. */
export const depthwiseCases: ConvCase[] = [
  { x: [2, 9, 8, 3], f: [3, 3, 3, 1], stride: 1, pad: 'same', dil: 1 },
  { x: [2, 9, 8, 3], f: [3, 3, 3, 2], stride: 2, pad: 'same', dil: 1 },
  { x: [1, 11, 9, 2], f: [3, 5, 2, 3], stride: 2, pad: 'valid', dil: 1 },
  { x: [3, 7, 7, 4], f: [2, 2, 4, 1], stride: 2, pad: 'same', dil: 1 },
  { x: [2, 10, 9, 3], f: [3, 3, 3, 2], stride: 1, pad: 'valid', dil: 2 },
  { x: [1, 9, 9, 2], f: [3, 3, 2, 1], stride: 1, pad: 'same', dil: 2 },
];

/** Gradients of a reference model's loss on a fixed batch, on one backend. */
export async function modelGradients(name: string, backend: string): Promise<Float32Array[]> {
  await setBackend(backend);
  const model = buildModel(name, { seed: 2 });
  const x = tf.randomUniform([3, 28, 28, 1], 0, 1, 'float32', 3);
  const y = tf.cast(tf.oneHot(tf.tensor1d([1, 4, 7], 'int32'), 10), 'float32');
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const { grads, value } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar, vars);
  const out = vars.map((v) => Float32Array.from(grads[v.name].dataSync()));
  tf.dispose([x, y, value, ...Object.values(grads)]);
  model.dispose();
  await setBackend('wasm');
  return out;
}

/**
 * For tests of the file layer and the CLI's error handling, which do not depend on the TF.js
 * backend: `npm test` runs them once, in its first pass, and skips them in the LOWBIT_NATIVE=0 pass.
 */
export const firstPassOnly = process.env.LOWBIT_NATIVE === '0' ? 'backend-independent: runs in the first pass of npm test' : false;

/** max |a − b| / max |b|. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let scale = 1e-12;
  for (let i = 0; i < a.length; i++) {
    diff = Math.max(diff, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return diff / scale;
}
