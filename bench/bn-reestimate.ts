/**
 * Validation accuracy of saved models before and after an exact BatchNorm re-estimation on 4,096
 * training images (what --bn-recal does at the end of training).
 *
 *   node dist/bench/bn-reestimate.js RUN_DIR...
 */
import { setBackend, loadDataset, loadModelDir } from '../src/node.js';
import { readLowbitJson } from '../src/io/model-dir.js';
import { reestimateBatchNorm } from '../src/train/batchnorm.js';
import { evaluate, modelForward } from '../src/train/evaluate.js';

await setBackend('native');
for (const dir of process.argv.slice(2)) {
  const data = loadDataset(readLowbitJson<{ dataset: string }>(dir).dataset, {});
  const model = await loadModelDir(dir);
  const val = async () => (await evaluate(modelForward(model), data.val, data.shape, data.numClasses)).accuracy * 100;
  const before = await val();
  reestimateBatchNorm(model, data, 4096, 0);
  process.stdout.write(`${dir}: validation ${before.toFixed(2)} % → ${(await val()).toFixed(2)} % after BatchNorm re-estimation (4,096 images)\n`);
  model.dispose();
}
