/**
 * `lowbit verify DIR --runtime`: the packed export in the bitwise runtime against the TF.js model,
 * and bad packed input through the CLI (exit 2, one line, nothing written). Backend-independent.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, truncateSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildModel, quantizeModel, ensureBackend } from '../src/index.js';
import { saveModelDir, writePacked } from '../src/node.js';
import { firstPassOnly } from './helpers.js';

const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const lowbit = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });

test('lowbit verify --runtime: binary lenet5 agrees with TF.js; bad packed input exits 2 with one line before any work', { skip: firstPassOnly }, async () => {
  await ensureBackend('wasm');
  const root = mkdtempSync(join(tmpdir(), 'lowbit-runtime-'));
  const dir = join(root, 'binary');
  const model = await quantizeModel(buildModel('lenet5', { seed: 2 }), { kernelQuantizer: { kind: 'dorefa', bits: 1 }, inputQuantizer: 'binary' });
  mkdirSync(dir);
  await saveModelDir(model, dir);
  writeFileSync(join(dir, 'lowbit.json'), JSON.stringify({ dataset: 'mnist' }));
  writePacked(model, join(dir, 'export'));

  const json = join(root, 'verify.json');
  const ok = lowbit(['verify', dir, '--runtime', '--runtime-kernels', 'js', '--images', '100', '--backend', 'wasm', '--json', json]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /^runtime ok {3}top-1 agreement 100\.00% {2}max\|Δlogit\| \S+ .* on 100 mnist test images \(js kernels; layers on float\/binary\)\n$/);
  const result = JSON.parse(readFileSync(json, 'utf8')).results.runtime;
  assert.equal(result.top1Agreement, 1);
  assert.ok(result.maxAbsDelta < 1e-4, `max |Δlogit| ${result.maxAbsDelta}`);

  const damaged = (name: string, edit: (packed: string) => void) => {
    const copy = join(root, name);
    cpSync(dir, copy, { recursive: true });
    edit(join(copy, 'export', 'packed'));
    return copy;
  };
  const truncated = damaged('truncated', (p) => truncateSync(join(p, 'packed.bin'), statSync(join(p, 'packed.bin')).size - 10));
  const manifest = (p: string, f: (m: { version: number; modelTopology: { config: { layers: Array<{ class_name: string }> } } }) => void) => {
    const m = JSON.parse(readFileSync(join(p, 'packed.json'), 'utf8'));
    f(m);
    writeFileSync(join(p, 'packed.json'), JSON.stringify(m));
  };
  const version = damaged('version', (p) => manifest(p, (m) => { m.version = 2; }));
  const layer = damaged('layer', (p) => manifest(p, (m) => { m.modelTopology.config.layers[2].class_name = 'GRU'; }));
  const rows: Array<[string, string[], RegExp]> = [
    ['truncated packed.bin', [truncated, '--runtime'], /packed: weights file is truncated \(\d+ bytes, the manifest needs \d+\); copy packed\.bin again/],
    ['another format version', [version, '--runtime'], /packed format version 2, this runtime reads version 1: export the model again/],
    ['an unsupported layer', [layer, '--runtime'], /the runtime cannot run bn1 \(GRU\); it runs Conv2D, .* use unpackModel/],
  ];
  for (const [what, args, re] of rows) {
    const out = join(root, `${what.replace(/\W+/g, '-')}.json`);
    const r = lowbit(['verify', ...args, '--images', '8', '--json', out]);
    assert.equal(r.status, 2, `${what}: exit ${r.status} (${r.stderr})`);
    assert.match(r.stderr, re, what);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${what}: one line (${r.stderr})`);
    assert.equal(r.stdout, '', `${what}: nothing printed`);
    assert.ok(!existsSync(out), `${what}: nothing written`);
  }
});
