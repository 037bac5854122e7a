"""SQLite connections that meet "database is locked" while being set up are tried again."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool

from cdlog.application import CaseLog
from cdlog.projections.projector import Projections
from cdlog.projections.shards import ShardedViewStore
from cdlog.store.sqlitepool import OpeningSQLitePool


def flaky_parent(monkeypatch: pytest.MonkeyPatch, failures: list[str]) -> list[int]:
    """Make the pool's connecting fail with each of ``failures`` in turn, then connect."""
    calls: list[int] = []
    original = OpeningSQLitePool._connect

    def create(self: OpeningSQLitePool) -> SQLiteConnection:
        calls.append(1)
        if len(calls) <= len(failures):
            raise sqlite3.OperationalError(failures[len(calls) - 1])
        return original(self)

    monkeypatch.setattr(OpeningSQLitePool, "_connect", create)
    return calls


def test_locked_while_opening_is_tried_again(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Two "database is locked" answers, then a connection: the pool hands it out."""
    calls = flaky_parent(monkeypatch, ["database is locked", "database is locked"])
    pool = OpeningSQLitePool(db_name=str(tmp_path / "a.db"), lock_timeout=5)
    conn = pool._create_connection()
    assert len(calls) == 3
    conn._sqlite_conn.execute("SELECT 1")
    conn.close()


def test_other_errors_and_a_lasting_lock_are_raised(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """An error other than a lock is raised at once; a lock that lasts past the lock
    timeout is raised after it."""
    calls = flaky_parent(monkeypatch, ["disk I/O error"])
    with pytest.raises(sqlite3.OperationalError, match="disk I/O"):
        OpeningSQLitePool(db_name=str(tmp_path / "b.db"), lock_timeout=5)._create_connection()
    assert len(calls) == 1
    calls = flaky_parent(monkeypatch, ["database is locked"] * 100_000)
    monkeypatch.setattr("cdlog.store.sqlitepool.RETRY_PAUSE", 0.001)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        OpeningSQLitePool(db_name=str(tmp_path / "c.db"), lock_timeout=1)._create_connection()
    assert 1 < len(calls) < 100_000


def test_log_and_views_open_through_the_retrying_pool(tmp_path: Path) -> None:
    """A case log's SQLite store and its views use the retrying pool."""
    with CaseLog(f"sqlite:///{tmp_path / 'log.db'}") as log:
        recorder: Any = log.app.recorder
        assert isinstance(recorder.datastore.pool, OpeningSQLitePool)
        with Projections(log, folder=tmp_path / "views") as views:
            for store in views.stores.values():
                assert isinstance(store, ShardedViewStore)
                for part in store.parts:
                    assert isinstance(part.datastore.pool, OpeningSQLitePool)


def compilations(conn: sqlite3.Connection, statements: list[str], rounds: int) -> int:
    """How often SQLite compiles statements while ``statements`` run ``rounds`` times in
    turn (the authorizer is asked at compile time only, never for a cached statement)."""
    compiled = 0

    def count(action: int, *_: object) -> int:
        nonlocal compiled
        compiled += action == sqlite3.SQLITE_SELECT
        return sqlite3.SQLITE_OK

    conn.set_authorizer(count)
    for _ in range(rounds):
        for statement in statements:
            conn.execute(statement).fetchall()
    conn.set_authorizer(None)
    return compiled


def test_connections_keep_their_compiled_statements(tmp_path: Path) -> None:
    """A transaction's statements are compiled once per connection, not once per run
    (eventsourcing's own pool keeps one: ``cached_statements=True``), and the connection is
    set up as eventsourcing's is: autocommit, WAL, rows by name."""
    statements = [f"SELECT {i} AS n" for i in range(20)]
    plain = SQLiteConnectionPool(db_name=str(tmp_path / "plain.db"))._create_connection()
    assert compilations(plain._sqlite_conn, statements, 5) == 5 * len(statements)
    plain.close()
    pool = OpeningSQLitePool(db_name=str(tmp_path / "ours.db"), lock_timeout=5)
    conn = pool._create_connection()
    sqlite = conn._sqlite_conn
    assert compilations(sqlite, statements, 5) == len(statements)
    assert sqlite.isolation_level is None
    assert sqlite.row_factory is sqlite3.Row
    assert sqlite.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert sqlite.execute("SELECT 7 AS n").fetchone()["n"] == 7
    conn.close()
