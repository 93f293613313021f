cd /work/main/.wt/maxpool
for t in 1 2; do
  echo "== before t$t $(date -u +%T) uptime: $(uptime)" >> /tmp/mp/log.txt
  quiet node dist/bench/vs-pytorch/driver.js --models vgg-small,mobilenet-tiny --variants float,dorefa-w2a2 --batches 64 --steps 6 --reps 2 --max-minutes 4 --threads $t --name before-maxpool-t$t > /tmp/mp/before-t$t.out 2>&1
  echo "   done $(date -u +%T) uptime: $(uptime)" >> /tmp/mp/log.txt
done
for t in 1 2; do
  echo "== profile before t$t $(date -u +%T) uptime: $(uptime)" >> /tmp/mp/log.txt
  OMP_NUM_THREADS=$t quiet node dist/bench/profile-step.js --model mobilenet-tiny --batch 64 --detail 5 --out /tmp/mp/profile-before-t$t.json > /tmp/mp/profile-before-t$t.out 2>&1
  echo "   done $(date -u +%T) uptime: $(uptime)" >> /tmp/mp/log.txt
done
