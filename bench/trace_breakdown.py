#!/usr/bin/env python3
"""Where a profiled train run's step time goes, from its per-rank traces (`train --profile`).

For each rank's trace (RUN/profiler_logs_rank_R_train/*.pt.trace.json) and each timed step
(ProfilerStep#N, warm-up steps included unless --skip), sums the wall time of the spans by
name, inclusive (a `block` contains its `attention`, `matmul` and collectives), and prints
the median over steps of each as ms and as a share of the step, per rank, then the median
over ranks. "other compute" is the step minus the named compute spans and collectives that
are not inside another named one: the elementwise kernels (norms, RoPE, SwiGLU, residuals).

    python3 bench/trace_breakdown.py RUN [--skip 1]
"""
import argparse
import glob
import json
import os
import statistics
import sys

# The spans the model and trainer write (model/*.cpp, train/trainer.cpp, comm records).
COMPUTE = ["attention", "matmul", "cross_entropy"]
PHASES = ["forward", "backward", "optimizer", "recompute"]
COMM = ["all_reduce", "all_gather", "reduce_scatter", "all_gather_v", "reduce_scatter_v", "broadcast"]


def load(path):
    with open(path) as f:
        return json.load(f)["traceEvents"]


def breakdown(events, skip):
    spans = [e for e in events if e.get("ph") == "X"]
    steps = sorted((e for e in spans if e["name"].startswith("ProfilerStep")), key=lambda e: e["ts"])[skip:]
    out = []
    for st in steps:
        t0, t1 = st["ts"], st["ts"] + st["dur"]
        inside = [e for e in spans if e is not st and e["ts"] >= t0 and e["ts"] + e["dur"] <= t1]
        sums = {"step": st["dur"] / 1e3}
        for name in PHASES + COMPUTE + COMM:
            sums[name] = sum(e["dur"] for e in inside if e["name"] == name) / 1e3
        # Compute spans and collectives that no other counted span contains (a collective
        # inside a matmul's span is not counted twice).
        counted = [e for e in inside if e["name"] in COMPUTE + COMM]
        top = [e for e in counted
               if not any(o is not e and o["ts"] <= e["ts"] and e["ts"] + e["dur"] <= o["ts"] + o["dur"]
                          for o in counted)]
        sums["other compute"] = sums["step"] - sum(e["dur"] for e in top) / 1e3 - sums["optimizer"]
        out.append(sums)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", help="a train run directory made with --profile")
    ap.add_argument("--skip", type=int, default=0, help="leading steps to leave out (warm-up)")
    a = ap.parse_args()
    paths = sorted(glob.glob(os.path.join(a.run, "profiler_logs_rank_*_train", "*.pt.trace.json")))
    if not paths:
        sys.exit(f"trace_breakdown: no per-rank traces under {a.run} (was it run with --profile?)")
    per_rank = []
    for p in paths:
        steps = breakdown(load(p), a.skip)
        if not steps:
            sys.exit(f"trace_breakdown: {p} has no ProfilerStep after skipping {a.skip}")
        per_rank.append({k: statistics.median(s[k] for s in steps) for k in steps[0]})
    keys = ["step"] + PHASES + COMPUTE + [c for c in COMM if any(r[c] for r in per_rank)] + ["other compute"]
    print(f"{'ms (median over steps)':<24}" + "".join(f"{'rank ' + str(i):>12}" for i in range(len(per_rank)))
          + f"{'median':>12}{'% of step':>11}")
    step = statistics.median(r["step"] for r in per_rank)
    for k in keys:
        vals = [r[k] for r in per_rank]
        med = statistics.median(vals)
        print(f"{k:<24}" + "".join(f"{v:>12.1f}" for v in vals) + f"{med:>12.1f}{100 * med / step:>10.1f}%")


if __name__ == "__main__":
    main()
