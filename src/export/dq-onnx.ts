/**
 * The DQ auto-encoder (methods/dq) as two ONNX models (opset 13):
 * - encoder: image [N, 28, 28, 1] (NHWC, like TF.js) → codes per level, int64 [N, H, W, M],
 *   bottom level first (`dq_b_codes`, then `dq_t_codes`); depthwise VQ is MatMul + ArgMin
 *   against each group's codebook;
 * - decoder: those codes → the mixture parameters [N, 32, 32, 3·mixtures] (NHWC, before the
 *   28×28 crop), through a Gather of the codewords.
 * The codes are what a DQ model transmits; the encoder and decoder run anywhere ONNX runs.
 */
import * as tf from '../backend/tf.js';
import { decoderModel, DqModelOptions, quantizersOf } from '../methods/dq/model.js';
import { DT, GraphIO, OnnxModel } from './onnx-builder.js';
import { Exporter, translate, Value } from './onnx-export.js';

type Sym = tf.SymbolicTensor;
const dims = (shape: Array<number | null>) => shape.map((d) => d ?? 'N');

export function exportDqOnnx(model: tf.LayersModel, options: DqModelOptions): { encoder: OnnxModel; decoder: OnnxModel } {
  const quantizers = quantizersOf(model);
  const codeShape = (q: (typeof quantizers)[number]) => [...((q.input as Sym).shape.slice(0, 3) as Array<number | null>), q.groups];

  // Encoder: the layers up to the quantizers; their code tensors are the outputs.
  const upToCodes = tf.model({ inputs: model.inputs, outputs: quantizers.map((q) => (q.output as Sym[])[0]) });
  const enc = new Exporter('float');
  const input = enc.g.name('input');
  const values = new Map<string, Value>([[model.inputs[0].name, { name: enc.g.op('Transpose', [input], { perm: [0, 3, 1, 2] }), layout: 'nchw' }]]);
  translate(upToCodes, enc, values);
  const codeOutputs: GraphIO[] = quantizers.map((q) => ({
    name: enc.g.op('Identity', [enc.codes.get(q.name)!], {}, { output: `${q.name}_codes` }), shape: dims(codeShape(q)), elemType: DT.INT64,
  }));
  const encoder = enc.g.build({ name: input, shape: dims(model.inputs[0].shape) }, codeOutputs, 13);

  // Decoder: codes → codewords → the decoding path (the model's own layers, re-applied).
  const decoding = decoderModel(model, options);
  const dec = new Exporter('float');
  const inputs: GraphIO[] = [];
  const decValues = new Map<string, Value>();
  quantizers.forEach((q, i) => {
    const name = dec.g.name(`${q.name}_codes`);
    inputs.push({ name, shape: dims(codeShape(q)), elemType: DT.INT64 });
    const codebook = q.weights.find((w) => w.originalName.endsWith('codebook'))!.read() as tf.Tensor3D;
    decValues.set(decoding.inputs[i].name, { name: dec.codeLookup(name, q.name, codebook), layout: 'nchw' });
  });
  translate(decoding, dec, decValues);
  const params = decValues.get((decoding.outputs[0] as Sym).name)!;
  const out = dec.g.op('Identity', [dec.g.op('Transpose', [params.name], { perm: [0, 2, 3, 1] })], {}, { output: 'params' });
  const decoder = dec.g.build(inputs, { name: out, shape: dims(decoding.outputs[0].shape as Array<number | null>) }, 13);
  return { encoder, decoder };
}
