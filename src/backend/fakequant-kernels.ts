/**
 * Fused uniform fake-quantizers: DoReFa's k-bit activations and weights, and LSQ, each one forward kernel (one
 * pass: the quantized value) and one backward kernel (one pass: ∂x, and LSQ's ∂step as a
 * reduction), instead of a chain of TF.js elementwise ops (clip, mul, round, div, the masks of the
 * STE), each with its own memory pass and tape entry. The kernels are C++ (native/fakequant.cc),
 * registered by native.ts on the native backend only: on plain wasm a JS-loop version measured
 * 1.3–3.9× slower than wasm's own SIMD op chain (docs/engine.md), so wasm, cpu, webgl and webgpu keep
 * the tfjs-ops chains of src/quantizers/dorefa.ts and uniform.ts, the reference the kernels are
 * tested against (test/fakequant-fused.test.ts). Every step is the reference's float32 operation
 * in the reference's order, so values and ∂x are bit-identical; ∂step sums in float64.
 *
 * DoReFa activation, n = 2^k − 1 (src/quantizers/dorefa.ts):
 *   y = round(clip(x, 0, 1)·n)/n,  ∂x = dy·[0 ≤ x ≤ 1].
 * LSQ, v = x/s (src/quantizers/uniform.ts):
 *   y = round(clip(v, q_min, q_max))·s,  ∂x = dy·[q_min ≤ v ≤ q_max],
 *   ∂s = g·Σ dy·(round(v) − v inside, q_min below, q_max above),  g = 1/√(N·q_max).
 * DoReFa k-bit weights, tanh included (t = tanh(w), std::tanh in the kernel, TF.js's Tanh in the
 * chain: the two can differ in the last bit, test/fakequant-fused.test.ts bounds it), m2 = 2·max|t|
 * over the tensor: y = 2·(round((t/m2 + ½)·n)/n) − 1; ∂t = du/m2 + [|t| = max|t|]·sign(t)·∂m with
 * du = (2·dy/n)·n (the chain's own roundings) and ∂m = 2·(−(Σ du·t)/m2²), the gradient through the
 * max as TF.js's Max and Abs give it; ∂w = (1 − t·t)·∂t, TF.js's Tanh gradient.
 * round is half to even (tf.round).
 */
export const DOREFA_ACT_FORWARD = 'LowbitDorefaActQuant';
export const DOREFA_ACT_BACKWARD = 'LowbitDorefaActQuantGrad';
export const DOREFA_WEIGHT_FORWARD = 'LowbitDorefaWeightQuant';
export const DOREFA_WEIGHT_BACKWARD = 'LowbitDorefaWeightQuantGrad';
export const LSQ_FORWARD = 'LowbitLsqQuant';
export const LSQ_BACKWARD = 'LowbitLsqQuantGrad';

/** DoReFa activation and k-bit weights: n = 2^k − 1. */
export interface DorefaActAttrs { n: number }
/** LSQ: the integer range and the gradient scale g. */
export interface LsqAttrs { qMin: number; qMax: number; g: number }

const f32Bits = (v: number) => new Int32Array(Float32Array.from([v]).buffer)[0];

/**
 * The parameter block native/fakequant.cc reads: method (0 DoReFa activation, 1 LSQ, 2 DoReFa weights), pass
 * (0 forward, 1 backward), count, q_min, q_max, then float32 bits of n and g, then heap offsets of
 * x, step, out (y or dx), dy, dstep (−1 where absent).
 */
export function fakeQuantParams(method: 0 | 1 | 2, pass: 0 | 1, count: number, qMin: number, qMax: number, n: number, g: number, offsets: number[]): Int32Array {
  return Int32Array.from([method, pass, count, qMin, qMax, f32Bits(n), f32Bits(g), ...offsets, ...new Array<number>(5 - offsets.length).fill(-1)]);
}
