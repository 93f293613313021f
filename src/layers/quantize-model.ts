/**
 * quantizeModel(model, config): a quantized copy of any TF.js LayersModel (Sequential or
 * functional). Conv2D, DepthwiseConv2D and Dense layers become QuantConv2D, QuantDepthwiseConv2D
 * and QuantDense with the configured quantizers; every weight is copied from the float model.
 */
import * as tf from '../backend/tf.js';
import { ensureBackend } from '../backend/index.js';
import { LowbitError } from '../errors.js';
import { normalizeSpec, QuantizerSpec, QuantizerSpecInput } from '../quantizers/spec.js';
import './quant-layers.js';
import './rprelu.js';

const QUANT_CLASS: Record<string, string> = { Conv2D: 'QuantConv2D', DepthwiseConv2D: 'QuantDepthwiseConv2D', Dense: 'QuantDense' };
/** Layer classes with a kernel that lowbit does not (yet) quantize. */
const KERNEL_LAYERS_NOT_SUPPORTED = ['Conv1D', 'Conv3D', 'Conv2DTranspose', 'SeparableConv2D', 'LSTM', 'GRU', 'SimpleRNN', 'Embedding', 'ConvLSTM2D'];

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

interface LayerJson { class_name: string; config: Record<string, unknown> & { name: string } }

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
      'train the teacher without them (lowbit quantizes Conv2D, DepthwiseConv2D and Dense layers), ' +
      'or, from the library, set allowFloatFallback in the quantize config to leave them in float');
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

export async function quantizeModel(model: tf.LayersModel, config: QuantizeConfig): Promise<tf.LayersModel> {
  await ensureBackend();
  const plan = new Map(planQuantization(model, config).map((p) => [p.name, p]));
  const topology = model.toJSON(undefined, false) as unknown as { config: { layers: LayerJson[] } };
  for (const layer of topology.config.layers) {
    const p = plan.get(layer.config.name);
    if (p == null || (p.kernelQuantizer == null && p.inputQuantizer == null)) continue;
    layer.class_name = QUANT_CLASS[layer.class_name];
    layer.config.kernel_quantizer = p.kernelQuantizer as unknown as Record<string, unknown>;
    layer.config.input_quantizer = p.inputQuantizer as unknown as Record<string, unknown>;
  }
  if (config.rprelu) for (const layer of topology.config.layers) if (layer.class_name === 'PReLU') layer.class_name = 'RPReLU';
  const quantized = await tf.models.modelFromJSON(topology as unknown as tf.io.ModelJSON['modelTopology'] as never);
  // Copy weights by layer; a quantized layer's kernel and bias come first, its quantizer parameters keep their init
  // (an RPReLU's slope comes first, its shifts start at 0).
  for (const source of model.layers) {
    const target = quantized.getLayer(source.name);
    source.weights.forEach((w, i) => target.weights[i].write(w.read()));
  }
  return quantized;
}
