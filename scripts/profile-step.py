#!/usr/bin/env python3
"""Per-step CPU time of the training loop by what ran, from two perf reports.

Usage: profile-step.py SHORT LONG STEPS WALL_SHORT WALL_LONG HZ
  SHORT, LONG: `perf report --sort dso,symbol -F sample,dso,sym --field-separator='|'` of the
  same command at two step counts; STEPS: how many more steps LONG ran; WALL_*: their wall
  seconds; HZ: samples per CPU second (perf's cpu-clock period, inverted).

Prints the wall time per step and, per group, the CPU time per step (every thread's) and its
share. On N threads the CPU time is up to N times the wall time.
"""
import collections
import sys

# (group, test on (dso, symbol)); the first that matches wins.
GROUPS = [
    ("matrix products (MKL sgemm, its packing)",
     lambda d, s: "sgemm" in s or "gblock" in s or "acopy" in s),
    ("OpenMP threads waiting (libgomp)", lambda d, s: "libgomp" in d),
    ("tanh, sqrt (MKL VML)", lambda d, s: "mkl_vml" in s),
    ("element-wise kernels (libtorch)",
     lambda d, s: "Loop2d" in s or "vectorized_" in s or "reduce" in s.lower()),
    ("malloc, free and copies (libc)", lambda d, s: "libc" in d and any(k in s for k in (
        "malloc", "free", "memmove", "memset", "memcpy", "unlink_chunk"))),
    ("the kernel (page faults, memory maps, scheduling)", lambda d, s: "kernel" in d),
    ("hnn's own code (the executable)", lambda d, s: d == "train_steps"),
]
REST = "dispatch, autograd and the rest"


def grouped(path):
    """Samples per group in one report."""
    samples = collections.Counter()
    with open(path) as f:
        for line in f:
            fields = [x.strip() for x in line.split("|")]
            if line.startswith("#") or len(fields) < 3 or not fields[0].isdigit():
                continue
            n, dso, sym = int(fields[0]), fields[1], fields[2]
            samples[next((g for g, test in GROUPS if test(dso, sym)), REST)] += n
    return samples


def main():
    if len(sys.argv) != 7:
        sys.exit(__doc__)
    short, long = grouped(sys.argv[1]), grouped(sys.argv[2])
    steps, hz = int(sys.argv[3]), float(sys.argv[6])
    wall = (float(sys.argv[5]) - float(sys.argv[4])) / steps
    per_step = {g: max(long[g] - short[g], 0) / hz / steps for g, _ in GROUPS + [(REST, None)]}
    cpu = sum(per_step.values())
    if cpu == 0:
        sys.exit("profile-step.py: no samples between the two profiles")
    print(f"wall {1e3 * wall:.3f} ms per step, CPU {1e3 * cpu:.3f} ms per step (all threads)\n")
    print("| what ran | CPU ms per step | share |")
    print("|---|---|---|")
    for g, t in per_step.items():
        print(f"| {g} | {1e3 * t:.3f} | {100 * t / cpu:.1f}% |")


if __name__ == "__main__":
    main()
