/**
 * The relaxed quantizers as one fused op with its own gradient: forward and backward kernels
 * (src/backend/relaxed-kernels.ts on wasm, native/relaxed.cc on native) compute each element's
 * categorical over its local grid in closed form, never as [..., W] tensors. Same math, inputs
 * and random samples as the tfjs-ops reference in relaxed.ts, which the cpu backend keeps and
 * the fused op is tested against (test/relaxed-fused.test.ts).
 */
import * as tf from '../backend/tf.js';
import { RELAXED_BACKWARD, RELAXED_FORWARD, type RelaxedAttrs } from '../backend/relaxed-kernels.js';

export type { RelaxedAttrs };

let gradientRegistered = false;

function registerGradientOnce(): void {
  if (gradientRegistered) return;
  gradientRegistered = true;
  tf.registerGradient({
    kernelName: RELAXED_FORWARD,
    inputsToSave: ['x', 'alpha', 'sigma', 'u', 'drop', 'gates'],
    gradFunc: (dy, saved, attrs) => {
      const [x, alpha, sigma, u, drop, gates] = saved;
      const [dx, dAlpha, dSigma, dGates] = tf.engine().runKernel(RELAXED_BACKWARD, { dy: dy as tf.Tensor, x, alpha, sigma, u, drop, gates },
        attrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
      // The noise and the DropBits draws are samples: no gradient.
      return { x: () => dx, alpha: () => dAlpha, sigma: () => dSigma, gates: () => dGates, u: () => tf.zerosLike(u), drop: () => tf.zerosLike(drop) };
    },
  });
}

/** Whether the current backend has the fused kernels (wasm and native do; cpu keeps the reference). */
export function fusedRelaxedAvailable(): boolean {
  const backend = tf.getBackend();
  return backend != null && tf.getKernel(RELAXED_FORWARD, backend) != null;
}

/**
 * The fused relaxed quantizer. x float32; α, σ one-element tensors; u the RQ noise
 * [...x.shape, W] (SRQ: any placeholder); drop the DropBits draws [nDrop, n] or [nDrop]
 * (none: placeholder); gates the sampled learned-bit gates [nGates] (none: placeholder).
 */
export function relaxedFused(x: tf.Tensor, alpha: tf.Tensor, sigma: tf.Tensor, u: tf.Tensor, drop: tf.Tensor, gates: tf.Tensor, attrs: RelaxedAttrs): tf.Tensor {
  registerGradientOnce();
  return tf.engine().runKernel(RELAXED_FORWARD, { x, alpha, sigma, u, drop, gates }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}
