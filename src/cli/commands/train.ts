/** `lowbit train`: train a reference model from scratch, with checkpoints and --resume. Node-only. */
import { join } from 'node:path';
import { buildModel, modelNames } from '../../models/index.js';
import { parseChoice, parsePositive } from '../options.js';
import { runTraining, TrainingFlags } from '../run-training.js';

export interface TrainCommandOptions extends TrainingFlags {
  model: string;
  dataset: string;
  width: string;
}

export async function trainCommand(o: TrainCommandOptions): Promise<void> {
  parseChoice(o.model, '--model', modelNames);
  const width = parsePositive(o.width, '--width');
  await runTraining({
    flags: o, dataset: o.dataset, label: `${o.model}/${o.dataset}`,
    defaultOut: join('runs', `${o.model}-${o.dataset}-s${o.seed}`),
    makeModel: async (data, config) => buildModel(o.model, { inputShape: data.shape as [number, number, number], numClasses: data.numClasses, width, seed: config.seed }),
    metadata: { kind: 'float', model: o.model, width },
  });
}
