// Takes docs/studio.png: serves dist/studio (npm run build first), opens it in Debian's Chromium,
// trains a DoReFa W1 lenet5 on the MNIST sample and screenshots the page after the run.
// Usage: node scripts/studio-screenshot.mjs [--backend wasm|webgl|webgpu] [--out docs/studio.png] [--epochs 3] [--steps 40]
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';
import { serveStudio } from '../dist/src/cli/commands/studio.js';

const { values: a } = parseArgs({ options: {
  backend: { type: 'string', default: 'wasm' }, out: { type: 'string', default: 'docs/studio.png' },
  epochs: { type: 'string', default: '3' }, steps: { type: 'string', default: '40' }, method: { type: 'string', default: 'dorefa-w1' },
} });
const { url, server } = await serveStudio({ port: 0 });
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader'] });
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.on('pageerror', (e) => console.error('page error:', e.message));
  await page.goto(url);
  await page.waitForSelector('#model option[value="lenet5"]', { state: 'attached' });
  await page.selectOption('#method', a.method);
  await page.selectOption('#backend', a.backend);
  for (const [id, v] of [['epochs', a.epochs], ['steps', a.steps], ['batch', '32']]) await page.fill(`#${id}`, v);
  const started = Date.now();
  await page.click('#start');
  await page.waitForFunction(() => ['done', 'error'].includes(window.studio.state), undefined, { timeout: 300_000 });
  const s = await page.evaluate(() => ({ state: window.studio.state, error: window.studio.error, losses: window.studio.losses, acc: window.studio.accuracies, backend: window.studio.result?.record.backend, test: window.studio.result?.record.test }));
  console.log(JSON.stringify({ ...s, losses: [s.losses[0], s.losses.at(-1)], steps: s.losses.length, seconds: (Date.now() - started) / 1000 }));
  if (s.state === 'done') await page.screenshot({ path: a.out, fullPage: true });
} finally {
  await browser.close();
  server.close();
}
