/**
 * The Node-only parts of the methods, registered over the core ones: DCQ (worker threads) and
 * DQ's figures in a run directory (PNG and SVG rendering). Imported by 'lowbit/node'.
 */
import { join } from 'node:path';
import * as tf from '../backend/tf.js';
import { imageBatch } from '../data/dataset.js';
import { writeFileAtomic } from '../io/atomic.js';
import { codeUsageSpec, correlationHeatmapSpec, imageGridPng } from '../report/dq-figures.js';
import { renderSvg } from '../report/plots.js';
import { Method, registerMethod } from '../run/method.js';
import { dcqMethod } from './dcq/method.js';
import { dqMethod, DqArtifacts, DqMethodOptions } from './dq/method.js';
import { cropParams, mixtureMean } from './dq/mixture.js';
import './index.js';

/** DQ with recon.png, code-usage.svg and channel-correlation.svg written beside the model (run directories only). */
export const dqFigureMethod: Method<DqMethodOptions> = {
  ...dqMethod,
  async run(o, ctx) {
    const out = await dqMethod.run(o, ctx);
    if (ctx.store.dir != null) {
      const dir = ctx.store.dir;
      const { data } = ctx;
      const a = out.artifacts as DqArtifacts;
      const originals = imageBatch(data.test, data.shape, 16, true);
      const recon = tf.tidy(() => mixtureMean(cropParams((out.model.predict(originals) as tf.Tensor[])[0] as tf.Tensor4D)));
      writeFileAtomic(join(dir, 'recon.png'), imageGridPng([originals.dataSync() as Float32Array, recon.dataSync() as Float32Array], 16, 28, 28));
      tf.dispose([originals, recon]);
      const usage = a.test.levels.flatMap((l) => l.usage.flatMap((u, group) => u.map((count, code) => ({ level: l.level, group, code, count }))));
      writeFileAtomic(join(dir, 'code-usage.svg'), await renderSvg(codeUsageSpec(usage)));
      writeFileAtomic(join(dir, 'channel-correlation.svg'), await renderSvg(correlationHeatmapSpec(a.channelMatrix, `Bottom-level channel correlation (M = ${a.groups})`)));
    }
    return out;
  },
};

registerMethod(dcqMethod);
registerMethod(dqFigureMethod);

export { dcqMethod };
