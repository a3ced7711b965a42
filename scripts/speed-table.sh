#!/usr/bin/env bash
# The speed table: every config under configs/ run fresh into OUT, then each stage set against
# this machine's arithmetic floor (`hnn-bench speed`: wall time, GFLOP, floor at the fp32
# matrix-product rate measured in the same invocation, ratio, peak RSS, the official code's time).
#   bash scripts/speed-table.sh [OUT]     (default runs/speed; about 16 minutes here)
# Run it on an otherwise idle machine: another process lowers the measured rate, and ratios
# below 1 in the table are the sign.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-runs/speed}"
cargo build --release -q -p hnn-bench
target/release/hnn-bench --config configs/ --output-dir "$out" --rerun --no-progress
target/release/hnn-bench speed --output-dir "$out"
