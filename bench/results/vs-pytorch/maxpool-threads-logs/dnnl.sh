cd /work/main/.wt/maxpool
echo "# $(date -u +%T) load $(cut -d' ' -f1-3 /proc/loadavg)"
for r in 1 2 3 4; do
  for cfg in "c873 1" "c873 2" "dnnl1 2"; do
    set -- $cfg
    cp /tmp/mp/addon-$1.node native/build/Release/lowbit_dnnl.node
    line=$(OMP_NUM_THREADS=$2 node dist/bench/profile-step.js --model mobilenet-tiny --batch 64 --out /tmp/mp/w.json 2>&1 | grep -m1 'ms/step')
    line2=$(OMP_NUM_THREADS=$2 node dist/bench/profile-step.js --model vgg-small --batch 64 --out /tmp/mp/w.json 2>&1 | grep -m1 'ms/step')
    echo "r$r | $1 t$2 | $line | $line2 | load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
cp /tmp/mp/addon-dnnl1.node native/build/Release/lowbit_dnnl.node
