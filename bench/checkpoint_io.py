#!/usr/bin/env python3
"""Checkpoint save and load throughput per rank beside the disk's own (issue 19's target:
>= 50% of dd's sequential write / read bandwidth measured the same way).

    python3 bench/checkpoint_io.py TPBENCH [--nproc 2] [--repeat 3] [--dir DIR] [--layers 16]

Per repeat, alternating:
- tpbench: `train --preset small --layers L` on N ranks (DDP, so every rank writes an even
  share), 1 iteration, saved; the save line gives each rank's bytes and the slowest rank's
  write + fsync seconds. Then the page cache is dropped and the same checkpoint is resumed
  at the same layout: the load line gives the bytes a rank read and the slowest rank's
  seconds (open, read, CRC check, copy into the buffers).
- dd: N dd processes at once, each writing a file of one rank's size (bs 4M, conv=fsync:
  the write and fsync, as the save), then, after dropping the page cache, reading them back
  at once (iflag=direct off: through the page cache, as tpbench reads).
The throughput a rank sees is bytes / seconds of the slowest of the N. Medians of the
repeats are printed, and the ratios. Needs root (echo 3 > /proc/sys/vm/drop_caches).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time


def sh(cmd, **kw):
    p = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        sys.exit(f"checkpoint_io: {' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout + p.stderr


def drop_caches():
    subprocess.run(["sync"])
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")


def dd_parallel(paths, nbytes, write):
    """Seconds until the last of len(paths) dd processes is done."""
    bs = 4 << 20
    count = max(1, nbytes // bs)
    procs = []
    t0 = time.perf_counter()
    for p in paths:
        args = (["dd", "if=/dev/zero", f"of={p}", f"bs={bs}", f"count={count}", "conv=fsync"] if write
                else ["dd", f"if={p}", "of=/dev/null", f"bs={bs}"])
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for q in procs:
        q.wait()
    return time.perf_counter() - t0, count * bs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tpbench")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--layers", type=int, default=16)
    ap.add_argument("--dir", default="/tmp/tpb-ckpt-bench")
    a = ap.parse_args()
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir)
    mib = float(1 << 20)
    rows = {"tpbench save": [], "dd write": [], "tpbench load": [], "dd read": []}
    for r in range(a.repeat):
        save = os.path.join(a.dir, f"ckpt{r}")
        out = sh([a.tpbench, "--nproc", str(a.nproc), "train", "--preset", "small", "--layers", str(a.layers),
                  "--iters", "1", "--warmup-iters", "0", "--save-dir", save, "--out", os.path.join(a.dir, "runs")])
        m = re.search(r"checkpoint \S+: \d+ files, [\d.]+ MiB \(([\d.]+) MiB a rank\) in ([\d.]+) s", out)
        rank_mib, secs = float(m.group(1)), float(m.group(2))
        rows["tpbench save"].append(rank_mib / secs)
        drop_caches()
        out = sh([a.tpbench, "--nproc", str(a.nproc), "train", "--iters", "2", "--warmup-iters", "0", "--resume", save,
                  "--out", os.path.join(a.dir, "runs")])
        m = re.search(r"a rank needed ([\d.]+) MiB and read ([\d.]+) MiB in ([\d.]+) s", out)
        rows["tpbench load"].append(float(m.group(2)) / float(m.group(3)))
        files = [os.path.join(a.dir, f"dd{r}-{i}") for i in range(a.nproc)]
        secs, nbytes = dd_parallel(files, int(rank_mib * mib), write=True)
        rows["dd write"].append(nbytes / mib / secs)
        drop_caches()
        secs, nbytes = dd_parallel(files, int(rank_mib * mib), write=False)
        rows["dd read"].append(nbytes / mib / secs)
        for f in files:
            os.remove(f)
        shutil.rmtree(save)
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f} MiB/s" for k, v in rows.items()), flush=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"\n{a.nproc} ranks, {rank_mib:.1f} MiB a rank; MiB/s a rank, median of {a.repeat}:")
    for k, v in med.items():
        print(f"  {k:14} {v:8.0f}   ({', '.join(f'{x:.0f}' for x in rows[k])})")
    print(f"  save / dd write = {med['tpbench save'] / med['dd write']:.2f}   "
          f"load / dd read = {med['tpbench load'] / med['dd read']:.2f}   (target >= 0.5)")
    shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
