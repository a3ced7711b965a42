#!/usr/bin/env bash
# Mutation testing of the numerical code: which single-line bugs does no test catch?
#   bash scripts/mutants.sh              hnn-ode, hnn-physics, hnn-models' LNN and NODE+SO,
#                                        and hnn-bench's protocol, training and metrics files
#   bash scripts/mutants.sh hnn-ode      one crate (or the listed files of hnn-models, hnn-bench)
#   bash scripts/mutants.sh runs         hnn-bench's run lifecycle (runs.rs) and sanity layer
#                                        (degenerate models): the library's tests first, then
#                                        what they miss against tests/robustness.rs, which runs
#                                        whole processes (signals, nohup, reuse, collapse)
# Extra arguments after the crate go to cargo mutants (e.g. --re 'group_stats', or --iterate
# to re-test only what the last run in the same output folder did not catch).
# Results: mutants.out/<crate>/ (missed.txt lists the survivors; unexplained.txt those that are
# not on the reviewed list of equivalent mutants, scripts/mutants-equivalent.txt, whose names
# carry line numbers: an edit that moves one shows it again, to be re-reviewed). Not part of CI: a full pass
# takes hours on two cores, most of it rebuilding libtorch-linked test binaries.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! cargo mutants --version >/dev/null 2>&1; then
  echo "installing cargo-mutants (once)" >&2
  cargo install cargo-mutants --locked
fi
# libtorch on one thread, as in the tests
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
crates=("${1:-all}")
[[ "${crates[0]}" == all ]] && crates=(hnn-ode hnn-physics hnn-models hnn-bench runs)
shift || true
for c in "${crates[@]}"; do
  files=()
  package=$c
  tests=()
  timeout=60
  process_pass=false
  if [[ "$c" == runs ]]; then
    package=hnn-bench
    timeout=120
    files=(--file crates/hnn-bench/src/runs.rs --file crates/hnn-bench/src/lib.rs
           --file crates/hnn-bench/src/train.rs
           --re 'src/runs\.rs|degenerate|every_rollout_failed|constant_energy|field_test_loss')
    tests=(--cargo-test-arg=--lib)
    process_pass=true
  elif [[ "$c" == hnn-bench ]]; then
    # the protocol, training and metrics code; only the library's own tests are built per
    # mutant (the binary and doc tests add a libtorch link each and test nothing here)
    files=(--file crates/hnn-bench/src/eval.rs --file crates/hnn-bench/src/train.rs
           --file crates/hnn-bench/src/tasks/learner.rs --file crates/hnn-bench/src/tasks/rollout.rs
           --file 'crates/hnn-bench/src/metrics/*.rs')
    tests=(--cargo-test-arg=--lib)
  elif [[ "$c" == hnn-models ]]; then
    # the models beyond the 2019 paper (the rest is covered by hnn-bench's end-to-end tests)
    files=(--file crates/hnn-models/src/lnn.rs --file crates/hnn-models/src/node_so.rs)
    tests=(--cargo-test-arg=--lib)
  fi
  out="mutants.out/$c"
  mkdir -p "$out"
  set +e
  cargo mutants --package "$package" "${files[@]}" "${tests[@]}" --output "$out" \
    --timeout $timeout "$@"
  status=$?
  if [[ $process_pass == true && $status -eq 2 ]]; then
    # what the library's tests missed, again against the runner's whole-process tests
    # (--iterate skips the mutants caught above; the baseline is skipped because cargo
    # mutants runs it on the mutated package's tests, not on --test-package's)
    dir="$out/mutants.out"
    echo "$c, library tests: caught $(wc -l < "$dir/caught.txt"), missed $(wc -l < "$dir/missed.txt"), unviable $(wc -l < "$dir/unviable.txt"), timeout $(wc -l < "$dir/timeout.txt"); testing the missed against tests/robustness.rs"
    cargo mutants --package "$package" "${files[@]}" --iterate --baseline skip \
      --test-package hnn --cargo-test-arg=--test --cargo-test-arg=robustness \
      --output "$out" --timeout 300 "$@"
    status=$?
  fi
  set -e
  # exit 2: some mutants were missed; 0: all caught; anything else is a real failure
  if [[ $status -ne 0 && $status -ne 2 ]]; then exit $status; fi
  dir="$out/mutants.out"
  echo "$c: caught $(wc -l < "$dir/caught.txt"), missed $(wc -l < "$dir/missed.txt"), unviable $(wc -l < "$dir/unviable.txt"), timeout $(wc -l < "$dir/timeout.txt")"
  # survivors not on the reviewed list of equivalent mutants are lines no test checks
  grep -v '^#' scripts/mutants-equivalent.txt | cut -f1 | grep -v '^$' > "$dir/equivalent.names" || true
  if [[ ! -s "$dir/missed.txt" ]]; then
    echo "$c: no mutant missed"
  elif grep -vxF -f "$dir/equivalent.names" "$dir/missed.txt" > "$dir/unexplained.txt"; then
    echo "$c: $(wc -l < "$dir/unexplained.txt") missed and not known equivalent:"
    cat "$dir/unexplained.txt"
  else
    echo "$c: every missed mutant is a known equivalent (scripts/mutants-equivalent.txt)"
  fi
done
