#!/usr/bin/env python3
"""Sequence parallelism's two targets (issue 16; docs/metrics.md "With sequence parallelism").

    python3 bench/train_sp.py TPBENCH [--launches 3] [--iters 12] [--out DIR]

1. Memory: the small preset at tp 4 on 4 ranks, with and without --sp. The blocks' share of
   the activations is measured from two real runs per setting that differ only in the
   number of layers: (held activations at 4 layers - at 2 layers) / 2 is what one layer
   keeps (its BlockActivations and its input in the residual stream), measured by the
   tracking allocator (summary.json). Printed beside the formula's ratio.
2. Step time: the small preset at tp 2 on 2 ranks, --sp off and on alternating launch by
   launch; the medians of the per-launch median step times, and the TP communication per
   step by collective (summary.json's tp_by_collective). The losses of both must agree.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def train(tpbench, nproc, args, out, name):
    doc = os.path.join(out, name + ".json")
    cmd = [tpbench, "--nproc", str(nproc), "train", "--preset", "small", *args, "--out", out, "--run-name", name,
           "--json", doc]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"train_sp: {' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    with open(doc) as f:
        d = json.load(f)
    with open(os.path.join(d["run_directory"], "summary.json")) as f:
        return json.load(f), d.get("losses", [])


def per_layer_formula(sp, tp=4, batch=8, seq=256, dim=256, heads=8, kv_heads=4, ffn=688):
    """Elements one layer keeps per the formula (BlockActivations + its input)."""
    n, hd = batch * seq, dim // heads
    ns = n // tp if sp else n
    hl, kvl, fl = heads // tp, kv_heads // tp, ffn // tp
    return ns * (2 + 3 * dim) + n * (2 * hl * hd + 2 * kvl * hd + hl + 3 * fl) + ns * dim


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tpbench")
    ap.add_argument("--launches", type=int, default=3)
    ap.add_argument("--iters", type=int, default=12)
    ap.add_argument("--out", default="outputs/train_sp")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    doc = {"memory": {}, "time": {}}

    layer = {}
    for sp in (False, True):
        held = {}
        for layers in (4, 2):
            args = ["--tp", "4", "--layers", str(layers), "--iters", "2", "--warmup-iters", "1"] + (["--sp"] if sp else [])
            s, _ = train(a.tpbench, 4, args, a.out, f"mem-{'sp' if sp else 'nosp'}-L{layers}")
            held[layers] = s["held_memory_bytes"]["activations"]["max"]
        layer[sp] = (held[4] - held[2]) / 2
        doc["memory"]["sp" if sp else "no_sp"] = {"held_activations_bytes": held, "per_layer_bytes": layer[sp],
                                                  "per_layer_formula_bytes": 4 * per_layer_formula(sp)}
    measured = layer[True] / layer[False]
    formula = per_layer_formula(True) / per_layer_formula(False)
    doc["memory"]["ratio_measured"], doc["memory"]["ratio_formula"] = measured, formula

    res = {False: [], True: []}
    losses = {}
    for k in range(a.launches):
        for sp in (False, True):
            args = ["--tp", "2", "--iters", str(a.iters)] + (["--sp"] if sp else [])
            s, l = train(a.tpbench, 2, args, a.out, f"time-{'sp' if sp else 'nosp'}-{k}")
            res[sp].append(s)
            losses.setdefault(sp, l)
    step = {sp: statistics.median(x["step_ms"]["median"] for x in v) for sp, v in res.items()}
    rel = max(abs(x - y) / abs(y) for x, y in zip(losses[True], losses[False])) if losses[False] else float("nan")
    rows = []
    for sp in (False, True):
        for op in ("all_reduce", "all_gather", "reduce_scatter"):
            xs = [x.get("tp_by_collective", {}).get(op) for x in res[sp]]
            if not xs or xs[0] is None or xs[0]["calls_per_step"] == 0:
                continue
            med = lambda key: statistics.median(x[key]["median"] for x in xs)
            rows.append(f"| {'on' if sp else 'off'} | {op} | {xs[0]['calls_per_step']:.0f} | "
                        f"{xs[0]['bytes_per_step'] / 2**20:.2f} | {med('comm_ms'):.2f} | {med('wait_ms'):.2f} | "
                        f"{med('transfer_ms'):.2f} |")
    doc["time"] = {"step_ms_per_launch": {("sp" if sp else "no_sp"): [x["step_ms"]["median"] for x in v]
                                          for sp, v in res.items()},
                   "step_ms": {"no_sp": step[False], "sp": step[True]}, "loss_max_rel_diff": rel}
    text = (f"Memory: small preset, tp 4 on 4 ranks, batch 8, seq 256; one layer's activations = (held at 4 "
            f"layers - held at 2) / 2, tracking allocator.\n\n"
            f"| --sp | one layer, measured (MiB) | formula (MiB) |\n|---|---:|---:|\n"
            f"| off | {layer[False] / 2**20:.3f} | {4 * per_layer_formula(False) / 2**20:.3f} |\n"
            f"| on | {layer[True] / 2**20:.3f} | {4 * per_layer_formula(True) / 2**20:.3f} |\n\n"
            f"SP / no SP: measured {measured:.3f}, formula {formula:.3f} (target <= 0.60)\n\n"
            f"Step time: small preset, tp 2 on 2 ranks, {a.iters} iterations, {a.launches} launches each, "
            f"alternating.\n\nstep ms per launch, off: "
            + " / ".join(f"{x['step_ms']['median']:.1f}" for x in res[False])
            + "; on: " + " / ".join(f"{x['step_ms']['median']:.1f}" for x in res[True])
            + f"\nmedian: off {step[False]:.1f}, on {step[True]:.1f}: on/off {step[True] / step[False]:.3f} "
            f"(target <= 1.05); losses max relative difference {rel:.1e}\n\n"
            "| --sp | TP collective | calls/step | MiB/step | ms/step | wait | transfer |\n"
            "|---|---|---:|---:|---:|---:|---:|\n" + "\n".join(rows) + "\n")
    with open(os.path.join(a.out, "train_sp.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "train_sp.json"), "w") as f:
        json.dump(doc, f, indent=1)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
