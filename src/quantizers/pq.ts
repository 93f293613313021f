/**
 * Product-quantized weights (Stock, Joulin, Gribonval, Graham & Jégou, "And the Bit Goes Down:
 * Revisiting the Quantization of Neural Networks", ICLR 2020, arXiv:1907.05686;
 * docs/methods/pq.md). A kernel is cut into N sub-vectors of d values and each is replaced by one
 * of K shared codewords: Ŵ = unflatten(C[I]), with the codebook C [K, d] a learned parameter and
 * the indices I [N] a fixed, stored one. Storage: N·log2 K bits of indices + K·d floats.
 *
 * The cut follows the authors' code (facebookresearch/kill-the-bits, utils/reshape.py): the
 * kernel as [C_out, C_in, kh, kw] (PyTorch layout), each output channel's row (C_in·kh·kw
 * values) cut every d values — for a k×k conv with d = k·k one sub-vector is one input channel's
 * k×k patch; for a Dense layer or a 1×1 conv, d consecutive input channels. In TF layout that is
 * the kernel transposed to [out, in, ...spatial] (`subvectorOrder`).
 *
 * Gradient (fine-tuning, the authors' optim/centroid_sgd.py): ∂L/∂c_k = the *average* of the
 * gradients of the sub-vectors assigned to c_k. The latent kernel gets no gradient: the
 * quantized kernel depends only on C and I. Value set: the K codewords.
 */
import * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import { detached } from './common.js';
import type { CodebookGrid, QuantizerKind } from './kind.js';

/** A product quantizer of one kernel: N = `count` sub-vectors of `dim` values, a codebook of `size` codewords. */
export interface PqSpec {
  kind: 'pq';
  /** d, the sub-vector length. */
  dim: number;
  /** K, the codewords (a power of two: the indices are stored at log2 K bits). */
  size: number;
  /** N, the sub-vectors of the kernel (its number of weights / d). */
  count: number;
}

/**
 * The axis order in which a TF-layout kernel of this rank is cut into sub-vectors: output
 * channels, input channels, then the spatial axes — [3, 2, 0, 1] for a conv kernel
 * [kh, kw, C_in, C_out], [1, 0] for a Dense kernel [in, out], [2, 1, 0] for Conv1D.
 */
export function subvectorOrder(rank: number): number[] {
  if (rank < 2) return [0];
  return [rank - 1, rank - 2, ...Array.from({ length: rank - 2 }, (_, i) => i)];
}

function inverse(perm: number[]): number[] {
  const inv = new Array<number>(perm.length);
  perm.forEach((p, i) => { inv[p] = i; });
  return inv;
}

/** A kernel (TF layout) as its sub-vectors [N, d], in cut order. */
export function kernelSubvectors(kernel: tf.Tensor, dim: number): tf.Tensor2D {
  return tf.tidy(() => tf.reshape(tf.transpose(kernel, subvectorOrder(kernel.rank)), [-1, dim]) as tf.Tensor2D);
}

/** Sub-vectors [N, d] (cut order) back into a kernel of `shape` (TF layout). */
export function subvectorsToKernel(rows: tf.Tensor, shape: number[]): tf.Tensor {
  return tf.tidy(() => {
    const order = subvectorOrder(shape.length);
    return tf.transpose(tf.reshape(rows, order.map((a) => shape[a])), inverse(order));
  });
}

/** The same values as `c`, with ∂/∂c scaled by `s` per codeword (row): c·s + stop(c·(1 − s)). */
function scaleGradient(c: tf.Tensor2D, s: tf.Tensor2D): tf.Tensor2D {
  const frozen = detached(() => tf.mul(c, tf.sub(1, s)));
  return tf.add(tf.mul(c, s), frozen) as tf.Tensor2D;
}

/**
 * Ŵ = unflatten(C[I]). With `averageGradient`, each codeword's gradient is the mean (not the
 * sum) of its sub-vectors' gradients — the authors' centroid update.
 */
export function productQuantizedKernel(codebook: tf.Tensor2D, indices: tf.Tensor, shape: number[], averageGradient: boolean): tf.Tensor {
  return tf.tidy(() => {
    const idx = tf.cast(indices, 'int32') as tf.Tensor1D;
    let book = codebook;
    if (averageGradient) {
      const counts = tf.unsortedSegmentSum(tf.ones([idx.shape[0]]), idx, codebook.shape[0]);
      book = scaleGradient(codebook, tf.reshape(tf.div(1, tf.maximum(counts, 1)), [-1, 1]) as tf.Tensor2D);
    }
    return subvectorsToKernel(tf.gather(book, idx), shape);
  });
}

const isPowerOfTwo = (k: number) => Number.isInteger(k) && k >= 1 && (k & (k - 1)) === 0;

export const pqKind: QuantizerKind<PqSpec> = {
  kind: 'pq',
  validate(s, where) {
    if (!Number.isInteger(s.dim) || s.dim < 1) throw new LowbitError(`${where}: pq dim (the sub-vector length d) must be a whole number ≥ 1, got ${JSON.stringify(s.dim)}`);
    if (!isPowerOfTwo(s.size) || s.size > 2 ** 16) throw new LowbitError(`${where}: pq size (codewords K) must be a power of two from 1 to 65536, got ${JSON.stringify(s.size)}`);
    if (!Number.isInteger(s.count) || s.count < 1) throw new LowbitError(`${where}: pq count (the kernel's sub-vectors) must be a whole number ≥ 1, got ${JSON.stringify(s.count)}`);
  },
  /** log2 K index bits per d weights; the codebook's floats are counted by `summary` from the grid read-out. */
  precision: (s) => Math.log2(s.size) / s.dim,
  params: (s) => [
    { name: 'pq_codebook', init: 0, shape: [s.size, s.dim] },
    { name: 'pq_indices', init: 0, shape: [s.count], trainable: false },
  ],
  apply(s, x, role, [codebook, indices], training, _context, where) {
    if (role !== 'weight') throw new LowbitError(`${where}: pq quantizes kernels only, not activations`);
    if (x.size !== s.count * s.dim) {
      throw new LowbitError(`${where}: pq expects a kernel of ${s.count}·${s.dim} = ${s.count * s.dim} weights, this one has ${x.size} (shape ${x.shape.join('×')})`);
    }
    return productQuantizedKernel(codebook as tf.Tensor2D, indices, x.shape, training);
  },
  valueSet: (s) => `K = ${s.size} codewords of ${s.dim} values (a learned codebook)`,
  grid(s, role, input): CodebookGrid | null {
    if (role !== 'weight' || input.params.length < 2) return null;
    const [values, indices] = input.params;
    const rank = input.shape?.length ?? 2;
    return {
      type: 'codebook', bits: Math.max(1, Math.log2(s.size)), values: Float32Array.from(values), size: s.size, axis: null, learned: true,
      dim: s.dim, codes: Int32Array.from(indices, Math.round), order: subvectorOrder(rank),
    };
  },
};
