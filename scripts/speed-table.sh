#!/usr/bin/env bash
# The speed table: every config under configs/ run fresh into OUT, then each stage set against
# this machine's two floors (`hnn-bench speed`: wall time, GFLOP, the physical floor at the cores'
# measured fp32 FMA peak and the GEMM floor at libtorch's rate for the stage's shape, both
# measured in the same invocation, ratios, peak RSS, the official code's time).
#   bash scripts/speed-table.sh [OUT]     (default runs/speed; about 11 minutes here)
# Run it on an otherwise idle machine: another process lowers the measured rates, and ratios
# below 1 in the table are the sign. scripts/fast-path-ab.sh does the same twice, with MKL's
# own vendor check and with the AVX-512 fast path.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-runs/speed}"
cargo build --release -q -p hnn-bench
target/release/hnn-bench --config configs/ --output-dir "$out" --rerun --no-progress
target/release/hnn-bench speed --output-dir "$out"
