/**
 * The results table of a recipe (`lowbit run`): one row per group (a method at one setting),
 * the learning rate chosen on validation with the first seed, and test accuracy over seeds at
 * that rate; optionally the paired per-seed difference against a reference row.
 */

/** One run as a recipe's results.json and table see it (read from its run record, src/run/record.ts). */
export interface RecipeRun {
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
  /** The TF.js backend the run trained on. */
  backend?: string;
  valAccuracy?: number;
  testAccuracy?: number;
  wallSeconds?: number;
  sizeBytes?: number;
  /** The same weights at float32. */
  floatBytes?: number;
  /** The learning rate the run trained at (lowbit.json), whatever the recipe said. */
  trainedLr?: number;
  commit?: string;
  /** The run's checkout had uncommitted changes (hash of the diff in diffHash). */
  dirty?: boolean | null;
  diffHash?: string | null;
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
  /** DQ auto-encoder runs: bits/dim and reconstruction instead of accuracy. */
  dq?: DqRecord;
  /** The run's exports checked against TF.js (`lowbit verify`), per format. */
  verify?: { images: number; formats: Record<string, VerifyFormat> };
}

export interface VerifyFormat { top1Agreement: number; maxAbsDelta: number; accuracy: number; ok: boolean; bytes: number }

/** What a table needs from a DQ run's lowbit.json (test split unless named val). */
export interface DqRecord {
  groups: number;
  codes: number;
  /** D = quantized channels per position / M. */
  dimPerGroup: number;
  valBpd: number;
  bpdDecoder: number;
  bpdFull: number;
  mse: number;
  /** Mean perplexity over a level's groups, bottom level first. */
  perplexity: number[];
  codeBitsPerImage: number;
  codebookFloats: number;
  params: number;
  /** Bottom level's pre-quantization features (dq.md §4): mean |Pearson r| between channels, between positions, between 4-neighbours. */
  correlation?: { channel: number; spatial: number; neighbour: number; groupNMI?: number };
}

type Stat = { mean: number; std: number };

export interface TableRow {
  label: string;
  group: string;
  wbits: number;
  abits: number;
  /** The learning rate picked on validation (null: the CLI default, no tuning). */
  lr: number | null;
  /** The rate the kept runs trained at (differs from lr for a lottery ticket, which takes its source's). */
  trainedLr: number | null;
  /** Validation accuracy (DQ: validation decoder bits/dim) of the first seed at each tried lr. */
  tuning: Array<{ lr: number | null; valAccuracy: number; valBpd?: number }>;
  seeds: number[];
  valMean: number;
  testMean: number;
  testStd: number;
  sizeBytes: number | null;
  wallSecondsMean: number;
  /** Paired difference (this − reference) per shared seed of test accuracy (DQ: decoder bits/dim), mean and standard error. */
  vsReference?: { reference: string; mean: number; se: number; n: number };
  /** DQ: paired test-MSE difference against the reference. */
  vsReferenceMse?: { reference: string; mean: number; se: number; n: number };
  /** DQ rows: test metrics over the kept seeds. */
  dq?: Omit<DqRecord, 'valBpd' | 'bpdDecoder' | 'bpdFull' | 'mse'> & { valBpd: number; bpdDecoder: Stat; bpdFull: Stat; mse: Stat };
  learnedBits?: Array<Record<string, number>>;
  learnedAverageBits?: number;
  layerBits?: Array<Record<string, number>>;
  /** Epochs (per section for DCQ) of the kept runs. */
  epochs?: number;
  /** DCQ: per-section test loss, mean over the kept runs, and the longest section's mean seconds. */
  sections?: Array<{ name: string; loss: string; testLoss: number }>;
  longestSectionSeconds?: number;
  /** The first kept run's export verification. */
  verify?: RecipeRun['verify'];
  /** The kept runs' backend(s). */
  backend?: string;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs: number[]) => (xs.length > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)) : 0);

const stat = (xs: number[]): Stat => ({ mean: mean(xs), std: std(xs) });
/** Higher is better: validation accuracy, or minus validation bits/dim for DQ. */
const valScore = (r: RecipeRun) => (r.dq ? -r.dq.valBpd : r.valAccuracy ?? -Infinity);

/** The lr whose first-seed run has the best validation score (ties: the first tried). */
export function chosenLr(runs: RecipeRun[], group: string): number | null | undefined {
  const inGroup = runs.filter((r) => r.group === group);
  if (inGroup.length === 0) return undefined;
  const first = Math.min(...inGroup.map((r) => r.seed));
  const tuned = inGroup.filter((r) => r.seed === first);
  return tuned.reduce((best, r) => (valScore(r) > valScore(best) ? r : best)).lr ?? null;
}

/** A row's runs: its group at the chosen lr, by seed. */
export function keptRuns(runs: RecipeRun[], row: { group: string; lr: number | null }): RecipeRun[] {
  return runs.filter((r) => r.group === row.group && (r.lr ?? null) === row.lr).sort((a, b) => a.seed - b.seed);
}

/** One row per group, the float teacher (when the recipe trained or named one) first. */
export function recipeTable(runs: RecipeRun[], compare?: string): TableRow[] {
  const groups = [...new Set(runs.map((r) => r.group))].sort((a, b) => Number(b === 'teacher') - Number(a === 'teacher'));
  const rows: TableRow[] = groups.map((group) => {
    const inGroup = runs.filter((r) => r.group === group);
    const lr = chosenLr(runs, group) ?? null;
    const first = Math.min(...inGroup.map((r) => r.seed));
    const kept = keptRuns(runs, { group, lr });
    const test = kept.map((r) => r.testAccuracy ?? NaN);
    return {
      label: inGroup[0].label, group, wbits: inGroup[0].wbits, abits: inGroup[0].abits, lr, trainedLr: kept[0].trainedLr ?? null,
      tuning: inGroup.filter((r) => r.seed === first).map((r) => ({ lr: r.lr ?? null, valAccuracy: r.valAccuracy ?? NaN, ...(r.dq ? { valBpd: r.dq.valBpd } : {}) }))
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
      ...(kept.every((r) => r.dq) ? { dq: dqStats(kept.map((r) => r.dq!)) } : {}),
      ...(kept[0].verify ? { verify: kept[0].verify } : {}),
      ...(kept[0].backend ? { backend: [...new Set(kept.map((r) => r.backend))].join(', ') } : {}),
    };
  });
  if (compare != null) {
    for (const row of rows) {
      // The reference row at the same bit-widths and epochs (or the only row so labelled); paired by seed.
      const refs = rows.filter((r) => r.label === compare);
      const sameBits = refs.filter((r) => r.wbits === row.wbits && r.abits === row.abits);
      const ref = sameBits.find((r) => r.epochs === row.epochs) ?? (sameBits.length === 1 ? sameBits[0] : refs.length === 1 ? refs[0] : undefined);
      if (ref == null || ref === row || row.group === 'teacher') continue;
      const paired = (metric: (r: RecipeRun) => number) => {
        const of = (r: TableRow) => new Map(keptRuns(runs, r).map((x) => [x.seed, metric(x)]));
        const [mine, theirs] = [of(row), of(ref)];
        const diffs = [...mine.keys()].filter((s) => theirs.has(s)).map((s) => mine.get(s)! - theirs.get(s)!);
        return diffs.length > 0 ? { reference: compare, mean: mean(diffs), se: std(diffs) / Math.sqrt(diffs.length), n: diffs.length } : undefined;
      };
      row.vsReference = paired((x) => (x.dq ? x.dq.bpdDecoder : x.testAccuracy ?? NaN));
      if (row.dq) row.vsReferenceMse = paired((x) => x.dq?.mse ?? NaN);
      if (row.vsReference == null) delete row.vsReference;
      if (row.vsReferenceMse == null) delete row.vsReferenceMse;
    }
  }
  return rows;
}

/** A DQ row's numbers over its seeds (the model's shape is the same for every seed). */
function dqStats(runs: DqRecord[]): NonNullable<TableRow['dq']> {
  const [first] = runs;
  return {
    groups: first.groups, codes: first.codes, dimPerGroup: first.dimPerGroup, codeBitsPerImage: first.codeBitsPerImage,
    codebookFloats: first.codebookFloats, params: first.params, valBpd: mean(runs.map((r) => r.valBpd)),
    bpdDecoder: stat(runs.map((r) => r.bpdDecoder)), bpdFull: stat(runs.map((r) => r.bpdFull)), mse: stat(runs.map((r) => r.mse)),
    perplexity: first.perplexity.map((_, l) => mean(runs.map((r) => r.perplexity[l]))),
    ...(runs.every((r) => r.correlation) ? { correlation: {
      channel: mean(runs.map((r) => r.correlation!.channel)), spatial: mean(runs.map((r) => r.correlation!.spatial)),
      neighbour: mean(runs.map((r) => r.correlation!.neighbour)),
      ...(runs.every((r) => r.correlation!.groupNMI != null) ? { groupNMI: mean(runs.map((r) => r.correlation!.groupNMI!)) } : {}),
    } } : {}),
  };
}

const pct = (x: number) => (x * 100).toFixed(2);
const signed = (x: number, digits: (v: number) => string) => `${x >= 0 ? '+' : ''}${digits(x)}`;
const pm = (d: { mean: number; se: number } | undefined, digits: (v: number) => string) => (d ? `${signed(d.mean, digits)} ± ${digits(d.se)}` : '–');

type RecipeHead = { name: string; dataset: string; description?: string; compare?: string };
/** A table's header and cells, the same for table.md and the HTML report. */
export interface TableCells { head: string[]; rows: string[][] }

/** The columns of a classifier table: an epochs column when rows differ in epochs, a
 * section-loss column when a row is DCQ, a Δ column when the recipe compares. */
function classifierColumns(recipe: RecipeHead, rows: TableRow[]): Array<[string, (r: TableRow) => string, boolean]> {
  const bits = (r: TableRow) => `${r.wbits}/${r.abits}${r.learnedAverageBits != null ? ` (learned ≤ ${r.wbits}, mean ${r.learnedAverageBits.toFixed(2)})` : r.layerBits ? ' (per-layer bits fixed)' : ''}`;
  const sections = (r: TableRow) => (r.sections ? `${r.sections.map((s) => `${s.name} ${s.loss.toUpperCase()} ${s.testLoss.toFixed(3)}`).join(' · ')} (longest ${r.longestSectionSeconds!.toFixed(0)} s)` : '–');
  return [
    ['method', (r) => r.label, true],
    ['W/A bits', bits, true],
    ['epochs', (r) => String(r.epochs ?? '–'), new Set(rows.map((r) => r.epochs)).size > 1],
    ['backend', (r) => r.backend ?? '–', new Set(rows.map((r) => r.backend)).size > 1],
    ['lr (val-chosen)', lrCell, true],
    ['seeds', (r) => String(r.seeds.length), true],
    ['val acc %', (r) => pct(r.valMean), true],
    ['test acc % (mean ± std)', (r) => `${pct(r.testMean)} ± ${pct(r.testStd)}`, true],
    ['test error %', (r) => pct(1 - r.testMean), true],
    [`Δ vs ${recipe.compare} (paired, ± SE)`, (r) => pm(r.vsReference, pct), recipe.compare != null],
    ['size B', (r) => String(r.sizeBytes ?? '–'), true],
    ['s/run', (r) => r.wallSecondsMean.toFixed(0), true],
    ['section test loss', sections, rows.some((r) => r.sections)],
  ];
}

/** The columns of a DQ table (bits/dim on the test split, dq.md §3). */
function dqColumns(recipe: RecipeHead, rows: TableRow[]): Array<[string, (r: TableRow) => string, boolean]> {
  const d = (r: TableRow) => r.dq!;
  const ms = (s: Stat, digits: number) => `${s.mean.toFixed(digits)} ± ${s.std.toFixed(digits)}`;
  const cmp = recipe.compare != null;
  return [
    ['method', (r) => r.label, true],
    ['M × D', (r) => `${d(r).groups} × ${d(r).dimPerGroup}`, true],
    ['K', (r) => String(d(r).codes), new Set(rows.map((r) => d(r).codes)).size > 1],
    ['epochs', (r) => String(r.epochs ?? '–'), new Set(rows.map((r) => r.epochs)).size > 1],
    ['code bits / image', (r) => d(r).codeBitsPerImage.toLocaleString('en-US'), true],
    ['lr (val-chosen)', lrCell, true],
    ['seeds', (r) => String(r.seeds.length), true],
    ['val bits/dim', (r) => d(r).valBpd.toFixed(3), true],
    ['decoder bits/dim (mean ± std)', (r) => ms(d(r).bpdDecoder, 3), true],
    [`Δ bits/dim vs ${recipe.compare} (paired, ± SE)`, (r) => pm(r.vsReference, (v) => v.toFixed(3)), cmp],
    ['full bound bits/dim (uniform prior)', (r) => ms(d(r).bpdFull, 3), true],
    ['MSE', (r) => ms(d(r).mse, 4), true],
    [`Δ MSE vs ${recipe.compare}`, (r) => pm(r.vsReferenceMse, (v) => v.toFixed(4)), cmp],
    [`perplexity per group, ${rows[0]?.dq?.perplexity.length === 2 ? 'bottom / top' : 'per level'} (of K)`, (r) => d(r).perplexity.map((p) => p.toFixed(1)).join(' / '), true],
    ['params', (r) => d(r).params.toLocaleString('en-US'), true],
    ['mean |r| channels / positions / 4-neighbours', (r) => (d(r).correlation ? [d(r).correlation!.channel, d(r).correlation!.spatial, d(r).correlation!.neighbour].map((x) => x.toFixed(2)).join(' / ') : '–'),
      rows.some((r) => d(r).correlation)],
    ['NMI between groups', (r) => (d(r).correlation?.groupNMI != null ? d(r).correlation!.groupNMI!.toFixed(2) : '–'), rows.some((r) => d(r).correlation?.groupNMI != null)],
    ['s/run', (r) => r.wallSecondsMean.toFixed(0), true],
  ];
}

const lrCell = (r: TableRow) => `${r.lr ?? (r.layerBits && r.trainedLr != null ? `${r.trainedLr} (its source's)` : r.trainedLr ?? 'default')}${r.tuning.length > 1 ? ` (of ${r.tuning.map((t) => t.lr).join(', ')})` : ''}`;

/** The table's cells: DQ columns when the rows are DQ auto-encoders, else classifier columns. */
export function tableCells(recipe: RecipeHead, rows: TableRow[]): TableCells {
  const shown = (rows.length > 0 && rows.every((r) => r.dq) ? dqColumns : classifierColumns)(recipe, rows).filter(([, , on]) => on);
  return { head: shown.map(([h]) => h), rows: rows.map((r) => shown.map(([, cell]) => cell(r))) };
}

/** The export table: per format, the first seed's top-1 agreement with TF.js and the file's bytes; null without exports. */
export function exportCells(rows: TableRow[]): (TableCells & { caption: string }) | null {
  const verified = rows.filter((r) => r.verify);
  if (verified.length === 0) return null;
  const formats = [...new Set(verified.flatMap((r) => Object.keys(r.verify!.formats)))];
  const showEpochs = new Set(verified.map((r) => r.epochs)).size > 1;
  const images = [...new Set(verified.map((r) => r.verify!.images))].join(' / ');
  return {
    caption: `Exports of each row's first kept run, run in onnxruntime (packed: TF.js from the packed file) against the TF.js model on ${images} test images: top-1 agreement (FAIL below lowbit verify's bar) and file bytes.`,
    head: ['method', 'W/A bits', ...(showEpochs ? ['epochs'] : []), ...formats, 'max |Δlogit|', 'accuracy (exported)'],
    rows: verified.map((r) => {
      const v = r.verify!.formats;
      const cell = (f: string) => (v[f] ? `${pct(v[f].top1Agreement)} %${v[f].ok ? '' : ' FAIL'} · ${v[f].bytes.toLocaleString('en-US')} B` : '–');
      const deltas = Object.values(v).map((x) => x.maxAbsDelta);
      return [r.label, `${r.wbits}/${r.abits}`, ...(showEpochs ? [String(r.epochs ?? '–')] : []), ...formats.map(cell),
        Math.max(...deltas).toExponential(1), `${pct(Object.values(v)[0].accuracy)} %`];
    }),
  };
}

/** Markdown rows; a '|' inside a cell (as in |Δlogit|) is escaped so it does not split the cell. */
const markdown = (t: TableCells) => {
  const row = (cells: string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [row(t.head), `|${t.head.map(() => '---|').join('')}`, ...t.rows.map(row)];
};

/** Which commits the runs come from, and whether any ran from a dirty working tree (a table says so). */
export function provenanceLine(runs: RecipeRun[]): string {
  const commits = [...new Set(runs.map((r) => r.commit ?? 'unknown'))];
  const dirty = runs.filter((r) => r.dirty === true);
  return `Runs from commit${commits.length > 1 ? 's' : ''} ${commits.join(', ')}` +
    (dirty.length > 0 ? `; **${dirty.length} of ${runs.length} from a working tree with uncommitted changes** (diff ${[...new Set(dirty.map((r) => r.diffHash))].join(', ')}): not reproducible from a commit.` : '; every run from a clean checkout (as far as recorded).');
}

/** The table as Markdown (what the README shows), with the recipe named above it, and the export table if any. */
export function tableMarkdown(recipe: RecipeHead, rows: TableRow[]): string {
  const exported = exportCells(rows);
  return [
    `${recipe.name} (${recipe.dataset})${recipe.description ? `: ${recipe.description}` : ''}`,
    '',
    ...markdown(tableCells(recipe, rows)),
    '',
    ...(exported ? [exported.caption, '', ...markdown(exported), ''] : []),
  ].join('\n');
}
