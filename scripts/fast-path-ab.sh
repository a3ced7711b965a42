#!/usr/bin/env bash
# The CPU fast path's effect on whole runs: the same configs run twice back to back by the same
# binary, first with MKL's own vendor check (HNN_MKL_AVX512=off), then with the fast path
# (HNN_MKL_AVX512=auto), each into its own folder; prints both wall times and their ratio, and
# writes `hnn-bench speed`'s table (stages against the physical and the GEMM floor) for each.
#   bash scripts/fast-path-ab.sh [OUT] [hnn-bench arguments...]
#   bash scripts/fast-path-ab.sh runs/ab                      # --config configs/ (~30 minutes here)
#   bash scripts/fast-path-ab.sh runs/ab --config configs/two-body.toml --set train.steps=2000
# Run it on an otherwise idle machine: both halves must see the same load.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-runs/ab}"
shift || true
args=("$@")
if [[ ${#args[@]} -eq 0 ]]; then
  args=(--config configs/)
fi
mkdir -p "$out"
cargo build --release -q -p hnn-bench
bin=target/release/hnn-bench
declare -A wall
for path in off auto; do
  start=$(date +%s.%N)
  HNN_MKL_AVX512=$path "$bin" "${args[@]}" --output-dir "$out/$path" --rerun --no-progress >"$out/$path.log" 2>&1 \
    || { echo "fast-path-ab: the $path run failed; see $out/$path.log" >&2; exit 1; }
  wall[$path]=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  HNN_MKL_AVX512=$path "$bin" speed --output-dir "$out/$path" >/dev/null
done
ratio=$(awk -v a="${wall[off]}" -v b="${wall[auto]}" 'BEGIN { printf "%.3f", b / a }')
echo "wall seconds: off ${wall[off]}, auto ${wall[auto]}, auto/off $ratio"
echo "speed tables: $out/off/speed.md, $out/auto/speed.md"
