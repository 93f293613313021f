import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as lowbit from '../src/index.js';

const nodeOnly = new Set([...builtinModules, 'commander', 'cli-progress', 'mnist']);

/** Every module reachable from `entry` through static relative imports, with its bare imports. */
function importGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const visit = (file: string) => {
    if (graph.has(file)) return;
    const src = readFileSync(file, 'utf8');
    const specs = [...src.matchAll(/(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\s+'([^']+)'/g)].map((m) => m[1] ?? m[2]);
    graph.set(file, specs.filter((s) => !s.startsWith('.')));
    for (const s of specs.filter((s) => s.startsWith('.'))) visit(join(dirname(file), s));
  };
  visit(entry);
  return graph;
}

test("the 'lowbit' entry (library core) imports no Node-only module", () => {
  const entry = fileURLToPath(new URL('../src/index.js', import.meta.url));
  for (const [file, bare] of importGraph(entry)) {
    for (const spec of bare) {
      assert.ok(!spec.startsWith('node:') && !nodeOnly.has(spec), `${file} imports Node-only '${spec}'`);
    }
  }
});

test('the package root exports tf and setBackend', async () => {
  assert.equal(typeof lowbit.tf.tidy, 'function');
  assert.equal(typeof lowbit.tf.layers.dense, 'function');
  await lowbit.setBackend('cpu');
  assert.equal(lowbit.tf.getBackend(), 'cpu');
  await lowbit.setBackend('wasm');
  assert.equal(lowbit.tf.getBackend(), 'wasm');
  await assert.rejects(lowbit.setBackend('webgl'), /backend 'webgl' needs a browser: in Node use wasm, cpu or native/);
  await assert.rejects(lowbit.setBackend('tpu'), /unknown backend 'tpu': choose one of wasm, cpu, native, webgl, webgpu/);
  assert.equal(lowbit.getBackendName(), 'wasm');
});

test('every recipe under recipes/ validates against the published schema', async () => {
  const { readdirSync } = await import('node:fs');
  const { validateRecipe, RECIPE_SCHEMA_PATH } = await import('../src/recipes/run.js');
  const dir = dirname(RECIPE_SCHEMA_PATH);
  const recipes = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'recipe.schema.json');
  assert.ok(recipes.length > 0);
  for (const f of recipes) validateRecipe(JSON.parse(readFileSync(join(dir, f), 'utf8')), f);
});
