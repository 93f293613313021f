# lenet5 DoReFa W2/A2 training steps, before (/tmp/ab-after: the dist and addon of 24fac5f, std::tanh)
# and after (this checkout: the inline tanh_f32), alternated, 3 rounds, 1 and 2 threads. Under `freeze`.
cd /work/main
echo "# $(git rev-parse --short=12 HEAD) $(git status --short | grep -v '^??' | wc -l) modified; load $(cat /proc/loadavg)"
for i in 1 2 3; do for d in /tmp/ab-after /work/main; do for spec in "1 lenet5 dorefa-w2a2 64 40" "2 lenet5 dorefa-w2a2 64 40" "2 lenet5 dorefa-w2a2 128 40"; do
  set -- $spec; t=$1; shift
  echo "{\"dir\":\"$d\",\"threads\":$t,\"round\":$i,\"row\":$(cd $d && OMP_NUM_THREADS=$t node dist/bench/vs-pytorch/lowbit-side.js "$@")}"
done; done; done
echo "# load $(cat /proc/loadavg)"
