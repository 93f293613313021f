cd /work/main/.wt/maxpool
echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in 1 2 3; do
  for cfg in "1|" "2|" "2|--single-threaded-gc" "1|--single-threaded-gc"; do
    t=${cfg%%|*}; fl=${cfg#*|}
    line=$(OMP_NUM_THREADS=$t node $fl dist/bench/profile-step.js --model mobilenet-tiny --batch 64 --out /tmp/mp/gc.json 2>&1 | grep -m1 'ms/step')
    echo "r$r t$t $fl | $line | load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
