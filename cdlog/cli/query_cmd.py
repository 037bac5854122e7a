"""``cdlog query``: the accountability questions as JSON, for scripts.

Every subcommand prints one JSON document: the query's pydantic answer
(:mod:`cdlog.projections.models`). ``--recorded-by T`` answers from what the log had recorded
by T (the record-time axis); ``--at``/``--as-of`` are times of the events themselves.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
from pydantic import BaseModel
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from cdlog.cli.main import Env, cli, pass_env
from cdlog.projections.projector import Projections
from cdlog.projections.queries import Queries
from cdlog.projections.questions.pnr import REGIMES
from cdlog.projections.timefmt import parse_day, parse_moment

F = TypeVar("F", bound=Callable[..., Any])


def _time(value: str | None, name: str) -> datetime | None:
    return None if value is None else parse_moment(value, name)


def recorded_by_option(func: F) -> F:
    """Add ``--recorded-by T`` (the record-time axis)."""
    return click.option(
        "--recorded-by", "recorded_by", metavar="T", default=None,
        help="Answer from what the log had recorded by T (ISO time with offset, or a day).",
    )(func)


@contextmanager
def open_queries(env: Env) -> Iterator[Queries]:
    """Open the log and its views (caught up)."""
    with env.open(readonly=True) as log, Queries(log) as q:
        yield q


def emit(model: BaseModel | dict[str, Any]) -> None:
    """Print an answer as JSON."""
    doc = model.model_dump(mode="json", by_alias=True) if isinstance(model, BaseModel) \
        else model
    click.echo(json.dumps(doc, indent=2, ensure_ascii=False))


@cli.group()
def query() -> None:
    """Answer the oversight questions as JSON (listed in docs/REPORTS.md)."""


@query.command("cases")
@recorded_by_option
@pass_env
def cases_(env: Env, recorded_by: str | None) -> None:
    """Every case and the names it can be found by."""
    with open_queries(env) as q:
        emit(q.cases(recorded_by=_time(recorded_by, "recorded-by")))


@query.command()
@click.argument("case")
@click.option("--at", "at", metavar="T", default=None,
              help="Who was responsible at T (else: every interval).")
@recorded_by_option
@pass_env
def responsibility(env: Env, case: str, at: str | None, recorded_by: str | None) -> None:
    """Who was responsible for CASE (R2): at T, or every interval."""
    rb = _time(recorded_by, "recorded-by")
    with open_queries(env) as q:
        if at is None:
            emit(q.responsibility(case, recorded_by=rb))
        else:
            moment = _time(at, "at")
            assert moment is not None
            emit(q.responsibility_at(case, moment, recorded_by=rb))


@query.command()
@click.argument("item")
@click.option("--at", "at", metavar="T", required=True, help="The moment asked about.")
@click.option("--case", "case", default=None, help="The case, when the item id is not unique.")
@recorded_by_option
@pass_env
def custodian(env: Env, item: str, at: str, case: str | None, recorded_by: str | None) -> None:
    """Who held ITEM at T, and how many units each."""
    moment = _time(at, "at")
    assert moment is not None
    with open_queries(env) as q:
        emit(q.custodian_at(item, moment, case=case,
                            recorded_by=_time(recorded_by, "recorded-by")))


def _case_command(name: str, method: str, doc: str) -> None:
    @query.command(name, help=doc)
    @click.argument("case")
    @recorded_by_option
    @pass_env
    def command(env: Env, case: str, recorded_by: str | None) -> None:
        with open_queries(env) as q:
            emit(getattr(q, method)(case, recorded_by=_time(recorded_by, "recorded-by")))


_case_command("approvals", "approvals",
              "Approvals required for CASE's operation against those granted, relative to "
              "release.")
_case_command("notifications", "notifications",
              "Every notification and briefing of CASE with its lag from what it reports.")
_case_command("surveillance", "surveillance", "Eyes-on intervals and gaps of CASE.")
_case_command("items", "items",
              "CASE's item ledger: counts and weights at each hand-off, reconciliation, "
              "outstanding.")


@query.command()
@click.argument("case")
@click.option("--as-of", "as_of", metavar="T", default=None,
              help="Judge duties at T (default: the case's last recording time).")
@recorded_by_option
@pass_env
def timeliness(env: Env, case: str, as_of: str | None, recorded_by: str | None) -> None:
    """The memo's duties for CASE: R3/R4 lags, R5-R7 and R9, late entries."""
    with open_queries(env) as q:
        emit(q.timeliness(case, as_of=_time(as_of, "as-of"),
                          recorded_by=_time(recorded_by, "recorded-by")))


@query.command()
@click.argument("case", required=False)
@recorded_by_option
@pass_env
def incidents(env: Env, case: str | None, recorded_by: str | None) -> None:
    """Incidents (of CASE, or all) with who was responsible when they occurred."""
    with open_queries(env) as q:
        emit(q.incidents(case, recorded_by=_time(recorded_by, "recorded-by")))


@query.command()
@click.argument("incident_id")
@click.option("--case", "case", default=None, help="The case, when the id is not unique.")
@recorded_by_option
@pass_env
def incident(env: Env, incident_id: str, case: str | None, recorded_by: str | None) -> None:
    """One incident by id."""
    with open_queries(env) as q:
        emit(q.incident(incident_id, case=case, recorded_by=_time(recorded_by, "recorded-by")))


@query.command()
@click.option("--as-of", "as_of", metavar="T", default=None,
              help="Judge duties at T (default: now).")
@click.option("--case", "case", default=None, help="Only this case.")
@recorded_by_option
@pass_env
def overdue(env: Env, as_of: str | None, case: str | None, recorded_by: str | None) -> None:
    """Every duty past due at T (done late or open), with summaries per port and office."""
    moment = _time(as_of, "as-of") or datetime.now(UTC)
    with open_queries(env) as q:
        emit(q.overdue(moment, case=case, recorded_by=_time(recorded_by, "recorded-by")))


@query.command("late-entries")
@click.argument("case", required=False)
@recorded_by_option
@pass_env
def late_entries(env: Env, case: str | None, recorded_by: str | None) -> None:
    """Every event recorded late (of CASE, or all), with its lag."""
    with open_queries(env) as q:
        emit(q.late_entries(case, recorded_by=_time(recorded_by, "recorded-by")))


@query.command()
@recorded_by_option
@pass_env
def pilot(env: Env, recorded_by: str | None) -> None:
    """R5: Title 21 shadow assignments at the pilot ports, per case."""
    with open_queries(env) as q:
        emit(q.pilot(recorded_by=_time(recorded_by, "recorded-by")))


@query.command()
@click.argument("case")
@click.option("--on", "on", metavar="DAY", required=True, help="The day (YYYY-MM-DD).")
@click.option("--regime", type=click.Choice(REGIMES), default=None,
              help="One retention regime (default: both).")
@recorded_by_option
@pass_env
def pnr(env: Env, case: str, on: str, regime: str | None, recorded_by: str | None) -> None:
    """The retention state of CASE's EU PNR records on DAY, per regime (R8)."""
    with open_queries(env) as q:
        emit(q.pnr_state_on(case, parse_day(on, "on"), regime=regime,
                            recorded_by=_time(recorded_by, "recorded-by")))


@query.command()
@click.argument("case")
@click.option("--to", "to", metavar="AGENCY", default=None,
              help="State what R8 requires before disclosure to AGENCY.")
@recorded_by_option
@pass_env
def disclosures(env: Env, case: str, to: str | None, recorded_by: str | None) -> None:
    """R8: CASE's information sharing, and whether PNR disclosures were authorised first."""
    with open_queries(env) as q:
        emit(q.disclosures(case, to=to, recorded_by=_time(recorded_by, "recorded-by")))


@query.command()
@click.option("--rebuild", is_flag=True, help="Forget the views and build them again.")
@pass_env
def views(env: Env, rebuild: bool) -> None:
    """Catch the views up (or rebuild them) and print each view's position.

    A rebuild shows a progress bar on stderr when it is a terminal.
    """
    with env.open(readonly=True) as log:
        total = log.max_position()
        if not (rebuild and sys.stderr.isatty()):
            with Projections(log, catch_up=not rebuild) as p:
                if rebuild:
                    p.rebuild()
                positions = p.positions()
                folder = p.folder
        else:
            # refreshed on each page rather than by a thread: a thread running would keep the
            # rebuild from splitting the views between two processes (Projections.catch_up)
            with Progress(TextColumn("rebuilding views"), BarColumn(), MofNCompleteColumn(),
                          TimeElapsedColumn(), console=Console(stderr=True),
                          transient=True, auto_refresh=False) as bar:
                task = bar.add_task("views", total=total or None)
                with Projections(log, catch_up=False) as p:
                    p.rebuild(progress=lambda n: bar.update(task, completed=n, refresh=True))
                    positions = p.positions()
                    folder = p.folder
        emit({"log_position": total, "views": positions, "folder": str(folder)})
