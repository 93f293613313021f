# Interleaved A/B of the runtime's native kernels: A = a package root holding dist/ and native/build/ of 3117dd0 (before: the AVX2 first-layer float convolution gathered
# patches for pixel groups touching the padding), B = this
# checkout. Run from a clean commit under `freeze` (pauses every other node/python/compiler process).
#   freeze bash bench/results/avx2-smallc-pad/ab.sh /tmp/rt-signs
set -x
before=$1
cd "$(dirname "$0")/../../.."
git rev-parse HEAD; git status --porcelain --untracked-files=no
cat /proc/loadavg
for m in "vgg-small --quantize binary"; do
  set -- $m
  node bench/infer-ab.mjs --before "$before" --build $1 --quantize $3 --kernels native --rounds 100 --batch-rounds 60 --out bench/results/avx2-smallc-pad/ab-$1-$3.json
  cat /proc/loadavg
done
for root in "$before" .; do for i in 1 2 3; do OMP_NUM_THREADS=1 node bench/results/avx2-smallc-pad/conv1-micro.mjs "$root"; done; done
