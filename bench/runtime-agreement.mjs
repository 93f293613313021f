#!/usr/bin/env node
/**
 * The second half of bench/runtime-agreement.sh (which trains, exports and runs `lowbit verify
 * --runtime` through the CLI only):
 *
 *   node bench/runtime-agreement.mjs analyze RUN_DIR [--images 2000] > analysis.json
 *   node bench/runtime-agreement.mjs summary WORK_DIR OUT_BASENAME   (writes OUT_BASENAME.json and .md)
 *
 * `analyze` looks image by image at where the runtime and TF.js differ, on the same test images
 * as `lowbit verify` (the first N of the test split, in order): for each runtime kernel set
 * (native when the addon is built, wasm, js) and for TF.js on its other backend (wasm against the
 * reference's native, the backend `verify` uses), the images whose top-1 differs, with each side's
 * top-2 logit gap (a gap within float rounding is a tie; a disagreement on an image with a large gap
 * is a bug), the number of images whose logits differ by more than 1e-3 (a quantizer level flipped
 * somewhere: docs/runtime.md, "Exactness"), and the smallest TF.js top-2 gap over all images.
 * `summary` gathers the CLI's verify JSON files, the run records and the analyses into one table.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [cmd, ...args] = process.argv.slice(2);
const flag = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const root = new URL('..', import.meta.url).pathname;

/** Top-1 index and the gap between the two largest logits of row i. */
function top2(v, i, k) {
  let a = -Infinity;
  let b = -Infinity;
  let arg = 0;
  for (let j = 0; j < k; j++) {
    const x = v[i * k + j];
    if (x > a) { b = a; a = x; arg = j; } else if (x > b) b = x;
  }
  return { arg, gap: a - b };
}

/** Image-by-image comparison of `cand` with `ref` (logits, n × k). */
function compare(cand, ref, n, k) {
  const disagreements = [];
  let maxAbsDelta = 0;
  const imagesOver1e3 = [];
  let maxAbsDeltaOthers = 0;
  const deltas = {};
  for (let i = 0; i < n; i++) {
    let d = 0;
    for (let j = 0; j < k; j++) d = Math.max(d, Math.abs(cand[i * k + j] - ref[i * k + j]));
    maxAbsDelta = Math.max(maxAbsDelta, d);
    if (d > 1e-3) { imagesOver1e3.push(i); deltas[i] = d; } else maxAbsDeltaOthers = Math.max(maxAbsDeltaOthers, d);
    const c = top2(cand, i, k);
    const r = top2(ref, i, k);
    if (c.arg !== r.arg) disagreements.push({ image: i, reference: r.arg, candidate: c.arg, referenceGap: r.gap, candidateGap: c.gap, maxAbsDelta: d });
  }
  return { top1Agreement: (n - disagreements.length) / n, maxAbsDelta, maxAbsDeltaOthers, imagesDifferingOver1e3: imagesOver1e3.length, imagesOver1e3, deltas, disagreements };
}

async function analyze(dir) {
  const images = Number(flag('images', '2000'));
  const lowbit = await import(join(root, 'dist/src/node.js'));
  const runtime = await import(join(root, 'dist/src/runtime/node.js'));
  const { tf } = lowbit;
  const meta = JSON.parse(readFileSync(join(dir, 'lowbit.json'), 'utf8'));
  const data = lowbit.loadDataset(meta.dataset);
  const n = Math.min(images, data.test.count);
  const k = data.numClasses;
  const x = new Float32Array(n * data.shape.reduce((a, b) => a * b, 1));
  const labels = new Int32Array(n);
  let at = 0;
  for (const b of lowbit.batches(data.test, data.shape, k, 100, lowbit.sequentialOrder(n))) {
    x.set(b.x.dataSync(), at * x.length / n);
    labels.set(b.labels, at);
    at += b.labels.length;
    tf.dispose([b.x, b.y]);
  }
  const shape = [n, ...data.shape];
  const tfLogits = async (backend) => {
    await lowbit.setBackend(backend);
    const model = await lowbit.loadModelDir(dir);
    const out = new Float32Array(n * k);
    for (let s = 0; s < n; s += 100) {
      const e = Math.min(n, s + 100);
      const per = x.length / n;
      out.set(tf.tidy(() => model.predict(tf.tensor(x.subarray(s * per, e * per), [e - s, ...data.shape])).dataSync()), s * k);
    }
    model.dispose();
    return out;
  };
  const referenceBackend = lowbit.backendAvailable('native') ? 'native' : 'wasm';
  const ref = await tfLogits(referenceBackend);
  const accuracy = (v) => { let c = 0; for (let i = 0; i < n; i++) if (top2(v, i, k).arg === labels[i]) c++; return c / n; };
  let minGap = Infinity;
  for (let i = 0; i < n; i++) minGap = Math.min(minGap, top2(ref, i, k).gap);
  const out = { dir, images: n, reference: `TF.js ${referenceBackend}`, referenceAccuracy: accuracy(ref), smallestReferenceTop2Gap: minGap, candidates: {} };
  const kernelSets = runtime.nativeKernelsAvailable() ? ['native', 'wasm', 'js'] : ['wasm', 'js'];
  for (const name of kernelSets) {
    const rt = runtime.loadRuntime(join(dir, 'export', 'packed'), { kernels: await runtime.runtimeKernels(name) });
    const logits = new Float32Array(n * k);
    const per = x.length / n;
    for (let s = 0; s < n; s += 100) {
      const e = Math.min(n, s + 100);
      logits.set(rt.run(x.subarray(s * per, e * per), e - s), s * k);
    }
    out.candidates[`runtime ${name}`] = { accuracy: accuracy(logits), ...compare(logits, ref, n, k) };
  }
  if (referenceBackend === 'native') {
    const other = await tfLogits('wasm');
    out.candidates['TF.js wasm'] = { accuracy: accuracy(other), ...compare(other, ref, n, k) };
  }
  await lowbit.setBackend(referenceBackend);
  out.nearBoundary = nearBoundary(lowbit, await lowbit.loadModelDir(dir), x, n, data.shape, out.candidates);
  void shape;
  process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
}

/**
 * How close the TF.js model's quantizer inputs come to a decision boundary: for every layer with
 * an input quantizer, the nonzero elements whose code changes between x − ε and x + ε, for ε = 1e-5, 1e-6
 * and 1e-7 of the largest |input| of that layer in the batch (float32 has 24 bits, 6e-8; sums over
 * a few hundred terms, summed in another order, differ by about 1e-7 to 1e-6 of their magnitude).
 * Reported for every image whose logits differ by more than 1e-3 from some candidate, and as the
 * number of images with any such element at each ε (how often a flip could happen at all).
 */
const EPSILONS = [1e-5, 1e-6, 1e-7];
function nearBoundary(lowbit, model, x, n, shape, candidates) {
  const { tf } = lowbit;
  const layers = model.layers.filter((l) => lowbit.isQuantLayer(l) && l.inputQuantizerSpec != null);
  const inputs = [...new Set(layers.map((l) => l.input))];
  const probe = tf.model({ inputs: model.inputs, outputs: inputs });
  const per = x.length / n;
  const counts = EPSILONS.map(() => layers.map(() => new Int32Array(n)));
  for (let s = 0; s < n; s += 100) {
    const e = Math.min(n, s + 100);
    tf.tidy(() => {
      let outs = probe.predict(tf.tensor(x.subarray(s * per, e * per), [e - s, ...shape]));
      if (!Array.isArray(outs)) outs = [outs];
      layers.forEach((l, li) => {
        const xin = outs[inputs.indexOf(l.input)];
        const top = tf.max(tf.abs(xin));
        EPSILONS.forEach((rel, ei) => {
          const eps = tf.mul(top, rel);
          // Exact zeros (ReLU outputs) are left out: both sides compute them exactly, so they cannot flip.
          const moved = tf.logicalAnd(tf.notEqual(l.quantizeInput(tf.add(xin, eps)), l.quantizeInput(tf.sub(xin, eps))), tf.notEqual(xin, 0));
          counts[ei][li].set(tf.sum(tf.reshape(tf.cast(moved, 'int32'), [e - s, -1]), 1).dataSync(), s);
        });
      });
    });
  }
  const flagged = new Set();
  const deltas = {};
  for (const [name, c] of Object.entries(candidates)) {
    for (const i of c.imagesOver1e3) { flagged.add(i); (deltas[i] ??= {})[name] = c.deltas[i]; }
    delete c.deltas;
  }
  const anyAt = (ei, i) => counts[ei].some((c) => c[i] > 0);
  return {
    epsilons: EPSILONS.map((e) => `${e} × max |layer input| per batch of 100`),
    layers: layers.map((l) => l.name),
    imagesWithAnyNearBoundaryInput: EPSILONS.map((_, ei) => { let a = 0; for (let i = 0; i < n; i++) if (anyAt(ei, i)) a++; return a; }),
    flaggedImages: [...flagged].sort((a, b) => a - b).map((i) => ({ image: i, maxAbsDelta: deltas[i],
      nearBoundaryElements: EPSILONS.map((_, ei) => Object.fromEntries(layers.map((l, li) => [l.name, counts[ei][li][i]]).filter(([, v]) => v > 0))) })),
  };
}

function summary(work, base) {
  const manifest = JSON.parse(readFileSync(join(work, 'runs.json'), 'utf8'));
  const rows = [];
  for (const run of manifest.runs) {
    const rec = JSON.parse(readFileSync(join(work, run.name, 'lowbit.json'), 'utf8'));
    const verify = {};
    for (const kernels of manifest.kernelSets) {
      const f = `${run.name}.verify-${kernels}.json`;
      if (!existsSync(join(work, f))) { verify[kernels] = null; continue; }
      const r = JSON.parse(readFileSync(join(work, f), 'utf8')).results.runtime;
      const { steps, ...rest } = r;
      verify[kernels] = { ...rest, layerKernels: [...new Set(steps.map((s) => s.kernel).filter((x) => x != null))] };
    }
    const analysisFile = join(work, `${run.name}.analysis.json`);
    const analysis = existsSync(analysisFile) ? JSON.parse(readFileSync(analysisFile, 'utf8')) : null;
    rows.push({ ...run, testAccuracy: rec.testAccuracy ?? rec.test?.accuracy ?? null, verify, analysis });
  }
  const result = { ...manifest, rows };
  writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
  const pct = (v) => (v == null ? '—' : `${(v * 100).toFixed(2)} %`);
  const md = [
    `# Runtime vs TF.js agreement on ${manifest.images} Fashion-MNIST test images`,
    '',
    `Commit ${manifest.commit}${manifest.dirty ? ' (dirty tree)' : ''}; ${manifest.date}; node ${manifest.node}; native popcount: ${manifest.popcount}.`,
    `Made by \`${manifest.command}\`; every command it ran is listed below, in order.`,
    '',
    '| model | kernels | top-1 agreement | max abs Δlogit | runtime accuracy | TF.js accuracy | layers on | verify |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    for (const [kernels, v] of Object.entries(r.verify)) {
      if (v == null) { md.push(`| ${r.label} | ${kernels} | no result (verify did not write its JSON: see the log) | | | | | |`); continue; }
      md.push(`| ${r.label} | ${kernels} | ${pct(v.top1Agreement)} | ${v.maxAbsDelta.toExponential(2)} | ${pct(v.accuracy)} | ${pct(v.referenceAccuracy)} | ${v.layerKernels.join('/')} | ${v.ok ? 'ok' : 'FAIL'} |`);
    }
  }
  md.push('', '## Where the logits differ (bench/runtime-agreement.mjs analyze)', '',
    'Per kernel set: images whose top-1 differs from TF.js (native backend, as in `verify`), images whose logits differ by more than 1e-3 (a quantizer input within float rounding of a decision boundary fell on the other side), and the smallest top-2 gap of the TF.js logits over all images. TF.js wasm against TF.js native shows the same effect between two TF.js backends.', '',
    '| model | candidate | disagreements | images with max abs Δ > 1e-3 | max abs Δlogit | max abs Δlogit on the other images | smallest TF.js top-2 gap |', '|---|---|---|---|---|---|---|');
  for (const r of rows) {
    if (!r.analysis) continue;
    for (const [name, c] of Object.entries(r.analysis.candidates)) {
      const dis = c.disagreements.length === 0 ? '0' : `${c.disagreements.length}: ${c.disagreements.map((d) => `#${d.image} (gap TF.js ${d.referenceGap.toExponential(2)}, candidate ${d.candidateGap.toExponential(2)})`).join('; ')}`;
      md.push(`| ${r.label} | ${name} | ${dis} | ${c.imagesDifferingOver1e3} | ${c.maxAbsDelta.toExponential(2)} | ${c.maxAbsDeltaOthers.toExponential(2)} | ${r.analysis.smallestReferenceTop2Gap.toExponential(2)} |`);
    }
  }
  md.push('', '### Images whose logits differ by more than 1e-3, and how close their quantizer inputs come to a decision boundary', '',
    'Nonzero elements of the TF.js model\'s quantizer inputs whose code changes between x − ε and x + ε, per layer, for ε = 1e-5, 1e-6, 1e-7 of the layer input\'s largest magnitude (in a batch of 100); "all images" counts the images with any such element.', '',
    '| model | image | max abs Δlogit per candidate | ε = 1e-5 | ε = 1e-6 | ε = 1e-7 |', '|---|---|---|---|---|---|');
  const fmt = (o) => (Object.keys(o).length === 0 ? '—' : Object.entries(o).map(([k, v]) => `${k} ${v}`).join(', '));
  for (const r of rows) {
    const nb = r.analysis?.nearBoundary;
    if (!nb) continue;
    for (const f of nb.flaggedImages) {
      md.push(`| ${r.label} | #${f.image} | ${Object.entries(f.maxAbsDelta).map(([k, v]) => `${k} ${v.toExponential(2)}`).join('; ')} | ${f.nearBoundaryElements.map(fmt).join(' | ')} |`);
    }
    md.push(`| ${r.label} | all ${r.analysis.images} images: how many have any | | ${nb.imagesWithAnyNearBoundaryInput.join(' | ')} |`);
  }
  md.push('', '## Runs', '', '| model | training | test accuracy (10,000 images, from lowbit.json) |', '|---|---|---|');
  for (const r of rows) md.push(`| ${r.label} | ${r.training} | ${pct(r.testAccuracy)} |`);
  md.push('', '## Commands', '', '```', ...manifest.commands, '```', '');
  writeFileSync(`${base}.md`, md.join('\n'));
}

if (cmd === 'analyze') await analyze(args[0]);
else if (cmd === 'summary') summary(args[0], args[1]);
else throw new Error('usage: node bench/runtime-agreement.mjs analyze RUN_DIR [--images N] | summary WORK_DIR OUT_BASENAME');
