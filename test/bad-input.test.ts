/**
 * Bad input, as a table: each row is a command that must exit 2 with one line on stderr matching
 * a fragment, and write nothing (its output path absent, or an existing directory unchanged).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../src/index.js';
import { saveModelDir } from '../src/node.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const recipes = fileURLToPath(new URL('../../recipes/', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'lowbit-bad-'));
const at = (name: string) => join(root, name);

function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000); // a hang (e.g. mkdir under /proc) fails the row
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.on('error', reject);
    child.on('close', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

/** Every file under `path` with its size and mtime (or 'absent'). */
function snapshot(path: string): string {
  if (!existsSync(path)) return 'absent';
  const st = statSync(path);
  if (!st.isDirectory()) return `file ${st.size} ${st.mtimeMs}`;
  return readdirSync(path, { recursive: true }).map(String).sort()
    .map((n) => { const s = statSync(join(path, n)); return `${n} ${s.isDirectory() ? 'dir' : `${s.size} ${s.mtimeMs}`}`; }).join('\n');
}

const tiny = ['--epochs', '1', '--max-steps', '2', '--batch', '16', '--backend', 'wasm', '--quiet'];
const train = (...more: string[]) => ['train', '--model', 'lenet5', '--dataset', 'mnist', ...tiny, ...more];
const quantize = (teacher: string, ...more: string[]) => ['quantize', '--method', 'dorefa', '--teacher', teacher, '--dataset', 'mnist', ...tiny, ...more];
const readOnly = process.getuid?.() === 0 ? '/sys/lowbit-test' : at('read-only/sub'); // root ignores permissions; sysfs holds no files

test('bad input: exit 2, one line naming the problem and the fix, nothing written', async () => {
  // Fixtures: a trained model and damaged copies of it.
  const trained = at('trained');
  const t = spawnSync(process.execPath, [cli, ...train('--out', trained)], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  const copy = (name: string) => { cpSync(trained, at(name), { recursive: true }); return at(name); };
  writeFileSync(join(copy('corrupt-meta'), 'lowbit.json'), '{"dataset": "mnist",');
  writeFileSync(join(copy('fake-dq'), 'lowbit.json'), JSON.stringify({ kind: 'dq', dq: { groups: 1, codes: 4, levels: 1, embed: 4, width: 4 }, dataset: 'mnist' }));
  const nan = copy('nan');
  writeFileSync(join(nan, 'weights.bin'), Buffer.alloc(statSync(join(trained, 'weights.bin')).size, Buffer.from([0, 0, 0xc0, 0x7f])));
  mkdirSync(at('no-model'));
  writeFileSync(join(at('no-model'), 'lowbit.json'), JSON.stringify({ dataset: 'mnist' }));
  const truncated = copy('truncated-onnx');
  mkdirSync(join(truncated, 'export'));
  writeFileSync(join(truncated, 'export', 'model.float.onnx'), Buffer.from([0x08, 0x07, 0x12, 0x05, 0x6c]));
  writeFileSync(at('a-file'), 'x');
  mkdirSync(at('existing.png'));
  const idxDirs = at('idx-dirs');
  for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) mkdirSync(join(idxDirs, f), { recursive: true });
  if (process.getuid?.() !== 0) { mkdirSync(at('read-only')); (await import('node:fs')).chmodSync(at('read-only'), 0o555); }
  // A run directory another live process (this test) holds the lock of.
  mkdirSync(at('locked'));
  writeFileSync(join(at('locked'), '.lowbit.lock'), `${process.pid}\n`);
  // An LSTM and a Conv1D classifier on 28×28×1 images.
  const recurrent = async (name: string, layer: tf.layers.Layer) => {
    const m = tf.sequential();
    m.add(tf.layers.reshape({ inputShape: [28, 28, 1], targetShape: [28, 28] }));
    m.add(layer);
    if (name === 'conv1d') m.add(tf.layers.flatten());
    m.add(tf.layers.dense({ units: 10 }));
    mkdirSync(at(name));
    await saveModelDir(m, at(name));
    writeFileSync(join(at(name), 'lowbit.json'), JSON.stringify({ dataset: 'mnist', model: name }));
    m.dispose();
  };
  await recurrent('lstm', tf.layers.lstm({ units: 8 }));
  await recurrent('conv1d', tf.layers.conv1d({ filters: 4, kernelSize: 3 }));

  const rows: Array<[string, string[], RegExp, string]> = [
    // [what, arguments, message, path that must stay absent or unchanged]
    ['--epochs 0x2', train('--epochs', '0x2', '--out', at('o1')), /--epochs must be a whole number ≥ 1, got '0x2'/, at('o1')],
    ['--epochs 2abc', train('--epochs', '2abc', '--out', at('o2')), /--epochs must be a whole number ≥ 1, got '2abc'/, at('o2')],
    ['--batch 1.5', train('--batch', '1.5', '--out', at('o3')), /--batch must be a whole number ≥ 1, got '1.5'/, at('o3')],
    ['--lr Infinity', train('--lr', 'Infinity', '--out', at('o4')), /--lr must be a positive number, got 'Infinity'/, at('o4')],
    ['--lr 0x10', train('--lr', '0x10', '--out', at('o5')), /--lr must be a positive number, got '0x10'/, at('o5')],
    ['--seed 1e3', train('--seed', '1e3', '--out', at('o6')), /--seed must be a whole number ≥ 0, got '1e3'/, at('o6')],
    ['--max-steps with a newline', train('--max-steps', '3\n4', '--out', at('o7')), /--max-steps must be a whole number ≥ 1, got "3\\n4"/, at('o7')],
    ['--train-subset 0', train('--train-subset', '0', '--out', at('o8')), /--train-subset must be a whole number ≥ 1, got '0'/, at('o8')],
    ['--train-subset 5 (fewer than the classes)', train('--train-subset', '5', '--out', at('o9')), /subset of 5 images is impossible: .*10 classes; pass --train-subset between 10 and \d+/, at('o9')],
    ['--train-subset larger than the training set', train('--train-subset', '999999', '--out', at('o10')), /subset of 999999 images is impossible: mnist has \d+ training images/, at('o10')],
    ['--data-dir with mnist', train('--data-dir', idxDirs, '--out', at('o11')), /--data-dir applies to fashion-mnist .* drop --data-dir/, at('o11')],
    ['IDX files that are directories', ['train', '--model', 'lenet5', '--dataset', 'fashion-mnist', ...tiny, '--data-dir', idxDirs, '--out', at('o12')], /idx[13]-ubyte is a directory, not an IDX file/, at('o12')],
    ['train --out a file', train('--out', at('a-file')), /--out .*a-file is (not writable: .*)?a file, not a directory/, at('a-file')],
    ['train --out under a file (ENOTDIR)', train('--out', join(at('a-file'), 'run')), /--out .* is not writable: .*a-file is a file, not a directory/, at('a-file')],
    ['train --out under /proc', train('--out', '/proc/lowbit-test/run'), /--out \/proc\/lowbit-test\/run is not writable: \/proc is on the proc pseudo file system/, '/proc/lowbit-test'],
    ['train --out under /proc/self', train('--out', '/proc/self/lowbit/run'), /is on the proc pseudo file system/, '/proc/self/lowbit'],
    ['train --out read-only', train('--out', join(readOnly, 'run')), /--out .* is not writable/, readOnly],
    ['--resume on a missing directory', train('--resume', '--out', at('o13')), /--resume: .* does not exist; run without --resume/, at('o13')],
    ['--resume with another seed', train('--resume', '--seed', '1', '--out', trained), /--resume: .*checkpoint\.lbck was written by a run with other settings \(config\.seed 0 ≠ 1\)/, trained],
    ['--resume with another optimizer and lr', train('--resume', '--optimizer', 'sgd', '--lr', '0.01', '--out', trained), /other settings \(.*config\.learningRate 0\.001 ≠ 0\.01.*config\.optimizer\.name "adam" ≠ "sgd"/, trained],
    ['--resume with another batch', train('--resume', '--batch', '8', '--out', trained), /other settings \(config\.batchSize 16 ≠ 8\)/, trained],
    ['--resume with a training subset', train('--resume', '--train-subset', '100', '--out', trained), /other settings \(.*trainSubset null ≠ 100/, trained],
    ['--resume with another model width', train('--resume', '--width', '0.5', '--out', trained), /other settings \(width "1" ≠ "0\.5"\)/, trained],
    ['--resume with another command', quantize(trained, '--resume', '--out', trained), /--resume: .*was written by a run with other settings \(command "train" ≠ "quantize"; /, trained],
    ['a fresh run into a finished run', train('--out', trained), /already exists and is not empty: pass --resume/, trained],
    ['a run directory locked by a live process', train('--out', at('locked')), new RegExp(`is being written by process ${process.pid}; wait for it to finish or choose another --out`), at('locked')],
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
    ['quantize a Conv1D', quantize(at('conv1d'), '--out', at('o18')), /cannot quantize .*\(Conv1D\): train the teacher without them/, at('o18')],
    ['verify --min-agreement 2', ['verify', trained, '--min-agreement', '2'], /--min-agreement must be a fraction between 0 and 1 .*got '2'/, join(trained, 'export')],
    ['verify a truncated .onnx', ['verify', truncated, '--format', 'onnx', '--images', '8'], /model\.float\.onnx: not a usable ONNX model .*export it again/, truncated],
    ['verify --json read-only', ['verify', truncated, '--format', 'onnx', '--json', join(readOnly, 'v.json')], /--json .* is not writable/, readOnly],
    ['verify --json a directory', ['verify', truncated, '--format', 'onnx', '--json', at('existing.png')], /--json .*existing\.png is a directory; name a file/, at('existing.png')],
    ['dq decode --out an existing directory', ['dq', 'decode', at('fake-dq'), '--codes', at('a-file'), '--out', at('existing.png')], /--out .*existing\.png is a directory; name a file/, at('existing.png')],
    ['dq encode --out read-only', ['dq', 'encode', at('fake-dq'), '--out', join(readOnly, 'codes.bin')], /--out .* is not writable/, readOnly],
    ['dq encode --out under a file', ['dq', 'encode', at('fake-dq'), '--out', join(at('a-file'), 'codes.bin')], /--out .* is not writable: .*a-file is a file, not a directory/, at('a-file')],
    ['dq export --out read-only', ['dq', 'export', at('fake-dq'), '--out', join(readOnly, 'x')], /--out .* is not writable/, readOnly],
    ['dq export --out under /proc', ['dq', 'export', at('fake-dq'), '--out', '/proc/lowbit-dq'], /is on the proc pseudo file system/, '/proc/lowbit-dq'],
    ['dq train --train-subset 3', ['dq', 'train', '--dataset', 'mnist', ...tiny, '--train-subset', '3', '--out', at('o19')], /subset of 3 images is impossible/, at('o19')],
  ];
  assert.ok(rows.length >= 40, `${rows.length} rows`);
  const before = new Map(rows.map(([, , , path]) => [path, snapshot(path)]));
  const failures: string[] = [];
  const queue = rows.slice();
  const worker = async () => {
    for (let row = queue.shift(); row; row = queue.shift()) {
      const [what, args, message, path] = row;
      const r = await run(args);
      const lines = r.stderr.trim().split('\n');
      if (r.status !== 2) failures.push(`${what}: exit ${r.status}, stderr: ${r.stderr.trim()}`);
      else if (lines.length !== 1 || !/^lowbit: error: /.test(lines[0])) failures.push(`${what}: not one error line: ${r.stderr.trim()}`);
      else if (!message.test(lines[0])) failures.push(`${what}: ${lines[0]} does not match ${message}`);
      else if (snapshot(path) !== before.get(path)) failures.push(`${what}: ${path} changed`);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
  assert.deepEqual(failures, []);
  // The LSTM's summary counts its MACs (was NaN).
  const s = spawnSync(process.execPath, [cli, 'summary', at('lstm')], { encoding: 'utf8' });
  assert.equal(s.status, 0, s.stderr);
  assert.doesNotMatch(s.stdout, /NaN/);
  assert.match(s.stdout, new RegExp(`\\b${28 * (28 * 32 + 8 * 32)}\\b`), 'LSTM MACs = steps × (kernel + recurrent kernel weights)');
  assert.equal(readFileSync(join(at('locked'), '.lowbit.lock'), 'utf8'), `${process.pid}\n`, 'a live lock is left alone');
});
