run() { # dir name threads
  echo "== $2 ($1) start $(date -u +%T) uptime: $(uptime)" >> /tmp/mp/final-log.txt
  (cd $1 && node dist/bench/vs-pytorch/driver.js --models vgg-small,mobilenet-tiny --variants float,dorefa-w2a2 --batches 64 --steps 6 --reps 2 --max-minutes 4 --threads $3 --name $2 > /tmp/mp/$2.out 2>&1)
  echo "   $2 done $(date -u +%T) uptime: $(uptime)" >> /tmp/mp/final-log.txt
}
W=/work/main/.wt/maxpool; B=/tmp/mp/before
for r in b c; do
  run $B before-maxpool-t1-$r 1
  run $W after-maxpool-t1-$r 1
  run $B before-maxpool-t2-$r 2
  run $W after-maxpool-t2-$r 2
done
