#!/usr/bin/env python3
"""End to end: `tpbench sweep --nproc 4 --tp 1,2,4,3 --preset tiny ...` gives three rows
that ran and one (tp 3) that failed with its error; its CSV and JSON parse with the
expected columns; every chart is a valid PNG and SVG with real content; report.html renders
in headless Chromium to a non-blank screenshot; `tpbench report` rebuilds a report from the
run directories alone; the "TP communication by collective" table (report.md, report.html)
and its results.csv/results.json columns equal each run's summary.json, for a sweep over
--sp off,on too, and a run directory from before tpbench recorded them still reports.

    check_sweep.py TPBENCH WORKDIR           the train sweep above
    check_sweep.py TPBENCH WORKDIR linear    a linear sweep: --nproc 1,2 --mode row,both

Chromium missing is a failure, not a skip: scripts/setup.sh installs it (Debian `chromium`).
"""

import csv
import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

EXPECTED_COLUMNS = [
    "name", "label", "kind", "status", "error", "date", "machine", "hostname",
    "preset", "mode", "world_size", "tp", "dp", "sp", "batch", "seq", "tokens_per_step",
    "wall_s", "startup_s", "train_s",
    "step_mean_ms", "step_median_ms", "step_p95_ms",
    "forward_ms", "backward_ms", "optimizer_ms",
    "tp_comm_ms", "tp_wait_ms", "tp_transfer_ms", "tp_comm_share",
    "tp_all_reduce_ms", "tp_all_reduce_wait_ms", "tp_all_reduce_transfer_ms", "tp_all_reduce_bytes",
    "tp_all_reduce_calls",
    "tp_all_gather_ms", "tp_all_gather_wait_ms", "tp_all_gather_transfer_ms", "tp_all_gather_bytes",
    "tp_all_gather_calls",
    "tp_reduce_scatter_ms", "tp_reduce_scatter_wait_ms", "tp_reduce_scatter_transfer_ms", "tp_reduce_scatter_bytes",
    "tp_reduce_scatter_calls",
    "dp_comm_ms", "dp_wait_ms", "dp_transfer_ms", "dp_comm_share",
    "tokens_per_s", "samples_per_s", "repeats", "throughput_min", "throughput_max",
    "mfu", "gemm_peak_flops_per_rank", "peak_mem_bytes_per_rank",
    "loss_first", "loss_last", "speedup", "baseline",
    "command", "source",
]
# Must be positive numbers in every row that ran.
POSITIVE = ["wall_s", "startup_s", "train_s", "step_mean_ms", "step_median_ms", "forward_ms", "backward_ms",
            "optimizer_ms", "tokens_per_s", "mfu", "peak_mem_bytes_per_rank", "loss_first", "loss_last", "speedup"]
CHARTS = ["phases", "comm_ranks", "tp_collectives", "loss", "memory", "throughput"]
# The by-collective columns: tp_<collective>_<suffix> = summary.json's tp_by_collective[collective]
# [key] (its median for the times).
COLLECTIVE_FIELDS = [("ms", "comm_ms", "median"), ("wait_ms", "wait_ms", "median"),
                     ("transfer_ms", "transfer_ms", "median"), ("bytes", "bytes_per_step", None),
                     ("calls", "calls_per_step", None)]
COLLECTIVE_TITLE = "TP communication by collective"
COLLECTIVE_HEAD = ["config", "label", "mesh dp x tp", "sp", "collective", "calls/step", "bytes/step",
                   "comm ms", "wait ms", "transfer ms", "of iter"]

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print(f"FAIL: {what}", flush=True)
    return cond


def run(cmd, timeout=240):
    t0 = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    print(f"$ {' '.join(cmd)}  ({time.monotonic() - t0:.1f} s, exit {p.returncode})")
    print(p.stdout)
    return p


def check_png(path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.image as mpimg
    import numpy as np
    with open(path, "rb") as f:
        head = f.read(8)
    if not check(head == b"\x89PNG\r\n\x1a\n", f"{path}: PNG signature"):
        return
    check(os.path.getsize(path) > 5000, f"{path}: {os.path.getsize(path)} bytes, expected > 5000")
    img = mpimg.imread(path)
    check(img.ndim == 3 and img.shape[0] >= 200 and img.shape[1] >= 300, f"{path}: shape {img.shape}")
    rgb = img[..., :3]
    check(float(rgb.std()) > 0.02, f"{path}: nearly uniform (std {float(rgb.std()):.4f})")
    colours = np.unique((rgb.reshape(-1, 3) * 255).astype(np.uint8), axis=0)
    check(len(colours) > 10, f"{path}: only {len(colours)} colours")
    non_white = float((rgb.min(axis=2) < 0.9).mean())
    check(non_white > 0.02, f"{path}: {100 * non_white:.1f}% non-white pixels")


def check_svg(path):
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as e:
        check(False, f"{path}: not XML: {e}")
        return
    check(root.tag.endswith("svg"), f"{path}: root element {root.tag}")
    drawing = [el for el in root.iter() if el.tag.split("}")[-1] in ("path", "rect", "line", "polyline", "use", "text")]
    check(len(drawing) > 30, f"{path}: only {len(drawing)} drawing elements")
    check(os.path.getsize(path) > 5000, f"{path}: {os.path.getsize(path)} bytes")


def check_html(html_path, work):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not check(chromium is not None, "chromium not found (scripts/setup.sh installs Debian's chromium)"):
        return
    with open(html_path) as f:
        text = f.read()
    for bad in ("<script src", "<link ", "src=\"http", "src='http", "@import", "url(http"):
        check(bad not in text, f"report.html is not self-contained: contains {bad!r}")
    check(text.count("<svg") >= len(CHARTS), f"report.html inlines {text.count('<svg')} SVG charts")
    shot = os.path.join(work, "screenshot.png")
    profile = os.path.join(work, "chromium-profile")
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           f"--user-data-dir={profile}", f"--screenshot={shot}", "--window-size=1200,2000",
           "file://" + os.path.abspath(html_path)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=90)
    if not check(p.returncode == 0 and os.path.isfile(shot), f"chromium failed ({p.returncode}): {p.stdout[-2000:]}"):
        return
    check_png(shot)


def summary_of(row):
    """A train row's summary.json (its source is the run directory)."""
    return json.load(open(os.path.join(row["source"], "summary.json")))


def expected_sp(row):
    mesh = json.load(open(os.path.join(row["source"], "config.json")))["mesh"]
    return "on" if mesh["sp"] else "off"


def check_collective_columns(csv_rows, json_rows):
    """results.csv's and results.json's tp_<collective>_* and sp equal the run's files."""
    by_name = {r["name"]: r for r in json_rows}
    for r in csv_rows:
        if r["status"] != "ok":
            continue
        s = summary_of(r)
        by = s.get("tp_by_collective")
        if not check(isinstance(by, dict) and by, f"{r['name']}: summary.json has tp_by_collective"):
            continue
        check(r["sp"] == expected_sp(r), f"{r['name']}: results.csv sp {r['sp']!r}, config.json says {expected_sp(r)}")
        check(by_name[r["name"]]["sp"] == expected_sp(r), f"{r['name']}: results.json sp {by_name[r['name']]['sp']!r}")
        for c, d in by.items():
            for suffix, key, stat in COLLECTIVE_FIELDS:
                want = d[key][stat] if stat else d[key]
                col = f"tp_{c}_{suffix}"
                check(col in r and r[col] != "" and float(r[col]) == want,
                      f"{r['name']}: results.csv {col} = {r.get(col)!r}, summary.json {want!r}")
                got = by_name[r["name"]].get(col)
                check(got == want, f"{r['name']}: results.json {col} = {got!r}, summary.json {want!r}")


def shown_to(cell, value):
    """The table's cell shows `value` to the cell's own precision (ms, %, KiB ...)."""
    text = cell.replace(",", "").strip()
    scale = 1.0
    for unit, mult in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1), ("%", 0.01)):
        if text.endswith(unit):
            text, scale = text[:-len(unit)].strip(), float(mult)
            break
    try:
        shown = float(text)
    except ValueError:
        return False
    decimals = len(text.split(".")[1]) if "." in text else 0
    return abs(shown * scale - value) <= 0.5 * 10 ** -decimals * scale + 1e-12


def md_section_table(md, title):
    """The rows (lists of cells) of the first table under '## title', None when no such section."""
    start = md.find(f"\n## {title}\n")
    if start < 0:
        return None
    section = md[start + 1:].split("\n## ", 1)[0]
    lines = [ln for ln in section.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split(" | ")] for ln in lines if not ln.startswith("|---")]


def html_section_table(text, title):
    m = re.search(f"<h2>{re.escape(title)}</h2>(.*?)</table>", text, re.S)
    if not m:
        return None
    return [[html.unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", tr)]
            for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", m.group(1), re.S)]


def check_collective_table(out_dir, csv_rows):
    """report.md's and report.html's "TP communication by collective": one row per configuration
    that ran TP collectives and per collective of its summary.json, each showing the summary's
    numbers; the same cells in both files. Returns the table's rows (after the header)."""
    md = open(os.path.join(out_dir, "report.md")).read()
    page = open(os.path.join(out_dir, "report.html")).read()
    table = md_section_table(md, COLLECTIVE_TITLE)
    if not check(table is not None, f"{out_dir}/report.md has a '{COLLECTIVE_TITLE}' table"):
        return []
    check(table[0] == COLLECTIVE_HEAD, f"report.md by-collective header {table[0]}")
    body = table[1:]
    check(html_section_table(page, COLLECTIVE_TITLE) == table, "report.html's by-collective table is report.md's")
    col = {h: i for i, h in enumerate(COLLECTIVE_HEAD)}
    want_rows = []
    for r in csv_rows:
        if r["status"] != "ok":
            continue
        by = summary_of(r)["tp_by_collective"]
        if any(d["calls_per_step"] for d in by.values()):
            want_rows += [(r["name"], c) for c in sorted(by)]
        else:
            check(f"{r['name']} ({r['label']}: no TP collectives)" in md,
                  f"report.md says why {r['name']} is not in the by-collective table")
    got_rows = [(cells[col["config"]], cells[col["collective"]]) for cells in body]
    check(sorted(got_rows) == sorted(want_rows), f"by-collective rows {got_rows}, expected {want_rows}")
    rows_by_name = {r["name"]: r for r in csv_rows}
    for cells in body:
        if not check(len(cells) == len(COLLECTIVE_HEAD), f"by-collective row {cells}"):
            continue
        name, c = cells[col["config"]], cells[col["collective"]]
        r = rows_by_name.get(name)
        if not check(r is not None, f"by-collective row {name} is a row of results.csv"):
            continue
        d = summary_of(r)["tp_by_collective"].get(c)
        if not check(d is not None, f"{name}: {c} is in its summary.json"):
            continue
        check(cells[col["label"]] == r["label"] and cells[col["sp"]] == expected_sp(r),
              f"{name}: label {cells[col['label']]!r} sp {cells[col['sp']]!r}")
        for head, value in (("calls/step", d["calls_per_step"]), ("bytes/step", d["bytes_per_step"]),
                            ("comm ms", d["comm_ms"]["median"]), ("wait ms", d["wait_ms"]["median"]),
                            ("transfer ms", d["transfer_ms"]["median"]),
                            ("of iter", d["comm_ms"]["median"] / summary_of(r)["step_ms"]["median"])):
            check(shown_to(cells[col[head]], value), f"{name} {c} {head}: shows {cells[col[head]]!r}, summary.json {value!r}")
    return body


def check_sp_sweep(exe, work):
    """--sp off,on at tp 2: sp in the rows, the labels and the by-collective table; with SP on the
    sequence-split regions' all-gathers and reduce-scatters appear (and only then)."""
    sweep = os.path.join(work, "sp-sweep")
    p = run([exe, "sweep", "--nproc", "2", "--tp", "2", "--sp", "off,on", "--preset", "tiny", "--iters", "3",
             "--warmup-iters", "1", "--out", sweep])
    check(p.returncode == 0, f"--sp off,on sweep exits {p.returncode}")
    manifest = json.load(open(os.path.join(sweep, "sweep.json")))
    check([c.get("sp") for c in manifest["configs"]] == [False, True], f"sweep.json sp {[c.get('sp') for c in manifest['configs']]}")
    with open(os.path.join(sweep, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    doc = json.load(open(os.path.join(sweep, "results.json")))
    check([(r["status"], r["sp"]) for r in rows] == [("ok", "off"), ("ok", "on")], f"rows {[(r['status'], r['sp']) for r in rows]}")
    check([r["label"] for r in rows] == ["tp2·dp1 sp off", "tp2·dp1 sp on"], f"labels {[r['label'] for r in rows]}")
    check_collective_columns(rows, doc["rows"])
    for r in rows:
        by = summary_of(r)["tp_by_collective"]
        sp_calls = by["all_gather"]["calls_per_step"] + by["reduce_scatter"]["calls_per_step"]
        check(by["all_reduce"]["calls_per_step"] > 0, f"{r['name']}: TP all-reduces")
        check((sp_calls > 0) == (r["sp"] == "on"), f"{r['name']} (sp {r['sp']}): {sp_calls} all-gathers + reduce-scatters")
    body = check_collective_table(sweep, rows)
    check(len(body) == 6, f"{len(body)} by-collective rows for 2 configurations")
    check_png(os.path.join(sweep, "charts", "tp_collectives.png"))
    check_svg(os.path.join(sweep, "charts", "tp_collectives.svg"))


def check_old_run(exe, work, run_dir):
    """A run directory from before tpbench split TP communication by collective (no
    tp_by_collective, no mesh.sp, no tp_<collective>_* in metrics.jsonl) still reports: the
    new columns empty, no by-collective table or chart."""
    old = os.path.join(work, "old-run", os.path.basename(run_dir))
    shutil.copytree(run_dir, old)
    s = json.load(open(os.path.join(old, "summary.json")))
    s.pop("tp_by_collective", None)
    json.dump(s, open(os.path.join(old, "summary.json"), "w"))
    c = json.load(open(os.path.join(old, "config.json")))
    c["mesh"].pop("sp", None)
    json.dump(c, open(os.path.join(old, "config.json"), "w"))
    recs = [json.loads(ln) for ln in open(os.path.join(old, "metrics.jsonl")) if ln.strip()]
    with open(os.path.join(old, "metrics.jsonl"), "w") as f:
        for rec in recs:
            rec = {k: v for k, v in rec.items() if not re.match(r"tp_(all_reduce|all_gather|reduce_scatter)_", k)}
            f.write(json.dumps(rec) + "\n")
    out = os.path.join(work, "old-report")
    p = run([exe, "report", old, "--out", out])
    if not check(p.returncode == 0, f"tpbench report on an old run directory exits {p.returncode}"):
        return
    with open(os.path.join(out, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    check(len(rows) == 1 and rows[0]["status"] == "ok", f"old run: {[(r['status'], r['error']) for r in rows]}")
    new_cols = ["sp"] + [c for c in EXPECTED_COLUMNS if re.match(r"tp_(all_reduce|all_gather|reduce_scatter)_", c)]
    check(all(rows[0][k] == "" for k in new_cols), f"old run: empty {new_cols}: {[rows[0][k] for k in new_cols]}")
    check(COLLECTIVE_TITLE not in open(os.path.join(out, "report.md")).read(), "old run: no by-collective section in report.md")
    check(COLLECTIVE_TITLE not in open(os.path.join(out, "report.html")).read(), "old run: none in report.html")
    check(not os.path.exists(os.path.join(out, "charts", "tp_collectives.png")), "old run: no tp_collectives chart")


def check_linear(exe, work):
    sweep = os.path.join(work, "sweep")
    p = run([exe, "sweep", "--command", "linear", "--nproc", "1,2", "--mode", "row,both", "--iters", "3",
             "--warmup", "1", "--in-features", "256", "--out-features", "256", "--out", sweep])
    check(p.returncode == 0, f"linear sweep exits {p.returncode}")
    with open(os.path.join(sweep, "results.csv")) as f:
        rows = list(csv.DictReader(f))
    # --mode both writes both modes in one results.json: two rows from one launch.
    want = [("1", "row"), ("1", "row"), ("1", "column"), ("2", "row"), ("2", "row"), ("2", "column")]
    check([(r["world_size"], r["mode"]) for r in rows] == want, f"rows {[(r['world_size'], r['mode']) for r in rows]}")
    for r in rows:
        check(r["kind"] == "linear" and r["status"] == "ok", f"{r['name']}: {r['kind']} {r['status']}")
        check(float(r["samples_per_s"]) > 0 and float(r["step_median_ms"]) > 0, f"{r['name']} numbers")
        check(r["tp"] == r["world_size"], f"{r['name']}: linear's TP size is its ranks")
    for name in ("phases", "throughput"):
        check_png(os.path.join(sweep, "charts", f"{name}.png"))
        check_svg(os.path.join(sweep, "charts", f"{name}.svg"))
    check(not os.path.exists(os.path.join(sweep, "charts", "loss.png")), "no loss chart for linear runs")
    check(os.path.isfile(os.path.join(sweep, "report.html")), "report.html")


def main():
    exe, work = sys.argv[1], sys.argv[2]
    if len(sys.argv) > 3 and sys.argv[3] == "linear":
        shutil.rmtree(work, ignore_errors=True)
        os.makedirs(work)
        t0 = time.monotonic()
        check_linear(exe, work)
        print(f"check_sweep linear: {len(failures)} failure(s), {time.monotonic() - t0:.1f} s")
        return 1 if failures else 0
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    sweep = os.path.join(work, "sweep")
    t0 = time.monotonic()
    p = run([exe, "sweep", "--nproc", "4", "--tp", "1,2,4,3", "--preset", "tiny", "--iters", "4",
             "--warmup-iters", "1", "--out", sweep])
    check(p.returncode == 1, f"sweep with a failing configuration exits 1, got {p.returncode}")
    check("FAILED" in p.stdout and "tp 3" in p.stdout.replace("--tp 3", "tp 3"), "the failed configuration is named")
    check("speedup" in p.stdout and "tokens/s" in p.stdout, "the table is printed")

    manifest = json.load(open(os.path.join(sweep, "sweep.json")))
    check(manifest["schema"] == "tpbench.sweep/1", "sweep.json schema")
    check([c["status"] for c in manifest["configs"]] == ["ok", "ok", "ok", "failed"],
          f"statuses {[c['status'] for c in manifest['configs']]}")
    for c in manifest["configs"]:
        check(os.path.isfile(os.path.join(sweep, c["log"])), f"log {c['log']}")

    # results.csv
    with open(os.path.join(sweep, "results.csv")) as f:
        reader = csv.DictReader(f)
        header = reader.fieldnames
        rows = list(reader)
    check(header == EXPECTED_COLUMNS, f"CSV columns {header}")
    check(len(rows) == 4, f"{len(rows)} CSV rows")
    ok = [r for r in rows if r["status"] == "ok"]
    check(len(ok) == 3, f"{len(ok)} rows ran")
    check([int(r["tp"]) for r in ok] == [1, 2, 4], f"tp of the rows that ran: {[r['tp'] for r in ok]}")
    check([int(r["dp"]) for r in ok] == [4, 2, 1], f"dp of the rows that ran: {[r['dp'] for r in ok]}")
    for r in ok:
        for k in POSITIVE:
            try:
                v = float(r[k])
            except ValueError:
                v = float("nan")
            check(v > 0, f"{r['name']} {k} = {r[k]!r}, expected a positive number")
        check(r["machine"] == "M1" and r["hostname"], f"{r['name']} machine {r['machine']!r} {r['hostname']!r}")
        check(abs(float(r["wall_s"]) - float(r["startup_s"]) - float(r["train_s"])) < 1e-6, "wall = start-up + train")
    check(abs(float(ok[0]["speedup"]) - 1.0) < 1e-9, "the first row's speedup is 1")
    check(all(r["sp"] == "off" for r in ok), f"sp of the rows that ran: {[r['sp'] for r in ok]}")
    check(all(float(r["tp_all_reduce_calls"]) > 0 for r in ok if r["tp"] != "1"), "TP all-reduces at tp > 1")
    failed = rows[3]
    check(failed["status"] == "failed" and failed["tp"] == "3", f"row 4: {failed['status']} tp {failed['tp']}")
    check("--tp 3" in failed["error"] and "divide" in failed["error"], f"row 4's error: {failed['error']!r}")

    # results.json
    doc = json.load(open(os.path.join(sweep, "results.json")))
    check(doc["schema"] == "tpbench.report/1", "results.json schema")
    check(doc["columns"] == EXPECTED_COLUMNS, "results.json columns")
    check(len(doc["rows"]) == 4 and all(set(EXPECTED_COLUMNS) <= set(r) for r in doc["rows"]), "results.json rows")
    check([r["status"] for r in doc["rows"]] == ["ok", "ok", "ok", "failed"], "results.json statuses")
    check(isinstance(doc["rows"][0]["step_median_ms"], float), "results.json numbers are numbers")
    check(len(doc["per_rank"]["cfg1"]) == 4, "per-rank data for 4 ranks")
    check(len(doc["machines"]) == 1 and doc["machines"][0]["hostname"], "one machine, named")
    check_collective_columns(rows, doc["rows"])

    # charts
    for name in CHARTS:
        check_png(os.path.join(sweep, "charts", f"{name}.png"))
        check_svg(os.path.join(sweep, "charts", f"{name}.svg"))

    md = open(os.path.join(sweep, "report.md")).read()
    check("| cfg3 |" in md and "FAILED" in md, "report.md shows the failed configuration")
    for name in CHARTS:
        check(f"charts/{name}.png" in md, f"report.md links {name}")
    body = check_collective_table(sweep, rows)
    check(sorted({cells[0] for cells in body}) == sorted(r["name"] for r in ok if r["tp"] != "1"),
          f"by-collective table: the configurations with TP (tp 2, 4): {sorted({cells[0] for cells in body})}")

    check_html(os.path.join(sweep, "report.html"), work)

    # tpbench report: the same from run directories alone (one train run dir given directly,
    # another found by searching a directory).
    run_dir = os.path.join(sweep, manifest["configs"][0]["run_dir"])
    other = os.path.join(work, "rebuilt")
    p = run([exe, "report", run_dir, os.path.join(sweep, "runs", "cfg2"), "--out", other])
    check(p.returncode == 0, f"tpbench report exits {p.returncode}")
    with open(os.path.join(other, "results.csv")) as f:
        rebuilt = list(csv.DictReader(f))
    check([(r["status"], r["tp"]) for r in rebuilt] == [("ok", "1"), ("ok", "4")],
          f"rebuilt rows {[(r['status'], r['tp']) for r in rebuilt]}")
    check(all(r["machine"] == "M1" and r["hostname"] for r in rebuilt), "rebuilt rows show their machine")
    check(all(r["wall_s"] == "" and r["startup_s"] == "" for r in rebuilt),
          "without a sweep manifest there is no launch wall time to split")
    check(os.path.isfile(os.path.join(other, "report.html")), "rebuilt report.html")
    check_collective_columns(rebuilt, json.load(open(os.path.join(other, "results.json")))["rows"])
    check_collective_table(other, rebuilt)

    check_old_run(exe, work, os.path.join(sweep, manifest["configs"][1]["run_dir"]))
    check_sp_sweep(exe, work)

    print(f"check_sweep: {len(failures)} failure(s), {time.monotonic() - t0:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
