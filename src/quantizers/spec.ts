/**
 * Quantizer specs: plain JSON objects with a `kind` (so they serialise into model.json) or a
 * name. `resolveQuantizer` looks the kind up in the registry (kind.ts), validates the spec and
 * returns the function it stands for, with its precision in bits (what summaries count), the
 * learned parameters it declares and the read-out of its grid.
 */
import type * as tf from '../backend/tf.js';
import './builtins.js';
import { GridInput, QuantGrid, QuantizerContext, QuantizerKind, quantizerKind, QuantizerParam, QuantizerRole } from './kind.js';
import { normalizeSpec, QuantizerSpec, QuantizerSpecInput } from './spec-types.js';

export type { QuantizerRole, QuantizerParam, QuantizerContext } from './kind.js';

export type { QuantizerSpec, CustomQuantizerSpec, QuantizerSpecInput, QuantizerKindName } from './spec-types.js';
export { quantizerKinds, specFromName, normalizeSpec, specGrid } from './spec-types.js';

/** A resolved quantizer: the validated spec, its kind, and the kind's methods bound to the spec. */
export interface Quantizer {
  readonly spec: QuantizerSpec;
  readonly kind: QuantizerKind;
  /** Bits per value after quantization (32 for none). */
  readonly precision: number;
  readonly params: readonly QuantizerParam[];
  /**
   * q(x) for the given role; `params` holds the layer's tensors for `this.params`, in order;
   * `training` selects the training-time rule where it differs (RQ/SRQ; default false).
   */
  apply(x: tf.Tensor, role: QuantizerRole, params?: tf.Tensor[], training?: boolean, context?: QuantizerContext): tf.Tensor;
  /** The read-out of the grid for one tensor (see QuantizerKind.grid). */
  grid(role: QuantizerRole, input: GridInput): QuantGrid | null;
  /** The documented output value set. */
  valueSet(role: QuantizerRole): string;
}

/** The quantizer a spec stands for (validated; the kind looked up in the registry). */
export function resolveQuantizer(spec: QuantizerSpecInput, where?: string): Quantizer {
  const s = normalizeSpec(spec, where);
  const kind = quantizerKind(s.kind)!;
  const at = where ?? 'quantizer';
  return {
    spec: s,
    kind,
    precision: kind.precision(s),
    params: kind.params(s),
    apply: (x, role, params = [], training = false, context = {}) => kind.apply(s, x, role, params, training, context, at),
    grid: (role, input) => kind.grid(s, role, input),
    valueSet: (role) => kind.valueSet(s, role),
  };
}

/** The documented output value set of a quantizer (for summaries and docs). */
export function valueSet(spec: QuantizerSpecInput, role: QuantizerRole): string {
  return resolveQuantizer(spec).valueSet(role);
}
