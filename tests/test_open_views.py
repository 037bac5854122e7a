"""Opening the views (issue 12): few statements, no writes, and the same checks as before.

Opening caught-up views used to run about twenty statements per view (eventsourcing's
``CREATE TABLE IF NOT EXISTS`` transaction, the position and each metadata value read apart),
some 170 round trips for nine views on PostgreSQL. Here every statement the views send is
counted (psycopg's cursor on PostgreSQL, SQLite's trace callback on the views' files): the
count must stay small and independent of the number of views on PostgreSQL, and none may
write. A view whose fingerprint changed must still be rebuilt, a view behind still caught up,
and a view whose tables or migration row are missing set up again.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from cdlog.logging import capture_logs
from cdlog.projections import store as view_store
from cdlog.projections.projector import Projections
from cdlog.projections.shards import SHARDS, ShardedViewStore

if TYPE_CHECKING:
    from conftest import RawStore, World

PG_OPEN_STATEMENTS = 6
"""At most this many statements open caught-up views on PostgreSQL, whatever their number
(catalogue, states, the log's first event, the views' head, the empty catch-up page)."""
SQLITE_OPEN_STATEMENTS = 2
"""At most this many statements per view file open a caught-up view (catalogue, state)."""
WRITES = re.compile(r"^\s*(INSERT|UPDATE|DELETE|CREATE|DROP|ALTER|REPLACE|BEGIN\s+IMMEDIATE)",
                    re.IGNORECASE)


@contextmanager
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every statement sent while inside: through psycopg's cursors, and on the connections
    of SQLite view files opened meanwhile (``BEGIN``/``COMMIT`` of SQLite left out)."""
    sent: list[str] = []
    execute, executemany = psycopg.Cursor.execute, psycopg.Cursor.executemany
    set_up = view_store._ViewConnectionPool.set_up

    def text(query: Any, cursor: Any) -> str:
        return query if isinstance(query, str) else query.as_string(cursor)

    def counting_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(text(query, self))
        return execute(self, query, *args, **kwargs)

    def counting_executemany(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(text(query, self))
        return executemany(self, query, *args, **kwargs)

    def tracing_set_up(self: Any, conn: sqlite3.Connection) -> None:
        set_up(self, conn)
        conn.set_trace_callback(lambda s: None if s in ("BEGIN", "COMMIT", "ROLLBACK")
                                else sent.append(s))

    with monkeypatch.context() as m:
        m.setattr(psycopg.Cursor, "execute", counting_execute)
        m.setattr(psycopg.Cursor, "executemany", counting_executemany)
        m.setattr(view_store._ViewConnectionPool, "set_up", tracing_set_up)
        yield sent


def _some_cases(world: World, first: int, count: int) -> None:
    for n in range(first, first + count):
        world.open_case(f"OP-OPEN-{n}", at=10 * n)
        world.rec(f"case:OP-OPEN-{n}", "ConveyanceArrived", {"refs": {"bol": f"B{n}"}},
                  by="cbpo", at=10 * n + 1)


def test_opening_caught_up_views_is_a_few_statements_and_writes_nothing(
        world: World, store_kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _some_cases(world, 1, 3)
    with Projections(world.log) as built:
        want = built.dump()
    with counted(monkeypatch) as sent, Projections(world.log) as p:
        opened = list(sent)
        assert set(p.positions().values()) == {world.log.max_position()}
        assert p.dump() == want
    if store_kind == "postgresql":
        assert len(opened) <= PG_OPEN_STATEMENTS, opened
        two = list(p.views.values())[:2]
        with counted(monkeypatch) as sent, Projections(world.log, views=two):
            assert len(sent) == len(opened)  # the same for two views as for nine
    else:
        assert len(opened) <= SQLITE_OPEN_STATEMENTS * SHARDS * len(p.views), opened
    assert not [s for s in opened if WRITES.match(s)], opened


def test_a_changed_fingerprint_still_forces_a_rebuild_and_a_view_behind_catches_up(
        world: World, tmp_path: Path) -> None:
    _some_cases(world, 1, 2)
    with Projections(world.log) as p:
        p.stores["custody"].set_meta("fingerprint", "0" * 16)  # as if its schema changed
    _some_cases(world, 3, 2)  # every view is now behind
    with capture_logs() as logs, Projections(world.log) as p:
        assert set(p.positions().values()) == {world.log.max_position()}
        assert p.stores["custody"].meta("fingerprint") == p.fingerprint("custody")
        with Projections(world.log, folder=tmp_path / "rebuilt") as rebuilt:
            assert p.dump() == rebuilt.dump()
    assert [e["view"] for e in logs if e["event"] == "view rebuilt"] == ["custody"]


def test_a_view_missing_an_index_or_its_migration_row_is_set_up_again(
        world: World, raw: RawStore, store_kind: str) -> None:
    _some_cases(world, 1, 2)
    with Projections(world.log) as p:
        want = p.dump()
        paths = {name: s.paths[0] for name, s in p.stores.items()
                 if isinstance(s, ShardedViewStore)}
    if store_kind == "postgresql":
        raw.execute(f'DROP INDEX "{raw.schema}"."cdlog_custody_entries_key"',
                    f'DELETE FROM "{raw.schema}"."cdlog_duties_tracking" '
                    "WHERE application_name = '__migration__'")
    else:
        for name, statement in (("custody", "DROP INDEX entries_key"),
                                ("duties", "DELETE FROM tracking "
                                           "WHERE application_name = '__migration__'")):
            with sqlite3.connect(paths[name]) as conn:
                conn.execute(statement)
            conn.close()
    with Projections(world.log) as p:
        assert p.dump() == want  # nothing rebuilt, nothing lost
        duties = p.stores["duties"]
        for table in duties.parts if isinstance(duties, ShardedViewStore) else [duties]:
            assert table.max_tracking_id("__migration__")
    if store_kind == "postgresql":
        assert raw.rows("SELECT 1 FROM pg_indexes WHERE schemaname = ? AND indexname = ?",
                        [raw.schema, "cdlog_custody_entries_key"]) == [(1,)]
    else:
        with sqlite3.connect(paths["custody"]) as conn:
            found = conn.execute("SELECT 1 FROM sqlite_master WHERE name='entries_key'")
            assert found.fetchall() == [(1,)]
        conn.close()
