"""Render a report as Markdown (GitHub-flavoured tables)."""

from __future__ import annotations

from collections.abc import Sequence

from cdlog.projections import models as m
from cdlog.reports.layout import Cell, Document, Para, Table


def cite_text(c: m.Citation, verified: bool) -> str:
    """``[OP-2006-0001 v12 3aff3420f29d]`` (with ``✗ unverified`` when it did not verify)."""
    name = c.case.partition(":")[2] if c.case.startswith("case:") else c.case
    return f"[{name} v{c.version} {c.hash[:12]}{'' if verified else ' ✗ unverified'}]"


def _esc(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _cites(doc: Document, cites: Sequence[m.Citation]) -> str:
    return " ".join(cite_text(c, doc.verified(c)) for c in cites)


def _cell(doc: Document, cell: Cell) -> str:
    text = _esc(cell.text)
    if cell.cites:
        cites = _cites(doc, cell.cites)
        text = cites if text == "—" else f"{text} {cites}"
    return text


def render_markdown(doc: Document) -> str:
    """The whole report as Markdown."""
    out = [f"# {doc.title}", ""]
    out += [f"- {k}: {v}" for k, v in doc.meta]
    out += ["", f"**Verification:** {doc.statement}", ""]
    failures = getattr(doc.verification, "failures", [])
    out += [f"- {f}" for f in failures[:50]]
    if failures:
        out.append("")
    out.append("Each fact cites the events it rests on as [case version hash]; the full "
               "hashes are in the event index at the end.")
    for section in doc.sections:
        out += ["", f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Para):
                text = block.text + (f" {_cites(doc, block.cites)}" if block.cites else "")
                out += [text, ""]
            elif isinstance(block, Table):
                out += _table(doc, block)
    out += ["", "## Event index", "",
            "| case | v | type | occurred | recorded | late | actor | hash | verified |",
            "|---|---|---|---|---|---|---|---|---|"]
    for e in doc.events:
        out.append(f"| {e.case} | {e.version} | {e.type} | {e.occurred} | {e.recorded} | "
                   f"{'yes' if e.late else ''} | {_esc(e.actor)} | `{e.hash}` | "
                   f"{'yes' if e.verified else '**NO**'} |")
    return "\n".join(out) + "\n"


def _table(doc: Document, table: Table) -> list[str]:
    if not table.rows:
        return ["(none)", ""]
    lines = ["| " + " | ".join(table.headers) + " |",
             "|" + "|".join("---" for _ in table.headers) + "|"]
    lines += ["| " + " | ".join(_cell(doc, cell) for cell in row) + " |" for row in table.rows]
    return [*lines, ""]
