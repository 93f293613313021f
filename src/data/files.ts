/**
 * Datasets from the user's files (docs/data.md): an image folder with one sub-folder per class
 * (PNG via pngjs, JPEG via jpeg-js), NumPy .npz / .npy arrays, or a CSV of pixel columns and a
 * label column. Reads and decodes here; resizing, checks and the splits are the browser-safe
 * './arrays.js'. Every problem is a LowbitError naming the file and the fix. Node-only.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { unzipSync } from 'fflate';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { LowbitError } from '../errors.js';
import { assembleDataset, DataFileSpec, npyImages, npyLabels, NpyArray, parseNpy, RawImages, RawSplit, resizeImages } from './arrays.js';
import type { DatasetSplits } from './dataset.js';

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'];
const SPLIT_FOLDERS = { train: ['train'], val: ['val', 'valid', 'validation'], test: ['test'] } as const;

/**
 * Loads a dataset from the user's files: `loadDataFiles({ path: 'photos/', imageSize: [32, 32] })`.
 * The returned DatasetSplits carries the spec (path made absolute) as `source`, so a run's
 * lowbit.json can reload the same data.
 */
export function loadDataFiles(spec: DataFileSpec): DatasetSplits {
  const path = resolve(spec.path);
  if (!existsSync(path)) throw new LowbitError(`--data ${spec.path} does not exist; pass an image folder, a .npz, an x.npy or a .csv`);
  const full: DataFileSpec = { ...spec, path };
  const name = dataName(path);
  if (statSync(path).isDirectory()) {
    if (existsSync(join(path, 'x.npy'))) return npyDirectory(path, full, name);
    return imageFolder(path, full, name);
  }
  switch (extname(path).toLowerCase()) {
    case '.npz': return npz(path, full, name);
    case '.npy': return npyDirectory(dirname(path), full, name, basename(path));
    case '.csv': return csv(path, full, name);
    default: throw new LowbitError(`--data ${spec.path}: unknown format '${extname(path)}'; pass an image folder, a .npz, an x.npy (with y.npy beside it) or a .csv`);
  }
}

/** The name runs on these files are labelled by: the folder's or file's name (an x.npy's folder). */
export function dataName(path: string): string {
  const p = resolve(path);
  const file = /\.npy$/i.test(p) ? basename(dirname(p)) : basename(p).replace(/\.(npz|csv)$/i, '');
  return file.replace(/[^A-Za-z0-9._-]+/g, '_') || 'data';
}

// ---------------------------------------------------------------- image folders

function subfolders(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
}

function imageFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('.') && IMAGE_EXTENSIONS.includes(extname(e.name).toLowerCase()))
    .map((e) => e.name).sort();
}

/** Decodes one PNG or JPEG to RGB bytes, and whether it is grey (colour type, or R = G = B everywhere). */
export function decodeImage(file: string): { width: number; height: number; rgb: Uint8Array; grey: boolean } {
  const bytes = readFileSync(file);
  let width: number;
  let height: number;
  let rgba: Uint8Array;
  try {
    if (extname(file).toLowerCase() === '.png') {
      const png = PNG.sync.read(bytes);
      ({ width, height } = png);
      rgba = png.data;
    } else {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      ({ width, height } = img);
      rgba = img.data;
    }
  } catch (e) {
    throw new LowbitError(`${file} is not a readable ${extname(file).slice(1).toUpperCase()} image (${String((e as Error).message ?? e).split('\n')[0]}); replace or remove it`);
  }
  if (!(width > 0 && height > 0) || rgba.length < width * height * 4) throw new LowbitError(`${file} decoded to no pixels; replace or remove it`);
  const rgb = new Uint8Array(width * height * 3);
  let grey = true;
  for (let i = 0; i < width * height; i++) {
    const r = rgba[i * 4];
    const g = rgba[i * 4 + 1];
    const b = rgba[i * 4 + 2];
    rgb[i * 3] = r;
    rgb[i * 3 + 1] = g;
    rgb[i * 3 + 2] = b;
    if (r !== g || g !== b) grey = false;
  }
  return { width, height, rgb, grey };
}

/** One folder of class folders as a split; `classes` fixes the label order (the training folder's). */
function readClassFolders(dir: string, classes: string[], spec: DataFileSpec): { split: RawSplit; grey: boolean } {
  const files: Array<{ file: string; label: number }> = [];
  classes.forEach((cls, label) => {
    const folder = join(dir, cls);
    if (!existsSync(folder)) return; // a validation/test folder may lack a class
    const names = imageFiles(folder);
    if (names.length === 0) throw new LowbitError(`class folder ${folder} holds no images (${IMAGE_EXTENSIONS.join(', ')}); add images or remove the folder`);
    for (const n of names) files.push({ file: join(folder, n), label });
  });
  const extra = subfolders(dir).filter((c) => !classes.includes(c));
  if (extra.length > 0) throw new LowbitError(`${dir} has class folder(s) ${extra.join(', ')} that the training folder lacks; every split must use the training folder's classes`);
  const size = spec.imageSize;
  let shape: [number, number] | null = size ?? null;
  let first = '';
  let pixels = new Uint8Array(0);
  let allGrey = true;
  files.forEach(({ file }, i) => {
    const img = decodeImage(file);
    allGrey &&= img.grey;
    let raw: RawImages = { pixels: img.rgb, count: 1, shape: [img.height, img.width, 3] };
    if (shape == null) {
      shape = [img.height, img.width];
      first = file;
    } else if (size == null && (img.height !== shape[0] || img.width !== shape[1])) {
      throw new LowbitError(`${file} is ${img.width}×${img.height} but ${first} is ${shape[1]}×${shape[0]}; pass --image-size HxW to resize every image to one size`);
    }
    // Resized as decoded: only one full-size image is in memory at a time.
    if (size != null) raw = resizeImages(raw, size[0], size[1], spec.resize ?? 'bilinear');
    if (i === 0) pixels = new Uint8Array(files.length * shape[0] * shape[1] * 3);
    pixels.set(raw.pixels as Uint8Array, i * shape[0] * shape[1] * 3);
  });
  const [h, w] = shape ?? [0, 0];
  return { split: { pixels, count: files.length, shape: [h, w, 3], labels: files.map((f) => f.label), where: dir }, grey: allGrey };
}

function imageFolder(dir: string, spec: DataFileSpec, name: string): DatasetSplits {
  const top = subfolders(dir);
  const isSplitLayout = top.includes('train') && top.every((t) => Object.values(SPLIT_FOLDERS).some((names) => (names as readonly string[]).includes(t)));
  const trainDir = isSplitLayout ? join(dir, 'train') : dir;
  const classes = subfolders(trainDir);
  if (classes.length === 0) {
    throw new LowbitError(`${trainDir} holds no class folders; put the images of each class in a sub-folder named after the class (e.g. ${join(trainDir, 'cat', '001.png')})`);
  }
  if (classes.length > 256) throw new LowbitError(`${trainDir} has ${classes.length} class folders; lowbit supports at most 256 classes`);
  const read = (d: string) => readClassFolders(d, classes, spec);
  const train = read(trainDir);
  const find = (names: readonly string[]) => (isSplitLayout ? names.map((n) => join(dir, n)).find((d) => existsSync(d)) : undefined);
  const valDir = find(SPLIT_FOLDERS.val);
  const testDir = find(SPLIT_FOLDERS.test);
  const val = valDir ? read(valDir) : undefined;
  const test = testDir ? read(testDir) : undefined;
  const grey = train.grey && (val?.grey ?? true) && (test?.grey ?? true);
  // Decoded as RGB; without --channels, grey-only folders become 1 channel.
  const withChannels: DataFileSpec = { ...spec, channels: spec.channels ?? (grey ? 1 : 3) };
  return assembleDataset({ train: train.split, val: val?.split, test: test?.split }, withChannels, { name, classNames: classes, source: `image folder ${dir}` });
}

// ---------------------------------------------------------------- NumPy

function readNpyFile(file: string): NpyArray {
  return parseNpy(readFileSync(file), file);
}

function npySplit(x: NpyArray, y: NpyArray, where: string): RawSplit {
  const images = npyImages(x, where);
  return { ...images, labels: npyLabels(y, where), where };
}

const SPLIT_SUFFIXES = { val: ['_val', '_valid', '_validation'], test: ['_test'] } as const;

/** x / y arrays by name (from a .npz, or .npy files in a folder) into the three splits. */
function arraySplits(has: (name: string) => boolean, get: (name: string) => NpyArray, where: (name: string) => string, fixHint: string): { train: RawSplit; val?: RawSplit; test?: RawSplit } {
  const pair = (suffix: string): RawSplit | undefined => {
    const hx = has(`x${suffix}`);
    const hy = has(`y${suffix}`);
    if (!hx && !hy) return undefined;
    if (!hx || !hy) throw new LowbitError(`${where(hx ? `x${suffix}` : `y${suffix}`)} has no matching ${hx ? `y${suffix}` : `x${suffix}`}; ${fixHint}`);
    return npySplit(get(`x${suffix}`), get(`y${suffix}`), where(`x${suffix}`));
  };
  const train = pair('') ?? pair('_train');
  if (train == null) throw new LowbitError(`${where('x')}: no x and y arrays; ${fixHint}`);
  const first = (suffixes: readonly string[]) => suffixes.map(pair).find((s) => s != null);
  return { train, val: first(SPLIT_SUFFIXES.val), test: first(SPLIT_SUFFIXES.test) };
}

function npz(file: string, spec: DataFileSpec, name: string): DatasetSplits {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(readFileSync(file));
  } catch (e) {
    throw new LowbitError(`${file} is not a readable .npz (zip) file (${(e as Error).message}); save it with numpy.savez(file, x=x, y=y)`);
  }
  const byName = new Map(Object.entries(entries).map(([k, v]) => [k.replace(/\.npy$/, ''), v]));
  const splits = arraySplits((n) => byName.has(n), (n) => parseNpy(byName.get(n)!, `${file}:${n}`), (n) => `${file}:${n}`,
    `save it with numpy.savez(file, x=x, y=y) (optionally x_val, y_val, x_test, y_test); it holds ${[...byName.keys()].join(', ') || 'no arrays'}`);
  return assembleDataset(splits, spec, { name, source: `${file}` });
}

function npyDirectory(dir: string, spec: DataFileSpec, name: string, given = 'x.npy'): DatasetSplits {
  if (given !== 'x.npy') throw new LowbitError(`--data ${join(dir, given)}: a .npy dataset is a folder holding x.npy and y.npy (optionally x_val.npy, y_val.npy, x_test.npy, y_test.npy); rename the files or pass a .npz`);
  const at = (n: string) => join(dir, `${n}.npy`);
  const splits = arraySplits((n) => existsSync(at(n)), (n) => readNpyFile(at(n)), at, `put x.npy and y.npy (numpy.save) in ${dir}`);
  return assembleDataset(splits, spec, { name, source: `${join(dir, 'x.npy')}` });
}

// ---------------------------------------------------------------- CSV

/**
 * A CSV with a header row: a `label` column (class indices) and pixel columns in row-major HWC
 * order. Whole numbers 0–255 are bytes (÷ 255); any other number makes the file float, used as
 * given. The image shape is --image-size (× the channels the pixel count implies), else a
 * square grey or RGB image.
 */
function csv(file: string, spec: DataFileSpec, name: string): DatasetSplits {
  let rows: string[][];
  try {
    rows = parseCsv(readFileSync(file, 'utf8'), { skip_empty_lines: true, trim: true }) as string[][];
  } catch (e) {
    throw new LowbitError(`${file} is not a readable CSV (${(e as Error).message.split('\n')[0]}); fix the row it names`);
  }
  if (rows.length < 2) throw new LowbitError(`${file} has no data rows; give a header row (pixel columns and 'label') and one row per image`);
  const header = rows[0].map((h) => h.toLowerCase());
  const labelColumn = header.indexOf('label');
  if (labelColumn < 0) throw new LowbitError(`${file} has no 'label' column in its header (${rows[0].slice(0, 5).join(', ')}…); name the class-index column 'label'`);
  const p = header.length - 1;
  let shape: [number, number, number];
  if (spec.imageSize) {
    const [h, w] = spec.imageSize;
    const c = p / (h * w);
    if (c !== 1 && c !== 3) throw new LowbitError(`${file} has ${p} pixel columns, which is not ${h}×${w}×1 or ${h}×${w}×3; pass the images' own --image-size HxW`);
    shape = [h, w, c];
  } else {
    const grey = Math.round(Math.sqrt(p));
    const rgb = Math.round(Math.sqrt(p / 3));
    if (grey * grey === p) shape = [grey, grey, 1];
    else if (rgb * rgb * 3 === p) shape = [rgb, rgb, 3];
    else throw new LowbitError(`${file} has ${p} pixel columns, not a square image; pass --image-size HxW (and the channels follow from the count)`);
  }
  const n = rows.length - 1;
  const values = new Float32Array(n * p);
  const labels = new Float64Array(n);
  let bytes = true;
  for (let r = 0; r < n; r++) {
    const row = rows[r + 1];
    if (row.length !== header.length) throw new LowbitError(`${file} line ${r + 2} has ${row.length} columns, the header has ${header.length}; fix that row`);
    let k = 0;
    for (let j = 0; j < row.length; j++) {
      const v = row[j] === '' ? NaN : Number(row[j]);
      if (j === labelColumn) {
        labels[r] = v;
        continue;
      }
      if (!Number.isFinite(v)) throw new LowbitError(`${file} line ${r + 2}, column ${rows[0][j]}: ${JSON.stringify(row[j])} is not a number; pixels must be numbers (0–255 or floats)`);
      if (!(Number.isInteger(v) && v >= 0 && v <= 255)) bytes = false;
      values[r * p + k++] = v;
    }
    if (!Number.isInteger(labels[r]) || labels[r] < 0 || labels[r] > 255) {
      throw new LowbitError(`${file} line ${r + 2}: label ${JSON.stringify(row[labelColumn])} is not a class index; labels must be whole numbers 0…255`);
    }
  }
  const pixels = bytes ? Uint8Array.from(values) : values;
  // CSV pixels are already at the given size: --image-size describes them, it does not resize.
  const asIs: DataFileSpec = { ...spec, imageSize: undefined };
  const ds = assembleDataset({ train: { pixels, count: n, shape, labels, where: file } }, asIs, { name, source: file });
  return { ...ds, source: spec };
}
