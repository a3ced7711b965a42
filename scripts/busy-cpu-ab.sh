#!/usr/bin/env bash
# What one other busy process does to a run, by libtorch thread count: the spring config
# (600 steps) on free cores and beside a busy loop (`yes > /dev/null`), on every thread count
# from 1 to the cores, alternated, REPS times (default 2). Prints per run the wall time,
# each model's training seconds, the evaluation's, and what the run measured when it started
# (its product rate, that rate's share of the cores' FMA peak, and whether it warned that the
# cores were busy). Run it on an otherwise idle machine.
#
#   bash scripts/busy-cpu-ab.sh [OUT [REPS]]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out=${1:-runs-busy}
reps=${2:-2}
cores=$(nproc)
cargo build --release -q -p hnn-bench
bin=target/release/hnn-bench
mkdir -p "$out"
hog=
trap '[[ -n $hog ]] && kill $hog 2>/dev/null; true' EXIT
printf '| rep | cores | threads | wall s | train s (baseline / hnn / dhnn) | eval s | GFLOP/s at start | share of peak | warned busy |\n'
printf '|---|---|---|---|---|---|---|---|---|\n'
for rep in $(seq 1 "$reps"); do
  for load in free busy; do
    for threads in $(seq "$cores" -1 1); do
      tag="$out/r$rep-$load-t$threads"
      rm -rf "$tag"
      if [[ $load == busy ]]; then
        yes > /dev/null &
        hog=$!
      fi
      start=$(date +%s.%N)
      "$bin" -c configs/spring.toml --set train.steps=600 --set experiment.threads="$threads" \
        --output-dir "$tag" > "$tag.log" 2>&1
      end=$(date +%s.%N)
      if [[ -n $hog ]]; then
        kill $hog
        wait $hog 2>/dev/null || true
        hog=
      fi
      python3 - "$tag" "$rep" "$load" "$threads" "$start" "$end" <<'PY'
import glob, json, sys
tag, rep, load, threads, start, end = sys.argv[1:]
run = sorted(glob.glob(f"{tag}/spring/*/summary.json"))[0].rsplit("/", 1)[0]
t = json.load(open(f"{run}/summary.json"))["timings"]
m = json.load(open(f"{run}/meta.json"))
train = " / ".join(f"{t['train'][k]:.2f}" for k in ("baseline", "hnn", "dhnn"))
share = m.get("matmul_share_of_peak_at_start")
print(f"| {rep} | {load} | {threads} | {float(end) - float(start):.1f} | {train} | "
      f"{t['eval']:.2f} | {m['matmul_gflops_at_start']:.1f} | "
      f"{'—' if share is None else f'{share:.2f}'} | {'yes' if m['cores_busy_at_start'] else 'no'} |")
PY
    done
  done
done
