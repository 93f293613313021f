/**
 * TF.js LayersModel (float or lowbit-quantized) → ONNX. The graph takes NHWC input like the
 * TF.js model, transposes once to NCHW, and returns the same logits. Targets:
 * - 'float': quantized weights baked in as float32; activation quantizers as standard ops;
 * - 'qdq': integer weights as int8 initializers + DequantizeLinear, activations on an integer
 *   grid as QuantizeLinear/DequantizeLinear (opset 13);
 * - 'qdq4': as 'qdq' at opset 21, with kernels whose codes fit 4 bits stored as INT4;
 * - 'qonnx': QONNX `Quant` / `BipolarQuant` nodes at any bit-width.
 * Quantized tensors are exported from their quantizer's grid read-out (QuantGrid: scale, zero
 * point, per-channel scales, codebook), never by quantizer kind. `exportCapabilities` says
 * beforehand what a target cannot represent and what happens instead.
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { BatchNormFold, batchNormFolds, foldWeights } from '../layers/batchnorm-fold.js';
import { isQuantLayer, QuantActivation, QuantLayer } from '../layers/quant-layers.js';
import { codeRange, CodebookGrid, isBipolar, QuantGrid, UniformGrid } from '../quantizers/kind.js';
import type { QuantizerSpec } from '../quantizers/spec.js';
import { DT, OnnxGraph, OnnxModel, QONNX_DOMAIN } from './onnx-builder.js';
import { gridCodes, int8Codes, IntCodes } from './quant-codes.js';

export type OnnxTarget = 'float' | 'qdq' | 'qdq4' | 'qonnx';
export const onnxTargets: readonly OnnxTarget[] = ['float', 'qdq', 'qdq4', 'qonnx'];
const isQdq = (t: OnnxTarget) => t === 'qdq' || t === 'qdq4';

const SUPPORTED = new Set(['InputLayer', 'Conv1D', 'QuantConv1D', 'MaxPooling1D', 'AveragePooling1D', 'GlobalAveragePooling1D', 'Reshape', 'ZeroPadding2D', 'UpSampling2D', 'Conv2DTranspose', 'QuantConv2DTranspose', 'DepthwiseQuantizer', 'Conv2D', 'QuantConv2D', 'DepthwiseConv2D', 'QuantDepthwiseConv2D', 'Dense', 'QuantDense',
  'BatchNormalization', 'ReLU', 'Activation', 'PReLU', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'Flatten',
  'Add', 'Concatenate', 'QuantActivation', 'RPReLU']);

/** Channels first: 'nchw' (images), 'ncl' (sequences [N, C, L], Conv1D), or 'flat' [N, features]. */
type Layout = 'nchw' | 'ncl' | 'flat';
/** The Transpose from TF's channels-last layout to `layout` (null: none), and back. */
const toChannelsFirst: Record<Layout, number[] | null> = { nchw: [0, 3, 1, 2], ncl: [0, 2, 1], flat: null };
const toChannelsLast: Record<Layout, number[] | null> = { nchw: [0, 2, 3, 1], ncl: [0, 2, 1], flat: null };
/** The layout of a TF tensor of this rank. */
const layoutOfRank = (rank: number): Layout => (rank === 4 ? 'nchw' : rank === 3 ? 'ncl' : 'flat');
export interface Value { name: string; layout: Layout }
type Cfg = Record<string, unknown>;

/** A layer's quantizers with their grid read-outs (kernel grids from the current weights). */
interface LayerQuant {
  kernel: { spec: QuantizerSpec; grid: QuantGrid | null } | null;
  input: { spec: QuantizerSpec; grid: QuantGrid | null } | null;
}

function layerQuant(layer: tf.layers.Layer): LayerQuant {
  if (layer instanceof QuantActivation) {
    const spec = layer.quantizerSpec;
    return { kernel: null, input: spec ? { spec, grid: layer.grid() } : null };
  }
  if (!isQuantLayer(layer)) return { kernel: null, input: null };
  const k = layer.kernelQuantizerSpec;
  const i = layer.inputQuantizerSpec;
  return { kernel: k ? { spec: k, grid: layer.kernelGrid() } : null, input: i ? { spec: i, grid: layer.inputGrid() } : null };
}

/** How a target stores a kernel: float values, int8/int4 codes with DequantizeLinear, a QONNX node, or codes gathered from a codebook. */
type KernelForm = 'float' | 'int8' | 'int4' | 'bipolar' | 'quant' | 'gather';

interface KernelPlan {
  form: KernelForm;
  /** The codes in the kernel's TF layout (absent for float storage of a kernel without a grid). */
  codes?: IntCodes;
  i8?: ReturnType<typeof int8Codes>;
}

/** The storage of a quantized kernel (values in TF layout) with grid `grid` in `target`. */
function kernelPlan(grid: QuantGrid | null, values: Float32Array, columns: number, target: OnnxTarget): KernelPlan {
  if (grid == null || target === 'float' || grid.type === 'multibit') return { form: 'float' };
  const codes = gridCodes(grid, values, columns);
  if (grid.type === 'codebook') return { form: 'gather', codes };
  if (target === 'qonnx') return { form: isBipolar(grid) ? 'bipolar' : 'quant', codes };
  if (target === 'qdq4' && grid.type === 'uniform' && grid.channelBits && grid.channelBits.some((b) => b > 4)) {
    throw new LowbitError(`qdq4 stores kernels as INT4, and this kernel has per-channel bit-widths up to ${Math.max(...grid.channelBits)} bits: export it as qdq (int8 codes), qonnx or packed`);
  }
  const i8 = int8Codes(codes);
  if (i8 == null) return { form: 'float', codes };
  return { form: target === 'qdq4' && i8.q.every((v) => v >= -8 && v <= 7) ? 'int4' : 'int8', codes, i8 };
}

/** A quantized layer's effective kernel values, read inside a tidy (the quantizer's intermediates are freed). */
function quantizedKernelValues(layer: tf.layers.Layer): Float32Array {
  return tf.tidy(() => (layer as QuantLayer).quantizedKernel().dataSync() as Float32Array);
}

/** What `target` cannot represent in `model`, and what the exporter does instead (one line each). */
export function exportCapabilities(model: tf.LayersModel, target: OnnxTarget): string[] {
  const notes: string[] = [];
  for (const layer of model.layers) {
    const { kernel, input } = layerQuant(layer);
    if (kernel && target !== 'float') {
      const { spec, grid } = kernel;
      const what = grid ? `${grid.bits}-bit ${spec.kind}` : spec.kind;
      if (grid == null) {
        notes.push(`${layer.name}: ${spec.kind} weights are exported as float32 values on their grid (no fixed grid to store codes on)`);
      } else if (grid.type === 'multibit') {
        notes.push(`${layer.name}: multi-bit binary weights are exported as float32 values (the sum of their α-scaled bit planes); the packed format stores the planes`);
      } else {
        const values = quantizedKernelValues(layer);
        const plan = kernelPlan(grid, values, (layer as QuantLayer).kernelColumns(), target);
        const perChannel = grid.axis != null;
        if (plan.form === 'gather') {
          const book = grid as CodebookGrid;
          notes.push((book.dim ?? 1) > 1
            ? `${layer.name}: product-quantized weights (${book.size} codewords of ${book.dim} values) stored as one code per sub-vector (${book.bits} bits in the packed format, int64 in ONNX) with a Gather from the codebook, then Reshape/Transpose into the kernel`
            : `${layer.name}: ${what} weights (a ${book.size}-value codebook${perChannel ? ' per output channel' : ''}) stored as codes with a Gather from the codebook`);
        } else if (plan.form === 'int4') {
          notes.push(`${layer.name}: ${what} weights stored as int4 codes with DequantizeLinear (opset 21)${perChannel ? ', one scale per output channel (per axis)' : ''}`);
        } else if (plan.form === 'int8' && isBipolar(grid)) {
          notes.push(perChannel
            ? `${layer.name}: 1-bit weights with per-channel scales stored as int8 ±1 with a per-axis DequantizeLinear (use qonnx or packed for 1 bit)`
            : `${layer.name}: binary weights have no 1-bit type in QDQ; stored as int8 ±1 with DequantizeLinear (use qonnx or packed for 1 bit)`);
        } else if (plan.form === 'int8') {
          notes.push(`${layer.name}: ${what} weights stored as int8 codes${grid.learned ? ' with their learned step' : ''}${perChannel ? ', one scale per output channel (per axis)' : ''} (QDQ's smallest type at opset 13)`);
        } else if (plan.form === 'float') {
          notes.push(`${layer.name}: ${what} weights do not fit int8 codes with zero point 0; stored as float32`);
        }
        if (grid.type === 'uniform' && grid.channelBits) {
          const cb = Array.from(grid.channelBits);
          const range = `${Math.min(...cb)}–${Math.max(...cb)} bits per output channel (mean ${(cb.reduce((a, b) => a + b, 0) / cb.length).toFixed(2)})`;
          notes.push(target === 'qonnx'
            ? `${layer.name}: ${range}: one Quant node at the widest bit-width with per-channel scales (exact values; only the packed format stores each channel at its own width)`
            : `${layer.name}: ${range}: every channel's codes are stored in the ${plan.form} type${plan.form === 'int8' ? ' (only the packed format stores each channel at its own width)' : ''}`);
        }
      }
    }
    if (input && target !== 'float') {
      const { spec, grid } = input;
      if (grid == null || grid.type !== 'uniform') continue; // the exporter fails on it, naming the layer
      if (isBipolar(grid)) {
        if (grid.offset) notes.push(`${layer.name}: ${spec.kind} is exported as Add(its learned threshold) then ${target === 'qonnx' ? 'BipolarQuant' : 'a sign (GreaterOrEqual/Where)'}`);
        else if (isQdq(target)) notes.push(`${layer.name}: the ${spec.kind} activation quantizer is exported as a sign (GreaterOrEqual/Where), not as Q/DQ nodes`);
      } else if (isQdq(target) && !activationFitsQdq(grid)) {
        notes.push(`${layer.name}: the ${grid.bits}-bit ${spec.kind} activation quantizer is exported as standard float ops (Clip/Round/Mul), not as Q/DQ nodes`);
      }
    }
  }
  return notes;
}

/** Whether an activation grid is QuantizeLinear/DequantizeLinear's: ≤ 8 bits, one scale, an integer zero point in range. */
function activationFitsQdq(g: UniformGrid): boolean {
  return g.bits <= 8 && typeof g.scale === 'number' && Number.isInteger(g.zeroPoint) && (g.signed ? g.zeroPoint >= -128 && g.zeroPoint <= 127 : g.zeroPoint >= 0 && g.zeroPoint <= 255);
}

/** Transposes a row-major tensor (small helper for weight layouts). */
function transpose(data: ArrayLike<number>, shape: number[], perm: number[]): { data: Float32Array; shape: number[] } {
  const outShape = perm.map((p) => shape[p]);
  const inStrides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const out = new Float32Array(data.length);
  const idx = new Array(shape.length).fill(0);
  for (let o = 0; o < out.length; o++) {
    let src = 0;
    for (let d = 0; d < perm.length; d++) src += idx[d] * inStrides[perm[d]];
    out[o] = data[src];
    for (let d = perm.length - 1; d >= 0; d--) {
      if (++idx[d] < outShape[d]) break;
      idx[d] = 0;
    }
  }
  return { data: out, shape: outShape };
}

function samePads(inSize: number, k: number, s: number, d: number): [number, number] {
  const eff = (k - 1) * d + 1;
  const out = Math.ceil(inSize / s);
  const total = Math.max((out - 1) * s + eff - inSize, 0);
  return [Math.floor(total / 2), total - Math.floor(total / 2)];
}

export class Exporter {
  readonly g = new OnnxGraph();
  /** Code tensors ([N, H, W, M] int64) of each depthwise quantizer, by layer name. */
  readonly codes = new Map<string, string>();

  constructor(private readonly target: OnnxTarget) {}

  scalar(base: string, v: number): string {
    return this.g.constant(base, [v], []);
  }

  /**
   * A kernel with its quantizer, as the target represents it: `values` in TF layout go to ONNX
   * layout by `perm` (then `finalShape`); `channelAxis` is the output-channel axis in ONNX layout.
   * The quantizer's grid read-out decides everything: int8/int4 codes with a (per-axis)
   * DequantizeLinear, BipolarQuant or Quant, or codes gathered from a codebook.
   */
  kernel(layer: tf.layers.Layer, values: Float32Array, shape: number[], perm: number[], finalShape: number[] | null, channelAxis: number): string {
    const t = transpose(values, shape, perm);
    const dims = finalShape ?? t.shape;
    const g = this.g;
    const grid = layerQuant(layer).kernel?.grid ?? null;
    const columns = isQuantLayer(layer) ? layer.kernelColumns() : 1;
    const plan = kernelPlan(grid, values, columns, this.target);
    const codes = plan.codes;
    if (plan.form === 'float' || codes == null || grid == null) return g.constant(`${layer.name}_w`, t.data, dims);
    const toOnnx = (data: ArrayLike<number>) => transpose(data, shape, perm).data;
    const channels = dims[channelAxis];
    const scaleShape = dims.map((d, i) => (i === channelAxis ? d : 1));
    if (plan.form === 'gather' && (codes.dim ?? 1) > 1) {
      // Product quantization: Gather(codebook [K, d], codes [N]) → [N, d] → Reshape to the cut
      // layout (the TF kernel transposed by `order`) → Transpose into the ONNX layout (TF by `perm`).
      const d = codes.dim!;
      const order = codes.order!;
      const book = g.constant(`${layer.name}_w_codebook`, codes.codebook!, [codes.codebookSize!, d]);
      const rows = g.op('Gather', [book, g.constant(`${layer.name}_w_codes`, Array.from(codes.codes), [codes.codes.length], DT.INT64)], { axis: 0 });
      const cut = g.op('Reshape', [rows, g.constant(`${layer.name}_w_cut_shape`, order.map((a) => shape[a]), [order.length], DT.INT64)]);
      const onnx = g.op('Transpose', [cut], { perm: perm.map((a) => order.indexOf(a)) });
      return finalShape ? g.op('Reshape', [onnx, g.constant(`${layer.name}_w_shape`, finalShape, [finalShape.length], DT.INT64)]) : onnx;
    }
    if (plan.form === 'gather') {
      // Index of each weight's value in the flat codebook: channel·K + code (per channel) or code.
      const k = codes.codebookSize!;
      const index = toOnnx(Int32Array.from(codes.codes, (c, i) => (grid.axis != null ? (i % columns) * k + c : c)));
      const book = g.constant(`${layer.name}_w_codebook`, codes.codebook!, [codes.codebook!.length]);
      return g.op('Gather', [book, g.constant(`${layer.name}_w_codes`, Array.from(index), dims, DT.INT64)], { axis: 0 });
    }
    if (plan.form === 'int8' || plan.form === 'int4') {
      const { q: qTf, scale, channelScales } = plan.i8!;
      const q = Int8Array.from(toOnnx(qTf));
      const zpDims = channelScales ? [channels] : [];
      const zeros = new Int8Array(channelScales ? channels : 1);
      const [qName, zp] = plan.form === 'int4'
        ? [g.constantInt4(`${layer.name}_w_int4`, q, dims), g.constantInt4(`${layer.name}_w_zp`, zeros, zpDims)]
        : [g.constant(`${layer.name}_w_int8`, q, dims, DT.INT8), g.constant(`${layer.name}_w_zp`, zeros, zpDims, DT.INT8)];
      const s = channelScales ? g.constant(`${layer.name}_w_scale`, channelScales, [channels]) : this.scalar(`${layer.name}_w_scale`, scale);
      return g.op('DequantizeLinear', [qName, s, zp], channelScales ? { axis: channelAxis } : {});
    }
    // QONNX: the float values on their grid through BipolarQuant (±scale/2) or Quant.
    const w = g.constant(`${layer.name}_w`, t.data, dims);
    const cs = codes.channelScales;
    const scaleOf = (f: number) => (cs ? g.constant(`${layer.name}_w_scale`, cs.map((v) => v * f), scaleShape) : this.scalar(`${layer.name}_w_scale`, codes.scale * f));
    if (plan.form === 'bipolar') return g.op('BipolarQuant', [w, scaleOf(0.5)], {}, { domain: QONNX_DOMAIN });
    return this.quantNode(w, scaleOf(1), codes.zeroPoint, codes.bits, codes.signed, codes.narrow, `${layer.name}_w`);
  }

  /**
   * Depthwise VQ (DQ, dq.md): z (NCHW, C = M·D) → per position and group m the nearest of the K
   * codewords of codebook m by ‖z‖² − 2 z·e + ‖e‖² (as TF.js computes it) → codes [N, H, W, M]
   * (int64) and the quantized features (NCHW).
   */
  depthwiseQuantizer(x: string, base: string, codebook: tf.Tensor3D): { codes: string; quantized: string } {
    const g = this.g;
    const [m, k, d] = codebook.shape;
    const book = codebook.dataSync() as Float32Array;
    const z = g.op('Reshape', [g.op('Transpose', [x], { perm: [0, 2, 3, 1] }), g.constant(`${base}_zshape`, [0, 0, 0, m, 1, d], [6], DT.INT64)]);
    const bookT = transpose(book, [m, k, d], [0, 2, 1]); // [M, D, K]
    const dots = g.op('MatMul', [z, g.constant(`${base}_codebook_t`, bookT.data, [m, d, k])]); // [N, H, W, M, 1, K]
    const zz = g.op('ReduceSum', [g.op('Mul', [z, z]), g.constant(`${base}_axis`, [-1], [1], DT.INT64)], { keepdims: 1 }); // [N, H, W, M, 1, 1]
    const ee = new Float32Array(m * k);
    for (let i = 0; i < m * k; i++) for (let j = 0; j < d; j++) ee[i] += book[i * d + j] ** 2;
    const dist = g.op('Add', [g.op('Sub', [zz, g.op('Mul', [dots, this.scalar('two', 2)])]), g.constant(`${base}_book_sq`, ee, [m, 1, k])]);
    const codes = g.op('ArgMin', [g.op('Reshape', [dist, g.constant(`${base}_dshape`, [0, 0, 0, m, k], [5], DT.INT64)])], { axis: -1, keepdims: 0 }, { name: `${base}_argmin` });
    return { codes, quantized: this.codeLookup(codes, base, codebook) };
  }

  /** Codes [N, H, W, M] (int64) → the codewords as NCHW features: row m·K + code of the [M·K, D] codebook. */
  codeLookup(codes: string, base: string, codebook: tf.Tensor3D): string {
    const g = this.g;
    const [m, k, d] = codebook.shape;
    const book = codebook.dataSync() as Float32Array;
    const offsets = g.constant(`${base}_offsets`, Array.from({ length: m }, (_, i) => i * k), [m], DT.INT64);
    const rows = g.op('Gather', [g.constant(`${base}_codebook`, book, [m * k, d]), g.op('Add', [codes, offsets])], { axis: 0 }); // [N, H, W, M, D]
    return g.op('Transpose', [g.op('Reshape', [rows, g.constant(`${base}_qshape`, [0, 0, 0, m * d], [4], DT.INT64)])], { perm: [0, 3, 1, 2] });
  }


  /** A QONNX Quant node over x with a scale tensor (or scalar) name. */
  quantNode(x: string, scale: string, zp: number, bits: number, signed: boolean, narrow: boolean, base: string): string {
    return this.g.op('Quant', [x, scale, this.scalar(`${base}_zeropt`, zp), this.scalar(`${base}_bitwidth`, bits)],
      { signed: signed ? 1 : 0, narrow: narrow ? 1 : 0, rounding_mode: 'ROUND' }, { domain: QONNX_DOMAIN });
  }

  /**
   * The layer's activation quantizer (its input quantizer, or a QuantActivation's) applied to x,
   * from the read-out of its grid: an optional per-channel offset, then a sign (bipolar grids) or
   * round-and-clip on the integer grid — Q/DQ, QONNX Quant/BipolarQuant, or float ops.
   */
  activation(x: string, layer: tf.layers.Layer, rank = 4): string {
    const input = layerQuant(layer).input;
    if (input == null) return x;
    const { spec, grid } = input;
    if (grid == null) throw new LowbitError(`${layer.name}: the ${spec.kind} activation quantizer has no fixed grid (it depends on each input) and cannot be exported`);
    if (grid.type !== 'uniform') throw new LowbitError(`${layer.name}: the ${spec.kind} activation quantizer (a ${grid.type} grid) cannot be exported yet`);
    const g = this.g;
    const channelShape = (c: number) => (rank === 4 ? [1, c, 1, 1] : rank === 3 ? [1, c, 1] : [c]);
    const perChannel = (base: string, v: Float32Array) => g.constant(`${layer.name}_${base}`, v, channelShape(v.length));
    let v = x;
    if (grid.offset) v = g.op('Add', [v, perChannel('a_threshold', grid.offset)]);
    const scaleTimes = (base: string, f: number) => (typeof grid.scale === 'number' ? this.scalar(`${layer.name}_${base}`, grid.scale * f) : perChannel(base, grid.scale.map((s) => s * f)));
    if (isBipolar(grid)) {
      const half = scaleTimes('a_scale', 0.5);
      if (this.target === 'qonnx') return g.op('BipolarQuant', [v, half], {}, { domain: QONNX_DOMAIN });
      return g.op('Where', [g.op('GreaterOrEqual', [v, this.scalar('zero', 0)]), half, g.op('Neg', [half])]);
    }
    const [lo, hi] = codeRange(grid);
    const zp = grid.zeroPoint;
    if (isQdq(this.target) && activationFitsQdq(grid)) {
      const s = grid.scale as number;
      const zpT = grid.signed ? g.constant(`${layer.name}_a_zp`, new Int8Array([zp]), [], DT.INT8) : g.constant(`${layer.name}_a_zp`, new Uint8Array([zp]), [], DT.UINT8);
      const sT = this.scalar(`${layer.name}_a_scale`, s);
      const clipped = g.op('Clip', [v, this.scalar('lo', (lo - zp) * s), this.scalar('hi', (hi - zp) * s)]);
      return g.op('DequantizeLinear', [g.op('QuantizeLinear', [clipped, sT, zpT]), sT, zpT]);
    }
    if (this.target === 'qonnx') return this.quantNode(v, scaleTimes('a_scale', 1), zp, grid.bits, grid.signed, grid.narrow, `${layer.name}_a`);
    // Float ops: (clip(round(x/s + z), lo, hi) − z)·s; a step 1/n is applied as ·n and /n (as TF.js does).
    const s = grid.scale;
    const n = typeof s === 'number' ? Math.round(1 / s) : 0;
    const inverse = typeof s === 'number' && n > 0 && Math.abs(1 / s - n) < 1e-9 * n;
    const sT = scaleTimes('a_step', 1);
    let u = inverse ? g.op('Mul', [v, this.scalar('n', n)]) : g.op('Div', [v, sT]);
    if (zp !== 0) u = g.op('Add', [u, this.scalar(`${layer.name}_a_zp`, zp)]);
    let q = g.op('Clip', [g.op('Round', [u]), this.scalar('lo', lo), this.scalar('hi', hi)]);
    if (zp !== 0) q = g.op('Sub', [q, this.scalar(`${layer.name}_a_zp`, zp)]);
    return inverse && zp === 0 ? g.op('Div', [q, this.scalar('n', n)]) : g.op('Mul', [q, sT]);
  }
}

export interface OnnxExport {
  model: OnnxModel;
  notes: string[];
}

/**
 * The functional graph of a model: a tf.Sequential keeps its layers' nodes in an inner
 * LayersModel (its own nodesByDepth holds only the node that calls it), so it is exported as that.
 */
export function functionalGraph(model: tf.LayersModel): tf.LayersModel {
  if (!(model instanceof tf.Sequential)) return model;
  // A Sequential model loaded from JSON builds its inner model lazily (on first predict); a
  // functional model over the same symbolic tensors shares its layers and nodes.
  const inner = (model as unknown as { model?: tf.LayersModel }).model;
  if (inner) return inner;
  let view = functionalViews.get(model);
  if (!view) functionalViews.set(model, view = tf.model({ inputs: model.inputs, outputs: model.outputs, name: `${model.name}_graph` }));
  return view;
}
const functionalViews = new WeakMap<tf.LayersModel, tf.LayersModel>();

export function exportOnnx(sourceModel: tf.LayersModel, target: OnnxTarget): OnnxExport {
  const model = functionalGraph(sourceModel);
  const unsupported = model.layers.filter((l) => !SUPPORTED.has(l.getClassName()));
  if (unsupported.length > 0) {
    throw new LowbitError(`cannot export ${unsupported.map((l) => `${l.name} (${l.getClassName()})`).join(', ')} to ONNX: ` +
      `supported layers are ${[...SUPPORTED].join(', ')}`);
  }
  const notes = exportCapabilities(model, target);
  const ex = new Exporter(target);
  const g = ex.g;
  const values = new Map<string, Value>();
  const inShape = model.inputs[0].shape as Array<number | null>;
  const inputName = g.name('input');
  const inLayout = layoutOfRank(inShape.length);
  values.set(model.inputs[0].name, { name: inLayout === 'flat' ? inputName : g.op('Transpose', [inputName], { perm: toChannelsFirst[inLayout]! }), layout: inLayout });
  translate(model, ex, values);
  const final = values.get((model.outputs[0] as tf.SymbolicTensor).name)!;
  const outShape = (model.outputs[0].shape as Array<number | null>).map((d) => d ?? 'N');
  const back = toChannelsLast[final.layout];
  const output = g.op('Identity', [back ? g.op('Transpose', [final.name], { perm: back }) : final.name], {}, { name: 'logits' });
  return {
    model: g.build({ name: inputName, shape: inShape.map((d) => d ?? 'N') }, { name: output, shape: outShape }, target === 'qdq4' ? 21 : 13),
    notes,
  };
}

interface GraphNode { outboundLayer: tf.layers.Layer; inputTensors: tf.SymbolicTensor[]; outputTensors: tf.SymbolicTensor[] }

/** The model's own nodes, inputs first (a layer shared with another model appears at its node in this one). */
function nodesInOrder(model: tf.LayersModel): GraphNode[] {
  const byDepth = (functionalGraph(model) as unknown as { nodesByDepth: Record<string, GraphNode[]> }).nodesByDepth;
  return Object.keys(byDepth).map(Number).sort((a, b) => b - a).flatMap((d) => byDepth[String(d)]);
}

/**
 * Adds every layer of `model` to the exporter's graph; `values` maps the model's symbolic tensors
 * to ONNX values and must hold its inputs. Depthwise quantizers record their code tensors in `ex.codes`.
 */
export function translate(model: tf.LayersModel, ex: Exporter, values: Map<string, Value>): void {
  const g = ex.g;
  // A BatchNorm after a float Conv2D / DepthwiseConv2D / Dense is folded into it (src/layers/batchnorm-fold.ts).
  const folds = new Map<string, BatchNormFold>(batchNormFolds(functionalGraph(model)).map((f) => [f.layer, f]));
  const foldedBatchNorms = new Set([...folds.values()].map((f) => f.batchNorm));
  /** The layer's float kernel and bias (null: none), with its BatchNorm folded in when it has one. */
  const kernelAndBias = (layer: tf.layers.Layer, kernel: Float32Array, bias: Float32Array | null) => {
    const fold = folds.get(layer.name);
    return fold ? foldWeights(kernel, bias, fold.params) : { kernel, bias };
  };
  const toFlat = (v: Value): Value => (v.layout === 'flat' ? v : { name: g.op('Flatten', [g.op('Transpose', [v.name], { perm: toChannelsLast[v.layout]! })], { axis: 1 }), layout: 'flat' });
  /** A per-channel constant's shape for broadcasting over a value of this layout. */
  const channelDims = (layout: Layout, c: number) => (layout === 'nchw' ? [c, 1, 1] : layout === 'ncl' ? [c, 1] : [c]);
  const rankOf = (layout: Layout) => (layout === 'nchw' ? 4 : layout === 'ncl' ? 3 : 2);
  for (const node of nodesInOrder(model)) {
    const layer = node.outboundLayer;
    const cls = layer.getClassName();
    if (cls === 'InputLayer' || values.has(node.outputTensors[0].name)) continue;
    const cfg = layer.getConfig() as Cfg;
    const ins = node.inputTensors.map((t) => values.get(t.name)!);
    const x0 = ins[0];
    const outName = node.outputTensors[0].name;
    const weights = layer.getWeights().map((w) => w.dataSync() as Float32Array);
    const shapes = layer.weights.map((w) => w.shape as number[]);
    const activate = (v: string) => {
      const a = (cfg.activation as string | undefined) ?? 'linear';
      if (a === 'linear') return v;
      if (a === 'relu') return g.op('Relu', [v]);
      if (a === 'sigmoid') return g.op('Sigmoid', [v]);
      if (a === 'tanh') return g.op('Tanh', [v]);
      if (a === 'softmax') return g.op('Softmax', [v], { axis: x0.layout === 'flat' ? 1 : 1 });
      throw new LowbitError(`${layer.name}: activation '${a}' cannot be exported yet`);
    };
    let out: Value;
    switch (cls) {
      case 'Conv2D': case 'QuantConv2D': case 'DepthwiseConv2D': case 'QuantDepthwiseConv2D': {
        const depthwise = cls.includes('Depthwise');
        const x = ex.activation(x0.name, layer);
        const [kh, kw, cin, cout] = shapes[0];
        const { kernel: kernelValues, bias } = kernelAndBias(layer, isQuantLayer(layer) ? quantizedKernelValues(layer) : weights[0],
          weights.length > 1 && cfg.useBias !== false ? weights[1] : null);
        const w = depthwise
          ? ex.kernel(layer, kernelValues, shapes[0], [2, 3, 0, 1], [cin * cout, 1, kh, kw], 0)
          : ex.kernel(layer, kernelValues, shapes[0], [3, 2, 0, 1], null, 0);
        const strides = cfg.strides as number[];
        const dil = (cfg.dilationRate as number[] | number | undefined) ?? 1;
        const dils = Array.isArray(dil) ? dil : [dil, dil];
        const [, h, wIn] = node.inputTensors[0].shape as number[];
        const pads = cfg.padding === 'same'
          ? (() => { const [t, b] = samePads(h, kh, strides[0], dils[0]); const [l, r] = samePads(wIn, kw, strides[1], dils[1]); return [t, l, b, r]; })()
          : [0, 0, 0, 0];
        const inputs = [x, w];
        if (bias) inputs.push(g.constant(`${layer.name}_b`, bias, [bias.length]));
        const conv = g.op('Conv', inputs, { kernel_shape: [kh, kw], strides, dilations: dils, pads, group: depthwise ? cin : 1 }, { name: layer.name });
        out = { name: activate(conv), layout: 'nchw' };
        break;
      }
      case 'Conv1D': case 'QuantConv1D': {
        // Keras kernel [k, C, filters] → ONNX [filters, C, k]; input [N, C, L].
        if (cfg.padding === 'causal') throw new LowbitError(`${layer.name}: Conv1D with 'causal' padding cannot be exported (TF.js cannot run it either)`);
        const x = ex.activation(x0.name, layer, 3);
        const [k] = shapes[0];
        const kernelValues = isQuantLayer(layer) ? quantizedKernelValues(layer) : weights[0];
        const bias = weights.length > 1 && cfg.useBias !== false ? weights[1] : null;
        const w = ex.kernel(layer, kernelValues, shapes[0], [2, 1, 0], null, 0);
        const one = (v: unknown) => (Array.isArray(v) ? v[0] as number : (v as number | undefined) ?? 1);
        const stride = one(cfg.strides);
        const dil = one(cfg.dilationRate);
        const [, len] = node.inputTensors[0].shape as number[];
        const pads = cfg.padding === 'same' ? samePads(len, k, stride, dil) : [0, 0];
        const inputs = [x, w];
        if (bias) inputs.push(g.constant(`${layer.name}_b`, bias, [bias.length]));
        out = { name: activate(g.op('Conv', inputs, { kernel_shape: [k], strides: [stride], dilations: [dil], pads, group: 1 }, { name: layer.name })), layout: 'ncl' };
        break;
      }
      case 'MaxPooling1D': case 'AveragePooling1D': {
        const one = (v: unknown, fallback: number) => (Array.isArray(v) ? v[0] as number : (v as number | null | undefined) ?? fallback);
        const k = one(cfg.poolSize, 2);
        const st = one(cfg.strides, k);
        const [, len] = node.inputTensors[0].shape as number[];
        const pads = cfg.padding === 'same' ? samePads(len, k, st, 1) : [0, 0];
        out = { name: g.op(cls === 'MaxPooling1D' ? 'MaxPool' : 'AveragePool', [x0.name], { kernel_shape: [k], strides: [st], pads }, { name: layer.name }), layout: 'ncl' };
        break;
      }
      case 'GlobalAveragePooling1D':
        out = { name: g.op('Flatten', [g.op('GlobalAveragePool', [x0.name], {}, { name: layer.name })], { axis: 1 }), layout: 'flat' };
        break;
      case 'Reshape': {
        // In TF's channels-last layout: back to it, reshape, then to the target rank's channels-first layout.
        const target = cfg.targetShape as number[];
        const layout = layoutOfRank(target.length + 1);
        const back = toChannelsLast[x0.layout];
        const tfValue = back ? g.op('Transpose', [x0.name], { perm: back }) : x0.name;
        const reshaped = g.op('Reshape', [tfValue, g.constant(`${layer.name}_shape`, [0, ...target], [target.length + 1], DT.INT64)], {}, { name: layer.name });
        const forth = toChannelsFirst[layout];
        out = { name: forth ? g.op('Transpose', [reshaped], { perm: forth }) : reshaped, layout };
        break;
      }
      case 'Dense': case 'QuantDense': {
        if (x0.layout === 'ncl') throw new LowbitError(`${layer.name}: a Dense layer over a sequence ([N, L, C]) cannot be exported yet: put Flatten or GlobalAveragePooling1D before it`);
        const x = toFlat(x0);
        const xq = ex.activation(x.name, layer, 2);
        const { kernel: kernelValues, bias } = kernelAndBias(layer, isQuantLayer(layer) ? quantizedKernelValues(layer) : weights[0],
          weights.length > 1 && cfg.useBias !== false ? weights[1] : null);
        const w = ex.kernel(layer, kernelValues, shapes[0], [0, 1], null, 1);
        let y = g.op('MatMul', [xq, w], {}, { name: layer.name });
        if (bias) y = g.op('Add', [y, g.constant(`${layer.name}_b`, bias, [bias.length])]);
        out = { name: activate(y), layout: 'flat' };
        break;
      }
      case 'BatchNormalization': {
        if (foldedBatchNorms.has(layer.name)) { out = x0; break; }
        const byName = (suffix: string) => layer.weights.findIndex((w) => w.originalName.endsWith(suffix));
        const c = shapes[byName('moving_mean')][0];
        const get = (suffix: string, fill: number) => (byName(suffix) >= 0 ? weights[byName(suffix)] : new Float32Array(c).fill(fill));
        out = { name: g.op('BatchNormalization', [x0.name, g.constant(`${layer.name}_gamma`, get('gamma', 1), [c]), g.constant(`${layer.name}_beta`, get('beta', 0), [c]),
          g.constant(`${layer.name}_mean`, get('moving_mean', 0), [c]), g.constant(`${layer.name}_var`, get('moving_variance', 1), [c])], { epsilon: cfg.epsilon as number }, { name: layer.name }), layout: x0.layout };
        break;
      }
      case 'ReLU': out = { name: g.op('Relu', [x0.name], {}, { name: layer.name }), layout: x0.layout }; break;
      case 'Activation': out = { name: activate(x0.name), layout: x0.layout }; break;
      case 'PReLU': {
        const alpha = weights[0];
        const c = alpha.length;
        out = { name: g.op('PRelu', [x0.name, g.constant(`${layer.name}_slope`, alpha, channelDims(x0.layout, c))], {}, { name: layer.name }), layout: x0.layout };
        break;
      }
      case 'RPReLU': {
        // PReLU(x − γ) + ζ; weights: slope, γ, ζ.
        const c = weights[1].length;
        const shape = channelDims(x0.layout, c);
        const shifted = g.op('Sub', [x0.name, g.constant(`${layer.name}_shift_in`, weights[1], shape)]);
        const p = g.op('PRelu', [shifted, g.constant(`${layer.name}_slope`, weights[0], shape)]);
        out = { name: g.op('Add', [p, g.constant(`${layer.name}_shift_out`, weights[2], shape)], {}, { name: layer.name }), layout: x0.layout };
        break;
      }
      case 'MaxPooling2D': case 'AveragePooling2D': {
        const k = cfg.poolSize as number[];
        const s = (cfg.strides as number[] | null) ?? k;
        const [, h, wIn] = node.inputTensors[0].shape as number[];
        const pads = cfg.padding === 'same' ? (() => { const [t, b] = samePads(h, k[0], s[0], 1); const [l, r] = samePads(wIn, k[1], s[1], 1); return [t, l, b, r]; })() : [0, 0, 0, 0];
        out = { name: g.op(cls === 'MaxPooling2D' ? 'MaxPool' : 'AveragePool', [x0.name], { kernel_shape: k, strides: s, pads }, { name: layer.name }), layout: 'nchw' };
        break;
      }
      case 'GlobalAveragePooling2D':
        out = { name: g.op('Flatten', [g.op('GlobalAveragePool', [x0.name], {}, { name: layer.name })], { axis: 1 }), layout: 'flat' };
        break;
      case 'Flatten': out = toFlat(x0); break;
      case 'Add': out = { name: ins.slice(1).reduce((acc, v) => g.op('Add', [acc, v.name]), x0.name), layout: x0.layout }; break;
      case 'Concatenate': out = { name: g.op('Concat', ins.map((v) => v.name), { axis: x0.layout === 'flat' ? -1 : 1 }, { name: layer.name }), layout: x0.layout }; break;
      case 'ZeroPadding2D': {
        const [[t, b], [l, r]] = cfg.padding as [[number, number], [number, number]];
        out = { name: g.op('Pad', [x0.name, g.constant(`${layer.name}_pads`, [0, 0, t, l, 0, 0, b, r], [8], DT.INT64)], { mode: 'constant' }, { name: layer.name }), layout: 'nchw' };
        break;
      }
      case 'UpSampling2D': {
        const [sh, sw] = cfg.size as number[];
        if (cfg.interpolation !== 'nearest') throw new LowbitError(`${layer.name}: UpSampling2D with ${String(cfg.interpolation)} interpolation cannot be exported yet (nearest can)`);
        out = { name: g.op('Resize', [x0.name, '', g.constant(`${layer.name}_scales`, [1, 1, sh, sw], [4])],
          { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' }, { name: layer.name }), layout: 'nchw' };
        break;
      }
      case 'Conv2DTranspose': case 'QuantConv2DTranspose': {
        // Keras kernel [kh, kw, out, in] (QuantConv2DTranspose's: [kh, kw, in, out]) → ONNX [in, out, kh, kw];
        // 'same' crops what the forward conv would pad.
        const quant = cls === 'QuantConv2DTranspose';
        const [kh, kw] = shapes[0];
        const strides = cfg.strides as number[];
        const [, h, wIn] = node.inputTensors[0].shape as number[];
        const pads = cfg.padding === 'same'
          ? (() => { const [t, b] = samePads(h * strides[0], kh, strides[0], 1); const [l, r] = samePads(wIn * strides[1], kw, strides[1], 1); return [t, l, b, r]; })()
          : [0, 0, 0, 0];
        const w = quant
          ? ex.kernel(layer, quantizedKernelValues(layer), shapes[0], [2, 3, 0, 1], null, 1)
          : ex.g.constant(`${layer.name}_w`, transpose(weights[0], shapes[0], [3, 2, 0, 1]).data, [shapes[0][3], shapes[0][2], kh, kw]);
        const inputs = [quant ? ex.activation(x0.name, layer) : x0.name, w];
        if (weights.length > 1 && cfg.useBias !== false) inputs.push(g.constant(`${layer.name}_b`, weights[1], [weights[1].length]));
        out = { name: activate(g.op('ConvTranspose', inputs, { kernel_shape: [kh, kw], strides, pads }, { name: layer.name })), layout: 'nchw' };
        break;
      }
      case 'DepthwiseQuantizer': {
        const q = layer as unknown as { groups: number; codes: number; dim: number; codebook: tf.LayerVariable };
        const { codes, quantized } = ex.depthwiseQuantizer(x0.name, layer.name, q.codebook.read() as tf.Tensor3D);
        ex.codes.set(layer.name, codes);
        out = { name: quantized, layout: 'nchw' };
        break;
      }
      case 'QuantActivation': out = { name: ex.activation(x0.name, layer, rankOf(x0.layout)), layout: x0.layout }; break;
      default: throw new LowbitError(`${layer.name} (${cls}) cannot be exported`);
    }
    values.set(outName, out);
  }
}
