# The runtime against onnxruntime and TF.js on this AVX2 machine after the AVX2 kernel work of
# 2026-12-03 (OpenMP bars, binary rows, small-channel float blocks). Run from a clean commit under
# `freeze` (pauses every other node/python/compiler process):  freeze bash bench/results/infer-avx2-round2.sh [SUFFIX]
# (the first run, without SUFFIX, took vgg-small batch 1 over 50 runs)
set -x
cd "$(dirname "$0")/../.."
git rev-parse HEAD; git status --porcelain --untracked-files=no
cat /proc/loadavg
node dist/bench/infer.js --build vgg-small --quantize binary --runs 200 --batch-runs 10 --layers --kernels native,wasm --name vgg-small-binary-avx2-round2${1:-}
cat /proc/loadavg
node dist/bench/infer.js --build mobilenet-tiny --quantize binary --runs 100 --batch-runs 20 --kernels native,wasm --name mobilenet-tiny-binary-avx2-round2${1:-}
cat /proc/loadavg
node dist/bench/infer.js --build lenet5 --quantize w1a2 --runs 100 --batch-runs 20 --kernels native,wasm --name lenet5-w1a2-avx2-round2${1:-}
cat /proc/loadavg
node dist/bench/infer.js --build lenet5 --quantize w2a2 --runs 100 --batch-runs 20 --kernels native,wasm --name lenet5-w2a2-avx2-round2${1:-}
cat /proc/loadavg
