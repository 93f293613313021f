/** `lowbit quantize --method dorefa`: quantize a trained float teacher and fine-tune it. Node-only. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { LowbitError } from '../../errors.js';
import { LOWBIT_JSON, loadModelDir, readLowbitJson } from '../../io/model-dir.js';
import { dorefaConfig } from '../../methods/dorefa/index.js';
import { quantizeModel } from '../../layers/quantize-model.js';
import { parseChoice, parseInteger } from '../options.js';
import { runTraining, TrainingFlags } from '../run-training.js';

export const quantizeMethods = ['dorefa'] as const;

export interface QuantizeCommandOptions extends TrainingFlags {
  method: string;
  teacher: string;
  wbits: string;
  abits: string;
  dataset?: string;
}

export async function quantizeCommand(o: QuantizeCommandOptions): Promise<void> {
  const method = parseChoice(o.method, '--method', quantizeMethods);
  const wbits = parseInteger(o.wbits, '--wbits', 1);
  const abits = parseInteger(o.abits, '--abits', 1);
  const qconfig = dorefaConfig({ wbits, abits });
  if (!existsSync(join(o.teacher, 'model.json'))) {
    throw new LowbitError(`--teacher ${o.teacher} holds no model.json: pass a directory written by 'lowbit train'`);
  }
  const meta = existsSync(join(o.teacher, LOWBIT_JSON)) ? readLowbitJson<{ dataset?: string; model?: string }>(o.teacher) : {};
  const dataset = o.dataset ?? meta.dataset;
  if (dataset == null) throw new LowbitError(`--teacher ${o.teacher} has no ${LOWBIT_JSON} naming its dataset: pass --dataset`);
  const tag = `${method}-w${wbits}a${abits}`;
  await runTraining({
    flags: o, dataset, label: `${meta.model ?? 'model'}/${dataset} ${tag}`,
    defaultOut: join('runs', `${meta.model ?? 'model'}-${dataset}-${tag}-s${o.seed}`),
    makeModel: async (data) => {
      const teacher = await loadModelDir(o.teacher);
      const inShape = teacher.inputs[0].shape.slice(1).join('×');
      if (inShape !== data.shape.join('×')) {
        throw new LowbitError(`the teacher in ${o.teacher} takes ${inShape} inputs but ${dataset} images are ${data.shape.join('×')}`);
      }
      const quantized = await quantizeModel(teacher, qconfig);
      teacher.dispose();
      return quantized;
    },
    metadata: { kind: 'quantized', method, wbits, abits, model: meta.model ?? null, teacher: o.teacher, quantizeConfig: qconfig },
  });
}
