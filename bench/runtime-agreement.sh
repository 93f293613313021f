#!/usr/bin/env bash
# Runtime vs TF.js top-1 agreement (issue 20) on trained models, through the lowbit CLI only:
# for each model of the runtime table — DoReFa W1/A2 lenet5, SRQ W2/A2 lenet5, binary vgg-small
# (W1/A1: binary kernels with per-channel α and RSign inputs, first and last layers float, as
# `quantize --method bitat --variant plain` makes it) and BiTAT mobilenet-tiny — train a float
# teacher briefly, quantize it briefly (agreement, not accuracy, is the point: epochs and training
# subsets below), export the packed format, and run `lowbit verify --runtime` on the first
# $IMAGES Fashion-MNIST test images with each kernel set (native when the addon is built, wasm,
# js). Then bench/runtime-agreement.mjs looks image by image at where the logits differ, and
# writes bench/results/runtime-agreement.{json,md}.
#
#   npm run build && bash bench/runtime-agreement.sh [WORK_DIR]
#
# WORK_DIR (default /tmp/lowbit-runtime-agreement) holds the run directories; it must not exist.
# Training runs with OMP_NUM_THREADS=1 (other jobs share the machine; not a timing benchmark).
# Seed 0 everywhere. The dataset is /usr/share/datasets/fashion-mnist (or $LOWBIT_DATA_DIR).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
work=${1:-/tmp/lowbit-runtime-agreement}
IMAGES=${IMAGES:-2000}
out=bench/results/runtime-agreement
if [ -e "$work" ]; then echo "$work exists: pass a new WORK_DIR" >&2; exit 2; fi
mkdir -p "$work" bench/results
commands=()
# Runs a command, echoing it (with $work spelled WORK) into the command list and the log.
run() {
  local shown="$*"
  shown=${shown//"$work"/WORK}
  commands+=("$shown")
  echo "\$ $shown"
  "$@"
}
lowbit() { run node dist/src/cli/main.js "$@"; }
train() { run env OMP_NUM_THREADS=1 node dist/src/cli/main.js "$@"; }

kernels=(wasm js)
if node -e "import('./dist/src/runtime/node.js').then((r) => process.exit(r.nativeKernelsAvailable() ? 0 : 1))"; then kernels=(native wasm js); fi
echo "runtime kernel sets: ${kernels[*]}"

runs_json=()
# model NAME LABEL TRAINING-DESCRIPTION QUANTIZE-ARGS… (the teacher is $teacher)
model() {
  local name=$1 label=$2 training=$3
  shift 3
  train quantize "$@" --teacher "$teacher" --seed 0 --out "$work/$name"
  lowbit export "$work/$name" --format packed
  for k in "${kernels[@]}"; do
    # verify exits 1 when agreement < 99.9 % or max|Δlogit| > 0.5: recorded, not fatal.
    lowbit verify "$work/$name" --runtime --runtime-kernels "$k" --images "$IMAGES" --json "$work/$name.verify-$k.json" || echo "(verify exit $?)"
  done
  commands+=("node bench/runtime-agreement.mjs analyze WORK/$name --images $IMAGES > WORK/$name.analysis.json")
  echo "\$ ${commands[-1]}"
  node bench/runtime-agreement.mjs analyze "$work/$name" --images "$IMAGES" > "$work/$name.analysis.json"
  runs_json+=("{\"name\":\"$name\",\"label\":\"$label\",\"training\":\"$training\"}")
}

# lenet5: a float teacher, 1 epoch on 10,000 training images.
teacher=$work/lenet5-float
train train --model lenet5 --dataset fashion-mnist --epochs 1 --train-subset 10000 --seed 0 --out "$teacher"
model lenet5-dorefa-w1a2 'DoReFa W1/A2 lenet5' 'teacher 1 epoch on 10,000 images; DoReFa 1 epoch on 10,000 images' \
  --method dorefa --wbits 1 --abits 2 --epochs 1 --train-subset 10000
model lenet5-srq-w2a2 'SRQ W2/A2 lenet5' 'teacher 1 epoch on 10,000 images; SRQ 1 epoch on 10,000 images' \
  --method srq --wbits 2 --abits 2 --epochs 1 --train-subset 10000

# vgg-small: a float teacher, 1 epoch on 6,000 images; binary plain QAT, 1 epoch per binarized layer on 3,000 images.
teacher=$work/vgg-small-float
train train --model vgg-small --dataset fashion-mnist --epochs 1 --train-subset 6000 --seed 0 --out "$teacher"
model vgg-small-binary 'binary vgg-small (W1/A1, RSign)' 'teacher 1 epoch on 6,000 images; bitat --variant plain (all layers binary at once), 1 epoch per binarized layer, no final epochs, on 3,000 images' \
  --method bitat --variant plain --epochs-per-layer 1 --final-epochs 0 --train-subset 3000

# mobilenet-tiny: a float teacher, 2 epochs on 6,000 images; BiTAT, 1 epoch per layer + 1 final, on 3,000 images.
teacher=$work/mobilenet-tiny-float
train train --model mobilenet-tiny --dataset fashion-mnist --epochs 2 --train-subset 6000 --seed 0 --out "$teacher"
model mobilenet-tiny-bitat 'BiTAT mobilenet-tiny (W1/A1)' 'teacher 2 epochs on 6,000 images; BiTAT 1 epoch per layer + 1 final epoch on 3,000 images, distilled' \
  --method bitat --variant bitat --distill --epochs-per-layer 1 --final-epochs 1 --train-subset 3000

commit=$(git rev-parse HEAD)
dirty=$(git status --porcelain -- . ':!bench/results' | wc -l)
popcount=$(node -e "import('./dist/src/runtime/node.js').then((r) => console.log(r.nativeKernelsAvailable() ? r.nativeKernels().popcount : 'no addon'))")
{
  printf '{"command":"bash bench/runtime-agreement.sh","commit":"%s","dirty":%s,"date":"%s","node":"%s","popcount":"%s","images":%s,"kernelSets":["%s"],\n' \
    "$commit" "$([ "$dirty" = 0 ] && echo false || echo true)" "$(date -u +%Y-%m-%dT%H:%MZ)" "$(node --version)" "$popcount" "$IMAGES" "$(IFS='|'; echo "${kernels[*]}" | sed 's/|/","/g')"
  printf '"runs":[%s],\n' "$(IFS=,; echo "${runs_json[*]}")"
  printf '"commands":['
  sep=''
  for c in "${commands[@]}"; do printf '%s%s' "$sep" "$(node -e 'process.stdout.write(JSON.stringify(process.argv[1]))' "$c")"; sep=','; done
  printf ']}\n'
} > "$work/runs.json"
node bench/runtime-agreement.mjs summary "$work" "$out"
echo "wrote $out.json and $out.md"
