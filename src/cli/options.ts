/** Parsing of numeric CLI options into clear LowbitErrors. */
import { LowbitError } from '../errors.js';

export function parseInteger(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n) || n < min) {
    throw new LowbitError(`${flag} must be a whole number ≥ ${min}, got '${value}'`);
  }
  return n;
}

export function parsePositive(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new LowbitError(`${flag} must be a positive number, got '${value}'`);
  return n;
}

export function parseNonNegative(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new LowbitError(`${flag} must be a number ≥ 0, got '${value}'`);
  return n;
}

export function parseChoice<T extends string>(value: string, flag: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) {
    throw new LowbitError(`${flag} must be one of ${choices.join(', ')}, got '${value}'`);
  }
  return value as T;
}
