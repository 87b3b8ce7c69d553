"""Report rows: one per train run or linear mode (failed sweep configurations included),
their derived numbers (start-up vs training time, communication shares, speedup), and the
text forms (the terminal/markdown table, the per-row breakdown, the verdict).
Definitions: docs/reports.md."""

import json
import math

from .inputs import mean

# The TP collectives summary.json's tp_by_collective splits TP communication into, and the
# columns each gets: tp_<collective>_<field>, from (summary key, statistic or None).
TP_COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter")
COLLECTIVE_FIELDS = (("ms", "comm_ms", "median"), ("wait_ms", "wait_ms", "median"),
                     ("transfer_ms", "transfer_ms", "median"), ("bytes", "bytes_per_step", None),
                     ("calls", "calls_per_step", None))
COLLECTIVE_COLUMNS = [f"tp_{c}_{f[0]}" for c in TP_COLLECTIVES for f in COLLECTIVE_FIELDS]

# Columns of results.csv, in order (results.json's rows carry the same keys).
COLUMNS = [
    "name", "label", "kind", "status", "error", "date", "machine", "hostname",
    "preset", "mode", "world_size", "tp", "dp", "sp", "batch", "seq", "tokens_per_step",
    "wall_s", "startup_s", "train_s",
    "step_mean_ms", "step_median_ms", "step_p95_ms",
    "forward_ms", "backward_ms", "optimizer_ms",
    "tp_comm_ms", "tp_wait_ms", "tp_transfer_ms", "tp_comm_share",
    *COLLECTIVE_COLUMNS,
    "dp_comm_ms", "dp_wait_ms", "dp_transfer_ms", "dp_comm_share",
    "tokens_per_s", "samples_per_s", "repeats", "throughput_min", "throughput_max",
    "mfu", "gemm_peak_flops_per_rank", "peak_mem_bytes_per_rank",
    "loss_first", "loss_last", "speedup", "baseline",
    "command", "source",
]

# Per-rank means over timed iterations kept for the charts (metrics.jsonl's names).
PER_RANK_KEYS = ("dt_ms", "dtf_ms", "dtb_ms", "opt_ms", "tp_wait_ms", "tp_transfer_ms", "dp_wait_ms", "dp_transfer_ms")
# The same for the TP collectives by kind, kept only where the run recorded them (metrics.jsonl
# from before tpbench split TP communication by collective has none of these).
COLLECTIVE_RANK_KEYS = tuple(f"tp_{c}_{k}" for c in TP_COLLECTIVES for k in ("wait_ms", "transfer_ms"))

MEM_CATEGORIES = ["parameters", "gradients", "optimizer_state", "activations", "comm_buffers", "other"]


def rank_mean(per_rank, key):
    """Mean over ranks of the per-rank means over timed iterations."""
    vals = [p.get(key) for p in per_rank if p.get(key) is not None]
    return sum(vals) / len(vals) if vals else 0.0


def on_off(v):
    """mesh.sp / the manifest's sp (true, false; null or absent: not known) -> "on", "off", None."""
    return None if v is None else "on" if v else "off"


def collective_values(summary):
    """The tp_<collective>_* columns from summary.json's tp_by_collective (None where absent)."""
    by = summary.get("tp_by_collective")
    out = {}
    for c in TP_COLLECTIVES:
        d = by.get(c) if isinstance(by, dict) else None
        for name, key, stat in COLLECTIVE_FIELDS:
            v = d.get(key) if isinstance(d, dict) else None
            if stat is not None:
                v = v.get(stat) if isinstance(v, dict) else None
            out[f"tp_{c}_{name}"] = v
    return out


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
        "sp": on_off(mesh["sp"] if "sp" in mesh else (run.get("requested") or {}).get("sp")),
        "wall_s": wall, "train_s": train_s,
        "startup_s": (wall - train_s) if wall is not None else None,
        "step_mean_ms": step.get("mean"), "step_median_ms": step.get("median"), "step_p95_ms": step.get("p95"),
        "forward_ms": med("forward_ms"), "backward_ms": med("backward_ms"), "optimizer_ms": med("optimizer_ms"),
        "tp_comm_ms": med("tp_comm_ms"), "tp_wait_ms": med("tp_wait_ms"), "tp_transfer_ms": med("tp_transfer_ms"),
        "dp_comm_ms": med("dp_comm_ms"), "dp_wait_ms": med("dp_wait_ms"), "dp_transfer_ms": med("dp_transfer_ms"),
        "tokens_per_step": s.get("tokens_per_step"),
        "tokens_per_s": s.get("tokens_per_s"), "mfu": s.get("mfu"),
        "gemm_peak_flops_per_rank": s.get("gemm_peak_flops_per_rank"),
        "peak_mem_bytes_per_rank": ((s.get("peak_memory_bytes") or {}).get("total") or {}).get("max"),
        "loss_first": s.get("loss_first"), "loss_last": s.get("loss_last"),
        **collective_values(s),
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
                         **{k: mean([r.get(k) for r in timed]) for k in COLLECTIVE_RANK_KEYS
                            if any(k in r for r in timed)},
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
        "samples_per_s": s.get("samples_per_s"),  # no DP in linear: its dp_* stay empty
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
                       seq=req.get("seq"), mode=req.get("mode"), sp=on_off(req.get("sp")))
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
        if per_rank:
            row["means"] = {k: rank_mean(per_rank, k) for k in PER_RANK_KEYS}
            row["means"].update({k: rank_mean(per_rank, k) for k in COLLECTIVE_RANK_KEYS
                                 if any(k in p for p in per_rank)})
        step = row.get("step_median_ms")
        for g in ("tp", "dp"):
            c = row.get(f"{g}_comm_ms")
            row[f"{g}_comm_share"] = (c / step) if (c is not None and step) else None
        row["group"] = run.get("group")
        rows.append(row)
        details[row["name"]] = {"per_rank": per_rank, "loss": loss, "log": run.get("log")}
    rows = collapse_repeats(rows, details)
    make_labels(rows)
    add_speedups(rows)
    return rows, details, list(machines.values())


def collapse_repeats(rows, details):
    """One row per configuration of a `sweep --repeat K`: the launch with the highest
    throughput (interference from other work only ever slows a run down, so the best of K is
    the estimate least disturbed by it), with the number of launches and the range of
    throughput over those that ran. The row takes the configuration's name (cfgK)."""
    groups = {}
    for r in rows:
        if r.get("group"):
            groups.setdefault(r["group"], []).append(r)
    out, done = [], set()
    for r in rows:
        g = r.get("group")
        if not g or len(groups[g]) == 1:
            r["repeats"] = 1
            out.append(r)
            continue
        if g in done:
            continue
        done.add(g)
        launches = groups[g]
        ok = [x for x in launches if x["status"] == "ok" and throughput(x)]
        best = max(ok, key=throughput) if ok else launches[0]
        details[g[1]] = details[best["name"]]
        best["name"] = g[1]
        best["repeats"] = len(launches)
        if ok:
            best["throughput_min"] = min(throughput(x) for x in ok)
            best["throughput_max"] = max(throughput(x) for x in ok)
            failed = [x for x in launches if x["status"] != "ok"]
            if failed:
                best["error"] = f"{len(failed)} of {len(launches)} launches failed: {failed[0].get('error')}"
        out.append(best)
    return out


def make_labels(rows):
    """A short name per row for the charts: the mesh, plus whatever else differs."""
    def varies(k):
        return len({r.get(k) for r in rows if r.get(k) is not None}) > 1

    for r in rows:
        if r["kind"] == "linear":
            parts = [f"{r.get('mode') or '?'} {r.get('world_size') or '?'}r"]
        else:
            parts = [f"tp{r['tp'] if r.get('tp') is not None else '?'}·dp{r['dp'] if r.get('dp') is not None else '?'}"]
        for k, short in (("batch", "b"), ("seq", "s"), ("sp", "sp "), ("preset", ""), ("machine", "")):
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


def throughput(r):
    """tokens/s for train, samples/s for linear: the work done per second."""
    return r.get("tokens_per_s") if r.get("kind") == "train" else r.get("samples_per_s")


def add_speedups(rows):
    """Speedup = this row's throughput / the baseline's (tokens/s for train, samples/s for
    linear), which is the ratio of median iterations when both do the same work per step. The
    baseline is the first row (the first that ran, of the same kind, when the first failed).
    Throughput, not step time: train's batch is per DP rank, so tp 1, 2, 4 on 4 ranks do 4, 2
    and 1 batches' worth of tokens a step."""
    for kind in ("train", "linear"):
        ok = [r for r in rows if r["kind"] == kind and r["status"] == "ok" and throughput(r)]
        if not ok:
            continue
        base = ok[0]
        for r in ok:
            r["speedup"] = throughput(r) / throughput(base)
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
    thru = fmt_num(throughput(r), 0)
    if (r.get("repeats") or 1) > 1 and r.get("throughput_min") is not None:
        thru += f" (min {r['throughput_min']:,.0f} of {r['repeats']})"
    return [r["name"], r["label"], fmt_mesh(r), r.get("machine") or "—",
            fmt_s(r.get("startup_s")), fmt_s(r.get("train_s")),
            fmt_num(r.get("step_mean_ms")), fmt_num(r.get("step_median_ms")),
            fmt_num(r.get("forward_ms")), fmt_num(r.get("backward_ms")), fmt_num(r.get("optimizer_ms"), 2),
            fmt_pct(r.get("tp_comm_share")), fmt_pct(r.get("dp_comm_share")),
            thru, fmt_pct(r.get("mfu")), fmt_bytes(r.get("peak_mem_bytes_per_rank")),
            fmt_loss(r), fmt_speedup(r)]


TABLE_HEAD = ["config", "label", "mesh dp x tp", "machine", "start-up s", "train s", "iter mean ms",
              "iter median ms", "dtf ms", "dtb ms", "opt ms", "TP comm", "DP comm", "tokens/s",
              "MFU", "peak mem/rank", "loss first → last", "speedup"]


TABLE_NOTE = (
    "start-up s = the launch's wall time (from the sweep) − train s: mpirun, MPI and model start-up, the "
    "GEMM-peak probe, writing results, shutdown. train s = the sum over all iterations, warm-up included, of "
    "the slowest rank's step. iter = the slowest rank's step over timed iterations; dtf, dtb, opt and TP/DP "
    "comm = medians over ranks of each rank's median, comm as a share of the median iteration. MFU against the "
    "measured GEMM peak of each rank. speedup = throughput (tokens/s or samples/s) / the first row's. With "
    "sweep --repeat K each row is the configuration's fastest launch; '(min X of K)' is its slowest. "
    "Definitions: docs/reports.md.")


def table_head(rows):
    """TABLE_HEAD, with the throughput column named for what the rows measure."""
    kinds = {r.get("kind") for r in rows}
    thru = "tokens/s" if kinds == {"train"} else "samples/s" if kinds == {"linear"} else "tokens|samples/s"
    return [thru if h == "tokens/s" else h for h in TABLE_HEAD]


def terminal_table(rows):
    lines = []
    body = []
    for r in rows:
        if r["status"] == "ok":
            body.append(table_cells(r))
        else:
            body.append(None)
    head = table_head(rows)
    widths = [len(h) for h in head]
    for cells in body:
        if cells:
            widths = [max(w, len(c)) for w, c in zip(widths, cells)]

    def line(cells):
        out = []
        for i, (c, w) in enumerate(zip(cells, widths)):
            out.append(c.ljust(w) if i < 2 else c.rjust(w))
        return "  ".join(out).rstrip()

    lines.append(line(head))
    for r, cells in zip(rows, body):
        if cells:
            lines.append(line(cells))
        else:
            head = f"{r['name'].ljust(widths[0])}  {r['label'].ljust(widths[1])}  {fmt_mesh(r).rjust(widths[2])}"
            lines.append(f"{head}  {r['status'].upper()}: {r.get('error') or ''}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- TP by collective

def fmt_ms(v):
    """A time in ms that may be well below 1 ms (a collective's share of a step): three decimals
    (1 µs) below 1 ms, two below 10, else one."""
    if v is None:
        return "—"
    return fmt_num(v, 3 if abs(v) < 1 else 2 if abs(v) < 10 else 1)


def fmt_count(v):
    if v is None:
        return "—"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def fmt_step_bytes(v):
    return "—" if v is None else fmt_bytes(int(round(v)))


COLLECTIVE_HEAD = ["config", "label", "mesh dp x tp", "sp", "collective", "calls/step", "bytes/step",
                   "comm ms", "wait ms", "transfer ms", "of iter"]

COLLECTIVE_NOTE = (
    "TP communication split by collective (summary.json's tp_by_collective): calls and bytes a step are rank "
    "0's medians over timed iterations (the same on every rank of a TP group); comm (wait + transfer), wait and "
    "transfer are each the median over ranks of the per-rank medians over timed iterations, so they, and the "
    "three collectives' comm, need not add up exactly (to the Results table's TP comm). of iter = comm ms / "
    "the median iteration. Without sequence parallelism TP uses all-reduces only; with --sp the sequence-split "
    "regions use all-gathers and reduce-scatters instead. Definitions: docs/reports.md.")


def has_collectives(r):
    return r.get("status") == "ok" and any(r.get(f"tp_{c}_calls") is not None for c in TP_COLLECTIVES)


def collective_table(rows):
    """The 'TP communication by collective' table: (head, body, left out), one body row per
    configuration and collective, for the train rows that ran TP collectives. Left out: (row,
    why) for the train rows that ran but have none to show. (None, [], []) when no row has the
    split (runs from before tpbench recorded it): the section is left out."""
    if not any(has_collectives(r) for r in rows):
        return None, [], []
    body, left_out = [], []
    for r in rows:
        if r.get("kind") != "train" or r.get("status") != "ok":
            continue
        if not has_collectives(r):
            left_out.append((r, "not recorded"))
            continue
        if not any(r.get(f"tp_{c}_calls") for c in TP_COLLECTIVES):
            left_out.append((r, "no TP collectives"))
            continue
        step = r.get("step_median_ms")
        for c in TP_COLLECTIVES:
            comm = r.get(f"tp_{c}_ms")
            body.append([r["name"], r["label"], fmt_mesh(r), r.get("sp") or "—", c,
                         fmt_count(r.get(f"tp_{c}_calls")), fmt_step_bytes(r.get(f"tp_{c}_bytes")),
                         fmt_ms(comm), fmt_ms(r.get(f"tp_{c}_wait_ms")), fmt_ms(r.get(f"tp_{c}_transfer_ms")),
                         fmt_pct(comm / step) if (comm is not None and step) else "—"])
    return COLLECTIVE_HEAD, body, left_out


def collective_left_out_text(left_out):
    if not left_out:
        return ""
    return "Not shown: " + ", ".join(f"{r['name']} ({r['label']}: {why})" for r, why in left_out) + "."


# ----------------------------------------------------------------------------- analysis text

def ms_digits(v):
    """Decimals that show a time in ms to about three significant digits."""
    return 0 if v >= 100 else 1 if v >= 10 else 2


def breakdown(r):
    """One sentence: where this row's step goes, from the per-rank means (which add up)."""
    m = r.get("means") or {}
    step = m.get("dt_ms")
    if not step:
        return ""
    tpw, tpt = m.get("tp_wait_ms") or 0.0, m.get("tp_transfer_ms") or 0.0
    dpw, dpt = m.get("dp_wait_ms") or 0.0, m.get("dp_transfer_ms") or 0.0
    rest = step - (tpw + tpt + dpw + dpt)

    d = ms_digits(step)

    def share(v):
        return f"{v:.{d}f} ms ({100 * v / step:.0f}%)"

    parts = []
    if r.get("tp") not in (None, 1) or tpw + tpt > 0.01 * step:
        parts.append(f"TP collectives {share(tpw + tpt)}: wait {tpw:.{d}f}, transfer {tpt:.{d}f}")
    if r.get("kind") == "train" and (r.get("dp") not in (None, 1) or dpw + dpt > 0.01 * step):
        parts.append(f"DP collectives {share(dpw + dpt)}: wait {dpw:.{d}f}, transfer {dpt:.{d}f}")
    parts.append(f"compute and the rest {share(rest)} (forward {m.get('dtf_ms') or 0:.{d}f}, backward "
                 f"{m.get('dtb_ms') or 0:.{d}f}, optimizer {m.get('opt_ms') or 0:.{d}f}, communication included)")
    text = f"a rank's step averages {step:.{d}f} ms: " + "; ".join(parts)
    if r.get("tokens_per_step") and r.get("world_size"):
        text += (f". Per 1,000 tokens that is {step * r['world_size'] / r['tokens_per_step']:.2f} rank-seconds "
                 f"({r['tokens_per_step']:,.0f} tokens a step on {r['world_size']} ranks)")
    if r.get("startup_s") is not None and r.get("wall_s"):
        text += (f". The launch took {r['wall_s']:.1f} s: {r['train_s']:.2f} s training, "
                 f"{r['startup_s']:.1f} s start-up and shutdown")
    return text


def verdict(rows):
    lines = []
    for kind in ("train", "linear"):
        ok = [r for r in rows if r["kind"] == kind and r["status"] == "ok" and throughput(r)]
        if not ok:
            continue
        unit = "tokens/s" if kind == "train" else "samples/s"
        best = max(ok, key=throughput)
        worst = min(ok, key=throughput)
        what = "layout" if kind == "train" else "linear configuration"
        s = (f"Fastest {what}: **{best['name']}** ({best['label']}), {throughput(best):,.0f} {unit}, median "
             f"iteration {best['step_median_ms']:.1f} ms")
        if len(ok) > 1:
            s += (f"; {throughput(best) / throughput(worst):.2f}x the throughput of the slowest "
                  f"({worst['name']}, {worst['label']}, {throughput(worst):,.0f} {unit})")
        lines.append(s + ".")
    # MFU's denominator is measured in each launch; on a shared or oversubscribed host it
    # can differ between launches, and then MFU ratios mislead where tokens/s do not.
    by_machine = {}
    for r in rows:
        if r["status"] == "ok" and r.get("gemm_peak_flops_per_rank"):
            by_machine.setdefault(r.get("machine"), []).append(r)
    for machine, rs in by_machine.items():
        peaks = [r["gemm_peak_flops_per_rank"] for r in rs]
        if max(peaks) > 1.25 * min(peaks):
            lines.append("The measured GEMM peak per rank (MFU's denominator) differs between launches on "
                         f"{machine}: " + ", ".join(f"{r['name']} {r['gemm_peak_flops_per_rank'] / 1e9:.1f}"
                                                     for r in rs)
                         + " GFLOP/s; compare tokens/s, not MFU, across these rows.")
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
