#!/usr/bin/env python3
"""A real 2-rank `tpbench train` run's TensorBoard scalars, read by TensorBoard's own event
reader (EventAccumulator) and by tbparse, against the run's metrics.jsonl: the loss series
equal at every step, exactly as float32; every documented tag present; grad_norm and the
step time (rank 0, min, max) equal too. Run with .venv-tb's python (scripts/setup.sh).

    tb_check.py TPBENCH WORKDIR
"""
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
from tbparse import SummaryReader
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def fail(msg):
    sys.exit(f"FAIL: {msg}")


def main():
    tpbench, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    p = subprocess.run([tpbench, "--nproc", "2", "train", "--preset", "tiny", "--tp", "2", "--iters", "12",
                        "--out", work, "--no-plots"], capture_output=True, text=True, timeout=240)
    if p.returncode != 0:
        fail(f"train exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    (run,) = glob.glob(os.path.join(work, "train", "*"))
    files = glob.glob(os.path.join(run, "tb", "events.out.tfevents.*"))
    if len(files) != 1:
        fail(f"expected one event file in {run}/tb, found {files}")
    metrics = [json.loads(line) for line in open(os.path.join(run, "metrics.jsonl"))]
    rank0 = sorted((m for m in metrics if m["rank"] == 0), key=lambda m: m["iter"])
    ranks = {m["rank"] for m in metrics}

    ea = EventAccumulator(os.path.join(run, "tb"), size_guidance={"scalars": 0})
    ea.Reload()
    tags = set(ea.Tags()["scalars"])
    want = {"loss", "grad_norm", "lr", "throughput/tokens_per_s", "throughput/mfu"}
    for t in ("time_ms/step", "time_ms/forward", "time_ms/backward", "time_ms/optimizer", "tp_comm_ms/total",
              "tp_comm_ms/wait", "tp_comm_ms/transfer", "dp_comm_ms/total", "dp_comm_ms/wait",
              "dp_comm_ms/transfer", "memory_peak_mib/activations", "memory_peak_mib/parameters"):
        want |= {f"{t}/rank0", f"{t}/min", f"{t}/max"}
    if want - tags:
        fail(f"tags missing: {sorted(want - tags)}")

    def series(tag):
        return [(e.step, np.float32(e.value)) for e in ea.Scalars(tag)]

    def check(tag, values):
        got = series(tag)
        ref = [(m["iter"], np.float32(v)) for m, v in zip(rank0, values)]
        if got != ref:
            fail(f"{tag}: TensorBoard reads {got[:4]}..., metrics.jsonl has {ref[:4]}...")

    check("loss", [m["loss"] for m in rank0])
    check("grad_norm", [m["grad_norm"] for m in rank0])
    check("time_ms/step/rank0", [m["dt_ms"] for m in rank0])
    by_iter = {}
    for m in metrics:
        by_iter.setdefault(m["iter"], []).append(m["dt_ms"])
    check("time_ms/step/max", [max(by_iter[m["iter"]]) for m in rank0])
    check("time_ms/step/min", [min(by_iter[m["iter"]]) for m in rank0])
    if len(ranks) != 2 or len(rank0) != 12:
        fail(f"metrics.jsonl has ranks {ranks} and {len(rank0)} iterations")

    df = SummaryReader(os.path.join(run, "tb")).scalars
    loss = df[df["tag"] == "loss"].sort_values("step")
    if list(loss["step"]) != [m["iter"] for m in rank0] or \
            [np.float32(v) for v in loss["value"]] != [np.float32(m["loss"]) for m in rank0]:
        fail(f"tbparse reads loss {list(loss['value'])[:4]}..., metrics.jsonl {[m['loss'] for m in rank0][:4]}...")
    print(f"ok: {len(tags)} tags, {len(rank0)} steps; loss equal as float32 in TensorBoard's reader and tbparse")


if __name__ == "__main__":
    main()
