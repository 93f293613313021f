/**
 * lowbit in a real browser: the core bundled by esbuild, loaded by a page served from a local
 * http server in Debian's Chromium (playwright-core drives it), trains a 1-bit lenet5 for 5
 * steps on wasm after nothing but setBackend('wasm', { wasmPaths }), and its losses equal the
 * same run's in Node. Skipped when /usr/bin/chromium is missing (CI has it). Runs in the first
 * pass of `npm test` only (the page's backend does not depend on LOWBIT_NATIVE).
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
async function trainTiny(lb: typeof lowbit): Promise<{ backend: string | undefined; losses: number[] }> {
  const n = 40;
  const rand = lb.mulberry32(7);
  const images = Float32Array.from({ length: n * 784 }, () => rand());
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  const set = { images, labels, count: n };
  const data = { name: 'synthetic', shape: [28, 28, 1], numClasses: 10, train: set, val: set, test: set, description: 'seeded noise' };
  const model = await lb.quantizeModel(lb.buildModel('lenet5', { seed: 3 }), lb.dorefaConfig({ wbits: 1, abits: 32 }));
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

/** The core bundled as one ES module, a page that puts it on window.lowbit, and /wasm/ serving TF.js's .wasm files. */
async function servePage(): Promise<Served> {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-page-'));
  const wasmDir = fileURLToPath(new URL('../../node_modules/@tensorflow/tfjs-backend-wasm/dist/', import.meta.url));
  await build({
    stdin: { contents: `export * from ${JSON.stringify(fileURLToPath(new URL('../src/index.js', import.meta.url)))};`, resolveDir: dir },
    bundle: true, platform: 'browser', format: 'esm', target: 'es2020', outfile: join(dir, 'lowbit.js'), logLevel: 'silent',
  });
  writeFileSync(join(dir, 'index.html'), '<!doctype html><script type="module">import * as lowbit from "./lowbit.js"; window.lowbit = lowbit;</script>');
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const file = path.startsWith('/wasm/') ? join(wasmDir, path.slice(6)) : join(dir, path === '/' ? 'index.html' : path.slice(1));
    if (!existsSync(file)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': MIME[extname(file)] ?? 'application/octet-stream' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, close: () => server.close() };
}

type PageLowbit = { lowbit: typeof lowbit };

test('a page that imports the bundled core trains a 1-bit lenet5 on wasm in Chromium with the losses Node gets; without wasmPaths it says so and falls back to cpu', { skip, timeout: 180_000 }, async () => {
  const served = await servePage();
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(served.url);
    await page.waitForFunction(() => (window as unknown as Partial<PageLowbit>).lowbit != null);
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
