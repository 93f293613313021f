/**
 * quantizeModel(model, config): a quantized copy of any TF.js LayersModel (Sequential or
 * functional). Conv2D, DepthwiseConv2D, Dense, Conv1D and Conv2DTranspose layers become
 * QuantConv2D, QuantDepthwiseConv2D, QuantDense, QuantConv1D and QuantConv2DTranspose with the
 * configured quantizers; a SeparableConv2D becomes its two halves — a QuantDepthwiseConv2D
 * (NAME_depthwise: the input quantizer, strides, dilation, no bias) then a 1×1 QuantConv2D
 * (NAME: bias and activation), each with its own kernel quantizer, as in Larq's
 * QuantSeparableConv2D (the intermediate stays float). Every weight is copied from the float model.
 */
import * as tf from '../backend/tf.js';
import { ensureBackend } from '../backend/index.js';
import { LowbitError } from '../errors.js';
import { normalizeSpec, QuantizerSpec, QuantizerSpecInput } from '../quantizers/spec.js';
import './quant-layers.js';
import './rprelu.js';

const QUANT_CLASS: Record<string, string> = {
  Conv2D: 'QuantConv2D', DepthwiseConv2D: 'QuantDepthwiseConv2D', Dense: 'QuantDense', Conv1D: 'QuantConv1D', Conv2DTranspose: 'QuantConv2DTranspose',
  SeparableConv2D: 'QuantDepthwiseConv2D+QuantConv2D',
};
/** The float layer classes quantizeModel quantizes. */
export const QUANTIZABLE_CLASSES: readonly string[] = Object.keys(QUANT_CLASS);
/** Layer classes with a kernel that lowbit does not (yet) quantize. */
const KERNEL_LAYERS_NOT_SUPPORTED = ['Conv3D', 'SeparableConv1D', 'LSTM', 'GRU', 'SimpleRNN', 'Embedding', 'ConvLSTM2D'];
/** Models nested as layers: quantizeModel does not look inside them. */
const NESTED_MODELS = ['Sequential', 'Model', 'Functional'];

export type LayerMatch = string | RegExp | { className: string };

export interface LayerOverride {
  /** A layer name, a regular expression over names, or a layer class. */
  match: LayerMatch;
  kernelQuantizer?: QuantizerSpecInput | null;
  inputQuantizer?: QuantizerSpecInput | null;
  /** Leave the matched layers in float. */
  skip?: boolean;
}

export interface QuantizeConfig {
  /** Default kernel quantizer of every quantizable layer. */
  kernelQuantizer?: QuantizerSpecInput | null;
  /** Default input (activation) quantizer of every quantizable layer. */
  inputQuantizer?: QuantizerSpecInput | null;
  /** Keep the first and last quantizable layers in float (DoReFa's rule; default true). */
  keepFirstAndLastFloat?: boolean;
  /** Applied in order after the defaults; later overrides win. */
  overrides?: LayerOverride[];
  /** Leave layers lowbit cannot quantize in float instead of failing (default false). */
  allowFloatFallback?: boolean;
  /** Replace every PReLU by an RPReLU (ReActNet) that starts equal to it. */
  rprelu?: boolean;
}

interface LayerJson { class_name: string; config: Record<string, unknown> & { name: string }; name?: string; inbound_nodes?: unknown[][] }

function matches(m: LayerMatch, name: string, className: string): boolean {
  if (typeof m === 'string') return m === name;
  if (m instanceof RegExp) return m.test(name);
  return m.className === className;
}

/** What quantizeModel will do to each layer: null = stays float. */
export interface LayerPlan {
  name: string;
  className: string;
  kernelQuantizer: QuantizerSpec | null;
  inputQuantizer: QuantizerSpec | null;
}

export function planQuantization(model: tf.LayersModel, config: QuantizeConfig): LayerPlan[] {
  const layers = model.layers.map((l) => ({ name: l.name, className: l.getClassName() }));
  const quantizable = layers.filter((l) => l.className in QUANT_CLASS);
  const unsupported = layers.filter((l) => KERNEL_LAYERS_NOT_SUPPORTED.includes(l.className));
  if (unsupported.length > 0 && !config.allowFloatFallback) {
    throw new LowbitError(`lowbit cannot quantize ${unsupported.map((l) => `${l.name} (${l.className})`).join(', ')}: ` +
      `train the teacher without them (lowbit quantizes ${QUANTIZABLE_CLASSES.join(', ')} layers), ` +
      'or, from the library, set allowFloatFallback in the quantize config to leave them in float');
  }
  const nested = layers.filter((l) => NESTED_MODELS.includes(l.className));
  if (nested.length > 0 && !config.allowFloatFallback) {
    throw new LowbitError(`lowbit cannot quantize inside the nested model${nested.length > 1 ? 's' : ''} ${nested.map((l) => l.name).join(', ')}: ` +
      'rebuild the model flat (in Keras, call the base model on the input tensor with its layers, not as one layer) before converting it, ' +
      'or, from the library, set allowFloatFallback in the quantize config to leave nested models in float');
  }
  for (const o of config.overrides ?? []) {
    if (!layers.some((l) => matches(o.match, l.name, l.className))) {
      const what = typeof o.match === 'string' ? `layer '${o.match}'` : o.match instanceof RegExp ? `pattern ${o.match}` : `class ${o.match.className}`;
      throw new LowbitError(`quantization config names ${what}, which matches no layer of ${model.name} (layers: ${layers.map((l) => l.name).join(', ')})`);
    }
  }
  const keepEnds = config.keepFirstAndLastFloat ?? true;
  const ends = new Set(keepEnds && quantizable.length > 0 ? [quantizable[0].name, quantizable[quantizable.length - 1].name] : []);
  const spec = (s: QuantizerSpecInput | null | undefined, where: string) => (s == null ? null : normalizeSpec(s, where));
  return quantizable.map((l) => {
    let kernel = ends.has(l.name) ? null : spec(config.kernelQuantizer, `${l.name} kernelQuantizer`);
    let input = ends.has(l.name) ? null : spec(config.inputQuantizer, `${l.name} inputQuantizer`);
    for (const o of config.overrides ?? []) {
      if (!matches(o.match, l.name, l.className)) continue;
      if (o.skip) { kernel = null; input = null; continue; }
      if (o.kernelQuantizer !== undefined) kernel = spec(o.kernelQuantizer, `${l.name} kernelQuantizer`);
      if (o.inputQuantizer !== undefined) input = spec(o.inputQuantizer, `${l.name} inputQuantizer`);
    }
    const none = (s: QuantizerSpec | null) => (s == null || s.kind === 'none' ? null : s);
    return { name: l.name, className: l.className, kernelQuantizer: none(kernel), inputQuantizer: none(input) };
  });
}

/**
 * Fills in what tfjs-layers leaves out of a layer's saved config so that the JSON rebuilds the
 * same layer: a SeparableConv2D's depth_multiplier (read from its depthwise kernel
 * [kh, kw, C, multiplier]). Keras files converted by tfjs-converter carry it already.
 */
export function completeLayerConfigs(layers: Array<{ class_name: string; config: Record<string, unknown> & { name: string } }>, model: tf.LayersModel): void {
  for (const layer of layers) {
    if (layer.class_name !== 'SeparableConv2D' || layer.config.depth_multiplier != null) continue;
    const kernel = model.getLayer(layer.config.name).weights[0];
    if (kernel != null) layer.config.depth_multiplier = kernel.shape[3];
  }
}

/** A layer name not in `taken`: `base`, or `base_2`, `base_3`… */
function freshName(base: string, taken: Set<string>): string {
  let name = base;
  for (let i = 2; taken.has(name); i++) name = `${base}_${i}`;
  taken.add(name);
  return name;
}

/**
 * A SeparableConv2D's JSON as its two halves: the depthwise half (named `dwName`, taking the
 * layer's inputs) and the pointwise 1×1 conv (keeping the layer's name, so later layers still
 * read it), both quantized layers.
 */
function splitSeparable(layer: LayerJson, dwName: string, p: LayerPlan): [LayerJson, LayerJson] {
  const c = layer.config;
  const { batch_input_shape: batchInputShape, input_shape: inputShape, dtype, trainable } = c;
  const dw: LayerJson = {
    class_name: 'QuantDepthwiseConv2D',
    config: {
      name: dwName, trainable, dtype, ...(batchInputShape != null ? { batch_input_shape: batchInputShape } : {}), ...(inputShape != null ? { input_shape: inputShape } : {}),
      kernel_size: c.kernel_size, strides: c.strides, padding: c.padding, dilation_rate: c.dilation_rate, depth_multiplier: c.depth_multiplier,
      use_bias: false, activation: 'linear', kernel_quantizer: p.kernelQuantizer as never, input_quantizer: p.inputQuantizer as never,
    },
  };
  const pw: LayerJson = {
    class_name: 'QuantConv2D',
    config: {
      name: c.name, trainable, dtype, filters: c.filters, kernel_size: [1, 1], strides: [1, 1], padding: 'valid', dilation_rate: [1, 1],
      use_bias: c.use_bias, activation: c.activation, kernel_quantizer: p.kernelQuantizer as never, input_quantizer: null,
    },
  };
  // tfjs-layers leaves keys out of some configs (dtype; a SeparableConv2D's depth_multiplier): drop undefined values.
  for (const half of [dw, pw]) for (const [k, v] of Object.entries(half.config)) if (v === undefined) delete half.config[k];
  if (layer.inbound_nodes != null) {
    dw.name = dwName;
    dw.inbound_nodes = layer.inbound_nodes;
    pw.name = layer.name;
    pw.inbound_nodes = layer.inbound_nodes.map((_, i) => [[dwName, i, 0, {}]]);
  }
  return [dw, pw];
}

export async function quantizeModel(model: tf.LayersModel, config: QuantizeConfig): Promise<tf.LayersModel> {
  await ensureBackend();
  const plan = new Map(planQuantization(model, config).map((p) => [p.name, p]));
  const topology = model.toJSON(undefined, false) as unknown as { config: { layers: LayerJson[] } };
  completeLayerConfigs(topology.config.layers, model);
  const taken = new Set(topology.config.layers.map((l) => l.config.name));
  /** SeparableConv2D name → its depthwise half's name. */
  const separable = new Map<string, string>();
  const transposed = new Set<string>();
  const layers: LayerJson[] = [];
  for (const layer of topology.config.layers) {
    const p = plan.get(layer.config.name);
    if (p == null || (p.kernelQuantizer == null && p.inputQuantizer == null)) { layers.push(layer); continue; }
    if (layer.class_name === 'SeparableConv2D') {
      const dwName = freshName(`${layer.config.name}_depthwise`, taken);
      separable.set(layer.config.name, dwName);
      layers.push(...splitSeparable(layer, dwName, p));
      continue;
    }
    if (layer.class_name === 'Conv2DTranspose') transposed.add(layer.config.name);
    layer.class_name = QUANT_CLASS[layer.class_name];
    layer.config.kernel_quantizer = p.kernelQuantizer as unknown as Record<string, unknown>;
    layer.config.input_quantizer = p.inputQuantizer as unknown as Record<string, unknown>;
    layers.push(layer);
  }
  topology.config.layers = layers;
  if (config.rprelu) for (const layer of topology.config.layers) if (layer.class_name === 'PReLU') layer.class_name = 'RPReLU';
  const quantized = await tf.models.modelFromJSON(topology as unknown as tf.io.ModelJSON['modelTopology'] as never);
  // Copy weights by layer; a quantized layer's kernel and bias come first, its quantizer parameters keep their init
  // (an RPReLU's slope comes first, its shifts start at 0).
  for (const source of model.layers) {
    const target = quantized.getLayer(source.name);
    const dwName = separable.get(source.name);
    if (dwName != null) {
      // SeparableConv2D weights: depthwise kernel, pointwise kernel, bias.
      const [depthwise, pointwise, bias] = source.weights;
      quantized.getLayer(dwName).weights[0].write(depthwise.read());
      target.weights[0].write(pointwise.read());
      if (bias != null) target.weights[1].write(bias.read());
      continue;
    }
    source.weights.forEach((w, i) => {
      // Conv2DTranspose: Keras's [kh, kw, out, in] kernel → the quantized layer's [kh, kw, in, out].
      if (i === 0 && transposed.has(source.name)) tf.tidy(() => { target.weights[0].write(tf.transpose(w.read(), [0, 1, 3, 2])); });
      else target.weights[i].write(w.read());
    });
  }
  return quantized;
}
