/**
 * The core ('lowbit', dist/src/index.js) and the runtime ('lowbit/runtime',
 * dist/src/runtime/index.js) bundle for a web page: esbuild with platform 'browser' as an ES
 * module and as an es2020 iife (no top-level await), with no Node builtin import and no Node
 * global (Buffer, process, require, __dirname, __filename) in lowbit's own code. The runtime's
 * bundle holds no TF.js module (it runs packed models without TF.js). Backend-independent: runs
 * in the first pass of `npm test` only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, BuildFailure, Format } from 'esbuild';
import { firstPassOnly } from './helpers.js';

const NODE_GLOBALS = ['Buffer', 'process', 'require', '__dirname', '__filename'];
const MARK = 'LOWBIT_NODE_GLOBAL_';
const coreEntry = fileURLToPath(new URL('../src/index.js', import.meta.url));
const runtimeEntry = fileURLToPath(new URL('../src/runtime/index.js', import.meta.url));

interface BundleCheck {
  /** esbuild's errors (a Node builtin import cannot resolve for the browser), one line each. */
  errors: string[];
  /** Node globals used, per own (non-node_modules) module of the bundle. */
  globals: Map<string, string[]>;
  bytes: number;
  /** The bundle's TF.js modules (esbuild metafile inputs under @tensorflow/). */
  tfjs: string[];
  /** lowbit's own modules that import TF.js directly (a TF.js package or src/backend/tf.ts). */
  tfjsImporters: string[];
}

/**
 * Bundles `entry` for the browser. Each Node global is `define`d to a marker: esbuild replaces
 * only free identifiers (never properties, locals or strings), so a marker in the output is a
 * real use of the global; the module comments of the unminified bundle say whose code it is.
 */
async function bundleForBrowser(entry: string, format: Format): Promise<BundleCheck> {
  try {
    const r = await build({
      entryPoints: [entry], bundle: true, platform: 'browser', format, target: 'es2020', write: false, logLevel: 'silent', metafile: true,
      define: Object.fromEntries(NODE_GLOBALS.map((g) => [g, MARK + g])),
    });
    const text = r.outputFiles[0].text;
    const globals = new Map<string, string[]>();
    const parts = text.split(/^\s*\/\/ (\S+\.[cm]?[jt]s)$/m);
    for (let i = 1; i < parts.length; i += 2) {
      if (parts[i].includes('node_modules/')) continue;
      const used = [...new Set(parts[i + 1].match(new RegExp(`${MARK}\\w+`, 'g')) ?? [])].map((m) => m.slice(MARK.length));
      if (used.length > 0) globals.set(parts[i], used);
    }
    const inputs = Object.entries(r.metafile.inputs);
    const isTfjs = (path: string) => path.includes('node_modules/@tensorflow/');
    const tfjs = inputs.map(([path]) => path).filter(isTfjs);
    const tfjsImporters = inputs.filter(([path, i]) => !path.includes('node_modules/') && i.imports.some((m) => isTfjs(m.path) || /backend\/tf\.js$/.test(m.path))).map(([path]) => path);
    return { errors: [], globals, bytes: text.length, tfjs, tfjsImporters };
  } catch (e) {
    const failure = e as BuildFailure;
    if (!Array.isArray(failure.errors)) throw e;
    return { errors: failure.errors.map((m) => `${m.location?.file ?? '?'}: ${m.text}`), globals: new Map(), bytes: 0, tfjs: [], tfjsImporters: [] };
  }
}

for (const format of ['esm', 'iife'] as const) {
  test(`the core bundles for the browser as ${format} (es2020) with no Node builtin or global`, { skip: firstPassOnly }, async () => {
    const r = await bundleForBrowser(coreEntry, format);
    assert.deepEqual(r.errors, [], 'esbuild could not bundle the core for the browser');
    assert.deepEqual([...r.globals], [], 'lowbit code in the browser bundle uses Node globals');
    assert.ok(r.bytes > 100_000, `the bundle holds TF.js (${r.bytes} bytes)`);
    // The core trains with TF.js: the check below would see it.
    assert.ok(r.tfjs.some((f) => f.includes('@tensorflow/tfjs-core/')), 'no tfjs-core module among the core bundle\'s inputs');
    assert.ok(r.tfjsImporters.some((f) => f.endsWith('src/backend/tf.js')), r.tfjsImporters.join(', '));
  });

  test(`the runtime bundles for the browser as ${format} (es2020) without TF.js`, { skip: firstPassOnly }, async () => {
    const r = await bundleForBrowser(runtimeEntry, format);
    assert.deepEqual(r.errors, [], 'esbuild could not bundle the runtime for the browser');
    assert.deepEqual([...r.globals], [], 'lowbit code in the runtime bundle uses Node globals');
    assert.deepEqual(r.tfjs.slice(0, 5), [], `the runtime bundle holds ${r.tfjs.length} TF.js modules, imported by ${r.tfjsImporters.join(', ')}`);
    assert.deepEqual(r.tfjsImporters, [], 'runtime modules import TF.js');
  });
}

test('the bundle check rejects a Node global, a Node builtin and top-level await in own code', { skip: firstPassOnly }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-bundle-'));
  // What methods/dq/codes.ts did before it used TextEncoder.
  writeFileSync(join(dir, 'global.js'), "export const header = Buffer.from(JSON.stringify({ a: 1 }));\nexport const env = typeof process;\n");
  writeFileSync(join(dir, 'builtin.js'), "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n");
  writeFileSync(join(dir, 'tla.js'), 'export const x = await Promise.resolve(1);\n');
  // A property or a string of the same name is no use of the global.
  writeFileSync(join(dir, 'clean.js'), "export const o = { process: 1, require: 2 };\nexport const s = 'Buffer process require(';\nexport const f = (Buffer) => Buffer;\n");

  const global = await bundleForBrowser(join(dir, 'global.js'), 'esm');
  assert.deepEqual([...global.globals.values()], [['Buffer', 'process']]);
  const builtin = await bundleForBrowser(join(dir, 'builtin.js'), 'esm');
  assert.match(builtin.errors.join('\n'), /node:fs/);
  const tla = await bundleForBrowser(join(dir, 'tla.js'), 'iife');
  assert.match(tla.errors.join('\n'), /[Tt]op-level await/);
  const clean = await bundleForBrowser(join(dir, 'clean.js'), 'esm');
  assert.deepEqual([clean.errors, [...clean.globals]], [[], []]);
});
