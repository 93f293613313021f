# bench/thread-order-probe.mjs in 5 processes each at OMP_NUM_THREADS=4 and 2: with the partials
# added in thread order every process must print the same line. Then the same probe against
# /tmp/ab-after (the dist and addon of 24fac5f, omp critical, tail on whichever thread), 5 processes
# at 4 threads (its SRQ line; it has no RQ lanes).
cd /work/main
echo "# $(git rev-parse --short=12 HEAD) $(git status --short | grep -v '^??' | wc -l) modified; load $(cat /proc/loadavg)"
for t in 4 2; do echo "this commit, OMP_NUM_THREADS=$t:"; for i in 1 2 3 4 5; do OMP_NUM_THREADS=$t node bench/thread-order-probe.mjs 2>&1 | tail -1 | cut -c1-120; done | sort | uniq -c; done
mkdir -p /tmp/ab-after/bench && cp bench/thread-order-probe.mjs /tmp/ab-after/bench/
echo "24fac5f (critical), OMP_NUM_THREADS=4:"; for i in 1 2 3 4 5; do (cd /tmp/ab-after && OMP_NUM_THREADS=4 node bench/thread-order-probe.mjs 2>&1 | tail -1 | cut -c1-120); done | sort | uniq -c
