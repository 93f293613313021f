/**
 * Quantizer specs without TF.js: their types, name parsing and validation (`specFromName`,
 * `normalizeSpec`) and a spec's grid read-out (`specGrid`). A kind is looked up in the registry
 * (kind.ts; `registerQuantizer`), else among the built-in kinds' TF.js-free halves
 * (kind-info.ts) — which are the registered built-ins minus `apply`, so both lookups give the
 * same answer. spec.ts (with TF.js) builds `resolveQuantizer` on top; the runtime
 * (src/runtime/plan.ts) uses `specGrid` so that its import graph holds no TF.js.
 */
import { LowbitError } from '../errors.js';
import type { BinarySpec, RsignSpec } from './binary.js';
import type { DorefaSpec } from './dorefa.js';
import {
  GridInput, QuantGrid, QuantizerKindInfo, quantizerKind, QuantizerRole, QuantizerSpecBase, registeredQuantizerKinds,
} from './kind.js';
import { BUILTIN_KIND_INFOS } from './kind-info.js';
import type { MultibitSpec } from './multibit.js';
import type { NoneSpec } from './none.js';
import type { PqSpec } from './pq.js';
import type { RelaxedSpec } from './relaxed.js';
import type { TernarySpec } from './ternary.js';
import type { LsqSpec, PactSpec, UniformSpec } from './uniform.js';

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

const builtinInfos = new Map<string, QuantizerKindInfo>(BUILTIN_KIND_INFOS.map((k) => [k.kind, k]));

/** A kind by name: the registered one, else the built-in's TF.js-free half (the same but for `apply`). */
function kindInfo(name: string): QuantizerKindInfo | undefined {
  return quantizerKind(name) ?? builtinInfos.get(name);
}

/** Every kind name: the built-ins, then the others registered (as `registeredQuantizerKinds()` once builtins.ts has run). */
function kindNames(): string[] {
  return [...new Set([...builtinInfos.keys(), ...registeredQuantizerKinds()])];
}

/** Names: 'none', 'binary', 'rsign', 'ternary', 'dorefaK', 'uniformK', 'lsqK', 'pactK' (K = bits, e.g. 'dorefa2'), and registered kinds alike. */
export function specFromName(name: string): QuantizerSpec {
  const m = /^([a-z]+)(\d+)?$/.exec(name);
  const kind = m?.[1] == null ? undefined : kindInfo(m[1]);
  const bits = m?.[2] != null ? Number(m[2]) : undefined;
  if (kind?.naming === 'plain' && bits == null) return { kind: kind.kind } as QuantizerSpec;
  if (kind?.naming === 'bits' && bits != null) return { kind: kind.kind, bits } as QuantizerSpec;
  const names = kindNames().map((k) => kindInfo(k)!).filter((k) => k.naming != null).map((k) => (k.naming === 'bits' ? `${k.kind}K` : k.kind));
  throw new LowbitError(`unknown quantizer '${name}': use ${names.slice(0, -1).join(', ')} or ${names[names.length - 1]} (K = bits, e.g. dorefa2)`);
}

/** Validates a spec (object or name) with its kind's rules; errors name the offending field. */
export function normalizeSpec(spec: QuantizerSpecInput, where = 'quantizer'): QuantizerSpec {
  // A JSON round trip drops undefined fields, which TF.js's config conversion cannot take.
  const s = typeof spec === 'string' ? specFromName(spec) : spec != null && typeof spec === 'object' ? JSON.parse(JSON.stringify(spec)) as QuantizerSpec : spec;
  if (s == null || typeof s !== 'object' || !('kind' in s)) throw new LowbitError(`${where}: expected a quantizer spec like {kind: 'dorefa', bits: 2}, got ${JSON.stringify(spec)}`);
  const kind = typeof s.kind === 'string' ? kindInfo(s.kind) : undefined;
  if (kind == null) throw new LowbitError(`${where}: unknown quantizer kind ${JSON.stringify((s as { kind: unknown }).kind)}: choose one of ${kindNames().join(', ')}`);
  kind.validate(s, where);
  return s;
}

/** The grid read-out of a spec for one tensor (validated as `normalizeSpec` does; see QuantizerKind.grid). */
export function specGrid(spec: QuantizerSpecInput, role: QuantizerRole, input: GridInput, where?: string): QuantGrid | null {
  const s = normalizeSpec(spec, where);
  return kindInfo(s.kind)!.grid(s, role, input);
}
