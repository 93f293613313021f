/**
 * The binarizers' sign as a fused op with its own gradient (src/backend/sign-kernels.ts has the
 * formulas; native/train_ops.cc Sign runs it on the native backend). Same values, ∂x and ∂threshold
 * as the tfjs-ops chains of binary.ts (rsignReference, binaryChannelReference), which every other
 * backend keeps (test/native-sign.test.ts).
 */
import * as tf from '../backend/tf.js';
import { RSIGN_FORWARD, SCALED_SIGN_FORWARD, SIGN_BACKWARD, SIGN_FORWARD, type SignAttrs } from '../backend/sign-kernels.js';

let gradientsRegistered = false;

function registerGradientsOnce(): void {
  if (gradientsRegistered) return;
  gradientsRegistered = true;
  const backward = (dy: tf.Tensor, x: tf.Tensor, threshold: tf.Tensor | null, attrs: tf.NamedAttrMap) =>
    tf.engine().runKernel(SIGN_BACKWARD, threshold == null ? { dy, x } : { dy, x, threshold }, attrs) as tf.Tensor;
  tf.registerGradient({
    kernelName: SIGN_FORWARD,
    inputsToSave: ['x'],
    gradFunc: (dy, [x], attrs) => {
      const dx = backward(dy as tf.Tensor, x, null, attrs);
      return { x: () => dx };
    },
  });
  tf.registerGradient({
    kernelName: RSIGN_FORWARD,
    inputsToSave: ['x', 'threshold'],
    gradFunc: (dy, [x, threshold], attrs) => {
      const dt = backward(dy as tf.Tensor, x, threshold, attrs);
      return {
        x: () => dt,
        // As TF.js's Add gradient takes it: a Sum over the broadcast axes, reshaped.
        threshold: () => {
          const axes = tf.backend_util.getReductionAxes(threshold.shape, dt.shape);
          return tf.reshape(axes.length > 0 ? tf.sum(dt, axes) : dt, threshold.shape);
        },
      };
    },
  });
  tf.registerGradient({
    kernelName: SCALED_SIGN_FORWARD,
    inputsToSave: ['x', 'scale'],
    gradFunc: (dy, [x, scale], attrs) => {
      const dx = backward(dy as tf.Tensor, x, null, attrs);
      return { x: () => dx, scale: () => tf.zerosLike(scale) };
    },
  });
}

/** p holds one float32 value per channel of x's last axis (shape [C], or 1s then C). */
function perChannel(x: tf.Tensor, p: tf.Tensor): boolean {
  const c = x.shape[x.rank - 1];
  return p.dtype === 'float32' && p.rank >= 1 && p.rank <= x.rank && p.shape[p.rank - 1] === c && p.shape.slice(0, -1).every((d) => d === 1);
}

/**
 * Whether the fused sign applies here: a backend with the kernel (native), float32 non-empty x of
 * rank ≥ 1, threshold and scale (where given) per last-axis channel.
 */
export function fusedSignApplies(x: tf.Tensor, ...params: Array<tf.Tensor | null | undefined>): boolean {
  const backend = tf.getBackend();
  if (backend == null || tf.getKernel(SIGN_FORWARD, backend) == null) return false;
  if (x.dtype !== 'float32' || x.rank < 1 || x.size === 0) return false;
  return params.every((p) => p == null || perChannel(x, p));
}

/**
 * (x + threshold ≥ 0 ? 1 : −1)·scale per last-axis channel; threshold or scale optional (not both);
 * ∂x = dy·g(x + threshold) with g the clipped STE ('ste') or ApproxSign's ('approx'),
 * ∂threshold its channel sums, ∂scale = 0.
 */
export function signFused(x: tf.Tensor, o: { mode: SignAttrs['mode']; threshold?: tf.Tensor | null; scale?: tf.Tensor | null }): tf.Tensor {
  if (o.threshold != null && o.scale != null) throw new Error('lowbit: the fused sign takes a threshold or a scale, not both');
  registerGradientsOnce();
  const attrs = { mode: o.mode } as SignAttrs as unknown as tf.NamedAttrMap;
  if (o.threshold != null) return tf.engine().runKernel(RSIGN_FORWARD, { x, threshold: o.threshold }, attrs) as tf.Tensor;
  if (o.scale != null) return tf.engine().runKernel(SCALED_SIGN_FORWARD, { x, scale: o.scale }, attrs) as tf.Tensor;
  return tf.engine().runKernel(SIGN_FORWARD, { x }, attrs) as tf.Tensor;
}
