/**
 * lowbit in a real browser: the core bundled by esbuild, loaded by a page served from a local
 * http server in Debian's Chromium (playwright-core drives it), trains a 1-bit lenet5 for 5
 * steps on wasm after nothing but setBackend('wasm', { wasmPaths }), and its losses equal the
 * same run's in Node. The same page bundle with the webgl (SwiftShader GL) or webgpu (Chromium's
 * --enable-unsafe-webgpu, SwiftShader's Vulkan adapter) backend trains the float run within float
 * tolerance of Node's, and loads a model saved in Node over HTTP with Node's logits. Skipped when
 * /usr/bin/chromium is missing (CI has it). Runs in the first pass of `npm test` only (the page's
 * backend does not depend on LOWBIT_NATIVE).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import * as lowbit from '../src/index.js';
import { firstPassOnly } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = firstPassOnly || (existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)`);

/**
 * The run, the same in the page and in Node: seeded synthetic 28×28 images, a lenet5 with
 * DoReFa 1-bit weights, 5 Adam steps. Self-contained (it is sent to the page as source).
 */
async function trainTiny(lb: typeof lowbit, wbits = 1): Promise<{ backend: string | undefined; losses: number[] }> {
  const n = 40;
  const rand = lb.mulberry32(7);
  const images = Float32Array.from({ length: n * 784 }, () => rand());
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  const set = { images, labels, count: n };
  const data = { name: 'synthetic', shape: [28, 28, 1], numClasses: 10, train: set, val: set, test: set, description: 'seeded noise' };
  const model = await lb.quantizeModel(lb.buildModel('lenet5', { seed: 3 }), lb.dorefaConfig({ wbits, abits: 32 }));
  const losses: number[] = [];
  await lb.train(model, data, {
    epochs: 1, batchSize: 8, learningRate: 1e-3, optimizer: { name: 'adam' }, schedule: { name: 'constant' }, weightDecay: 0,
    seed: 5, skipValidation: true,
  }, { onStep: (s) => { losses.push(s.loss); } });
  model.dispose();
  return { backend: lb.getBackendName(), losses };
}

const MIME: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };

interface Served { url: string; close(): void }

/**
 * The core bundled as one ES module (with the webgl backend imported too, when asked), a page that
 * puts it on window.lowbit, /wasm/ serving TF.js's .wasm files and /model/ serving `modelDir`.
 */
async function servePage(o: { webgl?: boolean; webgpu?: boolean; modelDir?: string } = {}): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-page-'));
  const core = JSON.stringify(fileURLToPath(new URL('../src/index.js', import.meta.url)));
  const wasmDir = fileURLToPath(new URL('../../node_modules/@tensorflow/tfjs-backend-wasm/dist/', import.meta.url));
  await build({
    stdin: { contents: `${o.webgl ? "import '@tensorflow/tfjs-backend-webgl';\n" : ''}${o.webgpu ? "import '@tensorflow/tfjs-backend-webgpu';\n" : ''}export * from ${core};`, resolveDir: fileURLToPath(new URL('.', import.meta.url)) },
    bundle: true, platform: 'browser', format: 'esm', target: 'es2020', outfile: join(dir, 'lowbit.js'), logLevel: 'silent',
  });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module">import * as lowbit from "./lowbit.js"; window.lowbit = lowbit;</script>');
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const file = path.startsWith('/wasm/') ? join(wasmDir, path.slice(6))
      : path.startsWith('/model/') && o.modelDir ? join(o.modelDir, path.slice(7)) : join(dir, path === '/' ? 'index.html' : path.slice(1));
    if (!existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => server.close() };
}

type PageLowbit = { lowbit: typeof lowbit };

/** Chromium (with `args`) on the served page once it has put the core on window.lowbit; page errors are collected. */
async function openPage(served: Served, args: string[] = []) {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(served.url);
    await page.waitForFunction(() => (window as unknown as Partial<PageLowbit>).lowbit != null);
    return { browser, page, errors };
  } catch (e) {
    await browser.close();
    throw e;
  }
}

test('a page that imports the bundled core trains a 1-bit lenet5 on wasm in Chromium with the losses Node gets; without wasmPaths it says so and falls back to cpu', { skip, timeout: 180_000 }, async () => {
  const served = await servePage();
  const { browser, page, errors } = await openPage(served);
  try {
    // Importing the core did no work: no backend until setBackend.
    assert.equal(await page.evaluate(() => (window as unknown as PageLowbit).lowbit.getBackendName()), undefined);
    const inPage = await page.evaluate(async (src) => {
      const lb = (window as unknown as PageLowbit).lowbit;
      await lb.setBackend('wasm', { wasmPaths: '/wasm/' });
      return (0, eval)(`(${src})`)(lb) as Promise<{ backend: string; losses: number[] }>;
    }, trainTiny.toString());
    assert.deepEqual(errors, []);

    await lowbit.setBackend('wasm');
    const inNode = await trainTiny(lowbit);
    assert.equal(inPage.backend, 'wasm');
    assert.equal(inPage.losses.length, 5);
    assert.ok(new Set(inPage.losses).size > 1, `the loss moves: ${inPage.losses}`);
    inPage.losses.forEach((l, i) => {
      assert.ok(Number.isFinite(l), `step ${i + 1}: loss ${l}`);
      assert.ok(Math.abs(l - inNode.losses[i]) <= 1e-5, `step ${i + 1}: Chromium ${l}, Node ${inNode.losses[i]}`);
    });

    // A fresh page that never set wasmPaths: the .wasm fetch 404s, ensureBackend warns once naming
    // the fix and starts cpu, which computes; an unloaded GPU backend is refused with the import to add.
    const fresh = await browser.newPage();
    const warnings: string[] = [];
    fresh.on('console', (m) => { if (m.type() === 'warning') warnings.push(m.text()); });
    await fresh.goto(served.url);
    await fresh.waitForFunction(() => (window as unknown as Partial<PageLowbit>).lowbit != null);
    const fallback = await fresh.evaluate(async () => {
      const lb = (window as unknown as PageLowbit).lowbit;
      await lb.ensureBackend(); // what train(), evaluate() and runMethod() do on first use
      const x = lb.tf.ones([1, 3]);
      const y = lb.tf.layers.dense({ units: 2, kernelInitializer: 'ones' }).apply(x) as lowbit.tf.Tensor;
      const logits = Array.from(await y.data());
      lb.tf.dispose([x, y]);
      const webgl = await lb.setBackend('webgl').then(() => 'switched', (e: Error) => e.message);
      return { backend: lb.getBackendName(), logits, webgl };
    });
    assert.equal(fallback.backend, 'cpu');
    assert.deepEqual(fallback.logits, [3, 3]);
    assert.equal(warnings.filter((w) => w.startsWith('lowbit:')).length, 1, warnings.join('\n'));
    assert.match(warnings.find((w) => w.startsWith('lowbit:'))!, /wasm backend failed to start.*wasmPaths.*computing on cpu/);
    assert.match(fallback.webgl, /import '@tensorflow\/tfjs-backend-webgl'/);
  } finally {
    await browser.close();
    served.close();
  }
});

test('in Chromium on webgl (SwiftShader), the same 1-bit lenet5 trains with Node\'s losses to float tolerance; a quantized model saved in Node loads over HTTP and gives Node\'s logits', { skip, timeout: 180_000 }, async () => {
  // A DoReFa W1/A2 lenet5 saved as lowbit saves every model (model.json + weights.bin), and its logits in Node (wasm).
  await lowbit.setBackend('wasm');
  const modelDir = mkdtempSync(join(tmpdir(), 'lowbit-served-model-'));
  const q = await lowbit.quantizeModel(lowbit.buildModel('lenet5', { seed: 4 }), lowbit.dorefaConfig({ wbits: 1, abits: 2 }));
  const { saveModelDir } = await import('../src/node.js');
  await saveModelDir(q, modelDir);
  const inputs = Array.from({ length: 2 * 784 }, (_, i) => ((i * 37) % 101) / 100);
  const x = lowbit.tf.tensor(inputs, [2, 28, 28, 1]);
  const nodeLogits = Array.from((q.predict(x) as lowbit.tf.Tensor).dataSync());
  lowbit.tf.dispose([x]);
  q.dispose();
  const inNode = await trainTiny(lowbit);
  const inNodeFloat = await trainTiny(lowbit, 32);

  const served = await servePage({ webgl: true, modelDir });
  const { browser, page, errors } = await openPage(served);
  try {
    const inPage = await page.evaluate(async ({ src, inputs }) => {
      const lb = (window as unknown as PageLowbit).lowbit;
      await lb.setBackend('wasm', { wasmPaths: '/wasm/' });
      const model = await lb.tf.loadLayersModel('/model/model.json');
      const x = lb.tf.tensor(inputs, [2, 28, 28, 1]);
      const y = model.predict(x) as lowbit.tf.Tensor;
      const logits = Array.from(await y.data());
      lb.tf.dispose([x, y]);
      model.dispose();
      await lb.setBackend('webgl');
      const train = (0, eval)(`(${src})`) as (l: typeof lb, wbits: number) => Promise<{ backend: string; losses: number[] }>;
      const binary = await train(lb, 1);
      const float = await train(lb, 32);
      return { logits, binary, float };
    }, { src: trainTiny.toString(), inputs });
    assert.deepEqual(errors, []);
    inPage.logits.forEach((v, i) => assert.ok(Math.abs(v - nodeLogits[i]) <= 1e-5 * Math.max(1, Math.abs(nodeLogits[i])), `logit ${i}: page ${v}, Node ${nodeLogits[i]}`));
    assert.equal(inPage.binary.backend, 'webgl');
    // WebGL computes in float32 with other reduction orders: the float run stays within float
    // tolerance of Node's; the 1-bit run agrees on its first step (the same forward pass), after
    // which a weight that Adam moves to within rounding of 0 may take the other sign on one side.
    inPage.float.losses.forEach((l, i) => assert.ok(Math.abs(l - inNodeFloat.losses[i]) <= 1e-3 * Math.max(1, Math.abs(inNodeFloat.losses[i])), `float step ${i + 1}: webgl ${l}, Node ${inNodeFloat.losses[i]}`));
    assert.ok(Math.abs(inPage.binary.losses[0] - inNode.losses[0]) <= 1e-5 * inNode.losses[0], `1-bit step 1: webgl ${inPage.binary.losses[0]}, Node ${inNode.losses[0]}`);
    assert.equal(inPage.binary.losses.length, 5);
    assert.ok(inPage.binary.losses.every(Number.isFinite));
  } finally {
    await browser.close();
    served.close();
  }
});

test('in Chromium on WebGPU (SwiftShader\'s Vulkan adapter), the float lenet5 trains with Node\'s losses within float tolerance and the 1-bit one agrees on its first step', { skip, timeout: 180_000 }, async () => {
  await lowbit.setBackend('wasm');
  const inNode = await trainTiny(lowbit);
  const inNodeFloat = await trainTiny(lowbit, 32);
  const served = await servePage({ webgpu: true });
  const { browser, page, errors } = await openPage(served, ['--enable-unsafe-webgpu']);
  try {
    const inPage = await page.evaluate(async (src) => {
      const lb = (window as unknown as PageLowbit).lowbit;
      await lb.setBackend('webgpu');
      const train = (0, eval)(`(${src})`) as (l: typeof lb, wbits: number) => Promise<{ backend: string; losses: number[] }>;
      return { binary: await train(lb, 1), float: await train(lb, 32) };
    }, trainTiny.toString());
    assert.deepEqual(errors, []);
    assert.equal(inPage.float.backend, 'webgpu');
    inPage.float.losses.forEach((l, i) => assert.ok(Math.abs(l - inNodeFloat.losses[i]) <= 1e-3 * Math.max(1, Math.abs(inNodeFloat.losses[i])), `float step ${i + 1}: webgpu ${l}, Node ${inNodeFloat.losses[i]}`));
    assert.ok(Math.abs(inPage.binary.losses[0] - inNode.losses[0]) <= 1e-5 * inNode.losses[0], `1-bit step 1: webgpu ${inPage.binary.losses[0]}, Node ${inNode.losses[0]}`);
    assert.equal(inPage.binary.losses.length, 5);
    assert.ok(inPage.binary.losses.every(Number.isFinite), `${inPage.binary.losses}`);
  } finally {
    await browser.close();
    served.close();
  }
});
