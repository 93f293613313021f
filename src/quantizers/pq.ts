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
import type { QuantizerKind } from './kind.js';
import { pqInfo, subvectorOrder } from './kind-info.js';

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

/** The axis order a kernel is cut into sub-vectors in (TF.js-free, in kind-info.ts). */
export { subvectorOrder } from './kind-info.js';

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

/** pq (the rest of the kind: pqInfo in kind-info.ts). */
export const pqKind: QuantizerKind<PqSpec> = {
  ...pqInfo,
  apply(s, x, role, [codebook, indices], training, _context, where) {
    if (role !== 'weight') throw new LowbitError(`${where}: pq quantizes kernels only, not activations`);
    if (x.size !== s.count * s.dim) {
      throw new LowbitError(`${where}: pq expects a kernel of ${s.count}·${s.dim} = ${s.count * s.dim} weights, this one has ${x.size} (shape ${x.shape.join('×')})`);
    }
    return productQuantizedKernel(codebook as tf.Tensor2D, indices, x.shape, training);
  },
};
