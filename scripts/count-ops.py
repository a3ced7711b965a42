#!/usr/bin/env python3
"""Per-step libtorch cost of the training loop from two callgrind profiles.

Usage: count-ops.py SHORT.out LONG.out STEPS
  SHORT.out, LONG.out: callgrind outputs of the same command at two step counts,
  STEPS: how many more steps LONG ran. Everything before and after the loop (start-up, data,
  the first and last log step) is the same in both, so the difference is STEPS plain steps.

Prints:
  - libtorch operator calls per step (every at::_ops::<op>::call: what our code issues, what
    composite operators call inside, and the backward pass's formulas), by operator;
  - the top-level ones: issued from the tch C wrappers (our code) and from libtorch's Adam;
  - the share of executed instructions per step in matrix products (MKL sgemm), in Adam's step,
    and in tanh.
"""
import collections
import re
import sys


def parse(path):
    """(caller, callee) -> calls, and function -> exclusive and inclusive-by-call instruction
    counts, from a callgrind file (names compressed as "(id) name" on first use)."""
    names, calls, self_ir, call_ir = {}, collections.Counter(), collections.Counter(), collections.Counter()
    fn = cfn = None
    pending_call = False

    def name(line, key):
        m = re.match(key + r"=\((\d+)\)(?: (.*))?", line)
        if m.group(2):
            names[m.group(1)] = m.group(2).strip()
        return m.group(1)

    with open(path, errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                fn = name(line, "fn")
            elif line.startswith("cfn="):
                cfn = name(line, "cfn")
            elif line.startswith("calls="):
                calls[(fn, cfn)] += int(line.split()[0][len("calls="):])
                pending_call = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                parts = line.split()
                if len(parts) >= 2 and fn is not None:
                    ir = int(parts[1])
                    if pending_call:
                        call_ir[(fn, cfn)] += ir
                        pending_call = False
                    else:
                        self_ir[fn] += ir
    n = lambda i: names.get(i, i)
    return (
        collections.Counter({(n(a), n(b)): v for (a, b), v in calls.items()}),
        collections.Counter({n(a): v for a, v in self_ir.items()}),
        collections.Counter({(n(a), n(b)): v for (a, b), v in call_ir.items()}),
    )


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    (c1, s1, i1), (c2, s2, i2) = parse(sys.argv[1]), parse(sys.argv[2])
    steps = float(sys.argv[3])
    calls = collections.Counter({k: c2[k] - c1[k] for k in set(c1) | set(c2)})
    op = re.compile(r"at::_ops::(\w+)::call\(")
    by_op, top_ours, top_adam = collections.Counter(), 0, 0
    for (caller, callee), v in calls.items():
        m = op.match(callee)
        if not m or v == 0:
            continue
        by_op[m.group(1)] += v
        if caller.startswith(("atg_", "at_")):
            top_ours += v
        elif "optim::Adam::step" in caller:
            top_adam += v
    total = sum(by_op.values())
    print(f"libtorch operator calls per step: {total / steps:.0f}")
    print(f"  issued by our code (tch wrappers): {top_ours / steps:.0f}")
    print(f"  issued by libtorch's Adam step: {top_adam / steps:.0f}")
    print("  most called:", ", ".join(f"{k} {v / steps:.0f}" for k, v in by_op.most_common(12)))
    selfd = collections.Counter({k: s2[k] - s1[k] for k in set(s1) | set(s2)})
    ir = sum(selfd.values())
    gemm = sum(v for k, v in selfd.items() if "sgemm" in k)
    tanh = sum(v for k, v in selfd.items() if "Tanh" in k or "tanh" in k)
    incl = collections.Counter({k: i2[k] - i1[k] for k in set(i1) | set(i2)})
    adam = sum(v for (a, b), v in incl.items() if b.startswith("torch::optim::Adam::step"))
    print(f"instructions per step: {ir / steps / 1e6:.1f} M")
    print(f"  in matrix products (sgemm): {gemm / ir:.0%}")
    print(f"  in tanh and its derivative: {tanh / ir:.0%}")
    print(f"  in Adam's step (all it calls): {adam / ir:.0%}")
    print(f"  elsewhere (elementwise ops, dispatch, allocation): {(ir - gemm - tanh - adam) / ir:.0%}")


if __name__ == "__main__":
    main()
