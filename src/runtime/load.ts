/**
 * Reading a packed model (src/export/packed.ts) for the runtime: checks the manifest, the byte
 * length and every layer before any work, decodes weights (integer codes kept next to their
 * dequantized values), and lists the layers with their inputs in topological order.
 */
import { LowbitError } from '../errors.js';
import { PACKED_FORMAT, PackedManifest, unpackCodes } from '../export/packed-format.js';
import type { IntCodes } from '../export/quant-codes.js';
import { codeValue } from '../export/quant-codes.js';
import { decodePlanes } from './multibit.js';

/** A packed model in memory: the parsed `packed.json` and the bytes of `packed.bin`. */
export interface PackedModel {
  manifest: PackedManifest;
  data: Uint8Array;
}

/** One weight: its values as TF.js uses them (TF layout), and its integer codes when stored as codes. */
export interface RuntimeWeight {
  /** The weight's own name inside its layer ('kernel', 'bias', 'moving_mean', 'input_rsign_threshold', …). */
  base: string;
  shape: number[];
  values: Float32Array;
  codes: IntCodes | null;
}

export type Config = Record<string, unknown>;

/** A layer of the topology with the layers that feed it. */
export interface LayerEntry {
  cls: string;
  name: string;
  config: Config;
  inputs: string[];
  weights: RuntimeWeight[];
}

/** The layer classes the runtime runs. */
export const RUNTIME_LAYERS: ReadonlySet<string> = new Set(['InputLayer', 'Conv2D', 'QuantConv2D', 'DepthwiseConv2D', 'QuantDepthwiseConv2D',
  'Dense', 'QuantDense', 'BatchNormalization', 'ReLU', 'Activation', 'PReLU', 'RPReLU', 'QuantActivation', 'MaxPooling2D',
  'AveragePooling2D', 'GlobalAveragePooling2D', 'Add', 'Concatenate', 'Flatten', 'Softmax', 'Dropout']);

interface TopologyLayer { class_name: string; config: Config & { name: string }; inbound_nodes?: unknown[] }

/** The weight's name inside its layer: the last path segment without TF.js's `_N` uniqueness suffix. */
function baseName(name: string): string {
  return name.split('/').pop()!.replace(/_\d+$/, '');
}

/** The layer a weight belongs to: its second-to-last path segment (`conv2/kernel_1` → conv2). */
function layerOf(name: string): string {
  const parts = name.split('/');
  return parts.length >= 2 ? parts[parts.length - 2] : '';
}

function decodeWeight(w: PackedManifest['weights'][number], data: Uint8Array): RuntimeWeight {
  const count = w.shape.reduce((a, b) => a * b, 1);
  const bytes = data.subarray(w.offset, w.offset + w.byteLength);
  if (w.storage === 'float32') {
    const copy = new Uint8Array(bytes.byteLength); // aligned copy: a Buffer view may sit at any offset
    copy.set(bytes);
    return { base: baseName(w.name), shape: w.shape, values: new Float32Array(copy.buffer), codes: null };
  }
  // Multi-bit binary kernels (ALQ): bit planes, bases per channel and α's (src/runtime/multibit.ts).
  if (w.storage === 'planes') return { base: baseName(w.name), shape: w.shape, ...decodePlanes(w, bytes, count) };
  const codes = unpackCodes(w, bytes, count);
  const n = w.codebook ?? w.channelScales ?? 0;
  const tail = new Uint8Array(4 * n);
  tail.set(bytes.subarray(bytes.byteLength - 4 * n));
  const floats = n > 0 ? new Float32Array(tail.buffer) : undefined;
  const ic: IntCodes = w.codebook != null
    ? { codes, scale: 1, zeroPoint: 0, bits: w.bits!, signed: false, narrow: false, codebook: floats, codebookSize: w.codebookSize }
    : { codes, scale: w.scale!, zeroPoint: w.zeroPoint!, bits: w.bits!, signed: w.minCode! < 0, narrow: false, ...(floats ? { channelScales: floats } : {}) };
  const values = Float32Array.from(codes, (code, i) => codeValue(ic, code, i));
  return { base: baseName(w.name), shape: w.shape, values, codes: ic };
}

/**
 * Checks a packed model and lists its layers; throws one LowbitError naming the problem (not a
 * packed manifest, another format version, a truncated weights file, unsupported layers).
 */
export function readPackedModel(packed: PackedModel, where = 'packed model'): { layers: LayerEntry[]; inputShape: number[]; input: string; output: string } {
  const m = packed?.manifest;
  if (m?.format !== PACKED_FORMAT) throw new LowbitError(`${where}: not a lowbit packed manifest (format is ${JSON.stringify(m?.format)}); export it with 'lowbit export DIR --format packed'`);
  if (m.version !== 1) throw new LowbitError(`${where}: packed format version ${JSON.stringify(m.version)}, this runtime reads version 1: export the model again with this lowbit`);
  if (!(packed.data instanceof Uint8Array)) throw new LowbitError(`${where}: the weights must be a Uint8Array (the bytes of packed.bin)`);
  const needed = m.weights.reduce((n, w) => Math.max(n, w.offset + w.byteLength), 0);
  if (packed.data.byteLength < needed) throw new LowbitError(`${where}: weights file is truncated (${packed.data.byteLength} bytes, the manifest needs ${needed}); copy packed.bin again`);
  const topo = m.modelTopology as { class_name?: string; config?: unknown };
  const cfg = topo?.config as { layers?: TopologyLayer[]; input_layers?: unknown[][]; output_layers?: unknown[][] } | TopologyLayer[] | undefined;
  const list = (Array.isArray(cfg) ? cfg : cfg?.layers) as TopologyLayer[] | undefined;
  if (!Array.isArray(list) || list.length === 0) throw new LowbitError(`${where}: the manifest's modelTopology has no layers`);
  const unsupported = list.filter((l) => !RUNTIME_LAYERS.has(l.class_name));
  if (unsupported.length > 0) {
    throw new LowbitError(`${where}: the runtime cannot run ${unsupported.map((l) => `${l.config.name} (${l.class_name})`).join(', ')}; ` +
      `it runs ${[...RUNTIME_LAYERS].filter((c) => c !== 'InputLayer').join(', ')} — use unpackModel (TF.js) for this model`);
  }
  const sequential = topo.class_name === 'Sequential';
  let inputShape: number[] | null = null;
  const layers: LayerEntry[] = [];
  let next = 0;
  let input = 'input';
  let previous = input;
  for (const l of list) {
    const name = l.config.name;
    const batchShape = l.config.batch_input_shape as Array<number | null> | undefined;
    if (batchShape && inputShape == null) inputShape = batchShape.slice(1) as number[];
    if (l.class_name === 'InputLayer') { previous = input = name; continue; }
    let inputs: string[];
    if (sequential) {
      inputs = [previous];
    } else {
      const nodes = (l.inbound_nodes ?? []) as unknown[][][];
      if (nodes.length !== 1) throw new LowbitError(`${where}: layer ${name} is called ${nodes.length} times; the runtime runs layers called once`);
      inputs = nodes[0].map((t) => t[0] as string);
    }
    const weights: RuntimeWeight[] = [];
    while (next < m.weights.length && layerOf(m.weights[next].name) === name) weights.push(decodeWeight(m.weights[next++], packed.data));
    layers.push({ cls: l.class_name, name, config: l.config, inputs, weights });
    previous = name;
  }
  if (next !== m.weights.length) throw new LowbitError(`${where}: weight ${m.weights[next].name} belongs to no layer of the topology`);
  if (inputShape == null || inputShape.some((d) => typeof d !== 'number')) throw new LowbitError(`${where}: the model's input shape is not fixed (${JSON.stringify(inputShape)})`);
  const outputs = Array.isArray(cfg) ? null : cfg?.output_layers;
  if (outputs && outputs.length !== 1) throw new LowbitError(`${where}: the model has ${outputs.length} outputs; the runtime runs single-output models`);
  const output = outputs ? (outputs[0][0] as string) : layers[layers.length - 1].name;
  return { layers, inputShape, input, output };
}
