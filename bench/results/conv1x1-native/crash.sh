# Exit codes (0 ok, 134 SIGABRT, 139 SIGSEGV) of 16 processes of bench/conv1x1-crash.mjs bwdw (50
# native 1×1 stride-2 backward-weights calls each, now through the addon's strided gather + stride-1
# oneDNN kernel), then of test/native.test.js 8 times (it has 5 such cases).
cd /work/main
echo "# $(git rev-parse --short=12 HEAD) $(git status --short | grep -v '^??' | wc -l) modified; load $(cat /proc/loadavg)"
echo -n "bwdw: "; for i in $(seq 16); do node bench/conv1x1-crash.mjs bwdw > /dev/null 2>&1; echo -n "$? "; done; echo
echo -n "node dist/test/native.test.js: "; for i in $(seq 8); do node dist/test/native.test.js > /dev/null 2>&1; echo -n "$? "; done; echo
