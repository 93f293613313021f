/**
 * The core's backend life cycle (docs/browser.md): importing 'lowbit' starts nothing; the first
 * evaluate/train starts wasm; getBackendName tells what TF.js computes on; options that come too
 * late and unknown backends are refused with the fix. This file imports only the core, never
 * 'lowbit/node' (which starts wasm at import, as Node always has).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tf, evaluate, getBackendName, setBackend, LowbitError } from '../src/index.js';

const atImport = getBackendName();

test('importing the core starts no backend; the first evaluate starts wasm', async () => {
  assert.equal(atImport, undefined);
  assert.equal(tf.getBackend(), undefined);
  // Two one-hot "images" of 10 pixels that are their own logits.
  const set = { images: Float32Array.from([0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, 0, 0]), labels: Uint8Array.from([1, 3]), count: 2 };
  const r = await evaluate((x) => tf.reshape(x, [-1, 10]), set, [1, 1, 10], 10);
  assert.equal(getBackendName(), 'wasm');
  assert.equal(r.accuracy, 0.5);
});

test('getBackendName reports what TF.js computes on, also after a direct tf.setBackend', async () => {
  await setBackend('wasm');
  await tf.setBackend('cpu');
  assert.equal(getBackendName(), 'cpu');
  await setBackend('wasm');
  assert.equal(getBackendName(), 'wasm');
});

test('wasm options after wasm started and unknown backends are refused with the fix', async () => {
  await setBackend('wasm');
  await assert.rejects(setBackend('wasm', { wasmPaths: '/wasm/' }), (e: Error) => e instanceof LowbitError
    && /wasmPaths and threads must be given before the wasm backend first starts/.test(e.message));
  await assert.rejects(setBackend('wasm', { threads: 0 }), /wasmPaths and threads must be given before/);
  await assert.rejects(setBackend('tpu'), (e: Error) => e instanceof LowbitError
    && e.message === "unknown backend 'tpu': choose one of wasm, cpu, native, webgl, webgpu");
  await assert.rejects(setBackend('native'), /Node-only: import from 'lowbit\/node'/);
  assert.equal(getBackendName(), 'wasm');
});
