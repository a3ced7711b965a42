#!/usr/bin/env bash
# Clones the repository into a new folder and runs the README's two quick-start commands there
# twice each (first run: libtorch install and builds; second run: everything cached), then CI's
# entry point, printing each one's exit code and wall time. Use it before landing a change to
# setup, the build or the README.
#
#   scripts/fresh-clone-check.sh [DEST]     (DEST defaults to a new temporary folder)
set -uo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$(mktemp -d)/hnn}"
[[ -e "$dest" ]] && { echo "fresh-clone-check: $dest already exists" >&2; exit 2; }
git clone -q "$src" "$dest" || exit 1
cd "$dest" || exit 1
run_cmd="$(grep -m1 '^bash scripts/setup-libtorch.sh && cargo run' README.md)"
test_cmd="$(awk '/<!-- ci:test-command -->/{a=1;next} a&&/^```/{if(i)exit;i=1;next} a&&i{print}' README.md)"
[[ -n "$run_cmd" && -n "$test_cmd" ]] || { echo "fresh-clone-check: README commands not found" >&2; exit 1; }
status=0
timed() {
  local label="$1" cmd="$2" log="$3" start end rc
  start=$(date +%s.%N)
  bash -c "$cmd" >"$log" 2>&1
  rc=$?
  end=$(date +%s.%N)
  printf '%-16s exit %d  %7.1f s   (log: %s)\n' "$label" "$rc" "$(echo "$end - $start" | bc)" "$log"
  [[ $rc -eq 0 ]] || status=1
}
echo "clone: $dest"
echo "run:   $run_cmd"
echo "test:  $test_cmd"
timed "run, 1st" "$run_cmd" "$dest/../run1.log"
timed "test, 1st" "$test_cmd" "$dest/../test1.log"
timed "run, 2nd" "$run_cmd" "$dest/../run2.log"
timed "test, 2nd" "$test_cmd" "$dest/../test2.log"
timed ".ci/run" "CI=true bash .ci/run" "$dest/../ci.log"
exit $status
