#!/usr/bin/env python3
"""Loads tpbench traces with TensorBoard's PyTorch-profiler plugin (torch-tb-profiler, its
own parser), as a user opening them in TensorBoard would, and checks it finds every step.

usage: load_with_tensorboard.py TPBENCH OUTDIR
"""
import logging
import os
import shutil
import subprocess
import sys

logging.disable(logging.WARNING)
from torch_tb_profiler.profiler.data import RunProfileData  # noqa: E402

exe, out = sys.argv[1], sys.argv[2]
shutil.rmtree(out, ignore_errors=True)
subprocess.run([exe, "--nproc", "2", "linear", "--mode", "both", "--iters", "7", "--profile", "--out", out],
               check=True, capture_output=True, timeout=240)
checked = 0
for name in sorted(os.listdir(out)):
    # Per-rank directories, as TensorBoard takes them (one worker per file); the merged
    # all-ranks file is for Perfetto, which keeps ranks apart as processes.
    if not name.startswith("profiler_logs_rank_"):
        continue
    d = os.path.join(out, name)
    for f in os.listdir(d):
        if not f.endswith(".pt.trace.json"):
            continue
        data = RunProfileData.parse(f.split(".")[0], None, os.path.join(d, f), "file://" + d)
        data.process()
        steps = list(data.steps_names)
        if steps != [str(i) for i in range(7)]:
            print(f"FAIL: {name}/{f}: TensorBoard found steps {steps}")
            sys.exit(1)
        if data.has_kernel:
            print(f"FAIL: {name}/{f}: CPU spans taken for GPU kernels")
            sys.exit(1)
        checked += 1
if checked != 4:  # 2 ranks x 2 modes
    print(f"FAIL: loaded {checked} trace files, expected 4")
    sys.exit(1)
print(f"OK: TensorBoard's profiler plugin loaded {checked} traces, 7 steps each")
