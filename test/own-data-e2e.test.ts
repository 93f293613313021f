/**
 * Issue 18 end to end, through the CLI: a 32×32×3 PNG class folder and an `.npz` built here; lenet5
 * trained on each; PTQ W8A8 and DoReFa W2 of the folder model, both exported as QDQ and verified
 * in onnxruntime; ste fine-tuning from the PTQ directory; PTQ of the `.npz` model, exported and verified likewise
 * (docs/data.md, docs/methods/ptq.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { encodeNpy } from '../src/index.js';
import { cli } from './bad-input-helpers.js';
import { pngFolder, PixelFn, rgbImage } from './data-helpers.js';
import { firstPassOnly } from './helpers.js';

const root = mkdtempSync(join(tmpdir(), 'lowbit-e2e-'));
const at = (...p: string[]) => join(root, ...p);
const lowbit = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
const ok = (r: ReturnType<typeof lowbit>, what: string) => assert.equal(r.status, 0, `${what}: exit ${r.status}\n${r.stderr}`);
const record = (dir: string) => JSON.parse(readFileSync(join(dir, 'lowbit.json'), 'utf8'));

/** Class k is bright in channel k and dark in the others, with per-image and per-position texture: learnable. */
const byClass: PixelFn = (k, i, y, x, c) => (c === k ? 170 : 30) + ((i * 37 + y * 7 + x * 11 + c * 5) % 60);
const classes = ['red', 'green', 'blue'];
/** Class indices follow the folder names in sorted order. */
const classNames = [...classes].sort();
const perClass = 20;
const steps = ['--epochs', '1', '--max-steps', '3', '--batch', '8', '--backend', 'wasm', '--quiet'];

/** Exports `dir` as QDQ and verifies it against the TF.js model on the run's own test split; returns verify's line. */
function exportAndVerify(dir: string, testImages: number): string {
  ok(lowbit('export', dir, '--format', 'qdq'), `export ${dir}`);
  const v = lowbit('verify', dir, '--format', 'qdq', '--images', String(testImages), '--backend', 'wasm');
  ok(v, `verify ${dir}\n${v.stdout}`);
  const line = v.stdout.trim();
  assert.match(line, new RegExp(`^qdq +ok +top-1 agreement 100\\.00% +max\\|Δlogit\\| \\S+ +accuracy \\d+\\.\\d+% \\(TF\\.js \\d+\\.\\d+%\\) on ${testImages} \\S+ test images$`));
  return line;
}

test('own data end to end: PNG folder and .npz → train lenet5 32×32×3 → PTQ W8A8 and DoReFa W2 → QDQ export → onnxruntime verify', { skip: firstPassOnly }, () => {
  // The PNG class folder: 3 classes × 20 images of 32×32×3.
  const folder = at('photos');
  pngFolder(folder, classes, perClass, 32, 32, byClass);
  const teacher = at('runs', 'teacher');
  ok(lowbit('train', '--model', 'lenet5', '--data', folder, ...steps, '--out', teacher), 'train on the folder');
  const t = record(teacher);
  assert.deepEqual([t.method, t.dataset, t.inputShape, t.numClasses, t.classNames], ['float', 'photos', [32, 32, 3], 3, classNames]);
  const testCount = t.test.count as number;
  assert.ok(testCount >= 3 && testCount < 3 * perClass, `a held-out test split: ${testCount}`);

  // PTQ W8A8 on 16 calibration images.
  const ptq = at('runs', 'ptq');
  ok(lowbit('quantize', '--method', 'ptq', '--teacher', teacher, '--wbits', '8', '--abits', '8', '--calibration', '16', '--backend', 'wasm', '--quiet', '--out', ptq), 'ptq');
  const p = record(ptq);
  assert.deepEqual([p.method, p.kind, p.dataset, p.inputShape, p.classNames, p.teacher], ['ptq', 'quantized', 'photos', [32, 32, 3], classNames, teacher]);
  assert.equal(p.ptq.calibrationImages, 16);
  assert.deepEqual(p.data, t.data, 'the PTQ run uses the teacher\'s data');
  exportAndVerify(ptq, testCount);

  // QAT from the PTQ model (docs/methods/ptq.md): ste W8A8, 3 steps, with the PTQ directory as the teacher.
  const ste = at('runs', 'ste-from-ptq');
  ok(lowbit('quantize', '--method', 'ste', '--teacher', ptq, '--wbits', '8', '--abits', '8', ...steps, '--out', ste), 'ste from ptq');
  const s = record(ste);
  assert.deepEqual([s.method, s.teacher, s.teacherQuantizedLayers, s.classNames], ['ste', ptq, ['conv1', 'conv2', 'fc1', 'fc2'], classNames]);

  // DoReFa W2, a few steps of QAT from the same teacher.
  const dorefa = at('runs', 'dorefa-w2');
  ok(lowbit('quantize', '--method', 'dorefa', '--teacher', teacher, '--wbits', '2', ...steps, '--out', dorefa), 'dorefa');
  const d = record(dorefa);
  assert.deepEqual([d.method, d.kind, d.dataset, d.classNames, d.teacher], ['dorefa', 'quantized', 'photos', classNames, teacher]);
  assert.equal(d.options.wbits, 2);
  exportAndVerify(dorefa, testCount);

  // The same pixels as an .npz of uint8 x (N×32×32×3) and int32 y: no class names (the file has none).
  const n = classes.length * perClass;
  const x = new Uint8Array(n * 32 * 32 * 3);
  const y = new Int32Array(n);
  for (let j = 0; j < n; j++) { y[j] = j % 3; x.set(rgbImage(j % 3, Math.floor(j / 3), 32, 32, byClass), j * 32 * 32 * 3); }
  const npz = at('arrays.npz');
  writeFileSync(npz, zipSync({ 'x.npy': encodeNpy(x, [n, 32, 32, 3]), 'y.npy': encodeNpy(y, [n]) }));
  const npzTeacher = at('runs', 'npz-teacher');
  ok(lowbit('train', '--model', 'lenet5', '--data', npz, ...steps, '--out', npzTeacher), 'train on the .npz');
  const nt = record(npzTeacher);
  assert.deepEqual([nt.dataset, nt.inputShape, nt.numClasses, nt.classNames], ['arrays', [32, 32, 3], 3, undefined]);
  assert.equal(nt.data.path, npz);
  const npzPtq = at('runs', 'npz-ptq');
  ok(lowbit('quantize', '--method', 'ptq', '--teacher', npzTeacher, '--calibration', '16', '--backend', 'wasm', '--quiet', '--out', npzPtq), 'ptq of the .npz model');
  const np = record(npzPtq);
  assert.deepEqual([np.method, np.dataset, np.options.wbits, np.options.abits], ['ptq', 'arrays', 8, 8]);
  exportAndVerify(npzPtq, nt.test.count);
});
