/**
 * Datasets from the user's files (docs/data.md): PNG/JPEG class folders, .npz, x.npy/y.npy and
 * CSV round-trip exactly; resizing, channel conversion, normalisation and augmentation are
 * checked against hand-computed values; bad files fail with exit 2 and write nothing; one CLI
 * run trains on a 32×32×3 PNG folder and quantizes from it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import jpeg from 'jpeg-js';
import {
  augmentImages, BytePixels, convertChannels, DataFileSpec, encodeNpy, ImageSet, LowbitError, parseNpy, readRows, resizeImages,
} from '../src/index.js';
import { loadDataFiles, loadDataset } from '../src/node.js';
import { decodeModel } from '../src/export/onnx-builder.js';
import { parseDataFlags } from '../src/cli/data-flags.js';
import { validateRecipe } from '../src/recipes/run.js';
import { at, cli, Row, runRows, tiny } from './bad-input-helpers.js';
import { firstPassOnly } from './helpers.js';
import { pngFolder, rgbImage, writePng } from './data-helpers.js';

const root = mkdtempSync(join(tmpdir(), 'lowbit-data-'));
const path = (...p: string[]) => join(root, ...p);

const bytesOf = (set: ImageSet) => (set.images as BytePixels).bytes;

test('a PNG class folder loads as uint8, every image and label exact, with a seeded stratified split and the class names', { skip: firstPassOnly }, () => {
  const dir = path('png');
  const sources = pngFolder(dir, ['cat', 'dog', 'emu'], 10);
  const d = loadDataFiles({ path: dir, valFraction: 0.2 });
  assert.deepEqual(d.shape, [32, 32, 3]);
  assert.equal(d.numClasses, 3);
  assert.deepEqual(d.classNames, ['cat', 'dog', 'emu']);
  assert.deepEqual([d.train.count, d.val.count, d.test.count], [18, 6, 6]);
  assert.equal(d.source!.path, dir);
  const seen = new Set<string>();
  for (const split of [d.train, d.val, d.test]) {
    assert.ok(bytesOf(split) instanceof Uint8Array, 'uint8 sources stay bytes');
    const size = 32 * 32 * 3;
    for (let n = 0; n < split.count; n++) {
      const key = Buffer.from(bytesOf(split).subarray(n * size, (n + 1) * size)).toString('base64');
      assert.equal(sources.get(key), split.labels[n], `image ${n} is a source image of its own class`);
      seen.add(key);
    }
    // Each split holds every class (stratified).
    assert.deepEqual([...new Set(split.labels)].sort(), [0, 1, 2]);
  }
  assert.equal(seen.size, 30, 'each image in exactly one split');
  // Pixels read as byte / 255; the split is the same on every load (split seed 0) and differs with another seed.
  assert.equal(readRows(d.train.images, 0, 1)[0], bytesOf(d.train)[0] / 255);
  assert.deepEqual(loadDataFiles({ path: dir, valFraction: 0.2 }).test.labels, d.test.labels);
  assert.notDeepEqual(bytesOf(loadDataFiles({ path: dir, valFraction: 0.2, splitSeed: 3 }).test), bytesOf(d.test));
  // loadDataset takes the same spec.
  assert.equal(loadDataset({ path: dir, valFraction: 0.2 }).train.count, 18);
});

test('train/ and test/ folders are the given splits; grey images load as one channel; JPEG decodes', { skip: firstPassOnly }, () => {
  const dir = path('split-layout');
  pngFolder(join(dir, 'train'), ['a', 'b'], 5, 8, 8);
  // The test folder: grey PNGs would make the set colour (train is colour), so check order and labels.
  pngFolder(join(dir, 'test'), ['a', 'b'], 2, 8, 8);
  const d = loadDataFiles({ path: dir, valFraction: 0.2 });
  assert.deepEqual([d.train.count, d.val.count, d.test.count], [8, 2, 4]);
  assert.deepEqual([...d.test.labels], [0, 0, 1, 1]);
  assert.deepEqual(bytesOf(d.test).subarray(0, 8 * 8 * 3), rgbImage(0, 0, 8, 8));

  const grey = path('grey');
  mkdirSync(join(grey, 'x'), { recursive: true });
  mkdirSync(join(grey, 'y'), { recursive: true });
  for (let i = 0; i < 4; i++) {
    for (const [k, cls] of ['x', 'y'].entries()) {
      const v = 40 * i + 100 * k;
      writePng(join(grey, cls, `${i}.png`), new Uint8Array(4 * 4 * 3).fill(v), 4, 4);
    }
  }
  // A constant-colour JPEG decodes to (nearly) that colour; R = G = B stays grey.
  const jpg = jpeg.encode({ data: Buffer.alloc(4 * 4 * 4, 200), width: 4, height: 4 }, 95);
  writeFileSync(join(grey, 'y', 'photo.jpg'), jpg.data);
  const g = loadDataFiles({ path: grey, valFraction: 0.25 });
  assert.deepEqual(g.shape, [4, 4, 1]);
  const all = [g.train, g.val, g.test].flatMap((s) => Array.from({ length: s.count }, (_, n) => [s.labels[n], bytesOf(s)[n * 16]]));
  assert.equal(all.length, 9);
  assert.ok(all.some(([k, v]) => k === 1 && Math.abs(v - 200) <= 2), `the JPEG: ${JSON.stringify(all)}`);
  assert.ok(all.some(([k, v]) => k === 0 && v === 80));
  // --channels 3 replicates the grey channel.
  const rgb = loadDataFiles({ path: grey, valFraction: 0.25, channels: 3 });
  assert.deepEqual(rgb.shape, [4, 4, 3]);
  assert.deepEqual([...bytesOf(rgb.train).subarray(0, 3)], new Array(3).fill(bytesOf(rgb.train)[0]));
});

test('.npz with x/y and x_test/y_test, and an x.npy folder of float32: values and labels exact', { skip: firstPassOnly }, () => {
  const n = 20;
  const x = Uint8Array.from({ length: n * 6 * 6 * 3 }, (_, i) => (i * 7) % 256);
  const y = BigInt64Array.from({ length: n }, (_, i) => BigInt(i % 4));
  const xt = Uint8Array.from({ length: 4 * 6 * 6 * 3 }, (_, i) => (i * 11) % 256);
  const yt = Int32Array.from([3, 2, 1, 0]);
  const npz = path('set.npz');
  writeFileSync(npz, zipSync({ 'x.npy': encodeNpy(x, [n, 6, 6, 3]), 'y.npy': encodeNpy(y, [n]), 'x_test.npy': encodeNpy(xt, [4, 6, 6, 3]), 'y_test.npy': encodeNpy(yt, [4]) }));
  const d = loadDataFiles({ path: npz, valFraction: 0.25 });
  assert.equal(d.name, 'set');
  assert.deepEqual(d.shape, [6, 6, 3]);
  assert.equal(d.numClasses, 4);
  assert.deepEqual(bytesOf(d.test), xt, 'the given test set, in order');
  assert.deepEqual([...d.test.labels], [3, 2, 1, 0]);
  assert.deepEqual([d.train.count, d.val.count], [16, 4]);
  // Train + validation are the 20 given images, each with its own label.
  const size = 6 * 6 * 3;
  for (const s of [d.train, d.val]) {
    for (let k = 0; k < s.count; k++) {
      const img = bytesOf(s).subarray(k * size, (k + 1) * size);
      const i = Array.from({ length: n }, (_, j) => j).find((j) => Buffer.from(x.subarray(j * size, (j + 1) * size)).equals(Buffer.from(img)));
      assert.ok(i != null, `image ${k} of a split is one of the given images`);
      assert.equal(s.labels[k], i % 4);
    }
  }

  const dir = path('npy');
  mkdirSync(dir);
  const xf = Float32Array.from({ length: 12 * 5 * 5 }, (_, i) => i / 1000);
  writeFileSync(join(dir, 'x.npy'), encodeNpy(xf, [12, 5, 5]));
  writeFileSync(join(dir, 'y.npy'), encodeNpy(Int32Array.from({ length: 12 }, (_, i) => i % 2), [12, 1]));
  writeFileSync(join(dir, 'x_val.npy'), encodeNpy(xf.subarray(0, 2 * 25), [2, 5, 5]));
  writeFileSync(join(dir, 'y_val.npy'), encodeNpy(Int32Array.from([1, 0]), [2]));
  for (const p of [dir, join(dir, 'x.npy')]) {
    const f = loadDataFiles({ path: p });
    assert.deepEqual(f.shape, [5, 5, 1]);
    assert.ok(f.train.images instanceof Float32Array, 'float32 stays float');
    assert.deepEqual(f.train.images, xf, 'the whole x is training data (a validation set is given)');
    assert.deepEqual(f.val.images, xf.subarray(0, 50));
    assert.deepEqual(f.test.images, xf.subarray(0, 50), 'the validation set is the test set when none is given');
    assert.equal(f.name, 'npy');
  }
});

test('.npy parsing: header, dtypes and refusals', { skip: firstPassOnly }, () => {
  const a = parseNpy(encodeNpy(Int32Array.from([5, -1, 7]), [3]), 'a.npy');
  assert.deepEqual(a.shape, [3]);
  assert.deepEqual([...a.data], [5, -1, 7]);
  // A float32 body at an odd address (inside a larger buffer) is read correctly.
  const f = encodeNpy(Float32Array.from([0.5, -2, 3.25]), [3]);
  const shifted = new Uint8Array(f.length + 1);
  shifted.set(f, 1);
  assert.deepEqual([...parseNpy(shifted.subarray(1), 's.npy').data], [0.5, -2, 3.25]);
  const fortran = encodeNpy(Uint8Array.from([1, 2]), [2]);
  const text = new TextDecoder('latin1').decode(fortran).replace("'fortran_order': False", "'fortran_order': True ");
  assert.throws(() => parseNpy(Uint8Array.from(text, (c) => c.charCodeAt(0)), 'f.npy'), /f\.npy: the array is in Fortran order; save numpy\.ascontiguousarray/);
  assert.throws(() => parseNpy(new Uint8Array([1, 2, 3]), 'junk.npy'), /junk\.npy: not a \.npy file/);
  assert.throws(() => parseNpy(encodeNpy(new Float32Array(4), [4]).subarray(0, 130), 't.npy'), /t\.npy: holds 2 data bytes but shape \(4\) of <f4 needs 16; the file is truncated/);
});

test('CSV: a label column and pixel columns, bytes or floats, with the shape from --image-size or a square', { skip: firstPassOnly }, () => {
  const rows = Array.from({ length: 10 }, (_, i) => [String(i % 2), ...Array.from({ length: 16 }, (_, p) => String((i * 16 + p) % 256))]);
  const file = path('pixels.csv');
  writeFileSync(file, [['label', ...Array.from({ length: 16 }, (_, p) => `p${p}`)].join(','), ...rows.map((r) => r.join(','))].join('\n') + '\n');
  const d = loadDataFiles({ path: file, valFraction: 0.2 });
  assert.deepEqual(d.shape, [4, 4, 1]);
  const all = [d.train, d.val, d.test].flatMap((s) => Array.from({ length: s.count }, (_, n) => [s.labels[n], ...bytesOf(s).subarray(n * 16, n * 16 + 16)]));
  assert.deepEqual(all.sort((p, q) => p[1] - q[1]), rows.map((r) => r.map(Number)));
  const wide = loadDataFiles({ path: file, imageSize: [2, 8], valFraction: 0.2 });
  assert.deepEqual(wide.shape, [2, 8, 1]);
  const floats = path('floats.csv');
  writeFileSync(floats, `p0,p1,p2,p3,label\n0.5,0.25,0,1,0\n0.125,0,0,0,1\n${'0,0,0,0,0\n0,0,0,0,1\n'.repeat(4)}`);
  const f = loadDataFiles({ path: floats, valFraction: 0.2 });
  assert.ok(f.train.images instanceof Float32Array);
  const rowsF = [f.train, f.val, f.test].flatMap((s) => Array.from({ length: s.count }, (_, n) => Array.from((s.images as Float32Array).subarray(n * 4, n * 4 + 4))));
  assert.ok(rowsF.some((r) => r.join() === '0.5,0.25,0,1'));
  assert.ok(rowsF.some((r) => r.join() === '0.125,0,0,0'));
});

test('resizing (bilinear with half-pixel centres, nearest) and channel conversion give the hand-computed pixels', () => {
  // 4×4 grey → 2×2: bilinear averages each 2×2 block, nearest takes pixel (1, 1) of it.
  const src = { pixels: Uint8Array.from({ length: 16 }, (_, i) => i * 10), count: 1, shape: [4, 4, 1] as [number, number, number] };
  assert.deepEqual([...resizeImages(src, 2, 2).pixels], [25, 45, 105, 125]);
  assert.deepEqual([...resizeImages(src, 2, 2, 'nearest').pixels], [50, 70, 130, 150]);
  // Upsampling 1×2 → 1×4: positions −0.25, 0.25, 0.75, 1.25 clamp into [0, 1].
  const up = resizeImages({ pixels: Float32Array.from([0, 1]), count: 1, shape: [1, 2, 1] }, 1, 4);
  assert.deepEqual([...up.pixels], [0, 0.25, 0.75, 1]);
  const rgb = { pixels: Uint8Array.from([255, 0, 0, 0, 255, 0, 10, 20, 30]), count: 1, shape: [1, 3, 3] as [number, number, number] };
  assert.deepEqual([...convertChannels(rgb, 1).pixels], [76, 150, 18]); // round(0.299·255), round(0.587·255), round(0.299·10 + 0.587·20 + 0.114·30)
});

test('normalisation uses the training split\'s per-channel mean and std; augmentation is seeded crops and flips', { skip: firstPassOnly }, () => {
  const dir = path('png');
  const d = loadDataFiles({ path: dir, valFraction: 0.2, normalize: true });
  const raw = bytesOf(d.train);
  const mean = [0, 1, 2].map((c) => raw.filter((_, i) => i % 3 === c).reduce((s, v) => s + v / 255, 0) / (raw.length / 3));
  d.normalization!.mean.forEach((m, c) => assert.ok(Math.abs(m - mean[c]) < 1e-9));
  const first = readRows(d.train.images, 0, 3);
  [0, 1, 2].forEach((c) => assert.ok(Math.abs(first[c] - (raw[c] / 255 - d.normalization!.mean[c]) / d.normalization!.std[c]) < 1e-6));

  // A 1×3 image: with pad 1 each output is the image shifted by −1, 0 or 1 (zeros shifted in), maybe mirrored.
  const img = Float32Array.from([1, 2, 3]);
  const shifts = new Set<string>();
  for (let pos = 0; pos < 300; pos++) {
    const x = Float32Array.from(img);
    augmentImages(x, 1, [1, 3, 1], { pad: 1, flip: true }, 7, pos);
    const again = Float32Array.from(img);
    augmentImages(again, 1, [1, 3, 1], { pad: 1, flip: true }, 7, pos);
    assert.deepEqual(again, x, 'same seed and position, same augmentation');
    shifts.add(x.join());
  }
  const expected = ['1,2,3', '2,3,0', '0,1,2', '3,2,1', '2,1,0', '0,3,2'];
  // dy ≠ 0 shifts a 1-row image out entirely: all zeros.
  for (const s of shifts) assert.ok([...expected, '0,0,0'].includes(s), `unexpected augmentation ${s}`);
  for (const s of expected) assert.ok(shifts.has(s), `never produced ${s}`);
});

test('bad data files: exit 2, one line naming the file and the fix, nothing written', { skip: firstPassOnly }, async () => {
  const bad = (name: string) => path('bad', name);
  mkdirSync(bad('empty'), { recursive: true });
  mkdirSync(bad('no-images/a'), { recursive: true });
  mkdirSync(bad('no-images/b'), { recursive: true });
  writePng(bad('no-images/a/1.png'), rgbImage(0, 0, 4, 4), 4, 4);
  writeFileSync(bad('no-images/b/notes.txt'), 'not an image');
  pngFolder(bad('corrupt'), ['a', 'b'], 2, 4, 4);
  writeFileSync(bad('corrupt/b/broken.png'), Buffer.from('\x89PNG\r\n\x1a\n garbage'));
  pngFolder(bad('mixed'), ['a'], 2, 32, 32);
  mkdirSync(bad('mixed/b'));
  writePng(bad('mixed/b/000.png'), rgbImage(1, 0, 16, 16), 16, 16);
  const npz = (name: string, arrays: Record<string, Uint8Array>) => { writeFileSync(bad(name), zipSync(arrays)); return bad(name); };
  const x8 = (n: number) => encodeNpy(new Uint8Array(n * 4 * 4), [n, 4, 4, 1]);
  const outOfRange = npz('range.npz', { 'x.npy': x8(6), 'y.npy': encodeNpy(Int32Array.from([0, 1, 0, -1, 0, 1]), [6]) });
  const fractional = npz('frac.npz', { 'x.npy': x8(6), 'y.npy': encodeNpy(Float32Array.from([0, 1, 0, 1.5, 0, 1]), [6]) });
  const nan = npz('nan.npz', { 'x.npy': encodeNpy(Float32Array.from({ length: 6 * 16 }, (_, i) => (i === 40 ? NaN : 0)), [6, 4, 4, 1]), 'y.npy': encodeNpy(Int32Array.from([0, 1, 0, 1, 0, 1]), [6]) });
  const mismatch = npz('mismatch.npz', { 'x.npy': x8(6), 'y.npy': encodeNpy(Int32Array.from([0, 1, 0, 1, 0]), [5]) });
  writeFileSync(bad('label.csv'), 'label,p0,p1,p2,p3\n0,1,2,3,4\n1,1,2,3,4\n2.5,1,2,3,4\n');
  const t = (data: string, out: string, ...more: string[]) => ['train', '--model', 'lenet5', '--data', data, ...tiny, '--out', at(out), ...more];
  const rows: Row[] = [
    ['empty folder', t(bad('empty'), 'd-empty'), /bad\/empty holds no class folders; put the images of each class in a sub-folder/, at('d-empty')],
    ['class folder without images', t(bad('no-images'), 'd-noimg'), /class folder .*no-images\/b holds no images \(\.png, \.jpg, \.jpeg\); add images or remove the folder/, at('d-noimg')],
    ['corrupt PNG', t(bad('corrupt'), 'd-corrupt'), /corrupt\/b\/broken\.png is not a readable PNG image \(.*\); replace or remove it/, at('d-corrupt')],
    ['mixed sizes', t(bad('mixed'), 'd-mixed'), /mixed\/b\/000\.png is 16×16 but .*mixed\/a\/000\.png is 32×32; pass --image-size HxW/, at('d-mixed')],
    ['label out of range', t(outOfRange, 'd-range'), /range\.npz:x: label -1 at index 3 is not a class index; labels must be whole numbers 0…255/, at('d-range')],
    ['fractional label', t(fractional, 'd-frac'), /frac\.npz:x: label 1\.5 at index 3 is not a class index/, at('d-frac')],
    ['NaN pixels', t(nan, 'd-nan'), /nan\.npz:x: image 2 holds NaN \(value 40\); replace NaN and infinite values/, at('d-nan')],
    ['x/y length mismatch', t(mismatch, 'd-mismatch'), /mismatch\.npz:x: 6 images but 5 labels; x and y must have the same length/, at('d-mismatch')],
    ['both --dataset and --data', [...t(bad('empty'), 'd-both'), '--dataset', 'mnist'], /pass --dataset mnist or --data .* not both/, at('d-both')],
  ];
  assert.deepEqual(await runRows(rows), []);
  // The same checks in-process (the CLI path above shows how they reach the user).
  const refuses = (spec: DataFileSpec, message: RegExp) => assert.throws(() => loadDataFiles(spec), (e: Error) => e instanceof LowbitError && message.test(e.message));
  refuses({ path: bad('label.csv') }, /label\.csv line 4: label "2\.5" is not a class index/);
  refuses({ path: bad('nowhere') }, /--data .*nowhere does not exist; pass an image folder, a \.npz, an x\.npy or a \.csv/);
  refuses({ path: path('grey'), valFraction: 0.01 }, /too few images to hold out a validation set \(9 in 2 classes at --val-fraction 0\.01\)/);
  assert.throws(() => parseDataFlags({ imageSize: '32x32' }), /--image-size applies to your own data: add --data PATH/);
  assert.throws(() => parseDataFlags({ data: 'd', imageSize: '32' }), /--image-size must be HxW with whole numbers 1–4096 \(e\.g\. 32x32\), got '32'/);
  assert.throws(() => parseDataFlags({ data: 'd', augment: 'rotate' }), /--augment takes pad=N and\/or flip/);
  assert.deepEqual(parseDataFlags({ data: 'd', imageSize: '24x32', channels: '1', augment: 'pad=2' }), { path: 'd', imageSize: [24, 32], channels: 1, augment: { pad: 2, flip: false } });
});

test('the CLI trains a 32×32×3 model on a PNG folder, quantizes it on the teacher\'s data, evaluates and exports with the class names', { skip: firstPassOnly }, () => {
  const dir = path('png');
  const run = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  const teacher = path('runs', 'teacher');
  const steps = ['--epochs', '1', '--max-steps', '2', '--batch', '8', '--backend', 'wasm', '--quiet'];
  const t = run('train', '--model', 'lenet5', '--width', '0.25', '--data', dir, '--val-fraction', '0.2', '--augment', '--normalize', ...steps, '--out', teacher);
  assert.equal(t.status, 0, t.stderr);
  const rec = JSON.parse(readFileSync(join(teacher, 'lowbit.json'), 'utf8'));
  assert.deepEqual(rec.inputShape, [32, 32, 3]);
  assert.equal(rec.numClasses, 3);
  assert.equal(rec.dataset, 'png');
  assert.deepEqual(rec.classNames, ['cat', 'dog', 'emu']);
  assert.deepEqual(rec.data, { path: dir, valFraction: 0.2, normalize: true, augment: { pad: 4, flip: true }, channels: 3 });
  assert.equal(rec.normalization.mean.length, 3);
  assert.equal(rec.test.count, 6);
  const q = run('quantize', '--method', 'dorefa', '--teacher', teacher, '--wbits', '2', ...steps, '--out', path('runs', 'w2'));
  assert.equal(q.status, 0, q.stderr);
  const qrec = JSON.parse(readFileSync(join(path('runs', 'w2'), 'lowbit.json'), 'utf8'));
  assert.deepEqual([qrec.dataset, qrec.inputShape, qrec.data], ['png', [32, 32, 3], rec.data]);
  const e = run('eval', path('runs', 'w2'), '--backend', 'wasm');
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stdout, /on png test: accuracy \d+\.\d+% .*\(6 images\)/);
  const x = run('export', path('runs', 'w2'), '--format', 'onnx');
  assert.equal(x.status, 0, x.stderr);
  const props = decodeModel(readFileSync(join(path('runs', 'w2'), 'export', 'model.float.onnx'))).metadataProps ?? [];
  assert.deepEqual(JSON.parse(props.find((p) => p.key === 'lowbit.class_names')!.value!), ['cat', 'dog', 'emu']);
  assert.ok(props.some((p) => p.key === 'lowbit.normalization'));
});

test('recipes take {"data": path} or {"data": {path, imageSize, …}} instead of a dataset, not both', { skip: firstPassOnly }, () => {
  const base = { name: 'mine', runs: [{ method: 'float', model: 'lenet5', epochs: 1 }] };
  assert.equal(validateRecipe({ ...base, data: 'photos/' }, 'r.json').data, 'photos/');
  const spec = { path: 'photos/', imageSize: [32, 32], channels: 3, augment: { pad: 4, flip: true } };
  assert.deepEqual(validateRecipe({ ...base, data: spec }, 'r.json').data, spec);
  assert.throws(() => validateRecipe({ ...base, data: 'p', dataset: 'mnist' }, 'r.json'), /r\.json is not a valid recipe: give \/dataset \(a built-in dataset\) or \/data \(your own files\), not both/);
  assert.throws(() => validateRecipe(base, 'r.json'), /r\.json is not a valid recipe: \(root\) must have required property 'dataset'; \(root\) must have required property 'data'/);
  assert.throws(() => validateRecipe({ ...base, data: { path: 'p', channels: 2 } }, 'r.json'), /\/data\/channels must be equal to one of the allowed values \(1, 3\)/);
});
