set -x
cd /work/main
cat /proc/loadavg
node dist/bench/infer.js --build lenet5 --quantize w1a2 --runs 50 --batch-runs 5 --name lenet5-w1a2-avx2-int8
cat /proc/loadavg
node dist/bench/infer.js --build lenet5 --quantize w2a2 --runs 50 --batch-runs 5 --name lenet5-w2a2-avx2-int8
cat /proc/loadavg
node dist/bench/infer.js --build lenet5 --quantize w2a2 --profile --kernels native --runs 50 --batch-runs 5 --name lenet5-w2a2-avx2-int8
cat /proc/loadavg
