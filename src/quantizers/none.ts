/** The identity quantizer: the tensor stays float32. */
import type { QuantizerKind } from './kind.js';
import { noneInfo } from './kind-info.js';

/** No quantization. */
export interface NoneSpec { kind: 'none' }

/** none (the rest of the kind: noneInfo in kind-info.ts). */
export const noneKind: QuantizerKind<NoneSpec> = {
  ...noneInfo,
  apply: (_s, x) => x,
};
