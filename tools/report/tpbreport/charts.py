"""The charts, drawn with matplotlib (Agg backend) and saved as PNG and SVG into
OUT/charts/. A chart with no data is not drawn."""

import os
import sys

from .rows import MEM_CATEGORIES, TP_COLLECTIVES, fmt_bytes, fmt_ms, ms_digits

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
    "compute and the rest": "#4C72B0", "TP wait": "#F2B6B6", "TP transfer": "#C44E52",
    "DP wait": "#C9B3E6", "DP transfer": "#8172B3",
}
# TP time by collective: (wait, transfer) shades of one colour per collective.
COLLECTIVE_COLORS = {"all_reduce": ("#F2B6B6", "#C44E52"), "all_gather": ("#A9C0E3", "#4C72B0"),
                     "reduce_scatter": ("#B5DDB9", "#55A868")}
MEM_COLORS = dict(zip(MEM_CATEGORIES, ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860"]))


def save(fig, out_dir, name, written):
    os.makedirs(os.path.join(out_dir, "charts"), exist_ok=True)
    for ext in ("png", "svg"):
        path = os.path.join(out_dir, "charts", f"{name}.{ext}")
        fig.savefig(path, format=ext, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
    written.append(name)


def chart_phases(plt, rows, details, out_dir, written, titles):
    ok = [r for r in rows if r["status"] == "ok" and r.get("means")]
    if not ok:
        return
    labels = [r["label"] for r in ok]
    x = list(range(len(ok)))
    # train's batch is per DP rank: when the rows do different work per step, a third panel
    # puts them on the same footing, rank-seconds per 1,000 tokens.
    per_token = (all(r["kind"] == "train" and r.get("tokens_per_step") and r.get("world_size") for r in ok)
                 and len({r["tokens_per_step"] for r in ok}) > 1)
    npanels = 3 if per_token else 2
    fig, axes = plt.subplots(1, npanels, figsize=(max(8, (0.9 * len(ok) + 1.6) * npanels), 4.6),
                             gridspec_kw={"wspace": 0.35})
    axes[1].sharey(axes[0])
    rotate = len(ok) > 3 or max(len(lb) for lb in labels) > 12

    def stack(ax, parts, title, totals=None, legend=True):
        totals = totals or step
        bottom = [0.0] * len(ok)
        for name, vals in parts:
            vals = [max(v, 0.0) for v in vals]
            if not any(vals):
                continue
            ax.bar(x, vals, 0.6, bottom=bottom, label=name, color=PHASE_COLORS[name])
            bottom = [b + v for b, v in zip(bottom, vals)]
        ax.set_xticks(x, labels, rotation=25 if rotate else 0, ha="right" if rotate else "center")
        ax.set_title(title)
        ax.set_ylim(0, max(totals) * 1.12)
        if legend:
            ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.13 if not rotate else -0.3), ncol=2)
        for xi, v in zip(x, totals):
            ax.annotate(f"{v:,.{ms_digits(v)}f}", (xi, v), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                        textcoords="offset points")

    def m(key):
        return [r["means"].get(key) or 0.0 for r in ok]

    step, f, b, o = m("dt_ms"), m("dtf_ms"), m("dtb_ms"), m("opt_ms")
    other = [s_ - (ff + bb + oo) for s_, ff, bb, oo in zip(step, f, b, o)]
    stack(axes[0], [("forward", f), ("backward", b), ("optimizer", o), ("other", other)], "by phase")
    tpw, tpt, dpw, dpt = m("tp_wait_ms"), m("tp_transfer_ms"), m("dp_wait_ms"), m("dp_transfer_ms")
    rest = [s_ - (a + b_ + c + d) for s_, a, b_, c, d in zip(step, tpw, tpt, dpw, dpt)]
    stack(axes[1], [("compute and the rest", rest), ("TP wait", tpw), ("TP transfer", tpt), ("DP wait", dpw),
                    ("DP transfer", dpt)], "by activity", legend=not per_token)
    axes[0].set_ylabel("ms per iteration (mean over ranks and timed iterations)")
    if per_token:
        # rank-ms per token = rank-s per 1,000 tokens
        scale = [r["world_size"] / r["tokens_per_step"] for r in ok]
        parts = [("compute and the rest", rest), ("TP wait", tpw), ("TP transfer", tpt), ("DP wait", dpw),
                 ("DP transfer", dpt)]
        stack(axes[2], [(n, [v * k for v, k in zip(vals, scale)]) for n, vals in parts],
              "by activity, per 1,000 tokens", [v * k for v, k in zip(step, scale)])
        axes[2].set_ylabel("rank-seconds per 1,000 tokens")
    fig.suptitle("Iteration time per configuration")
    save(fig, out_dir, "phases", written)
    titles["phases"] = ("Where an iteration's time goes",
                        "Each rank's step, averaged over timed iterations and ranks, split by phase (left: "
                        "forward, backward including the DP gradient all-reduce, optimizer, and 'other' = the "
                        "step minus those) and by activity (right: time inside TP and DP collectives, each as "
                        "wait for the last rank vs transfer, and everything else). Means, so the parts add up "
                        "to the bar; the table's iteration times are the slowest rank's, so they can be a "
                        "little higher." + (" The third panel divides by the work: step × ranks / tokens per "
                                            "step, the cost of 1,000 tokens in rank-seconds (train's batch is "
                                            "per DP rank, so the layouts do different work per step)."
                                            if per_token else ""))
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
    axes[0].set_ylabel("ms per iteration (mean over timed iterations)")
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
                            "Each rank's mean time per iteration inside TP and DP collectives, split into "
                            "waiting for the last rank of the group to arrive (skew: load imbalance or a busy "
                            "core, not the network) and the transfer itself.")
    plt.close(fig)


def chart_tp_collectives(plt, rows, out_dir, written, titles):
    """Stacked bars, one per configuration that ran TP collectives: its mean TP time a step
    by collective, each split into wait and transfer; what TP time the three do not cover
    (other kinds of TP collective) on top as 'other TP'."""
    keys = [f"tp_{c}_{k}" for c in TP_COLLECTIVES for k in ("wait_ms", "transfer_ms")]
    ok = [r for r in rows if r["status"] == "ok" and r.get("kind") == "train" and r.get("means")
          and all(k in r["means"] for k in keys) and sum(r["means"][k] or 0.0 for k in keys) > 0]
    if not ok:
        return
    labels = [r["label"] for r in ok]
    x = list(range(len(ok)))
    fig, ax = plt.subplots(figsize=(max(6.5, 1.1 * len(ok) + 3.5), 4.4))
    bottom = [0.0] * len(ok)
    for c in TP_COLLECTIVES:
        for k, colour in zip(("wait_ms", "transfer_ms"), COLLECTIVE_COLORS[c]):
            vals = [max(r["means"][f"tp_{c}_{k}"] or 0.0, 0.0) for r in ok]
            if not any(vals):
                continue
            ax.bar(x, vals, 0.6, bottom=bottom, color=colour, label=f"{c} {k[:-3]}")
            bottom = [b + v for b, v in zip(bottom, vals)]
    tp_total = [(r["means"].get("tp_wait_ms") or 0.0) + (r["means"].get("tp_transfer_ms") or 0.0) for r in ok]
    other = [max(t - b, 0.0) for t, b in zip(tp_total, bottom)]
    if any(o > 0.01 * t for o, t in zip(other, tp_total)):
        ax.bar(x, other, 0.6, bottom=bottom, color="#C7C7C7", label="other TP")
        bottom = [b + o for b, o in zip(bottom, other)]
    for xi, v in zip(x, bottom):
        ax.annotate(fmt_ms(v), (xi, v), ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                    textcoords="offset points")
    rotate = len(ok) > 4 or max(len(lb) for lb in labels) > 14
    ax.set_xticks(x, labels, rotation=25 if rotate else 0, ha="right" if rotate else "center")
    ax.set_ylim(0, max(bottom) * 1.15)
    ax.set_ylabel("ms per iteration (mean over ranks and timed iterations)")
    ax.set_title("TP communication by collective: wait vs transfer")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    save(fig, out_dir, "tp_collectives", written)
    titles["tp_collectives"] = ("TP communication by collective",
                                "Each configuration's time a step inside TP collectives, by collective "
                                "(all-reduce; with --sp also all-gather and reduce-scatter), each split into "
                                "waiting for the last rank and the transfer: means over timed iterations and "
                                "ranks (metrics.jsonl's tp_<collective>_wait_ms / _transfer_ms), so the parts "
                                "add up to the bar. Configurations without TP collectives are left out.")
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
    from matplotlib.ticker import MaxNLocator
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("iteration")
    ax.set_ylabel("training loss (mean over the global batch)")
    ax.set_title("Loss curves")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save(fig, out_dir, "loss", written)
    same_batch = len({r.get("tokens_per_step") for r in ok}) == 1
    titles["loss"] = ("Loss curves, overlaid",
                      "The loss of every iteration (warm-up included). Layouts of the same model, data, seed and "
                      "global batch agree to rounding: tpbench builds every shard from the same full weights."
                      + ("" if same_batch else " Here the global batch differs between rows (train's --batch is "
                         "per DP rank: dp × batch sequences a step), so the curves differ too."))
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
            line, = ax.plot(xs, ys, marker="o", linewidth=1.6, label=key)
            lo = [y - (r.get("throughput_min") if r.get("throughput_min") is not None else y) for r, y in zip(srs, ys)]
            hi = [(r.get("throughput_max") if r.get("throughput_max") is not None else y) - y for r, y in zip(srs, ys)]
            if any(lo) or any(hi):
                ax.errorbar(xs, ys, yerr=[lo, hi], fmt="none", ecolor=line.get_color(), capsize=4, linewidth=1)
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
                            "the measured GEMM peak of each rank. With sweep --repeat, the point is the best "
                            "launch and the bar reaches down to the slowest.")
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
    from matplotlib.ticker import FuncFormatter
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: fmt_bytes(int(v)).replace(".0 ", " ")))
    ax.set_xlabel("message size")
    ax.set_ylabel("bus bandwidth, GB/s (out of place)")
    ax.set_title("Collectives: bus bandwidth against size")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save(fig, out_dir, "comm_busbw", written)
    titles["comm_busbw"] = ("Collective benchmarks (tpbench comm)",
                            "busbw = bytes / time × the nccl-tests factor (docs/metrics.md), out of place.")
    plt.close(fig)


def draw_all(rows, details, comms, out_dir):
    """Draws every chart that has data; returns (names written, {name: (title, caption)})."""
    written, titles = [], {}
    try:
        plt = setup_matplotlib()
    except ImportError as e:
        print(f"make_report: no charts: {e} (Debian: apt-get install python3-matplotlib)", file=sys.stderr)
        return written, titles
    chart_phases(plt, rows, details, out_dir, written, titles)
    chart_comm_ranks(plt, rows, details, out_dir, written, titles)
    chart_tp_collectives(plt, rows, out_dir, written, titles)
    chart_loss(plt, rows, details, out_dir, written, titles)
    chart_memory(plt, rows, details, out_dir, written, titles)
    chart_throughput(plt, rows, out_dir, written, titles)
    chart_comm_busbw(plt, comms, out_dir, written, titles)
    return written, titles
