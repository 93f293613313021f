import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tf } from '../src/index.js';
import { loadModelDir, modelDirHandler } from '../src/io/model-dir.js';
import { decodeCheckpoint } from '../src/io/checkpoint-file.js';
import { ensureBackend } from '../src/index.js';
import { runRecipe } from '../src/recipes/run.js';
import { LowbitError } from '../src/errors.js';
import '../src/methods/node.js'; // the methods the CLI registers

await ensureBackend(); // the browser-safe core starts no backend at import

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const lowbit = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
const tmp = () => mkdtempSync(join(tmpdir(), 'lowbit-cli-'));
const tiny = ['--epochs', '1', '--max-steps', '2', '--batch', '16', '--quiet'];

/** Bad input: one clear line on stderr, a non-zero exit, and no output directory. */
function assertRejected(args: string[], message: RegExp, env: Record<string, string> = {}) {
  const out = join(tmp(), 'run');
  const r = lowbit([...args, '--out', out], env);
  assert.notEqual(r.status, 0, `exit code for ${args.join(' ')}`);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got: ${r.stderr}`);
  assert.match(lines[0], message);
  assert.equal(existsSync(out), false, 'no partial output directory');
}

test('bad input gets one clear line, a non-zero exit and no output directory', () => {
  const base = ['train', '--model', 'lenet5', '--dataset', 'mnist'];
  assertRejected(['train', '--model', 'alexnet', '--dataset', 'mnist'], /--model must be one of lenet5, .*got 'alexnet'/);
  assertRejected(['train', '--model', 'lenet5', '--dataset', 'cifar10'], /--dataset must be one of mnist, fashion-mnist, got 'cifar10'/);
  assertRejected([...base, '--epochs', '0'], /--epochs must be a whole number ≥ 1, got '0'/);
  assertRejected([...base, '--epochs', '-2'], /--epochs must be a whole number ≥ 1/);
  assertRejected([...base, '--batch', '0'], /--batch must be a whole number ≥ 1, got '0'/);
  assertRejected([...base, '--lr', 'fast'], /--lr must be a positive number, got 'fast'/);
  assertRejected([...base, '--resume'], /--resume: .* does not exist; run without --resume/);
  assertRejected(['train', '--model', 'lenet5', '--dataset', 'fashion-mnist'], /Fashion-MNIST not found in .*apt-get install dataset-fashion-mnist/,
    { LOWBIT_DATA_DIR: tmp() });
  const corrupt = tmp();
  for (const f of ['train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte']) {
    writeFileSync(join(corrupt, f), Buffer.from([0, 0, 8, 99, 0, 0, 0, 0]));
  }
  assertRejected(['train', '--model', 'lenet5', '--dataset', 'fashion-mnist', '--data-dir', corrupt], /train-images-idx3-ubyte: .*(bad magic|truncated)/);
});

test('an unwritable --out is rejected without creating anything', () => {
  const file = join(tmp(), 'a-file');
  writeFileSync(file, 'x');
  const r = lowbit(['train', '--model', 'lenet5', '--dataset', 'mnist', '--out', join(file, 'run')]);
  assert.equal(r.status, 2);
  assert.match(r.stderr.trim(), /^lowbit: error: --out .* is not writable: .*a-file is a file, not a directory/);
});

test('unknown options and commands exit non-zero', () => {
  assert.notEqual(lowbit(['train', '--model', 'lenet5', '--dataset', 'mnist', '--bogus']).status, 0);
  assert.notEqual(lowbit(['frobnicate']).status, 0);
  const help = lowbit(['--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Examples:/);
  // quantize --help: a flag whose default differs between methods says so per method.
  const qhelp = lowbit(['quantize', '--help']).stdout.replace(/\s+/g, ' ');
  assert.match(qhelp, /--wbits <n> weight bits: .*? \(default ptq 8; alq 4; others 1\)/);
  assert.match(qhelp, /--abits <n> activation bits: .*? \(default ptq 8; others 32\)/);
});

test('train saves a model that reloads with tf.loadLayersModel; eval reports it; a second run refuses to overwrite', async () => {
  const out = join(tmp(), 'run');
  const r = lowbit(['train', '--model', 'lenet5', '--dataset', 'mnist', ...tiny, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  for (const f of ['model.json', 'weights.bin', 'lowbit.json', 'log.jsonl', 'checkpoint.lbck']) assert.ok(existsSync(join(out, f)), f);
  const meta = JSON.parse(readFileSync(join(out, 'lowbit.json'), 'utf8'));
  assert.equal(meta.dataset, 'mnist');
  assert.equal(meta.seed, 0);
  assert.equal(meta.test.count, 1996);
  const model = await tf.loadLayersModel(modelDirHandler(out));
  assert.deepEqual(model.layers.map((l) => l.name).slice(0, 3), ['input', 'conv1', 'bn1']);
  assert.equal(readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').length, 1);
  const e = lowbit(['eval', out]);
  assert.equal(e.status, 0, e.stderr);
  assert.match(e.stdout, new RegExp(`accuracy ${(meta.test.accuracy * 100).toFixed(2)}%`));
  const again = lowbit(['train', '--model', 'lenet5', '--dataset', 'mnist', ...tiny, '--out', out]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /already exists and is not empty: pass --resume/);
  model.dispose();
  (await loadModelDir(out)).dispose();
});

test('kill -9 during training never corrupts the checkpoint, and --resume continues from it', async () => {
  const out = join(tmp(), 'run');
  const args = ['train', '--model', 'lenet5-plain', '--dataset', 'mnist', '--epochs', '40', '--max-steps', '2', '--batch', '8', '--quiet', '--out', out];
  const child = spawn(process.execPath, [cli, ...args], { stdio: 'ignore' });
  const ckpt = join(out, 'checkpoint.lbck');
  const deadline = Date.now() + 60_000;
  while (!existsSync(ckpt) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 700));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  const saved = decodeCheckpoint(readFileSync(ckpt), ckpt);
  assert.ok(saved.epoch >= 1 && saved.epoch < 40, `checkpoint epoch ${saved.epoch}`);
  const resumed = lowbit([...args.slice(0, 6), '3', ...args.slice(7), '--resume'].map((a, i, all) => (all[i - 1] === '--epochs' ? String(saved.epoch + 1) : a)));
  assert.equal(resumed.status, 0, resumed.stderr);
  const meta = JSON.parse(readFileSync(join(out, 'lowbit.json'), 'utf8'));
  assert.equal(meta.resumedFrom, saved.epoch);
  assert.equal(meta.history.length, saved.epoch + 1);
});

test('quantize: DoReFa fine-tunes a teacher; summary reports it; bad bits and teachers are rejected cleanly', async () => {
  const teacher = join(tmp(), 'teacher');
  assert.equal(lowbit(['train', '--model', 'lenet5', '--dataset', 'mnist', ...tiny, '--out', teacher]).status, 0);
  const out = join(tmp(), 'w1');
  const r = lowbit(['quantize', '--method', 'dorefa', '--teacher', teacher, '--wbits', '1', '--abits', '2', ...tiny, '--out', out]);
  assert.equal(r.status, 0, r.stderr);
  const meta = JSON.parse(readFileSync(join(out, 'lowbit.json'), 'utf8'));
  assert.equal(meta.kind, 'quantized');
  assert.equal(meta.wbits, 1);
  assert.equal(meta.dataset, 'mnist');
  assert.ok(meta.size.compression > 10, `compression ${meta.size.compression}`);
  const s = lowbit(['summary', out]);
  assert.equal(s.status, 0, s.stderr);
  assert.match(s.stdout, /conv2\s+QuantConv2D\s+1\s+2\s+25000/);
  assert.match(s.stdout, /compression vs float32: \d+\.\d\d×/);
  const q = ['quantize', '--method', 'dorefa', '--teacher', teacher];
  assertRejected([...q, '--wbits', '0'], /--wbits must be a whole number ≥ 1, got '0'/);
  assertRejected([...q, '--wbits', '33'], /wbits must be a whole number from 1 to 32, got 33/);
  assertRejected([...q, '--wbits', '1.5'], /--wbits must be a whole number ≥ 1, got '1.5'/);
  assertRejected([...q, '--method', 'magic'], /--method must be one of dorefa, ste, rq, rq-st, srq, bitat, ptq, sq, alq, pq, dcq, got 'magic'/);
  assertRejected(['quantize', '--method', 'dorefa', '--teacher', tmp()], /--teacher .* holds no model.json/);
  const srq = ['quantize', '--method', 'srq', '--teacher', teacher, '--wbits', '4'];
  assertRejected([...srq, '--learn-bits'], /--learn-bits needs --target-bits B/);
  assertRejected([...srq, '--learn-bits', '--target-bits', '1'], /--target-bits must be between 2 \(learned widths start at 2\) and --wbits 4, got 1/);
  // Learned bits, fixed after training, then BatchNorm re-estimated: lowbit.json's val is the saved model's.
  const lb = join(tmp(), 'lb');
  const l = lowbit([...srq, '--abits', '4', '--learn-bits', '--target-bits', '3', '--bn-recal', '256', ...tiny, '--out', lb]);
  assert.equal(l.status, 0, l.stderr);
  const lbMeta = JSON.parse(readFileSync(join(lb, 'lowbit.json'), 'utf8'));
  assert.equal(lbMeta.bnRecalImages, 256);
  assert.equal(lbMeta.quantizeConfig.kernelQuantizer.kind, 'srq', 'lowbit.json records the relaxed config, not DoReFa\'s');
  assert.equal(lbMeta.quantizeConfig.overrides[0].match, 'conv1');
  assert.ok(lbMeta.valBeforeFinalize != null && Object.keys(lbMeta.learnedBits).length === 4);
  const ev = lowbit(['eval', lb, '--split', 'val']);
  assert.equal(ev.status, 0, ev.stderr);
  assert.match(ev.stdout, new RegExp(`accuracy ${(lbMeta.val.accuracy * 100).toFixed(2)}%`));
  assertRejected([...srq, '--layer-bits', 'conv1=x'], /--layer-bits takes name=bits pairs/);
  assertRejected([...srq, '--layer-bits', 'conv9=2'], /--layer-bits names 'conv9', which is not a layer of the teacher/);
  assertRejected(['quantize', '--method', 'bitat', '--teacher', teacher, '--variant', 'fancy'], /--variant must be one of bitat, progressive, plain, got 'fancy'/);
});

test('lowbit demo trains four classifiers and a DQ auto-encoder, prints the table and writes a self-contained report', () => {
  const out = join(tmp(), 'demo');
  const r = lowbit(['demo', '--out', out, '--epochs', '2', '--max-steps', '3', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  for (const run of ['float', 'dorefa-w1', 'dcq-w1', 'srq-w2a2']) assert.match(r.stdout, new RegExp(`^${run}\\s`, 'm'));
  assert.match(r.stdout, /^DQ auto-encoder \(M = 4 groups × K = 32 codes.*bits\/dim \(decoder\)/m);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.equal((html.match(/<svg/g) ?? []).length, 6);
  assert.ok(html.includes('data:image/png;base64,'), 'reconstructions embedded');
  assert.ok(!/<script|src="http/.test(html), 'self-contained');
  const again = lowbit(['demo', '--out', out, '--epochs', '2', '--max-steps', '3', '--quiet']);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.stdout, r.stdout, 'a rerun reuses the finished runs');
});

test('lowbit run: float and dq runs train from scratch; a DQ recipe gets a bits/dim table and report', async () => {
  const dir = tmp();
  // The first bad recipe goes through the CLI (exit 2, the message on stderr); the others are the same
  // code path (runRecipe throws a LowbitError, which the CLI prints and exits with), checked in-process
  // to save a process start each.
  const write = (recipe: object) => {
    const f = join(dir, 'r.json');
    writeFileSync(f, JSON.stringify({ name: 'r', dataset: 'mnist', ...recipe }));
    return f;
  };
  const cliInvalid = (recipe: object) => {
    const r = lowbit(['run', write(recipe)]);
    assert.equal(r.status, 2, r.stdout);
    return r.stderr;
  };
  const invalid = async (recipe: object, message: RegExp) => {
    await assert.rejects(runRecipe(write(recipe)), (e: unknown) => {
      assert.ok(e instanceof LowbitError, String(e));
      assert.equal(e.exitCode, 2);
      assert.match(e.message, message);
      return true;
    });
  };
  assert.match(cliInvalid({ runs: [{ method: 'dorefa', wbits: [1], epochs: 1 }] }), /\/runs\/0 \(dorefa\) quantizes a float model: add \/teacher/);
  await invalid({ runs: [{ method: 'float', epochs: 1 }] }, /\/runs\/0 \(float\) needs a model/);
  await invalid({ runs: [{ method: 'dq', wbits: [2], dropbits: 0.1, epochs: 1 }] }, /\/runs\/0 \(dq\) trains from scratch, so wbits, dropbits does not apply/);
  await invalid({ teacher: { model: 'lenet5', epochs: 1 }, runs: [{ method: 'dq', epochs: 1 }] }, /\/teacher: a DQ auto-encoder has no teacher/);
  await invalid({ runs: [{ method: 'dq', epochs: 1 }, { method: 'float', model: 'lenet5', epochs: 1 }] }, /\/runs mixes dq \(bits\/dim\) with classifiers/);
  await invalid({ export: { formats: ['qdq'] }, runs: [{ method: 'dq', epochs: 1 }] }, /\/export applies to classifiers; export a DQ auto-encoder with 'lowbit dq export DIR'/);
  await invalid({ export: { formats: ['tflite'] }, runs: [{ method: 'float', model: 'lenet5', epochs: 1 }] }, /\/export\/formats\/0 must be equal to one of the allowed values \(onnx, qdq, qdq4, qonnx, packed\)/);
  await invalid({ teacher: { model: 'lenet5', epochs: 1 }, runs: [{ method: 'srq', model: 'vgg-small', bits: [[2, 2]], epochs: 1 }] }, /\/runs\/0 \(srq\) quantizes the teacher, so model does not apply/);

  const float = join(dir, 'float.json');
  writeFileSync(float, JSON.stringify({ name: 'f', dataset: 'mnist', runs: [{ method: 'float', model: 'lenet5', epochs: 1, maxSteps: 2, seeds: [0, 1] },
    // The cpu run is at width 0.25: TF.js's cpu backend takes about 150 s for lenet5 at full width (its
    // Conv2DBackpropFilter is a plain loop), and the run only has to show that its own backend is recorded.
    { method: 'float', model: 'lenet5', epochs: 1, maxSteps: 2, backend: 'cpu', options: { width: 0.25 } }] }));
  const f = lowbit(['run', float, '--out', join(dir, 'f'), '--quiet']);
  assert.equal(f.status, 0, f.stderr);
  const fr = JSON.parse(readFileSync(join(dir, 'f', 'results.json'), 'utf8'));
  assert.deepEqual(fr.runs.map((x: { id: string }) => x.id), ['float-lenet5-e1-max2-s0', 'float-lenet5-width0.25-e1-max2-cpu-s0', 'float-lenet5-e1-max2-s1']);
  assert.match(fr.runs[0].command, /^lowbit train --model lenet5 --dataset mnist --epochs 1 --max-steps 2 --seed 0 --out \S+$/);
  assert.match(fr.runs[1].command, / --backend cpu$/, 'a run\'s own backend is in its command');
  assert.equal(fr.runs[1].backend, 'cpu');
  assert.notEqual(fr.runs[0].backend, 'cpu');
  assert.match(readFileSync(join(dir, 'f', 'table.md'), 'utf8'), /\| float \| 32\/32 \| (native|wasm) \| 0.001 \| 2 \|[^\n]*\n\| float \| 32\/32 \| cpu \| 0.001 \| 1 \|/);

  const dq = join(dir, 'dq.json');
  writeFileSync(dq, JSON.stringify({ name: 'd', dataset: 'mnist', compare: 'VQ', runs: [
    { method: 'dq', label: 'VQ', epochs: 1, maxSteps: 2, options: { groups: 1, codes: 8, levels: 1 } },
    { method: 'dq', label: 'DQ', epochs: 1, maxSteps: 2, options: { groups: 4, codes: 8, levels: 1 } }] }));
  const d = lowbit(['run', dq, '--out', join(dir, 'd'), '--quiet']);
  assert.equal(d.status, 0, d.stderr);
  const dr = JSON.parse(readFileSync(join(dir, 'd', 'results.json'), 'utf8'));
  const [vq, m4] = dr.table;
  assert.deepEqual([vq.dq.groups, vq.dq.dimPerGroup, m4.dq.groups, m4.dq.dimPerGroup], [1, 32, 4, 8]);
  assert.deepEqual([vq.dq.codeBitsPerImage, m4.dq.codeBitsPerImage], [8 * 8 * 3, 8 * 8 * 4 * 3], 'an 8×8 grid of M codes at log2 8 = 3 bits');
  const bpd = (row: { group: string }) => dr.runs.find((x: { group: string }) => x.group === row.group).dq.bpdDecoder;
  assert.ok(Math.abs(m4.vsReference.mean - (bpd(m4) - bpd(vq))) < 1e-12, 'Δ is decoder bits/dim, paired');
  const md = readFileSync(join(dir, 'd', 'table.md'), 'utf8');
  assert.match(md, /\| method \| M × D \| code bits \/ image \| lr \(val-chosen\) \| seeds \| val bits\/dim \| decoder bits\/dim \(mean ± std\) \| Δ bits\/dim vs VQ/);
  assert.match(md, /\| DQ \| 4 × 8 \| 768 \| 0.002 \| 1 \|/);
  const html = readFileSync(join(dir, 'd', 'report.html'), 'utf8');
  assert.equal((html.match(/data:image\/png;base64,/g) ?? []).length, 2, 'a reconstruction grid per row');
  assert.match(html, /Code usage per group/);
});

test('lowbit run: recipes are validated field by field, run, appended to results.json, and resumed', async () => {
  const dir = tmp();
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ name: 'x y', dataset: 'cifar', teacher: { model: 'lenet5', epochs: 0 }, runs: [{ method: 'magic', wbits: [33], epochs: 1, extra: 1 }] }));
  const b = lowbit(['run', bad]);
  assert.equal(b.status, 2);
  const msg = b.stderr.trim();
  const pairs = join(dir, 'pairs.json');
  writeFileSync(pairs, JSON.stringify({ name: 'p', dataset: 'mnist', teacher: { model: 'lenet5', epochs: 1 }, compare: 'nope', runs: [{ method: 'srq', bits: [[2, 2]], epochs: 1 }] }));
  // In-process (the same LowbitError the CLI prints, as the spawn above shows for the schema errors).
  await assert.rejects(runRecipe(pairs), (e: unknown) => e instanceof LowbitError && e.exitCode === 2 && /\/compare 'nope' is not a run label \(labels: srq\)/.test(e.message));
  for (const field of ['/name must match pattern', '/dataset must be equal to one of the allowed values (mnist, fashion-mnist)', '/runs/0/method', '/runs/0/wbits/0 must be <= 32', "/runs/0 must NOT have additional properties 'extra'"]) {
    assert.ok(msg.includes(field), `${field} in: ${msg}`);
  }
  const recipe = join(dir, 'ok.json');
  writeFileSync(recipe, JSON.stringify({ name: 'smoke', dataset: 'mnist', teacher: { model: 'lenet5', epochs: 1 }, export: { formats: ['qdq', 'packed'], images: 40 },
    runs: [{ method: 'dorefa', bits: [[1, 32]], epochs: 1, seeds: [0, 1], lr: [0.002, 0.0005], maxSteps: 2 }] }));
  const out = join(dir, 'out');
  const r = lowbit(['run', recipe, '--out', out, '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const results = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
  // Seed 0 at both rates (tuning), then seed 1 at the one with the better validation accuracy.
  const tuned = results.runs.filter((x: { seed: number; group: string }) => x.group !== 'teacher' && x.seed === 0);
  const best = tuned.reduce((a: { valAccuracy: number }, b: { valAccuracy: number }) => (b.valAccuracy > a.valAccuracy ? b : a));
  assert.deepEqual(results.runs.map((x: { id: string }) => x.id),
    ['teacher', 'dorefa-w1a32-e1-max2-lr0.002-s0', 'dorefa-w1a32-e1-max2-lr0.0005-s0', `dorefa-w1a32-e1-max2-lr${best.lr}-s1`]);
  assert.ok(results.runs.every((x: { testAccuracy: number }) => x.testAccuracy > 0));
  assert.deepEqual(results.table.map((t: { label: string }) => t.label), ['float teacher', 'dorefa'], 'the teacher is the first row');
  assert.equal(results.table[1].lr, best.lr);
  assert.deepEqual(results.table[1].seeds, [0, 1]);
  const html = readFileSync(join(out, 'report.html'), 'utf8');
  assert.equal((html.match(/<svg/g) ?? []).length, 4, 'accuracy vs size, accuracy vs bits, validation curves, kernel histograms');
  assert.match(html, /fc1 kernel values: float teacher and quantized/, 'the largest quantized layer (DoReFa keeps the first and last float)');
  assert.ok(html.includes('<td>dorefa</td><td>1/32</td>') && !/<script|src="http/.test(html), 'the table as in table.md, self-contained');
  const md = readFileSync(join(out, 'table.md'), 'utf8');
  assert.match(md, new RegExp(`\\| dorefa \\| 1/32 \\| ${best.lr} \\(of 0.002, 0.0005\\) \\| 2 \\|`));
  // Each row's first kept run is exported and verified: agreement and bytes per format.
  const verify = JSON.parse(readFileSync(join(out, `dorefa-w1a32-e1-max2-lr${best.lr}-s0`, 'export', 'verify.json'), 'utf8'));
  assert.deepEqual(Object.keys(verify.results), ['qdq', 'packed']);
  assert.equal(verify.images, 40);
  assert.equal(results.table[1].verify.formats.packed.bytes, verify.results.packed.bytes);
  assert.match(md, /\| method \| W\/A bits \| qdq \| packed \| max \\\|Δlogit\\\| \| accuracy \(exported\) \|/, 'a | inside a cell is escaped');
  assert.match(md, /\| dorefa \| 1\/32 \| 100.00 % · [\d,]+ B \| 100.00 % · [\d,]+ B \|/);
  assert.match(html, /on 40 test images: top-1 agreement/);
  const again = lowbit(['run', recipe, '--out', out]);
  assert.equal(again.status, 2);
  assert.match(again.stderr, /results.json exists: pass --resume/);
  const resumed = lowbit(['run', recipe, '--out', out, '--resume', '--quiet']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, /smoke: 4 runs/);
});
