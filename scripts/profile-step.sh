#!/usr/bin/env bash
# Where a training step's CPU time goes on N libtorch threads: the real training loop
# (crates/hnn-bench/examples/train_steps.rs) under `perf record -e cpu-clock` (every thread
# sampled once per 0.25 ms of its CPU time), at two step counts; the difference is that many
# plain steps (start-up, data and the first and last log step are the same in both). The
# samples are grouped by what ran (scripts/profile-step.py): MKL's matrix products, OpenMP
# threads waiting for each other, MKL's tanh and sqrt, libtorch's element-wise kernels, malloc
# and copies, the kernel (page faults, memory maps), and operator dispatch, autograd and the
# rest. Unlike count-ops.sh (instructions on one thread) this sees time, so it shows what a
# second thread costs.
#
#   bash scripts/profile-step.sh [MODEL DIM BATCH ROWS STEPS THREADS]
#
# Default: the two-body baseline (8-d state, minibatch 200 of 1000 rows), 3000 steps, 2 threads.
# Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
model=${1:-baseline} dim=${2:-8} batch=${3:-200} rows=${4:-1000} steps=${5:-3000} threads=${6:-2}
short=$((steps / 5))
if ! command -v perf >/dev/null; then
  echo "profile-step.sh: perf is not installed (linux-tools / linux-perf)" >&2
  exit 1
fi
cargo build --release -q -p hnn-bench --example train_steps
bin=target/release/examples/train_steps
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for n in $short $steps; do
  # wall time from a run of its own: perf's start and its writing of the samples are not a step's
  start=$(date +%s.%N)
  "$bin" "$model" "$dim" "$batch" "$rows" "$n" "$threads" >/dev/null 2>"$out/log" || {
    cat "$out/log" >&2
    exit 1
  }
  awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.3f\n", b - a }' >"$out/wall.$n"
  perf record -q --no-buildid -e cpu-clock -c 250000 -o "$out/perf.$n" \
    "$bin" "$model" "$dim" "$batch" "$rows" "$n" "$threads" >/dev/null 2>"$out/log" || {
    cat "$out/log" >&2
    echo "profile-step.sh: perf record failed (kernel.perf_event_paranoid may forbid it)" >&2
    exit 1
  }
  perf report -i "$out/perf.$n" --no-children --sort dso,symbol -g none --stdio \
    -F sample,dso,sym --field-separator='|' >"$out/report.$n" 2>/dev/null
done
echo "model $model, state dimension $dim, batch $batch of $rows rows (0: full batch), $threads libtorch threads; steps $short to $steps"
python3 scripts/profile-step.py "$out/report.$short" "$out/report.$steps" $((steps - short)) \
  "$(cat "$out/wall.$short")" "$(cat "$out/wall.$steps")" 4000
