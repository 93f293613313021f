# Interleaved A/B of the runtime's native kernels: A = a package root holding dist/ and
# native/build/ of 490c787 (before: OpenMP bars 2^24 binary words, 2^27 int8, 2^26 float), B = this
# checkout. Run from a clean commit under `freeze` (pauses every other node/python/compiler process).
#   freeze bash bench/results/omp-bars/ab.sh /tmp/rt-base
set -x
before=$1
cd "$(dirname "$0")/../../.."
git rev-parse HEAD; git status --porcelain --untracked-files=no
cat /proc/loadavg
for m in "vgg-small --quantize binary" "mobilenet-tiny --quantize binary" "lenet5 --quantize w1a2" "lenet5 --quantize w2a2"; do
  set -- $m
  node bench/infer-ab.mjs --before "$before" --build $1 --quantize $3 --kernels native --rounds 100 --batch-rounds 60 --out bench/results/omp-bars/ab-$1-$3.json
  cat /proc/loadavg
done
