# Exit codes of 8 processes per case (0 ok, 134 SIGABRT, 139 SIGSEGV): the oneDNN 1x1 stride-2
# convolution kernels with the wasm fallback for backward-weights removed (/tmp/nofix: this
# checkout's dist with native.ts's `return null` for that case replaced by a no-op), then this
# checkout (the fallback in place); then test/native.test.js 6 times.
cd /work/main
git rev-parse --short=12 HEAD; git status --short | head -3; cat /proc/loadavg
for w in fwd bwdd bwdw; do echo -n "without the fallback, $w: "; for i in 1 2 3 4 5 6 7 8; do node /tmp/nofix/bench/conv1x1-crash.mjs $w > /dev/null 2>&1; echo -n "$? "; done; echo; done
for w in fwd bwdd bwdw; do echo -n "with the fallback, $w: "; for i in 1 2 3 4 5 6 7 8; do node bench/conv1x1-crash.mjs $w > /dev/null 2>&1; echo -n "$? "; done; echo; done
echo -n "node dist/test/native.test.js, with the fallback: "; for i in 1 2 3 4 5 6; do node dist/test/native.test.js > /dev/null 2>&1; echo -n "$? "; done; echo
