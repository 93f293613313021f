// Training speed of one QAT run in Node and in Chromium, and how long the page's main thread stalls
// while it trains (issue 19, "What must be shown"). The run is the same everywhere: DoReFa W1
// (1-bit weights, float activations) lenet5 from seed 0, Adam 1e-3, batch 32 (--batch), shuffling
// seed 0, on the studio's embedded MNIST sample (dist/studio/mnist-sample.bin: 2,000 train digits
// as bytes, the same bytes in Node and in the page); --warmup steps are not timed, then --steps are.
//
// Configurations (--configs, comma-separated; default: the seven below and chromium-wasm:main):
//   node-wasm              Node, TF.js wasm + lowbit's training kernels (child process, LOWBIT_NATIVE=0)
//   node-native            Node, lowbit/node's oneDNN backend (child process; OMP_NUM_THREADS threads)
//   chromium-wasm          Chromium, wasm, page not cross-origin isolated (single-threaded build)
//   chromium-wasm-threads  Chromium, wasm, page served with COOP/COEP (cross-origin isolated, so TF.js loads
//                          its threaded build); --threads N is passed as setBackend('wasm', { threads: N }).
//                          TF.js 4.22 caps its XNNPACK pool at navigator.hardwareConcurrency / 2 (1 on a
//                          2-core machine); the table's threads column is what getThreadsCount() reports.
//   chromium-webgl         Chromium, webgl (headless: SwiftShader GL)
//   chromium-webgpu        Chromium --enable-unsafe-webgpu (headless: SwiftShader's Vulkan adapter, seconds
//                          per step, so it times --webgpu-steps steps instead of --steps)
//   studio                 the studio page (dist/studio as `lowbit studio` serves it) driven like a user:
//                          the same run on wasm in its Worker, its main thread plotting every step; one
//                          epoch, so at most 2000 / batch steps (warm-up included)
// Chromium configurations train in a module Worker by default (what a page should do; the studio
// does it); a ":main" suffix trains on the page's main thread instead (e.g. chromium-wasm:main).
// While a page trains, its main thread runs a stall monitor: a setTimeout(0) chain and a
// requestAnimationFrame chain record the longest gap between their callbacks, and a
// PerformanceObserver records long tasks (> 50 ms). The goal for a Worker run is a longest gap < 50 ms.
//
// Every configuration runs in a fresh process (Node) or a fresh browser context (Chromium), once
// per round; --rounds rounds, the order rotated each round so no configuration always runs first
// or last. Reported: per configuration the median over rounds of steps/s, ms/step (mean over the
// timed window), the median single-step time, and the ratio to node-native; the worst stall.
//
//   npm run build   (dist/src and dist/studio must exist)
//   node bench/browser-speed.mjs --steps 60 --rounds 3 --out bench/results/browser-speed
// Options: --steps N (60) --webgpu-steps N (10) --warmup N (5) --batch N (32) --rounds N (3)
// --threads N (chromium-wasm-threads' setBackend threads and node-native's OMP_NUM_THREADS; default:
// not set, i.e. TF.js's and OpenMP's own choice) --timeout S (per run, 600) --configs LIST
// --out PREFIX (writes PREFIX.json and PREFIX.md; default bench/results/browser-speed)
// --note TEXT (written at the top of both files, e.g. what else the machine was doing).
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = '/usr/bin/chromium';
const KNOWN = ['node-wasm', 'node-native', 'chromium-wasm', 'chromium-wasm-threads', 'chromium-webgl', 'chromium-webgpu', 'studio'];
const DEFAULT = [...KNOWN, 'chromium-wasm:main'];

/** Parses the embedded MNIST sample (scripts/build-studio.mjs writes it): per split, count×28×28 bytes, then count labels. */
function parseSample(bin, counts) {
  let o = 0;
  const split = (count) => {
    const bytes = bin.subarray(o, o + count * 784); o += count * 784;
    const labels = bin.subarray(o, o + count); o += count;
    return { images: { bytes }, labels, count };
  };
  const train = split(counts.train); const val = split(counts.val); const test = split(counts.test);
  return { name: 'mnist-sample', description: 'the studio\'s embedded MNIST sample', shape: [28, 28, 1], numClasses: 10, train, val, test };
}

/**
 * The timed run (the same source runs in Node, in the page and in the Worker): DoReFa W1 lenet5,
 * `warmup + steps` Adam steps of lowbit.train, stopped by throwing from onStep. `tick(step)` is
 * called after each step (the Worker posts progress with it).
 */
async function qatRun(lb, data, o, tick) {
  const model = await lb.quantizeModel(lb.buildModel('lenet5', { seed: 0 }), lb.dorefaConfig({ wbits: 1, abits: 32 }));
  const total = o.warmup + o.steps;
  const perEpoch = Math.floor(data.train.count / o.batch);
  const stamps = []; const losses = [];
  const STOP = 'lowbit-bench: enough steps';
  const t0 = performance.now();
  try {
    await lb.train(model, data, {
      epochs: Math.ceil(total / perEpoch), batchSize: o.batch, learningRate: 1e-3, optimizer: { name: 'adam' },
      schedule: { name: 'constant' }, weightDecay: 0, seed: 0, skipValidation: true,
    }, {
      onStep: (s) => {
        stamps.push(performance.now()); losses.push(s.loss);
        if (tick) tick(stamps.length);
        if (stamps.length >= total) throw new Error(STOP);
      },
    });
  } catch (e) {
    if (!(e instanceof Error) || e.message !== STOP) throw e;
  }
  model.dispose();
  const window = stamps[total - 1] - stamps[o.warmup - 1];
  const steps = [];
  for (let i = o.warmup; i < total; i++) steps.push(stamps[i] - stamps[i - 1]);
  steps.sort((a, b) => a - b);
  return {
    backend: lb.getBackendName(), msPerStep: window / o.steps, stepsPerSecond: (1000 * o.steps) / window,
    medianStepMs: steps[Math.floor(steps.length / 2)], maxStepMs: steps[steps.length - 1], firstStepMs: stamps[0] - t0,
    losses: { first: losses.slice(0, 3), last: losses[total - 1] },
  };
}

/**
 * The main-thread stall monitor (runs in the page): a setTimeout(0) chain and a requestAnimationFrame
 * chain note every gap between their callbacks, a PerformanceObserver notes long tasks. Returns stop().
 */
function monitor() {
  const gaps = [];   // [end time, gap ms, source]
  let running = true;
  let last = performance.now();
  const tick = () => { const now = performance.now(); gaps.push([now, now - last, 'timeout']); last = now; if (running) setTimeout(tick, 0); };
  setTimeout(tick, 0);
  let lastFrame = null;
  const frame = () => { const now = performance.now(); if (lastFrame != null) gaps.push([now, now - lastFrame, 'raf']); lastFrame = now; if (running) requestAnimationFrame(frame); };
  requestAnimationFrame(frame);
  const longtasks = [];
  let po = null;
  try { po = new PerformanceObserver((l) => { for (const t of l.getEntries()) longtasks.push([t.startTime + t.duration, t.duration]); }); po.observe({ type: 'longtask' }); } catch { po = null; }
  return () => { running = false; po?.disconnect(); return { gaps, longtasks, longtaskSupported: po != null }; };
}
/**
 * The longest gaps and long tasks inside [from, to] (page clock, ms), each clipped to the window (so
 * a gap that began before the first step, or spans the whole window, counts only its part inside),
 * and the most training steps the page saw finish inside one gap (2 or more: a timer or frame
 * callback did not get its turn between those steps).
 */
function summarize(m, from, to, stepTimes = []) {
  const clip = (end, ms) => Math.min(end, to) - Math.max(end - ms, from);   // > 0: overlaps the window
  const max = (xs) => xs.length ? Math.max(...xs) : null;
  const of = (source) => m.gaps.filter((g) => g[2] === source && clip(g[0], g[1]) > 0);
  const t = of('timeout').map((g) => clip(g[0], g[1]));
  const f = of('raf').map((g) => clip(g[0], g[1]));
  const lt = m.longtasks.filter((x) => clip(x[0], x[1]) > 0).map((x) => clip(x[0], x[1]));
  const stepsIn = (source) => Math.max(0, ...of(source).map((g) => stepTimes.filter((x) => x > Math.max(g[0] - g[1], from) && x <= Math.min(g[0], to)).length));
  return { maxTimeoutGapMs: max(t), timeoutTicks: t.length, timeoutGapsOver50: t.filter((x) => x > 50).length, maxFrameGapMs: max(f), frames: f.length,
    longtasks: m.longtaskSupported ? lt.length : null, maxLongtaskMs: m.longtaskSupported ? max(lt) ?? 0 : null,
    maxStepsInOneTimeoutGap: stepsIn('timeout'), maxStepsInOneFrameGap: stepsIn('raf') };
}

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const FLAGS = ['note', 'steps', 'webgpu-steps', 'warmup', 'batch', 'rounds', 'threads', 'timeout', 'configs', 'out'];

function fail(message) {
  process.stderr.write(`browser-speed: ${message}\n`);
  process.exit(2);
}

// ---------------------------------------------------------------- Node child (one configuration)

if (process.argv[2] === '--child') {
  const [backend, o] = [process.argv[3], JSON.parse(process.argv[4])];
  const lb = await import(join(root, 'dist/src/node.js'));
  await lb.setBackend(backend);
  const studio = join(root, 'dist/studio');
  const data = parseSample(new Uint8Array(readFileSync(join(studio, 'mnist-sample.bin'))), JSON.parse(readFileSync(join(studio, 'mnist-sample.json'), 'utf8')).counts);
  const r = await qatRun(lb, data, o);
  const omp = Number.parseInt(process.env.OMP_NUM_THREADS ?? '', 10);
  r.threads = backend === 'native' ? (omp > 0 ? omp : availableParallelism()) : 1;
  process.stdout.write(JSON.stringify(r));
  process.exit(0);
}

// ---------------------------------------------------------------- the page and its Worker

// Shared by both bundles: the core (compiled, dist/src), the GPU backends, TF.js wasm's thread count.
const COMMON = `
import * as lb from ${JSON.stringify(join(root, 'dist/src/index.js'))};
import '@tensorflow/tfjs-backend-webgl';
import '@tensorflow/tfjs-backend-webgpu';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
const parseSample = ${parseSample.toString()};
const qatRun = ${qatRun.toString()};
async function loadSample() {
  const counts = (await (await fetch('/mnist-sample.json')).json()).counts;
  return parseSample(new Uint8Array(await (await fetch('/mnist-sample.bin')).arrayBuffer()), counts);
}
async function startBackend(c) {
  const backend = c.backend === 'wasm-threads' ? 'wasm' : c.backend;
  await lb.setBackend(backend, backend === 'wasm' ? { wasmPaths: '/wasm/', ...(c.backend === 'wasm-threads' && c.threads != null ? { threads: c.threads } : {}) } : {});
  const multithread = backend === 'wasm' ? await lb.tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT') : null;
  const pt = backend === 'wasm' ? lb.tf.backend().wasm?.PThread : null;
  return { backend: lb.getBackendName(), crossOriginIsolated: self.crossOriginIsolated, wasmMultithread: multithread,
    hardwareConcurrency: navigator.hardwareConcurrency, threadsRequested: c.backend === 'wasm-threads' ? (c.threads ?? null) : null,
    pthreadWorkers: pt ? { running: pt.runningWorkers?.length ?? null, unused: pt.unusedWorkers?.length ?? null } : null,
    threads: backend === 'wasm' ? (multithread ? getThreadsCount() : 1) : null };
}
async function runConfig(c, tick) {
  const data = await loadSample();
  const info = await startBackend(c);
  const r = await qatRun(lb, data, c, tick);
  return { ...r, ...info };
}
`;

const WORKER = `${COMMON}
self.onmessage = async (e) => {
  try {
    const r = await runConfig(e.data, (step) => self.postMessage({ type: 'step', step }));
    self.postMessage({ type: 'done', result: r });
  } catch (err) {
    self.postMessage({ type: 'error', message: String(err && err.stack || err) });
  }
};
`;

// The page: window.bench(c) trains (in a module Worker or here) under the stall monitor.
const PAGE = `${COMMON}
const monitor = ${monitor.toString()};
const summarize = ${summarize.toString()};
window.progress = 0;
window.bench = async (c) => {
  const stop = monitor();
  const t0 = performance.now();
  let firstStep = null; let lastStep = null;
  const stepTimes = [];
  const tick = (step) => { window.progress = step; const now = performance.now(); stepTimes.push(now); if (step === 1) firstStep = now; lastStep = now; };
  let r;
  if (c.where === 'worker') {
    const w = new Worker('/worker.js', { type: 'module' });
    r = await new Promise((resolve, reject) => {
      w.onmessage = (e) => {
        if (e.data.type === 'step') tick(e.data.step);
        else if (e.data.type === 'done') resolve(e.data.result);
        else reject(new Error(e.data.message));
      };
      w.onerror = (e) => reject(new Error(e.message || 'worker error'));
      w.postMessage(c);
    });
    w.terminate();
  } else {
    r = await runConfig(c, tick);
  }
  const t1 = performance.now();
  await new Promise((res) => setTimeout(res, 50));
  const m = stop();
  // The whole run (data, backend start, model build, training) and the training steps alone.
  return { ...r, stall: { steps: summarize(m, firstStep ?? t0, lastStep ?? t1, stepTimes), whole: summarize(m, t0, t1, stepTimes) } };
};
window.ready = true;
`;

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

/** Serves the page, the worker, TF.js's .wasm files and the sample; `isolated` adds COOP/COEP (cross-origin isolation). */
function serve(dir, isolated, requested) {
  const studio = join(root, 'dist/studio');
  const server = createServer((req, res) => {
    const path = decodeURIComponent((req.url ?? '/').split('?')[0]);
    const file = path.startsWith('/wasm/') ? join(studio, 'wasm', path.slice(6))
      : path.startsWith('/mnist-sample.') ? join(studio, path.slice(1)) : join(dir, path === '/' ? 'index.html' : path.slice(1));
    if (path === '/favicon.ico') { res.writeHead(204).end(); return; }
    if (!existsSync(file)) { process.stderr.write(`browser-speed: the page asked for ${path}, which is not served\n`); res.writeHead(404).end(); return; }
    if (path.startsWith('/wasm/')) requested.add(path.slice(6));
    const headers = { 'content-type': MIME[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' };
    if (isolated) Object.assign(headers, { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cross-origin-resource-policy': 'same-origin' });
    res.writeHead(200, headers).end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ url: `http://127.0.0.1:${server.address().port}/`, close: () => server.close() })));
}

async function buildPage() {
  const { build } = await import('esbuild');
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-browser-speed-'));
  for (const [name, contents] of [['page.js', PAGE], ['worker.js', WORKER]]) {
    await build({
      stdin: { contents, resolveDir: root, sourcefile: name }, bundle: true, platform: 'browser', format: 'esm', target: 'es2022',
      outfile: join(dir, name), logLevel: 'silent',
    });
  }
  writeFileSync(join(dir, 'index.html'), '<!doctype html><title>lowbit browser-speed</title><script type="module" src="/page.js"></script>');
  return dir;
}

// ---------------------------------------------------------------- the driver

function runNode(backend, o) {
  return new Promise((resolve) => {
    const env = { ...process.env, LOWBIT_NATIVE: backend === 'native' ? '1' : '0' };
    if (o.threads != null && backend === 'native') env.OMP_NUM_THREADS = String(o.threads);
    const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--child', backend, JSON.stringify(o)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = ''; let err = '';
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { err += d; });
    const timer = setTimeout(() => child.kill(), o.timeout * 1000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (signal != null) { resolve({ error: `no result after ${o.timeout} s (${signal})` }); return; }
      try { resolve(code === 0 ? JSON.parse(out) : { error: `exit ${code}: ${err.trim().split('\n').slice(-3).join(' | ')}` }); } catch (e) { resolve({ error: String(e) }); }
    });
  });
}

async function runChromium(chromium, config, o, servers) {
  const [name, where = 'worker'] = config.split(':');
  const backend = name.slice('chromium-'.length);
  const webgpu = backend === 'webgpu';
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: webgpu ? ['--enable-unsafe-webgpu'] : [] });
  const served = backend === 'wasm-threads' ? servers.isolated : servers.plain;
  served.requested.clear();
  try {
    const page = await (await browser.newContext()).newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    const consoleLines = [];
    page.on('console', (m) => { if (m.type() === 'warning' || m.type() === 'error') consoleLines.push(`${m.type()}: ${m.text()}`.slice(0, 300)); });
    page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'warning' || m.type() === 'error') consoleLines.push(`worker ${m.type()}: ${m.text()}`.slice(0, 300)); }));
    await page.goto(served.url);
    await page.waitForFunction(() => window.ready === true);
    const gpu = await page.evaluate(async (b) => {
      if (b === 'webgl') {
        const gl = document.createElement('canvas').getContext('webgl2');
        const ext = gl?.getExtension('WEBGL_debug_renderer_info');
        return gl ? gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER) : null;
      }
      if (b === 'webgpu') {
        const a = await navigator.gpu?.requestAdapter();
        return a ? [a.info?.vendor, a.info?.architecture, a.info?.description].filter(Boolean).join(' / ') || 'adapter' : 'no adapter';
      }
      return null;
    }, backend);
    const c = { backend, where, steps: webgpu ? o.webgpuSteps : o.steps, warmup: o.warmup, batch: o.batch, threads: o.threads };
    let timer;
    const timeout = new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timeout')), o.timeout * 1000); });
    try {
      const r = await Promise.race([page.evaluate((c) => window.bench(c), c), timeout]);
      return { ...r, steps: c.steps, where, gpu, wasmFiles: [...served.requested].sort(), ...(errors.length ? { pageErrors: errors } : {}), ...(consoleLines.length ? { console: consoleLines.slice(0, 20) } : {}) };
    } catch (e) {
      const done = await page.evaluate(() => window.progress).catch(() => null);
      return { steps: c.steps, where, gpu, error: e.message === 'timeout' ? `no result after ${o.timeout} s (${done} of ${o.warmup + c.steps} steps done)` : e.message.split('\n')[0], pageErrors: errors, console: consoleLines.slice(0, 20) };
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await browser.close();
  }
}

/**
 * The studio page itself (dist/studio, served as `lowbit studio` serves it: cross-origin isolated),
 * driven like a user: lenet5, MNIST sample, DoReFa W1, wasm, one epoch of min(warmup + steps, an
 * epoch) steps, batch --batch, lr 1e-3. Its main thread draws the loss plot at every step. The stall
 * monitor is installed before the page's scripts; step times are when the page saw each loss
 * (polled from window.studio, so within a monitor tick), i.e. including the Worker's messages.
 */
async function runStudio(chromium, o) {
  const { serveStudio } = await import(join(root, 'dist/src/cli/commands/studio.js'));
  const { url, server } = await serveStudio({ port: 0 });
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  try {
    const page = await browser.newPage();
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.addInitScript(`window.__monitor = (${monitor.toString()})();
      window.__steps = [];
      (function poll() {
        const n = window.studio?.losses?.length ?? 0;
        if (n > window.__steps.length) { const now = performance.now(); while (window.__steps.length < n) window.__steps.push(now); }
        if (window.studio?.state === 'done' || window.studio?.state === 'error') { window.__end ??= performance.now(); }
        setTimeout(poll, 0);
      })();`);
    await page.goto(url);
    await page.waitForSelector('#model option[value="lenet5"]', { state: 'attached' });
    await page.selectOption('#model', 'lenet5');
    await page.selectOption('#data', 'mnist');
    await page.selectOption('#method', 'dorefa-w1');
    await page.selectOption('#backend', 'wasm');
    const perEpoch = Math.floor(2000 / o.batch);
    const total = Math.min(o.warmup + o.steps, perEpoch);
    if (total <= o.warmup) return { where: 'studio worker', error: `an epoch of the sample has ${perEpoch} steps at batch ${o.batch}: no timed steps after ${o.warmup} warm-up steps` };
    for (const [id, v] of [['epochs', '1'], ['steps', String(total)], ['batch', String(o.batch)], ['lr', '0.001']]) await page.fill(`#${id}`, v);
    const t0 = await page.evaluate(() => performance.now());
    await page.click('#start');
    await page.waitForFunction(() => ['done', 'error'].includes(window.studio.state), undefined, { timeout: o.timeout * 1000, polling: 250 });
    const r = await page.evaluate(({ t0, warmup, summarizeSrc }) => {
      const summarize = (0, eval)(`(${summarizeSrc})`);
      const m = window.__monitor();
      const s = window.__steps; const total = s.length;
      const window_ = s[total - 1] - s[warmup - 1];
      const steps = []; for (let i = warmup; i < total; i++) steps.push(s[i] - s[i - 1]);
      steps.sort((a, b) => a - b);
      return {
        state: window.studio.state, error: window.studio.error, backend: window.studio.result?.record?.backend, stepsDone: total,
        firstLoss: window.studio.losses[0], lastLoss: window.studio.losses[total - 1],
        msPerStep: window_ / (total - warmup), stepsPerSecond: (1000 * (total - warmup)) / window_, medianStepMs: steps[Math.floor(steps.length / 2)], maxStepMs: steps[steps.length - 1],
        hardwareConcurrency: navigator.hardwareConcurrency, crossOriginIsolated,
        stall: { steps: summarize(m, s[0], s[total - 1], s), whole: summarize(m, t0, window.__end ?? performance.now(), s) },
      };
    }, { t0, warmup: o.warmup, summarizeSrc: summarize.toString() });
    if (r.state !== 'done') return { where: 'studio worker', error: `the studio says: ${r.error}`, pageErrors: errors };
    const { firstLoss, lastLoss, state, error, ...rest } = r;
    return { ...rest, steps: total - o.warmup, where: 'studio worker', losses: { first: [firstLoss], last: lastLoss }, ...(errors.length ? { pageErrors: errors } : {}) };
  } catch (e) {
    return { where: 'studio worker', error: String(e.message ?? e).split('\n')[0] };
  } finally {
    await browser.close();
    server.close();
  }
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : null; };
const fmt = (x, d = 1) => (x == null || Number.isNaN(x) ? '—' : x.toFixed(d));

function git(args) {
  try { return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim(); } catch { return null; }
}

async function main() {
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || !FLAGS.includes(argv[i].slice(2))) fail(`unknown option '${argv[i]}': options are ${FLAGS.map((f) => `--${f}`).join(' ')}`);
    if (argv[i + 1] == null) fail(`${argv[i]} needs a value`);
  }
  const o = {
    steps: Number(arg('steps', '60')), warmup: Number(arg('warmup', '5')), batch: Number(arg('batch', '32')),
    rounds: Number(arg('rounds', '3')), timeout: Number(arg('timeout', '600')), webgpuSteps: Number(arg('webgpu-steps', '10')),
    threads: arg('threads', null) == null ? null : Number(arg('threads', null)),
  };
  const configs = arg('configs', DEFAULT.join(',')).split(',').filter(Boolean);
  const out = arg('out', 'bench/results/browser-speed');
  const flag = { webgpuSteps: 'webgpu-steps' };
  for (const k of ['steps', 'warmup', 'batch', 'rounds', 'timeout', 'webgpuSteps']) if (!Number.isInteger(o[k]) || o[k] < 1) fail(`--${flag[k] ?? k} must be a whole number ≥ 1, got ${arg(flag[k] ?? k)}`);
  if (o.threads != null && (!Number.isInteger(o.threads) || o.threads < 1)) fail(`--threads must be a whole number ≥ 1, got ${arg('threads')}`);
  for (const c of configs) {
    const [base, where, extra] = c.split(':');
    if (!KNOWN.includes(base) || extra != null || (where != null && (!base.startsWith('chromium-') || !['main', 'worker'].includes(where)))) {
      fail(`unknown configuration '${c}': choose from ${KNOWN.join(', ')} (a Chromium one may end in :main or :worker)`);
    }
  }
  if (new Set(configs).size !== configs.length) fail('--configs lists a configuration twice');
  if (!existsSync(join(root, 'dist/src/node.js')) || !existsSync(join(root, 'dist/studio/mnist-sample.bin'))) fail('dist/ is missing: run npm run build first');
  const browserConfigs = configs.filter((c) => !c.startsWith('node-'));
  if (browserConfigs.length && !existsSync(CHROMIUM)) fail(`${CHROMIUM} is missing (apt-get install chromium)`);

  const diff = git(['diff', 'HEAD']);
  const untracked = git(['ls-files', '--others', '--exclude-standard']);
  const dirty = diff == null ? null : diff.length > 0 || (untracked ?? '').length > 0;
  const record = {
    command: `node bench/browser-speed.mjs ${argv.map((x) => (/^[\w.,:\/=-]+$/.test(x) ? x : `'${x.replace(/'/g, "'\\''")}'`)).join(' ')}`.trim(),
    commit: git(['rev-parse', 'HEAD']), dirty, diffHash: dirty && diff ? createHash('sha256').update(diff).digest('hex').slice(0, 16) : null,
    untracked: dirty ? (untracked || null) : null,
    date: new Date().toISOString(), node: process.version, chromium: null, cpu: cpus()[0]?.model ?? null, cores: cpus().length,
    loadavgStart: loadavg().map((x) => Number(x.toFixed(2))), loadavgEnd: null,
    run: `DoReFa W1 (abits 32) lenet5, seed 0, Adam lr 1e-3, batch ${o.batch}, ${o.warmup} warm-up steps then ${o.steps} timed steps, on the studio's MNIST sample (2,000 train digits as bytes)`,
    options: o, note: arg('note', null),
  };

  let chromium = null; let servers = null; let pageDir = null;
  if (browserConfigs.length) {
    ({ chromium } = await import('playwright-core'));
    pageDir = await buildPage();
    const serveWith = async (isolated) => { const requested = new Set(); return { requested, ...(await serve(pageDir, isolated, requested)) }; };
    servers = { plain: await serveWith(false), isolated: await serveWith(true) };
    const b = await chromium.launch({ executablePath: CHROMIUM });
    record.chromium = b.version();
    await b.close();
  }

  const runs = [];
  for (let round = 0; round < o.rounds; round++) {
    const order = configs.map((_, i) => configs[(i + round) % configs.length]);
    for (const config of order) {
      const before = loadavg()[0];
      const r = config.startsWith('node-') ? await runNode(config.slice(5), o)
        : await (config === 'studio' ? runStudio(chromium, o) : runChromium(chromium, config, o, servers)).catch((e) => ({ error: `Chromium: ${String(e.message ?? e).split('\n')[0]}` }));
      runs.push({ config, round, loadavg1: Number(before.toFixed(2)), ...r });
      process.stderr.write(`round ${round + 1}/${o.rounds} ${config.padEnd(22)} ${r.error ? `FAILED: ${r.error}` : `${fmt(r.stepsPerSecond, 2).padStart(7)} steps/s ${fmt(r.msPerStep).padStart(7)} ms/step${r.stall ? `  longest main-thread gap during steps ${fmt(r.stall.steps.maxTimeoutGapMs)} ms` : ''}`}\n`);
    }
  }
  servers?.plain.close(); servers?.isolated.close();
  if (pageDir) rmSync(pageDir, { recursive: true, force: true });
  record.loadavgEnd = loadavg().map((x) => Number(x.toFixed(2)));
  record.hardwareConcurrency = runs.find((r) => r.hardwareConcurrency != null)?.hardwareConcurrency ?? null;

  const summary = configs.map((config) => {
    const ok = runs.filter((r) => r.config === config && !r.error);
    const failed = runs.filter((r) => r.config === config && r.error);
    const maxOf = (f) => { const xs = ok.map(f).filter((x) => x != null); return xs.length ? Math.max(...xs) : null; };
    return {
      config, runs: ok.length, failed: failed.map((r) => r.error), steps: config.startsWith('node-') ? o.steps : (ok[0]?.steps ?? failed[0]?.steps ?? null),
      backend: ok[0]?.backend ?? null, where: config.startsWith('node-') ? 'node' : (ok[0]?.where ?? failed[0]?.where ?? null),
      threads: ok[0]?.threads ?? null, gpu: ok[0]?.gpu ?? failed[0]?.gpu ?? null, wasmFiles: ok[0]?.wasmFiles ?? null,
      stepsPerSecond: median(ok.map((r) => r.stepsPerSecond)), msPerStep: median(ok.map((r) => r.msPerStep)),
      medianStepMs: median(ok.map((r) => r.medianStepMs)), maxStepMs: maxOf((r) => r.maxStepMs),
      stallStepsMs: maxOf((r) => r.stall?.steps.maxTimeoutGapMs), stepsInOneGap: maxOf((r) => r.stall?.steps.maxStepsInOneTimeoutGap), frameGapStepsMs: maxOf((r) => r.stall?.steps.maxFrameGapMs),
      longtaskStepsMs: maxOf((r) => r.stall?.steps.maxLongtaskMs), stallWholeMs: maxOf((r) => r.stall?.whole.maxTimeoutGapMs),
      firstLoss: ok[0]?.losses.first[0] ?? null, lastLoss: ok[0]?.losses.last ?? null,
    };
  });
  const native = summary.find((s) => s.config === 'node-native')?.stepsPerSecond ?? null;
  for (const s of summary) s.ratioToNodeNative = native && s.stepsPerSecond != null ? s.stepsPerSecond / native : null;

  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(`${out}.json`, `${JSON.stringify({ ...record, summary, runs }, null, 2)}\n`);
  writeFileSync(`${out}.md`, markdown(record, summary, o));
  process.stderr.write(`wrote ${out}.json and ${out}.md\n`);
}

function markdown(rec, summary, o) {
  const lines = [
    '# Training speed in Node and in Chromium, and main-thread stalls',
    '',
    `Run: ${rec.run}. Median over ${o.rounds} round(s), each configuration in a fresh process or browser context, order rotated per round.`,
    '',
    ...(rec.note ? [`**Note:** ${rec.note}`, ''] : []),
    `Command: \`${rec.command}\``,
    '',
    `Commit ${rec.commit} (${rec.dirty === false ? 'clean working tree' : rec.dirty ? `**dirty working tree**, diff ${rec.diffHash ?? 'untracked files only'}` : 'working tree state unknown'}), ${rec.date}; Node ${rec.node}, Chromium ${rec.chromium ?? '—'}${rec.hardwareConcurrency != null ? ` (navigator.hardwareConcurrency ${rec.hardwareConcurrency})` : ''}; ${rec.cpu} × ${rec.cores}; load average at start ${rec.loadavgStart.join(' ')}, at end ${rec.loadavgEnd.join(' ')}.`,
    '',
    '| configuration | where it trains | threads | timed steps | steps/s | ms/step | median step ms | × node-native | longest main-thread gap during steps (setTimeout / rAF / long task, ms) | longest gap over the whole run (ms) | loss after step 1 |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const s of summary) {
    if (s.runs === 0) {
      lines.push(`| ${s.config} | ${s.where ?? '—'} | — | ${s.steps ?? '—'} | failed: ${s.failed[0] ?? 'no run'} | | | | | | |`);
      continue;
    }
    const stall = s.where === 'node' ? '—' : `${fmt(s.stallStepsMs)} / ${fmt(s.frameGapStepsMs)} / ${fmt(s.longtaskStepsMs)}`;
    lines.push(`| ${s.config}${s.failed.length ? ` (${s.failed.length} failed)` : ''} | ${s.where} | ${s.threads ?? '—'} | ${s.steps} | ${fmt(s.stepsPerSecond, 2)} | ${fmt(s.msPerStep)} | ${fmt(s.medianStepMs)} | ${fmt(s.ratioToNodeNative, 2)} | ${stall} | ${s.where === 'node' ? '—' : fmt(s.stallWholeMs)} | ${fmt(s.firstLoss, 6)} |`);
  }
  const devices = summary.filter((s) => s.gpu).map((s) => `${s.config}: ${s.gpu}`);
  const wasm = summary.filter((s) => s.wasmFiles?.length).map((s) => `${s.config}: ${s.wasmFiles.join(', ')}`);
  lines.push('');
  if (devices.length) lines.push(`GPU adapters: ${devices.join('; ')}.`, '');
  if (wasm.length) lines.push(`wasm binaries the page fetched: ${wasm.join('; ')}.`, '');
  lines.push(
    'steps/s and ms/step: over the timed window (first timed step to last), median over rounds. Main-thread gap: the longest',
    'interval between consecutive callbacks of a setTimeout(0) chain (≈4 ms when idle), of a requestAnimationFrame chain',
    '(≈17 ms when idle at 60 Hz), and the longest PerformanceObserver long task (0: none over 50 ms), worst over rounds;',
    '"during steps" is from the first step to the last (gaps and tasks clipped to it), "whole run" includes fetching the data,',
    'starting the backend and building the model. The goal for training in a Worker is a longest gap under 50 ms. A long gap with no long task means',
    'the main thread had nothing to run but was not scheduled (other processes or the training threads held the cores).',
    'threads: XNNPACK threads reported by TF.js (wasm), OpenMP threads (native).', '');
  const skipped = summary.filter((s) => s.stepsInOneGap > 1).map((s) => `${s.config}: ${s.stepsInOneGap}`);
  if (skipped.length) lines.push(`Most training steps that finished inside one setTimeout gap (a timer callback did not run between them): ${skipped.join('; ')}.`, '');
  const failures = summary.filter((s) => s.failed.length);
  if (failures.length) lines.push('Failures: ' + failures.map((s) => `${s.config}: ${[...new Set(s.failed)].join('; ')}`).join(' · '), '');
  return lines.join('\n');
}

await main();
