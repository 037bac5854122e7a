"""SQLite connections that survive several processes opening one new file at once.

The first connection to a new database file switches it to WAL. When several processes open
the same new file at the same moment, SQLite may answer that switch (and the first statements
of a fresh file) with "database is locked" at once, without waiting for the busy timeout, so
eventsourcing's pool would fail the opening of a store. :class:`OpeningSQLitePool` tries again
until the lock timeout. :class:`CdlogSQLiteFactory` is eventsourcing's SQLite factory with
that pool; a case log's store and its views both use it.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory

RETRY_PAUSE = 0.01
"""Seconds between attempts to open a connection that met a lock."""


class OpeningSQLitePool(SQLiteConnectionPool):
    """eventsourcing's SQLite pool, retrying a connection that met "database is locked" while
    it was being set up, until the pool's lock timeout."""

    def _create_connection(self) -> SQLiteConnection:
        deadline = time.monotonic() + (self.lock_timeout or 5)
        while True:
            try:
                conn = super()._create_connection()
                self.set_up(conn._sqlite_conn)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(RETRY_PAUSE)
            else:
                return conn

    def set_up(self, conn: sqlite3.Connection) -> None:
        """Settings for each new connection (none here; subclasses add theirs)."""


class CdlogSQLiteFactory(SQLiteFactory):
    """eventsourcing's SQLite infrastructure factory with :class:`OpeningSQLitePool`
    (``PERSISTENCE_MODULE=cdlog.sqlitepool:CdlogSQLiteFactory``)."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        self.datastore.pool = OpeningSQLitePool(db_name=pool.db_name,
                                                lock_timeout=pool.lock_timeout)
        pool.close()
