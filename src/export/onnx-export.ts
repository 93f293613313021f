/**
 * TF.js LayersModel (float or lowbit-quantized) → ONNX. The graph takes NHWC input like the
 * TF.js model, transposes once to NCHW, and returns the same logits. Targets:
 * - 'float': quantized weights baked in as float32; activation quantizers as standard ops;
 * - 'qdq': integer weights as int8 initializers + DequantizeLinear, DoReFa activations as
 *   QuantizeLinear/DequantizeLinear (opset 13);
 * - 'qdq4': as 'qdq' at opset 21, with kernels whose codes fit 4 bits stored as INT4;
 * - 'qonnx': QONNX `Quant` / `BipolarQuant` nodes at any bit-width.
 * `exportCapabilities` says beforehand what a target cannot represent and what happens instead.
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { isQuantLayer, QuantActivation, QuantLayer } from '../layers/quant-layers.js';
import type { QuantizerSpec } from '../quantizers/spec.js';
import { DT, OnnxGraph, OnnxModel, QONNX_DOMAIN } from './onnx-builder.js';
import { gridRange, gridStep, int8Codes, isGridKind, kernelCodes } from './quant-codes.js';

export type OnnxTarget = 'float' | 'qdq' | 'qdq4' | 'qonnx';
export const onnxTargets: readonly OnnxTarget[] = ['float', 'qdq', 'qdq4', 'qonnx'];
const isQdq = (t: OnnxTarget) => t === 'qdq' || t === 'qdq4';

const SUPPORTED = new Set(['InputLayer', 'ZeroPadding2D', 'UpSampling2D', 'Conv2DTranspose', 'DepthwiseQuantizer', 'Conv2D', 'QuantConv2D', 'DepthwiseConv2D', 'QuantDepthwiseConv2D', 'Dense', 'QuantDense',
  'BatchNormalization', 'ReLU', 'Activation', 'PReLU', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'Flatten',
  'Add', 'Concatenate', 'QuantActivation', 'RPReLU']);

type Layout = 'nchw' | 'flat';
export interface Value { name: string; layout: Layout }
type Cfg = Record<string, unknown>;

function quantSpecs(layer: tf.layers.Layer): { kernel: QuantizerSpec | null; input: QuantizerSpec | null } {
  const cfg = layer.getConfig() as Cfg;
  const spec = (s: unknown) => (s == null || (s as QuantizerSpec).kind === 'none' ? null : (s as QuantizerSpec));
  if (layer instanceof QuantActivation) return { kernel: null, input: spec(cfg.quantizer) };
  return { kernel: spec(cfg.kernelQuantizer), input: spec(cfg.inputQuantizer) };
}

/** Whether a kernel quantizer's QDQ codes fit int4: ±1, ternary, DoReFa ≤ 3 bits (codes 2i − n), learned grids ≤ 4 bits. */
function fitsInt4(k: QuantizerSpec): boolean {
  return k.kind === 'binary' || k.kind === 'ternary' || (k.kind === 'dorefa' && k.bits <= 3) || (isGridKind(k) && k.bits <= 4);
}

/** What `target` cannot represent in `model`, and what the exporter does instead (one line each). */
export function exportCapabilities(model: tf.LayersModel, target: OnnxTarget): string[] {
  const notes: string[] = [];
  for (const layer of model.layers) {
    const { kernel, input } = quantSpecs(layer);
    if (kernel && isQdq(target)) {
      const perChannel = kernel.kind === 'binary' && kernel.scale === 'channel';
      if (target === 'qdq4' && fitsInt4(kernel)) {
        const what = kernel.kind === 'binary' || (kernel.kind === 'dorefa' && kernel.bits === 1) ? '1-bit' : 'bits' in kernel ? `${kernel.bits}-bit` : kernel.kind;
        notes.push(`${layer.name}: ${what} weights stored as int4 codes with DequantizeLinear (opset 21)${perChannel ? ', one scale per output channel (per axis)' : ''}`);
      } else if (perChannel) {
        notes.push(`${layer.name}: 1-bit weights with per-channel scales stored as int8 ±1 with a per-axis DequantizeLinear (use qonnx or packed for 1 bit)`);
      } else if (kernel.kind === 'binary' || (kernel.kind === 'dorefa' && kernel.bits === 1)) {
        notes.push(`${layer.name}: binary weights have no 1-bit type in QDQ; stored as int8 ±1 with DequantizeLinear (use qonnx or packed for 1 bit)`);
      } else if (kernel.kind === 'dorefa' && kernel.bits > 7) {
        notes.push(`${layer.name}: DoReFa ${kernel.bits}-bit weights do not fit int8 codes with zero point 0; stored as float32`);
      } else if (isGridKind(kernel) && kernel.bits > 8) {
        notes.push(`${layer.name}: ${kernel.bits}-bit ${kernel.kind} weights do not fit int8 codes; stored as float32`);
      } else if (isGridKind(kernel)) {
        notes.push(`${layer.name}: ${kernel.bits}-bit ${kernel.kind} weights stored as int8 codes with their learned step (QDQ's smallest type at opset 13)`);
      } else if (!['dorefa', 'ternary', 'binary'].includes(kernel.kind)) {
        notes.push(`${layer.name}: ${kernel.kind} weights are exported as float32 values on their grid (no fixed integer grid)`);
      } else if (kernel.kind === 'dorefa' || kernel.kind === 'ternary') {
        notes.push(`${layer.name}: ${kernel.kind === 'ternary' ? 'ternary' : `${kernel.bits}-bit`} weights stored as int8 codes (QDQ's smallest type at opset 13)`);
      }
    }
    if (kernel && target === 'qonnx' && !['dorefa', 'ternary', 'binary', 'uniform'].includes(kernel.kind) && !isGridKind(kernel)) {
      notes.push(`${layer.name}: ${kernel.kind} weights are exported as float32 values on their grid`);
    }
    if (input?.kind === 'rsign' && target !== 'float') {
      notes.push(`${layer.name}: RSign is exported as Add(threshold) then ${target === 'qonnx' ? 'BipolarQuant' : 'a sign (GreaterOrEqual/Where)'}`);
    } else if (input && input.kind !== 'dorefa' && !isGridKind(input) && target !== 'float') {
      notes.push(`${layer.name}: the ${input.kind} activation quantizer is exported as standard float ops (Clip/Round/Mul), not as ${isQdq(target) ? 'Q/DQ' : 'Quant'} nodes`);
    }
  }
  return notes;
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

  /** A kernel (already in ONNX layout via `layout`) with its quantizer, as the target represents it. */
  kernel(layer: tf.layers.Layer, values: Float32Array, shape: number[], perm: number[], finalShape: number[] | null, channelAxis: number): string {
    const spec = quantSpecs(layer).kernel;
    const t = transpose(values, shape, perm);
    const dims = finalShape ?? t.shape;
    if (spec?.kind === 'binary' && spec.scale === 'channel') return this.channelBinaryKernel(layer, t.data, dims, channelAxis);
    const codes = kernelCodes(spec, t.data, 1, gridStep(layer, 'kernel'));
    if (isQdq(this.target) && codes) {
      const i8 = int8Codes(codes);
      if (i8 && this.target === 'qdq4' && i8.q.every((v) => v >= -8 && v <= 7)) {
        const q = this.g.constantInt4(`${layer.name}_w_int4`, i8.q, dims);
        return this.g.op('DequantizeLinear', [q, this.scalar(`${layer.name}_w_scale`, i8.scale), this.g.constantInt4(`${layer.name}_w_zp`, [0], [])]);
      }
      if (i8) {
        const q = this.g.constant(`${layer.name}_w_int8`, i8.q, dims, DT.INT8);
        return this.g.op('DequantizeLinear', [q, this.scalar(`${layer.name}_w_scale`, i8.scale), this.g.constant(`${layer.name}_w_zp`, new Int8Array([0]), [], DT.INT8)]);
      }
    }
    const w = this.g.constant(`${layer.name}_w`, t.data, dims);
    if (this.target === 'qonnx' && spec) {
      if (codes && codes.bits === 1) return this.g.op('BipolarQuant', [w, this.scalar(`${layer.name}_w_scale`, codes.scale / 2)], {}, { domain: QONNX_DOMAIN });
      if (codes) {
        return this.quantNode(w, codes.scale, codes.zeroPoint, codes.bits, codes.signed, spec.kind === 'ternary', `${layer.name}_w`);
      }
      if (spec.kind === 'uniform' && typeof spec.scale === 'number') {
        return this.quantNode(w, spec.scale, spec.zeroPoint ?? 0, spec.bits, spec.signed ?? true, spec.narrow ?? false, `${layer.name}_w`);
      }
    }
    return w;
  }

  /**
   * ±α_o kernels (one scale per output channel on `axis`): QDQ as int8 ±1 with a per-axis
   * DequantizeLinear; QONNX as BipolarQuant with a broadcast scale tensor; float as the values.
   */
  channelBinaryKernel(layer: tf.layers.Layer, data: Float32Array, dims: number[], axis: number): string {
    const channels = dims[axis];
    const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
    const alpha = new Float32Array(channels);
    data.forEach((v, i) => { alpha[Math.floor(i / inner) % channels] = Math.abs(v); });
    if (isQdq(this.target)) {
      const signs = Int8Array.from(data, (v) => (v >= 0 ? 1 : -1));
      const [q, zp] = this.target === 'qdq4'
        ? [this.g.constantInt4(`${layer.name}_w_int4`, signs, dims), this.g.constantInt4(`${layer.name}_w_zp`, new Int8Array(channels), [channels])]
        : [this.g.constant(`${layer.name}_w_int8`, signs, dims, DT.INT8), this.g.constant(`${layer.name}_w_zp`, new Int8Array(channels), [channels], DT.INT8)];
      return this.g.op('DequantizeLinear', [q, this.g.constant(`${layer.name}_w_scale`, alpha, [channels]), zp], { axis });
    }
    const w = this.g.constant(`${layer.name}_w`, data, dims);
    if (this.target !== 'qonnx') return w;
    const scaleShape = dims.map((d, i) => (i === axis ? d : 1));
    return this.g.op('BipolarQuant', [w, this.g.constant(`${layer.name}_w_scale`, alpha, scaleShape)], {}, { domain: QONNX_DOMAIN });
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

  quantNode(x: string, scale: number, zp: number, bits: number, signed: boolean, narrow: boolean, base: string): string {
    return this.g.op('Quant', [x, this.scalar(`${base}_scale`, scale), this.scalar(`${base}_zeropt`, zp), this.scalar(`${base}_bitwidth`, bits)],
      { signed: signed ? 1 : 0, narrow: narrow ? 1 : 0, rounding_mode: 'ROUND' }, { domain: QONNX_DOMAIN });
  }

  /** An activation quantizer applied to x. */
  activation(x: string, spec: QuantizerSpec | null, layer: tf.layers.Layer, rank = 4): string {
    if (spec == null) return x;
    const g = this.g;
    const clip = (v: string, lo: number, hi: number) => g.op('Clip', [v, this.scalar('lo', lo), this.scalar('hi', hi)]);
    const fakeQuant = (v: string, n: number) => g.op('Div', [g.op('Round', [g.op('Mul', [v, this.scalar('n', n)])]), this.scalar('n', n)]);
    switch (spec.kind) {
      case 'dorefa': {
        const n = 2 ** spec.bits - 1;
        const c = clip(x, 0, 1);
        if (isQdq(this.target) && spec.bits <= 8) {
          const zp = g.constant(`${layer.name}_a_zp`, new Uint8Array([0]), [], DT.UINT8);
          const s = this.scalar(`${layer.name}_a_scale`, 1 / n);
          return g.op('DequantizeLinear', [g.op('QuantizeLinear', [c, s, zp]), s, zp]);
        }
        if (this.target === 'qonnx') return this.quantNode(c, 1 / n, 0, spec.bits, false, false, `${layer.name}_a`);
        return fakeQuant(c, n);
      }
      case 'binary':
        if (this.target === 'qonnx') return g.op('BipolarQuant', [x, this.scalar('one', 1)], {}, { domain: QONNX_DOMAIN });
        return g.op('Where', [g.op('GreaterOrEqual', [x, this.scalar('zero', 0)]), this.scalar('one', 1), this.scalar('minus_one', -1)]);
      case 'rsign': {
        // sign(x + b) with sign(0) = +1, b per channel: [1, C, 1, 1] on NCHW maps, [C] on flat inputs.
        const b = (layer as unknown as { weights: tf.LayerVariable[] }).weights.find((w) => /input_rsign_threshold|act_rsign_threshold/.test(w.originalName))!.read();
        const shape = rank === 4 ? [1, b.shape[0], 1, 1] : [b.shape[0]];
        const shifted = g.op('Add', [x, g.constant(`${layer.name}_a_threshold`, b.dataSync() as Float32Array, shape)]);
        if (this.target === 'qonnx') return g.op('BipolarQuant', [shifted, this.scalar('one', 1)], {}, { domain: QONNX_DOMAIN });
        return g.op('Where', [g.op('GreaterOrEqual', [shifted, this.scalar('zero', 0)]), this.scalar('one', 1), this.scalar('minus_one', -1)]);
      }
      case 'pact': {
        const alpha = (layer as unknown as { weights: tf.LayerVariable[] }).weights.find((w) => /input_pact_alpha|act_pact_alpha/.test(w.originalName))!.read().dataSync()[0];
        const n = 2 ** spec.bits - 1;
        return g.op('Mul', [g.op('Round', [g.op('Mul', [clip(x, 0, alpha), this.scalar('n_over_a', n / alpha)])]), this.scalar('a_over_n', alpha / n)]);
      }
      case 'ternary':
        return g.op('Round', [clip(x, -1, 1)]);
      case 'lsq': case 'rq': case 'rq-st': case 'srq': {
        // Inference: α·clip(round(x/α), lo, hi) (every relaxed method rounds at test time).
        const alpha = gridStep(layer, layer instanceof QuantActivation ? 'act' : 'input');
        if (alpha == null) throw new LowbitError(`${layer.name}: the ${spec.kind} activation quantizer has no learned step`);
        const { lo, hi, signed } = gridRange(spec, 'activation');
        const a = this.scalar(`${layer.name}_a_step`, alpha);
        if (isQdq(this.target) && spec.bits <= 8) {
          const zp = signed ? g.constant(`${layer.name}_a_zp`, new Int8Array([0]), [], DT.INT8) : g.constant(`${layer.name}_a_zp`, new Uint8Array([0]), [], DT.UINT8);
          return g.op('DequantizeLinear', [g.op('QuantizeLinear', [clip(x, lo * alpha, hi * alpha), a, zp]), a, zp]);
        }
        if (this.target === 'qonnx') return this.quantNode(x, alpha, 0, spec.bits, signed, false, `${layer.name}_a`);
        return g.op('Mul', [clip(g.op('Round', [g.op('Div', [x, a])]), lo, hi), a]);
      }
      default:
        throw new LowbitError(`${layer.name}: the ${spec.kind} activation quantizer cannot be exported yet`);
    }
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
  values.set(model.inputs[0].name, { name: g.op('Transpose', [inputName], { perm: [0, 3, 1, 2] }), layout: 'nchw' });
  translate(model, ex, values);
  const final = values.get((model.outputs[0] as tf.SymbolicTensor).name)!;
  const outShape = (model.outputs[0].shape as Array<number | null>).map((d) => d ?? 'N');
  const output = g.op('Identity', [final.layout === 'nchw' ? g.op('Transpose', [final.name], { perm: [0, 2, 3, 1] }) : final.name], {}, { name: 'logits' });
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
  const toFlat = (v: Value): Value => (v.layout === 'flat' ? v : { name: g.op('Flatten', [g.op('Transpose', [v.name], { perm: [0, 2, 3, 1] })], { axis: 1 }), layout: 'flat' });
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
    const { input: inSpec } = quantSpecs(layer);
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
        const x = ex.activation(x0.name, inSpec, layer);
        const [kh, kw, cin, cout] = shapes[0];
        const kernelValues = isQuantLayer(layer) ? ((layer as QuantLayer).quantizedKernel().dataSync() as Float32Array) : weights[0];
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
        if (weights.length > 1 && cfg.useBias !== false) inputs.push(g.constant(`${layer.name}_b`, weights[1], [weights[1].length]));
        const conv = g.op('Conv', inputs, { kernel_shape: [kh, kw], strides, dilations: dils, pads, group: depthwise ? cin : 1 }, { name: layer.name });
        out = { name: activate(conv), layout: 'nchw' };
        break;
      }
      case 'Dense': case 'QuantDense': {
        const x = toFlat(x0);
        const xq = ex.activation(x.name, inSpec, layer, 2);
        const kernelValues = isQuantLayer(layer) ? ((layer as QuantLayer).quantizedKernel().dataSync() as Float32Array) : weights[0];
        const w = ex.kernel(layer, kernelValues, shapes[0], [0, 1], null, 1);
        let y = g.op('MatMul', [xq, w], {}, { name: layer.name });
        if (weights.length > 1 && cfg.useBias !== false) y = g.op('Add', [y, g.constant(`${layer.name}_b`, weights[1], [weights[1].length])]);
        out = { name: activate(y), layout: 'flat' };
        break;
      }
      case 'BatchNormalization': {
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
        out = { name: g.op('PRelu', [x0.name, g.constant(`${layer.name}_slope`, alpha, x0.layout === 'nchw' ? [c, 1, 1] : [c])], {}, { name: layer.name }), layout: x0.layout };
        break;
      }
      case 'RPReLU': {
        // PReLU(x − γ) + ζ; weights: slope, γ, ζ.
        const c = weights[1].length;
        const shape = x0.layout === 'nchw' ? [c, 1, 1] : [c];
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
      case 'Concatenate': out = { name: g.op('Concat', ins.map((v) => v.name), { axis: x0.layout === 'nchw' ? 1 : -1 }, { name: layer.name }), layout: x0.layout }; break;
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
      case 'Conv2DTranspose': {
        // Keras kernel [kh, kw, out, in] → ONNX [in, out, kh, kw]; 'same' crops what the forward conv would pad.
        const [kh, kw, cout, cin] = shapes[0];
        const strides = cfg.strides as number[];
        const [, h, wIn] = node.inputTensors[0].shape as number[];
        const pads = cfg.padding === 'same'
          ? (() => { const [t, b] = samePads(h * strides[0], kh, strides[0], 1); const [l, r] = samePads(wIn * strides[1], kw, strides[1], 1); return [t, l, b, r]; })()
          : [0, 0, 0, 0];
        const w = ex.g.constant(`${layer.name}_w`, transpose(weights[0], shapes[0], [3, 2, 0, 1]).data, [cin, cout, kh, kw]);
        const inputs = [x0.name, w];
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
      case 'QuantActivation': out = { name: ex.activation(x0.name, inSpec, layer, x0.layout === 'flat' ? 2 : 4), layout: x0.layout }; break;
      default: throw new LowbitError(`${layer.name} (${cls}) cannot be exported`);
    }
    values.set(outName, out);
  }
}
