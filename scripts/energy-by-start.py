#!/usr/bin/env python3
"""Where a run's energy error comes from: each rollout's energy MSE by its starting state.

Usage: energy-by-start.py RUN_DIR [PROTOCOL]   (PROTOCOL: corrected, the default, or paper)

Reads the run's summary.json (every model's per-trajectory energy MSE under PROTOCOL), its
rollouts/PROTOCOL_truth.npy (the starting states) and data/x_train.npy (the training inputs),
and prints, for every model:
  - each rollout's energy MSE, ordered by the size |x0| of its starting state;
  - the share of the model's energy MSE that its two largest starts carry;
  - the energy MSE over the rollouts that start inside the training data (|x0| at most the
    largest |x| among the training inputs), against the whole protocol's.
The protocol's own number in summary.json is the mean over all rollouts, so the two agree when
every rollout starts inside the training data. Standard library only (no numpy).
"""
import ast
import json
import math
import struct
import sys
from pathlib import Path


def read(path, what):
    """The bytes of a run's file, or a clear exit naming it."""
    try:
        return path.read_bytes()
    except OSError as e:
        sys.exit(f"{path}: cannot read {what} ({e.strerror}); is this a finished run's folder?")


def load_npy(path):
    """(shape, flat values) of a little-endian float64/float32 .npy file."""
    raw = read(path, "an array")
    if raw[:6] != b"\x93NUMPY":
        sys.exit(f"{path}: not a .npy file")
    if raw[6] == 1:
        (header_len,), start = struct.unpack("<H", raw[8:10]), 10
    else:
        (header_len,), start = struct.unpack("<I", raw[8:12]), 12
    header = ast.literal_eval(raw[start : start + header_len].decode("latin1"))
    codes = {"<f8": "d", "<f4": "f"}
    if header["descr"] not in codes or header["fortran_order"]:
        sys.exit(f"{path}: expected C-ordered <f8 or <f4, got {header}")
    shape = header["shape"]
    n = math.prod(shape)
    code = codes[header["descr"]]
    body = raw[start + header_len :]
    return shape, struct.unpack(f"<{n}{code}", body[: n * struct.calcsize(code)])


def norm(values):
    return math.sqrt(sum(v * v for v in values))


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    run = Path(sys.argv[1])
    protocol = sys.argv[2] if len(sys.argv) == 3 else "corrected"
    summary = json.loads(read(run / "summary.json", "the run's summary"))
    outcome = summary["energy"].get(protocol)
    if outcome is None:
        sys.exit(f"{run / 'summary.json'}: no protocol {protocol!r} (has {list(summary['energy'])})")
    (n, points, dim), truth = load_npy(run / "rollouts" / f"{protocol}_truth.npy")
    starts = [norm(truth[i * points * dim : i * points * dim + dim]) for i in range(n)]
    (rows, tdim), x_train = load_npy(run / "data" / "x_train.npy")
    reach = max(norm(x_train[r * tdim : (r + 1) * tdim]) for r in range(rows))
    order = sorted(range(n), key=lambda i: starts[i])
    print(f"{run}: {protocol} protocol, {n} rollouts; largest training |x| = {reach:.3f}")
    for name, m in outcome["models"].items():
        failed = {f["trajectory"] for f in m["failed"]}
        finished = [i for i in range(n) if i not in failed]
        if len(finished) != len(m["per_trajectory"]):
            sys.exit(f"{name}: {len(m['per_trajectory'])} per-trajectory values for {len(finished)} finished rollouts")
        mse = dict(zip(finished, m["per_trajectory"]))
        if not mse:
            print(f"  {name}: no finished rollout")
            continue
        total = sum(mse.values())
        by_start = [i for i in order if i in mse]
        top2 = sum(mse[i] for i in by_start[-2:])
        inside = [mse[i] for i in by_start if starts[i] <= reach]
        print(f"  {name}: energy MSE {total / len(mse):.3e}; the two largest starts "
              f"(|x0| {', '.join(f'{starts[i]:.2f}' for i in by_start[-2:])}) carry "
              f"{100 * top2 / total:.0f}% of it" if total > 0 else f"  {name}: energy MSE 0")
        if inside:
            print(f"    starting inside the training data ({len(inside)} of {len(mse)}): "
                  f"{sum(inside) / len(inside):.3e}")
        print("    |x0|:MSE " + " ".join(f"{starts[i]:.2f}:{mse[i]:.1e}" for i in by_start))


if __name__ == "__main__":
    main()
