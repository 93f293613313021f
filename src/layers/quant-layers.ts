/**
 * Quantized layers — QuantConv2D, QuantDepthwiseConv2D, QuantDense, QuantConv1D,
 * QuantConv2DTranspose, QuantActivation — in the shape of TF.js's own layers (constructor(args), build, call, computeOutputShape, getConfig,
 * static className, registerClass), so a saved quantized model reloads with tf.loadLayersModel.
 * Kernels are latent float weights quantized by `kernelQuantizer` on every forward pass; inputs
 * pass through `inputQuantizer` first.
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import type { QuantGrid } from '../quantizers/kind.js';
import type { QuantizerSpec, QuantizerSpecInput } from '../quantizers/spec.js';
import {
  ActivationName, applyActivation, applySlot, buildSlot, checkActivation, convOutputLength, initializerFor, pair,
  QuantizerSlot, quantizerSlot, single, slotGrid,
} from './quant-base.js';

type Shape = Array<number | null>;

export interface QuantLayerArgs {
  name?: string;
  trainable?: boolean;
  inputShape?: number[];
  batchInputShape?: Array<number | null>;
  kernelQuantizer?: QuantizerSpecInput | null;
  inputQuantizer?: QuantizerSpecInput | null;
  activation?: ActivationName;
  useBias?: boolean;
  kernelInitializer?: unknown;
  biasInitializer?: unknown;
  [key: string]: unknown;
}

/**
 * A training-time transform of a quantized layer, attached by a method for part of its schedule
 * (BiTAT's stage-wise binarization) and never saved: a loaded model always quantizes as its
 * specs say. Layers without one carry no such state.
 */
export interface QuantTransform {
  /** false: both quantizers are off and the layer computes in float (not yet binarized stages). */
  quantize: boolean;
  /** A metric M [d_in, d_in] under which per-channel binary kernels are fitted (BiTAT's V·diag(s)·Vᵀ). */
  metric?: (() => tf.Tensor2D) | null;
  /**
   * Training steps only: the kernel to use given the latent and the quantized kernel, both viewed
   * as [d_in, columns] (SQ's stochastic partial quantization, docs/methods/sq.md). Evaluation and
   * export always use the fully quantized kernel.
   */
  kernelMix?: ((latent: tf.Tensor2D, quantized: tf.Tensor2D) => tf.Tensor2D) | null;
}

/** The common part of the weight-carrying quantized layers. */
abstract class QuantWeightLayer extends tf.layers.Layer {
  protected readonly kernelQ: QuantizerSlot | null;
  protected readonly inputQ: QuantizerSlot | null;
  protected readonly activationName: ActivationName;
  protected readonly useBias: boolean;
  protected kernel!: tf.LayerVariable;
  protected bias: tf.LayerVariable | null = null;
  private readonly quantArgs: QuantLayerArgs;
  /** The training-time transform slot (null: quantize normally). Not saved. */
  private transformSlot: QuantTransform | null = null;

  constructor(args: QuantLayerArgs) {
    super(args as ConstructorParameters<typeof tf.layers.Layer>[0]);
    this.quantArgs = args;
    const where = `layer ${args.name ?? this.name}`;
    this.kernelQ = quantizerSlot(args.kernelQuantizer, 'weight', `${where} kernelQuantizer`);
    this.inputQ = quantizerSlot(args.inputQuantizer, 'activation', `${where} inputQuantizer`);
    this.activationName = checkActivation(args.activation, args.name ?? this.name);
    this.useBias = args.useBias ?? true;
  }

  protected abstract kernelShape(inputShape: Shape): number[];
  protected abstract kernelName(): string;
  protected abstract biasSize(inputShape: Shape): number;

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    this.kernel = this.addWeight(this.kernelName(), this.kernelShape(shape), 'float32', initializerFor(this.quantArgs.kernelInitializer, 'glorotUniform'));
    if (this.useBias) this.bias = this.addWeight('bias', [this.biasSize(shape)], 'float32', initializerFor(this.quantArgs.biasInitializer, 'zeros'));
    buildSlot(this, this.kernelQ, 'kernel', this.kernelColumns());
    buildSlot(this, this.inputQ, 'input', shape[shape.length - 1] as number);
    this.built = true;
  }

  /**
   * Attaches a training-time transform of the layer's quantization (see QuantTransform), or
   * removes it (null): the layer then quantizes as its specs say.
   */
  setTransform(transform: QuantTransform | null): void {
    this.transformSlot = transform == null || (transform.quantize && transform.metric == null && transform.kernelMix == null) ? null : { ...transform };
  }

  /** The attached training-time transform, or null. */
  get transform(): Readonly<QuantTransform> | null {
    return this.transformSlot;
  }

  /**
   * Whether the layer quantizes (false: it computes in float) — for progressive schedules that
   * quantize one layer at a time. A view of the transform slot; not saved.
   */
  get quantizationEnabled(): boolean {
    return this.transformSlot?.quantize ?? true;
  }

  set quantizationEnabled(on: boolean) {
    this.setTransform({ ...this.transformSlot, metric: this.transformSlot?.metric ?? null, quantize: on });
  }

  /** The training-time metric M for per-channel binary kernels (BiTAT's transform). A view of the transform slot; not saved. */
  get kernelMetric(): (() => tf.Tensor2D) | null {
    return this.transformSlot?.metric ?? null;
  }

  set kernelMetric(metric: (() => tf.Tensor2D) | null) {
    this.setTransform({ ...this.transformSlot, quantize: this.quantizationEnabled, metric });
  }

  /** Output channels of the kernel: its view as [d_in, columns] has one column per output channel. */
  kernelColumns(): number {
    const s = this.kernel.shape as number[];
    return this.getClassName() === 'QuantDepthwiseConv2D' ? s[2] * s[3] : s[s.length - 1];
  }

  /** The layer's input as its kernel sees it: through the input quantizer when quantization is on. */
  quantizeInput(x: tf.Tensor, training = false): tf.Tensor {
    return this.quantizationEnabled ? applySlot(this.inputQ, x, training) : x;
  }

  /** The latent float kernel (what the optimizer updates). */
  get latentKernel(): tf.LayerVariable {
    return this.kernel;
  }

  /** The kernel as the forward pass uses it (quantized unless quantization is switched off). */
  quantizedKernel(training = false): tf.Tensor {
    return tf.tidy(() => {
      if (!this.quantizationEnabled) return this.kernel.read().clone();
      const q = applySlot(this.kernelQ, this.kernel.read(), training, { outputChannels: this.kernelColumns(), metric: this.transformSlot?.metric?.() });
      const mix = training && this.kernelQ != null ? this.transformSlot?.kernelMix : null;
      if (mix == null) return q;
      const columns = this.kernelColumns();
      return tf.reshape(mix(tf.reshape(this.kernel.read(), [-1, columns]) as tf.Tensor2D, tf.reshape(q, [-1, columns]) as tf.Tensor2D), q.shape);
    });
  }

  /** Bits of the kernel after quantization (32 when not quantized). */
  get kernelBits(): number {
    return this.kernelQ?.quantizer.precision ?? 32;
  }

  get inputBits(): number {
    return this.inputQ?.quantizer.precision ?? 32;
  }

  get kernelQuantizerSpec(): QuantizerSpec | null {
    return this.kernelQ?.spec ?? null;
  }

  get inputQuantizerSpec(): QuantizerSpec | null {
    return this.inputQ?.spec ?? null;
  }

  /**
   * The read-out of the kernel quantizer's grid (scale, zero point, codebook…) for the current
   * weights and learned parameters, at inference; null without a kernel quantizer or a fixed grid.
   */
  kernelGrid(): QuantGrid | null {
    if (this.kernelQ == null) return null;
    const quantized = this.quantizedKernel(false);
    try {
      return slotGrid(this.kernelQ, { latent: this.kernel.read(), quantized, channels: this.kernelColumns() });
    } finally {
      quantized.dispose();
    }
  }

  /** The read-out of the input quantizer's grid (see kernelGrid); null without one or for a dynamic grid. */
  inputGrid(): QuantGrid | null {
    return slotGrid(this.inputQ);
  }

  /** The layer's weights that hold the kernel ('kernel') or input ('input') quantizer's declared learned parameters, in declared order. */
  quantizerWeights(which: 'kernel' | 'input'): tf.LayerVariable[] {
    return [...((which === 'kernel' ? this.kernelQ : this.inputQ)?.params ?? [])];
  }

  protected abstract op(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | undefined, fusedRelu: boolean): tf.Tensor;

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean } = {}): tf.Tensor {
    return tf.tidy(() => {
      const training = kwargs.training === true;
      const x = this.quantizeInput(single(inputs), training);
      const k = this.quantizedKernel(training);
      const fuse = this.activationName === 'relu' || this.activationName === 'linear';
      const y = this.op(x, k, this.bias?.read(), this.activationName === 'relu');
      return fuse ? y : applyActivation(y, this.activationName);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      kernelQuantizer: (this.kernelQ?.spec ?? null) as unknown as tf.serialization.ConfigDictValue,
      inputQuantizer: (this.inputQ?.spec ?? null) as unknown as tf.serialization.ConfigDictValue,
      activation: this.activationName,
      useBias: this.useBias,
    };
  }
}

export interface QuantConv2DArgs extends QuantLayerArgs {
  filters: number;
  kernelSize: number | number[];
  strides?: number | number[];
  padding?: 'same' | 'valid';
  dilationRate?: number | number[];
}

export class QuantConv2D extends QuantWeightLayer {
  static className = 'QuantConv2D';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: 'same' | 'valid';
  readonly dilationRate: [number, number];

  constructor(args: QuantConv2DArgs) {
    super(args);
    this.filters = args.filters;
    this.kernelSize = pair(args.kernelSize, 1);
    this.strides = pair(args.strides, 1);
    this.padding = args.padding ?? 'valid';
    this.dilationRate = pair(args.dilationRate, 1);
  }

  protected kernelName(): string { return 'kernel'; }
  protected kernelShape(s: Shape): number[] { return [...this.kernelSize, s[s.length - 1] as number, this.filters]; }
  protected biasSize(): number { return this.filters; }

  protected op(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | undefined, relu: boolean): tf.Tensor {
    return tf.fused.conv2d({ x: x as tf.Tensor4D, filter: kernel as tf.Tensor4D, strides: this.strides, pad: this.padding,
      dataFormat: 'NHWC', dilations: this.dilationRate, bias, activation: relu ? 'relu' : 'linear' });
  }

  override computeOutputShape(inputShape: Shape): Shape {
    return [inputShape[0],
      convOutputLength(inputShape[1], this.kernelSize[0], this.strides[0], this.padding, this.dilationRate[0]),
      convOutputLength(inputShape[2], this.kernelSize[1], this.strides[1], this.padding, this.dilationRate[1]), this.filters];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), filters: this.filters, kernelSize: this.kernelSize, strides: this.strides,
      padding: this.padding, dilationRate: this.dilationRate };
  }
}

export interface QuantDepthwiseConv2DArgs extends QuantLayerArgs {
  kernelSize: number | number[];
  depthMultiplier?: number;
  strides?: number | number[];
  padding?: 'same' | 'valid';
  dilationRate?: number | number[];
  depthwiseInitializer?: unknown;
}

export class QuantDepthwiseConv2D extends QuantWeightLayer {
  static className = 'QuantDepthwiseConv2D';
  readonly kernelSize: [number, number];
  readonly depthMultiplier: number;
  readonly strides: [number, number];
  readonly padding: 'same' | 'valid';
  readonly dilationRate: [number, number];

  constructor(args: QuantDepthwiseConv2DArgs) {
    super({ ...args, kernelInitializer: args.depthwiseInitializer ?? args.kernelInitializer });
    this.kernelSize = pair(args.kernelSize, 1);
    this.depthMultiplier = args.depthMultiplier ?? 1;
    this.strides = pair(args.strides, 1);
    this.padding = args.padding ?? 'valid';
    this.dilationRate = pair(args.dilationRate, 1);
  }

  protected kernelName(): string { return 'depthwise_kernel'; }
  protected kernelShape(s: Shape): number[] { return [...this.kernelSize, s[s.length - 1] as number, this.depthMultiplier]; }
  protected biasSize(s: Shape): number { return (s[s.length - 1] as number) * this.depthMultiplier; }

  protected op(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | undefined, relu: boolean): tf.Tensor {
    return tf.fused.depthwiseConv2d({ x: x as tf.Tensor4D, filter: kernel as tf.Tensor4D, strides: this.strides, pad: this.padding,
      dataFormat: 'NHWC', dilations: this.dilationRate, bias, activation: relu ? 'relu' : 'linear' });
  }

  override computeOutputShape(inputShape: Shape): Shape {
    const c = inputShape[3] == null ? null : (inputShape[3] as number) * this.depthMultiplier;
    return [inputShape[0],
      convOutputLength(inputShape[1], this.kernelSize[0], this.strides[0], this.padding, this.dilationRate[0]),
      convOutputLength(inputShape[2], this.kernelSize[1], this.strides[1], this.padding, this.dilationRate[1]), c];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), kernelSize: this.kernelSize, depthMultiplier: this.depthMultiplier, strides: this.strides,
      padding: this.padding, dilationRate: this.dilationRate };
  }
}

export interface QuantDenseArgs extends QuantLayerArgs {
  units: number;
}

export class QuantDense extends QuantWeightLayer {
  static className = 'QuantDense';
  readonly units: number;

  constructor(args: QuantDenseArgs) {
    super(args);
    this.units = args.units;
  }

  protected kernelName(): string { return 'kernel'; }
  protected kernelShape(s: Shape): number[] { return [s[s.length - 1] as number, this.units]; }
  protected biasSize(): number { return this.units; }

  protected op(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | undefined, relu: boolean): tf.Tensor {
    const x2 = x.rank === 2 ? x : tf.reshape(x, [-1, x.shape[x.rank - 1]]);
    const y = tf.fused.matMul({ a: x2 as tf.Tensor2D, b: kernel as tf.Tensor2D, bias, activation: relu ? 'relu' : 'linear' });
    return x.rank === 2 ? y : tf.reshape(y, [...x.shape.slice(0, -1), this.units]);
  }

  override computeOutputShape(inputShape: Shape): Shape {
    return [...inputShape.slice(0, -1), this.units];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units };
  }
}

export interface QuantConv1DArgs extends QuantLayerArgs {
  filters: number;
  kernelSize: number | number[];
  strides?: number | number[];
  padding?: 'same' | 'valid';
  dilationRate?: number | number[];
}

const first = (v: number | number[] | undefined, fallback: number): number => (v == null ? fallback : Array.isArray(v) ? v[0] : v);

/** Conv1D over [N, L, C] inputs; kernel [k, C, filters] as Keras's. */
export class QuantConv1D extends QuantWeightLayer {
  static className = 'QuantConv1D';
  readonly filters: number;
  readonly kernelSize: number;
  readonly strides: number;
  readonly padding: 'same' | 'valid';
  readonly dilationRate: number;

  constructor(args: QuantConv1DArgs) {
    super(args);
    this.filters = args.filters;
    this.kernelSize = first(args.kernelSize, 1);
    this.strides = first(args.strides, 1);
    this.padding = args.padding ?? 'valid';
    // TF.js's own Conv1D cannot run 'causal' padding either, so no float teacher has it.
    if ((this.padding as string) === 'causal') throw new LowbitError(`layer ${args.name ?? this.name}: Conv1D with 'causal' padding cannot be quantized (TF.js cannot run it)`);
    this.dilationRate = first(args.dilationRate, 1);
  }

  protected kernelName(): string { return 'kernel'; }
  protected kernelShape(s: Shape): number[] { return [this.kernelSize, s[s.length - 1] as number, this.filters]; }
  protected biasSize(): number { return this.filters; }

  protected op(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | undefined, relu: boolean): tf.Tensor {
    // As TF.js computes conv1d: a conv2d over [N, 1, L, C].
    const y = tf.fused.conv2d({ x: tf.expandDims(x, 1) as tf.Tensor4D, filter: tf.expandDims(kernel, 0) as tf.Tensor4D, strides: [1, this.strides],
      pad: this.padding, dataFormat: 'NHWC', dilations: [1, this.dilationRate], bias, activation: relu ? 'relu' : 'linear' });
    return tf.squeeze(y, [1]);
  }

  override computeOutputShape(inputShape: Shape): Shape {
    return [inputShape[0], convOutputLength(inputShape[1], this.kernelSize, this.strides, this.padding, this.dilationRate), this.filters];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), filters: this.filters, kernelSize: [this.kernelSize], strides: [this.strides],
      padding: this.padding, dilationRate: [this.dilationRate] };
  }
}

/** Output size of one spatial dimension of a transposed convolution (as Keras and TF.js compute it, without output padding). */
function deconvLength(size: number | null, stride: number, kernel: number, padding: 'same' | 'valid'): number | null {
  if (size == null) return null;
  return padding === 'same' ? size * stride : size * stride + Math.max(kernel - stride, 0);
}

/** Conv2DTranspose takes Conv2D's arguments. */
export type QuantConv2DTransposeArgs = QuantConv2DArgs;

/**
 * Conv2DTranspose. Its latent kernel is stored [kh, kw, in, out] — output channels last, like
 * every quantized layer's, so per-channel grids are per output channel — where Keras's is
 * [kh, kw, out, in]: quantizeModel transposes the float kernel on the way in, the forward pass
 * and the ONNX export transpose the quantized kernel back.
 */
export class QuantConv2DTranspose extends QuantWeightLayer {
  static className = 'QuantConv2DTranspose';
  readonly filters: number;
  readonly kernelSize: [number, number];
  readonly strides: [number, number];
  readonly padding: 'same' | 'valid';

  constructor(args: QuantConv2DTransposeArgs) {
    super(args);
    this.filters = args.filters;
    this.kernelSize = pair(args.kernelSize, 1);
    this.strides = pair(args.strides, 1);
    this.padding = args.padding ?? 'valid';
    if (pair(args.dilationRate, 1).some((d) => d !== 1)) {
      throw new LowbitError(`layer ${args.name ?? this.name}: a dilated Conv2DTranspose cannot be quantized (TF.js's conv2dTranspose has no dilation)`);
    }
  }

  protected kernelName(): string { return 'kernel'; }
  protected kernelShape(s: Shape): number[] { return [...this.kernelSize, s[s.length - 1] as number, this.filters]; }
  protected biasSize(): number { return this.filters; }

  protected op(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | undefined, relu: boolean): tf.Tensor {
    const [n, h, w] = x.shape;
    const out: [number, number, number, number] = [n, deconvLength(h, this.strides[0], this.kernelSize[0], this.padding)!,
      deconvLength(w, this.strides[1], this.kernelSize[1], this.padding)!, this.filters];
    let y = tf.conv2dTranspose(x as tf.Tensor4D, tf.transpose(kernel, [0, 1, 3, 2]) as tf.Tensor4D, out, this.strides, this.padding) as tf.Tensor;
    if (bias != null) y = tf.add(y, bias);
    return relu ? tf.relu(y) : y;
  }

  override computeOutputShape(inputShape: Shape): Shape {
    return [inputShape[0], deconvLength(inputShape[1], this.strides[0], this.kernelSize[0], this.padding),
      deconvLength(inputShape[2], this.strides[1], this.kernelSize[1], this.padding), this.filters];
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), filters: this.filters, kernelSize: this.kernelSize, strides: this.strides, padding: this.padding };
  }
}

export interface QuantActivationArgs {
  name?: string;
  quantizer: QuantizerSpecInput;
  inputShape?: number[];
}

/** Quantizes activations where they flow (e.g. after a ReLU), with the quantizer's activation rule. */
export class QuantActivation extends tf.layers.Layer {
  static className = 'QuantActivation';
  private readonly slot: QuantizerSlot | null;

  constructor(args: QuantActivationArgs) {
    super(args);
    this.slot = quantizerSlot(args.quantizer, 'activation', `layer ${args.name ?? this.name} quantizer`);
  }

  override build(inputShape: Shape | Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as Shape;
    buildSlot(this, this.slot, 'act', shape[shape.length - 1] as number);
    this.built = true;
  }

  get bits(): number {
    return this.slot?.quantizer.precision ?? 32;
  }

  get quantizerSpec(): QuantizerSpec | null {
    return this.slot?.spec ?? null;
  }

  /** The read-out of the quantizer's grid for the current learned parameters; null without a fixed grid. */
  grid(): QuantGrid | null {
    return slotGrid(this.slot);
  }

  /** The layer's weights that hold the quantizer's declared learned parameters, in declared order. */
  quantizerWeights(): tf.LayerVariable[] {
    return [...(this.slot?.params ?? [])];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: { training?: boolean } = {}): tf.Tensor {
    return tf.tidy(() => applySlot(this.slot, single(inputs), kwargs.training === true));
  }

  override computeOutputShape(inputShape: Shape): Shape {
    return inputShape;
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), quantizer: (this.slot?.spec ?? { kind: 'none' }) as unknown as tf.serialization.ConfigDictValue };
  }
}

for (const cls of [QuantConv2D, QuantDepthwiseConv2D, QuantDense, QuantConv1D, QuantConv2DTranspose, QuantActivation]) {
  tf.serialization.registerClass(cls as unknown as tf.serialization.SerializableConstructor<tf.serialization.Serializable>);
}

export type QuantLayer = QuantConv2D | QuantDepthwiseConv2D | QuantDense | QuantConv1D | QuantConv2DTranspose;
export function isQuantLayer(l: tf.layers.Layer): l is QuantLayer {
  return l instanceof QuantConv2D || l instanceof QuantDepthwiseConv2D || l instanceof QuantDense || l instanceof QuantConv1D || l instanceof QuantConv2DTranspose;
}
