/**
 * Shared by the bad-input table tests. Bad input, as a table: each row is a command that must exit 2 with one line on stderr matching
 * a fragment, and write nothing (its output path absent, or an existing directory unchanged).
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../src/index.js';
import { saveModelDir } from '../src/node.js';

export const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
export const recipes = fileURLToPath(new URL('../../recipes/', import.meta.url));
const root = mkdtempSync(join(tmpdir(), 'lowbit-bad-'));
export const at = (name: string) => join(root, name);

function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000); // a hang (e.g. mkdir under /proc) fails the row
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

export const tiny = ['--epochs', '1', '--max-steps', '2', '--batch', '16', '--backend', 'wasm', '--quiet'];
export const train = (...more: string[]) => ['train', '--model', 'lenet5', '--dataset', 'mnist', ...tiny, ...more];
export const quantize = (teacher: string, ...more: string[]) => ['quantize', '--method', 'dorefa', '--teacher', teacher, '--dataset', 'mnist', ...tiny, ...more];
export const readOnly = process.getuid?.() === 0 ? '/sys/lowbit-test' : at('read-only/sub'); // root ignores permissions; sysfs holds no files

export type Row = [string, string[], RegExp, string];

/** Builds the fixtures (a trained model and damaged copies) under the table's temp root; returns the trained model's directory. */
export async function fixtures(): Promise<{ trained: string; nan: string; truncated: string; idxDirs: string }> {
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
  // An LSTM and a GRU classifier on 28×28×1 images (layers lowbit does not quantize).
  const recurrent = async (name: string, layer: tf.layers.Layer) => {
    const m = tf.sequential();
    m.add(tf.layers.reshape({ inputShape: [28, 28, 1], targetShape: [28, 28] }));
    m.add(layer);
    m.add(tf.layers.dense({ units: 10 }));
    mkdirSync(at(name));
    await saveModelDir(m, at(name));
    writeFileSync(join(at(name), 'lowbit.json'), JSON.stringify({ dataset: 'mnist', model: name }));
    m.dispose();
  };
  await recurrent('lstm', tf.layers.lstm({ units: 8 }));
  await recurrent('gru', tf.layers.gru({ units: 8 }));

  return { trained, nan, truncated, idxDirs };
}

/** Runs the rows three at a time; returns the failures (empty when every row behaved). */
export async function runRows(rows: Row[]): Promise<string[]> {
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
  return failures;
}
