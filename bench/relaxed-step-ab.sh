#!/bin/sh
# One lenet5 training step (batch 128, W2/A2, Adam) per relaxed method, with native/relaxed.cc's
# lanes off and on (LOWBIT_RELAXED_LANES=0/1), alternated over ROUNDS rounds, one OpenMP thread:
# dist/bench/srq-memory.js (msPerStep: wall ms per step, mean of 4 timed steps) per arm and round.
# Writes bench/results/relaxed-fused/step-ab/lanes{0,1}-r{N}.json and a header with the commit and
# /proc/loadavg before and after.  Run under `quiet` on a shared machine:
#   npm run build && quiet sh bench/relaxed-step-ab.sh [ROUNDS]
set -e
ROUNDS=${1:-2}
OUT=bench/results/relaxed-fused/step-ab
mkdir -p "$OUT"
{
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . ':!bench/results' || echo ' (dirty)')"
  echo "loadavg before: $(cat /proc/loadavg)"
} > "$OUT/header.txt"
r=0
while [ "$r" -lt "$ROUNDS" ]; do
  for lanes in 0 1; do
    LOWBIT_RELAXED_LANES=$lanes OMP_NUM_THREADS=1 node dist/bench/srq-memory.js --backend native --batch 128 --timed-steps 4 \
      --variants ste,rq,rq-st,srq,srq+dropbits --bits 2 --out "$OUT/lanes$lanes-r$r.json" > /dev/null
  done
  r=$((r + 1))
done
echo "loadavg after: $(cat /proc/loadavg)" >> "$OUT/header.txt"
node -e '
const fs = require("fs"); const dir = process.argv[1]; const rounds = Number(process.argv[2]);
const ms = {};
for (let r = 0; r < rounds; r++) for (const l of ["0", "1"]) for (const row of JSON.parse(fs.readFileSync(`${dir}/lanes${l}-r${r}.json`)).rows) (ms[`${row.variant}|${l}`] ??= []).push(row.msPerStep);
const med = (v) => { const s = [...v].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
const lines = ["variant | wall ms/step lanes off (median of rounds) | on | off/on"];
for (const v of ["ste", "rq", "rq-st", "srq", "srq+dropbits"]) { const a = med(ms[`${v}|0`]), b = med(ms[`${v}|1`]); lines.push(`${v} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${(a / b).toFixed(2)}x`); }
fs.appendFileSync(`${dir}/header.txt`, lines.join("\n") + "\n"); console.log(lines.join("\n"));
' "$OUT" "$ROUNDS"
cat "$OUT/header.txt"
