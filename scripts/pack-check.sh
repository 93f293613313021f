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
