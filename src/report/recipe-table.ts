/**
 * The results table of a recipe (`lowbit run`): one row per group (a method at one setting),
 * the learning rate chosen on validation with the first seed, and test accuracy over seeds at
 * that rate; optionally the paired per-seed difference against a reference row.
 */

export interface RunRecord {
  id: string;
  group: string;
  label: string;
  dir: string;
  command: string;
  lr?: number | null;
  method: string;
  wbits: number;
  abits: number;
  seed: number;
  valAccuracy?: number;
  testAccuracy?: number;
  wallSeconds?: number;
  sizeBytes?: number;
  /** The same weights at float32. */
  floatBytes?: number;
  /** The learning rate the run trained at (lowbit.json), whatever the recipe said. */
  trainedLr?: number;
  commit?: string;
  learnedBits?: Record<string, number>;
  learnedAverageBits?: number;
  /** Per-layer weight bits fixed from the start (--layer-bits). */
  layerBits?: Record<string, number>;
  /** Epochs trained (per section for DCQ). */
  epochs?: number;
  /** DCQ: the sections' training time, summed. */
  sectionSecondsSum?: number;
  /** DCQ: each section's loss kind ('mse' or 'ce'/'kd'), test loss and training seconds. */
  sections?: Array<{ name: string; loss: string; testLoss: number; seconds: number }>;
}

export interface TableRow {
  label: string;
  group: string;
  wbits: number;
  abits: number;
  /** The learning rate picked on validation (null: the CLI default, no tuning). */
  lr: number | null;
  /** The rate the kept runs trained at (differs from lr for a lottery ticket, which takes its source's). */
  trainedLr: number | null;
  /** Validation accuracy of the first seed at each tried lr. */
  tuning: Array<{ lr: number | null; valAccuracy: number }>;
  seeds: number[];
  valMean: number;
  testMean: number;
  testStd: number;
  sizeBytes: number | null;
  wallSecondsMean: number;
  /** Paired test-accuracy difference (this − reference) per shared seed: mean and standard error. */
  vsReference?: { reference: string; mean: number; se: number; n: number };
  learnedBits?: Array<Record<string, number>>;
  learnedAverageBits?: number;
  layerBits?: Array<Record<string, number>>;
  /** Epochs (per section for DCQ) of the kept runs. */
  epochs?: number;
  /** DCQ: per-section test loss, mean over the kept runs, and the longest section's mean seconds. */
  sections?: Array<{ name: string; loss: string; testLoss: number }>;
  longestSectionSeconds?: number;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0);

/** The lr whose first-seed run has the best validation accuracy (ties: the first tried). */
export function chosenLr(runs: RunRecord[], group: string): number | null | undefined {
  const inGroup = runs.filter((r) => r.group === group);
  if (inGroup.length === 0) return undefined;
  const first = Math.min(...inGroup.map((r) => r.seed));
  const tuned = inGroup.filter((r) => r.seed === first);
  return tuned.reduce((best, r) => ((r.valAccuracy ?? -1) > (best.valAccuracy ?? -1) ? r : best)).lr ?? null;
}

/** A row's runs: its group at the chosen lr, by seed. */
export function keptRuns(runs: RunRecord[], row: { group: string; lr: number | null }): RunRecord[] {
  return runs.filter((r) => r.group === row.group && (r.lr ?? null) === row.lr).sort((a, b) => a.seed - b.seed);
}

/** One row per group, the float teacher (when the recipe trained or named one) first. */
export function recipeTable(runs: RunRecord[], compare?: string): TableRow[] {
  const groups = [...new Set(runs.map((r) => r.group))].sort((a, b) => Number(b === 'teacher') - Number(a === 'teacher'));
  const rows: TableRow[] = groups.map((group) => {
    const inGroup = runs.filter((r) => r.group === group);
    const lr = chosenLr(runs, group) ?? null;
    const first = Math.min(...inGroup.map((r) => r.seed));
    const kept = keptRuns(runs, { group, lr });
    const test = kept.map((r) => r.testAccuracy ?? NaN);
    return {
      label: inGroup[0].label, group, wbits: inGroup[0].wbits, abits: inGroup[0].abits, lr, trainedLr: kept[0].trainedLr ?? null,
      tuning: inGroup.filter((r) => r.seed === first).map((r) => ({ lr: r.lr ?? null, valAccuracy: r.valAccuracy ?? NaN }))
        .sort((a, b) => (b.lr ?? 0) - (a.lr ?? 0)),
      seeds: kept.map((r) => r.seed), valMean: mean(kept.map((r) => r.valAccuracy ?? NaN)),
      testMean: mean(test), testStd: std(test), sizeBytes: kept[0].sizeBytes ?? null,
      wallSecondsMean: mean(kept.map((r) => r.wallSeconds ?? NaN)),
      ...(kept.some((r) => r.learnedBits) ? { learnedBits: kept.map((r) => r.learnedBits ?? {}), learnedAverageBits: mean(kept.map((r) => r.learnedAverageBits ?? NaN)) } : {}),
      ...(kept.some((r) => r.layerBits) ? { layerBits: kept.map((r) => r.layerBits ?? {}) } : {}),
      ...(kept[0].epochs != null ? { epochs: kept[0].epochs } : {}),
      ...(kept.every((r) => r.sections) ? {
        sections: kept[0].sections!.map((s, i) => ({ name: s.name, loss: s.loss, testLoss: mean(kept.map((r) => r.sections![i].testLoss)) })),
        longestSectionSeconds: mean(kept.map((r) => Math.max(...r.sections!.map((s) => s.seconds)))),
      } : {}),
    };
  });
  if (compare != null) {
    for (const row of rows) {
      // The reference row at the same bit-widths and epochs (or the only row so labelled); paired by seed.
      const refs = rows.filter((r) => r.label === compare);
      const sameBits = refs.filter((r) => r.wbits === row.wbits && r.abits === row.abits);
      const ref = sameBits.find((r) => r.epochs === row.epochs) ?? (sameBits.length === 1 ? sameBits[0] : refs.length === 1 ? refs[0] : undefined);
      if (ref == null || ref === row || row.group === 'teacher') continue;
      const acc = (r: TableRow) => new Map(keptRuns(runs, r).map((x) => [x.seed, x.testAccuracy ?? NaN]));
      const mine = acc(row);
      const theirs = acc(ref);
      const diffs = [...mine.keys()].filter((s) => theirs.has(s)).map((s) => mine.get(s)! - theirs.get(s)!);
      if (diffs.length > 0) row.vsReference = { reference: compare, mean: mean(diffs), se: std(diffs) / Math.sqrt(diffs.length), n: diffs.length };
    }
  }
  return rows;
}

const pct = (x: number) => (x * 100).toFixed(2);

/** The table as Markdown (what the README shows), with the recipe named above it. An epochs
 * column appears when rows differ in epochs, a section-loss column when a row is DCQ. */
export function tableMarkdown(recipe: { name: string; dataset: string; description?: string; compare?: string }, rows: TableRow[]): string {
  const cmp = recipe.compare != null;
  const showEpochs = new Set(rows.map((r) => r.epochs)).size > 1;
  const showSections = rows.some((r) => r.sections);
  const bits = (r: TableRow) => `${r.wbits}/${r.abits}${r.learnedAverageBits != null ? ` (learned ≤ ${r.wbits}, mean ${r.learnedAverageBits.toFixed(2)})` : r.layerBits ? ' (per-layer bits fixed)' : ''}`;
  const lr = (r: TableRow) => `${r.lr ?? (r.layerBits && r.trainedLr != null ? `${r.trainedLr} (its source's)` : r.trainedLr ?? 'default')}${r.tuning.length > 1 ? ` (of ${r.tuning.map((t) => t.lr).join(', ')})` : ''}`;
  const delta = (r: TableRow) => (r.vsReference ? `${r.vsReference.mean >= 0 ? '+' : ''}${pct(r.vsReference.mean)} ± ${pct(r.vsReference.se)}` : '–');
  const sections = (r: TableRow) => (r.sections ? `${r.sections.map((s) => `${s.name} ${s.loss.toUpperCase()} ${s.testLoss.toFixed(3)}`).join(' · ')} (longest ${r.longestSectionSeconds!.toFixed(0)} s)` : '–');
  const columns: Array<[string, (r: TableRow) => string, boolean]> = [
    ['method', (r) => r.label, true],
    ['W/A bits', bits, true],
    ['epochs', (r) => String(r.epochs ?? '–'), showEpochs],
    ['lr (val-chosen)', lr, true],
    ['seeds', (r) => String(r.seeds.length), true],
    ['val acc %', (r) => pct(r.valMean), true],
    ['test acc % (mean ± std)', (r) => `${pct(r.testMean)} ± ${pct(r.testStd)}`, true],
    ['test error %', (r) => pct(1 - r.testMean), true],
    [`Δ vs ${recipe.compare} (paired, ± SE)`, delta, cmp],
    ['size B', (r) => String(r.sizeBytes ?? '–'), true],
    ['s/run', (r) => r.wallSecondsMean.toFixed(0), true],
    ['section test loss', sections, showSections],
  ];
  const shown = columns.filter(([, , on]) => on);
  const lines = [
    `${recipe.name} (${recipe.dataset})${recipe.description ? `: ${recipe.description}` : ''}`,
    '',
    `| ${shown.map(([h]) => h).join(' | ')} |`,
    `|${shown.map(() => '---|').join('')}`,
    ...rows.map((r) => `| ${shown.map(([, cell]) => cell(r)).join(' | ')} |`),
    '',
  ];
  return lines.join('\n');
}
