#!/usr/bin/env python3
"""End-to-end check of `tpbench comm`: run `--op all` on N ranks with the given extra flags,
then read the table it printed and the JSON and cost profile it wrote, and check them.

usage: check_comm_run.py TPBENCH NPROC OUTDIR [EXTRA FLAGS...]
"""
import json
import os
import shutil
import subprocess
import sys

OPS = ["all_reduce", "all_gather", "reduce_scatter", "broadcast", "all_to_all"]
SIZES = [8, 64, 512, 4096, 32768, 262144]  # -b 8 -e 1M -f 8
SPLITS = {"all_gather", "reduce_scatter", "all_to_all"}


def fail(msg):
    print(f"FAIL: {msg}")
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def flag(extra, name, default):
    return extra[extra.index(name) + 1] if name in extra else default


def bus_factor(op, n):
    return {"all_reduce": 2 * (n - 1) / n, "broadcast": 1.0}.get(op, (n - 1) / n)


def main():
    exe, nproc, out, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    results, profile = os.path.join(out, "comm.json"), os.path.join(out, "profile.json")
    cmd = [exe, "--nproc", str(nproc), "comm", "--op", "all", "-b", "8", "-e", "1M", "-f", "8",
           "-c", "1", "--iters", "2", "--warmup", "1", "--json", results,
           "--profile-out", profile] + extra
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=100)
    print(p.stdout)
    print(p.stderr, file=sys.stderr)
    check(p.returncode == 0, f"exit status {p.returncode}")

    dtype = flag(extra, "--dtype", "fp32")
    esize = {"fp32": 4, "bf16": 2}[dtype]
    tp = int(flag(extra, "--tp", "0"))
    group = flag(extra, "--group", "tp") if tp else "world"
    n = nproc if not tp else (tp if group == "tp" else nproc // tp)
    per_rank = "--per-rank" in extra

    # The table: one per op, nccl-tests' columns and footers, rows with #wrong 0.
    text = p.stdout
    check(text.count("#       size        count     type  redop   root") == len(OPS), "table headers")
    check(text.count("# Out of bounds values : 0 OK") == len(OPS), "out-of-bounds footers")
    check(text.count("# Avg bus bandwidth    :") == len(OPS), "average busbw footers")
    check(f"# groups: {group} of size {n}:" in text, "groups line")
    rows = [l.split() for l in text.splitlines() if l and not l.startswith("#") and len(l.split()) == 14]
    check(len(rows) == len(OPS) * len(SIZES), f"{len(rows)} table rows")
    for r in rows:
        # The last column: the route that moved the calls (groups of 1 rank: mpi; all_to_all: mpi).
        check(r[2] == dtype and r[8] == "0" and r[12] == "0" and r[13] in ("mpi", "shm"), f"row {r}")
    check(("per rank: median" in text) == per_rank, "per-rank section")

    # The JSON: every size of every op, exact, with nccl-tests' arithmetic.
    with open(results) as f:
        doc = json.load(f)
    check(doc["schema"] == "tpbench.comm/1", "schema")
    check(doc["wrong_total"] == 0, f"wrong_total {doc['wrong_total']}")
    cfg = doc["config"]
    check(cfg["world_size"] == nproc and cfg["group"] == group and cfg["group_size"] == n, f"config {cfg}")
    check(len(cfg["groups"]) == nproc // n, f"groups {cfg['groups']}")
    check([o["op"] for o in doc["ops"]] == OPS, "ops")
    for o in doc["ops"]:
        op = o["op"]
        check(abs(o["busbw_factor"] - bus_factor(op, n)) < 1e-12, f"{op} factor")
        check([s["requested_bytes"] for s in o["sizes"]] == SIZES, f"{op} sizes")
        for s in o["sizes"]:
            count = s["requested_bytes"] // esize
            if op in SPLITS:
                count -= count % n
            check(s["count"] == count and s["bytes"] == count * esize, f"{op} count {s}")
            for v in ("out_of_place", "in_place"):
                x = s[v]
                check(x["wrong"] == 0, f"{op} {v} wrong {x['wrong']} at {s['bytes']} B")
                check(x["time_us"] > 0 and len(x["group_time_us"]) == nproc // n, f"{op} {v} {x}")
                check(abs(x["time_us"] - max(x["group_time_us"])) < 1e-9, f"{op} {v} slowest group")
                algbw = s["bytes"] / (x["time_us"] * 1e-6) * 1e-9
                check(abs(x["algbw_gbps"] - algbw) <= 1e-9 * max(1, algbw), f"{op} {v} algbw")
                check(abs(x["busbw_gbps"] - algbw * bus_factor(op, n)) <= 1e-9 * max(1, algbw), f"{op} busbw")
            if per_rank:
                ranks = s["per_rank"]
                check([r["rank"] for r in ranks] == list(range(nproc)), f"{op} per-rank ranks")
                for r in ranks:
                    for v in ("out_of_place", "in_place"):
                        t = r[v]
                        check(t["wait_us"] >= 0 and t["transfer_us"] >= 0, f"{op} split {t}")
            else:
                check("per_rank" not in s, f"{op} per-rank without --per-rank")
        fit = o["fit"]
        check(fit is not None and fit["alpha_s"] >= 0 and fit["beta_s_per_byte"] >= 0, f"{op} fit {fit}")
        check(len(fit["points"]) >= 5 and fit["max_rel_err"] >= fit["rms_rel_err"] >= 0, f"{op} fit error")

    # The cost profile reads back with one fit per op.
    with open(profile) as f:
        prof = json.load(f)
    check(prof["schema"] == "tpbench.comm_profile/1", "profile schema")
    check(prof["group"] == group and prof["group_size"] == n and prof["dtype"] == dtype, "profile config")
    check(sorted(prof["ops"]) == sorted(OPS), f"profile ops {sorted(prof['ops'])}")
    print(f"OK: {len(rows)} rows, 0 wrong")


if __name__ == "__main__":
    main()
