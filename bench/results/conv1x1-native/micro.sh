# The two resnet20 projection filter gradients, kernel alone (bench/conv1x1-bwdw-micro.mjs), in
# /tmp/ab-base (this commit's dist + addon, convBackwardWeights declining 1×1 stride>1 to the wasm
# fallback as the previous main did; fallbackCalls > 0) and /tmp/ab-after (this commit unchanged),
# alternated, 3 rounds × 2 thread counts. Run under `freeze`.
cd /work/main
for d in /tmp/ab-base /tmp/ab-after; do mkdir -p $d/bench && cp bench/conv1x1-bwdw-micro.mjs $d/bench/; done
echo "# $(git rev-parse --short=12 HEAD) $(git status --short | grep -v '^??' | wc -l) modified; load $(cat /proc/loadavg)"
for i in 1 2 3; do for t in 1 2; do for d in /tmp/ab-base /tmp/ab-after; do
  echo "{\"dir\":\"$d\",\"round\":$i,\"row\":$(cd $d && OMP_NUM_THREADS=$t node bench/conv1x1-bwdw-micro.mjs 64 5)}"
done; done; done
echo "# load $(cat /proc/loadavg)"
