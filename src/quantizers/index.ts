/** lowbit's quantizers: small functions over tf.Tensor with explicit pseudo-gradients, and the quantizer registry. */
export { roundSTE, signPlusOne, checkBits } from './common.js';
export { quantizeK, dorefaWeight, dorefaActivation, dorefaGradient, binaryMeanScaled } from './dorefa.js';
export { ternary, ternaryTWN, ternaryWRPN } from './ternary.js';
export type { TernaryOptions } from './ternary.js';
export { steSign, approxSign, rsign, binaryChannel } from './binary.js';
export { uniform, lsq, pact, integerRange } from './uniform.js';
export type { UniformOptions } from './uniform.js';
export { resolveQuantizer, normalizeSpec, specFromName, valueSet, quantizerKinds } from './spec.js';
export type { Quantizer, QuantizerSpec, QuantizerSpecInput, CustomQuantizerSpec, QuantizerKindName, QuantizerRole, QuantizerParam, QuantizerContext } from './spec.js';
export { registerQuantizer, quantizerKind, registeredQuantizerKinds, codeRange, isBipolar } from './kind.js';
export type { QuantizerKind, QuantGrid, UniformGrid, CodebookGrid, MultibitGrid, GridInput, QuantizerSpecBase } from './kind.js';
export { productQuantizedKernel, kernelSubvectors, subvectorsToKernel, subvectorOrder } from './pq.js';
export type { PqSpec } from './pq.js';
