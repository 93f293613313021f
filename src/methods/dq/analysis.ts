/**
 * The spatial-vs-channel cross-correlation analysis of encoder features (dq.md §4, a protocol
 * reconstructed from the paper's stated intent; the paper's own analysis was not readable):
 * on the bottom level's pre-quantization features z [N, H, W, C],
 * - channel: the C × C Pearson matrix over the N·H·W positions; mean |off-diagonal|, and for
 *   M > 1 within-group against across-group;
 * - spatial: per channel, the HW × HW Pearson matrix over the N images, averaged over channels;
 *   mean |off-diagonal| and the mean over 4-neighbours;
 * - codes: plug-in mutual information between groups at the same position (normalised by the
 *   smaller entropy).
 */
import * as tf from '../../backend/tf.js';
import { codeCounts } from '../../quantizers/vector.js';
import { codeMutualInformation } from './run.js';
import { quantizersOf } from './model.js';

export interface CorrelationReport {
  images: number;
  channels: number;
  groups: number;
  channelMeanAbs: number;
  channelWithinGroup: number | null;
  channelAcrossGroup: number | null;
  spatialMeanAbs: number;
  spatialNeighbourMeanAbs: number;
  /** Mean normalised MI between pairs of groups (null for M = 1). */
  groupNormalizedMI: number | null;
  /** The C × C channel correlation matrix (for the heat map). */
  channelMatrix: number[][];
}

/** Pearson correlation of the columns of x [n, v]. */
function pearson(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const centred = tf.sub(x, tf.mean(x, 0, true));
    const cov = tf.div(tf.matMul(centred, centred, true, false), x.shape[0]);
    const sd = tf.sqrt(tf.add(tf.reshape(tf.sum(tf.mul(cov, tf.eye(cov.shape[0])), 1), [-1, 1]), 1e-12)); // √diag(cov)
    return tf.div(cov, tf.matMul(sd, sd, false, true)) as tf.Tensor2D;
  });
}

function meanAbsOffDiagonal(m: number[][], keep: (i: number, j: number) => boolean = () => true): number {
  let s = 0;
  let n = 0;
  m.forEach((row, i) => row.forEach((v, j) => { if (i !== j && keep(i, j)) { s += Math.abs(v); n++; } }));
  return n > 0 ? s / n : NaN;
}

function entropy(counts: Float64Array): number {
  const total = counts.reduce((a, b) => a + b, 0);
  return -Array.from(counts).reduce((h, c) => (c > 0 ? h + (c / total) * Math.log(c / total) : h), 0);
}

export function correlationAnalysis(model: tf.LayersModel, images: tf.Tensor4D): CorrelationReport {
  const q = quantizersOf(model)[0];
  const probe = tf.model({ inputs: model.inputs, outputs: q.input as tf.SymbolicTensor });
  const z = probe.predict(images) as tf.Tensor4D;
  const [n, h, w, c] = z.shape;
  const channelMatrix = tf.tidy(() => pearson(tf.reshape(z, [-1, c]) as tf.Tensor2D).arraySync());
  const spatial = tf.tidy(() => {
    const perChannel = tf.unstack(tf.transpose(tf.reshape(z, [n, h * w, c]), [2, 0, 1])) as tf.Tensor2D[]; // c × [n, hw]
    return tf.div(tf.addN(perChannel.map((x) => tf.abs(pearson(x)))), c).arraySync() as number[][];
  });
  const d = c / q.groups;
  const group = (i: number) => Math.floor(i / d);
  const neighbour = (i: number, j: number) => {
    const [yi, xi, yj, xj] = [Math.floor(i / w), i % w, Math.floor(j / w), j % w];
    return Math.abs(yi - yj) + Math.abs(xi - xj) === 1;
  };
  let nmi: number | null = null;
  if (q.groups > 1) {
    const idx = q.assign(z);
    const per = Array.from({ length: q.groups }, (_, g) => Int32Array.from({ length: idx.length / q.groups }, (__, i) => idx[i * q.groups + g]));
    const ent = per.map((p) => entropy(codeCounts(p, q.codes)));
    const values: number[] = [];
    for (let a = 0; a < q.groups; a++) for (let b = a + 1; b < q.groups; b++) {
      const denom = Math.min(ent[a], ent[b]);
      values.push(denom > 0 ? codeMutualInformation(per[a], per[b], q.codes) / denom : 0);
    }
    nmi = values.reduce((s, v) => s + v, 0) / values.length;
  }
  z.dispose();
  return {
    images: n, channels: c, groups: q.groups,
    channelMeanAbs: meanAbsOffDiagonal(channelMatrix),
    channelWithinGroup: q.groups > 1 && d > 1 ? meanAbsOffDiagonal(channelMatrix, (i, j) => group(i) === group(j)) : null,
    channelAcrossGroup: q.groups > 1 ? meanAbsOffDiagonal(channelMatrix, (i, j) => group(i) !== group(j)) : null,
    spatialMeanAbs: meanAbsOffDiagonal(spatial),
    spatialNeighbourMeanAbs: meanAbsOffDiagonal(spatial, neighbour),
    groupNormalizedMI: nmi, channelMatrix,
  };
}
