"""Write a report in one of its formats: ``md``, ``json`` or ``html``."""

from __future__ import annotations

from pathlib import Path

from cdlog.domain.config import DEFAULT_CONFIG, Config
from cdlog.reports.build import AnyReport
from cdlog.reports.html import render_html
from cdlog.reports.layout import layout
from cdlog.reports.markdown import render_markdown

FORMATS = ("md", "json", "html")


def render(report: AnyReport, fmt: str, config: Config = DEFAULT_CONFIG) -> str:
    """The report as Markdown, JSON or HTML text."""
    if fmt == "json":
        return report.model_dump_json(indent=2, by_alias=True) + "\n"
    doc = layout(report)
    if fmt == "md":
        return render_markdown(doc)
    if fmt == "html":
        return render_html(doc, config)
    msg = f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}"
    raise ValueError(msg)


def write(report: AnyReport, fmt: str, path: Path, config: Config = DEFAULT_CONFIG) -> Path:
    """Render ``report`` into ``path`` (folders created as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(report, fmt, config), encoding="utf-8")
    return path
