#!/usr/bin/env python3
"""tpbench's report generator: tables, charts and a self-contained HTML page from run
directories (what `tpbench sweep` and `tpbench report` call; docs/reports.md).

    make_report.py INPUT... --out DIR [--title TEXT] [--quiet]
    make_report.py RUN --run-plots --out RUN/plots    (one run's plots: tpbreport/run_plots.py)

INPUT: a sweep directory (sweep.json), a train run directory (config.json, metrics.jsonl,
summary.json), a linear results.json or its directory, a comm --json file, or any
directory holding these (searched recursively, in name order).

Writes into DIR: report.md, report.html (charts inlined, no network), results.csv,
results.json, charts/{phases,comm_ranks,tp_collectives,loss,memory,throughput,comm_busbw}.{png,svg}
(those that have data), and prints the table to stdout.

Every number comes from the runs' own files; the formulas are in docs/reports.md and
docs/metrics.md. Needs Python 3 and matplotlib (Debian: python3-matplotlib).

Exit status: 0 written; 2 a results file is unreadable (not JSON, not UTF-8, a line of
metrics.jsonl that is not an object: one line naming the file and what is wrong); 1 no
results found, or the report cannot be written (read-only or full filesystem, --out under
a file: one line naming the path and the reason).
"""

import argparse
import datetime
import json
import os
import sys

from tpbreport import charts, render
from tpbreport.inputs import BadInput, collect
from tpbreport.run_plots import plot_run
from tpbreport.rows import COLUMNS, build_rows, comm_summary, fmt_bytes, fmt_num, terminal_table, verdict

SCHEMA = "tpbench.report/1"


def main(argv=None):
    try:
        return make_report(argv)
    except BadInput as e:
        print(f"make_report: error: {e}", file=sys.stderr)
        return 2
    except OutputError as e:
        print(f"make_report: error: {e}", file=sys.stderr)
        return 1


class OutputError(Exception):
    """The report directory cannot be made or written."""


def output_error(out_dir, e):
    what = f"{e.strerror}: {e.filename}" if e.strerror and e.filename else (e.strerror or str(e))
    return OutputError(f"cannot write the report in {out_dir}: {what}")


def make_report(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="+", help="sweep / run directories or results files")
    ap.add_argument("--out", required=True, help="directory for the report")
    ap.add_argument("--title", help="the report's title")
    ap.add_argument("--quiet", action="store_true", help="do not print the table")
    ap.add_argument("--run-plots", action="store_true",
                    help="only the plots of one run (train run directory, linear results.json, comm --json) into "
                         "OUT: what train, linear and comm write into their results at the end")
    args = ap.parse_args(argv)

    if args.run_plots:
        if len(args.inputs) != 1:
            print("make_report: --run-plots takes one run", file=sys.stderr)
            return 2
        try:
            written = plot_run(args.inputs[0], args.out)
        except OSError as e:
            raise output_error(args.out, e) from None
        if not args.quiet:
            print(f"plots: {len(written)} (PNG and SVG) in {args.out}")
        return 0

    found = collect(args.inputs)
    rows, details, machines = build_rows(found)
    comm_rows = comm_summary(found.comms)
    if not rows and not comm_rows:
        print("make_report: found no tpbench results in " + ", ".join(args.inputs), file=sys.stderr)
        return 1

    out_dir = args.out
    try:
        write_report(args, out_dir, rows, details, machines, comm_rows, found)
    except OSError as e:
        raise output_error(out_dir, e) from None
    if not args.quiet:
        print_summary(rows, comm_rows, machines, out_dir)
    return 0


def write_report(args, out_dir, rows, details, machines, comm_rows, found):
    os.makedirs(out_dir, exist_ok=True)
    generated = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    title = args.title or default_title(rows, comm_rows)

    written, titles = charts.draw_all(rows, details, found.comms, out_dir)

    inputs = list(args.inputs)
    render.write_atomic(os.path.join(out_dir, "results.csv"), render.csv_text(rows))
    doc = {"schema": SCHEMA, "title": title, "generated_at": generated, "inputs": inputs,
           "columns": COLUMNS, "rows": [{**{k: r.get(k) for k in COLUMNS}, "means": r.get("means")} for r in rows],
           "per_rank": {r["name"]: details[r["name"]]["per_rank"] for r in rows},
           "machines": machines, "comm": comm_rows,
           "charts": {n: {"png": f"charts/{n}.png", "svg": f"charts/{n}.svg", "title": titles[n][0]}
                      for n in written}}
    render.write_atomic(os.path.join(out_dir, "results.json"), json.dumps(doc, indent=2) + "\n")
    render.write_atomic(os.path.join(out_dir, "report.md"),
                        render.markdown(title, rows, machines, comm_rows, written, titles, inputs, generated,
                                        found.sweeps))
    render.write_atomic(os.path.join(out_dir, "report.html"),
                        render.html_page(title, rows, machines, comm_rows, written, titles, out_dir, inputs,
                                         generated, found.sweeps))


def print_summary(rows, comm_rows, machines, out_dir):
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


def default_title(rows, comm_rows):
    train = [r for r in rows if r["kind"] == "train"]
    if train:
        def in_order(key):  # distinct values, in the rows' order
            return list(dict.fromkeys(str(r[key]) for r in train if r.get(key) is not None))
        presets, tps, ranks = in_order("preset"), in_order("tp"), in_order("world_size")
        return f"tpbench: {', '.join(presets) or 'train'} at TP = {', '.join(tps)} on {', '.join(ranks)} ranks"
    if rows:
        return "tpbench: linear layer, row vs column"
    return "tpbench: collective benchmarks"


if __name__ == "__main__":
    sys.exit(main())
