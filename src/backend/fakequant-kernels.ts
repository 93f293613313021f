/**
 * Fused uniform fake-quantizers: DoReFa's k-bit activations and LSQ, each one forward kernel (one
 * pass: the quantized value) and one backward kernel (one pass: ∂x, and LSQ's ∂step as a
 * reduction), instead of a chain of TF.js elementwise ops (clip, mul, round, div, the masks of the
 * STE), each with its own memory pass and tape entry. This file holds the wasm version (JS loops
 * over the wasm heap, browser-safe); native/fakequant.cc is the same math in C++ (registered by
 * native.ts). The cpu, webgl and webgpu backends have neither: there src/quantizers/dorefa.ts and
 * uniform.ts keep their tfjs-ops chains, the reference both kernels are tested against
 * (test/fakequant-fused.test.ts). Every step is the reference's float32 operation in the
 * reference's order, so values and ∂x are bit-identical; ∂step sums in float64.
 *
 * DoReFa activation, n = 2^k − 1 (src/quantizers/dorefa.ts):
 *   y = round(clip(x, 0, 1)·n)/n,  ∂x = dy·[0 ≤ x ≤ 1].
 * LSQ, v = x/s (src/quantizers/uniform.ts):
 *   y = round(clip(v, q_min, q_max))·s,  ∂x = dy·[q_min ≤ v ≤ q_max],
 *   ∂s = g·Σ dy·(round(v) − v inside, q_min below, q_max above),  g = 1/√(N·q_max).
 * round is half to even (tf.round).
 */
import type { KernelBackend, TensorInfo } from '@tensorflow/tfjs-core';
import { getKernel, registerKernel, util } from '@tensorflow/tfjs-core';

export const DOREFA_ACT_FORWARD = 'LowbitDorefaActQuant';
export const DOREFA_ACT_BACKWARD = 'LowbitDorefaActQuantGrad';
export const LSQ_FORWARD = 'LowbitLsqQuant';
export const LSQ_BACKWARD = 'LowbitLsqQuantGrad';

/** DoReFa activation: n = 2^k − 1 levels above 0. */
export interface DorefaActAttrs { n: number }
/** LSQ: the integer range and the gradient scale g. */
export interface LsqAttrs { qMin: number; qMax: number; g: number }

interface HeapBackend extends KernelBackend {
  wasm: { HEAPU8: Uint8Array };
  dataIdMap: { get(dataId: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
}

const fr = Math.fround;
const f32Bits = (v: number) => new Int32Array(Float32Array.from([v]).buffer)[0];

/** tf.round: half to even. */
export function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}

/**
 * The parameter block native/fakequant.cc reads: method (0 DoReFa activation, 1 LSQ), pass
 * (0 forward, 1 backward), count, q_min, q_max, then float32 bits of n and g, then heap offsets of
 * x, step, out (y or dx), dy, dstep (−1 where absent).
 */
export function fakeQuantParams(method: 0 | 1, pass: 0 | 1, count: number, qMin: number, qMax: number, n: number, g: number, offsets: number[]): Int32Array {
  return Int32Array.from([method, pass, count, qMin, qMax, f32Bits(n), f32Bits(g), ...offsets, ...new Array<number>(5 - offsets.length).fill(-1)]);
}

type Args = { inputs: Record<string, TensorInfo>; backend: KernelBackend; attrs: unknown };

function views(b: HeapBackend) {
  const buffer = b.wasm.HEAPU8.buffer;
  return (t: TensorInfo) => new Float32Array(buffer, b.dataIdMap.get(t.dataId).memoryOffset, util.sizeFromShape(t.shape));
}

function dorefaForward({ inputs, backend, attrs }: Args): TensorInfo {
  const b = backend as HeapBackend;
  const out = b.makeOutput(inputs.x.shape, 'float32');
  const view = views(b); // after makeOutput: the heap may have grown
  const [x, y] = [view(inputs.x), view(out)];
  const n = fr((attrs as DorefaActAttrs).n);
  for (let i = 0; i < x.length; i++) {
    const c = Math.min(Math.max(x[i], 0), 1);
    y[i] = fr(roundHalfEven(fr(c * n)) / n);
  }
  return out;
}

function dorefaBackward({ inputs, backend }: Args): TensorInfo {
  const b = backend as HeapBackend;
  const out = b.makeOutput(inputs.x.shape, 'float32');
  const view = views(b);
  const [x, dy, dx] = [view(inputs.x), view(inputs.dy), view(out)];
  for (let i = 0; i < x.length; i++) dx[i] = dy[i] * (x[i] >= 0 && x[i] <= 1 ? 1 : 0);
  return out;
}

function lsqForward({ inputs, backend, attrs }: Args): TensorInfo {
  const b = backend as HeapBackend;
  const { qMin, qMax } = attrs as LsqAttrs;
  const out = b.makeOutput(inputs.x.shape, 'float32');
  const view = views(b);
  const [x, y] = [view(inputs.x), view(out)];
  const s = view(inputs.step)[0];
  for (let i = 0; i < x.length; i++) {
    const v = fr(x[i] / s);
    y[i] = fr(roundHalfEven(Math.min(Math.max(v, qMin), qMax)) * s);
  }
  return out;
}

function lsqBackward({ inputs, backend, attrs }: Args): TensorInfo[] {
  const b = backend as HeapBackend;
  const { qMin, qMax, g } = attrs as LsqAttrs;
  const outs = [inputs.x, inputs.step].map((t) => b.makeOutput(t.shape, 'float32'));
  const view = views(b);
  const [x, dy, dx, ds] = [view(inputs.x), view(inputs.dy), view(outs[0]), view(outs[1])];
  const s = view(inputs.step)[0];
  let acc = 0;
  for (let i = 0; i < x.length; i++) {
    const v = fr(x[i] / s);
    const inside = v >= qMin && v <= qMax;
    dx[i] = dy[i] * (inside ? 1 : 0);
    const e = inside ? fr(roundHalfEven(v) - v) : v < qMin ? qMin : v > qMax ? qMax : 0;
    acc += fr(dy[i] * e);
  }
  ds[0] = fr(fr(acc) * fr(g));
  return outs;
}

/** Registers the wasm (JS) kernels once; native.ts swaps in the C++ ones over them. */
export function registerFakeQuantWasmKernels(): void {
  if (getKernel(DOREFA_ACT_FORWARD, 'wasm') != null) return;
  registerKernel({ kernelName: DOREFA_ACT_FORWARD, backendName: 'wasm', kernelFunc: dorefaForward as never });
  registerKernel({ kernelName: DOREFA_ACT_BACKWARD, backendName: 'wasm', kernelFunc: dorefaBackward as never });
  registerKernel({ kernelName: LSQ_FORWARD, backendName: 'wasm', kernelFunc: lsqForward as never });
  registerKernel({ kernelName: LSQ_BACKWARD, backendName: 'wasm', kernelFunc: lsqBackward as never });
}
