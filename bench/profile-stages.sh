#!/bin/bash
# Profile one vgg-small training step (native, b128) at each given commit (default: the stages of
# the fused kernels): check out, tsc, node-gyp rebuild, bench/profile-step.js.
#   bash bench/profile-stages.sh [COMMIT ...]  → bench/results/profile-stages/vgg-small-native-b128-COMMIT.json
set -e
ROOT=$(git rev-parse --show-toplevel)
STAGE=$(mktemp -d -u)
mkdir -p $ROOT/bench/results/profile-stages
for c in ${@:-0b1b865 9e31626 2c8fd50 dcae4b0 54dbcbf 82a08f0}; do
  rm -rf $STAGE; git -C $ROOT worktree prune
  git -C $ROOT worktree add -q --detach $STAGE $c
  cd $STAGE && ln -s $ROOT/node_modules node_modules
  npx tsc -p tsconfig.json > /dev/null 2>&1 || true
  node scripts/build-native.mjs  # the package's own install hook
  node dist/bench/profile-step.js --model vgg-small --backend native --batch 128 2> /tmp/stage-$c.log
  python3 - "$c" "$ROOT" <<'PY'
import json,sys
c,root=sys.argv[1],sys.argv[2]
d=json.load(open('bench/results/profile-vgg-small-native-b128.json'))
d['commit']=c
json.dump(d,open(f'{root}/bench/results/profile-stages/vgg-small-native-b128-{c}.json','w'),indent=2)
print(c, round(d['msPerStep'],1))
PY
  cd $ROOT
done
rm -rf $STAGE; git -C $ROOT worktree prune
