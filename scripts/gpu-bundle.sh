#!/usr/bin/env bash
# Makes the bundle that scripts/gpu-check.sh runs on a GPU machine with PyTorch 2.11 (CUDA 13)
# and no Rust toolchain: hnn-bench built against libtorch 2.11 with libtorch_cuda linked
# (scripts/build-torch-2-11.sh --cuda; the CUDA wheel and its nvidia-* libraries, ~3 GB, are
# installed once into .libtorch/torch-2.11-cuda), stripped, with the configs it runs.
#
#   bash scripts/gpu-bundle.sh [DIR]      (default: gpu-bundle, git-ignored)
#
# Then, on the GPU machine, from the repository root: bash DIR/gpu-check.sh DIR OUT_DIR
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="${1:-$root/gpu-bundle}"
bash "$root/scripts/build-torch-2-11.sh" --cuda
bin="$root/target/torch-2.11-cuda/target/release/hnn-bench"
if ! readelf -d "$bin" | grep -q 'libtorch_cuda.so'; then
  echo "gpu-bundle: $bin does not link libtorch_cuda.so, so CUDA would not be registered" >&2
  exit 1
fi
rm -rf "$bundle"
mkdir -p "$bundle/tests"
strip -o "$bundle/hnn-bench" "$bin"
cp -r "$root/configs" "$bundle/configs"
cp "$root"/tests/smoke*.toml "$bundle/tests/"
cp "$root/scripts/gpu-check.sh" "$bundle/gpu-check.sh"
echo "gpu-bundle: $(du -sh "$bundle" | cut -f1) in $bundle (hnn-bench $(du -h "$bundle/hnn-bench" | cut -f1))" >&2
