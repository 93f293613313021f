import { chosenLr, recipeTable, RecipeRun, tableMarkdown } from '../src/report/recipe-table.js';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { reportHtml } from '../src/report/html.js';
import { accuracyVsSize, layerBits, renderSvg, trainingCurves, weightHistograms } from '../src/report/plots.js';

const chromium = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));

async function sampleReport(): Promise<string> {
  const points = [{ run: 'float', method: 'float', accuracy: 98, kib: 1690, bits: '32/32' }, { run: 'w1', method: 'DoReFa', accuracy: 97.5, kib: 82, bits: '1/32' }];
  const plots = [
    { caption: 'accuracy', svg: await renderSvg(accuracyVsSize(points)) },
    { caption: 'curves', svg: await renderSvg(trainingCurves([{ run: 'float', epoch: 1, valAccuracy: 97 }, { run: 'float', epoch: 2, valAccuracy: 98 }])) },
    { caption: 'bits', svg: await renderSvg(layerBits([{ run: 'w1', layer: 'conv2', bits: 1 }, { run: 'w1', layer: 'fc2', bits: 32 }])) },
    { caption: 'hist', svg: await renderSvg(weightHistograms([{ model: 'float', value: 0.1 }, { model: 'float', value: -0.2 }, { model: 'w1', value: 0.15 }])) },
  ];
  return reportHtml('lowbit test report', 'intro <b>escaped</b>', [{ run: 'w1', method: 'DoReFa', bits: '1/32', accuracy: 0.975, kib: 82, compression: 20.5, seconds: 3 }], plots, 'footer');
}

test('the report is one self-contained HTML file with inline SVG plots and escaped text', async () => {
  const html = await sampleReport();
  assert.equal((html.match(/<svg/g) ?? []).length, 4);
  assert.ok(!/<script|<link|src="/.test(html), 'no scripts or external resources');
  assert.ok(html.includes('intro &lt;b&gt;escaped&lt;/b&gt;'));
  assert.match(html, /<td>97.50 %<\/td>/);
});

test('the report renders in headless Chromium', { skip: chromium ? false : 'Debian chromium is not installed (apt-get install chromium)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-report-'));
  writeFileSync(join(dir, 'report.html'), await sampleReport());
  const flags = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', `--user-data-dir=${join(dir, 'profile')}`];
  const dom = execFileSync(chromium!, [...flags, '--dump-dom', `file://${join(dir, 'report.html')}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
  assert.equal((dom.match(/<svg/g) ?? []).length, 4, 'Chromium parsed four SVG plots');
  execFileSync(chromium!, [...flags, '--window-size=1000,1600', `--screenshot=${join(dir, 'shot.png')}`, `file://${join(dir, 'report.html')}`], { stdio: 'ignore', timeout: 60_000 });
  assert.ok(statSync(join(dir, 'shot.png')).size > 20_000, 'a non-trivial screenshot');
});

test('recipe table: the lr with the best first-seed validation accuracy wins; seeds aggregate at it; differences pair by seed', () => {
  const run = (group: string, label: string, seed: number, lr: number, val: number, test: number, wbits = 2): RecipeRun =>
    ({ id: `${group}-lr${lr}-s${seed}`, group, label, dir: '', command: '', lr, method: 'srq', wbits, abits: 2, seed, valAccuracy: val, testAccuracy: test });
  const runs = [
    run('a', 'A', 0, 1e-3, 0.80, 0.79), run('a', 'A', 0, 3e-4, 0.90, 0.70), run('a', 'A', 1, 3e-4, 0.88, 0.74),
    run('b', 'B', 0, 1e-3, 0.85, 0.75), run('b', 'B', 1, 1e-3, 0.85, 0.71),
    { ...run('c', 'C', 0, 1e-3, 0.8, 0.8, 4), learnedBits: { conv1: 3, fc1: 2 }, learnedAverageBits: 2.25 },
  ];
  assert.equal(chosenLr(runs, 'a'), 3e-4, 'validation, not test, picks the lr');
  const rows = recipeTable(runs, 'B');
  const a = rows.find((r) => r.label === 'A')!;
  assert.deepEqual(a.seeds, [0, 1]);
  assert.ok(Math.abs(a.testMean - 0.72) < 1e-12 && Math.abs(a.testStd - Math.sqrt(0.0008)) < 1e-12);
  assert.deepEqual(a.tuning.map((t) => t.lr), [1e-3, 3e-4]);
  // Paired: seed 0 0.70 − 0.75, seed 1 0.74 − 0.71 → mean −0.01, SE = std([−0.05, 0.03]) / √2.
  assert.ok(Math.abs(a.vsReference!.mean + 0.01) < 1e-12 && Math.abs(a.vsReference!.se - Math.sqrt(0.0032) / Math.sqrt(2)) < 1e-12);
  assert.equal(rows.find((r) => r.label === 'B')!.vsReference, undefined);
  const md = tableMarkdown({ name: 'r', dataset: 'mnist', compare: 'B' }, rows);
  assert.match(md, /\| A \| 2\/2 \| 0.0003 \(of 0.001, 0.0003\) \| 2 \| 89.00 \| 72.00 ± 2.83 \| 28.00 \| -1.00 ± 4.00 \|/);
  assert.match(md, /\| C \| 4\/2 \(learned ≤ 4, mean 2.25\) \|/);
});

test('recipe table: rows at several budgets get an epochs column and are compared at the same epochs; DCQ rows show section losses', () => {
  const run = (group: string, label: string, epochs: number, seed: number, test: number, sections?: RecipeRun['sections']): RecipeRun =>
    ({ id: `${group}-s${seed}`, group, label, dir: '', command: '', lr: 1e-3, method: label === 'DCQ' ? 'dcq' : 'dorefa', wbits: 1, abits: 32, seed,
      valAccuracy: 0.9, testAccuracy: test, epochs, wallSeconds: 40, ...(sections ? { sections } : {}) });
  const sec = (mse: number, seconds: number) => [{ name: 's1', loss: 'mse', testLoss: mse, seconds }, { name: 's2', loss: 'ce', testLoss: 0.3, seconds: 5 }];
  const runs = [
    run('d1', 'DoReFa', 1, 0, 0.90), run('d1', 'DoReFa', 1, 1, 0.92),
    run('d3', 'DoReFa', 3, 0, 0.95), run('d3', 'DoReFa', 3, 1, 0.97),
    run('c1', 'DCQ', 1, 0, 0.88, sec(0.1, 10)), run('c1', 'DCQ', 1, 1, 0.89, sec(0.2, 20)),
    run('c3', 'DCQ', 3, 0, 0.91, sec(0.1, 30)), run('c3', 'DCQ', 3, 1, 0.93, sec(0.1, 30)),
    { id: 'teacher', group: 'teacher', label: 'float teacher', dir: '', command: '', method: 'float', wbits: 32, abits: 32, seed: 0, valAccuracy: 0.93, testAccuracy: 0.92, epochs: 10, wallSeconds: 300 },
  ];
  const rows = recipeTable(runs, 'DoReFa');
  assert.equal(rows[0].label, 'float teacher', 'the teacher is the first row');
  assert.equal(rows[0].vsReference, undefined);
  const c1 = rows.find((r) => r.group === 'c1')!;
  const c3 = rows.find((r) => r.group === 'c3')!;
  // E = 1 against DoReFa E = 1 (−0.02, −0.03), E = 3 against DoReFa E = 3 (−0.04, −0.04), not against another budget.
  assert.ok(Math.abs(c1.vsReference!.mean + 0.025) < 1e-12);
  assert.ok(Math.abs(c3.vsReference!.mean + 0.04) < 1e-12);
  assert.ok(Math.abs(c1.sections![0].testLoss - 0.15) < 1e-12 && c1.longestSectionSeconds === 15);
  const md = tableMarkdown({ name: 'r', dataset: 'fashion-mnist', compare: 'DoReFa' }, rows);
  assert.match(md, /\| method \| W\/A bits \| epochs \| lr/);
  assert.match(md, /\| float teacher \| 32\/32 \| 10 \| default \| 1 \| 93.00 \| 92.00 ± 0.00 \| 8.00 \| – \| – \| 300 \| – \|/);
  assert.match(md, /\| DCQ \| 1\/32 \| 1 \| 0.001 \| 2 \| 90.00 \| 88.50 ± 0.71 \| 11.50 \| -2.50 ± 0.50 \| – \| 40 \| s1 MSE 0.150 · s2 CE 0.300 \(longest 15 s\) \|/);
  assert.match(md, /\| DoReFa \| 1\/32 \| 3 \| .* \| – \|$/m);
});

test('recipe table: DQ rows pick the lr with the lowest validation bits/dim and compare decoder bits/dim and MSE by seed', () => {
  const dq = (groups: number, valBpd: number, bpd: number, mse: number) => ({ groups, codes: 32, dimPerGroup: 32 / groups, valBpd, bpdDecoder: bpd, bpdFull: bpd + 0.5 * groups,
    mse, perplexity: [20, 10], codeBitsPerImage: 400 * groups, codebookFloats: 2048, params: 1000 });
  const run = (group: string, label: string, seed: number, lr: number, d: RecipeRun['dq']): RecipeRun =>
    ({ id: `${group}-${lr}-s${seed}`, group, label, dir: '', command: '', lr, method: 'dq', wbits: 32, abits: 32, seed, epochs: 3, wallSeconds: 10, dq: d });
  const runs = [
    run('vq', 'VQ', 0, 2e-3, dq(1, 3.6, 3.5, 0.012)), run('vq', 'VQ', 0, 1e-3, dq(1, 3.4, 3.9, 0.020)), run('vq', 'VQ', 1, 1e-3, dq(1, 3.5, 3.7, 0.014)),
    run('m4', 'M4', 0, 2e-3, dq(4, 3.3, 3.4, 0.010)), run('m4', 'M4', 1, 2e-3, dq(4, 3.3, 3.4, 0.011)),
  ];
  assert.equal(chosenLr(runs, 'vq'), 1e-3, 'lower validation bits/dim wins, although its test bits/dim is worse');
  const [vq, m4] = recipeTable(runs, 'VQ');
  assert.ok(Math.abs(vq.dq!.bpdDecoder.mean - 3.8) < 1e-12 && Math.abs(vq.dq!.mse.mean - 0.017) < 1e-12);
  // Paired by seed: 3.4 − 3.9, 3.4 − 3.7 → −0.4; MSE 0.010 − 0.020, 0.011 − 0.014 → −0.0065.
  assert.ok(Math.abs(m4.vsReference!.mean + 0.4) < 1e-12 && Math.abs(m4.vsReferenceMse!.mean + 0.0065) < 1e-12);
  const md = tableMarkdown({ name: 'dq', dataset: 'fashion-mnist', compare: 'VQ' }, [vq, m4]);
  assert.match(md, /\| M4 \| 4 × 8 \| 1,600 \| 0.002 \| 2 \| 3.300 \| 3.400 ± 0.000 \| -0.400 ± 0.100 \| 5.400 ± 0.000 \| 0.0105 ± 0.0007 \| -0.0065 ± 0.0035 \| 20.0 \/ 10.0 \| 1,000 \| 10 \|/);
});
