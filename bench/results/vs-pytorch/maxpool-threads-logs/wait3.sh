cd /work/main/.wt/maxpool
echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in 1 2 3 4 5; do
  for cfg in "OMP_NUM_THREADS=1" "OMP_NUM_THREADS=2" "OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive" "OMP_NUM_THREADS=2 GOMP_SPINCOUNT=3000" "OMP_NUM_THREADS=2 GOMP_SPINCOUNT=30000"; do
    line=$(env $cfg node dist/bench/profile-step.js --model mobilenet-tiny --batch 64 --out /tmp/mp/w.json 2>&1 | grep -m1 'ms/step')
    echo "r$r | $cfg | $line | load $(cut -d' ' -f1 /proc/loadavg) | runq $(awk '{print $4}' /proc/loadavg)"
  done
done
