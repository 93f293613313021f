/** Fashion-MNIST from IDX files: the standard 60k/10k split plus a seeded stratified validation split. Node-only. */
import { LowbitError } from '../errors.js';
import { findIdxFile, readIdxImages, readIdxLabels } from './idx.js';
import { DatasetSplits, ImageSet, stratifiedSplit, subset } from './dataset.js';

export const DEFAULT_FASHION_DIR = '/usr/share/datasets/fashion-mnist';
/** Validation = this share of each class of the 60k training set (5k images). */
export const FASHION_VAL_FRACTION = 1 / 12;

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** Resolves the data directory: explicit option, then $LOWBIT_DATA_DIR, then Debian's location. */
export function fashionDataDir(dataDir?: string): string {
  return dataDir ?? process.env.LOWBIT_DATA_DIR ?? DEFAULT_FASHION_DIR;
}

function readPair(dir: string, imagesBase: string, labelsBase: string): ImageSet {
  const imagesPath = findIdxFile(dir, imagesBase)!;
  const labelsPath = findIdxFile(dir, labelsBase)!;
  const img = readIdxImages(imagesPath);
  const labels = readIdxLabels(labelsPath);
  if (img.rows !== 28 || img.cols !== 28) {
    throw new LowbitError(`${imagesPath}: images are ${img.rows}×${img.cols}, Fashion-MNIST images are 28×28`);
  }
  if (labels.length !== img.count) {
    throw new LowbitError(`${labelsPath}: ${labels.length} labels for ${img.count} images in ${imagesPath}; the two files must match`);
  }
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] > 9) throw new LowbitError(`${labelsPath}: label ${labels[i]} at index ${i} is outside 0…9`);
  }
  const images = new Float32Array(img.pixels.length);
  for (let i = 0; i < images.length; i++) images[i] = img.pixels[i] / 255;
  return { images, labels: Uint8Array.from(labels), count: img.count };
}

export function loadFashionMnist(options: { dataDir?: string; seed?: number } = {}): DatasetSplits {
  const dir = fashionDataDir(options.dataDir);
  const missing = Object.values(FILES).filter((base) => findIdxFile(dir, base) == null);
  if (missing.length > 0) {
    throw new LowbitError(
      `Fashion-MNIST not found in ${dir} (missing ${missing.join(', ')}): install it with ` +
      '`apt-get install dataset-fashion-mnist`, or pass --data-dir (or set LOWBIT_DATA_DIR) to a directory holding the four IDX files (.gz or not)');
  }
  const fullTrain = readPair(dir, FILES.trainImages, FILES.trainLabels);
  const test = readPair(dir, FILES.testImages, FILES.testLabels);
  const { kept, heldOut } = stratifiedSplit(fullTrain.labels, FASHION_VAL_FRACTION, options.seed ?? 0);
  const train = subset(fullTrain, kept, 784);
  const val = subset(fullTrain, heldOut, 784);
  return {
    name: 'fashion-mnist', shape: [28, 28, 1], numClasses: 10, train, val, test,
    description: `Fashion-MNIST from ${dir}: ${train.count} train / ${val.count} validation (stratified, split seed ${options.seed ?? 0}) / ${test.count} test`,
  };
}
