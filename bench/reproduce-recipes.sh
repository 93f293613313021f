#!/usr/bin/env bash
# Reruns recipes at two commits and compares them run by run (same ids, seeds and backends):
#   bash bench/reproduce-recipes.sh BEFORE_COMMIT AFTER_COMMIT recipe-name...
# Each commit is checked out clean in a worktree under /tmp, built with tsc (sharing this
# checkout's node_modules and native addon), and runs `lowbit run recipes/NAME.json`. Outputs:
# bench/results/reproduce/NAME-{before,after}.json (results.json) and NAME-compare.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
before=$1; after=$2; shift 2
out=$root/bench/results/reproduce
mkdir -p "$out"
# SKIP_BEFORE=1 reuses NAME-before.json files already in bench/results/reproduce.
for tag in before after; do
  [ "$tag" = before ] && [ "${SKIP_BEFORE:-0}" = 1 ] && continue
  commit=${!tag}
  wt=/tmp/lowbit-reproduce-$tag
  git -C "$root" worktree remove --force "$wt" 2>/dev/null || true
  git -C "$root" worktree add -q --detach "$wt" "$commit"
  ln -s "$root/node_modules" "$wt/node_modules"
  (cd "$wt" && npx tsc -p tsconfig.json >/dev/null && mkdir -p native/build/Release && cp "$root/native/build/Release/lowbit_dnnl.node" native/build/Release/)
  for r in "$@"; do
    rm -rf "/tmp/lowbit-reproduce-runs/$tag/$r"
    (cd "$wt" && node dist/src/cli/main.js run "recipes/$r.json" --out "/tmp/lowbit-reproduce-runs/$tag/$r" --quiet > /dev/null)
    cp "/tmp/lowbit-reproduce-runs/$tag/$r/results.json" "$out/$r-$tag.json"
  done
  git -C "$root" worktree remove --force "$wt"
done
for r in "$@"; do node "$root/bench/compare-recipes.mjs" "$out/$r-before.json" "$out/$r-after.json" "$before" "$after" > "$out/$r-compare.md"; cat "$out/$r-compare.md"; done
