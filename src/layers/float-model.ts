/**
 * floatModel(model): the float model inside a quantized lowbit model — the inverse of
 * quantizeModel's layer swap. QuantConv2D, QuantDepthwiseConv2D, QuantDense, QuantConv1D and
 * QuantConv2DTranspose become Conv2D, DepthwiseConv2D, Dense, Conv1D and Conv2DTranspose with the
 * quantized layer's latent float kernel and bias; the quantizers and their parameters are dropped;
 * a QuantActivation becomes a linear Activation. It lets a quantized model, e.g. a PTQ model with
 * its BatchNorms folded and its biases corrected, be the starting point of a QAT method
 * (docs/methods/ptq.md, "Starting QAT from a PTQ model").
 */
import * as tf from '../backend/tf.js';
import { ensureBackend } from '../backend/index.js';
import './quant-layers.js';
import './rprelu.js';

const FLOAT_CLASS: Record<string, string> = {
  QuantConv2D: 'Conv2D', QuantDepthwiseConv2D: 'DepthwiseConv2D', QuantDense: 'Dense', QuantConv1D: 'Conv1D', QuantConv2DTranspose: 'Conv2DTranspose',
};

interface LayerJson { class_name: string; config: Record<string, unknown> & { name: string } }

/** The float copy of `model` and the layers that were quantized, or null when no layer is (the model is float already). */
export async function floatModel(model: tf.LayersModel): Promise<{ model: tf.LayersModel; layers: string[] } | null> {
  await ensureBackend();
  const topology = model.toJSON(undefined, false) as unknown as { config: { layers: LayerJson[] } };
  const converted: string[] = [];
  for (const layer of topology.config.layers) {
    const c = layer.config;
    if (layer.class_name === 'QuantActivation') {
      layer.class_name = 'Activation';
      layer.config = { name: c.name, trainable: c.trainable, ...(c.dtype != null ? { dtype: c.dtype } : {}), activation: 'linear' };
      converted.push(c.name);
      continue;
    }
    const cls = FLOAT_CLASS[layer.class_name];
    if (cls == null) continue;
    layer.class_name = cls;
    delete c.kernel_quantizer;
    delete c.input_quantizer;
    converted.push(c.name);
  }
  if (converted.length === 0) return null;
  const float = await tf.models.modelFromJSON(topology as unknown as tf.io.ModelJSON['modelTopology'] as never);
  for (const source of model.layers) {
    const target = float.getLayer(source.name);
    const className = source.getClassName();
    // A quantized layer's kernel and bias come first; its quantizer parameters follow and are dropped.
    target.weights.forEach((w, i) => {
      const value = source.weights[i];
      // QuantConv2DTranspose keeps its kernel as [kh, kw, in, out]; Keras's Conv2DTranspose as [kh, kw, out, in].
      if (i === 0 && className === 'QuantConv2DTranspose') tf.tidy(() => { w.write(tf.transpose(value.read(), [0, 1, 3, 2])); });
      else w.write(value.read());
    });
  }
  return { model: float, layers: converted };
}
