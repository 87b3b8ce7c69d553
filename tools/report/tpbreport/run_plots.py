"""Plots of one run, written at its end into RUN/plots/ (`make_report.py --run-plots`):

- a train run directory (metrics.jsonl): one line plot per metric over the iterations,
  rank 0's value with the band between the fastest and the slowest rank, and summary.{png,svg}
  with the main six on one page;
- a linear results.json: per-rank phases (forward, backward, optimizer, TP wait, TP
  transfer) per mode, phases.{png,svg} (also summary);
- a comm --json file: bus bandwidth against size per collective, with the alpha-beta fit's
  line (time = alpha + beta * bytes, drawn as busbw), comm_busbw.{png,svg} (also summary).

Every plot is written as PNG and SVG. Returns the names written."""

import os

from .charts import PHASE_COLORS, setup_matplotlib
from .inputs import load_json, load_jsonl
from .rows import MEM_CATEGORIES, fmt_bytes

# (file name, title, y label, metrics.jsonl key or a function of a record)
TRAIN_METRICS = [
    ("loss", "Loss (mean over the global batch)", "loss", "loss"),
    ("grad_norm", "Gradient norm (before clipping)", "norm", "grad_norm"),
    ("lr", "Learning rate", "lr", "lr"),
    ("dt", "Step time", "ms", "dt_ms"),
    ("dtf", "Forward", "ms", "dtf_ms"),
    ("dtb", "Backward (with the DP gradient reduction)", "ms", "dtb_ms"),
    ("optimizer", "Optimizer (clipping and AdamW)", "ms", "opt_ms"),
    ("tp_comm", "TP communication", "ms", "tp_comm_ms"),
    ("tp_wait", "TP communication: waiting for the last rank", "ms", "tp_wait_ms"),
    ("tp_transfer", "TP communication: transfer", "ms", "tp_transfer_ms"),
    ("dp_comm", "DP communication", "ms", "dp_comm_ms"),
    ("dp_wait", "DP communication: waiting for the last rank", "ms", "dp_wait_ms"),
    ("dp_transfer", "DP communication: transfer", "ms", "dp_transfer_ms"),
    ("memory_peak", "Memory peak of the step (all categories)", "MiB",
     lambda r: (r.get("mem_total_peak_bytes") or 0) / 2**20),
]
SUMMARY = ["loss", "dt", "dtf", "dtb", "tp_comm", "dp_comm"]


def _save(fig, out_dir, name, written):
    os.makedirs(out_dir, exist_ok=True)
    for ext in ("png", "svg"):
        fig.savefig(os.path.join(out_dir, f"{name}.{ext}"))
    written.append(name)


def _series(metrics, key):
    """{iter: [value of rank 0, min over ranks, max over ranks]} for a key or a function."""
    get = key if callable(key) else (lambda r: r.get(key))
    by_iter = {}
    for r in metrics:
        v = get(r)
        if v is None:
            continue
        e = by_iter.setdefault(r["iter"], [None, v, v])
        if r.get("rank") == 0:
            e[0] = v
        e[1], e[2] = min(e[1], v), max(e[2], v)
    its = sorted(by_iter)
    return its, [by_iter[i][0] if by_iter[i][0] is not None else by_iter[i][1] for i in its], \
        [by_iter[i][1] for i in its], [by_iter[i][2] for i in its]


def _draw_metric(ax, metrics, title, ylabel, key, warmup):
    its, r0, lo, hi = _series(metrics, key)
    if not its or all(v == 0 for v in hi):
        return False
    ax.fill_between(its, lo, hi, color="#4C72B0", alpha=0.2, linewidth=0, label="min - max over ranks")
    ax.plot(its, r0, color="#4C72B0", marker="o" if len(its) <= 30 else None, markersize=3, label="rank 0")
    if warmup:
        ax.axvspan(min(its) - 0.5, max(warmup) + 0.5, color="#C7C7C7", alpha=0.3, linewidth=0, label="warm-up")
    ax.set_title(title)
    ax.set_xlabel("iteration")
    ax.set_ylabel(ylabel)
    return True


def plot_train(plt, run_dir, out_dir):
    metrics = load_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    if not metrics:
        return []
    warmup = sorted({r["iter"] for r in metrics if r.get("warmup")})
    written = []
    for name, title, ylabel, key in TRAIN_METRICS:
        fig, ax = plt.subplots(figsize=(6.4, 3.6))
        if _draw_metric(ax, metrics, title, ylabel, key, warmup):
            ax.legend(fontsize=7)
            fig.tight_layout()
            _save(fig, out_dir, name, written)
        plt.close(fig)
    # Memory by category: rank 0's peak of each, stacked lines.
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    drawn = False
    for cat in MEM_CATEGORIES:
        its, r0, _, _ = _series(metrics, lambda r, c=cat: ((r.get("mem_peak_bytes") or {}).get(c) or 0) / 2**20)
        if its and any(r0):
            ax.plot(its, r0, label=cat)
            drawn = True
    if drawn:
        ax.set_title("Memory peak by category (rank 0)")
        ax.set_xlabel("iteration")
        ax.set_ylabel("MiB")
        ax.legend(fontsize=7)
        fig.tight_layout()
        _save(fig, out_dir, "memory_by_category", written)
    plt.close(fig)
    # The one-page summary.
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.5))
    by_name = {m[0]: m for m in TRAIN_METRICS}
    for ax, name in zip(axes.flat, SUMMARY):
        _, title, ylabel, key = by_name[name]
        if not _draw_metric(ax, metrics, title, ylabel, key, warmup):
            ax.set_title(title + " (none)")
    cfg_path = os.path.join(run_dir, "config.json")
    if os.path.exists(cfg_path):
        cfg = load_json(cfg_path)
        mesh = cfg.get("mesh", {})
        fig.suptitle(f"tpbench train: preset {cfg.get('preset')}, tp {mesh.get('tp')} x dp {mesh.get('dp')}"
                     f"{' (sp)' if mesh.get('sp') else ''}, {mesh.get('world_size')} ranks "
                     f"({os.path.basename(os.path.normpath(run_dir))})")
    fig.tight_layout()
    _save(fig, out_dir, "summary", written)
    plt.close(fig)
    return written


def plot_linear(plt, path, out_dir):
    doc = load_json(path)
    modes = doc.get("modes", {})
    if not modes:
        return []
    fig, axes = plt.subplots(1, len(modes), figsize=(4.2 * len(modes), 3.8), squeeze=False, sharey=True)
    parts = [("forward", "forward_ms"), ("backward", "backward_ms"), ("optimizer", "optimizer_ms"),
             ("TP wait", "wait_ms"), ("TP transfer", "transfer_ms")]
    for ax, (mode, m) in zip(axes[0], modes.items()):
        ranks = m.get("ranks", [])
        names = [f"rank {r.get('rank')}" for r in ranks]
        bottom = [0.0] * len(ranks)
        for label, key in parts:
            vals = []
            for r in ranks:
                its = [i.get(key) for i in r.get("iterations", []) if i.get(key) is not None]
                vals.append(sum(its) / len(its) if its else 0.0)
            if label.startswith("TP"):  # comm is inside forward/backward: drawn beside, not stacked
                continue
            ax.bar(names, vals, bottom=bottom, color=PHASE_COLORS.get(label), label=label)
            bottom = [b + v for b, v in zip(bottom, vals)]
        comm = []
        for r in ranks:
            its = r.get("iterations", [])
            w = [i.get("wait_ms") or 0 for i in its]
            t = [i.get("transfer_ms") or 0 for i in its]
            comm.append((sum(w) / len(w) if w else 0, sum(t) / len(t) if t else 0))
        ax.scatter(names, [c[0] + c[1] for c in comm], color=PHASE_COLORS["TP transfer"], zorder=3,
                   label="TP comm (inside the phases)")
        ax.set_title(f"linear --mode {mode}: per-rank phases")
        ax.set_ylabel("ms a step (mean)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    written = []
    _save(fig, out_dir, "phases", written)
    _save(fig, out_dir, "summary", written)
    plt.close(fig)
    return written


def plot_comm(plt, path, out_dir):
    doc = load_json(path)
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    drawn = False
    for k, op in enumerate(doc.get("ops", [])):
        pts = [(z.get("bytes"), (z.get("out_of_place") or {}).get("busbw_gbps"),
                (z.get("out_of_place") or {}).get("algbw_gbps")) for z in op.get("sizes", [])]
        pts = [p for p in pts if p[0] and p[1] is not None]
        if not pts:
            continue
        color = f"C{k}"
        xs = [p[0] for p in pts]
        ax.plot(xs, [p[1] for p in pts], marker="o", markersize=3, color=color, label=f"{op.get('op')} measured")
        fit = op.get("fit") or {}
        alpha, beta = fit.get("alpha_s"), fit.get("beta_s_per_byte")
        factor = None
        if fit.get("busbw_gbps") and fit.get("bandwidth_gbps"):
            factor = fit["busbw_gbps"] / fit["bandwidth_gbps"]  # busbw / algbw, nccl-tests' factor
        if alpha is not None and beta is not None and factor:
            ax.plot(xs, [b / (alpha + beta * b) * factor * 1e-9 for b in xs], linestyle="--", color=color,
                    label=f"{op.get('op')} fit: {alpha * 1e6:.1f} us + bytes / {fit['bandwidth_gbps']:.2f} GB/s")
        drawn = True
    if not drawn:
        plt.close(fig)
        return []
    from matplotlib.ticker import FuncFormatter
    cfg = doc.get("config", {})
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_bytes(int(v)).replace(".0 ", " ")))
    ax.set_xlabel("message size")
    ax.set_ylabel("bus bandwidth, GB/s (out of place)")
    ax.set_title(f"tpbench comm: {cfg.get('group', 'world')} of {cfg.get('group_size', cfg.get('world_size', '?'))} "
                 f"ranks, {cfg.get('dtype', '')}; dashed: the alpha-beta fit")
    ax.legend(fontsize=7)
    fig.tight_layout()
    written = []
    _save(fig, out_dir, "comm_busbw", written)
    _save(fig, out_dir, "summary", written)
    plt.close(fig)
    return written


def plot_run(path, out_dir):
    """The plots of the run at `path`: a train run directory, a linear results.json (or its
    directory), or a comm --json file."""
    plt = setup_matplotlib()
    if os.path.isdir(path):
        if os.path.exists(os.path.join(path, "metrics.jsonl")):
            return plot_train(plt, path, out_dir)
        path = os.path.join(path, "results.json")
    doc = load_json(path)
    schema = str(doc.get("schema", ""))
    if "comm" in schema or "ops" in doc:
        return plot_comm(plt, path, out_dir)
    return plot_linear(plt, path, out_dir)
