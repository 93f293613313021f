#!/usr/bin/env bash
# Browser bundle size of lowbit/runtime and of the core from a built checkout's dist/, with TF.js
# bundled and external — the same esbuild + gzip commands as bench/install-size.mjs, without the
# npm installs (docs/browser.md, "Installing for the web").
#
#   npx tsc -p tsconfig.json && bash bench/runtime-bundle-size.sh [CHECKOUT] [LABEL]
#
# CHECKOUT: a built tree (dist/ and node_modules/), default this one. Prints each command.
set -euo pipefail -f  # -f: no globbing (--external:@tensorflow/*)
here=$(cd "$(dirname "$0")/.." && pwd)
root=$(cd "${1:-$here}" && pwd)
label=${2:-$(git -C "$root" rev-parse HEAD 2>/dev/null || echo "$root")}
esbuild="$here/node_modules/.bin/esbuild"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
dirty=$(git -C "$root" status --porcelain 2>/dev/null | wc -l || true)
echo "tree: $label ($dirty changed paths), esbuild $("$esbuild" --version), node $(node --version)"
for spec in runtime:dist/src/runtime/index.js core:dist/src/index.js; do
  name=${spec%%:*}; entry=$root/${spec#*:}
  for tf in bundled external; do
    ext=''; [ "$tf" = external ] && ext="--external:@tensorflow/*"
    printf "import * as lowbit from '%s';\nglobalThis.lowbit = lowbit;\n" "$entry" > "$work/$name.js"
    echo "\$ printf \"import * as lowbit from '\$CHECKOUT/${spec#*:}';\\nglobalThis.lowbit = lowbit;\\n\" > $name.js"
    echo "\$ esbuild $name.js --bundle --minify --platform=browser --format=esm $ext --log-level=error --outfile=$name-$tf.min.js"
    "$esbuild" "$work/$name.js" --bundle --minify --platform=browser --format=esm $ext --log-level=error --outfile="$work/$name-$tf.min.js"
    min=$(wc -c < "$work/$name-$tf.min.js")
    gz=$(gzip -9c "$work/$name-$tf.min.js" | wc -c)
    awk -v n="$name" -v t="$tf" -v m="$min" -v g="$gz" 'BEGIN { printf "%s, TF.js %s: %d bytes minified (%.0f KiB), %d bytes gzip -9 (%.0f KiB)\n", n, t, m, m / 1024, g, g / 1024 }'
  done
done
