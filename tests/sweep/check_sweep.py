#!/usr/bin/env python3
"""End to end: `tpbench sweep --nproc 4 --tp 1,2,4,3 --preset tiny ...` gives three rows
that ran and one (tp 3) that failed with its error; its CSV and JSON parse with the
expected columns; every chart is a valid PNG and SVG with real content; report.html renders
in headless Chromium to a non-blank screenshot; `tpbench report` rebuilds a report from the
run directories alone.

    check_sweep.py TPBENCH WORKDIR           the train sweep above
    check_sweep.py TPBENCH WORKDIR linear    a linear sweep: --nproc 1,2 --mode row,both

Chromium missing is a failure, not a skip: scripts/setup.sh installs it (Debian `chromium`).
"""

import csv
import json
import os
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

EXPECTED_COLUMNS = [
    "name", "label", "kind", "status", "error", "date", "machine", "hostname",
    "preset", "mode", "world_size", "tp", "dp", "batch", "seq", "tokens_per_step",
    "wall_s", "startup_s", "train_s",
    "step_mean_ms", "step_median_ms", "step_p95_ms",
    "forward_ms", "backward_ms", "optimizer_ms",
    "tp_comm_ms", "tp_wait_ms", "tp_transfer_ms", "tp_comm_share",
    "dp_comm_ms", "dp_wait_ms", "dp_transfer_ms", "dp_comm_share",
    "tokens_per_s", "samples_per_s", "repeats", "throughput_min", "throughput_max",
    "mfu", "gemm_peak_flops_per_rank", "peak_mem_bytes_per_rank",
    "loss_first", "loss_last", "speedup", "baseline",
    "command", "source",
]
# Must be positive numbers in every row that ran.
POSITIVE = ["wall_s", "startup_s", "train_s", "step_mean_ms", "step_median_ms", "forward_ms", "backward_ms",
            "optimizer_ms", "tokens_per_s", "mfu", "peak_mem_bytes_per_rank", "loss_first", "loss_last", "speedup"]
CHARTS = ["phases", "comm_ranks", "loss", "memory", "throughput"]

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

    # charts
    for name in CHARTS:
        check_png(os.path.join(sweep, "charts", f"{name}.png"))
        check_svg(os.path.join(sweep, "charts", f"{name}.svg"))

    md = open(os.path.join(sweep, "report.md")).read()
    check("| cfg3 |" in md and "FAILED" in md, "report.md shows the failed configuration")
    for name in CHARTS:
        check(f"charts/{name}.png" in md, f"report.md links {name}")

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

    print(f"check_sweep: {len(failures)} failure(s), {time.monotonic() - t0:.1f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
