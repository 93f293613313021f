cd /work/main/.wt/maxpool
echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in 1 2; do for t in 1 2; do OMP_NUM_THREADS=$t node bench/omp-threshold-probe.mjs; done; done
echo "# end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
