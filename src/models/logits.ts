/**
 * A user's classifier as lowbit trains it: on logits. Every lowbit loss (cross-entropy, KD) takes
 * logits, so a model whose output goes through softmax — a final Activation('softmax') or
 * Softmax layer, or an output layer (Dense, Conv…) with activation 'softmax', as Keras
 * classifiers usually end — is rebuilt without it. Softmax is monotonic, so the argmax (top-1)
 * of the logits model is the original's. See docs/models.md.
 */
import * as tf from '../backend/tf.js';
import { completeLayerConfigs } from '../layers/quantize-model.js';

/** What `logitsModel` removed: a whole softmax layer, or a layer's softmax activation (set to 'linear'). */
export interface SoftmaxRemoved {
  layer: string;
  how: 'removed-layer' | 'linear-activation';
}

interface LayerJson { class_name: string; name?: string; config: Record<string, unknown> & { name: string }; inbound_nodes?: unknown[][] }
interface TopologyJson { class_name: string; config: { name: string; layers: LayerJson[]; output_layers?: unknown[][] } }

const isSoftmaxLayer = (l: LayerJson) => l.class_name === 'Softmax' || (l.class_name === 'Activation' && l.config.activation === 'softmax');

/** The layer that produces the model's (single) output, as the model's JSON names it. */
function outputLayer(topology: TopologyJson): LayerJson | null {
  const { layers, output_layers: outputs } = topology.config;
  if (topology.class_name === 'Sequential') return layers.at(-1) ?? null;
  if (outputs == null || outputs.length !== 1) return null;
  return layers.find((l) => l.config.name === outputs[0][0]) ?? null;
}

/** Whether any layer other than `name` reads the output of layer `name`. */
function isRead(layers: LayerJson[], name: string): boolean {
  return layers.some((l) => JSON.stringify(l.inbound_nodes ?? []).includes(JSON.stringify(name)));
}

/**
 * The model without its softmax output, with the same weights, and what was removed; null when
 * the model has no softmax output (it already gives logits, or has several outputs). The caller
 * owns (and disposes) the new model; `model` is left untouched.
 */
export async function logitsModel(model: tf.LayersModel): Promise<{ model: tf.LayersModel; removed: SoftmaxRemoved } | null> {
  const topology = model.toJSON(undefined, false) as unknown as TopologyJson;
  completeLayerConfigs(topology.config.layers, model);
  const last = outputLayer(topology);
  if (last == null) return null;
  let removed: SoftmaxRemoved;
  if (isSoftmaxLayer(last)) {
    const layers = topology.config.layers;
    if (topology.class_name === 'Sequential') {
      if (layers.length < 2) return null;
      layers.pop();
    } else {
      const inbound = last.inbound_nodes ?? [];
      // The softmax layer's one input becomes the model's output.
      if (inbound.length !== 1 || (inbound[0] as unknown[]).length !== 1) return null;
      const [name, node, index] = (inbound[0] as unknown[][])[0];
      topology.config.output_layers = [[name, node, index]];
      if (!isRead(layers.filter((l) => l !== last), last.config.name)) layers.splice(layers.indexOf(last), 1);
    }
    removed = { layer: last.config.name, how: 'removed-layer' };
  } else if (last.config.activation === 'softmax') {
    last.config.activation = 'linear';
    removed = { layer: last.config.name, how: 'linear-activation' };
  } else {
    return null;
  }
  const logits = await tf.models.modelFromJSON(topology as never);
  for (const layer of logits.layers) {
    const source = model.getLayer(layer.name);
    source.weights.forEach((w, i) => layer.weights[i].write(w.read()));
  }
  return { model: logits, removed };
}
