/**
 * Quantizer specs: plain JSON objects with a `kind` (so they serialise into model.json) or a
 * name. `resolveQuantizer` looks the kind up in the registry (kind.ts), validates the spec and
 * returns the function it stands for, with its precision in bits (what summaries count), the
 * learned parameters it declares and the read-out of its grid.
 */
import type * as tf from '../backend/tf.js';
import { LowbitError } from '../errors.js';
import type { BinarySpec, RsignSpec } from './binary.js';
import './builtins.js';
import type { DorefaSpec } from './dorefa.js';
import {
  GridInput, QuantGrid, QuantizerContext, QuantizerKind, quantizerKind, QuantizerParam, QuantizerRole, QuantizerSpecBase, registeredQuantizerKinds,
} from './kind.js';
import type { MultibitSpec } from './multibit.js';
import type { NoneSpec } from './none.js';
import type { PqSpec } from './pq.js';
import type { RelaxedSpec } from './relaxed.js';
import type { TernarySpec } from './ternary.js';
import type { LsqSpec, PactSpec, UniformSpec } from './uniform.js';

export type { QuantizerRole, QuantizerParam, QuantizerContext } from './kind.js';

/** The built-in specs. */
export type QuantizerSpec = NoneSpec | DorefaSpec | BinarySpec | RsignSpec | TernarySpec | UniformSpec | LsqSpec | PactSpec | RelaxedSpec | MultibitSpec | PqSpec;

/** A spec of a kind registered outside lowbit (`registerQuantizer`): `kind` plus the kind's own JSON fields. */
export interface CustomQuantizerSpec extends QuantizerSpecBase {
  [field: string]: unknown;
}

/** Any spec a layer accepts: a built-in one, a registered kind's, or a name ('dorefa2'). */
export type QuantizerSpecInput = QuantizerSpec | CustomQuantizerSpec | string;

export type QuantizerKindName = QuantizerSpec['kind'];
/** The built-in kind names (`registeredQuantizerKinds()` lists every registered one). */
export const quantizerKinds: readonly QuantizerKindName[] = ['none', 'dorefa', 'binary', 'rsign', 'ternary', 'uniform', 'lsq', 'pact', 'rq', 'rq-st', 'srq', 'multibit', 'pq'];

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

/** Names: 'none', 'binary', 'rsign', 'ternary', 'dorefaK', 'uniformK', 'lsqK', 'pactK' (K = bits, e.g. 'dorefa2'), and registered kinds alike. */
export function specFromName(name: string): QuantizerSpec {
  const m = /^([a-z]+)(\d+)?$/.exec(name);
  const kind = m?.[1] == null ? undefined : quantizerKind(m[1]);
  const bits = m?.[2] != null ? Number(m[2]) : undefined;
  if (kind?.naming === 'plain' && bits == null) return { kind: kind.kind } as QuantizerSpec;
  if (kind?.naming === 'bits' && bits != null) return { kind: kind.kind, bits } as QuantizerSpec;
  const names = registeredQuantizerKinds().map((k) => quantizerKind(k)!).filter((k) => k.naming != null).map((k) => (k.naming === 'bits' ? `${k.kind}K` : k.kind));
  throw new LowbitError(`unknown quantizer '${name}': use ${names.slice(0, -1).join(', ')} or ${names[names.length - 1]} (K = bits, e.g. dorefa2)`);
}

/** Validates a spec (object or name) with its kind's rules; errors name the offending field. */
export function normalizeSpec(spec: QuantizerSpecInput, where = 'quantizer'): QuantizerSpec {
  // A JSON round trip drops undefined fields, which TF.js's config conversion cannot take.
  const s = typeof spec === 'string' ? specFromName(spec) : spec != null && typeof spec === 'object' ? JSON.parse(JSON.stringify(spec)) as QuantizerSpec : spec;
  if (s == null || typeof s !== 'object' || !('kind' in s)) throw new LowbitError(`${where}: expected a quantizer spec like {kind: 'dorefa', bits: 2}, got ${JSON.stringify(spec)}`);
  const kind = typeof s.kind === 'string' ? quantizerKind(s.kind) : undefined;
  if (kind == null) throw new LowbitError(`${where}: unknown quantizer kind ${JSON.stringify((s as { kind: unknown }).kind)}: choose one of ${registeredQuantizerKinds().join(', ')}`);
  kind.validate(s, where);
  return s;
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
