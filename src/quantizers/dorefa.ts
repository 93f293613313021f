/**
 * DoReFa-Net quantizers. Zhou et al., "DoReFa-Net: Training Low Bitwidth Convolutional Neural
 * Networks with Low Bitwidth Gradients", arXiv:1606.06160 (2016), §2; tensorpack `dorefa.py`.
 * quantize_k(r) = round((2^k − 1)·r) / (2^k − 1) for r ∈ [0, 1], with the STE at the rounding.
 */
import * as tf from '../backend/tf.js';
import { checkBits, insideMask, roundSTE, signPlusOne, withGradient } from './common.js';
import { dorefaActivationFused, dorefaWeightFused, fusedDorefaActivationApplies, fusedDorefaWeightApplies } from './fakequant-fused.js';
import { fusedSignApplies, signFused } from './sign-fused.js';
import type { QuantizerKind } from './kind.js';
import { dorefaInfo } from './kind-info.js';

/** quantize_k(r) = round((2^k − 1)·r) / (2^k − 1), STE at the rounding. */
export function quantizeK(r: tf.Tensor, bits: number): tf.Tensor {
  const n = 2 ** bits - 1;
  return tf.div(roundSTE(tf.mul(r, n)), n);
}

/**
 * Binary weights of DoReFa / BWN: q(w) = sign(w)·E with E = mean|w| over the whole tensor and
 * sign(0) = +1. E is a constant for the gradient and the sign's gradient is the identity, so
 * ∂L/∂w = ∂L/∂q. Values: {−E, +E}. On native the sign and the scaling are the fused sign kernel
 * (one pass instead of GreaterEqual, Cast, Multiply, Sub, Multiply; the same bits,
 * test/native-sign.test.ts); elsewhere binaryMeanScaledReference's chain.
 */
export const binaryMeanScaled = withGradient(([w]) => {
  const value = tf.tidy(() => {
    if (!fusedSignApplies(w)) return binaryMeanScaledValue(w);
    const scale = tf.broadcastTo(tf.reshape(tf.mean(tf.abs(w)), [1]), [w.shape[w.rank - 1]]);
    return signFused(w, { mode: 'ste', scale });
  });
  return { value, gradFunc: (dy: tf.Tensor) => dy };
});

/** binaryMeanScaled as the tfjs-ops chain on every backend: the reference of the fused path. */
export const binaryMeanScaledReference = withGradient(([w]) => ({ value: binaryMeanScaledValue(w), gradFunc: (dy: tf.Tensor) => dy }));

const binaryMeanScaledValue = (w: tf.Tensor): tf.Tensor => tf.tidy(() => tf.mul(signPlusOne(w), tf.mean(tf.abs(w))));

/**
 * dorefaWeight(w, k):
 * - k ≥ 2: q(w) = 2·quantize_k(tanh(w) / (2·max|tanh(w)|) + ½) − 1, max over the whole tensor;
 *   the gradient flows through tanh and the normalisation, with the STE at the rounding.
 *   Values: {2i/(2^k − 1) − 1 : i = 0 … 2^k − 1} ⊂ [−1, 1] (k = 2: {−1, −⅓, ⅓, 1}).
 * - k = 1: sign(w)·mean|w| (binaryMeanScaled). Values {−E, +E}.
 * On native, k ≥ 2 runs as one kernel each way, tanh included (fakequant-fused.ts), and k = 1 as
 * the fused sign kernel.
 */
export function dorefaWeight(w: tf.Tensor, bits: number): tf.Tensor {
  checkBits(bits, 'dorefaWeight', 1, 32);
  if (bits === 1) return binaryMeanScaled(w);
  if (bits >= 2 && bits < 32 && fusedDorefaWeightApplies(w)) return dorefaWeightFused(w, 2 ** bits - 1);
  return dorefaWeightReference(w, bits);
}

/** dorefaWeight as the tfjs-ops chain: the path off native and the reference of its fused kernels. */
export function dorefaWeightReference(w: tf.Tensor, bits: number): tf.Tensor {
  checkBits(bits, 'dorefaWeight', 1, 32);
  if (bits === 1) return binaryMeanScaledReference(w);
  if (bits === 32) return w;
  return tf.tidy(() => {
    const t = tf.tanh(w);
    const u = tf.add(tf.div(t, tf.mul(tf.max(tf.abs(t)), 2)), 0.5);
    return tf.sub(tf.mul(quantizeK(u, bits), 2), 1);
  });
}

/**
 * dorefaActivation(x, k) = quantize_k(clip(x, 0, 1)). Gradient: the STE inside [0, 1], zero
 * outside. Values: {i/(2^k − 1) : i = 0 … 2^k − 1}. k = 32 leaves x unchanged. On wasm and
 * native one fused kernel each way (fakequant-fused.ts); elsewhere the op chain below.
 */
export function dorefaActivation(x: tf.Tensor, bits: number): tf.Tensor {
  checkBits(bits, 'dorefaActivation', 1, 32);
  if (bits === 32) return x;
  if (fusedDorefaActivationApplies(x)) return dorefaActivationFused(x, 2 ** bits - 1);
  return activationQuant(x, bits);
}

/** dorefaActivation as the tfjs-ops chain, the reference of the fused kernels (any backend). */
export function dorefaActivationReference(x: tf.Tensor, bits: number): tf.Tensor {
  checkBits(bits, 'dorefaActivation', 1, 32);
  if (bits === 32) return x;
  return activationQuant(x, bits);
}

const activationQuant = (x: tf.Tensor, bits: number): tf.Tensor => {
  const n = 2 ** bits - 1;
  const f = withGradient(([input], save) => {
    save([input]);
    return {
      value: tf.tidy(() => tf.div(tf.round(tf.mul(tf.clipByValue(input, 0, 1), n)), n)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, insideMask(saved[0], 0, 1)),
    };
  });
  return f(x);
};

/**
 * dorefaGradient(x, k, seed): identity forward. Backward, the incoming gradient dr is quantized
 * with DoReFa's noisy rule: M = max|dr| per example (all axes but the batch axis),
 * dr_q = 2M·[quantize_k(clip(dr/(2M) + ½ + N, 0, 1)) − ½], N ~ U(−½/(2^k − 1), ½/(2^k − 1)) drawn
 * from `seed` (pass a new seed each step for fresh noise). k = 32 is the identity both ways.
 */
export function dorefaGradient(x: tf.Tensor, bits: number, seed: number): tf.Tensor {
  checkBits(bits, 'dorefaGradient', 1, 32);
  if (bits === 32) return x;
  const n = 2 ** bits - 1;
  const f = withGradient(([input]) => {
    return {
      value: tf.clone(input),
      gradFunc: (dy: tf.Tensor) => tf.tidy(() => {
        const axes = dy.shape.map((_, i) => i).slice(1);
        const m = tf.maximum(axes.length ? tf.max(tf.abs(dy), axes, true) : tf.abs(dy), 1e-12);
        const noise = tf.randomUniform(dy.shape, -0.5 / n, 0.5 / n, 'float32', seed);
        const u = tf.clipByValue(tf.add(tf.add(tf.div(dy, tf.mul(m, 2)), 0.5), noise), 0, 1);
        return tf.mul(tf.mul(m, 2), tf.sub(tf.div(tf.round(tf.mul(u, n)), n), 0.5));
      }),
    };
  });
  return f(x);
}

/** DoReFa-Net weights and activations at k bits (k = 32: float). */
export interface DorefaSpec { kind: 'dorefa'; bits: number }

/** dorefa (the rest of the kind: dorefaInfo in kind-info.ts). */
export const dorefaKind: QuantizerKind<DorefaSpec> = {
  ...dorefaInfo,
  apply: (s, x, role) => (role === 'weight' ? dorefaWeight(x, s.bits) : dorefaActivation(x, s.bits)),
};
