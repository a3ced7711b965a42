#!/usr/bin/env bash
# Counts what one training step costs in libtorch operations and executed instructions, by
# running the real training loop (crates/hnn-bench/examples/train_steps.rs, one thread) under
# valgrind's callgrind at two step counts and taking the difference (scripts/count-ops.py).
#
#   bash scripts/count-ops.sh [MODEL DIM BATCH ROWS]
#
# Default: the two-body HNN (8-d state, minibatch 200 of 1000 rows). The spring's full batch:
#   bash scripts/count-ops.sh hnn 2 0 750
# Takes about a minute per profile (callgrind runs the program ~50x slower).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
model=${1:-hnn} dim=${2:-8} batch=${3:-200} rows=${4:-1000}
if ! command -v valgrind >/dev/null; then
  echo "count-ops.sh: valgrind is not installed (it provides callgrind); install it first" >&2
  exit 1
fi
cargo build --release -q -p hnn-bench --example train_steps
bin=target/release/examples/train_steps
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
short=2 long=12
for steps in $short $long; do
  valgrind --tool=callgrind --callgrind-out-file="$out/cg.$steps" \
    "$bin" "$model" "$dim" "$batch" "$rows" "$steps" >/dev/null 2>"$out/log.$steps" || {
    cat "$out/log.$steps" >&2
    exit 1
  }
done
echo "model $model, state dimension $dim, batch $batch of $rows rows (0: full batch), one thread"
python3 scripts/count-ops.py "$out/cg.$short" "$out/cg.$long" $((long - short))
