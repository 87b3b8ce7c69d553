"""The report files: results.csv, report.md and the self-contained report.html (charts
inlined as SVG, styles inline, nothing fetched from the network)."""

import csv
import html
import io
import os
import re

from .rows import (COLUMNS, COLLECTIVE_NOTE, TABLE_HEAD, TABLE_NOTE, breakdown, collective_left_out_text,
                   collective_table, table_head, throughput, fmt_bytes, fmt_mesh, fmt_num, table_cells, verdict)

COLLECTIVE_TITLE = "TP communication by collective"

def write_atomic(path, data, mode="w"):
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, mode) as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        try:  # a full disk leaves no half-written temporary behind
            os.unlink(tmp)
        except OSError:
            pass
        raise


def csv_text(rows):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in COLUMNS})
    return buf.getvalue()


def md_table(head, body, left=2):
    """A markdown table; the first `left` columns left-aligned, the rest (numbers) right."""
    def esc(s):
        return str(s).replace("|", "\\|")
    lines = ["| " + " | ".join(esc(h) for h in head) + " |",
             "|" + "|".join("---" if i < left else "---:" for i in range(len(head))) + "|"]
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


def markdown(title, rows, machines, comm_rows, written, titles, inputs, generated, sweeps=()):
    out = [f"# {title}", "",
           f"Generated {generated} by `tools/report/make_report.py` from: "
           + ", ".join(f"`{p}`" for p in inputs) + ".", ""]
    for d, line in sweeps:
        out += [f"Sweep `{d}` was run as:", "", "```", line, "```", ""]
    v = verdict(rows)
    if v:
        out += ["## Answer", ""] + [f"- {line}" for line in v] + [""]
    if rows:
        out += ["## Results", "", md_table(table_head(rows), body_rows(rows)), "",
                TABLE_NOTE, ""]
        head, body, left_out = collective_table(rows)
        if head:
            out += [f"## {COLLECTIVE_TITLE}", ""]
            if body:
                out += [md_table(head, body), ""]
            out += [" ".join(x for x in (COLLECTIVE_NOTE, collective_left_out_text(left_out)) if x), ""]
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
                                            [[m["id"]] + [str(m.get(k, "")) for k in MACHINE_FIELDS] for m in machines],
                                            left=len(MACHINE_FIELDS) + 1), ""]
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


def html_page(title, rows, machines, comm_rows, written, titles, out_dir, inputs, generated, sweeps=()):
    e = html.escape
    best = {}
    for kind in ("train", "linear"):
        ok = [r for r in rows if r["kind"] == kind and r["status"] == "ok" and throughput(r)]
        if ok:
            best[kind] = max(ok, key=throughput)["name"]
    parts = [f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>{e(title)}</h1><p class='meta'>Generated {e(generated)} from "
             + ", ".join(f"<code>{e(p)}</code>" for p in inputs) + "</p>"]
    for d, line in sweeps:
        parts.append(f"<p class='meta'>Sweep <code>{e(d)}</code> was run as: <code>{e(line)}</code></p>")
    v = verdict(rows)
    if v:
        bold = re.compile(r"[*][*](.+?)[*][*]")
        items = "".join("<li>" + bold.sub(r"<b>\1</b>", e(line)) + "</li>" for line in v)
        parts.append(f"<div class='answer'><ul>{items}</ul></div>")
    if rows:
        head = "".join(f"<th class='{'l' if i < 2 else ''}'>{e(h)}</th>" for i, h in enumerate(table_head(rows)))
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
        parts.append(f"<p class='note'>{e(TABLE_NOTE)}</p>")
        head, body, left_out = collective_table(rows)
        if head:
            left = {0, 1, head.index("collective")}
            parts.append(f"<h2>{e(COLLECTIVE_TITLE)}</h2>")
            if body:
                parts.append("<div class='scroll'><table class='by-collective'><tr>"
                             + "".join(f"<th class='{'l' if i in left else ''}'>{e(h)}</th>" for i, h in enumerate(head))
                             + "</tr>" + "".join("<tr>" + "".join(f"<td class='{'l' if i in left else ''}'>{e(c)}</td>"
                                                                  for i, c in enumerate(cells)) + "</tr>"
                                                 for cells in body) + "</table></div>")
            note = " ".join(x for x in (COLLECTIVE_NOTE, collective_left_out_text(left_out)) if x)
            parts.append(f"<p class='note'>{e(note)}</p>")
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
