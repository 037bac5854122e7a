"""Store URLs: where a log lives.

* ``sqlite:///relative/or/absolute/path.db`` (three slashes, then the path) — the embedded
  default is ``sqlite:///.cdlog/cdlog.db`` under the working directory;
* ``postgresql://user:password@host:port/dbname[?schema=name][&home=folder]`` — the
  scale-out store (tables in ``schema``, default ``public``; the schema must exist). Files
  that live beside the store (trust file, key files, views of an SQLite store) go to
  ``home``, default ``.cdlog`` under the working directory.

A URL comes from ``--store``, else ``CDLOG_STORE``, else the default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from cdlog.errors import ConfigurationError

DEFAULT_STORE = "sqlite:///.cdlog/cdlog.db"
STORE_ENV = "CDLOG_STORE"


@dataclass(frozen=True)
class StoreConfig:
    """A parsed store URL: its kind, and what eventsourcing needs to open it."""

    url: str
    kind: str  # "sqlite" or "postgresql"
    path: Path | None = None
    host: str = ""
    port: int = 5432
    dbname: str = ""
    user: str = ""
    password: str = ""
    schema: str = ""
    home_dir: Path | None = None

    @property
    def home(self) -> Path:
        """Folder for files that live beside the store (trust file, demo keys)."""
        if self.home_dir is not None:
            return self.home_dir
        if self.path is not None:
            return self.path.parent
        return Path(".cdlog")

    def environment(self) -> dict[str, str]:
        """Return the eventsourcing environment variables for this store."""
        if self.kind == "sqlite":
            assert self.path is not None
            # eventsourcing's SQLite factory, whose pool survives several processes opening
            # one new store at once (cdlog/sqlitepool.py)
            return {"PERSISTENCE_MODULE": "cdlog.sqlitepool:CdlogSQLiteFactory",
                    "SQLITE_DBNAME": str(self.path), "SQLITE_LOCK_TIMEOUT": "30",
                    # keeps the Merkle log in the events' transaction (cdlog/ledger.py)
                    "APPLICATION_RECORDER_TOPIC": "cdlog.ledger:CdlogSQLiteApplicationRecorder"}
        return {"PERSISTENCE_MODULE": "eventsourcing.postgres", "POSTGRES_DBNAME": self.dbname,
                "POSTGRES_HOST": self.host, "POSTGRES_PORT": str(self.port),
                "POSTGRES_USER": self.user, "POSTGRES_PASSWORD": self.password,
                "POSTGRES_LOCK_TIMEOUT": "30", "POSTGRES_POOL_SIZE": "4",
                "POSTGRES_MAX_OVERFLOW": "4", "POSTGRES_SCHEMA": self.schema,
                # never the lock-free insert function (notes §3.4): ids must commit in order
                "POSTGRES_ENABLE_DB_FUNCTIONS": "no",
                # keeps the Merkle log in the events' transaction (cdlog/ledger.py)
                "APPLICATION_RECORDER_TOPIC": "cdlog.pgledger:CdlogPostgresApplicationRecorder"}


def resolve_store(url: str | None = None) -> StoreConfig:
    """Parse ``url`` (or ``CDLOG_STORE``, or the default) into a :class:`StoreConfig`."""
    text = url or os.environ.get(STORE_ENV) or DEFAULT_STORE
    parts = urlsplit(text)
    if parts.scheme == "sqlite":
        raw = text[len("sqlite://"):]
        if not raw.startswith("/") or raw == "/":
            raise ConfigurationError(f"store {text!r}: expected sqlite:///path/to/file.db")
        path = Path(raw[1:])  # sqlite:///rel.db -> rel.db; sqlite:////abs.db -> /abs.db
        return StoreConfig(url=text, kind="sqlite", path=path)
    if parts.scheme in {"postgresql", "postgres"}:
        dbname = parts.path.lstrip("/")
        query = parse_qs(parts.query)
        home = query.get("home", [""])[0]
        if not dbname or not parts.hostname:
            raise ConfigurationError(
                f"store {text!r}: expected postgresql://user:password@host:port/dbname")
        return StoreConfig(url=text, kind="postgresql", host=parts.hostname,
                           port=parts.port or 5432, dbname=dbname,
                           user=unquote(parts.username or ""),
                           password=unquote(parts.password or ""),
                           schema=query.get("schema", [""])[0],
                           home_dir=Path(home) if home else None)
    raise ConfigurationError(f"store {text!r}: unknown scheme {parts.scheme!r}; "
                             "expected sqlite:///path.db or postgresql://...")
