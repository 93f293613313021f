import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { at, cli, fixtures, quantize, readOnly, recipes, Row, runRows, tiny } from './bad-input-helpers.js';
import { firstPassOnly } from './helpers.js';

test('bad input to export, demo, run, eval, quantize, verify and dq: exit 2, one line naming the problem and the fix, nothing written', { skip: firstPassOnly }, async () => {
  const { trained, nan, truncated } = await fixtures();
  const rows: Row[] = [
    ['export --out a file', ['export', trained, '--format', 'onnx', '--out', at('a-file')], /--out .*a-file is not writable: .*a-file is a file, not a directory/, at('a-file')],
    ['export --out under /proc', ['export', trained, '--format', 'onnx', '--out', '/proc/lowbit-test'], /--out \/proc\/lowbit-test is not writable: \/proc is on the proc pseudo file system/, '/proc/lowbit-test'],
    ['export --out read-only', ['export', trained, '--format', 'onnx,packed', '--out', join(readOnly, 'x')], /--out .* is not writable/, readOnly],
    ['export of a directory without a model', ['export', at('no-model'), '--format', 'onnx', '--out', at('o14')], /holds no model\.json/, at('o14')],
    ['demo --out under /proc', ['demo', '--out', '/proc/lowbit-demo', '--quiet', '--backend', 'wasm'], /--out \/proc\/lowbit-demo is not writable: .*proc pseudo file system/, '/proc/lowbit-demo'],
    ['run --out under /proc', ['run', join(recipes, 'train-mnist.json'), '--out', '/proc/lowbit-run', '--quiet'], /\/proc\/lowbit-run .*(pseudo file system|cannot be created)/, '/proc/lowbit-run'],
    ['eval with a corrupt lowbit.json', ['eval', at('corrupt-meta')], /corrupt-meta\/lowbit\.json: not valid JSON .*restore it or rerun/, at('corrupt-meta')],
    ['eval on a DQ directory', ['eval', at('fake-dq')], /holds a DQ auto-encoder, not a classifier: use 'lowbit dq eval/, at('fake-dq')],
    ['eval on a directory with no model', ['eval', at('no-model')], /no-model holds no model\.json: pass a model directory written by 'lowbit train'/, at('no-model')],
    ['eval with NaN weights', ['eval', nan], /the model in .*nan has NaN weights \(conv1\/kernel\)/, nan],
    ['quantize a teacher with a corrupt lowbit.json', quantize(at('corrupt-meta'), '--out', at('o15')), /corrupt-meta\/lowbit\.json: not valid JSON/, at('o15')],
    ['quantize a teacher with NaN weights', quantize(nan, '--out', at('o16')), /the teacher .*nan has NaN weights/, at('o16')],
    ['quantize an LSTM', quantize(at('lstm'), '--out', at('o17')), /cannot quantize .*\(LSTM\): train the teacher without them .*from the library/, at('o17')],
    ['quantize a GRU', quantize(at('gru'), '--out', at('o18')), /cannot quantize .*\(GRU\): train the teacher without them/, at('o18')],
    ['verify --min-agreement 2', ['verify', trained, '--min-agreement', '2'], /--min-agreement must be a fraction between 0 and 1 .*got '2'/, join(trained, 'export')],
    ['verify a truncated .onnx', ['verify', truncated, '--format', 'onnx', '--images', '8'], /model\.float\.onnx: not a usable ONNX model .*export it again/, truncated],
    ['verify --json read-only', ['verify', truncated, '--format', 'onnx', '--json', join(readOnly, 'v.json')], /--json .* is not writable/, readOnly],
    ['verify --json a directory', ['verify', truncated, '--format', 'onnx', '--json', at('existing.png')], /--json .*existing\.png is a directory; name a file/, at('existing.png')],
    ['dq decode --out an existing directory', ['dq', 'decode', at('fake-dq'), '--codes', at('a-file'), '--out', at('existing.png')], /--out .*existing\.png is a directory; name a file/, at('existing.png')],
    ['verify --json in a missing directory', ['verify', truncated, '--format', 'onnx', '--json', join(at('missing'), 'v.json')], /--json .*v\.json: its directory .*missing does not exist; create it/, at('missing')],
    ['dq encode --out read-only', ['dq', 'encode', at('fake-dq'), '--out', join(readOnly, 'codes.bin')], /--out .* is not writable/, readOnly],
    ['dq encode --out under a file', ['dq', 'encode', at('fake-dq'), '--out', join(at('a-file'), 'codes.bin')], /--out .* is not writable: .*a-file is a file, not a directory/, at('a-file')],
    ['dq export --out read-only', ['dq', 'export', at('fake-dq'), '--out', join(readOnly, 'x')], /--out .* is not writable/, readOnly],
    ['dq export --out under /proc', ['dq', 'export', at('fake-dq'), '--out', '/proc/lowbit-dq'], /is on the proc pseudo file system/, '/proc/lowbit-dq'],
    ['dq train --train-subset 3', ['dq', 'train', '--dataset', 'mnist', ...tiny, '--train-subset', '3', '--out', at('o19')], /subset of 3 images is impossible/, at('o19')],
  ];
  assert.deepEqual(await runRows(rows), []);
  // The LSTM's summary counts its MACs (was NaN).
  const s = spawnSync(process.execPath, [cli, 'summary', at('lstm')], { encoding: 'utf8' });
  assert.equal(s.status, 0, s.stderr);
  assert.doesNotMatch(s.stdout, /NaN/);
  assert.match(s.stdout, new RegExp(`\\b${28 * (28 * 32 + 8 * 32)}\\b`), 'LSTM MACs = steps × (kernel + recurrent kernel weights)');
});
