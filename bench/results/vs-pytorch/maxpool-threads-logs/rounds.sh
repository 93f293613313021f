cd /work/main/.wt/maxpool
tag=$1
echo "# $tag $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in 1 2 3; do for t in 1 2; do
  line=$(OMP_NUM_THREADS=$t node dist/bench/profile-step.js --model mobilenet-tiny --batch 64 --detail 5 --out /tmp/mp/prof-$tag-t$t-r$r.json 2>&1 | head -1)
  echo "r$r t$t | $line | load $(cut -d' ' -f1 /proc/loadavg)"
done; done
