"""View storage in PostgreSQL: the twin of :class:`cdlog.projections.store.SQLiteViewStore`.

A view of a PostgreSQL log lives beside the log, in the store's database and schema, as three
tables named after the view: ``cdlog_<view>_entries`` (the entries, :data:`ENTRY_COLUMNS`),
``cdlog_<view>_meta`` and ``cdlog_<view>_tracking`` (eventsourcing's single-row tracking
table). :meth:`PostgresViewStore.write` inserts a page of entries and moves the tracking row
in one transaction, guarded by eventsourcing's ``notification_id < new`` upsert, so a page is
applied exactly once even when several processes catch up at the same time. The SQL of the
SQLite twin is reused: its DDL with PostgreSQL types and these table names, its ``?``
placeholders rewritten by :func:`~cdlog.projections.store.portable`. The view shares the log's
connection pool (it is closed with the log, not with the view).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg.rows import tuple_row

from cdlog.errors import ConfigurationError
from cdlog.log.pgledger import serialise_ddl
from cdlog.projections.store import (
    DDL,
    ENTRY_COLUMNS,
    Entry,
    Handler,
    PagePrior,
    Processed,
    apply,
    entry_from_row,
    page_streams,
    portable,
    select_sql,
)
from cdlog.projections.viewstate import (
    STATE_PARAMS,
    STATE_SQL,
    UPSTREAM,
    ViewState,
    ViewTables,
    relation_names,
    states_of,
)

_COLUMNS = ",".join(ENTRY_COLUMNS)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Tables:
    """The qualified names of one view's tables, and its DDL in PostgreSQL's dialect."""

    def __init__(self, schema: str, view: str) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,40}", view):
            raise ConfigurationError(f"view name {view!r} cannot name a PostgreSQL table")
        self.prefix = f"cdlog_{view}_"
        self.schema = schema
        self.entries = f"{_quote(schema)}.{_quote(self.prefix + 'entries')}"
        self.meta = f"{_quote(schema)}.{_quote(self.prefix + 'meta')}"
        self.tracking = f"{_quote(schema)}.{_quote(self.prefix + 'tracking')}"

    def sql(self, text: str) -> str:
        """A statement of the SQLite twin for this view's tables, with ``%s`` placeholders."""
        text = re.sub(r"\bview_meta\b", self.meta, text)
        text = re.sub(r"\bentries\b", self.entries, text)
        text = re.sub(r"\btracking\b", self.tracking, text)
        return portable(text)

    def relations(self) -> list[str]:
        """The names of the view's tables and indexes (in the schema)."""
        return [self.prefix + name.removeprefix("view_")
                for name in ("tracking", *relation_names(DDL))]

    def ddl(self) -> list[str]:
        """The SQLite twin's DDL: 64-bit integers, this view's tables and index names."""
        out = []
        for statement in DDL:
            typed = re.sub(r"\bINTEGER\b", "BIGINT", statement)
            named = re.sub(r"\bINDEX IF NOT EXISTS (\w+)",
                           lambda m: f"INDEX IF NOT EXISTS {self.prefix}{m.group(1)}", typed)
            out.append(self.sql(named))
        return out


class PostgresViewStore(ViewTables, PostgresTrackingRecorder):
    """A view in the log's PostgreSQL schema: eventsourcing's tracking recorder plus entries.

    ``create=False`` leaves the tables to the caller (:func:`open_views`, which checks the
    catalogue for all the views of a log at once)."""

    def __init__(self, datastore: PostgresDatastore, name: str, *, create: bool = True) -> None:
        self.tables = _Tables(datastore.schema, name)
        super().__init__(datastore, tracking_table_name=self.tables.prefix + "tracking")
        self.name = name
        self._ddl = self.tables.ddl()
        self._select_prior = self.tables.sql(
            f"SELECT {_COLUMNS} FROM entries "  # noqa: S608
            "WHERE stream=? AND kind = ANY(?) ORDER BY position, seq")
        self._select_present = self.tables.sql(
            "SELECT DISTINCT stream FROM entries WHERE stream = ANY(?)")
        self._insert = self.tables.sql(
            f"INSERT INTO entries ({_COLUMNS}) "  # noqa: S608
            f"VALUES ({','.join('?' * len(ENTRY_COLUMNS))})")
        self.opened = ViewState()
        if create:
            self.create_table()
            self.opened = self.state()

    def _create_table(self, curs: Any) -> None:
        serialise_ddl(curs, self.tables.entries)  # several processes may open the views
        tracking = f"{_quote(self.tables.schema)}.{_quote(self.tracking_table_name)}"
        found = curs.execute("SELECT to_regclass(%s) AS t", [tracking]).fetchone()
        if found["t"] is not None and not self.tracking_table_exists:
            # created by another process while this one waited: nothing to set up again
            self.tracking_table_exists = True
            self.tracking_migration_previous = self.tracking_migration_current = (
                self._max_tracking_id(self.table_migration_identifier, curs))
        super()._create_table(curs)
        for statement in self._ddl:
            curs.execute(statement)

    def _cursor(self, c: Any) -> Any:
        return c.connection.cursor(row_factory=tuple_row)

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as c:
            cursor = self._cursor(c)
            cursor.execute(self.tables.sql(sql), list(params))
            return list(cursor.fetchall())

    def _commit(self, sql: str, params: Sequence[Any]) -> None:
        with self.datastore.transaction(commit=True) as c:
            self._cursor(c).execute(self.tables.sql(sql), list(params))

    def write(self, batch: Sequence[Processed], upto: int, handler: Handler) -> None:
        """Insert the entries of ``batch`` and the tracking position, in one transaction.

        Raises eventsourcing's ``IntegrityError`` (and writes nothing) when another writer
        already moved this view to ``upto`` or beyond.
        """
        with self.datastore.transaction(commit=True) as c:
            cursor = self._cursor(c)

            def load(stream: str, kinds: list[str]) -> list[Entry]:
                cursor.execute(self._select_prior, [stream, kinds])
                return [entry_from_row(r) for r in cursor.fetchall()]

            def present(streams: list[str]) -> set[str]:
                cursor.execute(self._select_present, [streams])
                return {r[0] for r in cursor.fetchall()}

            rows = apply(batch, handler, PagePrior(load, present, page_streams(batch)))
            if rows:
                cursor.executemany(self._insert, rows)
            self._insert_tracking(c, Tracking(UPSTREAM, upto))

    def reset(self) -> None:
        """Forget every entry and the tracking position, in one transaction."""
        with self.datastore.transaction(commit=True) as c:
            cursor = self._cursor(c)
            cursor.execute(self.tables.sql("DELETE FROM entries"))
            cursor.execute(f"DELETE FROM {_quote(self.tables.schema)}."  # noqa: S608
                           f"{_quote(self.tracking_table_name)} WHERE application_name = %s",
                           [UPSTREAM])

    def select(self, where: str = "", params: Sequence[Any] = ()) -> list[Entry]:
        """Entries matching an SQL condition over :data:`ENTRY_COLUMNS`, in log order."""
        with self.datastore.transaction(commit=False) as c:
            cursor = self._cursor(c)
            cursor.execute(self.tables.sql(select_sql(where)), list(params))
            return [entry_from_row(r) for r in cursor.fetchall()]

    def dump(self) -> list[tuple[Any, ...]]:
        """Every row of the view and its tracking position (for equality checks)."""
        with self.datastore.transaction(commit=False) as c:
            cursor = self._cursor(c)
            cursor.execute(self.tables.sql(select_sql()))
            rows = [tuple(r) for r in cursor.fetchall()]
        return [*rows, ("tracking", self.position())]

    def close(self) -> None:
        """Nothing to release: the connections are the log's."""


_CATALOGUE = ("SELECT c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
              "ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = ANY(%s)")


def open_views(datastore: PostgresDatastore, names: Sequence[str]
               ) -> dict[str, PostgresViewStore]:
    """The stores of the named views of a log, opened in two statements when their tables
    exist: one catalogue read for every view's tables and indexes (a view missing one has
    them created, as a store opened alone does), then :func:`read_states`. Each store's
    state on opening is its ``opened``."""
    stores = {name: PostgresViewStore(datastore, name, create=False) for name in names}
    wanted = [r for store in stores.values() for r in store.tables.relations()]
    with datastore.transaction(commit=False) as c:
        cursor = c.connection.cursor(row_factory=tuple_row)
        cursor.execute(_CATALOGUE, [datastore.schema, wanted])
        found = {str(row[0]) for row in cursor.fetchall()}
    for store in stores.values():
        if not found.issuperset(store.tables.relations()):
            store.create_table()
    for store, state in zip(stores.values(), read_states(list(stores.values())), strict=True):
        store.opened = store.settle(state)
    return stores


def read_states(stores: Sequence[PostgresViewStore]) -> list[ViewState]:
    """The state of each view (:meth:`ViewTables.state`), all in one statement: the views of
    a log share its datastore."""
    if not stores:
        return []
    parts = [store.tables.sql(STATE_SQL.format(view=i)) for i, store in enumerate(stores)]
    with stores[0].datastore.transaction(commit=False) as c:
        cursor = c.connection.cursor(row_factory=tuple_row)
        cursor.execute(" UNION ALL ".join(parts), list(STATE_PARAMS) * len(stores))
        return states_of(cursor.fetchall(), len(stores))
