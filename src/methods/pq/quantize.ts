/**
 * Product quantization of a trained model, layer by layer from the bottom (Stock et al., ICLR
 * 2020; docs/methods/pq.md): each Conv2D / Dense kernel is cut into sub-vectors, and its codebook
 * and assignments are learned by the k-means of kmeans.ts on the layer's input activations as
 * the already-quantized layers below produce them. The result is an ordinary lowbit quantized
 * model (QuantConv2D / QuantDense with `pq` kernel quantizers, float activations) made by
 * `quantizeModel`; fine-tuning is the method's (method.ts).
 */
import * as tf from '../../backend/tf.js';
import { batches, DatasetSplits, disposeBatch, shuffledOrder } from '../../data/dataset.js';
import { LowbitError } from '../../errors.js';
import { isQuantLayer, QuantLayer } from '../../layers/quant-layers.js';
import { LayerOverride, QuantizeConfig, quantizeModel } from '../../layers/quantize-model.js';
import { kernelSubvectors, PqSpec } from '../../quantizers/pq.js';
import { Rng } from '../../random.js';
import { metricError, weightedKMeans } from './kmeans.js';

export interface PqOptions {
  /** d for Dense layers and 1×1 convs (the authors' default: 4). */
  block?: number;
  /** d for k×k convs (k > 1); default k·k, one input channel's patch (the authors' 9 for 3×3). */
  blockConv?: number | null;
  /** K, codewords per layer (a power of two; default 256). Clamped per layer as the authors do (K < sub-vectors / 4). */
  codebook?: number;
  /** E/M iterations of the k-means (default 20; the authors' default is 100). */
  kmeansIters?: number;
  /** 'output': k-means weighted by the layer's inputs (the paper); 'weight': plain k-means on the weights (the baseline). */
  weighting?: 'output' | 'weight';
  /** Calibration images, a seeded sample of the training set (default 1024, the authors' n_activations). */
  calibration?: number;
  /** Keep the first Conv2D / Dense layer in float, as the paper does (default true). */
  keepFirstFloat?: boolean;
  /** Seeds the calibration sample and the k-means initialisation (default 0). */
  seed?: number;
}

/** What product quantization did to one layer (for the run record). */
export interface PqLayerReport {
  name: string;
  /** d, the sub-vector length. */
  dim: number;
  /** K after the clamp. */
  size: number;
  /** N, sub-vectors. */
  count: number;
  /** log2 K / d. */
  indexBitsPerWeight: number;
  /** (N·log2 K + 32·K·d) / weights: indices plus the float32 codebook, amortised. */
  bitsPerWeight: number;
  /** Output error left, Σ_j (w_j − ĉ_j)ᵀH(w_j − ĉ_j) / Σ_j w_jᵀHw_j (H from the calibration inputs, pooled over blocks). */
  relativeOutputError: number;
  /** The same ratio with H = I: the weight error. */
  relativeWeightError: number;
  /** Empty clusters re-seeded during the k-means. */
  splits: number;
}

export interface PqReport {
  weighting: 'output' | 'weight';
  calibrationImages: number;
  kmeansIters: number;
  /** Layers kept in float (the first, and any not Conv2D / Dense). */
  floatLayers: string[];
  layers: PqLayerReport[];
  /** Over the product-quantized kernels: (Σ N·log2 K + 32·K·d) / Σ weights. */
  bitsPerWeight: number;
}

const PQ_CLASSES = ['Conv2D', 'Dense'];

export function checkPqOptions(o: PqOptions): void {
  const whole = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min;
  if (o.block != null && !whole(o.block, 1)) throw new LowbitError(`--pq-block must be a whole number ≥ 1 (the sub-vector length d, e.g. 4 or 8), got ${o.block}`);
  if (o.blockConv != null && !whole(o.blockConv, 1)) throw new LowbitError(`--pq-block-conv must be a whole number ≥ 1 (e.g. 9 for 3×3 kernels), got ${o.blockConv}`);
  if (o.codebook != null && !(whole(o.codebook, 2) && (o.codebook & (o.codebook - 1)) === 0 && o.codebook <= 65536)) {
    throw new LowbitError(`--pq-codebook must be a power of two from 2 to 65536 (indices are stored at log2 K bits), got ${o.codebook}`);
  }
  if (o.kmeansIters != null && !whole(o.kmeansIters, 1)) throw new LowbitError(`--pq-kmeans-iters must be a whole number ≥ 1, got ${o.kmeansIters}`);
  if (o.calibration != null && !whole(o.calibration, 1)) throw new LowbitError(`--calibration must be a whole number ≥ 1, got ${o.calibration}`);
  if (o.weighting != null && o.weighting !== 'output' && o.weighting !== 'weight') throw new LowbitError(`--pq-weighting must be output or weight, got ${o.weighting}`);
}

/** A layer's plan: d, K and N for its kernel shape (TF layout). */
export function pqLayerSpec(className: string, kernelShape: number[], o: Pick<PqOptions, 'block' | 'blockConv' | 'codebook'>): PqSpec {
  const outputs = kernelShape[kernelShape.length - 1];
  const weights = kernelShape.reduce((a, b) => a * b, 1);
  const row = weights / outputs;
  const area = className === 'Conv2D' ? kernelShape[0] * kernelShape[1] : 1;
  const wanted = area > 1 ? o.blockConv ?? area : o.block ?? 4;
  // Sub-vectors stay inside one output channel's row: the largest divisor of the row ≤ the asked d.
  let dim = Math.min(wanted, row);
  while (row % dim !== 0) dim--;
  const count = weights / dim;
  // The authors' clamp (quantize.py): K at most the largest power of two below N / 4.
  let size = o.codebook ?? 256;
  while (size > 1 && size >= count / 4) size /= 2;
  return { kind: 'pq', dim, size, count };
}

/** The linear part's inputs as rows of the kernel's cut: [rows, C_in·kh·kw] in (C_in, ky, kx) order for a conv, [rows, in] for Dense. */
function unrolledInputs(layer: tf.layers.Layer, x: tf.Tensor): tf.Tensor2D {
  return tf.tidy(() => {
    if (layer.getClassName() !== 'QuantConv2D') return tf.reshape(x, [-1, x.shape[x.rank - 1]]) as tf.Tensor2D;
    const c = layer.getConfig() as { kernelSize: number | number[]; strides?: number | number[]; padding?: string; dilationRate?: number | number[] };
    const pair = (v: number | number[] | undefined, f: number) => (v == null ? [f, f] : typeof v === 'number' ? [v, v] : [v[0], v[1] ?? v[0]]);
    const [kh, kw] = pair(c.kernelSize, 1);
    const [sh, sw] = pair(c.strides, 1);
    const [dh, dw] = pair(c.dilationRate, 1);
    let input = x as tf.Tensor4D;
    const [, h, w, cin] = input.shape;
    const effH = (kh - 1) * dh + 1;
    const effW = (kw - 1) * dw + 1;
    let oh: number;
    let ow: number;
    if (c.padding === 'same') {
      oh = Math.ceil(h / sh);
      ow = Math.ceil(w / sw);
      const padH = Math.max((oh - 1) * sh + effH - h, 0);
      const padW = Math.max((ow - 1) * sw + effW - w, 0);
      input = tf.pad(input, [[0, 0], [Math.floor(padH / 2), padH - Math.floor(padH / 2)], [Math.floor(padW / 2), padW - Math.floor(padW / 2)], [0, 0]]);
    } else {
      oh = Math.ceil((h - effH + 1) / sh);
      ow = Math.ceil((w - effW + 1) / sw);
    }
    const n = input.shape[0];
    const taps: tf.Tensor[] = [];
    for (let ky = 0; ky < kh; ky++) {
      for (let kx = 0; kx < kw; kx++) {
        taps.push(tf.stridedSlice(input, [0, ky * dh, kx * dw, 0], [n, ky * dh + (oh - 1) * sh + 1, kx * dw + (ow - 1) * sw + 1, cin], [1, sh, sw, 1]));
      }
    }
    // [n, oh, ow, cin, kh·kw]: tap (ky, kx) last, so a row reads (C_in, ky, kx) like the cut kernel.
    return tf.reshape(tf.stack(taps, 4), [-1, cin * kh * kw]) as tf.Tensor2D;
  });
}

/**
 * H = X̃ᵀX̃ [d, d] of a layer on the calibration images, X̃ its unrolled inputs cut into d-column
 * blocks and stacked, the inputs computed by `model` as it stands (layers below already quantized).
 */
async function inputMetric(model: tf.LayersModel, layer: QuantLayer, dim: number, data: DatasetSplits, order: Int32Array): Promise<Float64Array> {
  const probe = tf.model({ inputs: model.inputs, outputs: layer.input as tf.SymbolicTensor });
  const h = new Float64Array(dim * dim);
  for (const b of batches(data.train, data.shape, data.numClasses, 64, order)) {
    const part = tf.tidy(() => {
      const rows = tf.reshape(unrolledInputs(layer, probe.predict(b.x) as tf.Tensor), [-1, dim]);
      return tf.matMul(rows, rows, true, false);
    });
    (part.dataSync() as Float32Array).forEach((v, i) => { h[i] += v; });
    part.dispose();
    disposeBatch(b);
  }
  return h;
}

/**
 * The teacher product-quantized: `productQuantize(teacher, data, { block: 8, codebook: 256 })`.
 * The teacher is left untouched; the caller owns the returned model.
 */
export async function productQuantize(teacher: tf.LayersModel, data: DatasetSplits, options: PqOptions = {}): Promise<{ model: tf.LayersModel; config: QuantizeConfig; report: PqReport }> {
  checkPqOptions(options);
  const o = { block: 4, blockConv: null, codebook: 256, kmeansIters: 20, weighting: 'output' as const, calibration: 1024, keepFirstFloat: true, seed: 0, ...options };
  const candidates = teacher.layers.filter((l) => PQ_CLASSES.includes(l.getClassName()));
  if (candidates.length === 0) throw new LowbitError(`${teacher.name} has no Conv2D or Dense layer to product-quantize`);
  const planned = o.keepFirstFloat ? candidates.slice(1) : candidates;
  if (planned.length === 0) throw new LowbitError(`${teacher.name} has one Conv2D/Dense layer and the first is kept in float: pass --pq-quantize-first to quantize it`);
  const overrides: LayerOverride[] = planned.map((l) => ({ match: l.name, kernelQuantizer: pqLayerSpec(l.getClassName(), l.weights[0].shape as number[], o) }));
  const config: QuantizeConfig = { kernelQuantizer: null, inputQuantizer: null, keepFirstAndLastFloat: false, overrides };
  const model = await quantizeModel(teacher, config);
  try {
    const layers = planned.map((l) => model.getLayer(l.name)).filter(isQuantLayer);
    for (const l of layers) l.quantizationEnabled = false; // float until its turn
    const n = Math.min(o.calibration, data.train.count);
    const order = shuffledOrder(data.train.count, new Rng(o.seed)).subarray(0, n);
    const reports: PqLayerReport[] = [];
    for (const [i, layer] of layers.entries()) {
      const spec = layer.kernelQuantizerSpec as PqSpec;
      const d = spec.dim;
      const h = await inputMetric(model, layer, d, data, order);
      const w = Float64Array.from(tf.tidy(() => kernelSubvectors(layer.latentKernel.read(), d).dataSync() as Float32Array));
      const km = weightedKMeans(w, d, o.weighting === 'output' ? h : null, spec.size, o.kmeansIters, (o.seed * 1000003 + i * 7919) >>> 0);
      const [codebook, indices] = layer.quantizerWeights('kernel');
      tf.tidy(() => {
        codebook.write(tf.tensor2d(Float32Array.from(km.codebook), [spec.size, d]));
        indices.write(tf.tensor1d(Float32Array.from(km.assignments)));
      });
      layer.quantizationEnabled = true;
      const zeros = new Int32Array(spec.count);
      const ratio = (hm: Float64Array | null) => metricError(w, d, hm, km.codebook, km.assignments) / Math.max(metricError(w, d, hm, new Float64Array(d), zeros), 1e-30);
      const weights = spec.count * d;
      reports.push({
        name: layer.name, dim: d, size: spec.size, count: spec.count, indexBitsPerWeight: Math.log2(spec.size) / d,
        bitsPerWeight: (spec.count * Math.log2(spec.size) + 32 * spec.size * d) / weights,
        relativeOutputError: ratio(h), relativeWeightError: ratio(null), splits: km.splits,
      });
    }
    for (const l of layers) l.setTransform(null);
    const quantized = new Set(planned.map((l) => l.name));
    return {
      model, config,
      report: {
        weighting: o.weighting, calibrationImages: n, kmeansIters: o.kmeansIters,
        floatLayers: teacher.layers.filter((l) => l.weights.length > 0 && /Conv|Dense/.test(l.getClassName()) && !quantized.has(l.name)).map((l) => l.name),
        layers: reports,
        bitsPerWeight: reports.reduce((a, l) => a + l.bitsPerWeight * l.count * l.dim, 0) / reports.reduce((a, l) => a + l.count * l.dim, 0),
      },
    };
  } catch (e) {
    model.dispose();
    throw e;
  }
}
