cd /work/main/.wt/maxpool
echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
export SIZES=32768,100352,200704,401408 REPS=300
for r in 1 2; do
 for cfg in "OMP_NUM_THREADS=1 GAP_US=50" "OMP_NUM_THREADS=2 GAP_US=50" "OMP_NUM_THREADS=2 GAP_US=50 GOMP_SPINCOUNT=3000" "OMP_NUM_THREADS=2 GAP_US=0 GOMP_SPINCOUNT=3000"; do env $cfg node bench/omp-threshold-probe.mjs; done
done
echo "# end $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
