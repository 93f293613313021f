/**
 * BatchNorm folding: a BatchNormalization layer that directly follows a float Conv2D,
 * DepthwiseConv2D or Dense layer (linear activation, its only consumer) is merged into that
 * layer's kernel and bias. In inference BN computes y = γ·(z − μ)/√(σ² + ε) + β on z = W·x + b,
 * so with s = γ/√(σ² + ε) per output channel, W' = W·s and b' = (b − μ)·s + β give the same y.
 * Used by post-training quantization (docs/methods/ptq.md) and by the ONNX exporter.
 */
import * as tf from '../backend/tf.js';

/** The layer classes a BatchNorm can fold into. */
const FOLDABLE = new Set(['Conv2D', 'DepthwiseConv2D', 'Dense']);

/** A BatchNorm's inference parameters, one value per channel. */
export interface BatchNormParams {
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  variance: Float32Array;
  epsilon: number;
}

/** One fold: the BatchNorm `batchNorm` merges into the layer `layer`. */
export interface BatchNormFold {
  layer: string;
  batchNorm: string;
  params: BatchNormParams;
}

/** The inference parameters of a BatchNormalization layer (γ = 1 without scale, β = 0 without center). */
export function batchNormParams(bn: tf.layers.Layer): BatchNormParams {
  const find = (suffix: string) => bn.weights.find((w) => w.originalName.endsWith(suffix));
  const mean = Float32Array.from(find('moving_mean')!.read().dataSync() as Float32Array);
  const read = (suffix: string, fill: number) => {
    const w = find(suffix);
    return w ? Float32Array.from(w.read().dataSync() as Float32Array) : new Float32Array(mean.length).fill(fill);
  };
  return { gamma: read('gamma', 1), beta: read('beta', 0), mean, variance: read('moving_variance', 1), epsilon: (bn.getConfig().epsilon as number) ?? 1e-3 };
}

/**
 * The folded kernel and bias. `kernel` is in TF layout with the output channel as its fastest
 * index (Conv2D [kh, kw, in, out], Dense [in, out], DepthwiseConv2D [kh, kw, in, mult] whose
 * output channel in·mult + m is the flat index mod in·mult); `bias` null = zeros.
 */
export function foldWeights(kernel: Float32Array, bias: Float32Array | null, bn: BatchNormParams): { kernel: Float32Array; bias: Float32Array } {
  const c = bn.mean.length;
  const s = new Float64Array(c);
  for (let i = 0; i < c; i++) s[i] = bn.gamma[i] / Math.sqrt(bn.variance[i] + bn.epsilon);
  const k = new Float32Array(kernel.length);
  for (let i = 0; i < kernel.length; i++) k[i] = kernel[i] * s[i % c];
  const b = new Float32Array(c);
  for (let i = 0; i < c; i++) b[i] = ((bias?.[i] ?? 0) - bn.mean[i]) * s[i] + bn.beta[i];
  return { kernel: k, bias: b };
}

function lastAxis(bn: tf.layers.Layer): boolean {
  const axis = bn.getConfig().axis as number | number[];
  const a = Array.isArray(axis) ? (axis.length === 1 ? axis[0] : NaN) : axis;
  const rank = (bn.inboundNodes[0].inputTensors[0].shape as unknown[]).length;
  return a === -1 || a === rank - 1;
}

/**
 * The BatchNorms of `model` that fold into the layer before them: a float Conv2D,
 * DepthwiseConv2D or Dense with linear activation, called once, whose only consumer is the
 * BatchNorm (normalising the last axis) and whose output is not a model output.
 */
export function batchNormFolds(model: tf.LayersModel): BatchNormFold[] {
  const outputs = new Set(model.outputLayers.map((l) => l.name));
  const folds: BatchNormFold[] = [];
  for (const bn of model.layers) {
    if (bn.getClassName() !== 'BatchNormalization' || bn.inboundNodes.length !== 1) continue;
    const prev = bn.inboundNodes[0].inboundLayers;
    if (prev.length !== 1) continue;
    const layer = prev[0];
    if (!FOLDABLE.has(layer.getClassName()) || outputs.has(layer.name)) continue;
    if ((layer.getConfig().activation ?? 'linear') !== 'linear') continue;
    if (layer.inboundNodes.length !== 1 || layer.outboundNodes.length !== 1 || !lastAxis(bn)) continue;
    folds.push({ layer: layer.name, batchNorm: bn.name, params: batchNormParams(bn) });
  }
  return folds;
}

type NodeRef = [string, number, number, ...unknown[]];
interface LayerJson { class_name: string; name?: string; config: Record<string, unknown> & { name: string }; inbound_nodes?: unknown[] }

/** Replaces layer name `from` by `to` in nested inbound-node / output references. */
function rename(refs: unknown, from: string, to: string): unknown {
  if (!Array.isArray(refs)) return refs;
  if (refs.length >= 3 && typeof refs[0] === 'string' && typeof refs[1] === 'number') {
    const r = refs as NodeRef;
    return r[0] === from ? [to, ...r.slice(1)] : r;
  }
  return refs.map((r) => rename(r, from, to));
}

export interface FoldOptions {
  /** Also give every Conv2D, DepthwiseConv2D and Dense without a bias a zero bias (for bias correction). */
  addBias?: boolean;
}

/**
 * A copy of `model` with every BatchNorm of `batchNormFolds` merged into the layer before it
 * (the BatchNorm layers are gone; the folded layers get a bias). Sequential or functional. In
 * inference the copy computes what `model` computes, up to float rounding.
 */
export async function foldBatchNorm(model: tf.LayersModel, options: FoldOptions = {}): Promise<{ model: tf.LayersModel; folds: BatchNormFold[] }> {
  const folds = batchNormFolds(model);
  const byLayer = new Map(folds.map((f) => [f.layer, f]));
  const removed = new Set(folds.map((f) => f.batchNorm));
  const topology = model.toJSON(undefined, false) as unknown as { class_name: string; config: { layers: LayerJson[]; output_layers?: unknown } };
  const layers = topology.config.layers.filter((l) => !removed.has(l.config.name));
  const biased = new Set<string>();
  for (const l of layers) {
    const foldable = FOLDABLE.has(l.class_name);
    if (foldable && (byLayer.has(l.config.name) || options.addBias) && l.config.use_bias === false) {
      l.config.use_bias = true;
      biased.add(l.config.name);
    }
  }
  for (const f of folds) {
    for (const l of layers) if (l.inbound_nodes) l.inbound_nodes = rename(l.inbound_nodes, f.batchNorm, f.layer) as unknown[];
    if (topology.config.output_layers) topology.config.output_layers = rename(topology.config.output_layers, f.batchNorm, f.layer);
  }
  topology.config.layers = layers;
  const folded = await tf.models.modelFromJSON(topology as unknown as tf.io.ModelJSON['modelTopology'] as never);
  try {
    tf.tidy(() => {
    for (const target of folded.layers) {
      if (target.getClassName() === 'InputLayer') continue;
      const source = model.getLayer(target.name);
      const values = source.getWeights();
      const fold = byLayer.get(target.name);
      if (fold) {
        const kernel = values[0];
        const hasBias = !biased.has(target.name);
        const w = foldWeights(kernel.dataSync() as Float32Array, hasBias ? values[1].dataSync() as Float32Array : null, fold.params);
        target.setWeights([tf.tensor(w.kernel, kernel.shape), tf.tensor1d(w.bias)]);
      } else if (biased.has(target.name)) {
        target.setWeights([values[0], tf.zeros([target.weights[1].shape[0]!])]);
      } else {
        target.setWeights(values);
      }
    }
    });
  } catch (e) {
    folded.dispose();
    throw e;
  }
  return { model: folded, folds };
}
