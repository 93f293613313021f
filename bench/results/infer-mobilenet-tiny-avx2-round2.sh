#!/bin/bash
# Second measurement round, on db5e288 (run as one `quiet` command: quiet bash bench/results/infer-mobilenet-tiny-avx2-round2.sh).
# Before = /tmp/rt-before (dist + addon of 2a37648, this branch's base).
cd /work/main/.wt/rt
R=bench/results
run() { echo "### $(date -u +%H:%M:%S) loadavg $(cat /proc/loadavg) :: $*"; "$@"; echo "### done loadavg $(cat /proc/loadavg)"; }
(cd /tmp/rt-before && run node dist/bench/infer.js --build mobilenet-tiny --quantize binary --runs 100 --batch-runs 10 --out /work/main/.wt/rt/$R/infer-mobilenet-tiny-binary-avx2-before-3.json)
run node dist/bench/infer.js --build mobilenet-tiny --quantize binary --runs 100 --batch-runs 10 --out $R/infer-mobilenet-tiny-binary-avx2-after-3.json
run node bench/infer-ab.mjs --before /tmp/rt-before --rounds 200 --batch-rounds 20 --out $R/infer-ab-mobilenet-tiny-binary-avx2-db5e288.json
run node dist/bench/infer.js --build mobilenet-tiny --quantize binary --runs 200 --batch-runs 20 --profile --kernels native,wasm --out $R/profile-mobilenet-tiny-binary-avx2-after-db5e288.json
