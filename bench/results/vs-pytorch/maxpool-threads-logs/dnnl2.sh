cd /work/main/.wt/maxpool
for r in 1 2 3 4 5; do
  for a in c873 dnnl1; do
    cp /tmp/mp/addon-$a.node native/build/Release/lowbit_dnnl.node
    line2=$(OMP_NUM_THREADS=2 node dist/bench/profile-step.js --model vgg-small --batch 64 --out /tmp/mp/w.json 2>&1 | grep -m1 'ms/step')
    echo "r$r | $a t2 | $line2 | load $(cut -d' ' -f1 /proc/loadavg)"
  done
done
cp /tmp/mp/addon-dnnl1.node native/build/Release/lowbit_dnnl.node
