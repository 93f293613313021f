#!/bin/bash
# DCQ W1 on vgg-small with --train-subset before (94a7352) and after (e23ecb3) the fix that makes
# section jobs train on the same subset as the feature cache. Needs the recipe teacher
# (npx lowbit run recipes/dcq-vgg-small-fashion-mnist.json).
#   bash bench/dcq-train-subset-fix.sh → bench/results/dcq-train-subset-fix.log
set -e
ROOT=$(git rev-parse --show-toplevel)
STAGE=$(mktemp -d -u)
out=$ROOT/bench/results/dcq-train-subset-fix.log
: > $out
for c in 94a7352 e23ecb3; do
  rm -rf $STAGE; git -C $ROOT worktree prune
  git -C $ROOT worktree add -q --detach $STAGE $c
  cd $STAGE && ln -s $ROOT/node_modules node_modules && ln -s $ROOT/runs runs
  npx tsc -p tsconfig.json > /dev/null 2>&1 || true
  mkdir -p native/build/Release && cp $ROOT/native/build/Release/lowbit_dnnl.node native/build/Release/
  cmd="node dist/src/cli/main.js quantize --method dcq --teacher runs/dcq-vgg-small-fashion-mnist/teacher --wbits 1 --abits 32 --epochs-per-section 1 --train-subset 12000 --batch 128 --workers 0 --lr 0.001 --seed 0 --out /tmp/dcq-bug-$c --quiet"
  rm -rf /tmp/dcq-bug-$c
  echo "# commit $c: $cmd" >> $out
  $cmd >> $out 2>&1
  python3 -c "
import json; m=json.load(open('/tmp/dcq-bug-$c/lowbit.json'))
print('stitched test', m['test']['accuracy'], 'sections', [(s['name'], round(s['valLoss'],4), s['testAccuracy']) for s in m['sections']])" >> $out
  cd $ROOT
done
rm -rf $STAGE; git -C $ROOT worktree prune
