import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { LowbitError, Rng } from '../src/index.js';
import { batches, loadDataset, loadFashionMnist, loadMnist, readIdxImages, readIdxLabels, shuffledOrder, stratifiedSplit } from '../src/node.js';

function idxImages(count: number, rows = 28, cols = 28, magic = 0x803): Buffer {
  const b = Buffer.alloc(16 + count * rows * cols);
  b.writeUInt32BE(magic, 0); b.writeUInt32BE(count, 4); b.writeUInt32BE(rows, 8); b.writeUInt32BE(cols, 12);
  for (let i = 16; i < b.length; i++) b[i] = i % 256;
  return b;
}
function idxLabels(count: number, magic = 0x801): Buffer {
  const b = Buffer.alloc(8 + count);
  b.writeUInt32BE(magic, 0); b.writeUInt32BE(count, 4);
  for (let i = 0; i < count; i++) b[8 + i] = i % 10;
  return b;
}
function fashionDir(files: Partial<Record<'trImg' | 'trLab' | 'teImg' | 'teLab', Buffer>>, gz = false): string {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-idx-'));
  const all = { trImg: idxImages(24), trLab: idxLabels(24), teImg: idxImages(10), teLab: idxLabels(10), ...files };
  const names = { trImg: 'train-images-idx3-ubyte', trLab: 'train-labels-idx1-ubyte', teImg: 't10k-images-idx3-ubyte', teLab: 't10k-labels-idx1-ubyte' };
  for (const [k, name] of Object.entries(names)) {
    const data = all[k as keyof typeof all];
    writeFileSync(join(dir, gz ? `${name}.gz` : name), gz ? gzipSync(data) : data);
  }
  return dir;
}

test('the MNIST subset has a fixed stratified split with documented sizes', () => {
  const a = loadMnist();
  assert.equal(a.train.count + a.val.count + a.test.count, 10000);
  assert.deepEqual([a.train.count, a.val.count, a.test.count], [7207, 797, 1996]);
  const b = loadMnist();
  assert.deepEqual(a.test.labels, b.test.labels);
  assert.deepEqual((a.test.images as Float32Array).subarray(0, 5000), (b.test.images as Float32Array).subarray(0, 5000));
  const perClass = new Array(10).fill(0);
  a.test.labels.forEach((y) => perClass[y]++);
  assert.ok(Math.min(...perClass) >= 170 && Math.max(...perClass) <= 230, `test split is stratified: ${perClass}`);
  assert.ok((a.train.images as Float32Array).every((v) => v >= 0 && v <= 1));
});

test('stratifiedSplit is seeded, disjoint and covers every example', () => {
  const labels = Uint8Array.from({ length: 100 }, (_, i) => i % 4);
  const s1 = stratifiedSplit(labels, 0.2, 7);
  const s2 = stratifiedSplit(labels, 0.2, 7);
  const s3 = stratifiedSplit(labels, 0.2, 8);
  assert.deepEqual(s1, s2);
  assert.notDeepEqual(s1.heldOut, s3.heldOut);
  assert.equal(s1.heldOut.length, 20);
  assert.deepEqual([...s1.kept, ...s1.heldOut].sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
});

test('Fashion-MNIST IDX files load gzipped or not, with a stratified validation split', () => {
  for (const gz of [false, true]) {
    const d = loadFashionMnist({ dataDir: fashionDir({}, gz) });
    assert.equal(d.train.count + d.val.count, 24);
    assert.equal(d.test.count, 10);
    assert.equal((d.test.images as Float32Array)[0], Math.fround(16 / 255));
  }
});

test('missing Fashion-MNIST says how to install it', () => {
  const empty = mkdtempSync(join(tmpdir(), 'lowbit-empty-'));
  assert.throws(() => loadDataset('fashion-mnist', { dataDir: empty }),
    (e: Error) => e instanceof LowbitError && /apt-get install dataset-fashion-mnist/.test(e.message) && e.message.includes(empty));
});

test('corrupt IDX files are named with their problem', () => {
  const cases: Array<[Parameters<typeof fashionDir>[0], RegExp]> = [
    [{ trImg: idxImages(24, 28, 28, 0x804) }, /train-images-idx3-ubyte: bad magic number 0x00000804/],
    [{ teLab: idxLabels(10, 0x803) }, /t10k-labels-idx1-ubyte: bad magic number/],
    [{ trImg: idxImages(24).subarray(0, 1000) }, /train-images-idx3-ubyte: size mismatch/],
    [{ trImg: idxImages(24).subarray(0, 10) }, /train-images-idx3-ubyte: truncated IDX file/],
    [{ teLab: idxLabels(9) }, /t10k-labels-idx1-ubyte: 9 labels for 10 images/],
  ];
  for (const [files, message] of cases) {
    const dir = fashionDir(files);
    assert.throws(() => loadFashionMnist({ dataDir: dir }), (e: Error) => e instanceof LowbitError && message.test(e.message), String(message));
  }
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-gz-'));
  writeFileSync(join(dir, 'x.gz'), Buffer.from([0x1f, 0x8b, 1, 2, 3]));
  assert.throws(() => readIdxImages(join(dir, 'x.gz')), /corrupt gzip data/);
  assert.equal(readIdxLabels(join(fashionDir({}), 'train-labels-idx1-ubyte')).length, 24);
});

test('unknown dataset names list the choices', () => {
  assert.throws(() => loadDataset('cifar'), /unknown dataset 'cifar': choose one of mnist, fashion-mnist/);
});

test('seeded shuffling: same seed, same order; batches cover the split once', async () => {
  const d = loadMnist();
  const o1 = shuffledOrder(d.val.count, new Rng(3));
  const o2 = shuffledOrder(d.val.count, new Rng(3));
  assert.deepEqual(o1, o2);
  let seen = 0;
  const counts = new Array(10).fill(0);
  for (const b of batches(d.val, d.shape, 10, 100, o1)) {
    assert.deepEqual(b.x.shape.slice(1), [28, 28, 1]);
    seen += b.labels.length;
    b.labels.forEach((y) => counts[y]++);
    b.x.dispose(); b.y.dispose();
  }
  assert.equal(seen, d.val.count);
  const expected = new Array(10).fill(0);
  d.val.labels.forEach((y) => expected[y]++);
  assert.deepEqual(counts, expected);
});
