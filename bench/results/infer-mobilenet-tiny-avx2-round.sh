#!/bin/bash
# Final measurement round (run from the worktree). Before = /tmp/rt-before (dist + addon of 2a37648).
cd /work/main/.wt/rt
R=bench/results
run() { echo "### $(date -u +%H:%M:%S) loadavg $(cat /proc/loadavg) :: $*"; "$@"; echo "### done loadavg $(cat /proc/loadavg)"; }
for i in 1 2; do
  (cd /tmp/rt-before && run quiet node dist/bench/infer.js --build mobilenet-tiny --quantize binary --runs 100 --batch-runs 10 --out /work/main/.wt/rt/$R/infer-mobilenet-tiny-binary-avx2-before-$i.json)
  run quiet node dist/bench/infer.js --build mobilenet-tiny --quantize binary --runs 100 --batch-runs 10 --out $R/infer-mobilenet-tiny-binary-avx2-after-$i.json
done
run quiet node bench/infer-ab.mjs --before /tmp/rt-before --rounds 200 --batch-rounds 20 --out $R/infer-ab-mobilenet-tiny-binary-avx2.json
run quiet node bench/infer-ab.mjs --before /tmp/rt-before --build vgg-small --rounds 100 --batch-rounds 10 --out $R/infer-ab-vgg-small-binary-avx2.json
(cd /tmp/rt-before && run quiet node dist/bench/infer.js --build mobilenet-tiny --quantize binary --runs 200 --batch-runs 20 --profile --kernels native,wasm --out /work/main/.wt/rt/$R/profile-mobilenet-tiny-binary-avx2-before.json)
run quiet node dist/bench/infer.js --build mobilenet-tiny --quantize binary --runs 200 --batch-runs 20 --profile --kernels native,wasm --out $R/profile-mobilenet-tiny-binary-avx2-after.json
