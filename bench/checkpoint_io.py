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
- dd: N dd processes at once, each copying a file of one rank's size of random bytes (in
  tmpfs) to a new file (bs 4M, oflag=direct conv=fsync: O_DIRECT writes and an fsync, as
  the save), then, after
  dropping the page cache, reading the copies back at once (through the page cache, as
  tpbench reads).
The page cache is dropped before every write and read, and the save and dd's write
alternate which goes first.
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


def dd_parallel(sources, targets):
    """Seconds until the last of the dd processes (one per source, at once) is done."""
    procs = []
    t0 = time.perf_counter()
    for src, dst in zip(sources, targets):
        args = ["dd", f"if={src}", f"of={dst}", "bs=4M"] + (["oflag=direct", "conv=fsync"] if dst != "/dev/null" else [])
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    for q in procs:
        q.wait()
    return time.perf_counter() - t0


def probe_rank_bytes(a):
    """One rank's checkpoint file size for this model (a throwaway save)."""
    save = os.path.join(a.dir, "probe")
    sh([a.tpbench, "--nproc", str(a.nproc), "train", "--preset", "small", "--layers", str(a.layers), "--iters", "1",
        "--warmup-iters", "0", "--save-dir", save, "--out", os.path.join(a.dir, "runs")])
    size = os.path.getsize(os.path.join(save, "step-00000001", "rank-00000.bin"))
    shutil.rmtree(save)
    return size


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
    # dd's input: random bytes of one rank's size in tmpfs (not dropped with the page cache).
    rank_bytes = probe_rank_bytes(a)
    sources = []
    for i in range(a.nproc):
        src = f"/dev/shm/tpb-ckpt-bench-src-{i}"
        with open(src, "wb") as f:
            f.write(os.urandom(rank_bytes))
        sources.append(src)
    for r in range(a.repeat):
        save = os.path.join(a.dir, f"ckpt{r}")
        files = [os.path.join(a.dir, f"dd{r}-{i}") for i in range(a.nproc)]

        def tpbench_save():
            drop_caches()
            out = sh([a.tpbench, "--nproc", str(a.nproc), "train", "--preset", "small", "--layers", str(a.layers),
                      "--iters", "1", "--warmup-iters", "0", "--save-dir", save, "--out", os.path.join(a.dir, "runs")])
            m = re.search(r"checkpoint \S+: \d+ files, [\d.]+ MiB \(([\d.]+) MiB a rank\) in ([\d.]+) s", out)
            rows["tpbench save"].append(float(m.group(1)) / float(m.group(2)))

        def dd_write():
            drop_caches()
            rows["dd write"].append(rank_bytes / mib / dd_parallel(sources, files))

        # Alternate which goes first: this VM's first touches of guest memory are slow, and
        # whichever runs after a large process freed its memory gets warm pages.
        for f in ((tpbench_save, dd_write) if r % 2 == 0 else (dd_write, tpbench_save)):
            f()
        drop_caches()
        out = sh([a.tpbench, "--nproc", str(a.nproc), "train", "--iters", "2", "--warmup-iters", "0", "--resume", save,
                  "--out", os.path.join(a.dir, "runs")])
        m = re.search(r"a rank needed ([\d.]+) MiB and read ([\d.]+) MiB in ([\d.]+) s", out)
        rows["tpbench load"].append(float(m.group(2)) / float(m.group(3)))
        drop_caches()
        rows["dd read"].append(rank_bytes / mib / dd_parallel(files, ["/dev/null"] * a.nproc))
        for f in files:
            os.remove(f)
        shutil.rmtree(save)
        print(f"repeat {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f} MiB/s" for k, v in rows.items()), flush=True)
    for src in sources:
        os.remove(src)
    rank_mib = rank_bytes / mib
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"\n{a.nproc} ranks, {rank_mib:.1f} MiB a rank; MiB/s a rank, median of {a.repeat}:")
    for k, v in med.items():
        print(f"  {k:14} {v:8.0f}   ({', '.join(f'{x:.0f}' for x in rows[k])})")
    print(f"  save / dd write = {med['tpbench save'] / med['dd write']:.2f}   "
          f"load / dd read = {med['tpbench load'] / med['dd read']:.2f}   (target >= 0.5)")
    shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
