#!/usr/bin/env bash
# Runs one experiment config over several seeds and tabulates losses and energy MSEs, to show
# how much of a single-seed result is seed-to-seed variation.
#
#   scripts/seed-sweep.sh configs/spring.toml 0 1 2 3 4
#
# Each seed gets a normal run directory under runs-sweep/seed<N>/ (override with OUT=...).
set -euo pipefail
if [[ $# -lt 2 ]]; then
  echo "usage: $0 CONFIG SEED [SEED...]" >&2
  exit 2
fi
config="$1"; shift
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${OUT:-$root/runs-sweep}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
[[ -r "$config" ]] || { echo "seed-sweep: cannot read config $config" >&2; exit 2; }
cargo build --release -q -p hnn-bench --manifest-path "$root/Cargo.toml"
summaries=()
for seed in "$@"; do
  [[ "$seed" =~ ^[0-9]+$ ]] || { echo "seed-sweep: seed '$seed' is not a non-negative integer" >&2; exit 2; }
  # replace the seed line of [experiment] (or add one)
  awk -v s="$seed" '
    /^\[experiment\]/ { print; print "seed = " s; inexp = 1; next }
    /^\[/ { inexp = 0 }
    inexp && /^seed[ \t]*=/ { next }
    { print }' "$config" > "$tmp/seed$seed.toml"
  "$root/target/release/hnn-bench" --config "$tmp/seed$seed.toml" --output-dir "$out/seed$seed" --no-progress \
    >/dev/null 2>"$tmp/log$seed" || { cat "$tmp/log$seed" >&2; exit 1; }
  # newest run of this seed (run directories are named by UTC time)
  summaries+=("$(ls -d "$out/seed$seed"/*/*/summary.json | sort | tail -1)")
done
python3 - "${summaries[@]}" <<'PY'
import json, statistics, sys
rows = [json.load(open(p)) for p in sys.argv[1:]]
print("| seed | baseline test loss | HNN test loss | baseline energy (paper) | HNN energy (paper) | ratio (paper) | ratio (corrected) |")
print("|---|---|---|---|---|---|---|")
ratios = []
for s in rows:
    m, e = s["models"], s["energy"]
    def en(p, k):
        return e[p]["models"][k]["energy_mse"]["mean"] if p in e else float("nan")
    r = en("paper", "baseline") / en("paper", "hnn")
    ratios.append(r)
    print(f"| {s['seed']} | {m['baseline']['test_loss']['mean']:.4e} | {m['hnn']['test_loss']['mean']:.4e} | "
          f"{en('paper','baseline'):.4e} | {en('paper','hnn'):.4e} | {r:.0f}x | {en('corrected','baseline')/en('corrected','hnn'):.0f}x |")
print(f"\nmedian baseline/HNN energy ratio (paper protocol): {statistics.median(ratios):.0f}x over {len(rows)} seeds")
PY
