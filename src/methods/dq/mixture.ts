/**
 * Discretized logistic mixture likelihood for 8-bit grey images (PixelCNN++, Salimans et al.,
 * arXiv:1701.05517; the form of VDVAE's `discretized_mix_logistic_loss` that the DQ code uses,
 * dq.md §3), rewritten for one channel: pixels scaled to [−1, 1], bins of half-width 1/255,
 * edge bins integrate to ±∞, log-scales clamped at −7. Parameters per pixel: nMix logits, nMix
 * means, nMix log-scales. The middle bins use log(max(ΔCDF, 1e-12)): the only conditions are on
 * the data (edge bins), never on model outputs, so every op has a gradient in TF.js.
 */
import * as tf from '../../backend/tf.js';
import { MAX_MIXTURES, MIXTURE_NLL, MIXTURE_NLL_GRAD, type MixtureNllAttrs } from './kernel-names.js';

/** Crops 32×32 parameters back to the 28×28 image (the 2-pixel zero padding carries no pixels). */
export function cropParams(params: tf.Tensor4D, size = 28): tf.Tensor4D {
  const off = (params.shape[1] - size) / 2;
  return tf.slice(params, [0, off, off, 0], [-1, size, size, -1]);
}

/** −log p(x | params) per image, summed over pixels, in nats; x in [0, 1] (k/255), [N, H, W, 1]. */
export function mixtureNll(params: tf.Tensor4D, x: tf.Tensor): tf.Tensor1D {
  return fusedMixtureApplies(params, x, 0) ? mixtureNllFused(params, x, 0) : mixtureNllReference(params, x);
}

/**
 * mixtureNll of the parameters cropped to the image (cropParams): on the native backend one fused kernel
 * each way that reads the crop in place (native/dq.cc), elsewhere the crop and the tfjs-ops chain.
 */
export function croppedMixtureNll(params: tf.Tensor4D, x: tf.Tensor): tf.Tensor1D {
  const off = (params.shape[1] - x.shape[1]!) / 2;
  return fusedMixtureApplies(params, x, off) ? mixtureNllFused(params, x, off) : mixtureNllReference(cropParams(params, x.shape[1]), x);
}

let gradientRegistered = false;

/** Whether the fused kernel (native backend with the DQ addon) takes these shapes. */
export function fusedMixtureApplies(params: tf.Tensor, x: tf.Tensor, off: number): boolean {
  const backend = tf.getBackend();
  if (backend == null || tf.getKernel(MIXTURE_NLL, backend) == null) return false;
  if (params.rank !== 4 || x.rank !== 4 || params.dtype !== 'float32' || x.dtype !== 'float32' || x.shape[3] !== 1) return false;
  const [n, hp, wp, c] = params.shape as number[];
  const [nx, h, w] = x.shape as number[];
  return n === nx && n > 0 && c % 3 === 0 && c / 3 <= MAX_MIXTURES && Number.isInteger(off) && off >= 0
    && h + 2 * off === hp && w + 2 * off === wp && h > 0 && w > 0;
}

/**
 * The fused mixture NLL on the crop at (off, off): values as mixtureNllReference's (the per-pixel terms
 * are its float32 ops; the sum over pixels is float64), gradients to params (zero on the border) and x.
 */
export function mixtureNllFused(params: tf.Tensor4D, x: tf.Tensor, off: number): tf.Tensor1D {
  if (!gradientRegistered) {
    gradientRegistered = true;
    tf.registerGradient({
      kernelName: MIXTURE_NLL,
      inputsToSave: ['params', 'x'],
      gradFunc: (dy, saved, attrs) => {
        const [p, xs] = saved;
        const [dp, dx] = tf.engine().runKernel(MIXTURE_NLL_GRAD, { dy: dy as tf.Tensor, params: p, x: xs }, attrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
        return { params: () => dp, x: () => dx };
      },
    });
  }
  const attrs: MixtureNllAttrs = { nMix: params.shape[3] / 3, top: off, left: off };
  return tf.engine().runKernel(MIXTURE_NLL, { params, x }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor1D;
}

/** mixtureNll as the tfjs-ops chain: the path off native and the reference of the fused kernels. */
export function mixtureNllReference(params: tf.Tensor4D, x: tf.Tensor): tf.Tensor1D {
  return tf.tidy(() => {
    const n = params.shape[3] / 3;
    const [logits, means, rawScales] = tf.split(params, [n, n, n], 3);
    const logScales = tf.maximum(rawScales, -7);
    const xs = tf.sub(tf.mul(x, 2), 1); // [N, H, W, 1] broadcasts over components
    const centred = tf.sub(xs, means);
    const inv = tf.exp(tf.neg(logScales));
    const plusIn = tf.mul(inv, tf.add(centred, 1 / 255));
    const minIn = tf.mul(inv, tf.sub(centred, 1 / 255));
    const logCdfPlus = tf.sub(plusIn, tf.softplus(plusIn)); // log σ(a) = a − softplus(a)
    const logOneMinusCdfMin = tf.neg(tf.softplus(minIn)); // log(1 − σ(b)) = −softplus(b)
    const logMid = tf.log(tf.maximum(tf.sub(tf.sigmoid(plusIn), tf.sigmoid(minIn)), 1e-12));
    const low = tf.cast(tf.less(xs, -0.999), 'float32');
    const high = tf.cast(tf.greater(xs, 0.999), 'float32');
    const mid = tf.sub(1, tf.add(low, high));
    const logProbs = tf.add(tf.add(tf.mul(low, logCdfPlus), tf.mul(high, logOneMinusCdfMin)), tf.mul(mid, logMid));
    const perPixel = tf.logSumExp(tf.add(logProbs, tf.logSoftmax(logits, 3)), 3); // [N, H, W]
    return tf.neg(tf.sum(perPixel, [1, 2])) as tf.Tensor1D;
  });
}

/** The mixture's mean Σ π_k μ_k, mapped back to [0, 1] (the reconstruction used for MSE). */
export function mixtureMean(params: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => {
    const n = params.shape[3] / 3;
    const [logits, means] = tf.split(params, [n, n, n], 3);
    const m = tf.sum(tf.mul(tf.softmax(logits, 3), tf.clipByValue(means, -1, 1)), 3, true);
    return tf.div(tf.add(m, 1), 2) as tf.Tensor4D;
  });
}
