#!/usr/bin/env node
/**
 * Builds `lowbit-core`, the browser subset of `lowbit`, from the same build (docs/browser.md,
 * "Installing for the web"). `lowbit` stays the complete Node package; `lowbit-core` holds exactly
 * the compiled files reachable from the two browser-safe entries, byte for byte the same as in
 * `lowbit` (same relative paths under dist/src/), so its exports are lowbit's root and runtime
 * exports. Its dependencies are only the npm packages that file set imports; TF.js is a peer.
 *
 *   node scripts/pack-core.mjs [--pack-destination DIR] [--no-pack]
 *
 * Needs `npm run build` first. Stages dist/core-package/ (package.json, README.md, LICENSE if any,
 * dist/src/**.js + .d.ts) and runs `npm pack` there; prints the tarball's file name last.
 * The file set comes from the import graph, never a hand list: the JS files are esbuild's metafile
 * inputs of a bundle of the entries with every npm package external (so static and literal dynamic
 * imports are followed); the .d.ts files are those files' declarations plus every declaration they
 * import (type-only imports are erased from the JS, so the declarations are walked separately).
 * A Node builtin, an undeclared package or a Node-only package in the graph is an error.
 */
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** The browser-safe entries, as compiled by tsc, and their subpaths in both packages. */
export const CORE_ENTRIES = { '.': 'dist/src/index.js', './runtime': 'dist/src/runtime/index.js' };
/** TF.js packages the core uses: peer dependencies of lowbit-core (the app picks one copy). */
export const TFJS_PEERS = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm'];
/** Optional backends (lowbit never imports them; docs/browser.md). */
export const TFJS_OPTIONAL_PEERS = ['@tensorflow/tfjs-backend-webgl', '@tensorflow/tfjs-backend-webgpu'];
/** Dependencies of `lowbit` that must never reach lowbit-core (Node-only, or heavy and unused by the core). */
export const NODE_ONLY_PACKAGES = ['onnxruntime-node', 'mnist', 'vega', 'vega-lite', 'onnx-proto', 'protobufjs', 'bullmq', 'ioredis', 'commander', 'cli-progress', 'csv-parse', 'pngjs', 'jpeg-js', 'ajv'];
export const STAGE_DIR = 'dist/core-package';

const BUILTINS = new Set(builtinModules);
const isBuiltin = (spec) => spec.startsWith('node:') || BUILTINS.has(spec.split('/')[0]);
/** 'pkg/sub' → 'pkg', '@scope/pkg/sub' → '@scope/pkg'. */
export const packageName = (spec) => spec.split('/').slice(0, spec.startsWith('@') ? 2 : 1).join('/');

/** Relative and bare module specifiers of a declaration file (`from '…'`, `import '…'`, `import('…')`). */
function declarationImports(text) {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const specs = [];
  for (const m of code.matchAll(/\bfrom\s+['"]([^'"]+)['"]|\bimport\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) specs.push(m[1] ?? m[2] ?? m[3]);
  return specs;
}

/**
 * The core's file set, from the import graph of the compiled entries (paths relative to `root`).
 * Returns `{ js, dts, packages, problems }`: `packages` maps each npm package the core imports (in
 * JS or in declarations) to the files importing it; `problems` lists Node builtin imports and
 * unresolved declaration imports, one line each (empty when the core is browser-safe).
 */
export async function coreFiles(root = ROOT) {
  const entries = Object.values(CORE_ENTRIES).map((e) => join(root, e));
  for (const e of entries) if (!existsSync(e)) throw new Error(`pack-core: ${relative(root, e)} is missing: run \`npm run build\` first`);
  const r = await build({
    entryPoints: entries, absWorkingDir: root, bundle: true, write: false, metafile: true, outdir: join(root, '.pack-core-unused'),
    platform: 'neutral', format: 'esm', splitting: true, packages: 'external', logLevel: 'silent',
    // Node builtins stay external too, so they show up below as imports instead of failing the build.
    external: [...builtinModules, 'node:*'],
  });
  const packages = new Map();
  const problems = [];
  const note = (spec, file) => {
    if (isBuiltin(spec)) problems.push(`${file} imports the Node builtin '${spec}'`);
    else {
      const name = packageName(spec);
      if (!packages.has(name)) packages.set(name, new Set());
      packages.get(name).add(file);
    }
  };
  const js = Object.keys(r.metafile.inputs).sort();
  for (const file of js) {
    if (!file.startsWith('dist/src/') || !file.endsWith('.js')) problems.push(`${file} is not a compiled lowbit module`);
    // A file loaded by URL (a Worker script, an asset) is no import: esbuild does not follow it.
    if (/new URL\([^)]*import\.meta\.url/.test(readFileSync(join(root, file), 'utf8'))) problems.push(`${file} loads a file by URL (new URL(…, import.meta.url)), which the import graph does not see`);
    for (const imp of r.metafile.inputs[file].imports) if (imp.external) note(imp.path, file);
  }
  // Declarations: each JS file's .d.ts, and whatever they import (type-only modules included).
  const dts = new Set();
  const visit = (file) => {
    if (dts.has(file)) return;
    const abs = join(root, file);
    if (!existsSync(abs)) { problems.push(`${file} is missing (declaration of the core)`); return; }
    dts.add(file);
    const text = readFileSync(abs, 'utf8');
    for (const m of text.matchAll(/\/\/\/\s*<reference\s+types="([^"]+)"/g)) {
      if (m[1] === 'node') problems.push(`${file} references Node's types (/// <reference types="node" />)`);
      else note(m[1], file);
    }
    for (const spec of declarationImports(text)) {
      if (spec.startsWith('.')) visit(relative(root, join(dirname(abs), spec.replace(/\.js$/, '.d.ts'))));
      else note(spec, file);
    }
  };
  for (const file of js) visit(file.replace(/\.js$/, '.d.ts'));
  return { js, dts: [...dts].sort(), packages, problems };
}

/** lowbit-core's package.json: lowbit's version and metadata, the core's dependencies only. */
export function corePackageJson(rootPkg, packages) {
  const deps = {};
  const peers = {};
  for (const name of [...packages.keys()].sort()) {
    const range = rootPkg.dependencies?.[name] ?? rootPkg.peerDependencies?.[name];
    if (!range) throw new Error(`pack-core: the core imports '${name}', which lowbit's package.json does not list as a dependency`);
    if (NODE_ONLY_PACKAGES.includes(name)) throw new Error(`pack-core: the core imports the Node-only package '${name}' (${[...packages.get(name)].join(', ')})`);
    if (TFJS_PEERS.includes(name) || TFJS_OPTIONAL_PEERS.includes(name)) peers[name] = range;
    else deps[name] = range;
  }
  for (const name of TFJS_PEERS) peers[name] ??= rootPkg.dependencies[name];
  for (const name of TFJS_OPTIONAL_PEERS) peers[name] ??= rootPkg.peerDependencies?.[name] ?? rootPkg.devDependencies[name];
  const exports = {};
  for (const [sub, file] of Object.entries(CORE_ENTRIES)) exports[sub] = { types: `./${file.replace(/\.js$/, '.d.ts')}`, default: `./${file}` };
  return {
    name: 'lowbit-core',
    version: rootPkg.version,
    description: `The browser subset of lowbit (${rootPkg.description.replace(/\.$/, '')}): the same code as the 'lowbit' and 'lowbit/runtime' entries, without the Node-only parts.`,
    type: 'module',
    license: rootPkg.license,
    ...(rootPkg.repository ? { repository: rootPkg.repository } : {}),
    engines: rootPkg.engines,
    main: CORE_ENTRIES['.'],
    types: exports['.'].types.slice(2),
    exports,
    files: ['dist'],
    dependencies: deps,
    peerDependencies: Object.fromEntries(Object.entries(peers).sort()),
    peerDependenciesMeta: Object.fromEntries(TFJS_OPTIONAL_PEERS.map((n) => [n, { optional: true }])),
  };
}

function coreReadme(pkg) {
  const peers = TFJS_PEERS.join(' ');
  return `# lowbit-core

The browser subset of [lowbit](https://www.npmjs.com/package/lowbit), quantization-aware training
for TensorFlow.js. It holds exactly the compiled files of lowbit's browser-safe entries, generated
from the same build (scripts/pack-core.mjs in lowbit's repository), so the code is identical:

| import | same as |
| --- | --- |
| \`lowbit-core\` | \`lowbit\` (models, quantizers, \`quantizeModel\`, training, \`runMethod\`, packed format) |
| \`lowbit-core/runtime\` | \`lowbit/runtime\` (bitwise inference on packed models, no TF.js) |

It has no CLI, no dataset files, no ONNX and no native backend: those need Node and are in
\`lowbit\` (\`lowbit/node\`). TF.js is a peer dependency (version ${pkg.peerDependencies['@tensorflow/tfjs-core']}):

\`\`\`sh
npm install lowbit-core ${peers}
\`\`\`

\`\`\`js
import { setBackend, buildModel, quantizeModel, dorefaConfig } from 'lowbit-core';

await setBackend('wasm', { wasmPaths: '/wasm/' });   // or 'cpu'; webgl/webgpu are optional peers
const model = await quantizeModel(buildModel('lenet5', { seed: 0 }), dorefaConfig({ wbits: 1, abits: 32 }));
\`\`\`

Bundling, backends and training in a page: lowbit's docs/browser.md.
`;
}

/** Stages dist/core-package/ from the build; returns the staging directory. */
export async function stageCore(root = ROOT) {
  const { js, dts, packages, problems } = await coreFiles(root);
  if (problems.length > 0) throw new Error(`pack-core: the core is not browser-safe:\n  ${problems.join('\n  ')}`);
  const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const pkg = corePackageJson(rootPkg, packages);
  const stage = join(root, STAGE_DIR);
  rmSync(stage, { recursive: true, force: true });
  for (const file of [...js, ...dts]) {
    mkdirSync(dirname(join(stage, file)), { recursive: true });
    copyFileSync(join(root, file), join(stage, file));
  }
  writeFileSync(join(stage, 'package.json'), JSON.stringify(pkg, null, 2) + '\n');
  writeFileSync(join(stage, 'README.md'), coreReadme(pkg));
  for (const f of ['LICENSE', 'LICENSE.md', 'NOTICE']) if (existsSync(join(root, f))) copyFileSync(join(root, f), join(stage, f));
  return { stage, pkg, js, dts };
}

async function main(argv) {
  let dest = null;
  let pack = true;
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--pack-destination' && argv[i + 1]) dest = resolve(argv[++i]);
    else if (argv[i] === '--no-pack') pack = false;
    else {
      process.stderr.write(`pack-core: unknown argument '${argv[i]}' (usage: node scripts/pack-core.mjs [--pack-destination DIR] [--no-pack])\n`);
      process.exit(2);
    }
  }
  const { stage, pkg, js, dts } = await stageCore();
  process.stderr.write(`pack-core: staged ${relative(ROOT, stage)}: ${js.length} .js + ${dts.length} .d.ts, dependencies ${JSON.stringify(pkg.dependencies)}\n`);
  if (!pack) return;
  const out = execFileSync('npm', ['pack', '--silent', ...(dest ? ['--pack-destination', dest] : [])], { cwd: stage, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  process.stdout.write(out.trim().split('\n').pop() + '\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((e) => {
    process.stderr.write(`${e.message}\n`);
    process.exit(1);
  });
}
