#!/usr/bin/env python3
"""Rebuild a trained hnn model from its checkpoint as a torch.nn.Module.

Needs only PyTorch and the standard library; reads the checkpoint's own metadata (model,
sizes, activation, state layout, the task's velocity map), so no config is needed.

As a script, prints the learned field (and energy) at the given states:

    python3 scripts/hnn_load.py runs/spring/<run>/checkpoints/hnn.safetensors 1,0 0.5,0.5

As a module:

    import sys; sys.path.insert(0, "scripts")
    import hnn_load
    model = hnn_load.load("runs/spring/<run>/checkpoints/hnn.safetensors")
    model.meta["state"]      # ["q", "p"]: the coordinates of x, in order
    model.field(x)           # x: [batch, dim] -> dx/dt: [batch, dim]
    model.energy(x)          # -> H: [batch] (hnn, dhnn, shnn; lnn: q'.dL/dq' - L); else None
    model.encode(frames)     # pixel runs: the autoencoder (frames -> latent state) ...
    model.decode(z)          # ... and back

The field is computed as in training (explicit or automatic differentiation give the same
numbers up to rounding); `model.to(torch.float64)` evaluates in double precision.
"""

import json
import struct
import sys

import torch

FORMAT = "hnn-checkpoint/1"
_DTYPES = {
    "F32": torch.float32,
    "F64": torch.float64,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
}


def read_safetensors(path):
    """The tensors of a .safetensors file by name, and its header's hnn metadata (a dict)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: {name} has dtype {info['dtype']}, not a float type")
        raw = bytearray(data[begin:end])
        t = torch.frombuffer(raw, dtype=dtype) if raw else torch.empty(0, dtype=dtype)
        tensors[name] = t.reshape(info["shape"]).clone()
    if "hnn" not in meta:
        raise ValueError(
            f"{path}: no hnn metadata in its header (written by an hnn older than "
            "checkpoint format 1); rebuild the model by hand or re-run the config"
        )
    return tensors, json.loads(meta["hnn"])


class Mlp(torch.nn.Module):
    """input -> hidden... -> output, the activation between layers, no bias on the last."""

    def __init__(self, tensors, prefix, activation):
        super().__init__()
        self.layers = torch.nn.ModuleList()
        i = 0
        while f"{prefix}.l{i}.weight" in tensors:
            w = tensors[f"{prefix}.l{i}.weight"]
            b = tensors.get(f"{prefix}.l{i}.bias")
            layer = torch.nn.Linear(w.shape[1], w.shape[0], bias=b is not None, dtype=w.dtype)
            with torch.no_grad():
                layer.weight.copy_(w)
                if b is not None:
                    layer.bias.copy_(b)
            self.layers.append(layer)
            i += 1
        if not self.layers:
            raise ValueError(f"no layers named {prefix}.l0.weight in the checkpoint")
        acts = {"tanh": torch.tanh, "softplus": torch.nn.functional.softplus}
        if activation not in acts:
            raise ValueError(f"unknown activation {activation!r}")
        self.act = acts[activation]

    def forward(self, x):
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i + 1 < len(self.layers):
                x = self.act(x)
        return x


def _grad(scalar_fn, x):
    """d scalar_fn(x) / dx for a batch, `scalar_fn` giving one value per state."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        (g,) = torch.autograd.grad(scalar_fn(x).sum(), x)
    return g


def _symplectic(g):
    n = g.shape[-1] // 2
    return torch.cat([g[..., n:], -g[..., :n]], dim=-1)


class HnnModel(torch.nn.Module):
    """One of hnn's models, rebuilt from a checkpoint: `field(x)`, `energy(x)`, `meta`."""

    def __init__(self, tensors, meta):
        super().__init__()
        self.meta = meta
        self.name = meta["model"]
        act = meta["activation"]
        mlp = lambda prefix: Mlp(tensors, f"{self.name}.{prefix}", act)  # noqa: E731
        if self.name in ("baseline", "hnn", "node-so", "lnn"):
            self.mlp = mlp("mlp")
        elif self.name == "dhnn":
            self.h, self.d = mlp("h.mlp"), mlp("d.mlp")
        elif self.name == "shnn":
            self.t, self.v = mlp("t.mlp"), mlp("v.mlp")
        else:
            raise ValueError(f"model {self.name!r} is not known to this loader")
        if "velocity" in meta:
            dtype = next(self.parameters()).dtype
            self.register_buffer("velocity", torch.tensor(meta["velocity"], dtype=dtype))
        if "autoencoder" in meta:
            self.encoder = torch.nn.ModuleList(_linears(tensors, "autoencoder.enc"))
            self.decoder = torch.nn.ModuleList(_linears(tensors, "autoencoder.dec"))

    def energy(self, x):
        """The learned energy H(x), [batch]; None for models without one."""
        n = x.shape[-1] // 2
        if self.name == "hnn":
            return self.mlp(x)[..., 0]
        if self.name == "dhnn":
            return self.h(x)[..., 0]
        if self.name == "shnn":
            return self.t(x[..., n:])[..., 0] + self.v(x[..., :n])[..., 0]
        if self.name == "lnn":
            # the Hamiltonian of L: E = q' . dL/dq' - L
            z = torch.cat([x[..., :n], x[..., n:] @ self.velocity.T], dim=-1)
            lag = lambda s: self.mlp(s)[..., 0]  # noqa: E731
            g = _grad(lag, z)
            return (g[..., n:] * z[..., n:]).sum(-1) - lag(z).detach()
        return None

    def field(self, x):
        """dx/dt at the states x, [batch, dim]."""
        n = x.shape[-1] // 2
        if self.name == "baseline":
            return self.mlp(x)
        if self.name in ("hnn", "shnn"):
            return _symplectic(_grad(self.energy, x))
        if self.name == "dhnn":
            h = _symplectic(_grad(lambda s: self.h(s)[..., 0], x))
            return h + _grad(lambda s: self.d(s)[..., 0], x)
        qdot = x[..., n:] @ self.velocity.T
        if self.name == "node-so":
            return torch.cat([qdot, self.mlp(x)], dim=-1)
        qdd = self._euler_lagrange(x[..., :n], qdot)
        return torch.cat([qdot, torch.linalg.solve(self.velocity, qdd.T).T], dim=-1)

    def forward(self, x):
        return self.field(x)

    def _euler_lagrange(self, q, qdot):
        """q'' = pinv(M) (dL/dq - C q'), M = d2L/dq'dq', C = d2L/dq'dq (the LNN's)."""
        n = q.shape[-1]
        with torch.enable_grad():
            z = torch.cat([q, qdot], dim=-1).detach().requires_grad_(True)
            (g,) = torch.autograd.grad(self.mlp(z).sum(), z, create_graph=True)
            rows = [torch.autograd.grad(g[:, n + j].sum(), z, retain_graph=True)[0] for j in range(n)]
        hess = torch.stack(rows, dim=1).detach()  # [batch, n (q' index), 2n]
        mass, mixed = hess[..., n:], hess[..., :n]
        force = g.detach()[..., :n] - (mixed @ qdot.unsqueeze(-1)).squeeze(-1)
        # the LNN authors' pinv: eigenvalues of magnitude at most 10 n eps times the largest dropped
        lam, u = torch.linalg.eigh((mass + mass.transpose(-1, -2)) / 2)
        cutoff = lam.abs().amax(dim=-1, keepdim=True) * 10 * n * torch.finfo(lam.dtype).eps
        inv = torch.where(lam.abs() > cutoff, 1 / lam, torch.zeros_like(lam))
        pinv = u @ torch.diag_embed(inv) @ u.transpose(-1, -2)
        return (pinv @ force.unsqueeze(-1)).squeeze(-1)

    def encode(self, frames):
        """Pixel runs: the autoencoder's latent state of (stacked) frames."""
        return _residual(self.encoder, frames)

    def decode(self, z):
        """Pixel runs: the frames the autoencoder decodes from latent states."""
        return _residual(self.decoder, z)


def _linears(tensors, prefix):
    out = []
    for i in range(4):
        w, b = tensors[f"{prefix}{i}.weight"], tensors[f"{prefix}{i}.bias"]
        layer = torch.nn.Linear(w.shape[1], w.shape[0], dtype=w.dtype)
        with torch.no_grad():
            layer.weight.copy_(w)
            layer.bias.copy_(b)
        out.append(layer)
    return out


def _residual(layers, x):
    """Four layers, the middle two residual: the autoencoder's encoder or decoder."""
    h = torch.relu(layers[0](x))
    h = h + torch.relu(layers[1](h))
    h = h + torch.relu(layers[2](h))
    return layers[3](h)


def load(path):
    """The model of checkpoint `path`, in eval mode."""
    tensors, meta = read_safetensors(path)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{path}: checkpoint format {meta.get('format')!r}, this loader reads {FORMAT!r}")
    return HnnModel(tensors, meta).eval()


def main(argv):
    if len(argv) < 3:
        print(__doc__.split("\n\n")[0], file=sys.stderr)
        print("usage: hnn_load.py CHECKPOINT X1,X2,... [X1,X2,...]", file=sys.stderr)
        return 2
    model = load(argv[1])
    dtype = next(model.parameters()).dtype
    x = torch.tensor([[float(v) for v in s.split(",")] for s in argv[2:]], dtype=dtype)
    if x.shape[1] != model.meta["dim"]:
        print(f"states need {model.meta['dim']} coordinates ({', '.join(model.meta['state'])})", file=sys.stderr)
        return 2
    field, energy = model.field(x), model.energy(x)
    for i, s in enumerate(argv[2:]):
        line = f"{model.name} at ({s}): dx/dt = ({', '.join(f'{v:.6e}' for v in field[i].tolist())})"
        if energy is not None:
            line += f", H = {energy[i].item():.6e}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
