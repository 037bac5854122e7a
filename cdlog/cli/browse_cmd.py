"""``cdlog cases`` and ``cdlog show``: what the store holds, for a person or a script.

On a terminal they print tables; when standard output is not a terminal (a pipe, a file)
they print plain tab-separated lines with a header, never truncated or wrapped, and with
``--json`` one JSON document. Both open the store read-only.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from cdlog.application import CaseLog
from cdlog.cli.main import Env, cli, pass_env
from cdlog.log.facts import fact_of
from cdlog.log.sealing import SealedEvent

CASE_COLUMNS = ("stream", "reference", "port", "events", "decision", "case_no")
EVENT_COLUMNS = ("version", "occurred", "recorded", "type", "actor", "hash")


def _cell(value: object) -> str:
    """A value as one tab-separated cell: tabs and line breaks become spaces."""
    text = "" if value is None else str(value)
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _plain(columns: Sequence[str], rows: list[list[Any]]) -> None:
    click.echo("\t".join(columns))
    for row in rows:
        click.echo("\t".join(_cell(v) for v in row))


def case_docs(log: CaseLog) -> list[dict[str, Any]]:
    """One document per case: stream name, id, reference, port, events, decision, number."""
    docs = []
    for stream in log.streams("case"):
        st = log.state(stream)
        docs.append({"stream": stream, "reference": st.reference, "port": st.port,
                     "events": st.version, "decision": st.decision, "case_no": st.case_no,
                     "closed": st.closed,
                     "last_recorded": st.last_recorded.isoformat() if st.last_recorded
                     else None})
    return docs


@cli.command()
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON array, one object per case.")
@pass_env
def cases(env: Env, as_json: bool) -> None:
    """List the cases in the store.

    A table on a terminal; tab-separated lines (with a header) when piped; --json for
    scripts: [{"stream", "reference", "port", "events", "decision", "case_no", ...}].
    """
    with env.open(readonly=True) as log:
        docs = case_docs(log)
    if as_json:
        click.echo(json.dumps(docs, indent=2, ensure_ascii=False))
        return
    rows = [[d["stream"], d["reference"], d["port"] or "", d["events"], d["decision"] or "-",
             d["case_no"] or "-"] for d in docs]
    if not sys.stdout.isatty():
        _plain(CASE_COLUMNS, rows)
        return
    table = Table("stream", "reference", "port", "events", "decision", "OI case no")
    for row in rows:
        table.add_row(*(str(v) for v in row))
    Console().print(table)


def event_doc(sealed: SealedEvent) -> dict[str, Any]:
    """One event of a timeline as JSON."""
    fact = fact_of(sealed)
    occ = fact.occurred
    occurred: dict[str, str] = ({"at": occ.at.isoformat()} if occ.at else
                                {"start": occ.start.isoformat(), "end": occ.end.isoformat()})
    return {"version": fact.version, "type": fact.type, "occurred": occurred,
            "recorded": fact.recorded.isoformat(), "late": fact.late,
            "actor": fact.actor.label, "cosigners": [c.label for c in fact.cosigners],
            "hash": sealed.hash_hex}


def _when(occurred: dict[str, str]) -> str:
    return occurred["at"] if "at" in occurred else f"{occurred['start']} .. {occurred['end']}"


@cli.command()
@click.argument("case")
@click.option("--json", "as_json", is_flag=True, help="Print the timeline as one JSON object.")
@pass_env
def show(env: Env, case: str, as_json: bool) -> None:
    """Print a readable timeline of CASE (stream name, reference, case number or id).

    A table on a terminal; tab-separated lines (with a header, full hashes) when piped;
    --json for scripts.
    """
    with env.open(readonly=True) as log:
        stream = log.case_stream(case)
        st = log.state(stream)
        events = [event_doc(s) for s in log.events(stream)]
    if as_json:
        click.echo(json.dumps({"stream": stream, "reference": st.reference,
                               "case_no": st.case_no, "events": events},
                              indent=2, ensure_ascii=False))
        return
    rows = [[e["version"], _when(e["occurred"]), e["recorded"] + (" LATE" if e["late"] else ""),
             e["type"], ", ".join([e["actor"], *e["cosigners"]]), e["hash"]] for e in events]
    if not sys.stdout.isatty():
        _plain(EVENT_COLUMNS, rows)
        return
    table = Table("v", "occurred", "recorded", "type", "actor", "hash", title=stream)
    for row in rows:
        row[-1] = row[-1][:12]
        table.add_row(*(str(v) for v in row))
    Console(width=200).print(table)
