#!/usr/bin/env bash
# A learned HNN integrated for 10^5 steps of h = 0.2 (about 6400 periods): symplectic (implicit
# midpoint) vs RK4 at the same step. Trains the spring HNN (configs/spring.toml, seed 0) once
# per integrator and rolls it out from 5 states over t in [0, 20000]; the "Rollout metrics"
# section of <out>/table1.md then gives each one's relative energy drift at t = 20000.
#   bash scripts/long-rollout-demo.sh [OUT]     (default runs/long-rollout)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
out="${1:-runs/long-rollout}"
for integrator in rk4 implicit-midpoint; do
  cargo run --release -q -p hnn-bench -- --config configs/spring.toml --output-dir "$out" --no-progress \
    --set experiment.name="long-$integrator" --set 'train.models=["hnn"]' \
    --set eval.paper.enabled=false --set eval.corrected.trajectories=5 \
    --set 'eval.corrected.t_span=[0.0, 20000.0]' --set eval.corrected.points=1001 \
    --set eval.corrected.integrator="$integrator" --set eval.corrected.step=0.2 \
    --set eval.max_steps=2000000 --set eval.max_seconds=1800 2>/dev/null
done
cargo run --release -q -p hnn-bench -- table --output-dir "$out" >/dev/null
sed -n '/## Rollout metrics/,/^## /p' "$out/table1.md"
