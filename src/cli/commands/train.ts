/** `lowbit train`: train a reference model from scratch (the `float` method), with checkpoints and --resume. Node-only. */
import { getMethod } from '../../run/method.js';
import { runFromFlags, TrainingFlags } from '../run-training.js';

export interface TrainCommandOptions extends TrainingFlags {
  model: string;
  dataset: string;
  width?: string;
}

export async function trainCommand(o: TrainCommandOptions): Promise<void> {
  const method = getMethod('float');
  await runFromFlags(method, { ...o }, method.options, { dataset: o.dataset });
}
