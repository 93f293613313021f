import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crashAndResume, lowbitAsync } from './fault-helpers.js';
import { firstPassOnly } from './helpers.js';

test('quantize --method dorefa (Adam): killed at every kind of write and resumed, the weights equal the uninterrupted run\'s byte for byte', { skip: firstPassOnly }, async () => {
  const teacher = join(mkdtempSync(join(tmpdir(), 'lowbit-fault-teacher-')), 't');
  const t = await lowbitAsync(['train', '--model', 'lenet5', '--dataset', 'mnist', '--epochs', '1', '--max-steps', '20', '--backend', 'wasm', '--quiet', '--out', teacher]);
  assert.equal(t.status, 0, t.stderr);
  await crashAndResume('adam', ['quantize', '--method', 'dorefa', '--teacher', teacher, '--wbits', '1', '--epochs', '3', '--batch', '2',
    '--train-subset', '200', '--backend', 'wasm', '--seed', '5', '--quiet']);
});
