/**
 * The 1-bit sign of lowbit's binarizers (src/quantizers/binary.ts: RSign on activations, the
 * per-column sign·α of BiTAT's binary weights) as one forward and one backward kernel, instead of
 * the op chains tf.add (the threshold), GreaterEqual, Cast, Multiply, Sub (sign with sign(0) = +1),
 * Multiply (the scale) forward and Abs, Multiply, Sub, Relu, Multiply (ApproxSign's gradient) or
 * GreaterEqual, LessEqual, LogicalAnd, Cast, Multiply (the clipped STE) backward. TF.js's wasm
 * backend runs GreaterEqual and LessEqual against a scalar as slow broadcasting kernels: in a
 * mobilenet-tiny BiTAT step they were the largest cost after the convolutions
 * (docs/results/bitat.md, "Training step speed"). Native backend only (native/train_ops.cc Sign,
 * registered by native.ts); cpu, wasm, webgl and webgpu keep the op chains of binary.ts, the
 * reference the kernels are tested against (test/native-sign.test.ts).
 *
 * Forward, x [..., C], threshold b [C] (optional), scale a [C] (optional; 1 without):
 *   t = x + b_c (float32),  y = t ≥ 0 ? a_c : −a_c   (NaN t: −a_c, as the chain's GreaterEqual).
 * Backward (attrs.mode): ∂t = dy·g(t),
 *   mode 'ste' (steSign's clipped STE):   g(t) = [−1 ≤ t ≤ 1],
 *   mode 'approx' (ApproxSign, RSign):    g(t) = relu(2 − |t|·2), in that float32 order;
 * ∂x = ∂t, ∂b = Σ ∂t over every axis but the last (the Sum TF.js's Add gradient takes), ∂a = 0 (α
 * is a constant of the STE, as in binary.ts). Every step is the chain's float32 operation, so y,
 * ∂x and ∂b are bit-identical to it.
 */
export const SIGN_FORWARD = 'LowbitSign';
/** The forward kernel with a threshold (inputs x, threshold), and with a scale (inputs x, scale). */
export const RSIGN_FORWARD = 'LowbitRsign';
export const SCALED_SIGN_FORWARD = 'LowbitScaledSign';
/** One backward kernel for the three (inputs dy, x, and the threshold where there is one). */
export const SIGN_BACKWARD = 'LowbitSignGrad';

/** The backward rule. */
export interface SignAttrs { mode: 'ste' | 'approx' }

/** native/train_ops.cc's Sign parameters: pass, mode, R, C, then heap offsets x, threshold, scale, out, dy (−1 where absent). */
export function signParams(pass: 0 | 1, mode: SignAttrs['mode'], rows: number, channels: number, offsets: [number, number, number, number, number]): Int32Array {
  return Int32Array.from([pass, mode === 'approx' ? 1 : 0, rows, channels, ...offsets]);
}
