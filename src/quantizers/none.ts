/** The identity quantizer: the tensor stays float32. */
import type { QuantizerKind } from './kind.js';

/** No quantization. */
export interface NoneSpec { kind: 'none' }

/** none: q(x) = x, 32 bits, no grid. Layers treat it as no quantizer at all. */
export const noneKind: QuantizerKind<NoneSpec> = {
  kind: 'none',
  naming: 'plain',
  validate() {},
  precision: () => 32,
  params: () => [],
  apply: (_s, x) => x,
  valueSet: () => 'float32',
  grid: () => null,
};
