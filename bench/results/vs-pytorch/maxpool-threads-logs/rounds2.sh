cd /work/main/.wt/maxpool
echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in 1 2 3; do for cfg in "t1 OMP_NUM_THREADS=1" "t2 OMP_NUM_THREADS=2" "t3 OMP_NUM_THREADS=2 GOMP_SPINCOUNT=300000"; do
  set -- $cfg; tag=$1; shift
  line=$(env "$@" node dist/bench/profile-step.js --model mobilenet-tiny --batch 64 --detail 5 --out /tmp/mp/prof-spin-$tag-r$r.json 2>&1 | head -1)
  echo "r$r $tag $* | $line | load $(cut -d' ' -f1 /proc/loadavg)"
done; done
