# Interleaved A/B of the runtime's native kernels: A = a package root holding dist/ and native/build/ of 1494a99 (before: one block of 8 output channels per pass, one AVX2 binary row with
# per-block epilogue branches and per-pixel tap bounds for 1×1 kernels), B = this
# checkout. Run from a clean commit under `freeze` (pauses every other node/python/compiler process).
#   freeze bash bench/results/avx2-binary-blocks/ab.sh /tmp/rt-bars
set -x
before=$1
cd "$(dirname "$0")/../../.."
git rev-parse HEAD; git status --porcelain --untracked-files=no
cat /proc/loadavg
for m in "vgg-small --quantize binary" "mobilenet-tiny --quantize binary" "resnet20 --quantize binary"; do
  set -- $m
  node bench/infer-ab.mjs --before "$before" --build $1 --quantize $3 --kernels native --rounds 100 --batch-rounds 60 --out bench/results/avx2-binary-blocks/ab-$1-$3.json
  cat /proc/loadavg
done
