/**
 * The studio page end to end (issue 19, 4d): `serveStudio` (what `lowbit studio` runs) serves
 * dist/studio; Debian's Chromium (playwright-core) loads the MNIST sample, trains a DoReFa W1
 * lenet5 for 5 steps on wasm in the page's Web Worker, pausing and resuming once; the packed
 * low-bit files are downloaded through the page's links, and in Node `unpackModel` rebuilds a
 * model whose logits on the page's probe input equal the logits the page computed with its
 * trained model, as does the downloaded TF.js model (model.json + weights.bin). A zip of class-folder PNGs is decoded by the page and trains a 3-class lenet5. Skipped when /usr/bin/chromium is missing; first pass of `npm test` only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { zipSync } from 'fflate';
import { PNG } from 'pngjs';
import * as lowbit from '../src/index.js';
import { serveStudio } from '../src/cli/commands/studio.js';
import { firstPassOnly } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = firstPassOnly || (existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)`);

interface PageStudio { studio: { state: string; error?: string; losses: number[]; accuracies: number[]; result?: { probeLogits?: number[]; record: { method: string; options: Record<string, unknown>; backend: string } } } }

test('the studio page trains DoReFa W1 lenet5 on the MNIST sample on wasm, pauses and resumes, and its downloaded packed file reloads in Node with the page\'s logits; a zip of class-folder PNGs trains too', { skip, timeout: 120_000 }, async () => {
  const { url, server } = await serveStudio({ port: 0 });
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  try {
    const page = await browser.newPage({ acceptDownloads: true });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(url);
    // The worker lists the reference models once it has loaded.
    await page.waitForSelector('#model option[value="lenet5"]', { state: 'attached' });
    assert.equal(await page.evaluate(() => crossOriginIsolated), true, 'served with COOP/COEP');
    await page.selectOption('#model', 'lenet5');
    await page.selectOption('#data', 'mnist');
    await page.selectOption('#method', 'dorefa-w1');
    await page.selectOption('#backend', 'wasm');
    for (const [id, v] of [['epochs', '1'], ['steps', '5'], ['batch', '16'], ['lr', '0.001']]) await page.fill(`#${id}`, v);

    await page.click('#start');
    await page.waitForFunction(() => (window as unknown as PageStudio).studio.losses.length >= 2 || (window as unknown as PageStudio).studio.state !== 'running');
    await page.click('#pause');
    await page.waitForFunction(() => ['paused', 'done', 'error'].includes((window as unknown as PageStudio).studio.state));
    const atPause = await page.evaluate(() => ({ ...(window as unknown as PageStudio).studio, result: undefined }));
    assert.equal(atPause.state, 'paused', atPause.error);
    // While paused the worker waits in the training loop's onStep: no step runs.
    await page.evaluate(() => new Promise((r) => setTimeout(r, 300)));
    assert.equal(await page.evaluate(() => (window as unknown as PageStudio).studio.losses.length), atPause.losses.length);
    assert.ok(atPause.losses.length < 5, `paused after ${atPause.losses.length} of 5 steps`);
    await page.click('#pause'); // now labelled Resume
    await page.waitForFunction(() => ['done', 'error'].includes((window as unknown as PageStudio).studio.state), undefined, { timeout: 90_000 });
    const studio = await page.evaluate(() => (window as unknown as PageStudio).studio);
    assert.equal(studio.state, 'done', studio.error);
    assert.deepEqual(errors, []);
    assert.equal(studio.losses.length, 5);
    studio.losses.forEach((l) => assert.ok(Number.isFinite(l) && l > 0, `loss ${l}`));
    assert.equal(studio.accuracies.length, 1);
    const record = studio.result!.record;
    assert.deepEqual([record.method, record.options.wbits, record.backend], ['dorefa', 1, 'wasm']);

    // The downloads are made in the page (Blob URLs); Playwright hands over the files.
    const fetchDownload = async (name: string): Promise<Buffer> => {
      const [download] = await Promise.all([page.waitForEvent('download'), page.click(`#dl-${name.replace(/\W/g, '-')}`)]);
      assert.equal(download.suggestedFilename(), name);
      return readFileSync(await download.path());
    };
    const manifest = JSON.parse((await fetchDownload('packed.json')).toString('utf8')) as lowbit.PackedManifest;
    const bin = new Uint8Array(await fetchDownload('packed.bin'));
    const kernels = manifest.weights.filter((w) => w.storage === 'codes');
    assert.ok(kernels.length > 0 && kernels.every((w) => w.bits === 1), `1-bit coded kernels: ${JSON.stringify(kernels.map((w) => w.bits))}`);

    await lowbit.setBackend('wasm');
    const model = await lowbit.unpackModel(manifest, bin);
    const probe = Float32Array.from({ length: 2 * 784 }, (_, i) => ((i * 37) % 101) / 100); // the page's probeInput (studio/protocol.ts)
    const x = lowbit.tf.tensor(probe, [2, 28, 28, 1]);
    const y = model.predict(x) as lowbit.tf.Tensor;
    const nodeLogits = Array.from(await y.data());
    lowbit.tf.dispose([x, y]);
    model.dispose();
    const pageLogits = studio.result!.probeLogits!;
    assert.equal(pageLogits.length, 20);
    nodeLogits.forEach((v, i) => assert.ok(Math.abs(v - pageLogits[i]) <= 1e-4 * Math.max(1, Math.abs(v)), `logit ${i}: Node ${v}, page ${pageLogits[i]}`));

    // The TF.js download (model.json + weights.bin, with lowbit's quantized layers) loads in Node with the page's logits too.
    const modelJson = JSON.parse((await fetchDownload('model.json')).toString('utf8')) as { modelTopology: object; weightsManifest: { paths: string[]; weights: lowbit.tf.io.WeightsManifestEntry[] }[] };
    const weightsBin = new Uint8Array(await fetchDownload('weights.bin'));
    assert.deepEqual(modelJson.weightsManifest[0].paths, ['./weights.bin']);
    const tfjsModel = await lowbit.tf.loadLayersModel(lowbit.tf.io.fromMemory({ modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0].weights, weightData: weightsBin.slice().buffer }));
    const x2 = lowbit.tf.tensor(probe, [2, 28, 28, 1]);
    const y2 = tfjsModel.predict(x2) as lowbit.tf.Tensor;
    const tfjsLogits = Array.from(await y2.data());
    lowbit.tf.dispose([x2, y2]);
    tfjsModel.dispose();
    tfjsLogits.forEach((v, i) => assert.ok(Math.abs(v - pageLogits[i]) <= 1e-4 * Math.max(1, Math.abs(v)), `TF.js model logit ${i}: Node ${v}, page ${pageLogits[i]}`));

    // A zip of class-folder PNGs (3 classes × 10 images, 28×28 gray): decoded in the page, split 80/10/10 per class, trained.
    const files: Record<string, Uint8Array> = {};
    ['circle', 'cross', 'line'].forEach((cls, c) => {
      for (let k = 0; k < 10; k++) {
        const png = new PNG({ width: 28, height: 28 });
        for (let p = 0; p < 784; p++) {
          const v = (Math.floor(p / 28) % 3 === c ? 200 : 20) + k;
          png.data.set([v, v, v, 255], p * 4);
        }
        files[`shapes/${cls}/${k}.png`] = new Uint8Array(PNG.sync.write(png));
      }
    });
    const zipPath = join(mkdtempSync(join(tmpdir(), 'lowbit-studio-zip-')), 'shapes.zip');
    writeFileSync(zipPath, zipSync(files));
    await page.setInputFiles('#zipFile', zipPath);
    await page.waitForFunction(() => /images|zip/.test(document.getElementById('dataInfo')!.textContent ?? ''));
    assert.match(await page.textContent('#dataInfo') ?? '', /^30 images from shapes\.zip, 3 classes, 28×28×1/);
    await page.selectOption('#data', 'zip');
    await page.selectOption('#method', 'dorefa-w1');
    for (const [id, v] of [['epochs', '1'], ['steps', '2'], ['batch', '8']]) await page.fill(`#${id}`, v);
    await page.click('#start');
    await page.waitForFunction(() => ['done', 'error'].includes((window as unknown as PageStudio).studio.state), undefined, { timeout: 60_000 });
    const zipRun = await page.evaluate(() => (window as unknown as PageStudio).studio);
    assert.equal(zipRun.state, 'done', zipRun.error);
    const zipRecord = zipRun.result!.record as unknown as { numClasses: number; classNames: string[]; trainSubset: unknown; inputShape: number[] };
    assert.deepEqual([zipRecord.numClasses, zipRecord.classNames, zipRecord.inputShape], [3, ['circle', 'cross', 'line'], [28, 28, 1]]);
    assert.equal(zipRun.losses.length, 2);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
    server.close();
  }
});
