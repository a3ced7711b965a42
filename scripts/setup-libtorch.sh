#!/usr/bin/env bash
# Install libtorch 2.13.0 (the version tch 0.26 expects) into the project-local,
# git-ignored folder .libtorch/torch, from the PyPI wheels (the only source reachable
# from a machine with package registries only).
#
#   scripts/setup-libtorch.sh          CPU-only libtorch (~540 MB download, ~490 MB on disk)
#   scripts/setup-libtorch.sh --cuda   the full CUDA-capable install (~2.7 GB download, ~4.7 GB)
#   scripts/setup-libtorch.sh --force  reinstall even if the right version is present
#   scripts/setup-libtorch.sh --version 2.11.0 --dest .libtorch/torch-2.11
#                                      another PyTorch release (its wheel's libraries and
#                                      headers) into another folder, for the `torch-2-11` build
#
# Idempotent: when .libtorch/torch already holds this version and flavour it exits at once.
# Cargo finds the folder through .cargo/config.toml ([env] LIBTORCH), and the build scripts
# of hnn-models, hnn-bench and the runner crate write an rpath to its lib/ into every binary,
# so nothing has to be exported by hand.
set -euo pipefail

TORCH_VERSION="2.13.0"
CUDART_VERSION="13.0.96"  # provides libcudart.so.13, which libtorch_cpu.so of this wheel NEEDs
CUPTI_VERSION="13.0.85"   # provides libcupti.so.13, likewise

flavour="cpu"
force=0
dest_arg=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cuda) flavour="cuda" ;;
    --cpu) flavour="cpu" ;;
    --force) force=1 ;;
    --version) TORCH_VERSION="${2:?--version needs a value, e.g. 2.11.0}"; shift ;;
    --dest) dest_arg="${2:?--dest needs a folder}"; shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "setup-libtorch: unknown argument '$1' (expected --cpu, --cuda, --force, --version V, --dest DIR or --help)" >&2; exit 2 ;;
  esac
  shift
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -n "$dest_arg" ]]; then
  mkdir -p "$(dirname "$dest_arg")"
  dest="$(cd "$(dirname "$dest_arg")" && pwd)/$(basename "$dest_arg")"
  base="$(dirname "$dest")"
else
  base="$root/.libtorch"
  dest="$base/torch"
fi
marker="$dest/HNN_LIBTORCH_VERSION"
want="$TORCH_VERSION $flavour"

if [[ $force -eq 0 && -f "$marker" && "$(cat "$marker")" == "$want" && -f "$dest/lib/libtorch_cpu.so" ]]; then
  # installs from before build-version was written get it now (see below)
  [[ -f "$dest/build-version" ]] || echo "$TORCH_VERSION" > "$dest/build-version"
  exit 0
fi

python="${PYTHON:-python3}"
if ! command -v "$python" >/dev/null 2>&1; then
  echo "setup-libtorch: '$python' not found; it is needed to fetch the torch wheel from PyPI (set PYTHON=...)" >&2
  exit 1
fi

echo "setup-libtorch: installing libtorch $TORCH_VERSION ($flavour) into $dest" >&2
mkdir -p "$base"
work="$(mktemp -d "$base/.tmp.XXXXXX")"
trap 'rm -rf "$work"' EXIT
staging="$work/torch"

if [[ "$flavour" == "cpu" ]]; then
  "$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$work/wheels" \
    "torch==$TORCH_VERSION" "nvidia-cuda-runtime==$CUDART_VERSION" "nvidia-cuda-cupti==$CUPTI_VERSION"
  "$python" - "$work/wheels" "$staging" <<'PY'
import pathlib, shutil, sys, zipfile

wheels, staging = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
lib = staging / "lib"
lib.mkdir(parents=True)
torch_wheels = sorted(wheels.glob("torch-*.whl"))
if len(torch_wheels) != 1:
    sys.exit(f"setup-libtorch: expected one torch wheel in {wheels}, found {len(torch_wheels)}")
with zipfile.ZipFile(torch_wheels[0]) as z:
    for info in z.infolist():
        name = info.filename
        for part in ("lib", "include"):
            prefix = f"torch/{part}/"
            if name.startswith(prefix) and not info.is_dir():
                target = staging / part / name[len(prefix):]
                target.parent.mkdir(parents=True, exist_ok=True)
                with z.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
needed = {"libcudart.so.13", "libcupti.so.13"}
for wheel in sorted(wheels.glob("nvidia_*.whl")):
    with zipfile.ZipFile(wheel) as z:
        for info in z.infolist():
            base = info.filename.rsplit("/", 1)[-1]
            if base in needed:
                with z.open(info) as src, open(lib / base, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                needed.discard(base)
if needed:
    sys.exit(f"setup-libtorch: the CUDA runtime wheels did not contain {sorted(needed)}")
# CUDA-only libraries: torch-sys links -ltorch_cuda whenever libtorch_cuda.so exists,
# so removing them is what makes this a CPU-only libtorch. libtorch.so stays (torch-sys
# always passes -ltorch).
for pattern in ("libtorch_cuda*.so", "libc10_cuda.so", "libcaffe2_nvrtc.so",
                "libtorch_nvshmem.so", "libtorch_python.so", "libnvrtc*", "libcudnn*",
                "libnccl*", "libcublas*", "libcufft*", "libcurand*", "libcusparse*",
                "libcusolver*", "libnvToolsExt*", "libnvJitLink*"):
    for path in lib.glob(pattern):
        path.unlink()
PY
else
  "$python" -m pip install --quiet --root-user-action=ignore --no-compile --target "$work/site" "torch==$TORCH_VERSION"
  mkdir -p "$staging"
  mv "$work/site/torch/lib" "$staging/lib"
  mv "$work/site/torch/include" "$staging/include"
  # The CUDA libraries (cudnn, cublas, ...) live in the nvidia/* packages; put them beside
  # libtorch so the rpath to lib/ finds them.
  find "$work/site/nvidia" -name '*.so*' -type f -exec mv -t "$staging/lib" {} + 2>/dev/null || true
fi

for f in libtorch_cpu.so libc10.so libtorch.so; do
  if [[ ! -f "$staging/lib/$f" ]]; then
    echo "setup-libtorch: $f is missing from the unpacked wheel; nothing was installed" >&2
    exit 1
  fi
done
echo "$want" > "$staging/HNN_LIBTORCH_VERSION"
# torch-sys compares this file with the release its tch was made for and stops the build with
# "this tch version expects PyTorch 2.13.0, got 2.11.0" on a mismatch (the wheel itself carries
# no such file, so without it a wrong libtorch fails later, in the C++ compiler or at run time).
echo "$TORCH_VERSION" > "$staging/build-version"

# Swap in atomically-ish: the old install is only removed once the new one is complete.
rm -rf "$dest.old"
if [[ -d "$dest" ]]; then mv "$dest" "$dest.old"; fi
mv "$staging" "$dest"
rm -rf "$dest.old"
echo "setup-libtorch: done ($(du -sh "$dest" | cut -f1) in $dest)" >&2
