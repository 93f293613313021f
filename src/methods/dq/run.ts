/**
 * Training and evaluation of the DQ auto-encoder with lowbit's one training loop: the loss is
 * the decoder NLL in nats per dimension plus every level's VQ loss; evaluation reports bits/dim
 * (decoder NLL, and the full bound adding M·log2 K bits per code position under a uniform
 * prior, dq.md §3), reconstruction MSE / PSNR and code usage per group.
 */
import * as tf from '../../backend/tf.js';
import { batches, disposeBatch, ExampleSet, imageSize, sequentialOrder } from '../../data/dataset.js';
import { ensureBackend } from '../../backend/index.js';
import { yieldToEventLoop } from '../../train/evaluate.js';
import type { LossFn } from '../../train/evaluate.js';
import { codeCounts, perplexity } from '../../quantizers/vector.js';
import { croppedMixtureNll, cropParams, mixtureMean, mixtureNll } from './mixture.js';
import { quantizersOf } from './model.js';

const LN2 = Math.log(2);

/** Decoder NLL (nats/dim over the 784 original pixels) + Σ levels mean vqLoss. */
export const dqLoss: LossFn<tf.Tensor[]> = (outputs, batch) => tf.tidy(() => {
  const [params, ...vq] = outputs;
  const dims = imageSize(batch.x.shape.slice(1));
  const nll = tf.div(tf.mean(croppedMixtureNll(params as tf.Tensor4D, batch.x)), dims);
  return tf.addN([nll, ...vq.map((v) => tf.mean(v))]) as tf.Scalar;
});

export interface LevelReport {
  level: string;
  grid: [number, number];
  groups: number;
  codes: number;
  /** exp(entropy) of each group's code usage over the evaluated set. */
  perplexity: number[];
  codesUsed: number[];
  /** Code histogram per group (for the usage plot). */
  usage: number[][];
  bitsPerPosition: number;
  codebookFloats: number;
}

export interface DqEvaluation {
  images: number;
  /** −log2 p(x | codes) per dimension (784 pixels). */
  bpdDecoder: number;
  /** bpdDecoder + code bits per dimension under a uniform prior. */
  bpdFull: number;
  codeBitsPerDim: number;
  /** Bits per image sent as codes (Σ levels H·W·M·log2 K). */
  codeBitsPerImage: number;
  mse: number;
  psnr: number;
  params: number;
  codebookFloats: number;
  levels: LevelReport[];
}

/** Evaluates on a whole split, in inference mode (no codebook updates). */
export async function evaluateDq(model: tf.LayersModel, set: ExampleSet, shape: readonly number[], numClasses: number, batchSize = 250): Promise<DqEvaluation> {
  await ensureBackend();
  const qs = quantizersOf(model);
  const probe = tf.model({ inputs: model.inputs, outputs: [model.outputs[0], ...qs.map((q) => q.input as tf.SymbolicTensor)] });
  const dims = imageSize(shape);
  const usage = qs.map((q) => Array.from({ length: q.groups }, () => new Float64Array(q.codes)));
  const grids = qs.map(() => [0, 0] as [number, number]);
  let nll = 0;
  let se = 0;
  for (const b of batches(set, shape, numClasses, batchSize, sequentialOrder(set.count))) {
    const [sums, codes] = tf.tidy(() => {
      const [params, ...zs] = probe.predict(b.x) as tf.Tensor[];
      const p = cropParams(params as tf.Tensor4D);
      const codes = zs.map((z, l) => {
        grids[l] = [z.shape[1]!, z.shape[2]!];
        return qs[l].assignCodes(z);
      });
      return [[tf.sum(mixtureNll(p, b.x)), tf.sum(tf.squaredDifference(mixtureMean(p), b.x))], codes];
    });
    disposeBatch(b);
    const [n, s] = await Promise.all(sums.map((t) => t.data()));
    const idxs = await Promise.all(codes.map((t) => t.data()));
    tf.dispose([...sums, ...codes]);
    idxs.forEach((idx, l) => {
      for (let i = 0; i < idx.length; i++) usage[l][i % qs[l].groups][idx[i]]++;
    });
    nll += n[0];
    se += s[0];
    await yieldToEventLoop();
  }
  const levels: LevelReport[] = qs.map((q, l) => ({
    level: q.name, grid: grids[l], groups: q.groups, codes: q.codes,
    perplexity: usage[l].map((u) => perplexity(u)), codesUsed: usage[l].map((u) => u.filter((c) => c > 0).length),
    usage: usage[l].map((u) => Array.from(u)), ...q.capacity,
  }));
  const codeBitsPerImage = levels.reduce((a, l) => a + l.grid[0] * l.grid[1] * l.bitsPerPosition, 0);
  const bpdDecoder = nll / set.count / dims / LN2;
  const mse = se / set.count / dims;
  return {
    images: set.count, bpdDecoder, bpdFull: bpdDecoder + codeBitsPerImage / dims, codeBitsPerDim: codeBitsPerImage / dims, codeBitsPerImage,
    mse, psnr: 10 * Math.log10(1 / mse), params: model.countParams(), codebookFloats: levels.reduce((a, l) => a + l.codebookFloats, 0), levels,
  };
}

/** Code usage of the last training step, per level (bottom first) and group. */
export function lastStepStats(model: tf.LayersModel): Array<{ level: string; perplexity: number[]; used: number[]; dead: number[] }> {
  return quantizersOf(model).filter((q) => q.lastStats).map((q) => ({ level: q.name, ...q.lastStats! }));
}

/** Plug-in mutual information (nats) between two groups' codes at the same positions. */
export function codeMutualInformation(a: Int32Array, b: Int32Array, codes: number): number {
  const joint = new Float64Array(codes * codes);
  for (let i = 0; i < a.length; i++) joint[a[i] * codes + b[i]]++;
  const pa = codeCounts(a, codes);
  const pb = codeCounts(b, codes);
  const n = a.length;
  let mi = 0;
  for (let i = 0; i < codes; i++) for (let j = 0; j < codes; j++) {
    const p = joint[i * codes + j] / n;
    if (p > 0) mi += p * Math.log(p / ((pa[i] / n) * (pb[j] / n)));
  }
  return mi;
}
