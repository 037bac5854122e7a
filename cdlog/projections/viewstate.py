"""A view's state (tracking position, eventsourcing's migration row, metadata) read in one
statement, and what the two view stores share to open their tables, read that state and
write their metadata.

Opening a view used to cost about twenty statements (eventsourcing's ``CREATE TABLE IF NOT
EXISTS`` transaction, then the position and each metadata value read apart), and on
PostgreSQL each one is a round trip to the server: nine views took about 170 (issue 12). Now
a store checks the catalogue first and runs the DDL only when a table or index is missing;
the position, the migration row and every metadata value come from one ``UNION ALL`` select
(:data:`STATE_SQL`), on PostgreSQL one for all the views of a log
(:func:`cdlog.projections.pgstore.read_states`). Tables found whole are taken as eventsourcing's
``create_table`` would have left them (:meth:`ViewTables.settle`); a tracking table without the
migration row still goes through ``create_table``, which migrates it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

UPSTREAM = "cdlog"
"""The tracking name of the upstream application (the case log's notification log)."""

MIGRATION = "__migration__"
"""eventsourcing's tracking row that says a tracking table has its single-row form."""

STATE_SQL = ("SELECT {view}, 0, application_name, CAST(notification_id AS TEXT) FROM tracking "
             "WHERE application_name IN (?, ?) "
             "UNION ALL SELECT {view}, 1, name, value FROM view_meta")
"""One view's state as rows ``(view, part, name, value)``: part 0 the tracking rows of the
log and of the migration, part 1 the metadata (``{view}`` is the view's index in a read of
several; ``?`` placeholders, tables named as in SQLite)."""

STATE_PARAMS = (UPSTREAM, MIGRATION)


@dataclass
class ViewState:
    """What opening a view reads of it: its position, the migration row, its metadata."""

    position: int = 0
    meta: dict[str, str] = field(default_factory=dict)
    migration: int | None = None


def states_of(rows: Iterable[Sequence[Any]], count: int) -> list[ViewState]:
    """The states of ``count`` views from the rows of :data:`STATE_SQL` (one read)."""
    out = [ViewState() for _ in range(count)]
    for view, part, name, value in rows:
        state = out[int(view)]
        if int(part) == 1:
            state.meta[str(name)] = str(value)
        elif name == UPSTREAM:
            state.position = int(value or 0)
        elif name == MIGRATION:
            state.migration = None if value is None else int(value)
    return out


def relation_names(ddl: Sequence[str]) -> list[str]:
    """The tables and indexes a view's DDL creates (``IF NOT EXISTS`` names), in order."""
    return re.findall(r"IF NOT EXISTS (\w+)", " ".join(ddl))


_SET_META = ("INSERT INTO view_meta (name, value) VALUES (?, ?) "
             "ON CONFLICT (name) DO UPDATE SET value=excluded.value")


class ViewTables:
    """The position, state and metadata of a view store, over two statements each store runs
    its own way (:meth:`_read` and :meth:`_commit`, SQL as in SQLite)."""

    opened: ViewState
    """The state read when the store was opened."""

    if TYPE_CHECKING:
        datastore: Any
        tracking_table_exists: bool
        tracking_migration_previous: int | None
        tracking_migration_current: int | None

        def max_tracking_id(self, application_name: str) -> int | None:
            """eventsourcing's tracking position of ``application_name``."""

        def create_table(self) -> None:
            """eventsourcing's table creation (and tracking-table migration)."""

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rows of a select, in a read-only transaction."""
        raise NotImplementedError

    def _commit(self, sql: str, params: Sequence[Any]) -> None:
        """Run one statement in a transaction of its own."""
        raise NotImplementedError

    def position(self) -> int:
        """The notification id of the last event applied (0 when none)."""
        return int(self.max_tracking_id(UPSTREAM) or 0)

    def state(self) -> ViewState:
        """The view's position, migration row and metadata, in one statement."""
        return states_of(self._read(STATE_SQL.format(view=0), STATE_PARAMS), 1)[0]

    def meta(self, name: str) -> str | None:
        """A stored metadata value."""
        rows = self._read("SELECT value FROM view_meta WHERE name=?", [name])
        return None if not rows else str(rows[0][0])

    def set_meta(self, name: str, value: str) -> None:
        """Store a metadata value."""
        self._commit(_SET_META, [name, value])

    def settle(self, state: ViewState) -> ViewState:
        """Take the tables as ``create_table`` leaves them when ``state`` (read from tables
        that all exist) holds the migration row; else run ``create_table`` (which migrates an
        older tracking table) and read the state again."""
        if state.migration and self.datastore.single_row_tracking:
            self.tracking_table_exists = True
            self.tracking_migration_previous = self.tracking_migration_current = state.migration
            return state
        self.create_table()
        return self.state()
