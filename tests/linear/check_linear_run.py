#!/usr/bin/env python3
"""End-to-end check of `tpbench linear`: run it on N ranks with --verify --profile, then
load what it wrote with real readers (json, and the Chrome Trace Event Format rules that
Perfetto and chrome://tracing apply) and check the content, rank by rank.

usage: check_linear_run.py TPBENCH NPROC OUTDIR
"""
import json
import os
import shutil
import subprocess
import sys

ITERS = 10


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def load_trace(path):
    with open(path) as f:
        doc = json.load(f)
    check(doc.get("schemaVersion") == 1, f"{path}: no schemaVersion")
    events = doc["traceEvents"]
    for e in events:
        check(e["ph"] in ("X", "M"), f"{path}: unexpected phase {e['ph']}")
        check(isinstance(e["pid"], int) and isinstance(e["tid"], int), f"{path}: pid/tid not ints")
        if e["ph"] == "X":
            check(isinstance(e["ts"], (int, float)) and e["dur"] >= 0, f"{path}: bad ts/dur in {e}")
    return events


def check_rank_events(events, rank, nproc, mode, where):
    spans = [e for e in events if e["ph"] == "X" and e["pid"] == rank]
    names = [e["name"] for e in spans]
    steps = sorted((e for e in spans if e["name"].startswith("ProfilerStep#")), key=lambda e: e["ts"])
    check([e["name"] for e in steps] == [f"ProfilerStep#{i}" for i in range(ITERS)],
          f"{where}: rank {rank} steps are {[e['name'] for e in steps]}")
    for phase in ("forward", "backward", "optimizer", "gradient", "matmul"):
        check(phase in names, f"{where}: rank {rank} has no '{phase}' span")
    # Three GEMMs a step (forward, dW, dX), each inside a step span.
    matmuls = [e for e in spans if e["name"] == "matmul"]
    check(len(matmuls) == 3 * ITERS, f"{where}: rank {rank} has {len(matmuls)} matmul spans")
    eps = 1e-3  # us: rounding of the two clock reads
    for m in matmuls:
        check(any(s["ts"] - eps <= m["ts"] and m["ts"] + m["dur"] <= s["ts"] + s["dur"] + eps for s in steps),
              f"{where}: rank {rank} matmul at {m['ts']} outside every step")
    comms = [e for e in spans if e["cat"] == "comm"]
    want = {"row": {"all_gather_v", "all_reduce"}, "column": {"all_reduce"}}[mode]
    if nproc > 1:
        check({e["name"] for e in comms} == want, f"{where}: rank {rank} collectives {set(e['name'] for e in comms)}")
        per_step = {"row": 2, "column": 1}[mode]
        check(len(comms) == per_step * ITERS, f"{where}: rank {rank} has {len(comms)} collectives")
        for c in comms:
            a = c["args"]
            check(a["bytes"] > 0 and a["group"] == "world" and a["group_size"] == nproc,
                  f"{where}: rank {rank} collective args {a}")
            check(abs(a["wait_us"] + a["transfer_us"] - c["dur"]) < 0.01,
                  f"{where}: wait + transfer != duration in {c}")


def main():
    exe, nproc, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    results = os.path.join(out, "linear.json")
    cmd = [exe, "--nproc", str(nproc), "linear", "--mode", "both", "--verify", "--profile",
           "--iters", str(ITERS), "--out", out, "--json", results]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    print(p.stdout)
    print(p.stderr, file=sys.stderr)
    check(p.returncode == 0, f"exit status {p.returncode}")
    check("verify row: PASSED" in p.stdout and "verify column: PASSED" in p.stdout, "verification not passed")
    check("column/row step-time ratio" in p.stdout, "no ratio line")
    check(p.stdout.count("tpbench linear:") == 1, "header printed more than once (more than one rank printed)")

    with open(results) as f:
        r = json.load(f)
    check(r["schema"] == "tpbench.linear/1", "schema")
    check(r["config"]["world_size"] == nproc and r["config"]["in_features"] == 1000, f"config {r['config']}")
    for key in ("cpu_model", "logical_cores", "mpi_library", "blas"):
        check(key in r["machine"], f"machine lacks {key}")
    for mode in ("row", "column"):
        m = r["modes"][mode]
        check(len(m["ranks"]) == nproc, f"{mode}: {len(m['ranks'])} ranks in results")
        for rank in m["ranks"]:
            check(len(rank["iterations"]) == ITERS, f"{mode}: iterations")
            for it in rank["iterations"]:
                check(it["step_ms"] > 0 and it["forward_ms"] + it["backward_ms"] + it["optimizer_ms"] <= it["step_ms"] * 1.0001,
                      f"{mode}: phases exceed the step: {it}")
        s = m["summary"]["step_ms"]
        check(0 < s["min"] <= s["median"] <= s["p95"] <= s["max"], f"{mode}: step stats {s}")
        for name, e in m["verify"]["errors"].items():
            check(e["max_rel"] <= 1e-5, f"{mode}: {name} error {e}")
        check(m["verify"]["weights_stuck"] == 0, f"{mode}: stuck weights")
    with open(os.path.join(out, "results.json")) as f:
        check(json.load(f) == r, "results.json differs from --json")

    for mode in ("row", "column"):
        for rank in range(nproc):
            d = os.path.join(out, f"profiler_logs_rank_{rank}_{mode}")
            files = [f for f in os.listdir(d) if f.endswith(".pt.trace.json")]
            check(len(files) == 1, f"{d}: {files}")
            events = load_trace(os.path.join(d, files[0]))
            check_rank_events(events, rank, nproc, mode, files[0])
        d = os.path.join(out, f"profiler_logs_all_ranks_{mode}")
        files = [f for f in os.listdir(d) if f.endswith(".pt.trace.json")]
        check(len(files) == 1, f"{d}: {files}")
        merged = load_trace(os.path.join(d, files[0]))
        check({e["pid"] for e in merged} == set(range(nproc)), f"merged {mode}: pids {set(e['pid'] for e in merged)}")
        for rank in range(nproc):
            check_rank_events(merged, rank, nproc, mode, f"merged {mode}")
            check(any(e["ph"] == "M" and e["name"] == "process_name" and e["pid"] == rank for e in merged),
                  f"merged {mode}: no process name for rank {rank}")
        # A common clock: every rank's first step starts within one step of the others.
        firsts = [min(e["ts"] for e in merged if e["pid"] == rank and e["name"] == "ProfilerStep#0") for rank in range(nproc)]
        check(max(firsts) - min(firsts) < 1e6, f"merged {mode}: first steps {firsts} us apart")
    print(f"OK: {nproc} ranks, both modes verified, traces and results checked")


if __name__ == "__main__":
    main()
