"""Finding and reading tpbench results: sweep manifests (sweep.json), train run
directories (config.json, metrics.jsonl, summary.json), linear results.json and comm --json
files. Schemas: docs/results.md and docs/reports.md."""

import datetime
import json
import os
import re
import statistics
import sys


class BadInput(Exception):
    """A results file that exists but cannot be read as what it should be (not JSON, not UTF-8,
    not an object): the report stops, naming the file and what is wrong (exit status 2)."""


def _parse_error(path, e, line=None):
    where = f"line {line}: " if line is not None else ""
    if isinstance(e, UnicodeDecodeError):
        return BadInput(f"{path}: {where}not UTF-8 text (byte {e.start})")
    if isinstance(e, json.JSONDecodeError):
        if line is None:
            return BadInput(f"{path}: not JSON (line {e.lineno}, column {e.colno}: {e.msg})")
        return BadInput(f"{path}: {where}not JSON (column {e.colno}: {e.msg})")
    return BadInput(f"{path}: {where}{e}")


def load_json(path, want_object=True):
    """The document in `path`. A missing file is an OSError (the caller decides); one that
    is there but unreadable as JSON is BadInput naming it."""
    with open(path, "rb") as f:
        data = f.read()
    try:
        doc = json.loads(data.decode("utf-8"))
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError
        raise _parse_error(path, e) from None
    if want_object and not isinstance(doc, dict):
        raise BadInput(f"{path}: not a JSON object (a {type(doc).__name__})")
    return doc


def load_jsonl(path):
    """One JSON object a line (blank lines skipped); a bad line is BadInput naming the file and
    the line."""
    out = []
    with open(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").strip()
                if not line:
                    continue
                record = json.loads(line)
            except ValueError as e:
                raise _parse_error(path, e, number) from None
            if not isinstance(record, dict):
                raise BadInput(f"{path}: line {number}: not a JSON object (a {type(record).__name__})")
            out.append(record)
    return out


def mean(xs):
    xs = [x for x in xs if x is not None]
    return statistics.fmean(xs) if xs else None


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
    except (OSError, ValueError, BadInput):  # not ours, or not JSON: the caller decides
        return None


class Inputs:
    """What was found: train/linear runs (report rows, in order) and comm results."""

    def __init__(self):
        self.runs = []   # dicts: kind, name, source, status, error, ...
        self.comms = []  # (path, document)
        self.sweeps = []  # (directory, the sweep's command line)
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
    except OSError as e:  # a file missing (a run that did not finish): a failed row
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
    except OSError as e:
        base.update(status="failed", error=f"unreadable {path}: {e}")
        found.runs.append(base)
        return
    # The order the run made them in (the results' "modes" object is written sorted).
    modes = [m for m in (doc.get("config") or {}).get("modes", []) if m in doc.get("modes", {})]
    modes += [m for m in doc.get("modes", {}) if m not in modes]
    for mode in modes:
        run = dict(base)
        run["results"] = doc
        run["mode"] = mode
        if len(modes) > 1:
            run["name"] = f"{base['name']}/{mode}"
            if base.get("group"):
                run["group"] = (base["group"][0], f"{base['group'][1]}/{mode}")
        found.runs.append(run)


def from_manifest(entry, sweep_dir):
    # "config" and "repeat" name a configuration's launches under `tpbench sweep --repeat`.
    return {"name": entry.get("name"),
            "group": (os.path.realpath(sweep_dir), entry.get("config") or entry.get("name")),
            "repeat": entry.get("repeat") or 1,
            "command": entry.get("command_line"),
            "wall_s": entry.get("wall_s"),
            "requested": entry,
            "log": os.path.join(sweep_dir, entry["log"]) if entry.get("log") else None,
            "date": (entry.get("started_at") or "").replace("T", " ")[:19] or None}


def add_sweep(found, sweep_dir):
    manifest = load_json(os.path.join(sweep_dir, "sweep.json"))
    if manifest.get("command_line"):
        found.sweeps.append((sweep_dir, manifest["command_line"]))
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
                except OSError as e:
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
                try:  # named on the command line: say why it is not one
                    load_json(p, want_object=False)
                except OSError as e:
                    raise BadInput(f"{p}: cannot read: {e.strerror}") from None
                print(f"make_report: {p}: not a tpbench results file (no known \"schema\")", file=sys.stderr)
        else:
            raise SystemExit(f"make_report: {p}: no such file or directory")
    return found
