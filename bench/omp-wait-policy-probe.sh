#!/bin/bash
# Probe: OpenMP wait policy for the native backend on a loaded 2-core machine (a CI run was going on).
cd /work/main
echo "# commit $(git rev-parse --short HEAD) $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg)"
for round in 1 2; do
  for cfg in "OMP_NUM_THREADS=1" "OMP_NUM_THREADS=2" "OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive"; do
    line=$(env $cfg node dist/bench/profile-step.js --model mobilenet-tiny --batch 64 2>&1 | grep -m1 'ms/step')
    echo "round $round | $cfg | $line | load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
