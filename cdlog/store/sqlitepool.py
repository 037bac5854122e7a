"""SQLite connections that survive several processes opening one new file at once, and whose
errors name the file.

The first connection to a new database file switches it to WAL. When several processes open
the same new file at the same moment, SQLite may answer that switch (and the first statements
of a fresh file) with "database is locked" at once, without waiting for the busy timeout, so
eventsourcing's pool would fail the opening of a store. :class:`OpeningSQLitePool` tries again
until the lock timeout. :class:`CdlogSQLiteDatastore` turns every SQLite error met while
connecting or in a transaction (except eventsourcing's ``IntegrityError``, which a case log
reads as another writer's concurrent append) into a one-line
:class:`~cdlog.errors.StoreError` naming the file and the cause (damaged, read-only, locked;
:func:`cdlog.store.urls.sqlite_error`). :class:`CdlogSQLiteFactory` is eventsourcing's SQLite
factory with that datastore; a case log's store and its views both use them.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import IntegrityError, InterfaceError, PersistenceError
from eventsourcing.sqlite import (
    SQLITE3_DEFAULT_LOCK_TIMEOUT,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
    SQLiteFactory,
)

from cdlog.store.urls import sqlite_error

RETRY_PAUSE = 0.01
"""Seconds between attempts to open a connection that met a lock."""
STATEMENT_CACHE = 128
"""Compiled statements each connection keeps. eventsourcing opens its connections with
``cached_statements=True``, which :mod:`sqlite3` reads as a cache of one statement: every
statement of a transaction but the last was compiled again each time it ran (the Merkle tail
query about 30 µs of a command at 1 event per save)."""


class OpeningSQLitePool(SQLiteConnectionPool):
    """eventsourcing's SQLite pool, retrying a connection that met "database is locked" while
    it was being set up, until the pool's lock timeout."""

    def __init__(self, *, db_name: str, **kwargs: Any) -> None:
        super().__init__(db_name=db_name, **kwargs)
        if "mode=ro" in db_name:  # a read-only store (cdlog.store.urls.sqlite_name): never
            self.is_journal_mode_wal = True  # switch its journal mode (a write)

    def _create_connection(self) -> SQLiteConnection:
        deadline = time.monotonic() + (self.lock_timeout or 5)
        while True:
            try:
                conn = self._connect()
                self.set_up(conn._sqlite_conn)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(RETRY_PAUSE)
            else:
                return conn

    def _connect(self) -> SQLiteConnection:
        """eventsourcing's ``_create_connection`` (autocommit, WAL for a file, rows as
        :class:`sqlite3.Row`) with a statement cache of :data:`STATEMENT_CACHE`."""
        try:
            c = sqlite3.connect(database=self.db_name, uri=True, check_same_thread=False,
                                isolation_level=None, cached_statements=STATEMENT_CACHE,
                                timeout=self.lock_timeout or SQLITE3_DEFAULT_LOCK_TIMEOUT)
        except (sqlite3.Error, TypeError) as exc:
            raise InterfaceError(exc) from exc
        if not self.is_sqlite_memory_mode and not self.is_journal_mode_wal:
            try:
                mode = c.execute("PRAGMA journal_mode;").fetchone()[0]
                if mode.lower() != "wal":
                    c.execute("PRAGMA journal_mode=WAL;")
                    self.journal_mode_was_changed_to_wal = True
            except sqlite3.Error:
                c.close()
                raise
            self.is_journal_mode_wal = True
        c.row_factory = sqlite3.Row
        return SQLiteConnection(sqlite_conn=c, max_age=self.max_age)

    def set_up(self, conn: sqlite3.Connection) -> None:
        """Settings for each new connection (none here; subclasses add theirs)."""


class CdlogSQLiteDatastore(SQLiteDatastore):
    """eventsourcing's SQLite datastore on :class:`OpeningSQLitePool`, raising
    :class:`~cdlog.errors.StoreError` (also a ``PersistenceError``) for what SQLite refuses."""

    pool_class: type[OpeningSQLitePool] = OpeningSQLitePool

    def __init__(self, db_name: str, *, lock_timeout: int | None = None, pool_size: int = 5,
                 max_overflow: int = 10, **kwargs: Any) -> None:
        super().__init__(db_name, lock_timeout=lock_timeout, pool_size=pool_size,
                         max_overflow=max_overflow, **kwargs)
        self.pool.close()
        self.pool = self.pool_class(db_name=db_name, lock_timeout=lock_timeout,
                                    pool_size=pool_size, max_overflow=max_overflow)
        self._own: SQLiteConnection | None = None
        self._own_lock = threading.RLock()

    def _own_connection(self) -> SQLiteConnection:
        if self._own is None:
            self._own = self.pool._create_connection()
        return self._own

    @contextmanager
    def get_connection(self, *, commit: bool) -> Iterator[SQLiteConnection]:
        """A pooled connection; SQLite's errors (on connecting or in its use) become a
        :class:`~cdlog.errors.StoreError` naming the file."""
        try:
            with super().get_connection(commit=commit) as conn:
                yield conn
        except (IntegrityError, sqlite3.IntegrityError):
            raise  # another writer appended first (cdlog.application reads it so)
        except (sqlite3.Error, PersistenceError) as exc:
            raise sqlite_error(self.pool.db_name, exc, self.pool.lock_timeout) from exc

    def glance(self, statement: str) -> Any:
        """The first column of the first row of one read-only ``statement``, run on its own
        (autocommit: one consistent snapshot) on the connection this datastore keeps for its
        commands (see :meth:`command_transaction`).

        A look through the pool (the newest notification id before every command) costs a
        pooled connection's hand-out and return and a ``BEGIN``/``ROLLBACK`` around the
        statement, and, on any connection but the one that wrote last, SQLite's page cache
        read again: 20-40 µs; this costs the statement, 3-4 µs. An in-memory store, whose
        connections share one database only through the pool, looks through the pool.
        """
        rows = self.look(statement, ())
        return rows[0][0] if rows else None

    def look(self, statement: str, params: Sequence[Any]) -> list[Any]:
        """The rows of one read-only ``statement`` with ``params``, run as :meth:`glance`
        runs it (autocommit, on the connection kept for commands; through the pool for an
        in-memory store)."""
        if self.pool.is_sqlite_memory_mode:
            with self.transaction(commit=False) as c:
                c.execute(statement, params)
                return list(c.fetchall())
        try:
            with self._own_lock:
                return self._own_connection()._sqlite_conn.execute(statement,
                                                                    params).fetchall()
        except (sqlite3.Error, PersistenceError) as exc:
            raise sqlite_error(self.pool.db_name, exc, self.pool.lock_timeout) from exc

    @contextmanager
    def command_transaction(self) -> Iterator[SQLiteCursor]:
        """A write transaction (``BEGIN`` ... ``COMMIT``, rolled back on any error) on the
        connection this datastore keeps for its commands, outside the pool.

        The commands of a process then write and look (:meth:`glance`) on one connection,
        whose page cache stays valid while nobody else writes, without the pool's hand-out
        and return; other threads wait for it as they wait for the pool's one writer.
        Another process or connection is kept out by SQLite's own write lock, as before.
        Errors are those of :meth:`transaction`.
        """
        if self.pool.is_sqlite_memory_mode:
            with self.transaction(commit=True) as c:
                yield c
            return
        with self._own_lock:
            try:
                conn = self._own_connection()
                try:
                    with conn.transaction(commit=True) as c:
                        yield c
                finally:
                    if conn._sqlite_conn.in_transaction:  # its ROLLBACK failed: start afresh
                        self._own = None
                        conn.close()
            except (IntegrityError, sqlite3.IntegrityError):
                raise  # another writer appended first (cdlog.application reads it so)
            except (sqlite3.Error, PersistenceError) as exc:
                raise sqlite_error(self.pool.db_name, exc, self.pool.lock_timeout) from exc

    def close(self) -> None:
        """Close the pool and the connection kept for commands."""
        lock = getattr(self, "_own_lock", None)  # (None: closed while being made)
        if lock is not None:
            with lock:
                own, self._own = self._own, None
            if own is not None:
                own.close()
        super().close()


class CdlogSQLiteFactory(SQLiteFactory):
    """eventsourcing's SQLite infrastructure factory with :class:`CdlogSQLiteDatastore`
    (``PERSISTENCE_MODULE=cdlog.store.sqlitepool:CdlogSQLiteFactory``)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        plain = self.datastore
        self.datastore = CdlogSQLiteDatastore(
            plain.pool.db_name, lock_timeout=plain.pool.lock_timeout,
            single_row_tracking=plain.single_row_tracking,
            originator_id_type=plain.originator_id_type)
        plain.close()
