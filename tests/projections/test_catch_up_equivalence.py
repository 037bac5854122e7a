"""Catch-up equivalence: however the views are built, they hold what a plain per-event
projection writes.

The catch-up decodes a page once, selects each view's events by type, builds rows from
columns shared by every view, keeps the entries a handler may read in memory for the rest of
the page and inserts a view's page at once. The reference here does none of that: for every
event of the log in order it calls ``parse`` and ``fact_of`` (skipping an event that fails,
with the warning the views give), asks each view whether it ``wants`` the event, calls its
handler with a prior that filters the entries written so far, and builds each row field by
field. Every build must equal it row for row, with the same warnings:

* in one go, page by page with small pages, and kept up incrementally while events are
  recorded; on both kinds of store (SQLite files, and a PostgreSQL log's own tables);
* on logs with stored events that no longer decode or validate (skipped alike);
* for a view with its own ``wants`` that reads entries it wrote in the same page.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Iterator, MutableMapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.application import CaseLog
from cdlog.canonical import format_time
from cdlog.domain.case import Fact
from cdlog.errors import VerificationError
from cdlog.log.facts import fact_of
from cdlog.log.sealing import SealedEvent, parse, stream_id
from cdlog.logging import capture_logs
from cdlog.projections import projector
from cdlog.projections.pages import misfiled
from cdlog.projections.projector import Projections
from cdlog.projections.store import (
    ENTRY_COLUMNS,
    Entry,
    NewEntry,
    Prior,
    Processed,
    entry_from_row,
    to_us,
)
from cdlog.projections.views import View, default_views
from cdlog.verify.beside import can_fork

if TYPE_CHECKING:
    from conftest import RawStore, World
    from test_views import SPINE, record_case, step_lists
else:
    from tests.projections.test_views import SPINE, record_case, step_lists

CASES = itertools.count(5000)
BUILDS = itertools.count()
Rows = list[tuple[Any, ...]]


# ---------------------------------------------------------------- the reference
class _ListPrior:
    """Entries written so far, filtered in Python (no database, no cache)."""

    def __init__(self) -> None:
        self.entries_so_far: list[Entry] = []

    def entries(self, stream: str, kinds: Iterable[str]) -> list[Entry]:
        wanted = set(kinds)
        return [e for e in self.entries_so_far if e.stream == stream and e.kind in wanted]


def _reference_row(position: int, sealed: SealedEvent, fact: Any, seq: int,
                   entry: NewEntry) -> tuple[Any, ...]:
    data = dict(entry.data)
    data.setdefault("actor", fact.actor.model_dump(mode="json", exclude_none=True))
    if fact.cosigners:
        data.setdefault("cosigners", [c.id for c in fact.cosigners])
    return (position, seq, fact.stream, fact.version, sealed.hash_hex, fact.type,
            entry.kind, entry.key, format_time(fact.occurred.start),
            format_time(fact.occurred.end), to_us(fact.occurred.end),
            format_time(fact.recorded), to_us(fact.recorded),
            orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode())


def _notifications(log: CaseLog) -> Iterator[Any]:
    recorder = log.app.recorder
    last = 0
    while True:
        page = recorder.select_notifications(start=last + 1, limit=1000)
        if not page:
            return
        yield from page
        last = int(page[-1].id)


def reference(log: CaseLog, views: Sequence[View] | None = None
              ) -> tuple[dict[str, Rows], list[MutableMapping[str, Any]]]:
    """Every view's rows built event by event, and the warnings of skipped events."""
    views = views or default_views(log.config)
    priors = {v.name: _ListPrior() for v in views}
    rows: dict[str, Rows] = {v.name: [] for v in views}
    top = 0
    with capture_logs() as logs:
        for n in _notifications(log):
            top = int(n.id)
            try:
                sealed = parse(n.state, str(n.originator_id), n.originator_version)
                fact = fact_of(sealed)
            except VerificationError as exc:
                projector.log.warning("event skipped by the views", position=n.id,
                                      failure=exc.failures[0].detail if exc.failures
                                      else str(exc))
                continue
            filed = uuid.UUID(str(n.originator_id))
            if filed != stream_id(fact.stream):  # stored under another case's id
                projector.log.warning("event skipped by the views", position=n.id,
                                      failure=misfiled(filed.hex, fact.stream))
                continue
            for view in views:
                if not view.wants(fact):
                    continue
                prior = priors[view.name]
                for seq, entry in enumerate(view.handle(fact, prior)):
                    row = _reference_row(top, sealed, fact, seq, entry)
                    rows[view.name].append(row)
                    prior.entries_so_far.append(entry_from_row(row))
    for view_rows in rows.values():
        view_rows.append(("tracking", top))
    return rows, _warnings(logs)


def _warnings(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry.get("log_level") == "warning"]


def build(log: CaseLog, folder: Path | None, page: int, *,
          monkeypatch: pytest.MonkeyPatch, rebuild: bool = False, processes: int | None = None
          ) -> tuple[dict[str, Rows], list[MutableMapping[str, Any]]]:
    """Views built by the projector with pages of ``page`` events (in ``folder``, or where
    the log keeps them), and the warnings it gave; with ``processes=2``, split between this
    process and a forked one (which must have done its share where the process may fork)."""
    with monkeypatch.context() as m:
        m.setattr(projector, "PAGE", page)
        with capture_logs() as logs, Projections(log, folder=folder, catch_up=False) as p:
            if rebuild:
                p.rebuild(processes=processes)
            else:
                p.catch_up(processes=processes)
            # a PostgreSQL log's connection pool runs threads: no fork, the work stays here
            forks = log.store.kind == "sqlite"
            assert can_fork() is forks
            assert p.split_ran == ("process" if processes == 2 and forks else "")
            dumped = p.dump()
    assert set(dumped) == {v.name for v in default_views(log.config)}
    return dumped, _warnings(logs)


def _fresh(tmp_path: Path) -> Path:
    return tmp_path / f"build-{next(BUILDS)}"


# ---------------------------------------------------------------- builds equal the reference
@settings(max_examples=10)
@given(cases=st.lists(step_lists(), min_size=1, max_size=3),
       page=st.sampled_from([1, 2, 3, 7, 40]))
def test_every_build_equals_the_per_event_reference(world: World, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    cases: list[Any], page: int) -> None:
    """Incremental (where the log keeps its views), in one go and page by page (in files and
    rebuilt in place): all equal the per-event reference."""
    log = world.log
    with Projections(log) as kept:
        for steps in cases:
            record_case(world, next(CASES), steps, kept)
        kept.catch_up()
        incremental = kept.dump()
    expected, warnings = reference(log)
    assert warnings == []
    assert incremental == expected
    assert build(log, _fresh(tmp_path), projector.PAGE, monkeypatch=monkeypatch) == (
        expected, [])
    assert build(log, _fresh(tmp_path), page, monkeypatch=monkeypatch) == (expected, [])
    assert build(log, None, page, monkeypatch=monkeypatch, rebuild=True) == (expected, [])
    assert build(log, _fresh(tmp_path), page, monkeypatch=monkeypatch, processes=2) == (
        expected, [])
    assert build(log, None, page, monkeypatch=monkeypatch, rebuild=True, processes=2) == (
        expected, [])


def _tamper(raw: RawStore, nid: int, change: Any) -> None:
    [(state,)] = raw.rows("SELECT state FROM {events} WHERE {nid}=?", [nid])
    head, _, tail = bytes(state).partition(b"\n")
    envelope = orjson.loads(head)
    change(envelope)
    raw.execute(("UPDATE {events} SET state=? WHERE {nid}=?",
                 (orjson.dumps(envelope, option=orjson.OPT_SORT_KEYS) + b"\n" + tail, nid)))


def test_events_that_no_longer_decode_are_skipped_alike(world: World, raw: RawStore,
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """Stored events broken in several ways: every build skips the same ones with the same
    warnings and otherwise equals the reference."""
    log = world.log
    steps = [(name, 5, k, False) for name, k in SPINE]
    steps += [(name, 7, k, False) for name, k in (("surv_lost", 1), ("incident", 2),
                                                    ("tell", 2), ("interview", 1),
                                                    ("action", 1), ("late", 0),
                                                    ("feedback", 0), ("deliver", 0))]
    first = log.max_position() + 1
    for _ in range(3):
        record_case(world, next(CASES), steps)
    rows = raw.rows("SELECT {nid}, state FROM {events} WHERE {nid} >= ? ORDER BY {nid}",
                    [first])
    by_type: dict[str, list[int]] = {}
    for nid, state in rows:
        by_type.setdefault(orjson.loads(bytes(state).partition(b"\n")[0])["type"], []
                           ).append(int(nid))

    def setter(*path: str, value: Any) -> Any:
        def change(envelope: dict[str, Any]) -> None:
            target = envelope
            for key in path[:-1]:
                target = target[key]
            target[path[-1]] = value
        return change

    breaks = [
        ("ContrabandDiscovered", setter("payload", "items", value=5)),       # invalid payload
        ("CaseAccepted", setter("payload", "zzz", value=None)),              # not canonical
        ("HoldPlaced", setter("occurred", value={"from": "2006-03-14T10:00:00+00:00"})),
        ("NotificationAcknowledged", setter("extra", value=1)),              # envelope fields
        ("ApprovalGranted", setter("recorded", value="2006-03-14T10:00:00")),  # naive time
        ("CustodyTransferred", setter("cosigners", value=[{"id": "X"}])),    # officer
        ("SurveillanceStarted", setter("type", value="NoSuchEvent")),        # unknown type
        ("DeliveryMade", setter("version", value="7")),                      # version type
        # accepted, but decoded: a truthy ``late``, a ``Z`` time
        ("InterviewConducted", setter("late", value="yes")),
        ("SurveillanceLost", setter("occurred", value={"at": "2006-03-14T15:00:00Z"})),
    ]
    for k, (type_, change) in enumerate(breaks):
        _tamper(raw, by_type[type_][k % len(by_type[type_])], change)
    [(nid, state)] = raw.rows("SELECT {nid}, state FROM {events} WHERE {nid}=?",
                              [by_type["ResponsibilityAssumed"][0]])
    raw.execute(("UPDATE {events} SET state=? WHERE {nid}=?",
                 (bytes(state).replace(b'"sig":"', b'"sig":"!'), nid)))  # not base64
    raw.execute(("UPDATE {events} SET state=? WHERE {nid}=?",
                 (bytes(state)[:40], by_type["OperationProposed"][1])))  # not JSON
    # filed under another case's id: a case of its own, and another case of the log (as a
    # version that case does not have)
    raw.execute(("UPDATE {events} SET originator_id=? WHERE {nid}=?",
                 (uuid.uuid4().hex, by_type["HoldReleased"][0])))
    [(other,)] = raw.rows("SELECT originator_id FROM {events} WHERE {nid}=?",
                          [by_type["CaseOpened"][0]])
    raw.execute(("UPDATE {events} SET originator_id=?, originator_version=? WHERE {nid}=?",
                 (str(other), 9999, by_type["CaseOpened"][1])))

    expected, warnings = reference(log)
    assert len(warnings) == 12
    assert sum("stored under case id" in w["failure"] for w in warnings) == 2
    for page in (projector.PAGE, 1, 4):
        assert build(log, _fresh(tmp_path), page, monkeypatch=monkeypatch) == (
            expected, warnings)
        assert build(log, None, page, monkeypatch=monkeypatch, rebuild=True) == (
            expected, warnings)
    # split: the forked process warns of nothing this process reads too
    assert build(log, _fresh(tmp_path), 4, monkeypatch=monkeypatch, processes=2) == (
        expected, warnings)
    assert build(log, None, 4, monkeypatch=monkeypatch, rebuild=True, processes=2) == (
        expected, warnings)


def test_a_page_of_only_broken_events_moves_the_views_on(world: World, raw: RawStore,
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """A page in which no event decodes still moves every view past it."""
    log = world.log
    record_case(world, next(CASES), [("hold", 5, 0, False), ("notify", 5, 1, False)])
    top = log.max_position()
    for nid in (top - 2, top - 1, top):  # one page of two at least
        raw.execute(("UPDATE {events} SET state=? WHERE {nid}=?", (b"{}", nid)))
    expected, warnings = reference(log)
    assert len(warnings) == 3
    assert build(log, _fresh(tmp_path), 2, monkeypatch=monkeypatch) == (expected, warnings)


class _AskingView(View):
    """A view with its own ``wants`` (asked event by event) that reads what it wrote."""

    name = "asking"

    def wants(self, fact: Fact) -> bool:
        """Every second version of a case."""
        return fact.stream.startswith("case:") and fact.version % 2 == 0

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """A running count of the case's entries, and a second entry on every fourth."""
        seen = prior.entries(fact.stream, ["seen", "fourth"])
        out = [NewEntry("seen", fact.stream, {"before": len(seen)})]
        if fact.version % 4 == 0:
            out.append(NewEntry("fourth", fact.stream, {"kinds": [e.kind for e in seen]}))
        return out


def test_a_view_with_its_own_wants_and_reads_equals_the_reference(
        world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Views outside the defaults: asked by ``wants``, reading entries of the same page."""
    log = world.log
    for _ in range(2):
        record_case(world, next(CASES), [(name, 5, k, False) for name, k in SPINE])
    views = [_AskingView(log.config)]
    expected, _ = reference(log, views)
    for page in (1, 3, 500):
        with monkeypatch.context() as m:
            m.setattr(projector, "PAGE", page)
            with Projections(log, folder=_fresh(tmp_path), views=views) as p:
                assert p.dump() == expected


def test_rows_hold_every_column_in_order(world: World) -> None:
    """A row of :meth:`Processed.rows` is the reference row, for each entry of an event."""
    log = world.log
    record_case(world, next(CASES), [(name, 5, k, False) for name, k in SPINE[:6]])
    for n in _notifications(log):
        sealed = parse(n.state, str(n.originator_id), n.originator_version)
        fact = fact_of(sealed)
        new = [NewEntry("k", "key", {"a": 1}), NewEntry("k", "key", {"actor": "mine"})]
        rows = Processed(int(n.id), sealed, fact).rows(new)
        assert rows == [_reference_row(int(n.id), sealed, fact, seq, e)
                        for seq, e in enumerate(new)]
        assert {len(r) for r in rows} == {len(ENTRY_COLUMNS)}
