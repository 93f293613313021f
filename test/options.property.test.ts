/**
 * Property-based tests of the CLI's option parsers (fast-check): any string gives either a value
 * of the promised kind or a LowbitError with a one-line message — never another exception.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LowbitError } from '../src/errors.js';
import { parseChoice, parseFraction, parseInteger, parseNonNegative, parsePositive } from '../src/cli/options.js';

/** Strings that look like numbers, almost-numbers and anything else. */
const numberish = fc.oneof(
  fc.string(),
  fc.string({ unit: 'binary' }),
  fc.integer().map(String),
  fc.double().map(String),
  fc.tuple(fc.constantFrom('', ' ', '+', '-', '0x', '0b', '0o', '.', '\n', '\t'), fc.nat().map(String), fc.constantFrom('', 'e3', 'e-2', '.5', 'abc', ' ', '\n', 'e400', '_1')).map((p) => p.join('')),
  fc.constantFrom('Infinity', '-Infinity', 'NaN', '1e400', '0x2', '2abc', '', ' ', '1_000', '١٢', '3\u20284', '٣'),
);

function outcome<T>(f: () => T): { value: T } | { error: LowbitError } {
  try {
    return { value: f() };
  } catch (e) {
    assert.ok(e instanceof LowbitError, `threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
    assert.equal(e.exitCode, 2);
    assert.doesNotMatch(e.message, /[\n\r\u2028\u2029]/, 'the message is one line');
    return { error: e };
  }
}

test('parseInteger: a safe whole number ≥ min written in decimal digits, or a one-line LowbitError naming the flag', () => {
  fc.assert(fc.property(numberish, fc.integer({ min: -3, max: 3 }), (s, min) => {
    const r = outcome(() => parseInteger(s, '--n', min));
    if ('value' in r) {
      assert.ok(Number.isSafeInteger(r.value) && r.value >= min);
      assert.match(s, /^[+-]?\d+$/, `accepted '${s}'`);
      assert.equal(r.value, Number(s));
    } else {
      assert.match(r.error.message, /^--n must be a whole number ≥ -?\d, got /);
    }
  }), { numRuns: 3000 });
});

test('parsePositive, parseNonNegative, parseFraction: finite numbers in range, or a one-line LowbitError', () => {
  fc.assert(fc.property(numberish, (s) => {
    const p = outcome(() => parsePositive(s, '--x'));
    if ('value' in p) assert.ok(Number.isFinite(p.value) && p.value > 0 && p.value === Number(s));
    const n = outcome(() => parseNonNegative(s, '--x'));
    if ('value' in n) assert.ok(Number.isFinite(n.value) && n.value >= 0 && n.value === Number(s));
    const f = outcome(() => parseFraction(s, '--x'));
    if ('value' in f) assert.ok(f.value >= 0 && f.value <= 1 && f.value === Number(s));
    // Hex, binary, octal, whitespace and 'Infinity' are never numbers here.
    if (/^\s|\s$|0[xbo]|Infinity|NaN/i.test(s)) assert.ok(!('value' in p) && !('value' in n) && !('value' in f), `accepted '${s}'`);
  }), { numRuns: 3000 });
});

test('parseChoice: one of the choices exactly, or a one-line LowbitError listing them', () => {
  const choices = ['adam', 'sgd'] as const;
  fc.assert(fc.property(fc.oneof(fc.string(), fc.constantFrom('adam', 'sgd', 'Adam', ' sgd', 'adam\n')), (s) => {
    const r = outcome(() => parseChoice(s, '--optimizer', choices));
    if ('value' in r) assert.ok((choices as readonly string[]).includes(s));
    else assert.match(r.error.message, /^--optimizer must be one of adam, sgd, got /);
  }), { numRuns: 2000 });
});

test('known cases', () => {
  assert.equal(parseInteger('12', '--n', 1), 12);
  assert.equal(parseInteger('-0', '--n', 0), -0);
  for (const bad of ['0x2', '2abc', ' 3', '3 ', '1e3', '1.0', '', '9007199254740993']) assert.throws(() => parseInteger(bad, '--n', 0), LowbitError, bad);
  assert.equal(parsePositive('1e-3', '--lr'), 1e-3);
  assert.equal(parsePositive('.5', '--lr'), 0.5);
  for (const bad of ['0', '-1', '1e400', 'Infinity', '0x10', '1,5']) assert.throws(() => parsePositive(bad, '--lr'), LowbitError, bad);
  assert.equal(parseFraction('0.999', '--min-agreement'), 0.999);
  assert.throws(() => parseFraction('2', '--min-agreement'), /--min-agreement must be a fraction between 0 and 1 \(e\.g\. 0\.999\), got '2'/);
  assert.throws(() => parseInteger('3\n4', '--max-steps', 1), /got "3\\n4"$/);
});
