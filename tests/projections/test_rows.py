"""The time columns of view rows: a stored time's text is written as it is only when it is
already canonical; any other form of the same time is written in its canonical form (as the
rows built field by field with ``format_time`` are), in the native and the pure build."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from cdlog.canonical import format_time, parse_time
from cdlog.log.facts import fact_of
from cdlog.log.sealing import SealedEvent, parse
from cdlog.projections.store import ENTRY_COLUMNS, NewEntry, Processed

if TYPE_CHECKING:
    from conftest import World
    from test_views import SPINE, record_case
else:
    from tests.projections.test_views import SPINE, record_case

CASES = itertools.count(7000)
TIME_COLUMNS = [ENTRY_COLUMNS.index(c) for c in ("occurred_from", "occurred_to", "recorded")]

Form = Callable[[datetime], str]
FORMS: list[Form] = [
    format_time,
    lambda t: t.isoformat(timespec="microseconds"),  # zero microseconds written out
    lambda t: t.isoformat(timespec="minutes") if not (t.second or t.microsecond) else
    format_time(t),
    lambda t: format_time(t).replace("+00:00", "Z"),
    lambda t: format_time(t.astimezone(timezone(timedelta(hours=-4)))),  # another offset
]
"""Texts of one time: canonical, or another form ``parse_time`` reads as the same time."""


def _events(world: World) -> list[SealedEvent]:
    record_case(world, next(CASES), [(name, 5, k, False) for name, k in SPINE[:8]])
    return [parse(n.state) for n in world.log.app.recorder.select_notifications(
        start=1, limit=10_000) if b'"stream":"case:' in n.state]


def _reformed(sealed: SealedEvent, occurred: Form, recorded: Form) -> SealedEvent:
    env: dict[str, Any] = dict(sealed.envelope)
    env["occurred"] = {k: occurred(parse_time(v)) for k, v in env["occurred"].items()}
    env["recorded"] = recorded(parse_time(env["recorded"]))
    return dataclasses.replace(sealed, envelope=env)


def test_time_columns_are_canonical_whatever_the_stored_form(world: World) -> None:
    """Each row's times are ``format_time`` of the decoded fact's times, for every stored
    form of the occurrence and the recording time."""
    for sealed in _events(world):
        for occurred, recorded in itertools.product(FORMS, FORMS):
            changed = _reformed(sealed, occurred, recorded)
            fact = fact_of(changed)
            rows = Processed(1, changed, fact).rows([NewEntry("k", "key", {})])
            want = (format_time(fact.occurred.start), format_time(fact.occurred.end),
                    format_time(fact.recorded))
            assert tuple(rows[0][i] for i in TIME_COLUMNS) == want, (
                sealed.envelope["occurred"], changed.envelope["occurred"],
                changed.envelope["recorded"])
