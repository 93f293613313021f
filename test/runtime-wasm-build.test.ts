/**
 * The wasm kernels' build: the committed src/runtime/wasm/kernels-wasm.generated.ts is what
 * scripts/build-wasm.mjs compiles from src/runtime/wasm/assembly today (so a fresh clone that skips
 * asc still gets the current kernels), and the kernel module bundles for a web page with no Node
 * builtin or global. Backend-independent: runs in the first pass of `npm test` only.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { firstPassOnly } from './helpers.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const NODE_GLOBALS = ['Buffer', 'process', 'require', '__dirname', '__filename'];

test('kernels-wasm.generated.ts is up to date with the AssemblyScript sources (byte for byte)', { skip: firstPassOnly }, () => {
  const r = spawnSync(process.execPath, ['scripts/build-wasm.mjs', '--check'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /up to date/);
});

test('the wasm kernels bundle for the browser (es2020 iife) with no Node builtin or global', { skip: firstPassOnly }, async () => {
  const r = await build({
    entryPoints: [fileURLToPath(new URL('../src/runtime/wasm/index.js', import.meta.url))],
    bundle: true, platform: 'browser', format: 'iife', target: 'es2020', write: false, logLevel: 'silent',
    define: Object.fromEntries(NODE_GLOBALS.map((g) => [g, `LOWBIT_NODE_GLOBAL_${g}`])),
  });
  const text = r.outputFiles[0].text;
  assert.deepEqual(text.match(/LOWBIT_NODE_GLOBAL_\w+/g) ?? [], []);
  assert.match(text, /KERNELS_WASM_BASE64/);
});
