/**
 * `lowbit/runtime/node` (the bitwise runtime with native kernels and packed-directory reading)
 * loads no TF.js: a child process imports it with a module resolve hook that rejects any
 * '@tensorflow/…' import (naming the importing file), loads a packed export directory written by
 * this process, and runs it; its logits must equal this process's runtime's. The same hook is shown
 * to catch TF.js (src/export/files.ts, which rebuilds TF.js models, fails under it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { buildModel, quantizeModel, ensureBackend } from '../src/index.js';
import { writePacked } from '../src/node.js';
import { createRuntime, jsKernels, nativeKernels, nativeKernelsAvailable, readPackedDir } from '../src/runtime/node.js';
import { mulberry32 } from '../src/random.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `script` (an ES module) in a child node whose resolve hook refuses '@tensorflow/…' imports. */
function runWithoutTfjs(dir: string, script: string) {
  const hooks = join(dir, 'no-tfjs-hooks.mjs');
  writeFileSync(hooks, `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@tensorflow/')) throw new Error('TF.js import: ' + specifier + ' from ' + context.parentURL);
  return next(specifier, context);
}\n`);
  const register = join(dir, 'register.mjs');
  writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);
  // cwd inside the package, so that 'lowbit/runtime/node' resolves through package.json "exports" (a self-reference).
  return spawnSync(process.execPath, ['--import', pathToFileURL(register).href, '--input-type=module', '-e', script], { cwd: repoRoot, encoding: 'utf8' });
}

test("'lowbit/runtime/node' loads no TF.js module, reads a packed directory and runs it (js and, when built, native kernels)", async () => {
  await ensureBackend('wasm');
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-runtime-node-entry-'));
  const model = await quantizeModel(buildModel('lenet5', { seed: 3 }), { kernelQuantizer: 'binary', inputQuantizer: 'binary' });
  const packedDir = writePacked(model, join(dir, 'export')).path;
  model.dispose();
  const r = mulberry32(3);
  const x = Float32Array.from({ length: 2 * 28 * 28 }, () => r());
  writeFileSync(join(dir, 'x.bin'), new Uint8Array(x.buffer));
  const packed = readPackedDir(packedDir);
  const want = Array.from(createRuntime(packed, { kernels: jsKernels }).run(x, 2));
  const native = nativeKernelsAvailable();
  const wantNative = native ? Array.from(createRuntime(packed, { kernels: nativeKernels() }).run(x, 2)) : null;

  const script = `
    import { readFileSync } from 'node:fs';
    const rt = await import('lowbit/runtime/node');
    const buf = readFileSync(${JSON.stringify(join(dir, 'x.bin'))});
    const x = new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
    const dir = ${JSON.stringify(packedDir)};
    const logits = Array.from(rt.loadRuntime(dir, { kernels: rt.jsKernels }).run(x, 2));
    const native = rt.nativeKernelsAvailable();
    const nativeLogits = native ? Array.from(rt.loadRuntime(dir, { kernels: rt.nativeKernels() }).run(x, 2)) : null;
    process.stdout.write(JSON.stringify({ logits, native, nativeLogits, tfjs: globalThis._tfengine !== undefined }));
  `;
  const child = runWithoutTfjs(dir, script);
  assert.equal(child.status, 0, child.stderr);
  const got = JSON.parse(child.stdout);
  assert.equal(got.tfjs, false, 'the runtime created a TF.js engine');
  assert.deepEqual(got.logits, want);
  assert.equal(got.native, native, 'the child finds the addon exactly when this process does');
  assert.deepEqual(got.nativeLogits, wantNative);

  // The hook does catch TF.js: the TF.js side of the export code fails under it, naming the importer.
  const control = runWithoutTfjs(dir, "await import('./dist/src/export/files.js');");
  assert.notEqual(control.status, 0);
  assert.match(control.stderr, /TF\.js import: @tensorflow\/tfjs-[\w-]+ from file:\/\/\S+\.js/);
});
