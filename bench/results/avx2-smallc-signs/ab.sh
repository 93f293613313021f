# Interleaved A/B of the runtime's native kernels: A = a package root holding dist/ and native/build/ of 958d7cd (before: the AVX2 first-layer float convolution wrote floats
# and a separate pass packed their signs; threads from 2^24), B = this
# checkout. Run from a clean commit under `freeze` (pauses every other node/python/compiler process).
#   freeze bash bench/results/avx2-smallc-signs/ab.sh /tmp/rt-cur
set -x
before=$1
cd "$(dirname "$0")/../../.."
git rev-parse HEAD; git status --porcelain --untracked-files=no
cat /proc/loadavg
for m in "vgg-small --quantize binary" "lenet5 --quantize w2a2"; do
  set -- $m
  node bench/infer-ab.mjs --before "$before" --build $1 --quantize $3 --kernels native --rounds 100 --batch-rounds 60 --out bench/results/avx2-smallc-signs/ab-$1-$3.json
  cat /proc/loadavg
done
