#!/usr/bin/env python3
"""Training with Open MPI's collectives against tpbench's shared-memory route, alternating
launches (docs/comm.md, "Routes: in training").

    python3 bench/train_routes.py TPBENCH [--launches 3] [--iters 12] [--out DIR]

For TP = 2 (dp 1) and DP = 2 (tp 1) on 2 ranks, ezpz-fsdp-tp preset at seq 256, batch 4:
`tpbench --coll-route mpi|shm train ...`, the two routes alternating launch by launch. Per
launch: the median TP and DP communication time per step (summary.json, the slowest rank's
median), the step time, and every step's loss and grad norm (metrics.jsonl, rank 0), which
must be identical between the routes (2 ranks: a sum of two is the same in any order).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def train(tpbench, route, tp, iters, out, name):
    doc = os.path.join(out, name + ".json")
    cmd = [tpbench, "--nproc", "2", "--coll-route", route, "train", "--preset", "ezpz-fsdp-tp", "--seq", "256",
           "--batch", "4", "--tp", str(tp), "--iters", str(iters), "--out", out, "--run-name", name, "--json", doc]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"train_routes: {' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    with open(doc) as f:
        d = json.load(f)["run_directory"]
    with open(os.path.join(d, "summary.json")) as f:
        s = json.load(f)
    steps = []
    with open(os.path.join(d, "metrics.jsonl")) as f:
        for line in f:
            m = json.loads(line)
            if m["rank"] == 0:
                steps.append((m["loss"], m["grad_norm"], m["tp_shm_calls"], m["dp_shm_calls"], m["tp_calls"],
                              m["dp_calls"]))
    return s, steps


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tpbench")
    ap.add_argument("--launches", type=int, default=3)
    ap.add_argument("--iters", type=int, default=12)
    ap.add_argument("--out", default="outputs/train_routes")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    rows, doc = [], {}
    for tp in (2, 1):
        layout = "TP=2" if tp == 2 else "DP=2"
        res = {"mpi": [], "shm": []}
        curves = {}
        for k in range(a.launches):
            for route in ("mpi", "shm"):
                s, steps = train(a.tpbench, route, tp, a.iters, a.out, f"{layout}-{route}-{k}")
                # comm = transfer (the route's own time) + wait (for the slower rank to arrive).
                part = lambda key: s["tp_" + key]["median"] + s["dp_" + key]["median"]
                res[route].append({"comm_ms": part("comm_ms"), "transfer_ms": part("transfer_ms"),
                                   "wait_ms": part("wait_ms"), "step_ms": s["step_ms"]["median"]})
                curve = [(x[0], x[1]) for x in steps]
                if route in curves and curves[route] != curve:
                    sys.exit(f"train_routes: {layout} {route}: losses differ between launches")
                curves[route] = curve
                want = "shm" if route == "shm" else "mpi"
                shm_calls = sum(x[2] + x[3] for x in steps)
                if (want == "shm") != (shm_calls > 0):
                    sys.exit(f"train_routes: {layout} --coll-route {route}: {shm_calls} calls on shm")
        same = curves["mpi"] == curves["shm"]
        med = {r: statistics.median(x["comm_ms"] for x in v) for r, v in res.items()}
        xfer = {r: statistics.median(x["transfer_ms"] for x in v) for r, v in res.items()}
        step = {r: statistics.median(x["step_ms"] for x in v) for r, v in res.items()}
        rows.append(f"| {layout} | " + " / ".join(f"{x['comm_ms']:.2f}" for x in res["mpi"]) + " | "
                    + " / ".join(f"{x['comm_ms']:.2f}" for x in res["shm"]) + " | "
                    + " / ".join(f"{x['transfer_ms']:.2f}" for x in res["mpi"]) + " | "
                    + " / ".join(f"{x['transfer_ms']:.2f}" for x in res["shm"])
                    + f" | {med['mpi'] / med['shm']:.2f}x | {xfer['mpi'] / xfer['shm']:.2f}x | "
                    f"{step['mpi']:.1f} / {step['shm']:.1f} | {'identical' if same else 'DIFFERENT'} |")
        doc[layout] = {"runs": res, "losses_identical": same, "curve": curves["mpi"]}
        if not same:
            print(f"train_routes: {layout}: the losses or grad norms differ between the routes", file=sys.stderr)
    text = (f"ezpz-fsdp-tp, seq 256, batch 4, 2 ranks, {a.iters} iterations, {a.launches} launches per "
            "route, alternating. comm = transfer + wait (for the slower rank; compute imbalance, not the route)."
            "\n\n| layout | comm ms/step, mpi (per launch) | comm ms/step, shm | transfer ms/step, mpi | "
            "transfer ms/step, shm | comm mpi/shm (medians) | transfer mpi/shm (medians) | step ms, mpi / shm "
            "(medians) | losses and grad norms |\n|---|---|---|---|---|---:|---:|---|---|\n"
            + "\n".join(rows) + "\n")
    with open(os.path.join(a.out, "train_routes.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "train_routes.json"), "w") as f:
        json.dump(doc, f, indent=1)
    print(text)
    return 0 if all(d["losses_identical"] for d in doc.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
