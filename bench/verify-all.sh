#!/usr/bin/env bash
# Export every method's saved model to onnx, qdq, qdq4, qonnx and packed, and verify each on 2,000
# Fashion-MNIST test images; one JSON per model under bench/results/verify/.
#   bash bench/verify-all.sh RUN_DIR...
set -euo pipefail
mkdir -p bench/results/verify
for dir in "$@"; do
  name=$(echo "$dir" | tr '/' '_')
  node dist/src/cli/main.js export "$dir" --format onnx,qdq,qdq4,qonnx,packed
  node dist/src/cli/main.js verify "$dir" --images 2000 --json "bench/results/verify/$name.json"
done
