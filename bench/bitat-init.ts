/**
 * A diagnostic of BiTAT's transform at initialisation (bitat.md §1.3, a reconstruction): for
 * each binarized layer of the float mobilenet-tiny teacher, with the layers below binarized
 * (untrained), the PCA metric M = C / mean λ of the layer's actual input, and
 * - the relative output error (w − q)ᵀC(w − q) / wᵀCw of plain sign·mean|w| and of BiTAT's
 *   sign(Mw)·α (the quantity BiTAT's sign choice is meant to reduce, to first order);
 * - the fraction of z = Mw inside the clipped STE's window |z| ≤ 1 (of w for plain);
 * - how many signs BiTAT flips relative to sign(w).
 * Writes bench/results/bitat-init-error.json.
 *
 *   node dist/bench/bitat-init.js [--teacher runs/mnt-fashion] [--images 512]
 */
import { writeFileSync } from 'node:fs';
import { tf, setBackend, loadModelDir, loadDataset, imageBatch } from '../src/node.js';
import { bitatStages, bitatStudent } from '../src/methods/bitat/run.js';
import { inputCorrelation } from '../src/methods/bitat/correlation.js';
import { BitatTransform } from '../src/methods/bitat/transform.js';
import { binaryChannel } from '../src/quantizers/binary.js';
import { arg } from './runner.js';

const teacherDir = arg('teacher', 'runs/mnt-fashion');
const n = Number(arg('images', '512'));
await setBackend('wasm');
const data = loadDataset('fashion-mnist');
const student = await bitatStudent(await loadModelDir(teacherDir));
const images = imageBatch(data.train, data.shape, n) as tf.Tensor4D;
const rows = [];
for (const layers of bitatStages(student)) {
  for (const l of layers) {
    l.quantizationEnabled = true;
    const c = inputCorrelation(student, l, images);
    const t = new BitatTransform(c, {}, l.name);
    const row = tf.tidy(() => {
      const w = tf.reshape(l.latentKernel.read(), [-1, l.kernelColumns()]) as tf.Tensor2D;
      const C = tf.tensor2d(c);
      const err = (q: tf.Tensor) => { const e = tf.sub(w, q); return tf.sum(tf.mul(e, tf.matMul(C, e))).dataSync()[0] / tf.sum(tf.mul(w, tf.matMul(C, w))).dataSync()[0]; };
      const inside = (a: tf.Tensor) => tf.mean(tf.cast(tf.lessEqual(tf.abs(a), 1), 'float32')).dataSync()[0];
      const z = tf.matMul(t.metric(), w);
      return {
        layer: l.name, dIn: t.dim, importanceMax: Math.max(...t.initialImportance), importanceMin: Math.min(...t.initialImportance),
        outputErrorPlain: err(binaryChannel(w)), outputErrorBitat: err(binaryChannel(w, t.metric())),
        steWindowPlain: inside(w), steWindowBitat: inside(z),
        signsFlipped: tf.mean(tf.cast(tf.notEqual(tf.greaterEqual(z, 0), tf.greaterEqual(w, 0)), 'float32')).dataSync()[0],
      };
    });
    t.dispose();
    rows.push(row);
  }
}
writeFileSync('bench/results/bitat-init-error.json', `${JSON.stringify({ command: `node dist/bench/bitat-init.js ${process.argv.slice(2).join(' ')}`.trim(), teacher: teacherDir, images: n, rows }, null, 2)}\n`);
for (const r of rows) process.stdout.write(`${r.layer.padEnd(8)} d=${String(r.dIn).padEnd(3)} output error plain ${r.outputErrorPlain.toFixed(3)} bitat ${r.outputErrorBitat.toFixed(3)}  STE window ${r.steWindowPlain.toFixed(2)} / ${r.steWindowBitat.toFixed(2)}  signs flipped ${(r.signsFlipped * 100).toFixed(0)}%\n`);
