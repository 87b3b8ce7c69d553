#!/usr/bin/env python3
"""Every collective route of this machine, side by side (docs/comm.md, "Routes").

    python3 bench/comm_routes.py TPBENCH [--nproc 2] [--launches 5] [--out DIR]

1. `tpbench comm --tune-routes` in each of --launches launches: Open MPI's default route,
   tpbench's shared-memory route and the tuned table (auto) side by side in every launch, with
   the floor (2 x a plain copy of the bytes through shared memory). Per op and size: the median
   over launches of each route's time, the spread over launches (max/min of the per-launch
   time), the ratio mpi/auto and auto/floor.
2. Open MPI's other routes, one launch each, forced through MCA parameters: every algorithm of
   coll/tuned (coll_tuned_use_dynamic_rules=1, coll_tuned_<op>_algorithm=K) and the han and
   adapt components (their priority raised above tuned's).
Writes DIR/routes.md (the tables) and DIR/routes.json (every number), prints routes.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

OPS = ["all_reduce", "all_gather", "reduce_scatter", "broadcast"]
# coll/tuned's algorithms per op (ompi_info --param coll tuned --level 9, Open MPI 4.1).
TUNED = {
    "all_reduce": ("allreduce", {1: "basic_linear", 2: "nonoverlapping", 3: "recursive_doubling", 4: "ring",
                                 5: "segmented_ring", 6: "rabenseifner"}),
    "all_gather": ("allgather", {1: "linear", 2: "bruck", 3: "recursive_doubling", 4: "ring", 5: "neighbor",
                                 6: "two_proc"}),
    "reduce_scatter": ("reduce_scatter", {1: "non-overlapping", 2: "recursive_halving", 3: "ring", 4: "butterfly"}),
    "broadcast": ("bcast", {1: "basic_linear", 2: "chain", 3: "pipeline", 4: "split_binary_tree",
                            5: "binary_tree", 6: "binomial", 7: "knomial", 8: "scatter_allgather",
                            9: "scatter_allgather_ring"}),
}
COMPONENTS = {"han": {"OMPI_MCA_coll_han_priority": "100"}, "adapt": {"OMPI_MCA_coll_adapt_priority": "100"}}


def run(cmd, env=None):
    p = subprocess.run(cmd, env={**os.environ, **(env or {})}, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"comm_routes: {' '.join(cmd)} exited {p.returncode}:\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
    return p.stdout


def mean_us(row):
    return 0.5 * (row["out_of_place_us"] + row["in_place_us"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("tpbench")
    ap.add_argument("--nproc", type=int, default=2)
    ap.add_argument("--launches", type=int, default=5)
    ap.add_argument("--min-bytes", default="256K")
    ap.add_argument("--max-bytes", default="64M")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--out", default="outputs/comm_routes")
    ap.add_argument("--no-mca", action="store_true", help="skip Open MPI's MCA-forced routes")
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    sweep = ["-b", a.min_bytes, "-e", a.max_bytes, "-f", "2", "-n", str(a.iters), "-w", "3"]

    launches = []
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(a.launches):
            prof = os.path.join(tmp, f"p{k}.json")
            run([a.tpbench, "--nproc", str(a.nproc), "comm", "--tune-routes", *sweep, "--profile-out", prof])
            with open(prof) as f:
                launches.append(json.load(f)["route_tuning"])
        mca = {}
        if not a.no_mca:
            for op in OPS:
                name, algs = TUNED[op]
                for alg, alg_name in algs.items():
                    env = {"OMPI_MCA_coll_tuned_use_dynamic_rules": "1", f"OMPI_MCA_coll_tuned_{name}_algorithm": str(alg)}
                    res = os.path.join(tmp, "r.json")
                    run([a.tpbench, "--nproc", str(a.nproc), "--coll-route", "mpi", "comm", "--op", op, *sweep,
                         "--json", res], env)
                    with open(res) as f:
                        rows = json.load(f)["ops"][0]["sizes"]
                    mca.setdefault(op, {})[f"tuned:{alg_name}"] = [
                        0.5 * (r["out_of_place"]["time_us"] + r["in_place"]["time_us"]) for r in rows]
                for comp, env in COMPONENTS.items():
                    res = os.path.join(tmp, "r.json")
                    run([a.tpbench, "--nproc", str(a.nproc), "--coll-route", "mpi", "comm", "--op", op, *sweep,
                         "--json", res], env)
                    with open(res) as f:
                        rows = json.load(f)["ops"][0]["sizes"]
                    mca[op][comp] = [0.5 * (r["out_of_place"]["time_us"] + r["in_place"]["time_us"]) for r in rows]

    md = [f"# Collective routes on {a.nproc} ranks, fp32, {a.launches} launches of `comm --tune-routes`\n",
          "Time per call in us (the mean of out-of-place and in-place, slowest rank): the median over launches;",
          "spread = max/min over launches of that route's time; floor = 2 x a plain shared-memory copy of the bytes.\n"]
    out = {"nproc": a.nproc, "launches": launches, "mca": mca}
    for op in OPS:
        sizes = [r["bytes"] for r in launches[0][op]["trials"]["mpi"]["sizes"]]
        md.append(f"\n## {op}\n")
        md.append("| bytes | mpi | shm | auto | auto route | floor | mpi/auto | auto/floor | spread mpi | spread auto |")
        md.append("|---:|---:|---:|---:|:---|---:|---:|---:|---:|---:|")
        for i, b in enumerate(sizes):
            t = {r: [mean_us(L[op]["trials"][r]["sizes"][i]) for L in launches] for r in ("mpi", "shm", "auto")}
            fl = statistics.median(L[op]["floor_us"][i] for L in launches)
            med = {r: statistics.median(v) for r, v in t.items()}
            routes = sorted({L[op]["trials"]["auto"]["sizes"][i]["route"] for L in launches})
            md.append(f"| {b} | {med['mpi']:.1f} | {med['shm']:.1f} | {med['auto']:.1f} | {'/'.join(routes)} | "
                      f"{fl:.1f} | {med['mpi'] / med['auto']:.2f} | {med['auto'] / fl:.2f} | "
                      f"{max(t['mpi']) / min(t['mpi']):.2f} | {max(t['auto']) / min(t['auto']):.2f} |")
        if op in mca:
            md.append(f"\nOpen MPI forced through MCA parameters (one launch each), us:\n")
            md.append("| route | " + " | ".join(str(b) for b in sizes) + " |")
            md.append("|---|" + "---:|" * len(sizes))
            for name, times in mca[op].items():
                md.append(f"| {name} | " + " | ".join(f"{x:.1f}" for x in times) + " |")
    text = "\n".join(md) + "\n"
    with open(os.path.join(a.out, "routes.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "routes.json"), "w") as f:
        json.dump(out, f, indent=1)
    print(text)


if __name__ == "__main__":
    main()
