#!/usr/bin/env bash
# The model comparison: baseline (a first-order neural ODE), NODE+SO, HNN, LNN and D-HNN, each
# trained with the derivative objective and through the integrator (the rollout objective), on
# the spring, the pendulum, the real pendulum, the two-body task and the damped spring.
#
#   scripts/compare.sh [OUT] [-- extra hnn-bench arguments]
#
# OUT (default runs/compare) gets one run folder per system, objective and seed, and
# OUT/table1.md with the median and range over the seeds. SEEDS (default 0-4) and JOBS
# (default 2: two runs at a time, one libtorch thread each) come from the environment; HNN_BENCH
# names the binary (default target/release/hnn-bench, built if missing). Seeds run as separate
# runs (--ensemble off), so that JOBS of them run at once whatever the model family.
#
# Every run is its shipped config (configs/<system>.toml) with three changes, the same for all:
# - train.models = the five models; experiment.name = <system>-<objective>;
# - eval.max_seconds = 900: the LNN's field is a double backward pass per evaluation, and the
#   two-body protocols need more than the default 60 s per batched solve;
# - the rollout objective takes windows of 5 states, RK4, and minibatches of ROLLOUT_BATCH
#   windows (default 100; each window costs 16 field evaluations where a derivative sample
#   costs one, so full-batch rollout training would cost 14-16x the derivative objective).
# Runs already finished under OUT with the same resolved config are reused, so the script
# resumes where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:-runs/compare}
shift $(($# > 0 ? 1 : 0))
[[ ${1:-} == "--" ]] && shift
seeds=${SEEDS:-0-4}
jobs=${JOBS:-2}
rollout_batch=${ROLLOUT_BATCH:-100}
bin=${HNN_BENCH:-target/release/hnn-bench}
if [[ ! -x $bin ]]; then
    cargo build --release -p hnn-bench
fi

models='train.models=["baseline","node-so","hnn","lnn","dhnn"]'
start=$(date +%s)
failed=()
# cheapest first: the two-body task's rollout training is about a third of the whole
for system in spring pendulum real-pendulum damped-spring two-body; do
    for objective in derivatives rollout; do
        sets=(--set "$models" --set "experiment.name=$system-$objective"
              --set "train.objective=$objective" --set eval.max_seconds=900)
        if [[ $objective == rollout ]]; then
            sets+=(--set train.rollout.window=5 --set train.rollout.integrator=rk4
                   --set "train.batch_size=$rollout_batch")
        fi
        # a model that diverges is a result (marked in the table), not the end of the suite
        "$bin" -c "configs/$system.toml" --seeds "$seeds" --jobs "$jobs" --ensemble off --no-progress \
            --output-dir "$out" "${sets[@]}" "$@" || failed+=("$system-$objective")
    done
done
"$bin" table --output-dir "$out"
echo "compare.sh: $(( $(date +%s) - start )) s wall time, seeds $seeds, $jobs jobs" | tee "$out/wall-time.txt"
if (( ${#failed[@]} )); then
    echo "compare.sh: runs with a failed or diverged model: ${failed[*]} (see $out/table1.md)" | tee -a "$out/wall-time.txt"
fi
