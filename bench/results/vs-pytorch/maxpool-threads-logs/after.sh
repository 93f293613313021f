cd /work/main/.wt/maxpool
run() { # name, extra env
  echo "== $1 start $(date -u +%T) uptime: $(uptime)" >> /tmp/mp/log.txt
  env $3 node dist/bench/vs-pytorch/driver.js --models vgg-small,mobilenet-tiny --variants float,dorefa-w2a2 --batches 64 --steps 6 --reps 2 --max-minutes 4 --threads $2 --name $1 > /tmp/mp/$1.out 2>&1
  echo "   $1 done $(date -u +%T) uptime: $(uptime)" >> /tmp/mp/log.txt
}
run after-maxpool-t1 1 ""
run after-maxpool-t2 2 ""
run after-maxpool-t2-spin300000 2 "GOMP_SPINCOUNT=300000"
