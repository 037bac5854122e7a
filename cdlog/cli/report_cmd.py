"""``cdlog report``: reports a person reads, as Markdown, JSON or self-contained HTML.

Every report verifies what it rests on and says whether the events it cites verified:
``--verify cases`` (the default) the cited cases in full with the key events that judge them,
proven against the latest signed checkpoint; ``--verify store`` the whole store.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from cdlog.application import CaseLog
from cdlog.cli.main import Env, cli, pass_env
from cdlog.projections.queries import Queries
from cdlog.projections.timefmt import parse_moment
from cdlog.reports.build import (
    VERIFY_SCOPES,
    AnyReport,
    VerifyScope,
    case_report,
    incident_report,
    overdue_report,
    pilot_report,
)
from cdlog.reports.render import FORMATS, render, write

F = TypeVar("F", bound=Callable[..., Any])


def output_options(func: F) -> F:
    """``--format``, ``--out``, ``--recorded-by`` and ``--verify``."""
    func = click.option("--verify", "verify", type=click.Choice(VERIFY_SCOPES), default="cases",
                        show_default=True,
                        help="What to verify: the cited cases with the key events they depend "
                        "on, proven against the latest signed checkpoint (cases), or the whole "
                        "store (store).")(func)
    func = click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False),
                        default=None, help="Write to FILE instead of standard output.")(func)
    func = click.option("--format", "fmt", type=click.Choice(FORMATS), default="md",
                        show_default=True, help="Output format.")(func)
    return click.option("--recorded-by", "recorded_by", metavar="T", default=None,
                        help="Report what the log had recorded by T.")(func)


def _emit(log: CaseLog, report: AnyReport, fmt: str, out: Path | None) -> None:
    if out is None:
        click.echo(render(report, fmt, log.config), nl=False)
        return
    write(report, fmt, out, log.config)
    click.echo(f"report written to {out} ({report.verification.statement})", err=True)


def _time(text: str | None, name: str) -> Any:
    return None if text is None else parse_moment(text, name)


@cli.group()
def report() -> None:
    """Write accountability reports (md, json or html)."""


@report.command("case")
@click.argument("case")
@click.option("--as-of", "as_of", metavar="T", default=None,
              help="Judge duties at T (default: the case's last recording time).")
@output_options
@pass_env
def case_cmd(env: Env, case: str, as_of: str | None, recorded_by: str | None, fmt: str,
             out: Path | None, verify: VerifyScope) -> None:
    """Everything oversight asks about CASE (operation id, case number, reference or id)."""
    with env.open(readonly=True) as log, Queries(log) as q:
        _emit(log, case_report(q, case, as_of=_time(as_of, "as-of"),
                               recorded_by=_time(recorded_by, "recorded-by"),
                               verify=verify), fmt, out)


@report.command("incident")
@click.argument("incident_id")
@click.option("--case", "case", default=None, help="The case, when the id is not unique.")
@output_options
@pass_env
def incident_cmd(env: Env, incident_id: str, case: str | None, recorded_by: str | None,
                 fmt: str, out: Path | None, verify: VerifyScope) -> None:
    """One incident: who was responsible and held what when it happened, who was told."""
    with env.open(readonly=True) as log, Queries(log) as q:
        _emit(log, incident_report(q, incident_id, case=case,
                                   recorded_by=_time(recorded_by, "recorded-by"),
                                   verify=verify), fmt, out)


@report.command("overdue")
@click.option("--as-of", "as_of", metavar="T", default=None, help="Default: now.")
@output_options
@pass_env
def overdue_cmd(env: Env, as_of: str | None, recorded_by: str | None, fmt: str,
                out: Path | None, verify: VerifyScope) -> None:
    """Every duty past due at T, done late or still open, with summaries per port and office."""
    with env.open(readonly=True) as log, Queries(log) as q:
        _emit(log, overdue_report(q, as_of=_time(as_of, "as-of"),
                                  recorded_by=_time(recorded_by, "recorded-by"),
                                  verify=verify), fmt, out)


@report.command("pilot")
@output_options
@pass_env
def pilot_cmd(env: Env, recorded_by: str | None, fmt: str, out: Path | None,
              verify: VerifyScope) -> None:
    """R5: Title 21 shadow assignments at the pilot ports."""
    with env.open(readonly=True) as log, Queries(log) as q:
        _emit(log, pilot_report(q, recorded_by=_time(recorded_by, "recorded-by"),
        verify=verify), fmt, out)


def write_demo_reports(log: CaseLog, streams: Sequence[str]) -> list[Path]:
    """Write the HTML report of each case into ``<store home>/reports`` and say where."""
    paths = []
    with Queries(log) as q:
        for stream in streams:
            rep = case_report(q, stream)
            name = stream.partition(":")[2] or stream
            path = write(rep, "html", log.store.home / "reports" / f"{name}.html", log.config)
            click.echo(f"report of {stream}: {path.resolve()}")
            paths.append(path)
    return paths
