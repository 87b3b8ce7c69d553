"""Report rows: one per train run or linear mode (failed sweep configurations included),
their derived numbers (start-up vs training time, communication shares, speedup), and the
text forms (the terminal/markdown table, the per-row breakdown, the verdict).
Definitions: docs/reports.md."""

import json
import math

from .inputs import mean

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

# Per-rank means over timed iterations kept for the charts (metrics.jsonl's names).
PER_RANK_KEYS = ("dt_ms", "dtf_ms", "dtb_ms", "opt_ms", "tp_wait_ms", "tp_transfer_ms", "dp_wait_ms", "dp_transfer_ms")

MEM_CATEGORIES = ["parameters", "gradients", "optimizer_state", "activations", "comm_buffers", "other"]


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
    # Per rank, for the charts: means over timed iterations (means add up: a step's parts
    # stack to the step), memory peaks over all iterations.
    ranks = sorted({r["rank"] for r in metrics})
    per_rank = []
    for rk in ranks:
        recs = [r for r in metrics if r["rank"] == rk]
        timed = [r for r in recs if not r.get("warmup")] or recs
        mem = {c: max((r.get("mem_peak_bytes") or {}).get(c, 0) for r in recs) for c in MEM_CATEGORIES}
        per_rank.append({"rank": rk,
                         **{k: mean([r.get(k) for r in timed]) for k in PER_RANK_KEYS},
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
                         "dt_ms": mean([i.get("step_ms") for i in its]),
                         "dtf_ms": mean([i.get("forward_ms") for i in its]),
                         "dtb_ms": mean([i.get("backward_ms") for i in its]),
                         "opt_ms": mean([i.get("optimizer_ms") for i in its]),
                         "tp_wait_ms": mean([i.get("wait_ms") for i in its]),
                         "tp_transfer_ms": mean([i.get("transfer_ms") for i in its]),
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


def fmt_s(v):
    """Seconds: two decimals below 10 s."""
    return fmt_num(v, 2 if v is not None and abs(v) < 10 else 1)


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
            fmt_s(r.get("startup_s")), fmt_s(r.get("train_s")),
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
