"""A command's statements (issue 12): on SQLite its look and its write on one connection of
its own, on PostgreSQL the Merkle tail read in the insert's round trip.

The freshness look before a command (the newest notification id) and the command's insert
transaction run on a connection the datastore keeps outside eventsourcing's pool
(:meth:`cdlog.store.sqlitepool.CdlogSQLiteDatastore.glance` and ``command_transaction``): no
pooled hand-out per command, no ``BEGIN``/``ROLLBACK`` around the look, and a page cache that
stays valid while nobody else writes. What another writer commits is still seen before the
next command, a failed transaction leaves the connection usable, and SQLite's errors are
still one-line store errors.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cdlog.app import writing
from cdlog.errors import ConcurrencyError, StoreError
from cdlog.log.ledger import LedgerCursor, LedgerRecorder, read_ledger
from cdlog.log.sealing import stream_id
from cdlog.store.sqlitepool import CdlogSQLiteDatastore
from cdlog.verify.runner import verify_log

if TYPE_CHECKING:
    from conftest import World, build_world
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import World, build_world


def _datastore(world: World) -> CdlogSQLiteDatastore:
    datastore = world.log.app.recorder.datastore  # type: ignore[attr-defined]
    assert isinstance(datastore, CdlogSQLiteDatastore)
    return datastore


def _watch(datastore: CdlogSQLiteDatastore, monkeypatch: pytest.MonkeyPatch
           ) -> tuple[list[bool], list[str], Any]:
    """Count the pool's hand-outs and trace the kept connection's statements (the lists fill
    as the commands run); returns them with the kept connection."""
    pooled: list[bool] = []
    original = datastore.pool.get_connection

    def get_connection(*args: Any, **kwargs: Any) -> Any:
        pooled.append(True)
        return original(*args, **kwargs)

    monkeypatch.setattr(datastore.pool, "get_connection", get_connection)
    own = datastore._own
    assert own is not None
    statements: list[str] = []
    own._sqlite_conn.set_trace_callback(statements.append)
    return pooled, statements, own


def test_a_command_looks_and_writes_on_its_own_connection(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """An event of a known case: one read statement and one write transaction on the kept
    connection, nothing through the pool, no read transaction opened and rolled back."""
    world = build_world(f"sqlite:///{tmp_path / 'cdlog.db'}")
    case = world.open_case("OP-CONN-1", at=1)
    datastore = _datastore(world)
    pooled, statements, own = _watch(datastore, monkeypatch)
    world.rec(case, "ConveyanceArrived", {"conveyance": "MV One"}, by="cbpo", at=2)
    own._sqlite_conn.set_trace_callback(None)
    assert pooled == []
    words = [s.split()[0].upper() for s in statements]
    assert words.count("BEGIN") == 1
    assert "ROLLBACK" not in words
    assert words[-1] == "COMMIT"
    assert statements[0].upper().startswith("SELECT MAX(ROWID)")
    assert datastore._own is own
    assert [e.type for e in world.log.events(case)] == ["CaseOpened", "ConveyanceArrived"]
    world.log.close()


def test_a_new_cases_state_is_read_on_the_kept_connection(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Opening a case (its state read first: no events yet) and recording into a case whose
    cached state was dropped read the case's events on the kept connection, nothing through
    the pool, and prepare on every event stored."""
    world = build_world(f"sqlite:///{tmp_path / 'cdlog.db'}")
    known = world.open_case("OP-CONN-KNOWN", at=1)
    world.rec(known, "ConveyanceArrived", {"conveyance": "MV One"}, by="cbpo", at=2)
    datastore = _datastore(world)
    pooled, statements, own = _watch(datastore, monkeypatch)
    case = world.open_case("OP-CONN-NEW", at=3)
    world.log._drop(world.log.resolve(known))  # as when another writer moved it
    sealed = world.rec(known, "ExaminationReferred", {"reason": "look"}, by="cbpo", at=4)
    own._sqlite_conn.set_trace_callback(None)
    assert pooled == []
    reads = " ".join(s for s in statements if "originator_version>" in s)
    for stream in (case, known):
        assert stream_id(world.log.resolve(stream)).hex in reads
    assert sealed.version == 3
    assert [e.type for e in world.log.events(case)] == ["CaseOpened"]
    assert verify_log(world.log).ok
    world.log.close()


def test_the_kept_connections_state_read_is_select_events(store_url: str) -> None:
    """What a command's state read returns is what eventsourcing's ``select_events`` returns,
    for every stream and every cached version from before the first to past the last (both
    stores: SQLite reads it on the kept command connection, PostgreSQL through select_events)."""
    world = build_world(store_url)
    for n in range(3):
        case = world.open_case(f"OP-CONN-SAME-{n}", at=1)
        for i in range(n + 1):
            world.rec(case, "ExaminationReferred", {"reason": f"r{i}"}, by="cbpo", at=2 + i)
    recorder = world.log.app.recorder
    assert isinstance(recorder, LedgerRecorder)
    streams = world.log.streams()
    assert len(streams) > 3
    for stream in streams:
        sid = stream_id(stream)
        last = len(world.log.events(stream))
        for gt in range(-1, last + 2):
            mine = recorder.command_events(sid, gt)
            theirs = recorder.select_events(sid, gt=gt)
            assert [(e.originator_id, e.originator_version, e.topic, e.state) for e in mine] \
                == [(e.originator_id, e.originator_version, e.topic, e.state) for e in theirs]
            assert len(mine) == max(0, last - max(gt, 0))
    world.log.close()


def test_another_writers_events_are_seen_before_the_next_command(tmp_path: Path) -> None:
    """Two logs on one file (two kept connections) take turns in one case: each prepares on
    the other's events, the versions follow each other, and the store verifies."""
    url = f"sqlite:///{tmp_path / 'cdlog.db'}"
    world = build_world(url)
    other = type(world)(type(world.log)(url), world.roots, world.signers, world.officers)
    case = world.open_case("OP-CONN-2", at=1)
    for i in range(6):
        writer = world if i % 2 == 0 else other
        sealed = writer.rec(case, "ExaminationReferred", {"reason": f"look {i}"}, by="cbpo",
                            at=2 + i)
        assert sealed.version == 2 + i
    assert [e.version for e in other.log.events(case)] == list(range(1, 8))
    assert world.log.state(case).version == other.log.state(case).version == 7
    assert verify_log(world.log).ok
    other.log.close()
    world.log.close()


def test_a_refused_or_failed_transaction_leaves_the_connection_usable(tmp_path: Path) -> None:
    """A clash refused on insert and an error inside the transaction roll back on the kept
    connection; the next command is saved on it."""
    url = f"sqlite:///{tmp_path / 'cdlog.db'}"
    world = build_world(url)
    other = type(world)(type(world.log)(url), world.roots, world.signers, world.officers)
    case = world.open_case("OP-CONN-3", at=1)
    def overtaken() -> None:
        with world.log.batch():
            world.rec(case, "ExaminationReferred", {"reason": "mine"}, by="cbpo", at=2)
            other.rec(case, "ExaminationReferred", {"reason": "theirs"}, by="cbpo", at=2)

    def failing(datastore: CdlogSQLiteDatastore) -> None:
        with datastore.command_transaction() as c:
            c.execute("DELETE FROM checkpoints WHERE size < 0")
            raise RuntimeError("boom")

    with pytest.raises(ConcurrencyError):
        overtaken()
    datastore = _datastore(world)
    with pytest.raises(RuntimeError, match="boom"):
        failing(datastore)
    own = datastore._own
    assert own is not None
    assert not own._sqlite_conn.in_transaction
    sealed = world.rec(case, "ExaminationReferred", {"reason": "again"}, by="cbpo", at=3)
    assert sealed.version == 3
    assert [e.payload["reason"] for e in world.log.events(case)[1:]] == ["theirs", "again"]
    assert verify_log(world.log).ok
    other.log.close()
    world.log.close()


def test_sqlite_errors_on_the_kept_connection_are_store_errors(tmp_path: Path) -> None:
    """What SQLite refuses on the kept connection is a one-line store error naming the file
    (a missing table here), and the connection is closed with the log."""
    world = build_world(f"sqlite:///{tmp_path / 'cdlog.db'}")
    datastore = _datastore(world)
    with pytest.raises(StoreError, match=r"cdlog\.db"):
        datastore.glance("SELECT MAX(rowid) FROM no_such_table")
    with pytest.raises(StoreError, match=r"cdlog\.db"), datastore.command_transaction() as c:
        c.execute("INSERT INTO no_such_table VALUES (1)")
    own = datastore._own
    assert own is not None
    world.log.close()
    assert datastore._own is None
    with pytest.raises(sqlite3.ProgrammingError):
        own._sqlite_conn.execute("SELECT 1")


def test_the_merkle_tail_is_read_once_per_save(world: World, store_kind: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Each save reads the tree's tail (last leaf, events after it) once, after its insert:
    on PostgreSQL sent with the insert in one round trip (never a statement of its own), on
    SQLite as its own statement; the tree stays whole, and each case verifies."""
    sent: list[str] = []
    original = LedgerCursor._one

    def one(self: LedgerCursor, statement: str, params: Any = ()) -> Any:
        sent.append(statement)
        return original(self, statement, params)

    monkeypatch.setattr(LedgerCursor, "_one", one)
    case = world.open_case("OP-TAIL-1", at=1)
    for i in range(3):
        world.rec(case, "ExaminationReferred", {"reason": f"look {i}"}, by="cbpo", at=2 + i)
    tails = [s for s in sent if s.startswith("SELECT l.leaf_index")]
    assert len(tails) == (0 if store_kind == "postgresql" else 4)
    monkeypatch.setattr(LedgerCursor, "_one", original)
    with read_ledger(world.log) as led:
        assert led.size() == led.leaf_count() == world.log.max_position()
    assert verify_log(world.log).ok


def test_the_freshness_look_takes_no_pooled_connection(world: World, store_kind: str,
                                                        monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    """A command's look at the newest position runs on a connection kept for it: no pooled
    hand-out for it (PostgreSQL: the insert's one; SQLite: none). A kept connection that
    broke goes back to the pool and the next look takes another; the command is saved."""
    datastore: Any = world.log.app.recorder.datastore  # type: ignore[attr-defined]
    case = world.open_case("OP-LOOK-1", at=1)
    handed: list[bool] = []
    original = type(datastore).get_connection

    def get_connection(self: Any, *args: Any, **kwargs: Any) -> Any:
        handed.append(True)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(datastore), "get_connection", get_connection)
    world.rec(case, "ExaminationReferred", {"reason": "look"}, by="cbpo", at=2)
    assert len(handed) == (1 if store_kind == "postgresql" else 0)
    monkeypatch.setattr(type(datastore), "get_connection", original)
    if store_kind == "postgresql":
        _, kept = datastore._own
        kept.close()  # as a server restart would leave it
        world.rec(case, "ExaminationReferred", {"reason": "again"}, by="cbpo", at=3)
        assert datastore._own is not None
        assert datastore._own[1] is not kept
        assert not datastore._own[1].closed
    expected = [1, 2, 3] if store_kind == "postgresql" else [1, 2]
    assert [e.version for e in world.log.events(case)] == expected
    assert verify_log(world.log).ok


def test_a_command_builds_no_log_event_nobody_hears(world: World,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The "recorded" line is made only where the host's logging takes INFO from cdlog
    (structlog's own level check drops it after building it, a few µs a command)."""
    made: list[str] = []
    monkeypatch.setattr(writing.log, "info", lambda event, **_: made.append(event))
    case = world.open_case("OP-LOG-QUIET", at=1)
    root = logging.getLogger("cdlog")
    saved = root.level
    try:
        root.setLevel(logging.WARNING)
        world.rec(case, "ExaminationReferred", {"reason": "quiet"}, by="cbpo", at=2)
        assert made == []
        root.setLevel(logging.INFO)
        world.rec(case, "ExaminationReferred", {"reason": "heard"}, by="cbpo", at=3)
        assert made == ["recorded"]
    finally:
        root.setLevel(saved)
