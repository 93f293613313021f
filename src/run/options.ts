/**
 * Method options as data: each option's key, CLI flag, type, default and help. The CLI builds
 * its flags from these specs, recipes give the same options by flag name, and the library takes
 * typed values; all three go through `parseOptions`, so every caller sees the same errors.
 */
import { LowbitError } from '../errors.js';
import { parseChoice, parseInteger, parseNonNegative, parsePositive } from '../cli/options.js';

export type OptionType =
  | { kind: 'integer'; min: number; max?: number }
  | { kind: 'positive' }
  | { kind: 'nonNegative'; below?: number }
  | { kind: 'boolean' }
  | { kind: 'string' }
  | { kind: 'choice'; choices: readonly string[] }
  /** Comma-separated positive numbers, e.g. '1e-3,5e-4'. */
  | { kind: 'positiveList' }
  /** Comma-separated names, or a keyword kept as is (e.g. 'auto'). */
  | { kind: 'names'; keyword: string }
  /** name=bits pairs, e.g. 'conv1=2,conv2=3'. */
  | { kind: 'layerBits' };

export interface OptionSpec {
  /** The option's key in the typed options object, e.g. 'dropBits'. */
  key: string;
  /** Its CLI flag (and recipe `options` name) without dashes, e.g. 'dropbits'. */
  flag: string;
  type: OptionType;
  /** The value used when none is given (as the CLI would write it); absent = undefined. */
  default?: string | number | boolean;
  help: string;
  /** The option must be given (no default). */
  required?: boolean;
  /** The flag's placeholder in help, e.g. '<n>'. */
  arg?: string;
}

/** Raw option values: by key or by flag name; strings (CLI), numbers/booleans/objects (recipes, library). */
export type RawOptions = Record<string, unknown>;

function parseValue(spec: OptionSpec, value: unknown): unknown {
  const flag = `--${spec.flag}`;
  const t = spec.type;
  if (t.kind === 'boolean') {
    if (typeof value === 'boolean') return value;
    if (value === 'true') return true;
    if (value === 'false') return false;
    throw new LowbitError(`${flag} is a switch (true or false), got ${JSON.stringify(value)}`);
  }
  if (t.kind === 'layerBits') {
    if (value != null && typeof value === 'object' && !Array.isArray(value)) value = Object.entries(value).map(([k, v]) => `${k}=${v}`).join(',');
    return parseLayerBits(String(value), flag);
  }
  if (t.kind === 'positiveList') {
    const items = Array.isArray(value) ? value.map(String) : String(value).split(',');
    return items.map((v) => parsePositive(v.trim(), flag));
  }
  if (typeof value !== 'string' && typeof value !== 'number') throw new LowbitError(`${flag} takes a ${t.kind === 'choice' || t.kind === 'string' || t.kind === 'names' ? 'string' : 'number'}, got ${JSON.stringify(value)}`);
  const s = String(value);
  switch (t.kind) {
    case 'integer': {
      const n = parseInteger(s, flag, t.min);
      if (t.max != null && n > t.max) throw new LowbitError(`${flag} must be at most ${t.max}, got '${s}'`);
      return n;
    }
    case 'positive': return parsePositive(s, flag);
    case 'nonNegative': {
      const n = parseNonNegative(s, flag);
      if (t.below != null && n >= t.below) throw new LowbitError(`${flag} must be below ${t.below}, got ${n}`);
      return n;
    }
    case 'choice': return parseChoice(s, flag, t.choices);
    case 'string': return s;
    case 'names': return s === t.keyword ? s : s.split(',').map((x) => x.trim()).filter(Boolean);
  }
}

/** '--layer-bits conv1=2,conv2=3' → { conv1: 2, conv2: 3 }. */
export function parseLayerBits(value: string, flag = '--layer-bits'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of value.split(',').map((p) => p.trim()).filter(Boolean)) {
    const m = /^([^=]+)=(\d+)$/.exec(part);
    if (!m || Number(m[2]) < 1 || Number(m[2]) > 16) throw new LowbitError(`${flag} takes name=bits pairs with bits 1–16, e.g. conv1=2,conv2=3; got '${part}'`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

/**
 * Parses raw values (keyed by option key or by flag name) against the specs; fills defaults.
 * An unknown key is an error naming the method's options.
 */
export function parseOptions(specs: readonly OptionSpec[], raw: RawOptions, method: string): Record<string, unknown> {
  const byName = new Map<string, OptionSpec>();
  for (const s of specs) {
    byName.set(s.key, s);
    byName.set(s.flag, s);
  }
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (value === undefined) continue;
    const spec = byName.get(name);
    if (spec == null) {
      throw new LowbitError(`method ${method} has no option '${name}'${specs.length ? `; its options: ${specs.map((s) => s.flag).join(', ')}` : ' (it takes none)'}`);
    }
    out[spec.key] = parseValue(spec, value);
  }
  for (const s of specs) {
    if (!(s.key in out) && s.default !== undefined) out[s.key] = parseValue(s, s.default);
    if (!(s.key in out) && s.required) throw new LowbitError(`method ${method} needs --${s.flag} (${s.help})`);
  }
  return out;
}
