/**
 * OUT/report.html for `lowbit run`: the recipe's table (as in its table.md), then for
 * classifiers accuracy against size and against weight bits, validation curves of each row's
 * first seed, per-layer weight bits, and weight histograms before and after quantization; for
 * DQ auto-encoders bits/dim per row, reconstructions and code usage of each row's first seed.
 * Node-only (reads run dirs; loads models for the histograms, so a TF.js backend must be set).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '../backend/tf.js';
import { loadModelDir } from '../io/model-dir.js';
import { isQuantLayer } from '../layers/quant-layers.js';
import { bitsPerDimSpec, pngAsSvg } from './dq-figures.js';
import { reportHtml } from './html.js';
import { accuracyVsBits, accuracyVsSize, layerBits, renderSvg, trainingCurves, weightHistograms } from './plots.js';
import { exportCells, keptRuns, RecipeRun, TableRow, tableCells } from './recipe-table.js';

type Plot = { caption: string; svg: string };
type RecipeHead = { name: string; dataset: string; description?: string; compare?: string };

const bitsLabel = (r: TableRow) => `${r.learnedAverageBits != null ? `≤${r.wbits} (mean ${r.learnedAverageBits.toFixed(2)})` : r.layerBits ? 'per layer' : r.wbits}/${r.abits}`;

export async function recipeReport(recipe: RecipeHead, runs: RecipeRun[], rows: TableRow[], footer: string): Promise<string> {
  const isDq = rows.length > 0 && rows.every((r) => r.dq);
  const plots = isDq ? await dqPlots(runs, rows) : await classifierPlots(runs, rows);
  const exported = exportCells(rows);
  return reportHtml(`lowbit run: ${recipe.name}`, `${recipe.dataset}. ${recipe.description ?? ''}`, tableCells(recipe, rows), plots, footer, exported ? [exported] : []);
}

async function classifierPlots(runs: RecipeRun[], rows: TableRow[]): Promise<Plot[]> {
  const firstRun = (row: TableRow) => keptRuns(runs, row)[0];
  const curves = rows.flatMap((row) => {
    const first = firstRun(row);
    const meta = first && existsSync(join(first.dir, 'lowbit.json')) ? JSON.parse(readFileSync(join(first.dir, 'lowbit.json'), 'utf8')) : null;
    return ((meta?.history ?? []) as Array<{ epoch: number; valAccuracy: number }>).map((h) => ({ run: `${row.label} ${row.wbits}/${row.abits}`, epoch: h.epoch, valAccuracy: h.valAccuracy * 100 }));
  });
  const bits = rows.flatMap((row) => {
    const perLayer = row.learnedBits?.[0] ?? row.layerBits?.[0];
    return perLayer ? Object.entries(perLayer).map(([layer, b]) => ({ run: row.label, layer, bits: b })) : [];
  });
  // A line per method at one activation width and budget, over weight bits (learned rows at their mean bits).
  const varies = (f: (r: TableRow) => unknown) => new Set(rows.map(f)).size > 1;
  const series = (r: TableRow) => `${r.label}${varies((x) => x.abits) ? ` A${r.abits}` : ''}${varies((x) => x.epochs) && r.epochs != null ? ` E${r.epochs}` : ''}`;
  const histograms = await kernelHistograms(rows.map((row) => ({ name: row.group === 'teacher' ? row.label : `${row.label} ${bitsLabel(row)}${varies((x) => x.epochs) ? ` E${row.epochs}` : ''}`, dir: firstRun(row)?.dir })));
  return [
    { caption: 'Mean test accuracy over seeds against the bytes of the weights at their bit-widths.',
      svg: await renderSvg(accuracyVsSize(rows.map((r) => ({ run: `${r.label} ${bitsLabel(r)}`, method: r.label, accuracy: r.testMean * 100, kib: (r.sizeBytes ?? 0) / 1024, bits: bitsLabel(r) })))) },
    { caption: 'Mean test accuracy over seeds against weight bits (learned-bits rows at their mean bits).',
      svg: await renderSvg(accuracyVsBits(rows.map((r) => ({ series: series(r), wbits: r.learnedAverageBits ?? r.wbits, accuracy: r.testMean * 100 })))) },
    ...(curves.length > 0 ? [{ caption: 'Validation accuracy per epoch (first seed of each row).', svg: await renderSvg(trainingCurves(curves)) }] : []),
    ...(bits.length > 0 ? [{ caption: 'Weight bits per layer, learned or fixed from the start (first seed).', svg: await renderSvg(layerBits(bits)) }] : []),
    ...(histograms ? [{ caption: `Histograms of ${histograms.layer}'s kernel before (float teacher) and after quantization, first seed of each row (up to 4,000 values each).`,
      svg: await renderSvg(weightHistograms(histograms.values, histograms.layer)) }] : []),
  ];
}

/**
 * Kernel values of one layer in each model: the float kernel where the layer is float, the
 * quantized kernel (what inference uses) where it is quantized. The layer is the quantized
 * layer with the most weights in the first quantized model; null when no model quantizes one.
 */
async function kernelHistograms(models: Array<{ name: string; dir?: string }>): Promise<{ layer: string; values: Array<{ model: string; value: number }> } | null> {
  const loaded: Array<{ name: string; model: tf.LayersModel }> = [];
  try {
    for (const m of models) if (m.dir && existsSync(join(m.dir, 'model.json'))) loaded.push({ name: m.name, model: await loadModelDir(m.dir) });
    const quantized = loaded.flatMap(({ model }) => model.layers.filter(isQuantLayer)).filter((l) => l.kernelBits < 32);
    if (quantized.length === 0) return null;
    const layer = quantized.reduce((a, b) => (b.countParams() > a.countParams() ? b : a)).name;
    const values: Array<{ model: string; value: number }> = [];
    for (const { name, model } of loaded) {
      const l = model.layers.find((x) => x.name === layer);
      if (l == null) continue;
      const kernel = isQuantLayer(l) ? l.quantizedKernel() : l.getWeights()[0];
      const data = kernel.dataSync();
      if (isQuantLayer(l)) kernel.dispose();
      const stride = Math.max(1, Math.ceil(data.length / 4000));
      for (let i = 0; i < data.length; i += stride) values.push({ model: name, value: data[i] });
    }
    return { layer, values };
  } finally {
    for (const { model } of loaded) model.dispose();
  }
}

async function dqPlots(runs: RecipeRun[], rows: TableRow[]): Promise<Plot[]> {
  const bpd = rows.flatMap((r) => [
    { run: r.label, measure: 'decoder', ...r.dq!.bpdDecoder },
    { run: r.label, measure: 'full bound (uniform prior)', ...r.dq!.bpdFull },
  ]);
  const perRow = rows.flatMap((row) => {
    const dir = keptRuns(runs, row)[0]?.dir;
    const figures: Plot[] = [];
    if (dir && existsSync(join(dir, 'recon.png'))) figures.push({ caption: `${row.label} (first seed): test images (upper rows) and reconstructions (lower rows).`, svg: pngAsSvg(readFileSync(join(dir, 'recon.png'))) });
    if (dir && existsSync(join(dir, 'code-usage.svg'))) figures.push({ caption: `${row.label} (first seed): code usage per group on the test set.`, svg: readFileSync(join(dir, 'code-usage.svg'), 'utf8') });
    return figures;
  });
  return [{ caption: 'Test bits/dim per row: the decoder\'s −log2 p(x | codes) and the full bound adding the codes at log2 K bits each.', svg: await renderSvg(bitsPerDimSpec(bpd)) }, ...perRow];
}
