echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in 1 2; do for d in before after; do
  dir=/work/main/.wt/maxpool; [ $d = before ] && dir=/tmp/mp/before
  line=$(cd $dir && OMP_NUM_THREADS=1 node dist/bench/profile-step.js --model vgg-small --batch 64 --detail 3 --out /tmp/mp/prof-vgg3-$d-r$r.json 2>&1 | grep -E "ms/step|MaxPool" | tr '\n' ' ')
  echo "r$r $d t1 | $line | load $(cut -d' ' -f1 /proc/loadavg)"
done; done
