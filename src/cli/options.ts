/**
 * Parsing of CLI option values into clear LowbitErrors. Strict: a value is the whole string in
 * plain decimal notation ('0x2', '2abc', ' 3', '1e400' and 'Infinity' are errors, not numbers).
 */
import { LowbitError } from '../errors.js';

const INTEGER = /^[+-]?\d+$/;
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/** A value as an error message shows it: on one line, and not too long. */
export function shownValue(value: string): string {
  const short = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  const control = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
  // JSON.stringify escapes \n and friends but leaves U+2028/U+2029, which break lines too.
  return control.test(short)
    ? JSON.stringify(short).replace(control, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    : `'${short}'`;
}

export function parseInteger(value: string, flag: string, min: number): number {
  const n = INTEGER.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min) {
    throw new LowbitError(`${flag} must be a whole number ≥ ${min}, got ${shownValue(value)}`);
  }
  return n;
}

function parseDecimal(value: string): number {
  const n = DECIMAL.test(value) ? Number(value) : NaN;
  return Number.isFinite(n) ? n : NaN;
}

export function parsePositive(value: string, flag: string): number {
  const n = parseDecimal(value);
  if (!(n > 0)) throw new LowbitError(`${flag} must be a positive number, got ${shownValue(value)}`);
  return n;
}

export function parseNonNegative(value: string, flag: string): number {
  const n = parseDecimal(value);
  if (!(n >= 0)) throw new LowbitError(`${flag} must be a number ≥ 0, got ${shownValue(value)}`);
  return n;
}

/** A fraction in [0, 1], e.g. an agreement rate. */
export function parseFraction(value: string, flag: string): number {
  const n = parseDecimal(value);
  if (!(n >= 0 && n <= 1)) throw new LowbitError(`${flag} must be a fraction between 0 and 1 (e.g. 0.999), got ${shownValue(value)}`);
  return n;
}

export function parseChoice<T extends string>(value: string, flag: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) {
    throw new LowbitError(`${flag} must be one of ${choices.join(', ')}, got ${shownValue(value)}`);
  }
  return value as T;
}
