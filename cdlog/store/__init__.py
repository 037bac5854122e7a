"""Where a log lives: store URLs and their one-line errors, SQLite connections, the mapper of
sealed bytes to stored rows, and the checks before a log is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdlog import lazy_exports

if TYPE_CHECKING:
    from cdlog.store.mapper import EventApplication, SealedRecord, check_row
    from cdlog.store.opening import prepare_store
    from cdlog.store.sqlitepool import CdlogSQLiteDatastore, OpeningSQLitePool
    from cdlog.store.urls import (
        EVENTS_TABLE,
        HOW_TO_CREATE,
        StoreAccessError,
        StoreConfig,
        connect_timeout,
        lock_timeout,
        postgres_error,
        redact_url,
        resolve_store,
        store_error,
    )

_MODULES: dict[str, tuple[str, ...]] = {
    "cdlog.store.mapper": (
        "EventApplication", "SealedRecord", "check_row",
    ),
    "cdlog.store.opening": (
        "prepare_store",
    ),
    "cdlog.store.sqlitepool": (
        "CdlogSQLiteDatastore", "OpeningSQLitePool",
    ),
    "cdlog.store.urls": (
        "EVENTS_TABLE", "HOW_TO_CREATE", "StoreAccessError", "StoreConfig", "connect_timeout",
        "lock_timeout", "postgres_error", "redact_url", "resolve_store", "store_error",
    ),
}

__all__ = [
    "EVENTS_TABLE",
    "HOW_TO_CREATE",
    "CdlogSQLiteDatastore",
    "EventApplication",
    "OpeningSQLitePool",
    "SealedRecord",
    "StoreAccessError",
    "StoreConfig",
    "check_row",
    "connect_timeout",
    "lock_timeout",
    "postgres_error",
    "prepare_store",
    "redact_url",
    "resolve_store",
    "store_error",
]

if not TYPE_CHECKING:
    __getattr__ = lazy_exports(__name__, _MODULES)
