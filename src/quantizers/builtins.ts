/** Registers lowbit's built-in quantizer kinds (imported for its effect by spec.ts). */
import { binaryKind, rsignKind } from './binary.js';
import { dorefaKind } from './dorefa.js';
import { registerQuantizer } from './kind.js';
import { multibitKind } from './multibit.js';
import { noneKind } from './none.js';
import { pqKind } from './pq.js';
import { rqKind, rqStKind, srqKind } from './relaxed.js';
import { ternaryKind } from './ternary.js';
import { lsqKind, pactKind, uniformKind } from './uniform.js';

for (const k of [noneKind, dorefaKind, binaryKind, rsignKind, ternaryKind, uniformKind, lsqKind, pactKind, rqKind, rqStKind, srqKind, multibitKind, pqKind]) {
  registerQuantizer(k as never);
}
