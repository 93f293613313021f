/**
 * OUT/report.html for `lowbit run`: the recipe's table (mean test accuracy over seeds at the
 * validation-chosen lr), accuracy against size, validation curves of each row's first seed, and
 * the per-layer weight bits of learned-bits and lottery-ticket rows. Node-only (reads run dirs).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { reportHtml, ReportRow } from './html.js';
import { accuracyVsSize, layerBits, renderSvg, trainingCurves } from './plots.js';
import { keptRuns, RunRecord, TableRow } from './recipe-table.js';

const bitsLabel = (r: TableRow) => `${r.learnedAverageBits != null ? `≤${r.wbits} (mean ${r.learnedAverageBits.toFixed(2)})` : r.layerBits ? 'per layer' : r.wbits}/${r.abits}`;

export async function recipeReport(recipe: { name: string; dataset: string; description?: string }, runs: RunRecord[], rows: TableRow[], footer: string): Promise<string> {
  const table: ReportRow[] = rows.map((row) => {
    const first = keptRuns(runs, row)[0];
    return { run: `${row.label} (${row.seeds.length} seeds)`, method: row.label, bits: bitsLabel(row), accuracy: row.testMean,
      kib: (row.sizeBytes ?? NaN) / 1024, compression: (first?.floatBytes ?? NaN) / (row.sizeBytes ?? NaN), seconds: row.wallSecondsMean };
  });
  const curves = rows.flatMap((row) => {
    const first = keptRuns(runs, row)[0];
    const meta = first && existsSync(join(first.dir, 'lowbit.json')) ? JSON.parse(readFileSync(join(first.dir, 'lowbit.json'), 'utf8')) : null;
    return ((meta?.history ?? []) as Array<{ epoch: number; valAccuracy: number }>).map((h) => ({ run: `${row.label} ${row.wbits}/${row.abits}`, epoch: h.epoch, valAccuracy: h.valAccuracy * 100 }));
  });
  const bits = rows.flatMap((row) => {
    const perLayer = row.learnedBits?.[0] ?? row.layerBits?.[0];
    return perLayer ? Object.entries(perLayer).map(([layer, b]) => ({ run: row.label, layer, bits: b })) : [];
  });
  const plots = [
    { caption: 'Mean test accuracy over seeds against the bytes of the weights at their bit-widths.',
      svg: await renderSvg(accuracyVsSize(rows.map((r) => ({ run: `${r.label} ${bitsLabel(r)}`, method: r.label, accuracy: r.testMean * 100, kib: (r.sizeBytes ?? 0) / 1024, bits: bitsLabel(r) })))) },
    ...(curves.length > 0 ? [{ caption: 'Validation accuracy per epoch (first seed of each row).', svg: await renderSvg(trainingCurves(curves)) }] : []),
    ...(bits.length > 0 ? [{ caption: 'Weight bits per layer, learned or fixed from the start (first seed).', svg: await renderSvg(layerBits(bits)) }] : []),
  ];
  return reportHtml(`lowbit run: ${recipe.name}`, `${recipe.dataset}. ${recipe.description ?? ''}`, table, plots, footer);
}
