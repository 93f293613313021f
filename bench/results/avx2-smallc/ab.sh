# Interleaved A/B of the runtime's native kernels: A = a package root holding dist/ and native/build/ of 1c1fa2c (before: the AVX2 small-channel float
# convolution with 4–8 accumulators), B = this
# checkout. Run from a clean commit under `freeze` (pauses every other node/python/compiler process).
#   freeze bash bench/results/avx2-smallc/ab.sh /tmp/rt-nb4
set -x
before=$1
cd "$(dirname "$0")/../../.."
git rev-parse HEAD; git status --porcelain --untracked-files=no
cat /proc/loadavg
for m in "lenet5 --quantize w2a2" "lenet5 --quantize w1a2" "vgg-small --quantize binary" "mobilenet-tiny --quantize binary"; do
  set -- $m
  node bench/infer-ab.mjs --before "$before" --build $1 --quantize $3 --kernels native --rounds 100 --batch-rounds 60 --out bench/results/avx2-smallc/ab-$1-$3.json
  cat /proc/loadavg
done
