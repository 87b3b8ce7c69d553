#!/usr/bin/env python3
"""tpbench's report generator: tables, charts and a self-contained HTML page from run
directories (what `tpbench sweep` and `tpbench report` call; docs/reports.md).

    make_report.py INPUT... --out DIR [--title TEXT] [--quiet]

INPUT: a sweep directory (sweep.json), a train run directory (config.json, metrics.jsonl,
summary.json), a linear results.json or its directory, a comm --json file, or any
directory holding these (searched recursively, in name order).

Writes into DIR: report.md, report.html (charts inlined, no network), results.csv,
results.json, charts/{phases,comm_ranks,loss,memory,throughput,comm_busbw}.{png,svg} (those
that have data), and prints the table to stdout.

Every number comes from the runs' own files; the formulas are in docs/reports.md and
docs/metrics.md. Needs Python 3 and matplotlib (Debian: python3-matplotlib).
"""

import argparse
import csv
import datetime
import html
import io
import json
import math
import os
import re
import statistics
import sys

SCHEMA = "tpbench.report/1"

# Columns of results.csv, in order (results.json's rows carry the same keys).
COLUMNS = [
    "name", "label", "kind", "status", "error", "date", "machine", "hostname",
    "preset", "mode", "world_size", "tp", "dp", "batch", "seq",
    "wall_s", "startup_s", "train_s",
    "step_mean_ms", "step_median_ms", "step_p95_ms",
    "forward_ms", "backward_ms", "optimizer_ms",
    "tp_comm_ms", "tp_wait_ms", "tp_transfer_ms", "tp_comm_share",
    "dp_comm_ms", "dp_wait_ms", "dp_transfer_ms", "dp_comm_share",
    "tokens_per_s", "samples_per_s", "mfu", "peak_mem_bytes_per_rank",
    "loss_first", "loss_last", "speedup", "baseline",
    "command", "source",
]

MEM_CATEGORIES = ["parameters", "gradients", "optimizer_state", "activations", "comm_buffers", "other"]


# ----------------------------------------------------------------------------- reading

def load_json(path):
    with open(path) as f:
        return json.load(f)


def load_jsonl(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line:
                out.append(json.loads(line))
    return out


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def stamp_date(name):
    """'2026-11-21-142301' -> '2026-11-21 14:23:01', else None."""
    m = re.fullmatch(r"(\d{4}-\d{2}-\d{2})-(\d{2})(\d{2})(\d{2})", name)
    return f"{m.group(1)} {m.group(2)}:{m.group(3)}:{m.group(4)}" if m else None


def file_date(path):
    t = datetime.datetime.fromtimestamp(os.path.getmtime(path))
    return t.strftime("%Y-%m-%d %H:%M:%S")


def schema_of(path):
    try:
        with open(path) as f:
            head = f.read(4096)
        m = re.search(r'"schema"\s*:\s*"([^"]+)"', head)
        if m:
            return m.group(1)
        return load_json(path).get("schema")
    except (OSError, ValueError, AttributeError):
        return None


class Inputs:
    """What was found: train/linear runs (report rows, in order) and comm results."""

    def __init__(self):
        self.runs = []   # dicts: kind, name, source, status, error, ...
        self.comms = []  # (path, document)
        self.seen = set()


def add_train_run(found, run_dir, name=None, manifest_entry=None, sweep_dir=None):
    real = os.path.realpath(run_dir)
    if real in found.seen:
        return
    found.seen.add(real)
    run = {"kind": "train", "source": run_dir, "status": "ok", "error": None,
           "name": name or os.path.basename(os.path.dirname(os.path.abspath(run_dir))) or run_dir,
           "date": stamp_date(os.path.basename(os.path.normpath(run_dir)))}
    if manifest_entry:
        run.update(from_manifest(manifest_entry, sweep_dir))
    try:
        run["config"] = load_json(os.path.join(run_dir, "config.json"))
        run["summary"] = load_json(os.path.join(run_dir, "summary.json"))
        run["metrics"] = load_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    except (OSError, ValueError) as e:
        run["status"] = "failed"
        run["error"] = f"unreadable run directory {run_dir}: {e}"
    found.runs.append(run)


def add_linear_results(found, path, name=None, manifest_entry=None, sweep_dir=None):
    real = os.path.realpath(path)
    if real in found.seen:
        return
    found.seen.add(real)
    base = {"kind": "linear", "source": path, "status": "ok", "error": None,
            "name": name or os.path.basename(os.path.dirname(os.path.abspath(path))) or path,
            "date": file_date(path)}
    if manifest_entry:
        base.update(from_manifest(manifest_entry, sweep_dir))
    try:
        doc = load_json(path)
    except (OSError, ValueError) as e:
        base.update(status="failed", error=f"unreadable {path}: {e}")
        found.runs.append(base)
        return
    modes = list(doc.get("modes", {}).keys())
    for mode in modes:
        run = dict(base)
        run["results"] = doc
        run["mode"] = mode
        if len(modes) > 1:
            run["name"] = f"{base['name']}/{mode}"
        found.runs.append(run)


def from_manifest(entry, sweep_dir):
    return {"name": entry.get("name"),
            "command": entry.get("command_line"),
            "wall_s": entry.get("wall_s"),
            "requested": entry,
            "log": os.path.join(sweep_dir, entry["log"]) if entry.get("log") else None,
            "date": (entry.get("started_at") or "").replace("T", " ")[:19] or None}


def add_sweep(found, sweep_dir):
    manifest = load_json(os.path.join(sweep_dir, "sweep.json"))
    for entry in manifest.get("configs", []):
        run_dir = os.path.join(sweep_dir, entry["run_dir"]) if entry.get("run_dir") else None
        status = entry.get("status")
        if status == "ok" and run_dir and entry.get("command") == "train":
            add_train_run(found, run_dir, entry.get("name"), entry, sweep_dir)
        elif status == "ok" and run_dir and entry.get("command") == "linear":
            add_linear_results(found, os.path.join(run_dir, "results.json"), entry.get("name"), entry, sweep_dir)
        else:
            run = {"kind": entry.get("command", "train"), "source": sweep_dir, "status": status or "failed",
                   "error": entry.get("error") or ("not run" if status == "pending" else "failed")}
            run.update(from_manifest(entry, sweep_dir))
            if status == "pending":
                run["status"] = "not run"
            else:
                run["status"] = "failed"
            found.runs.append(run)
        if run_dir:
            found.seen.add(os.path.realpath(run_dir))
            found.seen.add(os.path.realpath(os.path.join(run_dir, "results.json")))


def collect(paths):
    found = Inputs()

    def visit_file(path):
        schema = schema_of(path)
        if schema == "tpbench.sweep/1":
            add_sweep(found, os.path.dirname(path) or ".")
        elif schema == "tpbench.linear/1":
            add_linear_results(found, path)
        elif schema == "tpbench.comm/1":
            if os.path.realpath(path) not in found.seen:
                found.seen.add(os.path.realpath(path))
                try:
                    found.comms.append((path, load_json(path)))
                except (OSError, ValueError) as e:
                    print(f"make_report: skipping {path}: {e}", file=sys.stderr)
        elif schema in ("tpbench.train.config/1", "tpbench.train.summary/1"):
            add_train_run(found, os.path.dirname(path) or ".")
        return schema

    def visit_dir(d):
        if os.path.isfile(os.path.join(d, "sweep.json")):
            if os.path.realpath(d) not in found.seen:
                found.seen.add(os.path.realpath(d))
                add_sweep(found, d)
            return
        if os.path.isfile(os.path.join(d, "config.json")) and schema_of(os.path.join(d, "config.json")) == "tpbench.train.config/1":
            add_train_run(found, d)
            return
        entries = sorted(os.listdir(d))
        for e in entries:
            p = os.path.join(d, e)
            if os.path.isfile(p) and e.endswith(".json"):
                visit_file(p)
        for e in entries:
            p = os.path.join(d, e)
            if os.path.isdir(p) and not e.startswith("profiler_logs") and e != "charts":
                visit_dir(p)

    for p in paths:
        if os.path.isdir(p):
            visit_dir(p)
        elif os.path.isfile(p):
            if visit_file(p) is None:
                print(f"make_report: {p}: not a tpbench results file (no known \"schema\")", file=sys.stderr)
        else:
            raise SystemExit(f"make_report: {p}: no such file or directory")
    return found


# ----------------------------------------------------------------------------- rows

def machine_key(m):
    return json.dumps(m or {}, sort_keys=True)


def slowest_per_iter(metrics, key="dt_ms", timed_only=False):
    by_iter = {}
    for rec in metrics:
        if timed_only and rec.get("warmup"):
            continue
        by_iter[rec["iter"]] = max(by_iter.get(rec["iter"], 0.0), rec.get(key) or 0.0)
    return by_iter


def train_row(run):
    cfg, s, metrics = run["config"], run["summary"], run["metrics"]
    mesh = cfg.get("mesh", {})
    model = cfg.get("model", {})
    training = cfg.get("training", {})
    step = s.get("step_ms", {})

    def med(k):
        return (s.get(k) or {}).get("median")

    train_s = sum(slowest_per_iter(metrics).values()) / 1e3
    wall = run.get("wall_s")
    row = {
        "preset": cfg.get("preset"), "world_size": mesh.get("world_size"), "tp": mesh.get("tp"),
        "dp": mesh.get("dp"), "batch": training.get("batch_per_dp_rank"), "seq": model.get("seq"),
        "wall_s": wall, "train_s": train_s,
        "startup_s": (wall - train_s) if wall is not None else None,
        "step_mean_ms": step.get("mean"), "step_median_ms": step.get("median"), "step_p95_ms": step.get("p95"),
        "forward_ms": med("forward_ms"), "backward_ms": med("backward_ms"), "optimizer_ms": med("optimizer_ms"),
        "tp_comm_ms": med("tp_comm_ms"), "tp_wait_ms": med("tp_wait_ms"), "tp_transfer_ms": med("tp_transfer_ms"),
        "dp_comm_ms": med("dp_comm_ms"), "dp_wait_ms": med("dp_wait_ms"), "dp_transfer_ms": med("dp_transfer_ms"),
        "tokens_per_s": s.get("tokens_per_s"), "mfu": s.get("mfu"),
        "peak_mem_bytes_per_rank": ((s.get("peak_memory_bytes") or {}).get("total") or {}).get("max"),
        "loss_first": s.get("loss_first"), "loss_last": s.get("loss_last"),
    }
    # Per rank, for the charts: medians over timed iterations; memory peaks over all.
    ranks = sorted({r["rank"] for r in metrics})
    per_rank = []
    for rk in ranks:
        recs = [r for r in metrics if r["rank"] == rk]
        timed = [r for r in recs if not r.get("warmup")] or recs
        mem = {c: max((r.get("mem_peak_bytes") or {}).get(c, 0) for r in recs) for c in MEM_CATEGORIES}
        per_rank.append({"rank": rk,
                         **{k: median([r.get(k) for r in timed]) for k in
                            ("dt_ms", "dtf_ms", "dtb_ms", "opt_ms", "tp_wait_ms", "tp_transfer_ms",
                             "dp_wait_ms", "dp_transfer_ms")},
                         "mem_peak_bytes": mem,
                         "mem_total_peak_bytes": max(r.get("mem_total_peak_bytes", 0) for r in recs)})
    loss = sorted(((r["iter"], r["loss"]) for r in metrics if r["rank"] == ranks[0]), key=lambda t: t[0]) if ranks else []
    return row, per_rank, loss, cfg.get("machine")


def linear_row(run):
    doc, mode = run["results"], run["mode"]
    c = doc.get("config", {})
    m = doc["modes"][mode]
    s = m.get("summary", {})

    def med(k):
        return (s.get(k) or {}).get("median")

    ranks = m.get("ranks", [])
    by_iter = {}
    for r in ranks:
        for i, it in enumerate(r.get("iterations", [])):
            by_iter[i] = max(by_iter.get(i, 0.0), it.get("step_ms") or 0.0)
    train_s = sum(by_iter.values()) / 1e3
    wall = run.get("wall_s")
    step = s.get("step_ms", {})
    world = c.get("world_size")
    row = {
        "mode": mode, "world_size": world, "tp": world, "dp": 1, "batch": c.get("batch"),
        "wall_s": wall, "train_s": train_s, "startup_s": (wall - train_s) if wall is not None else None,
        "step_mean_ms": step.get("mean"), "step_median_ms": step.get("median"), "step_p95_ms": step.get("p95"),
        "forward_ms": med("forward_ms"), "backward_ms": med("backward_ms"), "optimizer_ms": med("optimizer_ms"),
        "tp_comm_ms": med("comm_ms"), "tp_wait_ms": med("wait_ms"), "tp_transfer_ms": med("transfer_ms"),
        "dp_comm_ms": 0.0, "dp_wait_ms": 0.0, "dp_transfer_ms": 0.0,
        "samples_per_s": s.get("samples_per_s"),
    }
    per_rank = []
    for r in ranks:
        its = r.get("iterations", [])
        per_rank.append({"rank": r.get("rank"),
                         "dt_ms": median([i.get("step_ms") for i in its]),
                         "dtf_ms": median([i.get("forward_ms") for i in its]),
                         "dtb_ms": median([i.get("backward_ms") for i in its]),
                         "opt_ms": median([i.get("optimizer_ms") for i in its]),
                         "tp_wait_ms": median([i.get("wait_ms") for i in its]),
                         "tp_transfer_ms": median([i.get("transfer_ms") for i in its]),
                         "dp_wait_ms": 0.0, "dp_transfer_ms": 0.0})
    return row, per_rank, [], doc.get("machine")


def build_rows(found):
    rows, details, machines = [], {}, {}
    for run in found.runs:
        row = {k: None for k in COLUMNS}
        row.update(name=run.get("name"), kind=run.get("kind"), status=run.get("status"), error=run.get("error"),
                   date=run.get("date"), command=run.get("command"), source=run.get("source"),
                   wall_s=run.get("wall_s"))
        per_rank, loss, machine = [], [], None
        if run["status"] == "ok":
            try:
                if run["kind"] == "train":
                    vals, per_rank, loss, machine = train_row(run)
                else:
                    vals, per_rank, loss, machine = linear_row(run)
                row.update(vals)
            except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
                row.update(status="failed", error=f"unreadable results in {run.get('source')}: {e!r}")
        else:
            req = run.get("requested") or {}
            row.update(world_size=req.get("nproc"), tp=req.get("tp"), batch=req.get("batch"),
                       seq=req.get("seq"), mode=req.get("mode"))
            if run["kind"] == "linear" and req.get("nproc"):
                row.update(tp=req.get("nproc"), dp=1)
            elif req.get("nproc") and req.get("tp") and req["nproc"] % req["tp"] == 0:
                row["dp"] = req["nproc"] // req["tp"]
        if machine:
            key = machine_key(machine)
            if key not in machines:
                machines[key] = {"id": f"M{len(machines) + 1}", **machine}
            row["machine"] = machines[key]["id"]
            row["hostname"] = machine.get("hostname")
        step = row.get("step_median_ms")
        for g in ("tp", "dp"):
            c = row.get(f"{g}_comm_ms")
            row[f"{g}_comm_share"] = (c / step) if (c is not None and step) else None
        rows.append(row)
        details[row["name"]] = {"per_rank": per_rank, "loss": loss, "log": run.get("log")}
    make_labels(rows)
    add_speedups(rows)
    return rows, details, list(machines.values())


def make_labels(rows):
    """A short name per row for the charts: the mesh, plus whatever else differs."""
    def varies(k):
        return len({r.get(k) for r in rows if r.get(k) is not None}) > 1

    for r in rows:
        if r["kind"] == "linear":
            parts = [f"{r.get('mode') or '?'} {r.get('world_size') or '?'}r"]
        else:
            parts = [f"tp{r['tp'] if r.get('tp') is not None else '?'}·dp{r['dp'] if r.get('dp') is not None else '?'}"]
        for k, short in (("batch", "b"), ("seq", "s"), ("preset", ""), ("machine", "")):
            if varies(k) and r.get(k) is not None:
                parts.append(f"{short}{r[k]}")
        label = " ".join(parts)
        r["label"] = label
    seen = {}
    for r in rows:  # labels must tell rows apart
        seen.setdefault(r["label"], []).append(r)
    for label, group in seen.items():
        if len(group) > 1:
            for r in group:
                r["label"] = f"{label} ({r['name']})"


def add_speedups(rows):
    """Speedup = the baseline's median iteration / this row's; the baseline is the first row
    (the first that succeeded, of the same kind, when the first failed)."""
    for kind in ("train", "linear"):
        ok = [r for r in rows if r["kind"] == kind and r["status"] == "ok" and r.get("step_median_ms")]
        if not ok:
            continue
        base = ok[0]
        for r in ok:
            r["speedup"] = base["step_median_ms"] / r["step_median_ms"]
            r["baseline"] = base["name"]


# ----------------------------------------------------------------------------- formatting

def fmt_num(v, digits=1):
    if v is None:
        return "—"
    if isinstance(v, float) and math.isnan(v):
        return "—"
    return f"{v:,.{digits}f}"


def fmt_pct(v):
    return "—" if v is None else f"{100 * v:.1f}%"


def fmt_bytes(b):
    if b is None:
        return "—"
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if b >= div:
            return f"{b / div:.1f} {unit}"
    return f"{b} B"


def fmt_mesh(r):
    if r.get("kind") == "linear":
        return f"{r.get('world_size') or '?'} ranks"
    return f"{r['dp'] if r.get('dp') is not None else '?'} x {r['tp'] if r.get('tp') is not None else '?'}"


def fmt_loss(r):
    if r.get("loss_first") is None:
        return "—"
    return f"{r['loss_first']:.3f} → {r['loss_last']:.3f}"


def fmt_speedup(r):
    return "—" if r.get("speedup") is None else f"{r['speedup']:.2f}x"


def table_cells(r):
    """The study's table: one list of strings per row (same order as TABLE_HEAD)."""
    thru = r.get("tokens_per_s") if r.get("kind") == "train" else r.get("samples_per_s")
    return [r["name"], r["label"], fmt_mesh(r), r.get("machine") or "—",
            fmt_num(r.get("startup_s")), fmt_num(r.get("train_s")),
            fmt_num(r.get("step_mean_ms")), fmt_num(r.get("step_median_ms")),
            fmt_num(r.get("forward_ms")), fmt_num(r.get("backward_ms")), fmt_num(r.get("optimizer_ms"), 2),
            fmt_pct(r.get("tp_comm_share")), fmt_pct(r.get("dp_comm_share")),
            fmt_num(thru, 0), fmt_pct(r.get("mfu")), fmt_bytes(r.get("peak_mem_bytes_per_rank")),
            fmt_loss(r), fmt_speedup(r)]


TABLE_HEAD = ["config", "label", "mesh dp x tp", "machine", "start-up s", "train s", "iter mean ms",
              "iter median ms", "dtf ms", "dtb ms", "opt ms", "TP comm", "DP comm", "tokens/s",
              "MFU", "peak mem/rank", "loss first → last", "speedup"]


def terminal_table(rows):
    lines = []
    body = []
    for r in rows:
        if r["status"] == "ok":
            body.append(table_cells(r))
        else:
            body.append(None)
    widths = [len(h) for h in TABLE_HEAD]
    for cells in body:
        if cells:
            widths = [max(w, len(c)) for w, c in zip(widths, cells)]

    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(c.ljust(w) if i < 2 else c.rjust(w))
        return "  ".join(out).rstrip()

    lines.append(line(TABLE_HEAD))
    for r, cells in zip(rows, body):
        if cells:
            lines.append(line(cells))
        else:
            head = f"{r['name'].ljust(widths[0])}  {r['label'].ljust(widths[1])}  {fmt_mesh(r).rjust(widths[2])}"
            lines.append(f"{head}  {r['status'].upper()}: {r.get('error') or ''}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- analysis text

def breakdown(r):
    """One sentence: where this row's median step goes."""
    step = r.get("step_median_ms")
    if not step:
        return ""
    tp = r.get("tp_comm_ms") or 0.0
    dp = r.get("dp_comm_ms") or 0.0
    opt = r.get("optimizer_ms") or 0.0
    fb = (r.get("forward_ms") or 0.0) + (r.get("backward_ms") or 0.0)
    compute = max(fb - tp - dp, 0.0)

    def part(name, v, wait=None, transfer=None):
        s = f"{name} {v:.1f} ms ({100 * v / step:.0f}%"
        if wait is not None and v > 0:
            s += f"; wait {wait:.1f}, transfer {transfer:.1f}"
        return s + ")"

    parts = [part("compute", compute)]
    if r.get("tp", 1) != 1 or tp > 0:
        parts.append(part("TP comm", tp, r.get("tp_wait_ms") or 0.0, r.get("tp_transfer_ms") or 0.0))
    if r.get("kind") == "train" and (r.get("dp", 1) != 1 or dp > 0):
        parts.append(part("DP comm", dp, r.get("dp_wait_ms") or 0.0, r.get("dp_transfer_ms") or 0.0))
    parts.append(part("optimizer", opt))
    text = f"median iteration {step:.1f} ms ≈ " + " + ".join(parts)
    if r.get("startup_s") is not None and r.get("wall_s"):
        text += (f"; the launch took {r['wall_s']:.1f} s, of which {r['train_s']:.1f} s training "
                 f"and {r['startup_s']:.1f} s start-up and shutdown")
    return text


def verdict(rows):
    lines = []
    for kind in ("train", "linear"):
        ok = [r for r in rows if r["kind"] == kind and r["status"] == "ok" and r.get("step_median_ms")]
        if not ok:
            continue
        best = min(ok, key=lambda r: r["step_median_ms"])
        worst = max(ok, key=lambda r: r["step_median_ms"])
        what = "layout" if kind == "train" else "linear configuration"
        s = (f"Fastest {what}: **{best['name']}** ({best['label']}), median iteration "
             f"{best['step_median_ms']:.1f} ms")
        if len(ok) > 1:
            s += (f", {worst['step_median_ms'] / best['step_median_ms']:.2f}x faster than the slowest "
                  f"({worst['name']}, {worst['label']}, {worst['step_median_ms']:.1f} ms)")
        if kind == "train" and best.get("tokens_per_s"):
            s += f"; {best['tokens_per_s']:,.0f} tokens/s"
        lines.append(s + ".")
    failed = [r for r in rows if r["status"] != "ok"]
    if failed:
        lines.append(f"{len(failed)} configuration{'s' if len(failed) > 1 else ''} failed: "
                     + "; ".join(f"{r['name']} ({r['label']}): {r.get('error')}" for r in failed) + ".")
    return lines


# ----------------------------------------------------------------------------- charts

def setup_matplotlib():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plt.rcParams.update({
        "svg.fonttype": "none",      # text stays text in the SVG: small files, selectable
        "svg.hashsalt": "tpbench",   # stable ids, so regenerated SVGs diff cleanly
        "figure.dpi": 100,
        "savefig.dpi": 110,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "axes.axisbelow": True,
        "grid.alpha": 0.3,
        "font.size": 9,
    })
    return plt


PHASE_COLORS = {
    "forward": "#4C72B0", "backward": "#DD8452", "optimizer": "#55A868", "other": "#C7C7C7",
    "compute": "#4C72B0", "TP wait": "#F2B6B6", "TP transfer": "#C44E52",
    "DP wait": "#C9B3E6", "DP transfer": "#8172B3",
}
MEM_COLORS = dict(zip(MEM_CATEGORIES, ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"]))


def save(fig, out_dir, name, written):
    os.makedirs(os.path.join(out_dir, "charts"), exist_ok=True)
    for ext in ("png", "svg"):
        path = os.path.join(out_dir, "charts", f"{name}.{ext}")
        fig.savefig(path, format=ext, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
    written.append(name)


def chart_phases(plt, rows, out_dir, written, titles):
    ok = [r for r in rows if r["status"] == "ok" and r.get("step_median_ms")]
    if not ok:
        return
    labels = [r["label"] for r in ok]
    x = list(range(len(ok)))
    fig, axes = plt.subplots(1, 2, figsize=(max(8, 1.6 * len(ok) + 5), 4.2), sharey=True)

    def stack(ax, parts, title):
        bottom = [0.0] * len(ok)
        for name, vals in parts:
            vals = [max(v or 0.0, 0.0) for v in vals]
            ax.bar(x, vals, 0.6, bottom=bottom, label=name, color=PHASE_COLORS[name])
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_xticks(x, labels, rotation=20 if len(ok) > 3 else 0, ha="right" if len(ok) > 3 else "center")
        ax.set_title(title)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))

    f = [r.get("forward_ms") or 0 for r in ok]
    b = [r.get("backward_ms") or 0 for r in ok]
    o = [r.get("optimizer_ms") or 0 for r in ok]
    step = [r["step_median_ms"] for r in ok]
    other = [s - (ff + bb + oo) for s, ff, bb, oo in zip(step, f, b, o)]
    stack(axes[0], [("forward", f), ("backward", b), ("optimizer", o), ("other", other)], "by phase")
    tpw = [r.get("tp_wait_ms") or 0 for r in ok]
    tpt = [r.get("tp_transfer_ms") or 0 for r in ok]
    dpw = [r.get("dp_wait_ms") or 0 for r in ok]
    dpt = [r.get("dp_transfer_ms") or 0 for r in ok]
    comp = [ff + bb - (r.get("tp_comm_ms") or 0) - (r.get("dp_comm_ms") or 0) for ff, bb, r in zip(f, b, ok)]
    stack(axes[1], [("compute", comp), ("TP wait", tpw), ("TP transfer", tpt), ("DP wait", dpw),
                    ("DP transfer", dpt), ("optimizer", o), ("other", other)], "by activity")
    axes[0].set_ylabel("ms per iteration (medians)")
    for ax, s in ((axes[0], step), (axes[1], step)):
        for xi, v in zip(x, s):
            ax.annotate(f"{v:.0f}", (xi, v), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                        textcoords="offset points")
    fig.suptitle("Iteration time per configuration")
    fig.tight_layout()
    save(fig, out_dir, "phases", written)
    titles["phases"] = ("Where an iteration's time goes",
                        "Median per-rank forward, backward and optimizer time (left), and the same step split "
                        "into compute, TP and DP communication (each as wait for the last rank vs transfer) and "
                        "optimizer (right). 'other' = median step − the phases' medians (barriers, loss, "
                        "bookkeeping; medians need not add up exactly). The number on each bar is the median "
                        "iteration of the slowest rank.")
    plt.close(fig)


def grid(plt, n, width_per=3.4, height=3.2, sharey=True):
    ncols = min(n, 4)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(6, width_per * ncols + 1.5), height * nrows),
                             sharey=sharey, squeeze=False)
    flat = [a for row in axes for a in row]
    for a in flat[n:]:
        a.set_visible(False)
    return fig, flat[:n]


def chart_comm_ranks(plt, rows, details, out_dir, written, titles):
    ok = [r for r in rows if r["status"] == "ok" and details[r["name"]]["per_rank"]
          and any((p.get("tp_wait_ms") or 0) + (p.get("tp_transfer_ms") or 0) + (p.get("dp_wait_ms") or 0)
                  + (p.get("dp_transfer_ms") or 0) > 0 for p in details[r["name"]]["per_rank"])]
    if not ok:
        return
    fig, axes = grid(plt, len(ok))
    for ax, r in zip(axes, ok):
        pr = details[r["name"]]["per_rank"]
        x = [p["rank"] for p in pr]
        bottom = [0.0] * len(pr)
        for name, key in (("TP wait", "tp_wait_ms"), ("TP transfer", "tp_transfer_ms"),
                          ("DP wait", "dp_wait_ms"), ("DP transfer", "dp_transfer_ms")):
            vals = [p.get(key) or 0.0 for p in pr]
            if not any(vals):
                continue
            ax.bar(x, vals, 0.6, bottom=bottom, label=name, color=PHASE_COLORS[name])
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_title(r["label"], fontsize=9)
        ax.set_xticks(x, [str(v) for v in x])
        ax.set_xlabel("rank")
    axes[0].set_ylabel("ms per iteration (median)")
    handles = {}
    for ax in axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(l, h)
    order = [k for k in ("TP wait", "TP transfer", "DP wait", "DP transfer") if k in handles]
    fig.legend([handles[k] for k in order], order, loc="upper center", ncol=len(order),
               bbox_to_anchor=(0.5, 1.0), fontsize=8)
    fig.suptitle("Communication per rank: waiting for the last rank vs transferring", y=1.06)
    fig.tight_layout()
    save(fig, out_dir, "comm_ranks", written)
    titles["comm_ranks"] = ("Communication per rank: wait vs transfer",
                            "Each rank's median time per iteration inside TP and DP collectives, split into "
                            "waiting for the last rank of the group to arrive (skew: load imbalance or a busy "
                            "core, not the network) and the transfer itself.")
    plt.close(fig)


def chart_loss(plt, rows, details, out_dir, written, titles):
    ok = [r for r in rows if r["status"] == "ok" and details[r["name"]]["loss"]]
    if not ok:
        return
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    markers = "os^vD<>p*h"
    for i, r in enumerate(ok):
        its, losses = zip(*details[r["name"]]["loss"])
        ax.plot(its, losses, marker=markers[i % len(markers)], markersize=4, linewidth=1.4, label=r["label"],
                alpha=0.85)
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss (mean over the global batch)")
    ax.set_title("Loss curves")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out_dir, "loss", written)
    titles["loss"] = ("Loss curves, overlaid",
                      "The loss of every iteration (warm-up included). Layouts of the same model, data and seed "
                      "should agree to rounding: tpbench builds every shard from the same full weights.")
    plt.close(fig)


def chart_memory(plt, rows, details, out_dir, written, titles):
    ok = [r for r in rows if r["status"] == "ok" and any("mem_peak_bytes" in p for p in details[r["name"]]["per_rank"])]
    if not ok:
        return
    fig, axes = grid(plt, len(ok))
    mib = float(1 << 20)
    for ax, r in zip(axes, ok):
        pr = details[r["name"]]["per_rank"]
        x = [p["rank"] for p in pr]
        bottom = [0.0] * len(pr)
        for c in MEM_CATEGORIES:
            vals = [p["mem_peak_bytes"].get(c, 0) / mib for p in pr]
            ax.bar(x, vals, 0.6, bottom=bottom, label=c.replace("_", " "), color=MEM_COLORS[c])
            bottom = [b + v for b, v in zip(bottom, vals)]
        tot = [p["mem_total_peak_bytes"] / mib for p in pr]
        ax.scatter(x, tot, marker="_", s=300, color="black", zorder=3, label="peak of the total")
        ax.set_title(r["label"], fontsize=9)
        ax.set_xticks(x, [str(v) for v in x])
        ax.set_xlabel("rank")
    axes[0].set_ylabel("MiB")
    h, l = axes[0].get_legend_handles_labels()
    fig.legend(h, l, loc="upper center", ncol=len(l), bbox_to_anchor=(0.5, 1.0), fontsize=8)
    fig.suptitle("Peak memory per rank by category", y=1.06)
    fig.tight_layout()
    save(fig, out_dir, "memory", written)
    titles["memory"] = ("Memory per rank by category",
                        "Each category's peak over the run on each rank (tpbench's tracking allocator); the "
                        "black mark is the peak of the total, which can be below the stacked sum because the "
                        "categories need not peak at the same moment.")
    plt.close(fig)


def chart_throughput(plt, rows, out_dir, written, titles):
    train = [r for r in rows if r["kind"] == "train" and r["status"] == "ok" and r.get("tokens_per_s")]
    lin = [r for r in rows if r["kind"] == "linear" and r["status"] == "ok" and r.get("samples_per_s")]
    panels = [p for p in (("train", train), ("linear", lin)) if p[1]]
    if not panels:
        return
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 4.2), squeeze=False)
    for ax, (kind, rs) in zip(axes[0], panels):
        series = {}
        for r in rs:
            if kind == "train":
                key = ", ".join(f"{k} {r.get(k)}" for k in ("preset", "world_size", "batch", "seq")
                                if len({x.get(k) for x in rs}) > 1) or f"{r.get('preset')}, {r.get('world_size')} ranks"
            else:
                key = f"mode {r.get('mode')}"
            series.setdefault(key, []).append(r)
        for key, srs in series.items():
            srs = sorted(srs, key=lambda r: r.get("tp") or 0)
            xs = [r.get("tp") for r in srs]
            ys = [r.get("tokens_per_s") if kind == "train" else r.get("samples_per_s") for r in srs]
            ax.plot(xs, ys, marker="o", linewidth=1.6, label=key)
            for r, xv, yv in zip(srs, xs, ys):
                note = f"{yv:,.0f}"
                if kind == "train" and r.get("mfu") is not None:
                    note += f"\nMFU {100 * r['mfu']:.1f}%"
                ax.annotate(note, (xv, yv), ha="center", va="bottom", fontsize=7, xytext=(0, 4),
                            textcoords="offset points")
        tps = sorted({r.get("tp") for r in rs if r.get("tp")})
        ax.set_xscale("log", base=2)
        ax.set_xticks(tps, [str(t) for t in tps])
        ax.minorticks_off()
        ax.set_xlabel("tensor-parallel size" if kind == "train" else "ranks (= TP size)")
        ax.set_ylabel("tokens/s" if kind == "train" else "samples/s")
        ax.set_ylim(bottom=0, top=max((r.get("tokens_per_s") if kind == "train" else r.get("samples_per_s"))
                                      for r in rs) * 1.25)
        ax.set_title("train: tokens/s against TP" if kind == "train" else "linear: samples/s against ranks")
        ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    save(fig, out_dir, "throughput", written)
    titles["throughput"] = ("Throughput against TP",
                            "Tokens per second (global batch tokens / median iteration), with the MFU against "
                            "the measured GEMM peak of each rank.")
    plt.close(fig)


def chart_comm_busbw(plt, comms, out_dir, written, titles):
    if not comms:
        return
    fig, ax = plt.subplots(figsize=(7.5, 4.2))
    any_line = False
    for path, doc in comms:
        cfg = doc.get("config", {})
        tag = f"{cfg.get('group', 'world')} {cfg.get('group_size', cfg.get('world_size', '?'))}r"
        for op in doc.get("ops", []):
            pts = [(z.get("bytes"), (z.get("out_of_place") or {}).get("busbw_gbps")) for z in op.get("sizes", [])]
            pts = [(b, v) for b, v in pts if b and v is not None]
            if not pts:
                continue
            xs, ys = zip(*pts)
            ax.plot(xs, ys, marker="o", markersize=3, label=f"{op.get('op')} ({tag}, {cfg.get('dtype', '')})")
            any_line = True
    if not any_line:
        plt.close(fig)
        return
    ax.set_xscale("log", base=2)
    ax.set_xlabel("bytes")
    ax.set_ylabel("bus bandwidth, GB/s (out of place)")
    ax.set_title("Collectives: bus bandwidth against size")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, out_dir, "comm_busbw", written)
    titles["comm_busbw"] = ("Collective benchmarks (tpbench comm)",
                            "busbw = bytes / time × the nccl-tests factor (docs/metrics.md), out of place.")
    plt.close(fig)


# ----------------------------------------------------------------------------- comm tables

def comm_summary(comms):
    """Rows for the comm section: per file and op, the largest size measured."""
    out = []
    for path, doc in comms:
        cfg = doc.get("config", {})
        for op in doc.get("ops", []):
            sizes = op.get("sizes") or []
            if not sizes:
                continue
            big = max(sizes, key=lambda z: z.get("bytes") or 0)
            oop = big.get("out_of_place") or {}
            fit = op.get("fit") or {}
            out.append({"source": path, "op": op.get("op"), "group": cfg.get("group"),
                        "group_size": cfg.get("group_size"), "world_size": cfg.get("world_size"),
                        "dtype": cfg.get("dtype"), "max_bytes": big.get("bytes"),
                        "time_us": oop.get("time_us"), "busbw_gbps": oop.get("busbw_gbps"),
                        "avg_busbw_gbps": op.get("avg_busbw_gbps"),
                        "alpha_us": (fit.get("alpha_s") * 1e6) if fit.get("alpha_s") is not None else None,
                        "fit_busbw_gbps": fit.get("busbw_gbps"),
                        "machine": (doc.get("machine") or {}).get("hostname")})
    return out


# ----------------------------------------------------------------------------- outputs

def write_atomic(path, data, mode="w"):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, mode) as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def csv_text(rows):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})
    return buf.getvalue()


def md_table(head, body):
    def esc(s):
        return str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(esc(h) for h in head) + " |",
             "|" + "|".join("---" if i < 2 else "---:" for i in range(len(head))) + "|"]
    for cells in body:
        lines.append("| " + " | ".join(esc(c) for c in cells) + " |")
    return "\n".join(lines)


MACHINE_FIELDS = ["hostname", "cpu_model", "logical_cores", "os", "mpi_library", "blas", "compiler"]


def body_rows(rows):
    body = []
    for r in rows:
        if r["status"] == "ok":
            body.append(table_cells(r))
        else:
            cells = [r["name"], r["label"], fmt_mesh(r), r.get("machine") or "—"]
            cells += [f"**{r['status'].upper()}**: {r.get('error') or ''}"] + [""] * (len(TABLE_HEAD) - 5)
            body.append(cells)
    return body


def markdown(title, rows, machines, comm_rows, written, titles, inputs, generated):
    out = [f"# {title}", "",
           f"Generated {generated} by `tools/report/make_report.py` from: "
           + ", ".join(f"`{p}`" for p in inputs) + ".", ""]
    v = verdict(rows)
    if v:
        out += ["## Answer", ""] + [f"- {line}" for line in v] + [""]
    if rows:
        out += ["## Results", "", md_table(TABLE_HEAD, body_rows(rows)), "",
                "start-up s = the launch's wall time − train s (mpirun, MPI and model start-up, the GEMM-peak "
                "probe, writing results, shutdown); train s = the sum over all iterations (warm-up included) of "
                "the slowest rank's step. iter = the slowest rank's step over timed iterations; dtf, dtb, opt, "
                "TP/DP comm = medians over ranks of per-rank medians; TP/DP comm as a share of the median "
                "iteration. MFU against the measured GEMM peak per rank. Speedup = the first row's median "
                "iteration / this row's. Definitions: docs/reports.md.", ""]
        notes = [f"- **{r['name']}** ({r['label']}): {breakdown(r)}." for r in rows if r["status"] == "ok" and breakdown(r)]
        if notes:
            out += ["## Where the time goes", ""] + notes + [""]
    for name in written:
        if name == "comm_busbw":
            continue
        head, caption = titles[name]
        out += [f"### {head}", "", f"![{head}](charts/{name}.png)", "", caption,
                f"([SVG](charts/{name}.svg))", ""]
    if comm_rows:
        out += ["## Collective benchmarks", "", md_table(
            ["op", "group", "dtype", "largest size", "time µs", "busbw GB/s", "avg busbw GB/s", "α µs (fit)",
             "machine", "source"],
            [[c["op"], f"{c['group']} ({c['group_size']} of {c['world_size']})", c["dtype"], fmt_bytes(c["max_bytes"]),
              fmt_num(c["time_us"]), fmt_num(c["busbw_gbps"], 3), fmt_num(c["avg_busbw_gbps"], 3),
              fmt_num(c["alpha_us"], 2), c["machine"], c["source"]] for c in comm_rows]), ""]
        if "comm_busbw" in written:
            head, caption = titles["comm_busbw"]
            out += [f"![{head}](charts/comm_busbw.png)", "", caption, ""]
    if machines:
        out += ["## Machines", "", md_table(["id"] + MACHINE_FIELDS,
                                            [[m["id"]] + [str(m.get(k, "")) for k in MACHINE_FIELDS] for m in machines]), ""]
    cmds = [r for r in rows if r.get("command")]
    out += ["## Runs", ""]
    for r in rows:
        line = f"- **{r['name']}** ({r['status']}"
        if r.get("date"):
            line += f", {r['date']}"
        line += f"): `{r.get('source')}`"
        if r.get("command"):
            line += f"  \n  `{r['command']}`"
        out.append(line)
    if not cmds and not rows:
        out.append("(none)")
    out.append("")
    return "\n".join(out)


CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1250px;
color:#222;padding:0 1em;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.meta{color:#666;font-size:.9em}
.answer{background:#eef6ee;border-left:4px solid #55A868;padding:.6em 1em;margin:1em 0}
.answer li{margin:.2em 0}
table{border-collapse:collapse;font-size:.82em;margin:.6em 0}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right;white-space:nowrap}
th{background:#f3f3f3} td.l,th.l{text-align:left}
tr.failed td{background:#fdecec;color:#8a1f1f} td.err{text-align:left;white-space:normal}
tr.best td{background:#eef6ee;font-weight:600}
figure{margin:1.2em 0} figure svg{max-width:100%;height:auto} figcaption{color:#555;font-size:.88em;max-width:60em}
code{background:#f5f5f5;padding:0 .2em;font-size:.9em} .note{color:#555;font-size:.85em;max-width:70em}
.scroll{overflow-x:auto}
"""


def inline_svg(path):
    with open(path) as f:
        text = f.read()
    text = re.sub(r"<\?xml[^>]*\?>", "", text)
    text = re.sub(r"<!DOCTYPE[^>]*>", "", text, flags=re.S)
    return text.strip()


def html_page(title, rows, machines, comm_rows, written, titles, out_dir, inputs, generated):
    e = html.escape
    best = {}
    for kind in ("train", "linear"):
        ok = [r for r in rows if r["kind"] == kind and r["status"] == "ok" and r.get("step_median_ms")]
        if ok:
            best[kind] = min(ok, key=lambda r: r["step_median_ms"])["name"]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{e(title)}</h1><p class='meta'>Generated {e(generated)} from "
             + ", ".join(f"<code>{e(p)}</code>" for p in inputs) + "</p>"]
    v = verdict(rows)
    if v:
        bold = re.compile(r"[*][*](.+?)[*][*]")
        items = "".join("<li>" + bold.sub(r"<b>\1</b>", e(line)) + "</li>" for line in v)
        parts.append(f"<div class='answer'><ul>{items}</ul></div>")
    if rows:
        head = "".join(f"<th class='{'l' if i < 2 else ''}'>{e(h)}</th>" for i, h in enumerate(TABLE_HEAD))
        trs = []
        for r in rows:
            if r["status"] == "ok":
                cells = table_cells(r)
                cls = " class='best'" if best.get(r["kind"]) == r["name"] else ""
                trs.append(f"<tr{cls}>" + "".join(f"<td class='{'l' if i < 2 else ''}'>{e(c)}</td>"
                                                  for i, c in enumerate(cells)) + "</tr>")
            else:
                trs.append(f"<tr class='failed'><td class='l'>{e(r['name'])}</td><td class='l'>{e(r['label'])}</td>"
                           f"<td>{e(fmt_mesh(r))}</td><td>{e(r.get('machine') or '—')}</td>"
                           f"<td class='err' colspan='{len(TABLE_HEAD) - 4}'><b>{e(r['status'].upper())}</b>: "
                           f"{e(r.get('error') or '')}</td></tr>")
        parts.append("<h2>Results</h2><div class='scroll'><table><tr>" + head + "</tr>" + "".join(trs)
                     + "</table></div>")
        parts.append("<p class='note'>start-up = the launch's wall time − training time (mpirun, MPI and model "
                     "start-up, GEMM-peak probe, writing results, shutdown); train = sum over all iterations of the "
                     "slowest rank's step. iter = slowest rank's step over timed iterations; dtf, dtb, opt and "
                     "communication = medians over ranks of per-rank medians; TP/DP comm as a share of the median "
                     "iteration; MFU against the measured GEMM peak; speedup = first row's median iteration / "
                     "this row's.</p>")
        notes = [f"<li><b>{e(r['name'])}</b> ({e(r['label'])}): {e(breakdown(r))}.</li>"
                 for r in rows if r["status"] == "ok" and breakdown(r)]
        if notes:
            parts.append("<h2>Where the time goes</h2><ul>" + "".join(notes) + "</ul>")
    charts = [n for n in written if n != "comm_busbw"]
    if charts:
        parts.append("<h2>Charts</h2>")
    for name in charts:
        head, caption = titles[name]
        parts.append(f"<figure><h3>{e(head)}</h3>{inline_svg(os.path.join(out_dir, 'charts', name + '.svg'))}"
                     f"<figcaption>{e(caption)}</figcaption></figure>")
    if comm_rows:
        parts.append("<h2>Collective benchmarks</h2><div class='scroll'><table><tr>"
                     + "".join(f"<th>{h}</th>" for h in ("op", "group", "dtype", "largest size", "time µs",
                                                         "busbw GB/s", "avg busbw GB/s", "α µs", "machine"))
                     + "</tr>" + "".join(
                         f"<tr><td class='l'>{e(str(c['op']))}</td><td>{e(str(c['group']))} ({c['group_size']} of "
                         f"{c['world_size']})</td><td>{e(str(c['dtype']))}</td><td>{e(fmt_bytes(c['max_bytes']))}</td>"
                         f"<td>{fmt_num(c['time_us'])}</td><td>{fmt_num(c['busbw_gbps'], 3)}</td>"
                         f"<td>{fmt_num(c['avg_busbw_gbps'], 3)}</td><td>{fmt_num(c['alpha_us'], 2)}</td>"
                         f"<td>{e(str(c['machine']))}</td></tr>" for c in comm_rows) + "</table></div>")
        if "comm_busbw" in written:
            head, caption = titles["comm_busbw"]
            parts.append(f"<figure>{inline_svg(os.path.join(out_dir, 'charts', 'comm_busbw.svg'))}"
                         f"<figcaption>{e(caption)}</figcaption></figure>")
    if machines:
        parts.append("<h2>Machines</h2><div class='scroll'><table><tr><th>id</th>"
                     + "".join(f"<th class='l'>{k}</th>" for k in MACHINE_FIELDS) + "</tr>"
                     + "".join("<tr><td>" + e(m["id"]) + "</td>" + "".join(
                         f"<td class='l'>{e(str(m.get(k, '')))}</td>" for k in MACHINE_FIELDS) + "</tr>"
                               for m in machines) + "</table></div>")
    if rows:
        parts.append("<h2>Runs</h2><ul>" + "".join(
            f"<li><b>{e(r['name'])}</b> ({e(r['status'])}{', ' + e(r['date']) if r.get('date') else ''}): "
            f"<code>{e(str(r.get('source')))}</code>"
            + (f"<br><code>{e(r['command'])}</code>" if r.get("command") else "") + "</li>" for r in rows) + "</ul>")
    parts.append("</body></html>\n")
    return "".join(parts)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", help="sweep / run directories or results files")
    ap.add_argument("--out", required=True, help="directory for the report")
    ap.add_argument("--title", help="the report's title")
    ap.add_argument("--quiet", action="store_true", help="do not print the table")
    args = ap.parse_args(argv)

    found = collect(args.inputs)
    rows, details, machines = build_rows(found)
    comm_rows = comm_summary(found.comms)
    if not rows and not comm_rows:
        print("make_report: found no tpbench results in " + ", ".join(args.inputs), file=sys.stderr)
        return 1

    out_dir = args.out
    os.makedirs(out_dir, exist_ok=True)
    generated = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    title = args.title or default_title(rows, comm_rows)

    written, titles = [], {}
    plt = setup_matplotlib()
    chart_phases(plt, rows, out_dir, written, titles)
    chart_comm_ranks(plt, rows, details, out_dir, written, titles)
    chart_loss(plt, rows, details, out_dir, written, titles)
    chart_memory(plt, rows, details, out_dir, written, titles)
    chart_throughput(plt, rows, out_dir, written, titles)
    chart_comm_busbw(plt, found.comms, out_dir, written, titles)

    inputs = list(args.inputs)
    write_atomic(os.path.join(out_dir, "results.csv"), csv_text(rows))
    doc = {"schema": SCHEMA, "title": title, "generated_at": generated, "inputs": inputs,
           "columns": COLUMNS, "rows": [{k: r.get(k) for k in COLUMNS} for r in rows],
           "per_rank": {name: d["per_rank"] for name, d in details.items()},
           "machines": machines, "comm": comm_rows,
           "charts": {n: {"png": f"charts/{n}.png", "svg": f"charts/{n}.svg", "title": titles[n][0]}
                      for n in written}}
    write_atomic(os.path.join(out_dir, "results.json"), json.dumps(doc, indent=2) + "\n")
    write_atomic(os.path.join(out_dir, "report.md"),
                 markdown(title, rows, machines, comm_rows, written, titles, inputs, generated))
    write_atomic(os.path.join(out_dir, "report.html"),
                 html_page(title, rows, machines, comm_rows, written, titles, out_dir, inputs, generated))

    if not args.quiet:
        if rows:
            print(terminal_table(rows))
            print()
            for line in verdict(rows):
                print(line.replace("**", ""))
            print()
        for c in comm_rows:
            print(f"comm {c['op']} ({c['group']} {c['group_size']}/{c['world_size']}, {c['dtype']}): "
                  f"{fmt_bytes(c['max_bytes'])} in {fmt_num(c['time_us'])} µs, busbw {fmt_num(c['busbw_gbps'], 3)} GB/s")
        if machines and len(machines) > 1:
            for m in machines:
                print(f"{m['id']}: {m.get('hostname')}, {m.get('cpu_model')}, {m.get('logical_cores')} cores")
        print(f"report: {os.path.join(out_dir, 'report.html')} (also report.md, results.csv, results.json, charts/)")
    return 0


def default_title(rows, comm_rows):
    train = [r for r in rows if r["kind"] == "train"]
    if train:
        presets = sorted({str(r.get("preset")) for r in train if r.get("preset")})
        tps = sorted({r.get("tp") for r in train if r.get("tp") is not None})
        ranks = sorted({r.get("world_size") for r in train if r.get("world_size")})
        return (f"tpbench: {', '.join(presets) or 'train'} at TP = {', '.join(map(str, tps))} on "
                f"{', '.join(map(str, ranks))} ranks")
    if rows:
        return "tpbench: linear layer, row vs column"
    return "tpbench: collective benchmarks"


if __name__ == "__main__":
    sys.exit(main())
