"""Store URLs: where a log lives, and the one-line errors of a store that fails.

* ``sqlite:///relative/or/absolute/path.db`` (three slashes, then the path) — the embedded
  default is ``sqlite:///.cdlog/cdlog.db`` under the working directory;
* ``postgresql://user:password@host:port/dbname[?schema=name][&home=folder]`` — the
  scale-out store (tables in ``schema``, default ``public``; the schema must exist). Files
  that live beside the store (trust file, key files, views of an SQLite store) go to
  ``home``, default ``.cdlog`` under the working directory.

A URL comes from ``--store``, else ``CDLOG_STORE``, else the default. ``CDLOG_LOCK_TIMEOUT``
(seconds, default 30) is how long a command waits for a store another process holds locked.

No message, log line or ``repr`` names a store by a URL with its password:
:attr:`StoreConfig.redacted` replaces it by ``***``. :func:`store_error` turns what a store's
driver raised (SQLite, PostgreSQL, eventsourcing's wrappers) into a one-line
:class:`~cdlog.errors.StoreError` naming the file (absolute path) or server and the cause.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

from eventsourcing.persistence import (
    DatabaseError,
    DataError,
    InterfaceError,
    InternalError,
    NotSupportedError,
    OperationalError,
    PersistenceError,
    ProgrammingError,
)

from cdlog.errors import ConfigurationError, StoreError

DEFAULT_STORE = "sqlite:///.cdlog/cdlog.db"
STORE_ENV = "CDLOG_STORE"
LOCK_TIMEOUT_ENV = "CDLOG_LOCK_TIMEOUT"
DEFAULT_LOCK_TIMEOUT = 30
CONNECT_TIMEOUT = 5
"""Seconds to wait for a PostgreSQL server to accept a connection (or for a pooled one)."""
EVENTS_TABLE = "cdlog_events"
"""The events table of a PostgreSQL store (eventsourcing names it after the application)."""
HOW_TO_CREATE = ("a store is created by a command that writes (cdlog keys init-root, "
                 "cdlog replay, cdlog demo) or by CaseLog.open(url)")


class StoreAccessError(StoreError, PersistenceError):
    """A :class:`~cdlog.errors.StoreError` that is also the eventsourcing ``PersistenceError``
    the driver's error was wrapped in (the subclasses below keep its exact kind), so the code
    of eventsourcing and cdlog that handles a kind of failure (a missing table while tables
    are created, a retry after a dropped connection) still does."""


class StoreInterfaceError(StoreAccessError, InterfaceError):
    """A store error of eventsourcing's ``InterfaceError`` kind."""


class StoreDatabaseError(StoreAccessError, DatabaseError):
    """A store error of eventsourcing's ``DatabaseError`` kind."""


class StoreDataError(StoreDatabaseError, DataError):
    """A store error of eventsourcing's ``DataError`` kind."""


class StoreOperationalError(StoreDatabaseError, OperationalError):
    """A store error of eventsourcing's ``OperationalError`` kind (locked, unreachable...)."""


class StoreInternalError(StoreDatabaseError, InternalError):
    """A store error of eventsourcing's ``InternalError`` kind."""


class StoreProgrammingError(StoreDatabaseError, ProgrammingError):
    """A store error of eventsourcing's ``ProgrammingError`` kind."""


class StoreNotSupportedError(StoreDatabaseError, NotSupportedError):
    """A store error of eventsourcing's ``NotSupportedError`` kind."""


_KINDS: dict[str, type[StoreAccessError]] = {
    "InterfaceError": StoreInterfaceError, "DataError": StoreDataError,
    "OperationalError": StoreOperationalError, "InternalError": StoreInternalError,
    "ProgrammingError": StoreProgrammingError, "NotSupportedError": StoreNotSupportedError,
    "DatabaseError": StoreDatabaseError}
"""DB-API error names (sqlite3, psycopg and eventsourcing use the same) to their kind."""


def _kind(exc: BaseException) -> type[StoreAccessError]:
    """The store error class of the same kind as ``exc`` (eventsourcing's wrapper or the
    driver's own error)."""
    for cls in type(exc).__mro__:
        kind = _KINDS.get(cls.__name__)
        if kind is not None:
            return kind
    return StoreAccessError


def redact_url(text: str) -> str:
    """``text`` with the password of a ``scheme://user:password@host`` URL replaced by ``***``
    (the user information ends at the last ``@`` of the authority, as ``urlsplit`` reads it)."""
    match = re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", text)
    if match is None:
        return text
    start = match.end()
    end = min((i for i in (text.find(c, start) for c in "/?#") if i >= 0), default=len(text))
    userinfo, at, host = text[start:end].rpartition("@")
    if not at or ":" not in userinfo:
        return text
    user = userinfo.partition(":")[0]
    return f"{text[:start]}{user}:***@{host}{text[end:]}"


@dataclass(frozen=True, repr=False)
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

    def __repr__(self) -> str:
        return f"StoreConfig({self.redacted!r})"

    @property
    def redacted(self) -> str:
        """The URL with its password (if any) replaced by ``***``: for messages and logs."""
        return redact_url(self.url)

    @property
    def where(self) -> str:
        """The store for a message: the SQLite file's absolute path, or the PostgreSQL server,
        database and schema (never a password)."""
        if self.path is not None:
            return str(self.path.resolve())
        return (f"PostgreSQL database {self.dbname!r} at {self.host}:{self.port} "
                f"(schema {self.schema or 'public'!r})")

    @property
    def home(self) -> Path:
        """Folder for files that live beside the store (trust file, demo keys)."""
        if self.home_dir is not None:
            return self.home_dir
        if self.path is not None:
            return self.path.parent
        return Path(".cdlog")

    def environment(self, *, create: bool = True) -> dict[str, str]:
        """Return the eventsourcing environment variables for this store; ``create=False``
        creates no table (the store must exist)."""
        timeout = lock_timeout()
        create_table = "yes" if create else "no"
        if self.kind == "sqlite":
            assert self.path is not None
            # eventsourcing's SQLite factory, whose pool survives several processes opening
            # one new store at once and whose errors name the file (cdlog/store/sqlitepool.py)
            return {"PERSISTENCE_MODULE": "cdlog.store.sqlitepool:CdlogSQLiteFactory",
                    "SQLITE_DBNAME": sqlite_name(self.path, create=create),
                    "SQLITE_LOCK_TIMEOUT": str(timeout), "CREATE_TABLE": create_table,
                    # keeps the Merkle log in the events' transaction (cdlog/log/ledger.py)
                    "APPLICATION_RECORDER_TOPIC": "cdlog.log.ledger:CdlogSQLiteApplicationRecorder"}
        return {"PERSISTENCE_MODULE": "cdlog.log.pgledger:CdlogPostgresFactory",
                "POSTGRES_DBNAME": self.dbname,
                "POSTGRES_HOST": self.host, "POSTGRES_PORT": str(self.port),
                "POSTGRES_USER": self.user, "POSTGRES_PASSWORD": self.password,
                "POSTGRES_LOCK_TIMEOUT": str(timeout), "POSTGRES_POOL_SIZE": "4",
                "POSTGRES_MAX_OVERFLOW": "4", "POSTGRES_SCHEMA": self.schema,
                # how long to wait for a pooled connection (eventsourcing's default is 30 s)
                "POSTGRES_CONNECT_TIMEOUT": str(connect_timeout()),
                "CREATE_TABLE": create_table,
                # never the lock-free insert function (notes §3.4): ids must commit in order
                "POSTGRES_ENABLE_DB_FUNCTIONS": "no",
                # keeps the Merkle log in the events' transaction (cdlog/log/ledger.py)
                "APPLICATION_RECORDER_TOPIC": "cdlog.log.pgledger:CdlogPostgresApplicationRecorder"}


def connect_timeout() -> int:
    """Seconds to wait for a PostgreSQL connection: eventsourcing's
    ``POSTGRES_CONNECT_TIMEOUT`` when it is set, else :data:`CONNECT_TIMEOUT`."""
    text = os.environ.get("POSTGRES_CONNECT_TIMEOUT", "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else CONNECT_TIMEOUT


def sqlite_name(path: Path, *, create: bool = True) -> str:
    """The name SQLite opens ``path`` by: its absolute path; for a store opened without
    ``create`` that this process may not write (a read-only file, or a folder where SQLite
    cannot make its ``-wal``/``-shm`` files), a read-only URI, so that read-only commands
    work on a store on read-only media or owned by someone else.

    Where the folder is not writable and no ``-wal``/``-shm`` file exists (no connection is
    open on the store), the file is read as immutable (SQLite needs a writable shared-memory
    file otherwise).
    """
    where = os.path.abspath(path)
    folder = os.path.dirname(where)
    if create or not os.path.isfile(where):
        return where
    folder_ok = os.access(folder, os.W_OK | os.X_OK)
    if os.access(where, os.W_OK) and folder_ok:
        return where
    uri = f"file:{quote(where)}?mode=ro"
    if not folder_ok and not any(os.path.exists(where + s) for s in ("-wal", "-shm")):
        uri += "&immutable=1"
    return uri


def sqlite_file(name: str | os.PathLike[str]) -> str:
    """The absolute path of the file an SQLite name (a path or a ``file:`` URI) opens."""
    text = os.fspath(name)
    if text.startswith("file:"):
        text = unquote(urlsplit(text).path)
    return os.path.abspath(text)


def lock_timeout() -> int:
    """Seconds a command waits for a locked store (``CDLOG_LOCK_TIMEOUT``, default 30)."""
    text = os.environ.get(LOCK_TIMEOUT_ENV, "").strip()
    if not text:
        return DEFAULT_LOCK_TIMEOUT
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigurationError(f"{LOCK_TIMEOUT_ENV}={text!r}: expected a whole number of "
                                 "seconds, 1 or more")
    return value


def resolve_store(url: str | None = None) -> StoreConfig:
    """Parse ``url`` (or ``CDLOG_STORE``, or the default) into a :class:`StoreConfig`."""
    text = url or os.environ.get(STORE_ENV) or DEFAULT_STORE
    shown = redact_url(text)
    parts = urlsplit(text)
    if parts.scheme == "sqlite":
        raw = text[len("sqlite://"):]
        if not raw.startswith("/") or raw == "/":
            raise ConfigurationError(f"store {shown!r}: expected sqlite:///path/to/file.db")
        path = Path(raw[1:])  # sqlite:///rel.db -> rel.db; sqlite:////abs.db -> /abs.db
        return StoreConfig(url=text, kind="sqlite", path=path)
    if parts.scheme in {"postgresql", "postgres"}:
        dbname = parts.path.lstrip("/")
        query = parse_qs(parts.query)
        home = query.get("home", [""])[0]
        try:
            port = parts.port or 5432
        except ValueError as exc:
            raise ConfigurationError(f"store {shown!r}: {exc} (expected "
                                     "postgresql://user:password@host:port/dbname)") from None
        if not dbname or not parts.hostname:
            raise ConfigurationError(
                f"store {shown!r}: expected postgresql://user:password@host:port/dbname")
        return StoreConfig(url=text, kind="postgresql", host=parts.hostname,
                           port=port, dbname=dbname,
                           user=unquote(parts.username or ""),
                           password=unquote(parts.password or ""),
                           schema=query.get("schema", [""])[0],
                           home_dir=Path(home) if home else None)
    raise ConfigurationError(f"store {shown!r}: unknown scheme {parts.scheme!r}; "
                             "expected sqlite:///path.db or postgresql://...")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _cause(exc: BaseException) -> str:
    """The driver's own message, however deeply eventsourcing wrapped it."""
    seen = exc
    while isinstance(seen, PersistenceError) and seen.__cause__ is not None:
        seen = seen.__cause__
    text = str(seen) or type(seen).__name__
    return _one_line(text)


def sqlite_error(path: str | os.PathLike[str], exc: BaseException,
                 timeout: float | None = None) -> StoreAccessError:
    """The one-line :class:`StoreError` for what SQLite raised on the file at ``path``."""
    if isinstance(exc, StoreAccessError):
        return exc
    return _kind(exc)(_sqlite_message(path, exc, timeout))


def _sqlite_message(path: str | os.PathLike[str], exc: BaseException,
                    timeout: float | None) -> str:
    where = sqlite_file(path)
    cause = _cause(exc)
    low = cause.lower()
    if "locked" in low or "busy" in low:
        waited = f" (waited {timeout:g} s; {LOCK_TIMEOUT_ENV} sets how long)" if timeout else ""
        return f"{where} is locked by another process{waited}"
    if "readonly" in low or "read-only" in low:
        return f"{where} is read-only: cannot write to it ({cause})"
    if ("malformed" in low or "not a database" in low or "encrypted" in low
            or "unsupported file format" in low):
        return f"{where} is not a cdlog store or is damaged: {cause}"
    if "no such table" in low or "no such column" in low:
        return f"{where} is not a cdlog store: {cause}"
    if "unable to open" in low:
        folder = os.path.dirname(where)
        why = ("its folder does not exist" if not os.path.isdir(folder)
               else "permission denied" if not os.access(folder, os.W_OK | os.X_OK)
               else cause)
        return f"{where} cannot be opened: {why}"
    if "full" in low:
        return f"{where}: the disk is full ({cause})"
    if "i/o" in low:
        return f"{where}: disk I/O error ({cause})"
    return f"{where}: {cause}"


def postgres_error(store: StoreConfig, exc: BaseException) -> StoreAccessError:
    """The one-line :class:`StoreError` for what PostgreSQL (psycopg, its pool, or
    eventsourcing's wrappers) raised for ``store``; the password never appears."""
    if isinstance(exc, StoreAccessError):
        return exc
    message = _postgres_message(store, exc)
    if " is locked by another process " in message:
        # waited the lock timeout already: not an OperationalError, which eventsourcing's
        # insert would retry ten times over
        return StoreDatabaseError(message)
    return _kind(exc)(message)


def _postgres_message(store: StoreConfig, exc: BaseException) -> str:
    cause = _cause(exc)
    if store.password:
        cause = cause.replace(store.password, "***")
    low = cause.lower()
    server = f"PostgreSQL at {store.host}:{store.port}"
    if "connection refused" in low:
        return f"cannot connect to {server}: connection refused"
    if "failed to resolve host" in low or "could not translate host name" in low:
        return f"cannot connect to {server}: unknown host {store.host!r}"
    if "timeout expired" in low or "timed out" in low:
        return f"cannot connect to {server}: no answer within {connect_timeout()} s"
    if "couldn't get a connection" in low:
        return f"cannot connect to {server}: no connection within {connect_timeout()} s"
    if "password authentication failed" in low or "no password supplied" in low:
        return f"{server} refused user {store.user!r}: password authentication failed"
    if "does not exist" in low and "database" in low and "relation" not in low:
        return f"{server} has no database {store.dbname!r}"
    if "lock timeout" in low or "could not obtain lock" in low:
        return (f"{store.where} is locked by another process (waited {lock_timeout()} s; "
                f"{LOCK_TIMEOUT_ENV} sets how long)")
    if "read-only transaction" in low or "permission denied" in low:
        return f"{store.where} is read-only for user {store.user!r}: {cause}"
    if ("server closed the connection" in low or "terminating connection" in low
            or "connection is lost" in low or "consuming input failed" in low):
        return f"{store.where}: the connection was lost: {cause}"
    return f"{store.where}: {cause}"


def store_error(store: StoreConfig, exc: BaseException) -> StoreAccessError:
    """The one-line :class:`StoreError` for what ``store``'s driver raised."""
    if store.path is not None:
        return sqlite_error(store.path, exc, lock_timeout())
    return postgres_error(store, exc)
