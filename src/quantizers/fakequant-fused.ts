/**
 * DoReFa's k-bit activation and weight quantizers and LSQ as fused ops with their own gradients: one forward
 * and one backward kernel each (src/backend/fakequant-kernels.ts on wasm, native/fakequant.cc on
 * native) instead of chains of elementwise ops. Same values and ∂x as the tfjs-ops references in
 * dorefa.ts and uniform.ts, which the cpu, webgl and webgpu backends keep and the fused ops are
 * tested against (test/fakequant-fused.test.ts).
 */
import * as tf from '../backend/tf.js';
import { DOREFA_ACT_BACKWARD, DOREFA_ACT_FORWARD, DOREFA_WEIGHT_BACKWARD, DOREFA_WEIGHT_FORWARD, LSQ_BACKWARD, LSQ_FORWARD, type DorefaActAttrs, type LsqAttrs } from '../backend/fakequant-kernels.js';

let gradientsRegistered = false;

function registerGradientsOnce(): void {
  if (gradientsRegistered) return;
  gradientsRegistered = true;
  // DoReFa activations and weights: x → dx through the matching backward kernel.
  for (const [forward, backward] of [[DOREFA_ACT_FORWARD, DOREFA_ACT_BACKWARD], [DOREFA_WEIGHT_FORWARD, DOREFA_WEIGHT_BACKWARD]]) {
    tf.registerGradient({
      kernelName: forward,
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const dx = tf.engine().runKernel(backward, { dy: dy as tf.Tensor, x: saved[0] }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
        return { x: () => dx };
      },
    });
  }
  tf.registerGradient({
    kernelName: LSQ_FORWARD,
    inputsToSave: ['x', 'step'],
    gradFunc: (dy, saved, attrs) => {
      const [x, step] = saved;
      const [dx, dstep] = tf.engine().runKernel(LSQ_BACKWARD, { dy: dy as tf.Tensor, x, step }, attrs as unknown as tf.NamedAttrMap) as unknown as tf.Tensor[];
      return { x: () => dx, step: () => dstep };
    },
  });
}

const hasKernel = (name: string) => {
  const backend = tf.getBackend();
  return backend != null && tf.getKernel(name, backend) != null;
};

/** Whether the fused DoReFa activation kernel applies to x here (wasm and native, float32, non-empty). */
export function fusedDorefaActivationApplies(x: tf.Tensor): boolean {
  return x.dtype === 'float32' && x.size > 0 && hasKernel(DOREFA_ACT_FORWARD);
}

/** Whether the fused DoReFa k-bit weight kernel applies to w here (native, float32, non-empty). */
export function fusedDorefaWeightApplies(w: tf.Tensor): boolean {
  return w.dtype === 'float32' && w.size > 0 && hasKernel(DOREFA_WEIGHT_FORWARD);
}

/** DoReFa k-bit weights: 2·quantize_k(tanh(w)/(2·max|tanh(w)|) + ½) − 1, tanh included, one kernel each way. */
export function dorefaWeightFused(w: tf.Tensor, n: number): tf.Tensor {
  registerGradientsOnce();
  const attrs: DorefaActAttrs = { n };
  return tf.engine().runKernel(DOREFA_WEIGHT_FORWARD, { x: w }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** Whether the fused LSQ kernel applies (wasm and native, float32 x non-empty, a one-element float32 step). */
export function fusedLsqApplies(x: tf.Tensor, step: tf.Tensor): boolean {
  return x.dtype === 'float32' && x.size > 0 && step.dtype === 'float32' && step.size === 1 && hasKernel(LSQ_FORWARD);
}

/** round(clip(x, 0, 1)·n)/n, ∂x = dy·[0 ≤ x ≤ 1]. */
export function dorefaActivationFused(x: tf.Tensor, n: number): tf.Tensor {
  registerGradientsOnce();
  const attrs: DorefaActAttrs = { n };
  return tf.engine().runKernel(DOREFA_ACT_FORWARD, { x }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** LSQ: round(clip(x/s, q_min, q_max))·s with the LSQ gradients (g the step's gradient scale). */
export function lsqFused(x: tf.Tensor, step: tf.Tensor, qMin: number, qMax: number, g: number): tf.Tensor {
  registerGradientsOnce();
  const attrs: LsqAttrs = { qMin, qMax, g };
  return tf.engine().runKernel(LSQ_FORWARD, { x, step }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}
