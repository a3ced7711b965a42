#!/usr/bin/env bash
# The GPU check: run on a machine with an NVIDIA GPU, PyTorch 2.11 (CUDA) and no Rust toolchain
# or internet, from the bundle that scripts/gpu-bundle.sh makes (a stripped hnn-bench built
# against libtorch 2.11 with libtorch_cuda linked, and the configs it needs).
#
#   bash scripts/gpu-check.sh [BUNDLE_DIR] [OUT_DIR]     (defaults: gpu-bundle, $OUT or gpu-out)
#
# It finds the machine's torch libraries through its python (PYTHON, default
# /opt/torch/.venv/bin/python3, else python3), prints nvidia-smi, then runs, each under a wall
# budget: the smoke configs on CUDA; spring, two-body and pixels at full size on CUDA; the
# two-body task as a seed ensemble of 1, 8, 32 and 128 seeds (training only) on CUDA and on the
# machine's CPU cores; spring and two-body training on those cores. It writes OUT_DIR/gpu-check.md
# (one table), each run's log under OUT_DIR/logs and its summary.json under OUT_DIR/summaries.
# Everything ends within 8 minutes (the budgets below add up to 460 s).
set -uo pipefail

bundle="${1:-gpu-bundle}"
out="${2:-${OUT:-gpu-out}}"
bin="$bundle/hnn-bench"
# run folders (data, checkpoints, plots) stay in a scratch folder; OUT_DIR gets the table, the
# logs and the summaries only, so that what comes back stays small
scratch="${GPU_CHECK_SCRATCH:-$(mktemp -d)}"
mkdir -p "$out/logs" "$out/summaries"
report="$out/gpu-check.md"
start=$(date +%s)

python="${PYTHON:-/opt/torch/.venv/bin/python3}"
[[ -x "$python" ]] || python=python3
if [[ ! -x "$bin" ]]; then
  echo "gpu-check: $bin is missing; make the bundle with scripts/gpu-bundle.sh" >&2
  exit 2
fi
# The torch wheel's libraries and the nvidia-* packages' beside it, for the dynamic loader.
libs="$("$python" - <<'PY'
import glob, os, sys
try:
    import torch
except Exception as e:
    sys.exit(f"gpu-check: this python cannot import torch: {e}")
root = os.path.dirname(torch.__file__)
site = os.path.dirname(root)
dirs = [os.path.join(root, "lib")] + sorted(set(os.path.dirname(p) for p in glob.glob(os.path.join(site, "nvidia", "**", "lib*.so*"), recursive=True)))
print(":".join(dirs))
print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}", file=sys.stderr)
PY
)" || exit 2
export LD_LIBRARY_PATH="$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

{
  echo "# GPU check"
  echo
  echo "Started $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname); $(nproc) CPU cores."
  echo
  echo '```'
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "nvidia-smi failed"
  echo '```'
  echo
  echo "| run | device | budget s | wall s | exit | hnn training s (all seeds) | test loss (hnn, lowest seed) | energy MSE paper (hnn) | notes |"
  echo "|---|---|---|---|---|---|---|---|---|"
} > "$report"

# run LABEL DEVICE BUDGET_S ARGS...: one hnn-bench invocation into its own output folder.
run() {
  local label="$1" device="$2" budget="$3"
  shift 3
  local dir="$scratch/$label"
  local t0 t1 code
  t0=$(date +%s.%N)
  timeout "$budget" "$bin" --no-progress --output-dir "$dir" --set "experiment.device=\"$device\"" "$@" \
    > "$out/logs/$label.log" 2>&1
  code=$?
  t1=$(date +%s.%N)
  local wall loss energy train note=""
  wall=$(awk "BEGIN { printf \"%.1f\", $t1 - $t0 }")
  loss="—"
  energy="—"
  train="—"
  read -r loss energy train < <("$python" - "$dir" <<'PY'
import glob, json, os, sys
paths = sorted(glob.glob(os.path.join(sys.argv[1], "**", "summary.json"), recursive=True))
runs = [json.load(open(p)) for p in paths]
if not runs:
    print("— — —")
    sys.exit()
first = min(runs, key=lambda s: s["seed"])
m = {x["name"]: x for x in first["models"]}.get("hnn")
loss = f'{m["test_loss"]["mean"]:.3e}' if m else "—"
e = first.get("energy", {}).get("paper", {}).get("models", {}).get("hnn", {}).get("energy_mse")
# an ensemble's members each carry their share of its training time
train = sum(s["timings"]["train"].get("hnn", 0.0) for s in runs)
print(loss, f'{e["mean"]:.3e}' if e else "—", f"{train:.1f}")
PY
)
  [[ $code -eq 124 ]] && note="over its budget"
  [[ $code -ne 0 && $code -ne 124 ]] && note="$(grep -m1 -i error "$out/logs/$label.log" | cut -c1-120)"
  echo "| $label | $device | $budget | $wall | $code | $train | $loss | $energy | $note |" >> "$report"
  (cd "$scratch" && find "$label" -name summary.json -print0 2>/dev/null | tar --null -T - -cf -) |
    tar -xf - -C "$out/summaries"
  echo "gpu-check: $label on $device: exit $code, $wall s" >&2
}

cfg="$bundle/configs"
smoke="$bundle/tests"
# 1. the test-sized configs on CUDA (every stage once)
run smoke cuda 20 --config "$smoke/smoke.toml"
run smoke-two-body cuda 20 --config "$smoke/smoke-two-body.toml"
run smoke-pixels cuda 20 --config "$smoke/smoke-pixels.toml"
# 2. full size on CUDA
run spring cuda 50 --config "$cfg/spring.toml"
run two-body cuda 70 --config "$cfg/two-body.toml"
run pixels cuda 80 --config "$cfg/pixels.toml"
# 3. two-body seed ensembles, training only: 2000 steps on 100 trajectories per seed (the data
#    of 128 seeds at full size would take the whole budget to generate), CUDA and the CPU
ens=(--config "$cfg/two-body.toml" --ensemble on --set train.steps=2000
     --set data.trajectories=100
     --set eval.paper.enabled=false --set eval.corrected.enabled=false)
for k in 1 8 32 128; do
  run "two-body-x$k" cuda 25 "${ens[@]}" --seeds "0-$((k - 1))"
done
run two-body-x1-cpu cpu 15 "${ens[@]}" --seeds 0 --set "experiment.threads=$(nproc)"
run two-body-x8-cpu cpu 45 "${ens[@]}" --seeds 0-7 --set "experiment.threads=$(nproc)"
# 4. the HNN's training alone at full size on the machine's CPU cores, for the per-task ratio (compare
#    summary.json's timings.train with the CUDA runs')
train_only=(--set 'train.models=["hnn"]' --set model.dissipation_penalty=0 --set eval.paper.enabled=false
            --set eval.corrected.enabled=false --set "experiment.threads=$(nproc)")
run spring-cpu cpu 20 --config "$cfg/spring.toml" "${train_only[@]}"
run two-body-cpu cpu 20 --config "$cfg/two-body.toml" "${train_only[@]}"
echo >> "$report"
echo "Seeds per minute of an ensemble: seeds x 60 / wall s of its row (training and data only)." >> "$report"
echo "Finished in $(( $(date +%s) - start )) s." >> "$report"
cat "$report"
