/**
 * The 'native' backend: the wasm backend's storage and small kernels, with the heavy kernels
 * (convolutions and their gradients, depthwise convolutions, matmuls) run by oneDNN, and
 * per-channel reductions and common elementwise ops run by threaded C++, through
 * lowbit's N-API addon, reading and writing the wasm heap in place (zero-copy; oneDNN's nhwc
 * and hwio layouts are TF.js's NHWC tensors and HWIO filters). Node-only.
 */
import type { KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { backend_util, broadcast_util, engine, getKernel, registerKernel, unregisterKernel, util } from '@tensorflow/tfjs-core';
import { loadNativeAddon, NATIVE_ADDON_PATH } from './addon.js';
import { registerBackendInstaller } from './index.js';
import { ADAM_UPDATE, installFusedAdam, uninstallFusedAdam } from './native-adam.js';
import { BN_MOVING_AVERAGES, BN_TRAIN, BN_TRAIN_GRAD, installFusedBatchNormTraining, uninstallFusedBatchNormTraining } from './native-batchnorm.js';
import { DOREFA_ACT_BACKWARD, DOREFA_ACT_FORWARD, DOREFA_WEIGHT_BACKWARD, DOREFA_WEIGHT_FORWARD, fakeQuantParams, LSQ_BACKWARD, LSQ_FORWARD, type DorefaActAttrs, type LsqAttrs } from './fakequant-kernels.js';
import { RELAXED_BACKWARD, RELAXED_FORWARD, relaxedParams, type RelaxedAttrs } from './relaxed-kernels.js';
import { registerWasmTrainingKernels } from './wasm-grad-kernels.js';
import { PRELU_GRAD, preluChannels, registerPreluGradient } from './native-prelu.js';
import { registerReluGradient, RELU_GRAD } from './native-relu.js';
import { installSharedClones, uninstallSharedClones } from './native-tape.js';
import { MEAN_GRAD, registerMeanGradient } from './native-mean.js';
import { RSIGN_FORWARD, SCALED_SIGN_FORWARD, SIGN_BACKWARD, SIGN_FORWARD, signParams, type SignAttrs } from './sign-kernels.js';
import { dqNativeKernels } from '../methods/dq/native-kernels.js';

interface Addon {
  conv(heap: ArrayBuffer, params: Int32Array): void;
  matmul(heap: ArrayBuffer, params: Int32Array): void;
  reduce(heap: ArrayBuffer, params: Int32Array): void;
  maxPool(heap: ArrayBuffer, params: Int32Array): void;
  maxPoolGrad(heap: ArrayBuffer, params: Int32Array): void;
  binary(heap: ArrayBuffer, params: Int32Array): void;
  batchNorm(heap: ArrayBuffer, params: Int32Array): void;
  unary(heap: ArrayBuffer, params: Int32Array): void;
  batchNormTrain(heap: ArrayBuffer, params: Int32Array): void;
  batchNormTrainGrad(heap: ArrayBuffer, params: Int32Array): void;
  adamUpdate(heap: ArrayBuffer, params: Int32Array): void;
  relaxed(heap: ArrayBuffer, params: Int32Array): void;
  fakeQuant(heap: ArrayBuffer, params: Int32Array): void;
  prelu(heap: ArrayBuffer, params: Int32Array): void;
  avgPoolGrad(heap: ArrayBuffer, params: Int32Array): void;
  axisCopy(heap: ArrayBuffer, params: Int32Array): void;
  movingAverages(heap: ArrayBuffer, params: Int32Array): void;
  sign(heap: ArrayBuffer, params: Int32Array): void;
  reluGrad(heap: ArrayBuffer, params: Int32Array): void;
  meanGrad(heap: ArrayBuffer, params: Int32Array): void;
  batchNormGradOnePass(heap: ArrayBuffer, params: Int32Array): void;
  batchNormForward(heap: ArrayBuffer, params: Int32Array): void;
  dnnlVersion: string;
}

interface WasmBackend extends KernelBackend {
  wasm: { HEAPU8: Uint8Array };
  incRef(dataId: object): void;
  dataIdMap: { get(dataId: object): { memoryOffset: number }; has(dataId: object): boolean };
  disposeData(dataId: object, force?: boolean): boolean;
  makeOutput(shape: number[], dtype: 'float32' | 'int32'): TensorInfo;
}

export { NATIVE_ADDON_PATH };

/** The addon, or null when it was not built (no oneDNN at install time) or is disabled (LOWBIT_NATIVE=0); loaded (once) by the TF.js-free src/backend/addon.ts. */
export function nativeAddon(): Addon | null {
  addon = loadNativeAddon() as Addon | null;
  return addon;
}

/** The typed addon the kernels below call (set by nativeAddon() when the backend registers). */
let addon: Addon | null = null;

export const NATIVE_HINT = 'lowbit: training on wasm (1 core); for the oneDNN fast path: apt-get install libdnnl-dev && npm rebuild lowbit';

const offset = (b: WasmBackend, t: TensorInfo) => b.dataIdMap.get(t.dataId).memoryOffset;
const heap = (b: WasmBackend) => b.wasm.HEAPU8.buffer as ArrayBuffer;
type Args = { inputs: Record<string, TensorInfo>; backend: WasmBackend; attrs: Record<string, unknown> };
type Pad = 'valid' | 'same' | number | backend_util.ExplicitPadding;

/** Runs one oneDNN convolution; kind 0 forward, 1 backward-data, 2 backward-weights. */
function runConv(b: WasmBackend, kind: 0 | 1 | 2, info: backend_util.Conv2DInfo, groups: number,
  src: TensorInfo, wei: TensorInfo, dst: TensorInfo, bias: TensorInfo | null, relu: boolean): void {
  const p = info.padInfo;
  const params = Int32Array.from([kind, info.batchSize, info.inChannels, info.inHeight, info.inWidth, info.outChannels,
    info.outHeight, info.outWidth, info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth,
    info.dilationHeight, info.dilationWidth, p.top, p.left, p.bottom, p.right, groups,
    offset(b, src), offset(b, wei), offset(b, dst), bias ? offset(b, bias) : -1, relu ? 1 : 0]);
  addon!.conv(heap(b), params);
}

const allFloat = (...ts: Array<TensorInfo | undefined>) => ts.every((t) => t == null || t.dtype === 'float32');

function convInfo(xShape: number[], filterShape: number[], attrs: Record<string, unknown>, depthwise: boolean) {
  return backend_util.computeConv2DInfo(xShape as [number, number, number, number], filterShape as [number, number, number, number],
    attrs.strides as [number, number], (attrs.dilations ?? 1) as [number, number], attrs.pad as Pad,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined, depthwise);
}

/** A native kernel, or the previous (wasm/lowbit) kernel when the native one declines (returns null). */
type NativeFn = (args: Args) => TensorInfo | null;

function convForward(depthwise: boolean): NativeFn {
  return ({ inputs, backend, attrs }) => {
    const { x, filter, bias, preluActivationWeights } = inputs;
    const activation = (attrs.activation as string | undefined) ?? 'linear';
    if (preluActivationWeights != null || !['linear', 'relu'].includes(activation) || !allFloat(x, filter, bias)) return null;
    if ((attrs.dataFormat ?? 'NHWC') !== 'NHWC') return null;
    if (bias != null && bias.shape.length !== 1) return null;
    const info = convInfo(x.shape, filter.shape, attrs, depthwise);
    const out = backend.makeOutput([info.batchSize, info.outHeight, info.outWidth, info.outChannels], 'float32');
    runConv(backend, 0, info, depthwise ? info.inChannels : 1, x, filter, out, bias ?? null, activation === 'relu');
    return out;
  };
}

function convBackwardData(depthwise: boolean): NativeFn {
  return ({ inputs, backend, attrs }) => {
    const { dy, filter } = inputs;
    if (!allFloat(dy, filter) || (attrs.dataFormat ?? 'NHWC') !== 'NHWC') return null;
    const info = convInfo(attrs.inputShape as number[], filter.shape, attrs, depthwise);
    const dx = backend.makeOutput(attrs.inputShape as number[], 'float32');
    runConv(backend, 1, info, depthwise ? info.inChannels : 1, dx, filter, dy, null, false);
    return dx;
  };
}

function convBackwardWeights(depthwise: boolean): NativeFn {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs;
    if (!allFloat(x, dy) || (attrs.dataFormat ?? 'NHWC') !== 'NHWC') return null;
    const filterShape = attrs.filterShape as number[];
    const info = convInfo(x.shape, filterShape, attrs, depthwise);
    // 1×1 filters with a stride above 1 run on a strided copy of x in the addon (native/dnnl_addon.cc
    // Conv: oneDNN's own kernel for them corrupts the C heap).
    const dw = backend.makeOutput(filterShape, 'float32');
    runConv(backend, 2, info, depthwise ? info.inChannels : 1, x, dw, dy, null, false);
    return dw;
  };
}

/** C = op(A)·op(B) [+ bias] [relu], batch dims equal or broadcast from 1. */
const matMul: NativeFn = ({ inputs, backend, attrs }) => {
  const { a, b, bias, preluActivationWeights } = inputs;
  const activation = (attrs.activation as string | undefined) ?? 'linear';
  if (preluActivationWeights != null || !['linear', 'relu'].includes(activation) || !allFloat(a, b, bias)) return null;
  const tA = attrs.transposeA === true;
  const tB = attrs.transposeB === true;
  const ra = a.shape.length;
  const rb = b.shape.length;
  const M = tA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = tA ? a.shape[ra - 2] : a.shape[ra - 1];
  const N = tB ? b.shape[rb - 2] : b.shape[rb - 1];
  const size = (dims: number[]) => dims.reduce((x, y) => x * y, 1);
  const batchDims = broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
  const B = size(batchDims);
  const aB = size(a.shape.slice(0, -2));
  const bB = size(b.shape.slice(0, -2));
  // oneDNN broadcasts a whole operand; mixed per-axis broadcasting goes to the wasm kernel.
  if ((aB !== B && aB !== 1) || (bB !== B && bB !== 1)) return null;
  if (bias != null && !(bias.shape.length === 1 && bias.shape[0] === N)) return null;
  const out = backend.makeOutput([...batchDims, M, N], 'float32');
  const params = Int32Array.from([B, M, K, N, tA ? 1 : 0, tB ? 1 : 0, aB, bB,
    offset(backend, a), offset(backend, b), offset(backend, out), bias ? offset(backend, bias) : -1, activation === 'relu' ? 1 : 0]);
  addon!.matmul(heap(backend), params);
  return out;
};

/**
 * Sum or mean over every axis but the last (per-channel statistics of NHWC activations), or over
 * a run of middle axes (global average pooling's H and W: [B, H, W, C] → [B, C]). Other axes fall back.
 */
function channelReduce(mean: boolean): NativeFn {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    const rank = x.shape.length;
    if (x.dtype !== 'float32' || rank < 2) return null;
    const axes = util.parseAxisParam(attrs.axis as number | number[], x.shape).sort((a, b) => a - b);
    if (axes.length === 0 || axes[axes.length - 1] >= rank - 1 || axes.some((a, i) => a !== axes[0] + i)) return null;
    const first = axes[0];
    const last = axes[axes.length - 1];
    const outer = util.sizeFromShape(x.shape.slice(0, first));
    const R = util.sizeFromShape(x.shape.slice(first, last + 1));
    const C = util.sizeFromShape(x.shape.slice(last + 1));
    if (R === 0 || C === 0 || outer === 0) return null;
    const outShape = attrs.keepDims ? x.shape.map((d, i) => (i >= first && i <= last ? 1 : d)) : x.shape.filter((_, i) => i < first || i > last);
    const out = backend.makeOutput(outShape, 'float32');
    addon!.reduce(heap(backend), Int32Array.from([R, C, offset(backend, x), offset(backend, out), mean ? 1 : 0, outer]));
    return out;
  };
}

type PoolInfo = backend_util.Conv2DInfo;

function poolInfo(xShape: number[], attrs: Record<string, unknown>): PoolInfo {
  return backend_util.computePool2DInfo(xShape as [number, number, number, number],
    attrs.filterSize as [number, number] | number, attrs.strides as [number, number] | number, 1, attrs.pad as Pad,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined);
}

/** The pooling geometry both kernels pass first: B, H, W, C, OH, OW, KH, KW, SH, SW, PT, PL. */
const poolParams = (i: PoolInfo) => [i.batchSize, i.inHeight, i.inWidth, i.inChannels, i.outHeight, i.outWidth,
  i.filterHeight, i.filterWidth, i.strideHeight, i.strideWidth, i.padInfo.top, i.padInfo.left];

/**
 * MaxPool's saved argmax: for a pooled output made under a gradient tape, keyed by its dataId, the
 * flat input index each output element came from (an int32 buffer on the wasm heap), the input's
 * dataId and the pooling geometry it holds for. MaxPoolGrad uses it when its `input` and `output`
 * are that pair with that geometry (else it rescans the windows); the entry and its buffer go when
 * the output's data is freed (the backend's disposeData, wrapped once per backend below).
 */
interface Argmax { backend: WasmBackend; x: object; geometry: string; argmax: TensorInfo }
const argmaxTable = new Map<object, Argmax>();
const disposeWrapped = new WeakSet<object>();

/** How many pooled outputs hold a saved argmax now (tests check it stays flat over training steps). */
export function maxPoolArgmaxCount(): number {
  return argmaxTable.size;
}

/** How many native MaxPoolGrad calls used a saved argmax, and how many rescanned the windows. */
export const maxPoolGradPaths = { saved: 0, rescanned: 0 };

function wrapDispose(b: WasmBackend): void {
  if (disposeWrapped.has(b)) return;
  disposeWrapped.add(b);
  const dispose = b.disposeData.bind(b);
  b.disposeData = (dataId: object, force?: boolean): boolean => {
    const freed = dispose(dataId, force);
    const entry = argmaxTable.size > 0 ? argmaxTable.get(dataId) : undefined;
    if (entry != null && !b.dataIdMap.has(dataId)) {
      argmaxTable.delete(dataId);
      dispose(entry.argmax.dataId, true);
    }
    return freed;
  };
}

/**
 * MaxPool over NHWC float32 as TF.js's cpu kernel computes it (native/dnnl_addon.cc MaxPool): bit-identical to it, and
 * to the wasm kernel (XNNPACK) but where +0 and −0 tie for a window's max or a NaN opens a window (test/native-maxpool.test.ts);
 * under a gradient tape it also saves the argmax. Empty tensors and dilations fall back.
 */
const maxPool: NativeFn = ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  if (x.dtype !== 'float32' || x.shape.length !== 4) return null;
  const info = poolInfo(x.shape, attrs);
  if (info.dataFormat !== 'channelsLast' || info.dilationHeight !== 1 || info.dilationWidth !== 1) return null;
  const size = util.sizeFromShape(x.shape);
  if (size === 0 || util.sizeFromShape(info.outShape) === 0 || size >= 2 ** 31) return null;
  const out = backend.makeOutput(info.outShape, 'float32');
  const argmax = engine().state.gradientDepth > 0 ? backend.makeOutput([util.sizeFromShape(info.outShape)], 'int32') : null;
  const geometry = poolParams(info);
  addon!.maxPool(heap(backend), Int32Array.from([...geometry, offset(backend, x), offset(backend, out), argmax ? offset(backend, argmax) : -1]));
  if (argmax != null) {
    wrapDispose(backend);
    argmaxTable.set(out.dataId, { backend, x: x.dataId, geometry: geometry.join(), argmax });
  }
  return out;
};

const maxPoolGrad: NativeFn = ({ inputs, backend, attrs }) => {
  const { dy, input, output } = inputs;
  if (!allFloat(dy, input, output) || input.shape.length !== 4) return null;
  const info = poolInfo(input.shape, attrs);
  const geometry = poolParams(info);
  const saved = argmaxTable.get(output.dataId);
  const argmax = saved != null && saved.backend === backend && saved.x === input.dataId && saved.geometry === geometry.join() ? saved.argmax : null;
  maxPoolGradPaths[argmax ? 'saved' : 'rescanned']++;
  const dx = backend.makeOutput(input.shape, 'float32');
  addon!.maxPoolGrad(heap(backend), Int32Array.from([...geometry, offset(backend, input), offset(backend, output), offset(backend, dy), offset(backend, dx),
    argmax ? offset(backend, argmax) : -1]));
  return dx;
};

/**
 * An elementwise float32 binary op, threaded in C++: same shapes, or one operand broadcast over
 * the other's leading dims (its shape, less leading 1s, is the other's trailing dims; scalars
 * included). Other broadcasts fall back to wasm.
 */
function binaryOp(op: number): NativeFn {
  return ({ inputs, backend }) => {
    const { a, b } = inputs;
    if (!allFloat(a, b)) return null;
    const outShape = broadcast_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const n = util.sizeFromShape(outShape);
    if (n === 0) return null;
    const sa = util.sizeFromShape(a.shape);
    const sb = util.sizeFromShape(b.shape);
    // A trailing broadcast: the smaller operand's dims, less leading 1s, end the output's dims.
    const trailing = (shape: number[]) => {
      const first = shape.findIndex((d) => d !== 1);
      const dims = first < 0 ? [] : shape.slice(first);
      return dims.every((d, i) => d === outShape[outShape.length - dims.length + i]);
    };
    let mode: number;
    let inner = n;
    if (sa === n && sb === n) mode = 0;
    else if (sa === n && trailing(b.shape)) { mode = 1; inner = sb; } else if (sb === n && trailing(a.shape)) { mode = 2; inner = sa; } else return null;
    const out = backend.makeOutput(outShape, 'float32');
    addon!.binary(heap(backend), Int32Array.from([op, mode, mode === 0 ? 1 : n / inner, inner, offset(backend, a), offset(backend, b), offset(backend, out)]));
    return out;
  };
}

/** BatchNorm inference/training normalisation with per-channel (last-axis) statistics, threaded in C++. */
const batchNorm: NativeFn = ({ inputs, backend, attrs }) => {
  const { x, mean, variance, offset: shift, scale } = inputs;
  if (!allFloat(x, mean, variance, shift, scale) || x.shape.length === 0) return null;
  const C = x.shape[x.shape.length - 1];
  const count = util.sizeFromShape(x.shape);
  if (count === 0 || [mean, variance, shift, scale].some((t) => t != null && util.sizeFromShape(t.shape) !== C)) return null;
  const out = backend.makeOutput(x.shape, 'float32');
  const eps = f32Bits((attrs.varianceEpsilon as number | undefined) ?? 0.001);
  addon!.batchNorm(heap(backend), Int32Array.from([C, count, offset(backend, x), offset(backend, mean), offset(backend, variance),
    shift != null ? offset(backend, shift) : -1, scale != null ? offset(backend, scale) : -1, offset(backend, out), eps]));
  return out;
};

const f32Bits = (v: number) => new Int32Array(Float32Array.from([v]).buffer)[0];

/** Training-mode batch norm over the last axis: [y, batch mean, biased batch variance] (native-batchnorm.ts). */
const batchNormTrain = ({ inputs, backend, attrs }: Args): TensorInfo[] => {
  const { x, scale, offset: shift } = inputs;
  const C = x.shape[x.shape.length - 1];
  const y = backend.makeOutput(x.shape, 'float32');
  const mean = backend.makeOutput([C], 'float32');
  const variance = backend.makeOutput([C], 'float32');
  // BatchNormTrain's math and summation order with register-blocked sums (native/train_ops.cc BatchNormForward; bit-identical).
  addon!.batchNormForward(heap(backend), Int32Array.from([util.sizeFromShape(x.shape) / C, C, offset(backend, x), offset(backend, scale),
    offset(backend, shift), offset(backend, y), offset(backend, mean), offset(backend, variance), f32Bits(attrs.epsilon as number)]));
  return [y, mean, variance];
};

/** Its gradient through the batch statistics: [dx, dscale, doffset]. */
const batchNormTrainGrad = ({ inputs, backend, attrs }: Args): TensorInfo[] => {
  const { x, dy, scale, mean, variance, dmean, dvariance } = inputs;
  const C = x.shape[x.shape.length - 1];
  const dx = backend.makeOutput(x.shape, 'float32');
  const dscale = backend.makeOutput([C], 'float32');
  const doffset = backend.makeOutput([C], 'float32');
  // BatchNormTrainGrad's math with its two channel sums in one pass (native/train_ops.cc BatchNormGradOnePass; bit-identical).
  addon!.batchNormGradOnePass(heap(backend), Int32Array.from([util.sizeFromShape(x.shape) / C, C, offset(backend, x), offset(backend, dy),
    offset(backend, scale), offset(backend, mean), offset(backend, variance), offset(backend, dmean), offset(backend, dvariance),
    offset(backend, dx), offset(backend, dscale), offset(backend, doffset), f32Bits(attrs.epsilon as number)]));
  return [dx, dscale, doffset];
};

/** Batch norm's moving averages (native-batchnorm.ts): [old − (old − mean)·f, old − (old − variance)·f], f = 1 − momentum. */
const movingAverages = ({ inputs, backend, attrs }: Args): TensorInfo[] => {
  const { movingMean, movingVariance, mean, variance } = inputs;
  const outs = [movingMean, movingVariance].map((t) => backend.makeOutput(t.shape, 'float32'));
  addon!.movingAverages(heap(backend), Int32Array.from([util.sizeFromShape(movingMean.shape),
    ...[movingMean, movingVariance, mean, variance, ...outs].map((t) => offset(backend, t)), f32Bits(attrs.factor as number)]));
  return outs;
};

/** Adam's step for one variable (native-adam.ts): [new value, new m, new v]. */
const adamUpdate = ({ inputs, backend, attrs }: Args): TensorInfo[] => {
  const { value, m, v, gradient, accBeta1, accBeta2 } = inputs;
  const outs = [value, m, v].map((t) => backend.makeOutput(t.shape, 'float32'));
  const a = attrs as { learningRate: number; beta1: number; beta2: number; epsilon: number };
  addon!.adamUpdate(heap(backend), Int32Array.from([util.sizeFromShape(value.shape), ...[value, m, v, gradient, accBeta1, accBeta2, ...outs].map((t) => offset(backend, t)),
    ...[a.learningRate, a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.epsilon].map(f32Bits)]));
  return outs;
};

/** The fused relaxed quantizers (relaxed-kernels.ts; native/relaxed.cc), forward: y. */
const relaxedForward: NativeFn = ({ inputs, backend, attrs }) => {
  const { x, alpha, sigma, u, drop, gates } = inputs;
  const out = backend.makeOutput(x.shape, 'float32');
  addon!.relaxed(heap(backend), relaxedParams(0, util.sizeFromShape(x.shape), attrs as unknown as RelaxedAttrs,
    [x, alpha, sigma, u, drop, gates, out].map((t) => offset(backend, t))));
  return out;
};

/** Backward: [dx, dα, dσ, dgates]. */
const relaxedBackward = ({ inputs, backend, attrs }: Args): TensorInfo[] => {
  const { dy, x, alpha, sigma, u, drop, gates } = inputs;
  const outs = [x, alpha, sigma, gates].map((t) => backend.makeOutput(t.shape, 'float32'));
  addon!.relaxed(heap(backend), relaxedParams(1, util.sizeFromShape(x.shape), attrs as unknown as RelaxedAttrs,
    [x, alpha, sigma, u, drop, gates, outs[0], dy, outs[1], outs[2], outs[3]].map((t) => offset(backend, t))));
  return outs;
};

/** Fused DoReFa activation fake-quant (fakequant-kernels.ts; native/fakequant.cc; native only), forward: y. */
const dorefaActForward: NativeFn = ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const out = backend.makeOutput(x.shape, 'float32');
  addon!.fakeQuant(heap(backend), fakeQuantParams(0, 0, util.sizeFromShape(x.shape), 0, 0, (attrs as unknown as DorefaActAttrs).n, 0,
    [x, x, out].map((t) => offset(backend, t))));
  return out;
};

/** Backward: dx. */
const dorefaActBackward: NativeFn = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs;
  const out = backend.makeOutput(x.shape, 'float32');
  addon!.fakeQuant(heap(backend), fakeQuantParams(0, 1, util.sizeFromShape(x.shape), 0, 0, (attrs as unknown as DorefaActAttrs).n, 0,
    [x, x, out, dy].map((t) => offset(backend, t))));
  return out;
};

/** Fused DoReFa k-bit weights, tanh included, forward: y (x = w). */
const dorefaWeightForward: NativeFn = ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  const out = backend.makeOutput(x.shape, 'float32');
  addon!.fakeQuant(heap(backend), fakeQuantParams(2, 0, util.sizeFromShape(x.shape), 0, 0, (attrs as unknown as DorefaActAttrs).n, 0,
    [x, x, out].map((t) => offset(backend, t))));
  return out;
};

/** Backward: dx (with respect to w). */
const dorefaWeightBackward: NativeFn = ({ inputs, backend, attrs }) => {
  const { x, dy } = inputs;
  const out = backend.makeOutput(x.shape, 'float32');
  addon!.fakeQuant(heap(backend), fakeQuantParams(2, 1, util.sizeFromShape(x.shape), 0, 0, (attrs as unknown as DorefaActAttrs).n, 0,
    [x, x, out, dy].map((t) => offset(backend, t))));
  return out;
};

/** Fused LSQ, forward: y. */
const lsqForward: NativeFn = ({ inputs, backend, attrs }) => {
  const { x, step } = inputs;
  const a = attrs as unknown as LsqAttrs;
  const out = backend.makeOutput(x.shape, 'float32');
  addon!.fakeQuant(heap(backend), fakeQuantParams(1, 0, util.sizeFromShape(x.shape), a.qMin, a.qMax, 0, a.g,
    [x, step, out].map((t) => offset(backend, t))));
  return out;
};

/** Backward: [dx, dstep]. */
const lsqBackward = ({ inputs, backend, attrs }: Args): TensorInfo[] => {
  const { x, step, dy } = inputs;
  const a = attrs as unknown as LsqAttrs;
  const outs = [x, step].map((t) => backend.makeOutput(t.shape, 'float32'));
  addon!.fakeQuant(heap(backend), fakeQuantParams(1, 1, util.sizeFromShape(x.shape), a.qMin, a.qMax, 0, a.g,
    [x, step, outs[0], dy, outs[1]].map((t) => offset(backend, t))));
  return outs;
};

/** PReLU with one α per last-axis channel (native/train_ops.cc), forward: y = x < 0 ? α·x : x. Other α shapes fall back. */
const preluForward: NativeFn = ({ inputs, backend }) => {
  const { x, alpha } = inputs;
  const C = preluChannels(x, alpha);
  if (C == null) return null;
  const out = backend.makeOutput(x.shape, 'float32');
  addon!.prelu(heap(backend), Int32Array.from([0, util.sizeFromShape(x.shape) / C, C, offset(backend, x), offset(backend, alpha), offset(backend, out), -1, -1]));
  return out;
};

/** Its gradient in one pass (native-prelu.ts): [dx, dα], dα shaped as α. */
const preluBackward = ({ inputs, backend }: Args): TensorInfo[] => {
  const { x, alpha, dy } = inputs;
  const C = x.shape[x.shape.length - 1];
  const outs = [x, alpha].map((t) => backend.makeOutput(t.shape, 'float32'));
  addon!.prelu(heap(backend), Int32Array.from([1, util.sizeFromShape(x.shape) / C, C, offset(backend, x), offset(backend, alpha), offset(backend, outs[0]),
    offset(backend, dy), offset(backend, outs[1])]));
  return outs;
};

/** AvgPool's gradient without padding (native/train_ops.cc); padded pools fall back to wasm. */
const avgPoolGrad: NativeFn = ({ inputs, backend, attrs }) => {
  const { dy, input } = inputs;
  if (!allFloat(dy, input) || input.shape.length !== 4) return null;
  const info = backend_util.computePool2DInfo(input.shape as [number, number, number, number],
    attrs.filterSize as [number, number], attrs.strides as [number, number], 1, attrs.pad as Pad,
    attrs.dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined);
  const p = info.padInfo;
  if (p.top !== 0 || p.left !== 0 || p.bottom !== 0 || p.right !== 0 || util.sizeFromShape(input.shape) === 0) return null;
  if (dy.shape.join() !== [info.batchSize, info.outHeight, info.outWidth, info.outChannels].join()) return null;
  const dx = backend.makeOutput(input.shape, 'float32');
  addon!.avgPoolGrad(heap(backend), Int32Array.from([info.batchSize, info.inHeight, info.inWidth, info.inChannels, info.outHeight, info.outWidth,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, offset(backend, dy), offset(backend, dx)]));
  return dx;
};

/**
 * The binarizers' fused sign (sign-kernels.ts; native/train_ops.cc Sign), forward: y from x and
 * the per-channel threshold (RSign) or scale, if any (src/quantizers/sign-fused.ts checks the shapes).
 */
const signForward = ({ inputs, backend, attrs }: Args): TensorInfo => {
  const { x, threshold, scale } = inputs;
  const C = x.shape[x.shape.length - 1];
  const out = backend.makeOutput(x.shape, 'float32');
  addon!.sign(heap(backend), signParams(0, (attrs as unknown as SignAttrs).mode, util.sizeFromShape(x.shape) / C, C,
    [offset(backend, x), threshold ? offset(backend, threshold) : -1, scale ? offset(backend, scale) : -1, offset(backend, out), -1]));
  return out;
};

/** Backward: ∂t (= ∂x; the threshold's gradient is its channel sums, sign-fused.ts). */
const signBackward = ({ inputs, backend, attrs }: Args): TensorInfo => {
  const { dy, x, threshold } = inputs;
  const C = x.shape[x.shape.length - 1];
  const out = backend.makeOutput(x.shape, 'float32');
  addon!.sign(heap(backend), signParams(1, (attrs as unknown as SignAttrs).mode, util.sizeFromShape(x.shape) / C, C,
    [offset(backend, x), threshold ? offset(backend, threshold) : -1, -1, offset(backend, out), offset(backend, dy)]));
  return out;
};

/** ReLU's gradient in one pass (native-relu.ts checks dtypes and shapes): dx = dy·step(x). */
const reluGrad = ({ inputs, backend }: Args): TensorInfo => {
  const { x, dy } = inputs;
  const dx = backend.makeOutput(x.shape, 'float32');
  addon!.reluGrad(heap(backend), Int32Array.from([util.sizeFromShape(x.shape), offset(backend, x), offset(backend, dy), offset(backend, dx)]));
  return dx;
};

/** Mean's gradient over a run of axes (native-mean.ts checks the case): dx[o, r, c] = dy[o, c] / R. */
const meanGrad = ({ inputs, backend, attrs }: Args): TensorInfo => {
  const { dy } = inputs;
  const a = attrs as { shape: number[]; outer: number; reduced: number; inner: number };
  const dx = backend.makeOutput(a.shape, 'float32');
  addon!.meanGrad(heap(backend), Int32Array.from([a.outer, a.reduced, a.inner, offset(backend, dy), offset(backend, dx), f32Bits(a.reduced)]));
  return dx;
};

/** A concat (direction 0) or split (1) of float32 parts along `axis` of the whole, one threaded copy (native/train_ops.cc). */
function axisCopy(backend: WasmBackend, direction: 0 | 1, whole: TensorInfo, parts: TensorInfo[], axis: number): void {
  const outer = util.sizeFromShape(whole.shape.slice(0, axis));
  addon!.axisCopy(heap(backend), Int32Array.from([direction, outer, parts.length, offset(backend, whole),
    ...parts.flatMap((t) => [util.sizeFromShape(t.shape.slice(axis)), offset(backend, t)])]));
}

/** Concat of two or more non-empty float32 tensors; other cases (one part, empties, other dtypes) fall back. */
const concat: NativeFn = ({ inputs, backend, attrs }) => {
  const parts = Object.values(inputs);
  if (parts.length < 2 || !allFloat(...parts) || parts.some((t) => util.sizeFromShape(t.shape) === 0)) return null;
  const axis = util.parseAxisParam(attrs.axis as number, parts[0].shape)[0];
  backend_util.assertParamsConsistent(parts.map((t) => t.shape), axis);
  const out = backend.makeOutput(backend_util.computeOutShape(parts.map((t) => t.shape), axis), 'float32');
  axisCopy(backend, 0, out, parts, axis);
  return out;
};

/** SplitV of a non-empty float32 tensor into non-empty parts; other cases fall back. */
const splitV = ({ inputs, backend, attrs }: Args): TensorInfo[] | null => {
  const { x } = inputs;
  if (x.dtype !== 'float32' || util.sizeFromShape(x.shape) === 0) return null;
  const axis = util.parseAxisParam(attrs.axis as number, x.shape)[0];
  const sizes = backend_util.prepareSplitSize(x as never, attrs.numOrSizeSplits as number | number[], axis);
  if (sizes.length < 2 || sizes.some((s) => s <= 0)) return null;
  const parts = sizes.map((s) => backend.makeOutput(x.shape.map((d, i) => (i === axis ? s : d)), 'float32'));
  axisCopy(backend, 1, x, parts, axis);
  return parts;
};

/** An elementwise float32 unary op, threaded in C++. */
function unaryOp(op: number): NativeFn {
  return ({ inputs, backend, attrs }) => {
    const { x } = inputs;
    const n = util.sizeFromShape(x.shape);
    if (x.dtype !== 'float32' || n === 0) return null;
    const out = backend.makeOutput(x.shape, 'float32');
    addon!.unary(heap(backend), Int32Array.from([op, n, offset(backend, x), offset(backend, out), f32Bits((attrs?.alpha as number | undefined) ?? 0)]));
    return out;
  };
}

/**
 * Identity, and Cast to the same dtype, share the input's buffer (a reference count, as the cpu
 * backend and wasm's Reshape do) instead of copying it: ReLU's gradient casts a float32 step to
 * float32, and every gradient tape clones its outputs.
 */
const shareBuffer: NativeFn = ({ inputs, backend, attrs }) => {
  const { x } = inputs;
  if (x.dtype === 'string' || (attrs?.dtype != null && attrs.dtype !== x.dtype)) return null; // Identity has no attrs
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

const nativeKernels: Array<[string, NativeFn]> = [
  ['Identity', shareBuffer],
  ['Cast', shareBuffer],
  ['Conv2D', convForward(false)],
  ['FusedConv2D', convForward(false)],
  ['Conv2DBackpropInput', convBackwardData(false)],
  ['Conv2DBackpropFilter', convBackwardWeights(false)],
  ['DepthwiseConv2dNative', convForward(true)],
  ['FusedDepthwiseConv2D', convForward(true)],
  ['DepthwiseConv2dNativeBackpropInput', convBackwardData(true)],
  ['DepthwiseConv2dNativeBackpropFilter', convBackwardWeights(true)],
  ['BatchMatMul', matMul],
  ['_FusedMatMul', matMul],
  ['Sum', channelReduce(false)],
  ['Mean', channelReduce(true)],
  ['MaxPool', maxPool],
  ['MaxPoolGrad', maxPoolGrad],
  ['FusedBatchNorm', batchNorm],
  ['Add', binaryOp(0)], ['Sub', binaryOp(1)], ['Multiply', binaryOp(2)], ['RealDiv', binaryOp(3)],
  ['Maximum', binaryOp(4)], ['Minimum', binaryOp(5)], ['SquaredDifference', binaryOp(6)],
  ['Exp', unaryOp(0)], ['Log', unaryOp(1)], ['Neg', unaryOp(2)], ['Sqrt', unaryOp(3)], ['Abs', unaryOp(4)],
  ['Softplus', unaryOp(5)], ['Sigmoid', unaryOp(6)], ['Relu', unaryOp(7)], ['Step', unaryOp(8)],
  [RELAXED_FORWARD, relaxedForward],
  [RELAXED_BACKWARD, relaxedBackward as unknown as NativeFn],
  ['Prelu', preluForward],
  ['AvgPoolGrad', avgPoolGrad],
  ['Concat', concat],
  ['SplitV', splitV as unknown as NativeFn],
];

// The fused fake-quantizers and sign are native-only: plain wasm keeps the op chains (fakequant-kernels.ts says why).
const ownKernels: Array<[string, (args: Args) => TensorInfo | TensorInfo[]]> = [[BN_TRAIN, batchNormTrain], [BN_TRAIN_GRAD, batchNormTrainGrad],
  [BN_MOVING_AVERAGES, movingAverages], [ADAM_UPDATE, adamUpdate],
  [DOREFA_ACT_FORWARD, dorefaActForward as (args: Args) => TensorInfo], [DOREFA_ACT_BACKWARD, dorefaActBackward as (args: Args) => TensorInfo],
  [DOREFA_WEIGHT_FORWARD, dorefaWeightForward as (args: Args) => TensorInfo], [DOREFA_WEIGHT_BACKWARD, dorefaWeightBackward as (args: Args) => TensorInfo],
  [LSQ_FORWARD, lsqForward as (args: Args) => TensorInfo], [LSQ_BACKWARD, lsqBackward], [PRELU_GRAD, preluBackward],
  [SIGN_FORWARD, signForward], [RSIGN_FORWARD, signForward], [SCALED_SIGN_FORWARD, signForward], [SIGN_BACKWARD, signBackward],
  [RELU_GRAD, reluGrad], [MEAN_GRAD, meanGrad]];

export const nativeKernelNames: readonly string[] = [...nativeKernels, ...ownKernels].map(([n]) => n);

/** The wasm backend's own kernels, saved before native ones replace them. */
const wasmOriginals = new Map<string, KernelConfig>();

/**
 * How often each native kernel declined and ran its wasm fallback since the backend was installed
 * (bench/profile-step.ts reports it; the per-call cost is one map update on the fallback path only).
 */
export const nativeFallbackCounts = new Map<string, number>();

function installNativeKernels(): void {
  if (nativeAddon() == null) {
    throw new Error('the native backend needs the oneDNN addon: apt-get install libdnnl-dev && npm rebuild lowbit');
  }
  registerWasmTrainingKernels(); // the fallbacks must be lowbit's wasm kernels
  for (const [name, fn] of nativeKernels) {
    const previous = getKernel(name, 'wasm');
    if (previous == null) throw new Error(`lowbit: no wasm kernel ${name} to fall back on`);
    if (!wasmOriginals.has(name)) wasmOriginals.set(name, previous);
    const fallback = wasmOriginals.get(name)!.kernelFunc;
    unregisterKernel(name, 'wasm');
    registerKernel({
      kernelName: name, backendName: 'wasm',
      kernelFunc: ((args: Args) => {
        const out = fn(args);
        if (out != null) return out;
        nativeFallbackCounts.set(name, (nativeFallbackCounts.get(name) ?? 0) + 1);
        return fallback(args as never);
      }) as unknown as KernelFunc,
    });
  }
  // lowbit's own kernels (no wasm counterpart).
  for (const [name, fn] of [...ownKernels, ...dqNativeKernels()]) {
    if (getKernel(name, 'wasm') == null) registerKernel({ kernelName: name, backendName: 'wasm', kernelFunc: fn as unknown as KernelFunc });
  }
  installFusedBatchNormTraining();
  installFusedAdam();
  registerPreluGradient();
  registerReluGradient();
  registerMeanGradient();
  installSharedClones('wasm');
}

function uninstallNativeKernels(): void {
  uninstallSharedClones();
  uninstallFusedBatchNormTraining();
  uninstallFusedAdam();
  for (const [name] of [...ownKernels, ...dqNativeKernels()]) if (getKernel(name, 'wasm') != null) unregisterKernel(name, 'wasm');
  for (const [name, config] of wasmOriginals) {
    unregisterKernel(name, 'wasm');
    registerKernel(config);
  }
  wasmOriginals.clear();
  nativeFallbackCounts.clear();
}

registerBackendInstaller('native', { base: 'wasm', install: installNativeKernels, uninstall: uninstallNativeKernels,
  available: () => nativeAddon() != null, hint: NATIVE_HINT });
