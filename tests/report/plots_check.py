#!/usr/bin/env python3
"""The plots real `tpbench train`, `linear` and `comm` runs write at their end: every expected
file exists; each PNG decodes (matplotlib's reader) to an image that is not one colour; each
SVG parses as XML and holds drawing elements; `--no-plots` writes none. Run with Debian's
/usr/bin/python3 (python3-matplotlib).

    plots_check.py TPBENCH WORKDIR
"""
import glob
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import matplotlib
matplotlib.use("Agg")
import matplotlib.image as mpimg
import numpy as np


def fail(msg):
    sys.exit(f"FAIL: {msg}")


def run(args):
    p = subprocess.run(args, capture_output=True, text=True, timeout=240)
    if p.returncode != 0:
        fail(f"{' '.join(args)} exited {p.returncode}:\n{p.stdout}\n{p.stderr}")
    return p.stdout


def check_plots(d, names):
    for name in names:
        png, svg = os.path.join(d, name + ".png"), os.path.join(d, name + ".svg")
        for f in (png, svg):
            if not os.path.exists(f):
                fail(f"{f} missing (have {sorted(os.listdir(d)) if os.path.isdir(d) else 'no directory'})")
        img = mpimg.imread(png)
        if img.ndim != 3 or img.shape[0] < 100 or img.shape[1] < 100:
            fail(f"{png}: shape {img.shape}")
        if float(np.std(img[..., :3])) == 0.0:
            fail(f"{png}: every pixel the same colour")
        root = ET.parse(svg).getroot()
        drawn = [e for e in root.iter() if e.tag.split("}")[-1] in ("path", "polyline", "line", "rect", "use")]
        if root.tag.split("}")[-1] != "svg" or len(drawn) < 10:
            fail(f"{svg}: root {root.tag}, {len(drawn)} drawing elements")
    print(f"ok: {d}: {', '.join(names)}")


def main():
    tpbench, work = sys.argv[1], sys.argv[2]
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    out = run([tpbench, "--nproc", "2", "train", "--preset", "tiny", "--tp", "2", "--iters", "8",
               "--out", os.path.join(work, "train")])
    (r,) = glob.glob(os.path.join(work, "train", "train", "*"))
    if "plots/summary.png" not in out:
        fail("the train summary does not say where the plots are:\n" + out[-800:])
    if "loss (8 iterations)" not in out:
        fail("no text plot of the loss in the summary:\n" + out[-1500:])
    check_plots(os.path.join(r, "plots"), ["summary", "loss", "dt", "dtf", "dtb", "optimizer", "tp_comm",
                                           "tp_wait", "tp_transfer", "grad_norm", "lr", "memory_by_category"])
    run([tpbench, "--nproc", "2", "linear", "--mode", "both", "--out", os.path.join(work, "linear")])
    check_plots(os.path.join(work, "linear", "plots"), ["phases", "summary"])
    comm_json = os.path.join(work, "comm", "comm.json")
    run([tpbench, "--nproc", "2", "comm", "-b", "1K", "-e", "256K", "-f", "4", "--json", comm_json])
    check_plots(os.path.join(work, "comm", "comm-plots"), ["comm_busbw", "summary"])
    run([tpbench, "--nproc", "2", "train", "--preset", "tiny", "--iters", "4", "--out", os.path.join(work, "np"),
         "--no-plots"])
    (r,) = glob.glob(os.path.join(work, "np", "train", "*"))
    if os.path.exists(os.path.join(r, "plots")):
        fail("--no-plots wrote plots")
    print("ok")


if __name__ == "__main__":
    main()
