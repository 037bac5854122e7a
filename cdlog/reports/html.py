"""Render a report as one self-contained HTML file (inline CSS and SVG, no scripts) that also
prints well."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from cdlog.domain.config import DEFAULT_CONFIG, Config
from cdlog.projections import models as m
from cdlog.reports.build import CaseReport, IncidentReport
from cdlog.reports.layout import Cell, Document, Para, Table
from cdlog.reports.timeline import lanes_for, render_svg

CSS = """
:root { --ok: #276749; --bad: #c53030; --ink: #1a202c; --muted: #4a5568; --rule: #e2e8f0; }
* { box-sizing: border-box; }
body { font: 13px/1.45 Helvetica, Arial, sans-serif; color: var(--ink); margin: 24px auto;
       max-width: 1180px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 26px 0 8px; padding-bottom: 3px; border-bottom: 2px solid #2d3748; }
.meta { color: var(--muted); margin: 0 0 12px; padding: 0; list-style: none; }
.meta li { display: inline-block; margin-right: 18px; }
.verification { padding: 10px 14px; border-radius: 4px; margin: 12px 0; font-weight: bold; }
.verification.ok { background: #f0fff4; border: 1px solid var(--ok); color: var(--ok); }
.verification.bad { background: #fff5f5; border: 1px solid var(--bad); color: var(--bad); }
.verification ul { font-weight: normal; margin: 6px 0 0; }
table { border-collapse: collapse; width: 100%; margin: 6px 0 12px; font-size: 12px; }
th, td { border: 1px solid var(--rule); padding: 3px 6px; text-align: left;
         vertical-align: top; }
th { background: #edf2f7; }
td.ok { color: var(--ok); }
td.bad, p.bad { color: var(--bad); font-weight: bold; }
p.ok { color: var(--ok); }
.cite { font: 10px/1.2 Menlo, Consolas, monospace; color: #2b6cb0; text-decoration: none;
        white-space: nowrap; background: #ebf8ff; border-radius: 3px; padding: 0 3px;
        margin-left: 3px; display: inline-block; }
.cite.unverified { color: var(--bad); background: #fff5f5; }
.hash { font: 10px Menlo, Consolas, monospace; word-break: break-all; }
figure { margin: 12px 0; }
figcaption { color: var(--muted); font-size: 11px; }
.legend span { display: inline-block; margin-right: 14px; }
.legend i { display: inline-block; width: 18px; height: 10px; margin-right: 4px;
            vertical-align: middle; border: 1px solid #2d3748; }
@media print {
  @page { size: A4 landscape; margin: 12mm; }
  body { margin: 0; max-width: none; font-size: 10pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  h2 { break-after: avoid; page-break-after: avoid; }
  table, figure, .verification { break-inside: avoid; page-break-inside: avoid; }
  tr { break-inside: avoid; page-break-inside: avoid; }
  a.cite { color: #2b6cb0; }
  svg.timeline { width: 100%; height: auto; }
  .events { font-size: 8pt; }
}
"""


def _anchor(case: str, version: int) -> str:
    slug = "".join(ch if ch.isalnum() else "-" for ch in case)
    return f"ev-{slug}-{version}"


def _cite(doc: Document, c: m.Citation) -> str:
    ok = doc.verified(c)
    name = c.case.partition(":")[2] if c.case.startswith("case:") else c.case
    label = f"{escape(name)} v{c.version} · {c.hash[:12]}" + ("" if ok else " ✗")
    title = (f"{c.type} — case {c.case}, version {c.version}, hash {c.hash}; "
             + ("verified" if ok else "NOT verified"))
    return (f'<a class="cite{"" if ok else " unverified"}" href="#{_anchor(c.case, c.version)}" '
            f'title="{escape(title)}">{label}</a>')


def _cites(doc: Document, cites: Sequence[m.Citation]) -> str:
    return "".join(_cite(doc, c) for c in cites)


def _cell(doc: Document, cell: Cell) -> str:
    cls = f' class="{cell.style}"' if cell.style else ""
    text = "" if cell.text == "—" and cell.cites else escape(cell.text)
    return f"<td{cls}>{text}{_cites(doc, cell.cites)}</td>"


def _table(doc: Document, table: Table, cls: str = "") -> str:
    if not table.rows:
        return "<p>(none)</p>"
    head = "".join(f"<th>{escape(h)}</th>" for h in table.headers)
    body = "\n".join("<tr>" + "".join(_cell(doc, cell) for cell in row) + "</tr>"
                     for row in table.rows)
    attr = f' class="{cls}"' if cls else ""
    return f"<table{attr}><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>"


def _timeline(doc: Document, config: Config) -> str:
    report = doc.report
    if isinstance(report, CaseReport):
        lanes = lanes_for(report.responsibility, report.items, report.surveillance,
                          report.knowledge, report.incidents, report.events)
        port = report.case.port
        title = f"Timeline of {report.case.reference}"
    elif isinstance(report, IncidentReport):
        lanes = lanes_for(report.responsibility, report.items, report.surveillance,
                          report.knowledge, [report.incident], report.events,
                          highlight=report.incident.incident_id)
        port = report.incident.case.port
        title = (f"Timeline of {report.incident.case.reference} around "
                 f"{report.incident.incident_id}")
    else:
        return ""
    entry = config.ports.get(port or "")
    zone_name = entry.tz if entry else config.default_tz
    svg = render_svg(lanes, config.zone(port), zone_name, title)
    legend = ('<div class="legend">'
              '<span><i style="background:#1f5fa8"></i>CBP/OFO responsible</span>'
              '<span><i style="background:#c2571a"></i>ICE/OI responsible</span>'
              '<span><i style="background:#9cc3ec"></i>held by CBP</span>'
              '<span><i style="background:#f4b98a"></i>held by ICE</span>'
              '<span><i style="background:#cbd5e0"></i>held elsewhere (vault)</span>'
              '<span><i style="background:#2f855a"></i>eyes on</span>'
              '<span><i style="background:#fed7d7"></i>gap / nobody</span>'
              "<span>◆ incident</span><span>▲ notification</span></div>")
    return (f'<figure id="timeline">{svg}<figcaption>{escape(title)}: responsibility bands, '
            f"custody per item and holder, surveillance, incidents, notifications and "
            f"milestones. Times in {escape(zone_name)}. Grey bands cut out quiet stretches "
            f"(their length is written below them). Hollow triangles were entered late "
            f"(dotted to when recorded). Hover a shape for details.</figcaption>{legend}"
            "</figure>")


def render_html(doc: Document, config: Config = DEFAULT_CONFIG) -> str:
    """The whole report as one HTML document."""
    status = "ok" if doc.verified_ok else "bad"
    failures = list(getattr(doc.verification, "failures", []))
    fail_html = ("<ul>" + "".join(f"<li>{escape(f)}</li>" for f in failures[:50]) + "</ul>"
                 if failures else "")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{escape(doc.title)}</title><style>{CSS}</style></head><body>",
             f"<h1>{escape(doc.title)}</h1>",
             '<ul class="meta">' + "".join(f"<li><b>{escape(k)}:</b> {escape(v)}</li>"
                                          for k, v in doc.meta) + "</ul>",
             f'<div class="verification {status}" id="verification">{escape(doc.statement)}'
             f"{fail_html}</div>",
             '<p class="note">Each fact cites the events it rests on (case, version, first '
             "12 hex digits of the event hash); each citation links to the event index at the "
             "end, which gives the full hash and whether the event verified.</p>",
             _timeline(doc, config)]
    for section in doc.sections:
        parts.append(f'<section id="{escape(section.anchor)}"><h2>{escape(section.title)}</h2>')
        for block in section.blocks:
            if isinstance(block, Para):
                cls = f' class="{block.style}"' if block.style else ""
                parts.append(f"<p{cls}>{escape(block.text)}{_cites(doc, block.cites)}</p>")
            elif isinstance(block, Table):
                parts.append(_table(doc, block))
        parts.append("</section>")
    rows = []
    for e in doc.events:
        cls = "ok" if e.verified else "bad"
        rows.append(f'<tr id="{_anchor(e.case, e.version)}"><td>{escape(e.case)}</td>'
                    f"<td>{e.version}</td><td>{escape(e.type)}</td><td>{escape(e.occurred)}</td>"
                    f"<td>{escape(e.recorded)}{' (late)' if e.late else ''}</td>"
                    f"<td>{escape(e.actor)}</td><td class=\"hash\">{e.hash}</td>"
                    f'<td class="{cls}">{"verified" if e.verified else "NOT verified"}</td></tr>')
    parts.append('<section id="events"><h2>Event index</h2><table class="events"><thead><tr>'
                 "<th>case</th><th>v</th><th>type</th><th>occurred</th><th>recorded</th>"
                 "<th>actor</th><th>hash (SHA-256 leaf)</th><th>verification</th></tr></thead>"
                 "<tbody>" + "\n".join(rows) + "</tbody></table></section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
