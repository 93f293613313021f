set -x
cd /work/main
cat /proc/loadavg
node dist/bench/infer.js --build vgg-small --quantize binary --runs 50 --batch-runs 5 --layers --name vgg-small-binary-avx2-round
cat /proc/loadavg
node dist/bench/infer.js --build mobilenet-tiny --quantize binary --runs 100 --batch-runs 10 --name mobilenet-tiny-binary-avx2-round
cat /proc/loadavg
node dist/bench/infer.js --build lenet5 --quantize w1a2 --runs 50 --batch-runs 5 --name lenet5-w1a2-avx2-round
cat /proc/loadavg
node dist/bench/infer.js --build lenet5 --quantize w2a2 --runs 50 --batch-runs 5 --name lenet5-w2a2-avx2-round
cat /proc/loadavg
