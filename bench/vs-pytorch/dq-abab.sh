#!/bin/sh
# The lowbit side of the DQ row only (bench/vs-pytorch/dq-side.ts), two builds alternated per round and batch:
# BEFORE (a built checkout of the older commit: npx tsc -p tsconfig.json, native/build/Release/lowbit_dnnl.node)
# and AFTER (default: this checkout). One JSON line per run, with the load average when it started.
#   quiet sh bench/vs-pytorch/dq-abab.sh > bench/results/vs-pytorch/NAME.jsonl
BEFORE=${BEFORE:?set BEFORE to the older build}
AFTER=${AFTER:-$(pwd)}
for r in 1 2 3 4; do
  for b in 64 128; do
    echo "{\"round\":$r,\"tree\":\"before\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"row\":$(cd "$BEFORE" && OMP_NUM_THREADS=2 node dist/bench/vs-pytorch/dq-side.js $b 4 native)}"
    echo "{\"round\":$r,\"tree\":\"after\",\"loadavg\":\"$(cut -d' ' -f1-3 /proc/loadavg)\",\"row\":$(cd "$AFTER" && OMP_NUM_THREADS=2 node dist/bench/vs-pytorch/dq-side.js $b 4 native)}"
  done
done
