"""View storage: every view in its own database, its rows and its tracking position written in
one transaction (exactly once).

A view is a set of *entries*: small JSON documents extracted from events, each carrying the
coordinates of the event it rests on (stream, version, hash, notification position) and both
time axes (when it happened, when it was recorded). Queries fold entries; "as recorded by T"
keeps only entries recorded by T, which within a stream is always a prefix of the stream.

Storage follows eventsourcing's tracking recorders: :class:`SQLiteViewStore` *is* a
:class:`~eventsourcing.sqlite.SQLiteTrackingRecorder` whose extra table holds the entries, and
:meth:`SQLiteViewStore.write` inserts a page of entries and upserts the single tracking row
(guarded by ``notification_id < new``) in the same transaction, so a page is applied once or
not at all. Each view lives in its own SQLite file, so no two views share a tracking row.
Within the transaction the handler runs over the page first and its rows are inserted at the
end in one ``executemany``; what the handler reads of its own view meanwhile
(:class:`PagePrior`) is the stored entries followed by the rows of the page so far, exactly
what a row-by-row insert would have shown it.

PostgreSQL twin (issue 5): subclass ``PostgresTrackingRecorder`` the same way, prefix the
tables with the view name (``<view>_entries``, ``<view>_tracking``) and satisfy
:class:`ViewStore`; the SQL below uses only portable types and ``?`` placeholders, which the
twin rewrites to ``%s`` (:func:`portable`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import orjson
from eventsourcing.persistence import IntegrityError, Tracking
from eventsourcing.sqlite import SQLiteTrackingRecorder as _SQLiteTrackingRecorder

from cdlog import _native
from cdlog.canonical import format_time, parse_time
from cdlog.domain.case import Fact
from cdlog.domain.values import Officer
from cdlog.errors import ConfigurationError, StoreError
from cdlog.log.sealing import SealedEvent
from cdlog.projections.viewstate import UPSTREAM, ViewState, ViewTables, relation_names
from cdlog.store.sqlitepool import CdlogSQLiteDatastore, OpeningSQLitePool
from cdlog.store.urls import lock_timeout

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

ENTRY_COLUMNS = ("position", "seq", "stream", "version", "hash", "type", "kind", "key",
                 "occurred_from", "occurred_to", "occurred_us", "recorded", "recorded_us",
                 "data")

DDL = [
    "CREATE TABLE IF NOT EXISTS view_meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS entries ("
    " position INTEGER NOT NULL, seq INTEGER NOT NULL,"
    " stream TEXT NOT NULL, version INTEGER NOT NULL, hash TEXT NOT NULL,"
    " type TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,"
    " occurred_from TEXT NOT NULL, occurred_to TEXT NOT NULL, occurred_us INTEGER NOT NULL,"
    " recorded TEXT NOT NULL, recorded_us INTEGER NOT NULL, data TEXT NOT NULL,"
    " PRIMARY KEY (position, seq))",
    "CREATE INDEX IF NOT EXISTS entries_stream ON entries (stream, kind)",
    "CREATE INDEX IF NOT EXISTS entries_key ON entries (kind, key)",
]


def to_us(value: datetime) -> int:
    """Microseconds since the Unix epoch (UTC): the sortable form of an aware time."""
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def portable(sql: str) -> str:
    """Rewrite ``?`` placeholders for drivers that use ``%s`` (psycopg)."""
    return sql.replace("?", "%s")


class NewEntry(NamedTuple):
    """What a view extracts from one event: a kind, a key and a JSON document.

    A named tuple (immutable, like the frozen dataclass it was, and built in a fraction of
    its time: views make one or two per event)."""

    kind: str
    key: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Entry:
    """A stored entry with the coordinates of the event it rests on."""

    position: int
    seq: int
    stream: str
    version: int
    hash: str
    type: str
    kind: str
    key: str
    occurred_from: datetime
    occurred_to: datetime
    recorded: datetime
    data: dict[str, Any]

    @property
    def at(self) -> datetime:
        """When it happened (the latest instant of a window)."""
        return self.occurred_to

    def time(self, name: str) -> datetime:
        """Parse a time field of the entry's document."""
        return parse_time(str(self.data[name]), name)

    def opt_time(self, name: str) -> datetime | None:
        """Parse an optional time field of the entry's document."""
        value = self.data.get(name)
        return None if value is None else parse_time(str(value), name)


_ENTRY_FIELDS = ("position", "seq", "stream", "version", "hash", "type", "kind", "key",
                 "occurred_from", "occurred_to", "recorded", "data")
_PLAIN_ENTRY = (tuple(f.name for f in dataclasses.fields(Entry)) == _ENTRY_FIELDS
                and not hasattr(Entry, "__slots__") and not hasattr(Entry, "__post_init__"))


def select_sql(where: str = "") -> str:
    """The statement reading a view's entries matching ``where`` (SQL over
    :data:`ENTRY_COLUMNS`; empty: all of them) in log order."""
    condition = f" WHERE {where}" if where else ""
    return (f"SELECT {','.join(ENTRY_COLUMNS)} FROM entries{condition}"  # noqa: S608
            " ORDER BY position, seq")


def entry_from_row(row: Sequence[Any]) -> Entry:
    """Build an :class:`Entry` from a row in :data:`ENTRY_COLUMNS` order.

    Every field is given, so the instance dictionary is filled directly: the same object as
    ``Entry(**fields)`` without the frozen dataclass's ``object.__setattr__`` per field
    (entries are built for every row a query or a handler reads).
    """
    fields = {"position": int(row[0]), "seq": int(row[1]), "stream": str(row[2]),
              "version": int(row[3]), "hash": str(row[4]), "type": str(row[5]),
              "kind": str(row[6]), "key": str(row[7]),
              "occurred_from": parse_time(str(row[8])),
              "occurred_to": parse_time(str(row[9])), "recorded": parse_time(str(row[11])),
              "data": orjson.loads(row[13])}
    if not _PLAIN_ENTRY:  # the class changed shape: build it the ordinary way
        return Entry(**fields)
    entry: Entry = object.__new__(Entry)
    entry.__dict__.update(fields)
    return entry


class Processed:
    """One event of the log, decoded once for every view: its notification position, its
    hash (from the sealed event, or given in hex), its fact and its shard."""

    __slots__ = ("_columns", "_envelope", "fact", "hash_hex", "position", "shard")

    def __init__(self, position: int, sealed: SealedEvent | str, fact: Fact,
                 shard: int = 0) -> None:
        self.position = position
        self.fact = fact
        self.shard = shard
        """Which of a view's two files takes the event's entries (its stream's)."""
        self._envelope: Mapping[str, Any] | None = None
        if isinstance(sealed, str):
            self.hash_hex = sealed
        else:
            self.hash_hex = sealed.hash_hex
            self._envelope = _stored_times(sealed.envelope)
        self._columns: tuple[tuple[Any, ...], tuple[Any, ...], dict[str, Any],
                             list[str] | None] | None = None

    def _shared(self) -> tuple[tuple[Any, ...], tuple[Any, ...], dict[str, Any],
                               list[str] | None]:
        """What every entry of this event shares, computed once for all views: the columns
        before ``kind``/``key``, those after, the actor's JSON and the cosigners' ids."""
        if self._columns is not None:
            return self._columns
        if _VIEW_SHARED is not None:
            done: Shared | None = _VIEW_SHARED(self.fact, self._envelope, self.hash_hex,
                                               _CANONICAL_TIME, format_time, actor_json)
            if done is not None:
                self._columns = done
                return done
        self._columns = shared_pure(self.fact, self._envelope, self.hash_hex)
        return self._columns

    def rows(self, new: Sequence[NewEntry]) -> list[tuple[Any, ...]]:
        """The stored rows (:data:`ENTRY_COLUMNS`) of the entries one view took from this
        event: the event's coordinates and times, and each document with the actor and the
        cosigners added unless it names its own."""
        head, tail, actor, cosigners = self._shared()
        if _VIEW_ROWS is not None:
            done: list[tuple[Any, ...]] | None = _VIEW_ROWS(
                self.position, head, tail, actor, cosigners, new, orjson.dumps,
                orjson.OPT_SORT_KEYS, NewEntry)
            if done is not None:
                return done
        return rows_pure(self.position, head, tail, actor, cosigners, new)


def _stored_times(envelope: Mapping[str, Any]) -> Mapping[str, Any]:
    """What the rows take of an event's envelope: its stored ``occurred`` and ``recorded``
    (a missing one as None, which both readers treat as missing). Only these are kept, so the
    rest of the envelope (the payload's parsed JSON above all) is freed once the event is
    decoded instead of staying alive until every view has written the page: a catch-up's
    page then holds about half the memory, and runs faster (docs/PERFORMANCE.md, round 11)."""
    if type(envelope) is not dict:
        return envelope
    return {"occurred": envelope.get("occurred"), "recorded": envelope.get("recorded")}


Shared = tuple[tuple[Any, ...], tuple[Any, ...], dict[str, Any], list[str] | None]
"""What every entry of an event shares: the columns before ``kind``/``key``, those after,
the actor's JSON and the cosigners' ids (None without cosigners)."""


def shared_pure(fact: Fact, env: Mapping[str, Any] | None, hash_hex: str) -> Shared:
    """:meth:`Processed._shared` in Python (the reference of the native ``view_shared``,
    which answers for an instant, not a window, in aware times): each time's stored text
    where it is canonical, else the time formatted."""
    occurred = fact.occurred
    at = occurred.at  # Occurred.start and .end, without the two property calls
    if at is not None:
        start = end = at
    else:
        start, end = occurred.start, occurred.end
    stored = env.get("occurred") if env is not None else None
    if type(stored) is not dict:
        stored = _NO_TIMES
    recorded = fact.recorded
    end_text = _text(stored.get("to", stored.get("at")), end)
    start_text = end_text if start is end else _text(stored.get("from"), start)
    head = (fact.stream, fact.version, hash_hex, fact.type)
    tail = (start_text, end_text, to_us(end),
            _text(env.get("recorded") if env is not None else None, recorded),
            to_us(recorded))
    cosigners = [c.id for c in fact.cosigners] if fact.cosigners else None
    return (head, tail, actor_json(fact.actor), cosigners)


def rows_pure(position: int, head: tuple[Any, ...], tail: tuple[Any, ...],
              actor: dict[str, Any], cosigners: list[str] | None,
              new: Sequence[NewEntry]) -> list[tuple[Any, ...]]:
    """The rows of :meth:`Processed.rows` from its shared columns, in Python (the reference
    of the native ``view_rows``, which answers for a list of :class:`NewEntry` whose
    documents are dicts)."""
    out = []
    for seq, entry in enumerate(new):
        data = dict(entry.data)
        data.setdefault("actor", actor)
        if cosigners is not None:
            data.setdefault("cosigners", cosigners)
        out.append((position, seq, *head, entry.kind, entry.key, *tail,
                    orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()))
    return out


_CANONICAL_TIME = _native.speedups.canonical_time if _native.speedups is not None else None
_VIEW_ROWS = getattr(_native.speedups, "view_rows", None)  # None: pure, or an older build
_VIEW_SHARED = getattr(_native.speedups, "view_shared", None)


_NO_TIMES: Mapping[str, Any] = {}


def _text(stored: Any, value: datetime) -> str:
    """The canonical text of ``value``: its stored text when the native check says that is
    already canonical (the same text, without formatting it again), else formatted."""
    if type(stored) is str and _CANONICAL_TIME is not None and _CANONICAL_TIME(stored) is True:
        return stored
    return format_time(value)


_ACTORS: dict[int, tuple[Officer, dict[str, Any]]] = {}
_ACTORS_KEPT = 1024


def actor_json(officer: Officer) -> dict[str, Any]:
    """An officer's JSON form as entries store it (shared: callers must not change it).

    Remembered by identity (the log's decoding hands out the same officer for the same
    party); the officer is kept with its JSON, so an id is never reused while remembered.
    """
    known = _ACTORS.get(id(officer))
    if known is not None and known[0] is officer:
        return known[1]
    dumped: dict[str, Any] = officer.model_dump(mode="json", exclude_none=True)
    if len(_ACTORS) >= _ACTORS_KEPT:
        _ACTORS.clear()
    _ACTORS[id(officer)] = (officer, dumped)
    return dumped


class Prior(Protocol):
    """Entries a view wrote before the current event (inside the same transaction).

    A handler reads only entries of the stream of the event it handles: a view's SQLite
    storage keeps each half of the cases in a file of its own, and two processes may write
    the two at once (:mod:`cdlog.projections.shards`). Asking for another stream is a
    :class:`~cdlog.errors.ConfigurationError`."""

    def entries(self, stream: str, kinds: Iterable[str]) -> list[Entry]:
        """Entries of ``stream`` (the current event's) of the given kinds, in log order."""
        ...


Handler = Callable[[Fact, Prior], list[NewEntry]]


class ViewStore(Protocol):
    """What the projector needs of a view's storage (SQLite now, PostgreSQL later)."""

    name: str

    def position(self) -> int:
        """The notification id of the last event applied (0 when none)."""
        ...

    def state(self) -> ViewState:
        """The position, migration row and metadata, in one statement."""
        ...

    def write(self, batch: Sequence[Processed], upto: int, handler: Handler) -> None:
        """Apply ``batch`` and move the tracking position to ``upto``, in one transaction."""
        ...

    def reset(self) -> None:
        """Forget every entry and the tracking position (for a rebuild)."""
        ...

    def select(self, where: str = "", params: Sequence[Any] = ()) -> list[Entry]:
        """Entries matching an SQL condition, in log order."""
        ...

    def meta(self, name: str) -> str | None:
        """A stored metadata value."""
        ...

    def set_meta(self, name: str, value: str) -> None:
        """Store a metadata value."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class _ViewConnectionPool(OpeningSQLitePool):
    """Connections with ``synchronous=NORMAL``: a view is a rebuildable cache, and in WAL mode
    a lost tail loses the tracking row with the rows, so catch-up redoes exactly that.

    The write-ahead log is copied back into the file every :data:`WAL_PAGES` pages (SQLite's
    default is 1,000, 4 MiB), and cut back to :data:`WAL_BYTES` after: a catch-up far behind
    writes a view's file whole, and each copy waits for the disk (with two processes
    writing, a catch-up of 100k events ran 1 to 4 us an event longer in wall time than in
    CPU time; docs/PERFORMANCE.md, round 11)."""

    def set_up(self, conn: sqlite3.Connection) -> None:
        """``synchronous=NORMAL`` and the checkpoint sizes on each new connection."""
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(f"PRAGMA wal_autocheckpoint={WAL_PAGES}")
        conn.execute(f"PRAGMA journal_size_limit={WAL_BYTES}")


WAL_PAGES = 10_000
"""Pages of a view file's write-ahead log after which it is copied back (40 MiB)."""
WAL_BYTES = 64 * 1024 * 1024
"""The size a view file's write-ahead log is cut back to after a copy."""


class _ViewDatastore(CdlogSQLiteDatastore):
    """A view's datastore: its errors name the view's file (a damaged, read-only or locked
    view is a :class:`~cdlog.errors.StoreError`, as the log's store is)."""

    pool_class = _ViewConnectionPool

    def __init__(self, db_name: str) -> None:
        super().__init__(db_name, lock_timeout=lock_timeout(), pool_size=2, max_overflow=2)


class PagePrior:
    """The :class:`Prior` of one write transaction, which inserts its rows only at its end.

    ``load(stream, kinds)`` reads the entries stored before the transaction (in log order);
    rows the handlers produced since (:meth:`add`) follow them. What was asked once is
    remembered for the rest of the transaction and extended as rows are added (turned into
    entries when next asked for), so a stream is read from the database at most once per set
    of kinds. Rows are indexed by stream only once a handler first asks (most never do).

    With ``present`` (which of the given streams have stored entries, in one statement) and
    ``streams`` (the streams of the page's events), the first question asks ``present`` once
    for all the page's streams, and a stream of the page without stored entries is not read
    at all (in a rebuild, most streams begin within the page).
    """

    def __init__(self, load: Callable[[str, list[str]], list[Entry]],
                 present: Callable[[list[str]], set[str]] | None = None,
                 streams: Callable[[], Iterable[str]] | None = None) -> None:
        self._load = load
        self._present = present
        self._streams = streams
        self._absent: set[str] | None = None
        self._pending: dict[str, list[tuple[Any, ...]]] | None = None
        self._known: dict[str, dict[frozenset[str], tuple[list[Entry],
                                                          list[tuple[Any, ...]]]]] = {}
        self.rows: list[tuple[Any, ...]] = []
        self.stream: str | None = None
        """The stream of the event being handled (None: any may be asked for)."""

    def _stored(self, stream: str, kinds: list[str]) -> list[Entry]:
        """The entries of ``stream`` stored before the transaction (``load``, unless the page's
        one ``present`` statement said it has none)."""
        if self._present is not None and self._streams is not None:
            if self._absent is None:
                page = sorted(set(self._streams()))
                self._absent = set(page) - self._present(page)
            if stream in self._absent:
                return []
        return self._load(stream, kinds)

    def entries(self, stream: str, kinds: Iterable[str]) -> list[Entry]:
        """Entries of ``stream`` of the given kinds, in log order."""
        if self.stream is not None and stream != self.stream:
            raise ConfigurationError(
                f"a view's handler asked for the entries of stream {stream!r} while handling "
                f"an event of {self.stream!r}; a view reads only the entries of the stream "
                "of the event it handles (each half of the cases is kept apart)")
        if self._pending is None:
            self._pending = {}
            for row in self.rows:
                self._pending.setdefault(row[2], []).append(row)
        wanted = frozenset(kinds)
        by_kinds = self._known.setdefault(stream, {})
        known = by_kinds.get(wanted)
        if known is None:
            known = by_kinds[wanted] = (self._stored(stream, sorted(wanted)), [
                r for r in self._pending.get(stream, ()) if r[6] in wanted])
        entries, added = known
        if added:
            entries.extend(entry_from_row(r) for r in added)
            added.clear()
        return list(entries)

    def add(self, stream: str, rows: list[tuple[Any, ...]]) -> None:
        """Rows of the next event, to be inserted at the end of the transaction."""
        self.rows.extend(rows)
        if self._pending is not None:
            self._pending.setdefault(stream, []).extend(rows)
            for kinds, (_, added) in self._known.get(stream, {}).items():
                added.extend(r for r in rows if r[6] in kinds)


def page_streams(batch: Sequence[Processed]) -> Callable[[], Iterable[str]]:
    """The streams of ``batch``'s events, computed when first asked (for :class:`PagePrior`)."""
    return lambda: {item.fact.stream for item in batch}


def apply(batch: Sequence[Processed], handler: Handler, prior: PagePrior) -> list[tuple[Any, ...]]:
    """Run ``handler`` over ``batch`` in log order; return the rows of every entry."""
    for item in batch:
        prior.stream = item.fact.stream
        new = handler(item.fact, prior)
        if new:
            prior.add(item.fact.stream, item.rows(new))
    return prior.rows


_SELECT_PRIOR = (f"SELECT {','.join(ENTRY_COLUMNS)} FROM entries "  # noqa: S608
                 "WHERE stream=? AND kind IN ({marks}) ORDER BY position, seq")
_SELECT_PRESENT = "SELECT DISTINCT stream FROM entries WHERE stream IN ({marks})"
_PRESENT_CHUNK = 500
_INSERT = (f"INSERT INTO entries ({','.join(ENTRY_COLUMNS)}) "  # noqa: S608
           f"VALUES ({','.join('?' * len(ENTRY_COLUMNS))})")


_RELATIONS = ("tracking", *relation_names(DDL))


class SQLiteViewStore(ViewTables, _SQLiteTrackingRecorder):
    """A view in its own SQLite file: an eventsourcing tracking recorder plus ``entries``."""

    def __init__(self, path: Path, name: str) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"{path.parent.resolve()}: cannot create the views' folder: "
                             f"{exc.strerror or exc}") from exc
        super().__init__(_ViewDatastore(str(path)))
        self.name = name
        self.path = path
        self.opened = self._open_tables()

    def _open_tables(self) -> ViewState:
        """The view's state on opening; its tables are created only when the file lacks one
        (a catalogue read, no write transaction, when they are all there)."""
        found = self._read(f"SELECT name FROM sqlite_master WHERE name IN "  # noqa: S608
                           f"({','.join('?' * len(_RELATIONS))})", _RELATIONS)
        if len(found) < len(_RELATIONS):
            self.create_table()
        return self.settle(self.state())

    def _read(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(sql, list(params))
            return [tuple(r) for r in c.fetchall()]

    def _commit(self, sql: str, params: Sequence[Any]) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.execute(sql, list(params))

    def create_table(self) -> None:
        """Create the tables, safe against other processes creating them at the same moment.

        eventsourcing checks for the ``__migration__`` tracking row before its create
        transaction and inserts it inside; when another opener committed the row in between,
        the insert fails (``IntegrityError``) and the whole transaction rolls back. The other
        opener's transaction created every table, so the retry finds the row and inserts
        nothing.
        """
        for attempt in range(5):
            try:
                super().create_table()
                return
            except IntegrityError:
                if attempt == 4 or not self.max_tracking_id(self.table_migration_identifier):
                    raise
                self.tracking_table_exists = False
                self.tracking_migration_previous = self.tracking_migration_current = None

    def construct_create_table_statements(self) -> list[str]:
        """The tracking table plus the view's own tables."""
        statements: list[str] = super().construct_create_table_statements()
        return statements + DDL

    def write(self, batch: Sequence[Processed], upto: int, handler: Handler) -> None:
        """Insert the entries of ``batch`` and the tracking position, in one transaction.

        Raises eventsourcing's ``IntegrityError`` (and writes nothing) when another writer
        already moved this view to ``upto`` or beyond.
        """
        with self.datastore.transaction(commit=True) as c:
            # The tracking upsert goes first: it takes SQLite's write lock before anything is
            # read, so the handler's reads see the latest rows (a read-then-write transaction
            # would fail at once with "database is locked" when another writer committed).
            self._insert_tracking(c, Tracking(UPSTREAM, upto))

            def load(stream: str, kinds: list[str]) -> list[Entry]:
                c.execute(_SELECT_PRIOR.format(marks=",".join("?" * len(kinds))),
                          [stream, *kinds])
                return [entry_from_row(r) for r in c.fetchall()]

            def present(streams: list[str]) -> set[str]:
                found: set[str] = set()
                for at in range(0, len(streams), _PRESENT_CHUNK):
                    chunk = streams[at:at + _PRESENT_CHUNK]
                    c.execute(_SELECT_PRESENT.format(marks=",".join("?" * len(chunk))), chunk)
                    found.update(r[0] for r in c.fetchall())
                return found

            rows = apply(batch, handler, PagePrior(load, present, page_streams(batch)))
            if rows:
                c.executemany(_INSERT, rows)

    def reset(self) -> None:
        """Forget every entry and the tracking position, in one transaction."""
        with self.datastore.transaction(commit=True) as c:
            c.execute("DELETE FROM entries")
            c.execute("DELETE FROM tracking WHERE application_name=?", [UPSTREAM])

    def select(self, where: str = "", params: Sequence[Any] = ()) -> list[Entry]:
        """Entries matching an SQL condition over :data:`ENTRY_COLUMNS`, in log order."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(select_sql(where), list(params))
            return [entry_from_row(r) for r in c.fetchall()]

    def dump(self) -> list[tuple[Any, ...]]:
        """Every row of the view and its tracking position (for equality checks)."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(select_sql())
            rows = [tuple(r) for r in c.fetchall()]
        return [*rows, ("tracking", self.position())]

    def close(self) -> None:
        """Release connections."""
        self.datastore.close()


def fingerprint(*parts: str) -> str:
    """A short digest of what a view's content depends on (schema, configuration)."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:16]
