#!/usr/bin/env python3
"""Checks that scripts/hnn_load.py and `hnn-bench export` agree on a run's models.

    hnn-bench export --run RUN --out EXPORT
    python3 scripts/check_export.py RUN EXPORT

For each exported model of RUN, rebuilds it from its checkpoint with hnn_load.load, runs the
TorchScript files of EXPORT with torch.jit.load on 11 random states, and prints the largest
difference of the field (and energy); exits 1 if any exceeds 1e-6. Needs only PyTorch.
"""

import glob
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hnn_load  # noqa: E402


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    run, export = argv[1], argv[2]
    worst = 0.0
    torch.manual_seed(0)
    for field_file in sorted(glob.glob(os.path.join(export, "*.field.pt"))):
        name = os.path.basename(field_file)[: -len(".field.pt")]
        model = hnn_load.load(os.path.join(run, "checkpoints", f"{name}.safetensors"))
        x = torch.randn(11, len(model.meta["state"]))
        diff = (model.field(x) - torch.jit.load(field_file)(x)).abs().max().item()
        line = f"{name}: field max |loader - torchscript| = {diff:.3e}"
        worst = max(worst, diff)
        energy_file = os.path.join(export, f"{name}.energy.pt")
        if os.path.exists(energy_file) and model.energy(x) is not None:
            e = (model.energy(x).reshape(-1) - torch.jit.load(energy_file)(x).reshape(-1)).abs().max().item()
            line += f", energy {e:.3e}"
            worst = max(worst, e)
        print(line)
    return 0 if worst <= 1e-6 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
