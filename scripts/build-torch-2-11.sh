#!/usr/bin/env bash
# Builds (and optionally tests) the workspace against libtorch 2.11, the release the GPU
# check machine's PyTorch is (2.11.0+cu130), keeping 2.13 the default build.
#
#   bash scripts/build-torch-2-11.sh [--cuda] [--test] [-- CARGO_ARGS...]
#
# tch is tied to one libtorch release: tch 0.26 (the default) compiles only against 2.13's
# headers, tch 0.24 against 2.11's. Cargo cannot carry both as features (both link the native
# library "tch", and Cargo refuses two such packages in one lockfile), so this script builds a
# copy of the tracked sources in target/torch-2.11/src with `tch = "=0.24.0"` and its own
# lockfile, against the 2.11 wheel's libraries in .libtorch/torch-2.11 (or, with --cuda, the
# CUDA-capable .libtorch/torch-2.11-cuda), installed first by scripts/setup-libtorch.sh. The
# binary is target/torch-2.11-cpu/target/release/hnn-bench (or torch-2.11-cuda/...). The
# repository itself is not changed.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
flavour=cpu
test=0
cargo_args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cuda) flavour=cuda ;;
    --test) test=1 ;;
    --) shift; cargo_args=("$@"); break ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-torch-2-11: unknown argument '$1' (expected --cuda, --test, -- CARGO_ARGS)" >&2; exit 2 ;;
  esac
  shift
done

if [[ $flavour == cuda ]]; then
  libtorch="$root/.libtorch/torch-2.11-cuda"
  bash "$root/scripts/setup-libtorch.sh" --version 2.11.0 --cuda --dest "$libtorch"
else
  libtorch="$root/.libtorch/torch-2.11"
  bash "$root/scripts/setup-libtorch.sh" --version 2.11.0 --dest "$libtorch"
fi

work="$root/target/torch-2.11-$flavour"
src="$work/src"
mkdir -p "$src"
# the tracked files as they are in the working tree (edits included), nothing else
(cd "$root" && git ls-files -z --cached --others --exclude-standard |
  tar --null --files-from=- --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$src"
sed -i 's/^tch = "=0\.26\.0"$/tch = "=0.24.0"/' "$src/Cargo.toml"
grep -q '^tch = "=0.24.0"$' "$src/Cargo.toml" || {
  echo "build-torch-2-11: Cargo.toml has no line 'tch = \"=0.26.0\"' to replace" >&2
  exit 1
}
# its own lockfile: the copy of the default one, with tch and torch-sys moved to 0.24
if [[ ! -f "$work/Cargo.lock" ]]; then
  cp "$root/Cargo.lock" "$work/Cargo.lock"
fi
cp "$work/Cargo.lock" "$src/Cargo.lock"
cd "$src"
export LIBTORCH="$libtorch" CARGO_TARGET_DIR="$work/target"
cargo update --quiet -p tch --precise 0.24.0 2>/dev/null || cargo update --quiet -p tch
cp "$src/Cargo.lock" "$work/Cargo.lock"
cargo build --release -p hnn-bench "${cargo_args[@]}"
if [[ $test -eq 1 ]]; then
  cargo test --workspace --no-fail-fast "${cargo_args[@]}"
fi
echo "build-torch-2-11: $CARGO_TARGET_DIR/release/hnn-bench (libtorch $(cat "$libtorch/HNN_LIBTORCH_VERSION"))" >&2
