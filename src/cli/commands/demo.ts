/**
 * `lowbit demo`: the whole story on the embedded MNIST subset in a few minutes — a float lenet5,
 * then DoReFa W1, DCQ W1 and SRQ W2/A2 (no DropBits: see README) from it, and a small DQ
 * auto-encoder — a comparison table, and lowbit-demo/report.html. Rerunning reuses every
 * finished step. Node-only.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../../backend/tf.js';
import { loadMnist } from '../../data/load.js';
import { LowbitError } from '../../errors.js';
import { LOWBIT_JSON, loadModelDir, writeJsonAtomic } from '../../io/model-dir.js';
import { checkWritableDir, makeDirs } from '../../io/out-dir.js';
import { readRunRecord, runInDir } from '../../io/run-dir.js';
import { gitCommit, lowbitVersion } from '../../io/run-info.js';
import { writeFileAtomic } from '../../io/atomic.js';
import { isQuantLayer } from '../../layers/quant-layers.js';
import { classifierRecord } from '../../run/record.js';
import type { RawOptions } from '../../run/options.js';
import { reportHtml, ReportRow } from '../../report/html.js';
import { accuracyVsSize, layerBits, renderSvg, trainingCurves, weightHistograms } from '../../report/plots.js';
import { pngAsSvg } from '../../report/dq-figures.js';
import type { TrainConfig } from '../../train/loop.js';
import type { EpochRecord } from '../../train/checkpoint.js';
import { parseBackend, useBackend } from '../backend-choice.js';
import { parseInteger } from '../options.js';

interface StepResult { run: string; method: string; bits: string; accuracy: number; bytes: number; compression: number; seconds: number; history: EpochRecord[] }

/** A finished run's row, read back from its run record. */
function readStep(dir: string, run: string, method: string, bits: string): StepResult {
  const m = classifierRecord(readRunRecord(dir), dir);
  return { run, method, bits, accuracy: m.test.accuracy, bytes: m.size.bytes, compression: m.size.compression, seconds: m.wallSeconds, history: m.history };
}

export async function demoCommand(o: { out: string; backend: string; epochs: string; quiet?: boolean; maxSteps?: string }): Promise<void> {
  const epochs = parseInteger(o.epochs, '--epochs', 1);
  const maxSteps = o.maxSteps != null ? parseInteger(o.maxSteps, '--max-steps', 1) : undefined;
  const backendChoice = parseBackend(o.backend);
  checkWritableDir(o.out);
  const backend = await useBackend(backendChoice, o.quiet);
  const data = loadMnist();
  makeDirs(o.out);
  const base: Partial<TrainConfig> = { epochs, batchSize: 64, learningRate: 1e-3, schedule: { name: 'step' }, seed: 0, maxStepsPerEpoch: maxSteps };
  const results: StepResult[] = [];

  /** Runs (or, when it finished before, reuses) one method into OUT/run through the library's runInDir. */
  const step = async (run: string, method: string, options: RawOptions, train: Partial<TrainConfig>, teacherDir?: string) => {
    const dir = join(o.out, run);
    if (!existsSync(join(dir, LOWBIT_JSON))) {
      const r = await runInDir({ method, options, dataset: 'mnist', teacherDir, train, out: dir, resume: 'auto', backend: backendChoice, quiet: o.quiet, announce: false, label: `demo ${run}` });
      r.model.dispose();
    }
    return dir;
  };

  const teacherDir = join(o.out, 'float');
  await step('float', 'float', { model: 'lenet5' }, base);
  results.push(readStep(teacherDir, 'float', 'float', '32/32'));
  const quantEpochs = Math.max(1, epochs - 1);
  const fine: Partial<TrainConfig> = { ...base, epochs: quantEpochs, learningRate: 5e-4 };
  for (const [run, label, bits, method, options] of [
    ['dorefa-w1', 'DoReFa', '1/32', 'dorefa', { wbits: 1, abits: 32 }],
    ['dcq-w1', 'DCQ', '1/32', 'dcq', { wbits: 1, abits: 32 }],
    ['srq-w2a2', 'SRQ', '2/2', 'srq', { wbits: 2, abits: 2 }],
  ] as const) {
    results.push(readStep(await step(run, method, options, fine, teacherDir), run, label, bits));
  }
  // DQ is an auto-encoder: reported in bits/dim, not in the classifier table.
  const dqDir = await step('dq-m4', 'dq', { groups: 4, codes: 32, levels: 2 }, { ...base, epochs: 1, learningRate: 2e-3, schedule: { name: 'constant' } });
  const dqRecord = readRunRecord(dqDir);
  if (dqRecord.kind !== 'dq') throw new LowbitError(`${dqDir} is not a DQ run: remove it and rerun the demo`);
  const dqTest = dqRecord.test;

  // The table.
  const rows: ReportRow[] = results.map((r) => ({ run: r.run, method: r.method, bits: r.bits, accuracy: r.accuracy, kib: r.bytes / 1024, compression: r.compression, seconds: r.seconds }));
  const line = (c: string[]) => `${c[0].padEnd(10)} ${c[1].padEnd(15)} ${c[2].padEnd(6)} ${c[3].padStart(9)} ${c[4].padStart(10)} ${c[5].padStart(11)} ${c[6].padStart(6)}`;
  process.stdout.write(`${line(['run', 'method', 'W/A', 'accuracy', 'weights', 'compression', 'time'])}\n`);
  for (const r of rows) process.stdout.write(`${line([r.run, r.method, r.bits, `${(r.accuracy * 100).toFixed(2)}%`, `${r.kib.toFixed(1)} KiB`, `${r.compression.toFixed(1)}×`, `${r.seconds.toFixed(0)}s`])}\n`);
  const dqLine = `DQ auto-encoder (M = 4 groups × K = 32 codes, 8×8 + 4×4 codes, ${dqTest.codeBitsPerImage} bits/image): test ${dqTest.bpdDecoder.toFixed(3)} bits/dim (decoder), ${dqTest.bpdFull.toFixed(3)} with the code cost, MSE ${dqTest.mse.toFixed(4)}`;
  process.stdout.write(`${dqLine}\n`);

  // The report.
  const teacher = await loadModelDir(teacherDir);
  const hist: Array<{ model: string; value: number }> = [];
  const sample = (values: ArrayLike<number>, label: string) => { for (let i = 0; i < values.length; i += 5) hist.push({ model: label, value: values[i] }); };
  sample(teacher.getLayer('conv2').getWeights()[0].dataSync(), 'float teacher');
  const bitsRows: Array<{ run: string; layer: string; bits: number }> = [];
  for (const run of ['dorefa-w1', 'srq-w2a2']) {
    const m = await loadModelDir(join(o.out, run));
    const l = m.getLayer('conv2');
    if (isQuantLayer(l)) sample(l.quantizedKernel().dataSync(), run);
    for (const layer of m.layers.filter((x) => x.countParams() > 0 && /Conv|Dense/.test(x.getClassName()))) bitsRows.push({ run, layer: layer.name, bits: isQuantLayer(layer) ? layer.kernelBits : 32 });
    m.dispose();
  }
  teacher.dispose();
  const curves = results.flatMap((r) => r.history.map((h) => ({ run: r.run, epoch: h.epoch, valAccuracy: h.valAccuracy * 100 })));
  const plots = [
    { caption: 'Test accuracy against the bytes of the weights at their bit-widths (summary()).', svg: await renderSvg(accuracyVsSize(results.map((r) => ({ run: r.run, method: r.method, accuracy: r.accuracy * 100, kib: r.bytes / 1024, bits: r.bits })))) },
    { caption: 'Training curves (DCQ trains sections separately, so it has no end-to-end curve).', svg: await renderSvg(trainingCurves(curves)) },
    { caption: 'Weight bits per layer (DoReFa keeps the first and last layers float; SRQ quantizes all).', svg: await renderSvg(layerBits(bitsRows)) },
    { caption: 'Histograms of conv2 kernel values before and after quantization (every 5th weight).', svg: await renderSvg(weightHistograms(hist)) },
    { caption: `${dqLine}. Test images (top rows) and reconstructions (bottom rows).`, svg: pngAsSvg(readFileSync(join(dqDir, 'recon.png'))) },
    { caption: 'DQ code usage per group on the test set.', svg: readFileSync(join(dqDir, 'code-usage.svg'), 'utf8') },
  ];
  const html = reportHtml('lowbit demo: lenet5 on the MNIST subset',
    `Float lenet5 trained for ${epochs} epochs, then quantized from it: DoReFa W1 and SRQ W2/A2 fine-tuned for ${quantEpochs} epochs, DCQ W1 with ${quantEpochs} epochs per section. A DQ auto-encoder trained for 1 epoch. ${data.description}. Backend: ${backend}.`,
    rows, plots, `lowbit ${lowbitVersion()} (${gitCommit()}), TF.js ${tf.version_core}, ${new Date().toISOString()}. SRQ is a reconstruction (see README).`);
  writeFileAtomic(join(o.out, 'report.html'), html);
  writeJsonAtomic(join(o.out, 'results.json'), { backend, epochs, results });
  process.stdout.write(`report: ${join(o.out, 'report.html')}\n`);
}
