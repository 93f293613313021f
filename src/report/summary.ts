/**
 * summary(model): per layer the kernel bits, parameter count, bytes at that precision, MACs per
 * image and the share of 1-bit MACs; totals and the compression ratio against float32 — in the
 * spirit of Larq's model summary. Bytes count every quantized kernel at its bit-width plus the
 * float32 numbers of its grid read-out (one scale per tensor or per output channel, or the
 * codebook's values; one scale when the quantizer reads out no fixed grid) — a product-quantized
 * kernel (pq) at log2 K / d bits per weight plus its K×d codebook; everything else
 * (biases, BatchNorm, PReLU, learned quantizer parameters) as float32.
 */
import * as tf from '../backend/tf.js';
import { isQuantLayer } from '../layers/quant-layers.js';
import { gridCodeBits, gridFloats } from '../quantizers/kind.js';


export interface LayerSummary {
  name: string;
  className: string;
  kernelBits: number;
  inputBits: number;
  params: number;
  bytes: number;
  floatBytes: number;
  macs: number;
}

export interface ModelSummary {
  layers: LayerSummary[];
  totalParams: number;
  totalBytes: number;
  floatBytes: number;
  compression: number;
  totalMacs: number;
  /** Share of MACs whose weight is 1-bit. */
  binaryWeightMacShare: number;
  /** Share of MACs whose weight and input are both 1-bit (XNOR-popcount MACs). */
  binaryMacShare: number;
}

function kernelMacs(layer: tf.layers.Layer, kernelShape: number[]): number {
  const prod = (a: ReadonlyArray<number | null>) => a.reduce<number>((x, d) => x * (d ?? 1), 1);
  const first = (s: unknown) => (Array.isArray(s) && Array.isArray(s[0]) ? s[0] : s) as Array<number | null>;
  const out = first(layer.outputShape);
  const cls = layer.getClassName();
  let macs: number;
  if (/LSTM|GRU|RNN/.test(cls)) {
    // Per time step: the input kernel and the recurrent kernel, each one MAC per weight.
    const input = layer.input as tf.SymbolicTensor | tf.SymbolicTensor[];
    const inShape = (Array.isArray(input) ? input[0] : input).shape;
    const recurrent = layer.weights.find((w) => /recurrent_kernel$/.test(w.originalName));
    macs = (inShape.length === 3 ? inShape[1] ?? 1 : 1) * (prod(kernelShape) + (recurrent ? prod(recurrent.shape) : 0));
  } else if (/Conv2DTranspose/.test(cls)) {
    // A transposed conv: one MAC per kernel weight at each input position.
    const input = layer.input as tf.SymbolicTensor | tf.SymbolicTensor[];
    macs = prod((Array.isArray(input) ? input[0] : input).shape.slice(1, -1)) * prod(kernelShape);
  } else {
    // Dense, Conv1D, Conv2D, DepthwiseConv2D: one MAC per kernel weight at each output position
    // (a depthwise kernel [kh, kw, cin, multiplier] has exactly the MACs per position it has weights).
    macs = prod(out.slice(1, -1)) * prod(kernelShape);
  }
  return Number.isFinite(macs) ? macs : 0;
}

export function summary(model: tf.LayersModel): ModelSummary {
  const layers: LayerSummary[] = [];
  // Product-quantized kernels can average 1 bit per weight without being binary (no XNOR path).
  const notBinary = new Set<string>();
  for (const layer of model.layers) {
    const kernel = layer.weights.find((w) => /kernel$/.test(w.originalName));
    const specBits = isQuantLayer(layer) ? layer.kernelBits : 32;
    const inputBits = isQuantLayer(layer) ? layer.inputBits : 32;
    const grid = specBits < 32 && isQuantLayer(layer) ? layer.kernelGrid() : null;
    // A read-out that carries its own codes and codebook (product quantization) stores the kernel
    // quantizer's parameters: they are counted as the kernel's bits and grid floats, not as parameters.
    const stored = grid?.type === 'codebook' && grid.codes && isQuantLayer(layer)
      ? layer.quantizerWeights('kernel').reduce((n, w) => n + (w.shape as number[]).reduce((a, b) => a * b, 1), 0) : 0;
    const params = layer.countParams() - stored;
    if (params === 0) continue;
    const kernelShape = (kernel?.shape ?? []) as number[];
    const kernelParams = kernel ? kernelShape.reduce((a, b) => a * b, 1) : 0;
    const rest = params - kernelParams;
    const scaleBytes = specBits < 32 && isQuantLayer(layer) ? 4 * (grid ? gridFloats(grid) : 1) : 0;
    if (grid?.type === 'codebook' && (grid.dim ?? 1) > 1) notBinary.add(layer.name);
    // Multi-bit bases (ALQ) and per-channel bit-widths (PTQ's bit allocation) take Σ bits × values
    // per channel; product-quantized kernels (PQ) one
    // code per sub-vector: the average bits per weight may be fractional.
    const codeBits = grid?.type === 'multibit' || (grid?.type === 'uniform' && grid.channelBits) ? gridCodeBits(grid, kernelParams)
      : grid?.type === 'codebook' && grid.codes ? grid.codes.length * grid.bits : kernelParams * specBits;
    const kernelBits = (grid?.type === 'multibit' || (grid?.type === 'codebook' && grid.codes != null) || (grid?.type === 'uniform' && grid.channelBits)) && kernelParams > 0 ? codeBits / kernelParams : specBits;
    layers.push({
      name: layer.name, className: layer.getClassName(), kernelBits, inputBits, params,
      bytes: Math.ceil(codeBits / 8) + scaleBytes + rest * 4,
      floatBytes: params * 4,
      macs: kernel ? kernelMacs(layer, kernelShape) : 0,
    });
  }
  const sum = (f: (l: LayerSummary) => number) => layers.reduce((a, l) => a + f(l), 0);
  const totalMacs = sum((l) => l.macs);
  const totalBytes = sum((l) => l.bytes);
  const floatBytes = sum((l) => l.floatBytes);
  return {
    layers, totalParams: sum((l) => l.params), totalBytes, floatBytes, compression: floatBytes / totalBytes, totalMacs,
    binaryWeightMacShare: totalMacs ? sum((l) => (l.kernelBits === 1 && !notBinary.has(l.name) ? l.macs : 0)) / totalMacs : 0,
    binaryMacShare: totalMacs ? sum((l) => (l.kernelBits === 1 && l.inputBits === 1 && !notBinary.has(l.name) ? l.macs : 0)) / totalMacs : 0,
  };
}

const kb = (b: number) => (b / 1024).toFixed(1);

/** A plain-text table of a summary. */
export function formatSummary(s: ModelSummary, title = 'model'): string {
  const head = ['layer', 'class', 'w bits', 'in bits', 'params', 'KiB', 'float KiB', 'MACs'];
  const bits = (b: number) => (Number.isInteger(b) ? String(b) : String(Number(b.toFixed(3)))); // multi-bit bases and product quantization: fractional bits per weight
  const rows = s.layers.map((l) => [l.name, l.className, bits(l.kernelBits), String(l.inputBits), String(l.params), kb(l.bytes), kb(l.floatBytes), String(l.macs)]);
  rows.push(['total', '', '', '', String(s.totalParams), kb(s.totalBytes), kb(s.floatBytes), String(s.totalMacs)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i < 2 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [`${title}`, line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line),
    `compression vs float32: ${s.compression.toFixed(2)}×   1-bit-weight MACs: ${(s.binaryWeightMacShare * 100).toFixed(1)}%   binary (1-bit weight and input) MACs: ${(s.binaryMacShare * 100).toFixed(1)}%`].join('\n');
}
