"""Checking a store before a log is opened on it: does it exist, is it a cdlog store, may it be
created (PostgreSQL servers are probed by :mod:`cdlog.log.pgledger`).
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from cdlog.store.urls import (
    HOW_TO_CREATE,
    StoreAccessError,
    StoreConfig,
    StoreDatabaseError,
    lock_timeout,
    sqlite_error,
    sqlite_name,
)


def prepare_store(store: StoreConfig, *, create: bool = True) -> bool:
    """Check ``store`` before a log is opened on it; return True when opening it will create
    the store (no cdlog log is there yet).

    ``create=False`` never creates anything: a missing SQLite file (its folder is not made
    either), a file or schema without cdlog's tables, is a :class:`StoreError` naming the
    absolute path (or server, database and schema) and saying how a store is created. A file
    that is not an SQLite database, or is damaged, is refused before anything is written to
    it; an unreachable PostgreSQL server fails within :data:`CONNECT_TIMEOUT` seconds with
    the cause.
    """
    if store.path is None:
        from cdlog.log.pgledger import probe  # noqa: PLC0415 - PostgreSQL stores need psycopg

        return not probe(store, create=create)
    path = store.path
    where = path.resolve()
    if not path.exists():
        if not create:
            raise StoreAccessError(f"no store at {where}: the file does not exist; "
                                   f"{HOW_TO_CREATE}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreAccessError(f"{where}: cannot create its folder "
                                   f"{path.parent.resolve()}: {exc.strerror or exc}") from None
        return True
    if not path.is_file():
        raise StoreAccessError(f"{where} is not a store file (it is a folder or a device)")
    if path.stat().st_size == 0:
        if not create:
            raise StoreAccessError(f"{where} is an empty file, not a cdlog store; "
                                   f"{HOW_TO_CREATE}")
        return True
    tables = _sqlite_tables(path, sqlite_name(path, create=create))
    if "stored_events" in tables:
        return False
    if not create:
        raise StoreAccessError(f"{where} is an SQLite database but not a cdlog store (it has "
                               f"no table 'stored_events'); {HOW_TO_CREATE}")
    return True


def _sqlite_tables(path: Path, name: str) -> set[str]:
    """The tables of the SQLite file at ``path`` (opened as ``name``, else read-write without
    create, so that the last connection removes SQLite's WAL files on close). "database is
    locked" while another process sets up a new file is met at once, without the busy
    timeout (see :mod:`cdlog.store.sqlitepool`): tried again until the lock timeout."""
    where = path.resolve()
    timeout = lock_timeout()
    deadline = time.monotonic() + timeout
    uri = name if name.startswith("file:") else f"file:{quote(str(where))}?mode=rw"
    while True:
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=timeout)
            try:
                return {str(r[0]) for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
            finally:
                conn.close()
        except UnicodeDecodeError as exc:  # a table name that is not UTF-8: a damaged file
            raise StoreDatabaseError(f"{where} is not a cdlog store or is damaged: its schema "
                                     f"is not valid text ({exc.reason})") from None
        except sqlite3.Error as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise sqlite_error(where, exc, timeout) from None
            time.sleep(0.01)
