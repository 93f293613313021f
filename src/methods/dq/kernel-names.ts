/**
 * Names and attributes of the DQ auto-encoder's native kernels (native/dq.cc), shared by the ops that
 * run them (mixture.ts, src/layers/depthwise-quantizer.ts) and their Node-only registration
 * (native-kernels.ts, which documents inputs and outputs). No imports: safe in the browser bundle.
 */
export const MIXTURE_NLL = 'LowbitDqMixtureNll';
export const MIXTURE_NLL_GRAD = 'LowbitDqMixtureNllGrad';
export const NEAREST_CODE = 'LowbitDqNearestCode';
/** The largest mixture the kernel takes (native/dq.cc kMaxMix). */
export const MAX_MIXTURES = 64;

export interface MixtureNllAttrs { nMix: number; top: number; left: number }
