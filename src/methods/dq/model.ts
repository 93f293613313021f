/**
 * The hierarchical DQ auto-encoder (dq.md §2, scaled down per §6.2): VQ-VAE-2 blocks
 * (rosinality/vq-vae-2-pytorch, which the authors' code adapts), 28×28 inputs zero-padded to
 * 32×32, a bottom level of 8×8 codes and (with 2 levels) a top level of 4×4 codes, a
 * DepthwiseQuantizer per level and a discretized logistic mixture head.
 *
 *   encoder_b: 4×4/2 conv (C/2) → ReLU → 4×4/2 conv (C) → ReLU → 3×3 conv (C) → ResBlock → ReLU   32 → 8
 *   encoder_t: 4×4/2 conv (C/2) → ReLU → 3×3 conv (C) → ResBlock → ReLU                          8 → 4
 *   top:     z_t = 1×1 conv(h_t) → DQ_t → q_t;   dec_t(q_t): 3×3 conv → ResBlock → ReLU → 4×4/2 transposed conv → 8×8×C
 *   bottom:  z_b = 1×1 conv(concat(h_b, dec_t(q_t))) → DQ_b → q_b
 *   decode:  up_b(q_b) and up_t(nearest×2(q_t)), each a stride-2 decoder to 16×16×C, concatenated,
 *            a stride-2 decoder to 32×32×C, ReLU, 3×3 conv to 3·nMix mixture parameters.
 * Simplification (stated): one ResBlock per block and one final decoder, not the repo's extra
 * stride-1 decoder. Outputs: [mixture parameters, vqLoss of each level (per example)].
 */
import * as tf from '../../backend/tf.js';
import { LowbitError } from '../../errors.js';
import { DepthwiseQuantizer, DepthwiseQuantizerArgs } from '../../layers/depthwise-quantizer.js';
import { Rng } from '../../random.js';

type Sym = tf.SymbolicTensor;

export interface DqModelOptions {
  /** M: groups per level. */
  groups: number;
  /** K: codes per codebook. */
  codes: number;
  /** Levels: 1 (8×8 codes) or 2 (8×8 and 4×4). */
  levels: 1 | 2;
  /** Quantized channels per position, M·D (default 32, so D = 32 / M). */
  embedChannels?: number;
  /** Encoder/decoder width C (default 32). */
  width?: number;
  /** Mixture components of the output head (default 5). */
  mixtures?: number;
  learning?: DepthwiseQuantizerArgs['learning'];
  init?: DepthwiseQuantizerArgs['init'];
  seed: number;
}

/** Gets a layer by name from a built model, or makes it (so the decoder can be re-applied to codes). */
type LayerSource = <L extends tf.layers.Layer>(name: string, make: () => L) => L;

function blocks(get: LayerSource, rng: Rng, width: number) {
  const init = () => tf.initializers.heNormal({ seed: rng.seed() });
  const conv = (x: Sym, name: string, filters: number, k: number, strides = 1): Sym =>
    get(name, () => tf.layers.conv2d({ name, filters, kernelSize: k, strides, padding: 'same', kernelInitializer: init() })).apply(x) as Sym;
  const up = (x: Sym, name: string, filters: number): Sym =>
    get(name, () => tf.layers.conv2dTranspose({ name, filters, kernelSize: 4, strides: 2, padding: 'same', kernelInitializer: init() })).apply(x) as Sym;
  const relu = (x: Sym, name: string): Sym => get(name, () => tf.layers.reLU({ name })).apply(x) as Sym;
  const resBlock = (x: Sym, p: string): Sym => {
    const h = conv(relu(conv(relu(x, `${p}_r1`), `${p}_c1`, Math.max(1, width / 2), 3), `${p}_r2`), `${p}_c2`, width, 1);
    return get(`${p}_add`, () => tf.layers.add({ name: `${p}_add` })).apply([x, h]) as Sym;
  };
  /** Stride-2 decoder: 3×3 conv → ResBlock → ReLU → 4×4/2 transposed conv. */
  const decoder = (x: Sym, p: string): Sym => up(relu(resBlock(conv(x, `${p}_in`, width, 3), `${p}_res`), `${p}_relu`), `${p}_up`, width);
  return { conv, relu, resBlock, decoder };
}

/** The decoding path from the quantized levels to the mixture parameters (shared by training and decode). */
function decodePath(get: LayerSource, rng: Rng, o: Required<Omit<DqModelOptions, 'learning' | 'init'>>, qb: Sym, qt: Sym | null): Sym {
  const { conv, relu, decoder } = blocks(get, rng, o.width);
  const parts = [decoder(qb, 'up_b')];
  if (qt) parts.push(decoder(get('up_t_nearest', () => tf.layers.upSampling2d({ name: 'up_t_nearest', size: [2, 2] })).apply(qt) as Sym, 'up_t'));
  const merged = parts.length > 1 ? get('merge', () => tf.layers.concatenate({ name: 'merge' })).apply(parts) as Sym : parts[0];
  return conv(relu(decoder(merged, 'dec'), 'dec_relu_out'), 'head', 3 * o.mixtures, 3);
}

function resolved(o: DqModelOptions): Required<Omit<DqModelOptions, 'learning' | 'init'>> {
  const r = { embedChannels: 32, width: 32, mixtures: 5, ...o };
  if (![1, 2].includes(r.levels)) throw new LowbitError(`levels must be 1 or 2, got ${r.levels}`);
  if (r.embedChannels % r.groups !== 0) throw new LowbitError(`${r.embedChannels} quantized channels cannot be split into ${r.groups} groups: choose M dividing ${r.embedChannels}`);
  return r;
}

export function buildDqAutoencoder(options: DqModelOptions, inputShape: [number, number, number] = [28, 28, 1]): tf.LayersModel {
  const o = resolved(options);
  if (inputShape[0] !== 28 || inputShape[1] !== 28) throw new LowbitError(`the DQ auto-encoder takes 28×28 images (padded to 32×32), got ${inputShape.slice(0, 2).join('×')}`);
  const rng = new Rng(o.seed);
  const made = (_: string, make: () => tf.layers.Layer) => make();
  const get = made as LayerSource;
  const { conv, relu, resBlock, decoder } = blocks(get, rng, o.width);
  const quantizer = (name: string) => new DepthwiseQuantizer({ name, groups: o.groups, codes: o.codes, learning: options.learning, init: options.init, seed: rng.seed() });

  const input = tf.input({ shape: inputShape, name: 'input' });
  const padded = tf.layers.zeroPadding2d({ name: 'pad', padding: 2 }).apply(input) as Sym;
  const hb = relu(resBlock(conv(relu(conv(relu(conv(padded, 'enc_b_c1', o.width / 2, 4, 2), 'enc_b_r1'), 'enc_b_c2', o.width, 4, 2), 'enc_b_r2'), 'enc_b_c3', o.width, 3), 'enc_b_res'), 'enc_b_out');
  const vq: Sym[] = [];
  let qt: Sym | null = null;
  let bottomIn = hb;
  if (o.levels === 2) {
    const ht = relu(resBlock(conv(relu(conv(hb, 'enc_t_c1', o.width / 2, 4, 2), 'enc_t_r1'), 'enc_t_c2', o.width, 3), 'enc_t_res'), 'enc_t_out');
    const [q, l] = quantizer('dq_t').apply(conv(ht, 'proj_t', o.embedChannels, 1)) as Sym[];
    qt = q;
    vq.push(l);
    bottomIn = tf.layers.concatenate({ name: 'cond_b' }).apply([hb, decoder(q, 'dec_t')]) as Sym;
  }
  const [qb, lb] = quantizer('dq_b').apply(conv(bottomIn, 'proj_b', o.embedChannels, 1)) as Sym[];
  vq.push(lb);
  const params = decodePath(get, rng, o, qb, qt);
  return tf.model({ inputs: input, outputs: [params, ...vq], name: `dq-ae-m${o.groups}-k${o.codes}-l${o.levels}` });
}

/** The model's quantizers, bottom first. */
export function quantizersOf(model: tf.LayersModel): DepthwiseQuantizer[] {
  return ['dq_b', 'dq_t'].filter((n) => model.layers.some((l) => l.name === n)).map((n) => model.getLayer(n) as DepthwiseQuantizer);
}

/** Features x → the pre-quantization features z of each level (bottom first). */
export function encoderModel(model: tf.LayersModel): tf.LayersModel {
  return tf.model({ inputs: model.inputs, outputs: quantizersOf(model).map((q) => q.input as Sym) });
}

/** Quantized features of each level (bottom first) → mixture parameters, sharing the model's weights. */
export function decoderModel(model: tf.LayersModel, options: DqModelOptions): tf.LayersModel {
  const o = resolved(options);
  const qs = quantizersOf(model);
  const inputs = qs.map((q) => tf.input({ shape: (q.input as Sym).shape.slice(1) as number[], name: `${q.name}_codes` }));
  const get = ((name: string) => model.getLayer(name)) as LayerSource;
  const params = decodePath(get, new Rng(0), o, inputs[0], inputs[1] ?? null);
  return tf.model({ inputs, outputs: params, name: 'dq-decoder' });
}
