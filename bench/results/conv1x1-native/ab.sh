# resnet20 training steps with the 1x1 stride-2 backward-weights on the wasm fallback (base) and
# on the addon's gather + stride-1 oneDNN path (after), alternated, 3 rounds. base = /tmp/ab-base:
# this commit's dist and addon with convBackwardWeights declining 1x1 stride>1 filters again (the
# previous main's behaviour); after = /tmp/ab-after: this commit's dist and addon unchanged.
# Run under `freeze` (every other process paused). One JSON line per run.
cd /work/main
echo "# $(git rev-parse --short=12 HEAD) $(git status --short | grep -v '^??' | wc -l) modified; load $(cat /proc/loadavg)"
for i in 1 2 3; do for d in /tmp/ab-base /tmp/ab-after; do
  for spec in "2 resnet20 float 64 12" "2 resnet20 float 128 6" "2 resnet20 dorefa-w1 64 12" "1 resnet20 float 64 8"; do
    set -- $spec; t=$1; shift
    echo "{\"dir\":\"$d\",\"threads\":$t,\"round\":$i,\"row\":$(cd $d && OMP_NUM_THREADS=$t node dist/bench/vs-pytorch/lowbit-side.js "$@")}"
  done
done; done
echo "# load $(cat /proc/loadavg)"
