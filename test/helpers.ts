/** Shared test helpers: seeded random inputs, running one kernel on several backends, closeness. */
import assert from 'node:assert/strict';
import { tf, setBackend } from '../src/node.js';
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
