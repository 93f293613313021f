/**
 * lowbit's packed format: a TF.js-style manifest (`packed.json`) + `packed.bin` in which every
 * quantized kernel whose quantizer reads out a fixed grid (binary, ternary, DoReFa, uniform, LSQ,
 * PACT, RQ/SRQ, or a registered kind's uniform grid or codebook) is stored as its integer codes at
 * the real bit-width (LSB-first bit packing) with its scale and zero point — or its codebook; a
 * product-quantized kernel (pq) as one log2 K-bit code per sub-vector and its K×d codebook —
 * and every other weight as float32. `unpackModel` rebuilds a runnable TF.js model whose kernels
 * hold the effective (quantized) values; input quantizers are kept, and the kernel quantizers of
 * coded kernels are dropped (the values are already on their grid; re-quantizing DoReFa is not idempotent).
 * Multi-bit binary kernels (ALQ) are stored as one bit plane per basis with their α's.
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { isQuantLayer } from '../layers/quant-layers.js';
import { lowest, PACKED_FORMAT, PackedManifest, PackedWeight, packBits, packChannelBits, unpackCodes } from './packed-format.js';
import { codeValue, gridCodes, IntCodes, packPlanes, subvectorValues, unpackPlanes } from './quant-codes.js';

export { PACKED_FORMAT, packBits, unpackBits, unpackCodes } from './packed-format.js';
export type { PackedManifest, PackedWeight } from './packed-format.js';

/** The model as a packed manifest and its weight bytes. */
export function packModel(model: tf.LayersModel): { manifest: PackedManifest; data: Uint8Array } {
  const chunks: Uint8Array[] = [];
  const weights: PackedWeight[] = [];
  const coded = new Set<string>();
  let offset = 0;
  const push = (w: Omit<PackedWeight, 'offset' | 'byteLength'>, bytes: Uint8Array) => {
    weights.push({ ...w, offset, byteLength: bytes.byteLength });
    chunks.push(bytes);
    offset += bytes.byteLength;
  };
  for (const layer of model.layers) {
    // A coded kernel drops its quantizer, and with it the quantizer's declared learned parameters.
    const quant = isQuantLayer(layer) ? layer : null;
    const grid = quant?.kernelGrid() ?? null;
    const skip = new Set(grid ? quant!.quantizerWeights('kernel') : []);
    if (grid) coded.add(layer.name);
    layer.weights.forEach((w, i) => {
      if (skip.has(w)) return;
      const shape = w.shape as number[];
      const isKernel = i === 0 && quant != null;
      const values = tf.tidy(() => (isKernel ? quant!.quantizedKernel() : w.read()).dataSync() as Float32Array);
      const codes = isKernel && grid ? gridCodes(grid, values, quant!.kernelColumns()) : null;
      if (codes?.multibit) {
        const { bases, alphas } = codes.multibit;
        const planes = packPlanes(codes.codes, bases, codes.bits);
        const tail = new Float32Array(bases.length + alphas.length);
        tail.set(Float32Array.from(bases));
        tail.set(alphas, bases.length);
        const bytes = new Uint8Array(planes.byteLength + tail.byteLength);
        bytes.set(planes);
        bytes.set(new Uint8Array(tail.buffer), planes.byteLength);
        push({ name: w.name, shape, storage: 'planes', bits: codes.bits, planes: { channels: bases.length } }, bytes);
      } else if (codes) {
        const minCode = lowest(codes.bits, codes.signed);
        const packed = codes.channelBits ? packChannelBits(codes.codes, codes.channelBits, codes.signed) : packBits(codes.codes.map((c) => c - minCode), codes.bits);
        const tail = codes.codebook ?? codes.channelScales;
        const bytes = tail ? new Uint8Array(packed.byteLength + tail.byteLength) : packed;
        if (tail) { bytes.set(packed); bytes.set(new Uint8Array(tail.buffer, tail.byteOffset, tail.byteLength), packed.byteLength); }
        push({ name: w.name, shape, storage: 'codes', bits: codes.bits, scale: codes.scale, zeroPoint: codes.zeroPoint, minCode,
          ...(codes.channelScales ? { channelScales: codes.channelScales.length } : {}),
          ...(codes.channelBits ? { channelBits: Array.from(codes.channelBits) } : {}),
          ...(codes.codebook ? { codebook: codes.codebook.length, codebookSize: codes.codebookSize } : {}),
          ...(codes.dim != null && codes.dim > 1 ? { dim: codes.dim, order: codes.order } : {}) }, bytes);
      } else {
        push({ name: w.name, shape, storage: 'float32' }, new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)));
      }
    });
  }
  const data = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) { data.set(c, at); at += c.byteLength; }
  const topology = model.toJSON(undefined, false) as unknown as { config: { layers: Array<{ config: Record<string, unknown> & { name: string } }> } };
  // Integer-coded kernels are stored on their grid: drop their kernel quantizers (DoReFa's is not
  // idempotent); other kernels keep theirs (uniform, LSQ and ternary re-quantize to the same values).
  for (const l of topology.config.layers) if (coded.has(l.config.name)) l.config.kernel_quantizer = null;
  return { manifest: { format: PACKED_FORMAT, version: 1, modelTopology: topology, weights }, data };
}

/** Rebuilds a runnable model from a packed manifest and its bytes; errors name what is wrong. */
export async function unpackModel(manifest: PackedManifest, data: Uint8Array, where = 'packed model'): Promise<tf.LayersModel> {
  if (manifest?.format !== PACKED_FORMAT) throw new LowbitError(`${where}: not a lowbit packed manifest (format is ${JSON.stringify(manifest?.format)})`);
  const needed = manifest.weights.reduce((n, w) => Math.max(n, w.offset + w.byteLength), 0);
  if (data.byteLength < needed) throw new LowbitError(`${where}: weights file is truncated (${data.byteLength} bytes, the manifest needs ${needed})`);
  const model = await tf.models.modelFromJSON(manifest.modelTopology as never);
  const tensors = manifest.weights.map((w) => {
    const count = w.shape.reduce((a, b) => a * b, 1);
    const bytes = data.subarray(w.offset, w.offset + w.byteLength);
    if (w.storage === 'float32') {
      const copy = new Uint8Array(bytes.byteLength); // aligned copy (a Buffer view may sit at any offset)
      copy.set(bytes);
      return tf.tensor(new Float32Array(copy.buffer), w.shape);
    }
    if (w.storage === 'planes') {
      const channels = w.planes!.channels;
      const tail = new Uint8Array(4 * channels * (1 + w.bits!)); // aligned copy of the bases and α's after the planes
      tail.set(bytes.subarray(bytes.byteLength - tail.byteLength));
      const floats = new Float32Array(tail.buffer);
      const bases = Int32Array.from(floats.subarray(0, channels));
      const multibit = { bases, alphas: floats.slice(channels) };
      const codes = unpackPlanes(bytes, count, bases, w.bits!);
      return tf.tensor(Float32Array.from(codes, (code, i) => codeValue({ scale: 1, zeroPoint: 0, bits: w.bits!, multibit }, code, i)), w.shape);
    }
    const dim = w.dim ?? 1;
    const codes = unpackCodes(w, bytes, count / dim);
    const n = w.codebook ?? w.channelScales ?? 0;
    const tail = new Uint8Array(4 * n); // aligned copy of the float32 scales or codebook after the codes
    tail.set(bytes.subarray(bytes.byteLength - 4 * n));
    const floats = n > 0 ? new Float32Array(tail.buffer) : undefined;
    const c: Pick<IntCodes, 'scale' | 'zeroPoint' | 'channelScales' | 'codebook' | 'codebookSize'> = w.codebook != null
      ? { scale: 1, zeroPoint: 0, codebook: floats, codebookSize: w.codebookSize }
      : { scale: w.scale!, zeroPoint: w.zeroPoint!, channelScales: floats };
    const values = dim > 1 ? subvectorValues(floats!, codes, dim, w.order!, w.shape)
      : Float32Array.from(codes, (code, i) => codeValue(c, code, i));
    return tf.tensor(values, w.shape);
  });
  if (tensors.length !== model.weights.length) throw new LowbitError(`${where}: ${tensors.length} weights in the manifest, the model has ${model.weights.length}`);
  // Packed in layer order (model.weights lists trainable weights first), so set them layer by layer.
  let next = 0;
  for (const layer of model.layers) {
    const n = layer.weights.length;
    if (n > 0) layer.setWeights(tensors.slice(next, next + n));
    next += n;
  }
  tf.dispose(tensors);
  return model;
}
