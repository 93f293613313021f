/**
 * Training kernels that the TF.js 4.22 wasm backend lacks, built from its own fast kernels
 * (StridedSlice, PadV2, BatchMatMul, DepthwiseConv2dNative, OneHot, Transpose) — no per-element
 * JS loops. Registered once; after that any LayersModel with Conv2D, DepthwiseConv2D or gather
 * trains on wasm with no special model code.
 */
import type { KernelBackend, KernelConfig, KernelFunc, TensorInfo } from '@tensorflow/tfjs-core';
import { backend_util, getKernel, registerKernel, unregisterKernel } from '@tensorflow/tfjs-core';
import { KernelScope } from './kernel-scope.js';
import { registerRelaxedWasmKernels } from './relaxed-kernels.js';

type ConvInfo = backend_util.Conv2DInfo;
type PadAttr = 'valid' | 'same' | number | backend_util.ExplicitPadding;
type Pair = [number, number] | number;

interface KernelArgs<A> {
  inputs: Record<string, TensorInfo>;
  backend: KernelBackend;
  attrs: A;
}

const BACKEND = 'wasm';

/** Zero-pads x spatially so that every kernel offset can be read with a plain strided slice. */
function padSpatial(s: KernelScope, x: TensorInfo, info: ConvInfo): TensorInfo {
  const { top, bottom, left, right } = info.padInfo;
  if (top === 0 && bottom === 0 && left === 0 && right === 0) return x;
  return s.run('PadV2', { x }, { paddings: [[0, 0], [top, bottom], [left, right], [0, 0]], constantValue: 0 });
}

/**
 * Patches of x, one per kernel offset (i, j), stacked on a leading axis:
 * P[i·KW + j, b, oh, ow, c] = x_padded[b, oh·sh + i·dh, ow·sw + j·dw, c], shape [KH·KW, N, C].
 */
function offsetPatches(s: KernelScope, x: TensorInfo, info: ConvInfo): TensorInfo {
  const xp = padSpatial(s, x, info);
  const { batchSize: B, outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw } = info;
  const C = x.shape[3];
  const N = B * OH * OW;
  const slices: TensorInfo[] = [];
  for (let i = 0; i < info.filterHeight; i++) {
    for (let j = 0; j < info.filterWidth; j++) {
      const r0 = i * info.dilationHeight;
      const c0 = j * info.dilationWidth;
      const slice = s.run('StridedSlice', { x: xp }, {
        begin: [0, r0, c0, 0],
        end: [B, r0 + (OH - 1) * sh + 1, c0 + (OW - 1) * sw + 1, C],
        strides: [1, sh, sw, 1],
        beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0,
      });
      slices.push(s.reshape(slice, [1, N, C]));
    }
  }
  return slices.length === 1 ? slices[0] : s.run('Concat', slices, { axis: 0 });
}

function requireNHWC(dataFormat: string | undefined, kernel: string): void {
  if (dataFormat != null && dataFormat !== 'NHWC') {
    throw new Error(`lowbit: ${kernel} on wasm supports only NHWC data, got ${dataFormat}`);
  }
}

interface Conv2DBackpropFilterAttrs {
  strides: Pair; pad: PadAttr; dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number];
}

/**
 * dW[i, j, ci, co] = Σ_{b,oh,ow} x_pad[b, oh·sh + i, ow·sw + j, ci] · dy[b, oh, ow, co], computed as
 * one forward convolution (XNNPACK) over re-laid-out tensors: the input x_padᵀ [Ci, Hp, Wp, B] (batch
 * and channels swapped), the filter dyᵀ [OH, OW, B, Co], stride 1 and dilation = the forward stride;
 * its output [Ci, ≥KH, ≥KW, Co] is cropped to the filter size and transposed to HWIO.
 * (Several times faster than an im2col + matmul formulation on the wasm backend, measured during development.)
 */
function conv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs<Conv2DBackpropFilterAttrs>): TensorInfo {
  const { x, dy } = inputs;
  requireNHWC(attrs.dataFormat, 'Conv2DBackpropFilter');
  const [KH, KW, Ci, Co] = attrs.filterShape;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, 1, attrs.pad, attrs.dimRoundingMode);
  const s = new KernelScope(backend, BACKEND);
  const xt = s.transpose(padSpatial(s, x, info), [3, 1, 2, 0]);
  const dyt = s.transpose(dy, [1, 2, 0, 3]);
  let out = s.run('Conv2D', { x: xt, filter: dyt }, {
    strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [info.strideHeight, info.strideWidth], dimRoundingMode: undefined });
  if (out.shape[1] !== KH || out.shape[2] !== KW) {
    out = s.run('Slice', { x: out }, { begin: [0, 0, 0, 0], size: [Ci, KH, KW, Co] });
  }
  return s.finish(s.transpose(out, [1, 2, 0, 3]));
}

interface DepthwiseFilterAttrs {
  strides: Pair; dilations: Pair; pad: PadAttr;
  dimRoundingMode?: 'floor' | 'round' | 'ceil'; filterShape: [number, number, number, number];
}

/** dF[i, j, c, m] = Σ_{b,oh,ow} x_pad[b, oh·sh + i·dh, ow·sw + j·dw, c] · dy[b, oh, ow, c·M + m], batched over c. */
function depthwiseBackpropFilter({ inputs, backend, attrs }: KernelArgs<DepthwiseFilterAttrs>): TensorInfo {
  const { x, dy } = inputs;
  const [KH, KW, C, M] = attrs.filterShape;
  const info = backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number], attrs.filterShape, attrs.strides, attrs.dilations, attrs.pad,
    attrs.dimRoundingMode, true);
  const s = new KernelScope(backend, BACKEND);
  const N = info.batchSize * info.outHeight * info.outWidth;
  const patches = s.transpose(offsetPatches(s, x, info), [2, 1, 0]); // [C, N, KH·KW]
  const dyc = s.transpose(s.reshape(dy, [N, C, M]), [1, 0, 2]); // [C, N, M]
  const df = s.run('BatchMatMul', { a: patches, b: dyc }, { transposeA: true, transposeB: false }); // [C, KH·KW, M]
  return s.finish(s.reshape(s.transpose(df, [1, 0, 2]), [KH, KW, C, M]));
}

interface DepthwiseInputAttrs {
  strides: Pair; dilations: Pair; pad: PadAttr;
  dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: [number, number, number, number];
}

/**
 * dy laid out for a full correlation that yields the input gradient: zeros inserted between rows
 * and columns (stride − 1 of them), then padded (or cropped) so that a 'valid' correlation with the
 * spatially flipped filter at the forward dilation gives exactly H × W outputs.
 */
function dilateAndPadForInputGrad(s: KernelScope, dy: TensorInfo, info: ConvInfo, channels: number): TensorInfo {
  const { batchSize: B, outHeight: OH, outWidth: OW, strideHeight: sh, strideWidth: sw,
    dilationHeight: dh, dilationWidth: dw, inHeight: H, inWidth: W, filterHeight: KH, filterWidth: KW } = info;
  let g = dy;
  if (sh > 1 || sw > 1) {
    // [B,OH,1,OW,1,C] → pad the unit axes to the stride → [B, OH·sh, OW·sw, C].
    const g6 = s.reshape(dy, [B, OH, 1, OW, 1, channels]);
    const padded = s.run('PadV2', { x: g6 }, {
      paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0 });
    g = s.reshape(padded, [B, OH * sh, OW * sw, channels]);
  }
  const gh = (OH - 1) * sh + 1;
  const gw = (OW - 1) * sw + 1;
  const effH = (KH - 1) * dh + 1;
  const effW = (KW - 1) * dw + 1;
  const top = effH - 1 - info.padInfo.top;
  const left = effW - 1 - info.padInfo.left;
  const bottom = H + effH - 1 - gh - top;
  const right = W + effW - 1 - gw - left;
  const crop = [Math.max(0, -top), Math.max(0, -bottom), Math.max(0, -left), Math.max(0, -right)];
  if (crop.some((c) => c > 0) || g.shape[1] !== gh || g.shape[2] !== gw) {
    g = s.run('Slice', { x: g }, {
      begin: [0, crop[0], crop[2], 0], size: [B, gh - crop[0] - crop[1], gw - crop[2] - crop[3], channels] });
  }
  const pads = [Math.max(0, top), Math.max(0, bottom), Math.max(0, left), Math.max(0, right)];
  if (pads.some((p) => p > 0)) {
    g = s.run('PadV2', { x: g }, { paddings: [[0, 0], [pads[0], pads[1]], [pads[2], pads[3]], [0, 0]], constantValue: 0 });
  }
  return g;
}

interface Conv2DBackpropInputAttrs {
  strides: Pair; pad: PadAttr; dataFormat: 'NHWC' | 'NCHW'; dilations: Pair;
  dimRoundingMode?: 'floor' | 'round' | 'ceil'; inputShape: [number, number, number, number];
}

/**
 * dx = 'valid' correlation of the stride-dilated, re-padded dy with the filter flipped in space and
 * with its in/out channels swapped — one XNNPACK convolution. Replaces wasm's own kernel, which
 * profiling showed to be the slowest kernel of a training step.
 */
function conv2DBackpropInput({ inputs, backend, attrs }: KernelArgs<Conv2DBackpropInputAttrs>): TensorInfo {
  const { dy, filter } = inputs;
  requireNHWC(attrs.dataFormat, 'Conv2DBackpropInput');
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, attrs.dilations ?? 1, attrs.pad,
    attrs.dimRoundingMode);
  const s = new KernelScope(backend, BACKEND);
  const g = dilateAndPadForInputGrad(s, dy, info, info.outChannels);
  const f = s.transpose(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [0, 1, 3, 2]); // [KH, KW, Co, Ci]
  return s.finish(s.run('Conv2D', { x: g, filter: f }, {
    strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [info.dilationHeight, info.dilationWidth], dimRoundingMode: undefined }));
}

/**
 * dx = depthwise correlation of the stride-dilated, re-padded dy with the spatially flipped
 * filter (one channel per input-channel·multiplier), then a sum over the multiplier.
 */
function depthwiseBackpropInput({ inputs, backend, attrs }: KernelArgs<DepthwiseInputAttrs>): TensorInfo {
  const { dy, filter } = inputs;
  const [KH, KW, C, M] = filter.shape;
  const info = backend_util.computeConv2DInfo(
    attrs.inputShape, filter.shape as [number, number, number, number], attrs.strides, attrs.dilations, attrs.pad,
    attrs.dimRoundingMode, true);
  const s = new KernelScope(backend, BACKEND);
  const g = dilateAndPadForInputGrad(s, dy, info, C * M);
  const f = s.reshape(s.run('Reverse', { x: filter }, { dims: [0, 1] }), [KH, KW, C * M, 1]);
  const dxcm = s.run('DepthwiseConv2dNative', { x: g, filter: f }, {
    strides: [1, 1], pad: 'valid', dilations: [info.dilationHeight, info.dilationWidth], dimRoundingMode: undefined });
  if (M === 1) return s.finish(dxcm);
  const dx5 = s.reshape(dxcm, [info.batchSize, info.inHeight, info.inWidth, C, M]);
  return s.finish(s.run('Sum', { x: dx5 }, { axis: [4], keepDims: false }));
}

/** out[s, …] = Σ_{i : ids[i] = s} x[i, …], as onehot(ids)ᵀ · x. */
function unsortedSegmentSum({ inputs, backend, attrs }: KernelArgs<{ numSegments: number }>): TensorInfo {
  const { x, segmentIds } = inputs;
  const s = new KernelScope(backend, BACKEND);
  const n = segmentIds.shape.reduce((a, b) => a * b, 1);
  const rest = x.shape.slice(segmentIds.shape.length);
  const inner = rest.reduce((a, b) => a * b, 1);
  const ids = segmentIds.dtype === 'int32' ? segmentIds : s.run('Cast', { x: segmentIds }, { dtype: 'int32' });
  const flatIds = s.reshape(ids, [n]);
  // Ids outside [0, numSegments) give an all-zero one-hot row: dropped, as in TensorFlow.
  // wasm's OneHot writes int32 data whatever its dtype attribute says: ask for int32, then cast.
  const oneHotInt = s.run('OneHot', { indices: flatIds }, {
    depth: attrs.numSegments, onValue: 1, offValue: 0, dtype: 'int32' });
  const oneHot = s.run('Cast', { x: oneHotInt }, { dtype: 'float32' });
  const xf = x.dtype === 'float32' ? x : s.run('Cast', { x }, { dtype: 'float32' });
  const x3 = s.reshape(xf, [1, n, inner]);
  const oh3 = s.reshape(oneHot, [1, n, attrs.numSegments]);
  const out = s.run('BatchMatMul', { a: oh3, b: x3 }, { transposeA: true, transposeB: false });
  let result = s.reshape(out, [attrs.numSegments, ...rest]);
  if (x.dtype === 'int32') result = s.run('Cast', { x: result }, { dtype: 'int32' });
  return s.finish(result);
}

const kernels: Array<[string, (args: KernelArgs<never>) => TensorInfo]> = [
  ['Conv2DBackpropInput', conv2DBackpropInput as (args: KernelArgs<never>) => TensorInfo],
  ['Conv2DBackpropFilter', conv2DBackpropFilter as (args: KernelArgs<never>) => TensorInfo],
  ['DepthwiseConv2dNativeBackpropFilter', depthwiseBackpropFilter as (args: KernelArgs<never>) => TensorInfo],
  ['DepthwiseConv2dNativeBackpropInput', depthwiseBackpropInput as (args: KernelArgs<never>) => TensorInfo],
  ['UnsortedSegmentSum', unsortedSegmentSum as (args: KernelArgs<never>) => TensorInfo],
];

/** The kernels lowbit adds to the wasm backend (Conv2DBackpropInput replaces wasm's slower one). */
export const wasmTrainingKernelNames: readonly string[] = kernels.map(([name]) => name);

const registered = new Set<string>();

/** Registers lowbit's training kernels on the wasm backend; idempotent. */
export function registerWasmTrainingKernels(): void {
  for (const [kernelName, fn] of kernels) {
    if (registered.has(kernelName)) continue;
    if (getKernel(kernelName, BACKEND) != null) unregisterKernel(kernelName, BACKEND);
    const config: KernelConfig = { kernelName, backendName: BACKEND, kernelFunc: fn as unknown as KernelFunc };
    registerKernel(config);
    registered.add(kernelName);
  }
  registerRelaxedWasmKernels(); // the fused relaxed quantizers (JS loops over the heap)
}
