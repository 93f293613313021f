/**
 * The runtime's wasm kernels in a real browser: src/runtime/wasm bundled by esbuild (the module's
 * bytes travel inside the bundle, nothing is fetched) and run in Debian's Chromium (playwright-core
 * drives it) give the same binary, int8 and float convolution outputs as in Node. Skipped when
 * /usr/bin/chromium is missing (CI has it). Backend-independent: first pass of `npm test` only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { firstPassOnly } from './helpers.js';
import { mulberry32 } from '../src/random.js';
import type { ConvGeometry } from '../src/runtime/kernels.js';
import { createWasmKernels } from '../src/runtime/wasm/index.js';

const CHROMIUM = '/usr/bin/chromium';
const skip = firstPassOnly || (existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium)`);

interface Case { g: ConvGeometry; bx: number[]; bw: number[]; ix: number[]; iw: number[]; fx: number[]; fw: number[] }
interface Outputs { simd: boolean; binary: number[]; int8: number[]; float: number[] }
type PageKernels = { lowbitWasm: typeof import('../src/runtime/wasm/index.js') };

/** Runs the three kernels on `c` (plain arrays, so that it can be sent to a page). */
async function run(m: PageKernels['lowbitWasm'], c: Case): Promise<Outputs> {
  const k = await m.createWasmKernels();
  const size = c.g.n * c.g.outH * c.g.outW * c.g.outC;
  const binary = new Int32Array(size), int8 = new Int32Array(size), float = new Float32Array(size);
  k.binaryConv2d(Uint32Array.from(c.bx), Uint32Array.from(c.bw), c.g, binary);
  k.int8Conv2d(Int8Array.from(c.ix), Int8Array.from(c.iw), c.g, int8);
  k.floatConv2d(Float32Array.from(c.fx), Float32Array.from(c.fw), null, c.g, float);
  return { simd: m.hasWasmSimd(), binary: [...binary], int8: [...int8], float: [...float] };
}

test('the bundled wasm kernels run in Chromium with the outputs they give in Node', { skip, timeout: 120_000 }, async () => {
  const bundle = await build({
    entryPoints: [fileURLToPath(new URL('../src/runtime/wasm/index.js', import.meta.url))],
    bundle: true, platform: 'browser', format: 'iife', globalName: 'lowbitWasm', target: 'es2020', write: false, logLevel: 'silent',
  });
  const rand = mulberry32(21);
  const g: ConvGeometry = { n: 2, h: 7, w: 6, c: 40, kh: 3, kw: 3, strideH: 2, strideW: 1, padTop: 1, padLeft: 1, outH: 4, outW: 6, outC: 9 };
  const words = 2, pixels = g.n * g.h * g.w, taps = g.outC * g.kh * g.kw;
  const bits = (count: number) => Array.from({ length: count }, (_, i) => (i % words === 1 ? Math.floor(rand() * 256) : Math.floor(rand() * 2 ** 32)));
  const ints = (count: number) => Array.from({ length: count }, () => Math.floor(rand() * 256) - 128);
  const floats = (count: number) => Array.from(Float32Array.from({ length: count }, () => rand() * 2 - 1));
  const c: Case = { g, bx: bits(pixels * words), bw: bits(taps * words), ix: ints(pixels * g.c), iw: ints(taps * g.c), fx: floats(pixels * g.c), fw: floats(taps * g.c) };

  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({ executablePath: CHROMIUM });
  try {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.setContent('<!doctype html><title>lowbit wasm kernels</title>');
    await page.addScriptTag({ content: bundle.outputFiles[0].text });
    const inPage = await page.evaluate(
      ([src, arg]) => (0, eval)(`(${src})`)((window as unknown as PageKernels).lowbitWasm, arg) as Promise<Outputs>,
      [run.toString(), c] as const,
    );
    assert.deepEqual(errors, []);
    const inNode = await run({ createWasmKernels, hasWasmSimd: () => true } as PageKernels['lowbitWasm'], c);
    assert.equal(inPage.simd, true);
    assert.deepEqual(inPage.binary, inNode.binary);
    assert.deepEqual(inPage.int8, inNode.int8);
    assert.deepEqual(inPage.float, inNode.float);
    assert.ok(inNode.binary.some((v) => v !== 0));
  } finally {
    await browser.close();
  }
});
