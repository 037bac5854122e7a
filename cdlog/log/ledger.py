"""The global Merkle log, kept in the store in the same transaction as the events.

Every stored event is one leaf of an RFC 6962 tree, in log (notification-id) order. The leaf
hash is :func:`cdlog.log.sealing.leaf_hash` of the stored sealed bytes, which is also the event
hash the case chain links to. :class:`CdlogSQLiteApplicationRecorder` extends eventsourcing's
SQLite application recorder: in the very transaction that inserts a batch of events it appends
one leaf per event and writes

``merkle_leaves(leaf_index, notification_id, originator_id, originator_version)``
    one row per leaf; leaf indices are 0-based and gap-free even where notification ids are
    not (PostgreSQL may skip ids after a rolled-back insert; that is not tampering);
``merkle_nodes(level, idx, hash)``
    every *complete* subtree hash, from :func:`cdlog.log.merkle.append_positions`; level 0 holds
    the leaf hashes. Any root or proof reads ``O(log n)`` of these rows.

Signed checkpoints and the witness cosignatures the log received live in the same file
(``checkpoints`` and ``cosignatures``); see :mod:`cdlog.log.checkpoint_signing`.

All SQL text is in :class:`SQLiteLedgerSQL` and its twin :class:`PostgresLedgerSQL`; one code
path (:class:`LedgerCursor`) runs either dialect.
:class:`cdlog.log.pgledger.CdlogPostgresApplicationRecorder` (a module of its own, so that SQLite
stores need no PostgreSQL driver) extends eventsourcing's PostgreSQL application recorder the
same way: its insert transaction takes
the events table's ``EXCLUSIVE`` lock, inserts the events and then appends their leaves, so leaf
order is commit order and leaf indices stay gap-free where notification ids skip. On PostgreSQL
the Merkle tables are named after the events table (``cdlog_merkle_leaves``, ...) and live in the
store's schema.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any, cast

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteDatastore

from cdlog.errors import (
    ConfigurationError,
    ContextChangedError,
    Failure,
    NotFoundError,
    VerificationError,
)
from cdlog.log.frontier import FrontierCache, frontier_positions
from cdlog.log.ledger_rows import (
    CheckpointRow,
    CosignatureRow,
    EventRow,
    LeafRow,
    _bytes,
    _checkpoint,
    _event,
    _int,
    _leaf,
)
from cdlog.log.ledger_sql import ROWS_PER_INSERT, LedgerSQL, SQLiteLedgerSQL
from cdlog.log.merkle import HASH_SIZE, append_positions, node_hash, tree_root
from cdlog.log.sealing import leaf_hash
from cdlog.restricted.vault_store import SQLITE_VAULT_SQL, VaultSQL, apply_vault
from cdlog.store.sqlitepool import CdlogSQLiteDatastore
from cdlog.store.urls import redact_url

RECORDER_TOPIC = "cdlog.log.ledger:CdlogSQLiteApplicationRecorder"
POSTGRES_RECORDER_TOPIC = "cdlog.log.pgledger:CdlogPostgresApplicationRecorder"
PAGE = 1000
_FIRST = -(2**62)  # below any notification id


class LedgerCursor:
    """The Merkle-log tables seen through one database cursor (one transaction).

    Implements :class:`cdlog.log.merkle.HashReader`. Within a write transaction, hashes written
    through :meth:`append` are served from memory as well as from the table.
    """

    def __init__(self, cursor: Any, sql: LedgerSQL, events_table: str,
                 frontier: FrontierCache | None = None) -> None:
        self._c = cursor
        self.sql = sql
        self._events = events_table
        self._frontier = frontier
        self._written: dict[tuple[int, int], bytes] = {}
        self._leaf_rows: list[tuple[int, int, str, int]] = []
        self._node_rows: list[tuple[int, int, bytes]] = []

    # ------------------------------------------------------------ raw access
    def _all(self, statement: str, params: Sequence[Any] = ()) -> list[Any]:
        self._c.execute(statement, tuple(params))
        return list(self._c.fetchall())

    def each(self, statement: str, params: Sequence[Any] = (), page: int = PAGE) -> Iterator[Any]:
        """The rows of ``statement`` a page at a time (memory bounded by the page, not the
        result); the cursor runs nothing else until the iterator is exhausted."""
        self._c.execute(statement, tuple(params))
        cursor = getattr(self._c, "sqlite_cursor", self._c)  # eventsourcing's SQLite wrapper
        while rows := cursor.fetchmany(page):
            yield from rows

    def _one(self, statement: str, params: Sequence[Any] = ()) -> Any:
        self._c.execute(statement, tuple(params))
        return self._c.fetchone()

    # ------------------------------------------------------------ tree
    def last_leaf(self) -> LeafRow | None:
        """The leaf row with the largest index, or None for an empty tree."""
        row = self._one(self.sql.last_leaf)
        return None if row is None else _leaf(row)

    def leaf_count(self) -> int:
        """Number of rows in ``merkle_leaves`` (a full count; for audits and tests)."""
        return int(self._one(self.sql.count_leaves)[0])

    def size(self) -> int:
        """The tree size: the number of leaves appended (max leaf index + 1)."""
        last = self.last_leaf()
        return 0 if last is None else last.leaf_index + 1

    def read_hashes(self, positions: Sequence[tuple[int, int]]) -> list[bytes]:
        """Return the stored hashes at ``(level, idx)``; NotFoundError if one is missing."""
        found: dict[tuple[int, int], bytes] = {}
        wanted = []
        for pos in positions:
            if pos in self._written:
                found[pos] = self._written[pos]
            else:
                wanted.append(pos)
        for start in range(0, len(wanted), 200):
            chunk = wanted[start:start + 200]
            statement = self.sql.select_nodes.format(", ".join([self.sql.node_values]
                                                               * len(chunk)))
            params = [v for pos in chunk for v in pos]
            for row in self._all(statement, params):
                found[(int(row[0]), int(row[1]))] = _bytes(
                    row[2], f"the Merkle node row {tuple(row[:2])!r}", "hash")
        missing = [p for p in positions if p not in found]
        if missing:
            raise NotFoundError(f"the Merkle tree has no stored hash at (level, index) "
                                f"{missing[0]}: the merkle_nodes table is incomplete")
        return [found[p] for p in positions]

    def level_range(self, level: int, lo: int, hi: int) -> dict[int, bytes]:
        """Stored hashes of ``level`` with ``lo <= idx < hi``."""
        return {int(r[0]): r[1] if type(r[1]) is bytes  # (what _bytes returns for bytes)
                else _bytes(r[1], f"the Merkle node row {(level, r[0])!r}", "hash")
                for r in self._all(self.sql.select_level_range, (level, lo, hi))}

    def plain_rows(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of ``statement`` as plain tuples, as SQL gives them (the tree audit's
        native step takes them as they are; this cursor's row factory is put back after)."""
        raw = getattr(self._c, "sqlite_cursor", None)  # eventsourcing's SQLite wrapper
        if raw is None:
            return self._all(statement, params)  # PostgreSQL: a tuple-row cursor already
        factory = raw.row_factory
        raw.row_factory = None
        try:
            raw.execute(statement, tuple(params))
            return list(raw.fetchall())
        finally:
            raw.row_factory = factory

    def leaf_tuples(self, start: int, limit: int) -> list[tuple[Any, ...]]:
        """The rows :meth:`leaves` reads, as plain tuples."""
        return self.plain_rows(self.sql.leaves_page, (start, limit))

    def event_tuples(self, notification_id: int, limit: int) -> list[tuple[Any, ...]]:
        """The rows :meth:`events_after` reads, as plain tuples."""
        return self.plain_rows(self.sql.events_after.format(events=self._events),
                               (notification_id, limit))

    def level_tuples(self, level: int, lo: int, hi: int) -> list[tuple[Any, ...]]:
        """The rows :meth:`level_range` reads, as plain ``(idx, hash)`` tuples."""
        return self.plain_rows(self.sql.select_level_range, (level, lo, hi))

    def node_count(self) -> int:
        """Number of rows in ``merkle_nodes``."""
        return int(self._one(self.sql.count_nodes)[0])

    def nodes_beyond(self, size: int, limit: int = 10) -> list[tuple[int, int]]:
        """Stored node positions that cover a leaf at or past ``size`` (none in a sound store)."""
        return [(int(r[0]), int(r[1])) for r in self._all(self.sql.select_nodes_beyond,
                                                           (size, limit))]

    def context_between(self, after: int, before: int, topics: Sequence[str]
                        ) -> tuple[int, str] | None:
        """The first event of ``topics`` strictly between two notification ids, if any."""
        statement = self.sql.context_between.format(
            events=self._events, topics=", ".join([self.sql.mark] * len(topics)))
        row = self._one(statement, (after, before, *topics))
        return None if row is None else (int(row[0]), str(row[1]))

    def root(self, size: int | None = None) -> bytes:
        """The RFC 6962 root of the first ``size`` leaves (default: the whole tree)."""
        return tree_root(self, self.size() if size is None else size)

    def append(self, notification_id: int, originator_id: str, version: int,
               leaf: bytes, index: int) -> None:
        """Append leaf ``index`` (the tree had ``index`` leaves) and its completed parents."""
        self._stage(notification_id, originator_id, version, leaf, index)
        self._flush()

    def _stage(self, notification_id: int, originator_id: str, version: int,
               leaf: bytes, index: int) -> None:
        """Compute leaf ``index``'s rows (served from memory until :meth:`_flush` writes)."""
        self._leaf_rows.append((index, notification_id, originator_id, version))
        for level, idx, value in append_positions(index, leaf, self):
            self._node_rows.append((level, idx, value))
            self._written[(level, idx)] = value

    def _flush(self) -> None:
        """Write the staged leaf and node rows: per table one statement with array parameters
        (PostgreSQL), or statements of :data:`ROWS_PER_INSERT` rows and the rest row by row
        (SQLite)."""
        sql = self.sql
        for rows, one, bulk, many in (
                (self._leaf_rows, sql.insert_leaf, sql.insert_leaves_bulk, sql.insert_leaves_many),
                (self._node_rows, sql.insert_node, sql.insert_nodes_bulk, sql.insert_nodes_many)):
            if len(rows) > 1 and bulk:
                self._c.execute(bulk, [list(column) for column in zip(*rows, strict=True)])
                continue
            whole = len(rows) - len(rows) % ROWS_PER_INSERT if many else 0
            for start in range(0, whole, ROWS_PER_INSERT):
                self._c.execute(many, [v for row in rows[start:start + ROWS_PER_INSERT]
                                       for v in row])
            if whole < len(rows):
                self._c.executemany(one, rows[whole:])
        self._leaf_rows, self._node_rows = [], []

    def tail_query(self) -> tuple[str, tuple[int]]:
        """The statement and parameters of the tail read :meth:`append_events` makes after
        the events' insert (the last leaf, and how many events follow it), for a caller that
        sends it together with the insert (PostgreSQL's pipeline) and hands its row in."""
        return self.sql.tail.format(events=self._events), (_FIRST,)

    def append_events(self, rows: Sequence[tuple[int, str, int, bytes]],
                      context_since: int | None = None,
                      context_topics: Sequence[str] = (),
                      tail: Sequence[Any] | None = None) -> None:
        """Append ``(notification_id, originator_id, version, leaf hash)`` rows (see
        :func:`leaf_rows`) in that order.

        Refuses (VerificationError) when other events than these follow the last leaf: they
        were written outside cdlog, or a leaf row was removed; the store needs ``cdlog verify``.
        With ``context_since``, refuses (:class:`~cdlog.errors.ContextChangedError`) when
        another writer committed an event of ``context_topics`` after that position: the
        events were prepared against keys that may have changed. ``tail`` is the row of
        :meth:`tail_query` when the caller read it in this transaction after the insert.
        """
        if not rows:
            return
        if context_since is not None and context_topics and rows[0][0] > context_since + 1:
            moved = self.context_between(context_since, rows[0][0], context_topics)
            if moved is not None:
                raise ContextChangedError(*moved)
        if tail is None:
            tail = self._one(*self.tail_query())
        last = None if tail[0] is None else _leaf(tail)
        size = 0 if last is None else last.leaf_index + 1
        last_nid = _FIRST if last is None else last.notification_id
        behind = int(tail[4])
        if behind != len(rows) or min(r[0] for r in rows) <= last_nid:
            raise VerificationError.at(
                "<log>", None, "merkle", f"{behind - len(rows)} stored event(s) after leaf "
                f"{size - 1} have no leaf in the Merkle log (written outside cdlog, or leaf "
                "rows removed); refusing to append; run `cdlog verify`")
        if self._frontier is not None:
            known = {} if last is None else self._frontier.get(
                (size, last.notification_id, last.originator_id, last.originator_version))
            if known or last is None:
                self._append_on_frontier(rows, size, known, self._frontier)
                return
            self._written.update(known)
        for notification_id, originator_id, version, leaf in rows:
            self._stage(notification_id, originator_id, version, leaf, size)
            size += 1
        self._flush()
        if self._frontier is not None:
            nid, originator_id, version, _ = rows[-1]
            positions = frontier_positions(size)
            self._frontier.stage((size, nid, originator_id, version),
                                 dict(zip(positions, self.read_hashes(positions), strict=True)))

    def _append_on_frontier(self, rows: Sequence[tuple[int, str, int, bytes]], size: int,
                            frontier: dict[tuple[int, int], bytes], cache: FrontierCache
                            ) -> None:
        """Append ``rows`` to a tree of ``size`` leaves whose frontier (the hashes at
        :func:`frontier_positions` of ``size``) this process committed: leaf rows, node rows
        and the next frontier in one pass, with no hash read (the rows of :meth:`_stage` and
        :func:`~cdlog.log.merkle.append_positions`, bottom-up; the frontier test holds them
        equal)."""
        leaf_rows, node_rows = self._leaf_rows, self._node_rows
        for notification_id, originator_id, version, leaf in rows:
            leaf_rows.append((size, notification_id, originator_id, version))
            node_rows.append((0, size, leaf))
            current = leaf
            level = 0
            while (size >> level) & 1:  # the left siblings: the frontier's lowest subtrees
                current = node_hash(frontier.pop((level, (size >> level) - 1)), current)
                level += 1
                node_rows.append((level, size >> level, current))
            frontier[(level, size >> level)] = current
            size += 1
        self._flush()
        nid, originator_id, version, _ = rows[-1]
        cache.stage((size, nid, originator_id, version), frontier)

    def catch_up(self) -> int:
        """Give leaves to the events of a store written before the tree existed.

        Runs only on a store whose Merkle tables are all empty (a migration); return how many
        leaves were appended.
        """
        if self._one(self.sql.any_rows)[0] or not self.events_after(_FIRST, 1):
            return 0
        self.lock()  # no writer may add events (and leaves) while the old ones get theirs
        if self._one(self.sql.any_rows)[0]:
            return 0
        last_nid = _FIRST
        added = 0
        while True:
            page = [_event(r) for r in self._all(self.sql.events_after.format(
                events=self._events), (last_nid, PAGE))]
            for e in page:
                self._stage(e.notification_id, e.originator_id, e.originator_version,
                            leaf_hash(e.state), added)
                added += 1
            self._flush()
            if len(page) < PAGE:
                return added
            last_nid = page[-1].notification_id

    # ------------------------------------------------------------ leaves and events
    def leaf_of_event(self, case_id: uuid.UUID | str, version: int) -> LeafRow | None:
        """The leaf of a case's event version, or None."""
        hex_id = case_id.hex if isinstance(case_id, uuid.UUID) else uuid.UUID(case_id).hex
        row = self._one(self.sql.leaf_by_event, (hex_id, version))
        return None if row is None else _leaf(row)

    def leaf_at(self, index: int) -> LeafRow | None:
        """The leaf row with ``leaf_index``, or None."""
        row = self._one(self.sql.leaf_by_index, (index,))
        return None if row is None else _leaf(row)

    def leaf_of_notification(self, notification_id: int) -> LeafRow | None:
        """The leaf row of an event by notification id, or None."""
        row = self._one(self.sql.leaf_by_notification, (notification_id,))
        return None if row is None else _leaf(row)

    def leaves(self, start: int = 0, limit: int = PAGE) -> list[LeafRow]:
        """Leaf rows from ``start`` on, by leaf index."""
        return [_leaf(r) for r in self._all(self.sql.leaves_page, (start, limit))]

    def leaves_of_case(self, case_id: uuid.UUID, below: int) -> list[LeafRow]:
        """The leaves of one case with index below ``below``, in leaf order."""
        return [_leaf(r) for r in self._all(self.sql.leaves_of_case, (case_id.hex, below))]

    def events_after(self, notification_id: int, limit: int = PAGE) -> list[EventRow]:
        """Event rows after a notification id, in log order."""
        return [_event(r) for r in self._all(self.sql.events_after.format(events=self._events),
                                             (notification_id, limit))]

    def event(self, notification_id: int) -> EventRow | None:
        """The event row with a notification id, or None."""
        row = self._one(self.sql.event_by_notification.format(events=self._events),
                        (notification_id,))
        return None if row is None else _event(row)

    def notifications_of_topic(self, topic: str) -> list[int]:
        """Notification ids of every event with ``topic``, in log order."""
        out: list[int] = []
        while True:
            page = [int(r[0]) for r in self._all(self.sql.notifications_of_topic.format(
                events=self._events), (topic, out[-1] if out else 0, PAGE))]
            out.extend(page)
            if len(page) < PAGE:
                return out

    # ------------------------------------------------------------ checkpoints
    def lock(self) -> None:
        """Take the store's write lock now (before reading what will be signed)."""
        self._c.execute(self.sql.lock.format(events=self._events))

    def checkpoints(self) -> list[CheckpointRow]:
        """Every stored checkpoint, by size."""
        return [_checkpoint(r) for r in self._all(self.sql.select_checkpoints)]

    def latest_checkpoint(self) -> CheckpointRow | None:
        """The stored checkpoint with the largest size, or None."""
        row = self._one(self.sql.latest_checkpoint)
        return None if row is None else _checkpoint(row)

    def checkpoint_at(self, size: int) -> CheckpointRow | None:
        """The stored checkpoint of ``size``, or None."""
        row = self._one(self.sql.checkpoint_at, (size,))
        return None if row is None else _checkpoint(row)

    def insert_checkpoint(self, row: CheckpointRow) -> None:
        """Store a signed checkpoint."""
        if len(row.root) != HASH_SIZE:
            raise ValueError("checkpoint root must be 32 bytes")
        self._c.execute(self.sql.insert_checkpoint, (row.size, row.root, row.note,
                                                     row.created_at))

    def cosignatures(self, size: int) -> list[CosignatureRow]:
        """The stored cosignature lines of the checkpoint of ``size``."""
        where = f"a cosignature row of the checkpoint of size {size}"
        return [CosignatureRow(str(r[0]), _bytes(r[1], where, "key_id"),
                               _int(r[2], where, "timestamp"), str(r[3]))
                for r in self._all(self.sql.select_cosignatures, (size,))]

    def insert_cosignature(self, size: int, cosig: CosignatureRow, received_at: str) -> None:
        """Store one cosignature line (a repeat of a stored one is ignored)."""
        self._c.execute(self.sql.insert_cosignature, (size, cosig.name, cosig.key_id,
                                                      cosig.timestamp, cosig.line,
                                                      received_at))


class LedgerRecorder:
    """What both cdlog application recorders offer beyond eventsourcing's: the Merkle log."""

    ledger_sql: LedgerSQL

    def ledger(self, cursor: Any) -> LedgerCursor:
        """The Merkle-log tables through ``cursor`` (a cursor of this recorder's datastore)."""
        raise NotImplementedError

    def read(self) -> AbstractContextManager[LedgerCursor]:
        """A read-only view of the log (one consistent snapshot)."""
        raise NotImplementedError

    def write(self) -> AbstractContextManager[LedgerCursor]:
        """A write transaction holding the store's write lock from the start."""
        raise NotImplementedError

    def command_events(self, originator_id: uuid.UUID, gt: int) -> Sequence[StoredEvent]:
        """A command's state read: ``select_events(originator_id, gt=gt)`` (SQLite: below)."""
        return cast("Sequence[StoredEvent]", cast(Any, self).select_events(originator_id, gt=gt))


def leaf_rows(ids: Sequence[int], stored_events: Sequence[StoredEvent],
              leaves: Sequence[bytes] | None = None) -> list[tuple[int, str, int, bytes]]:
    """``(notification_id, hex case id, version, leaf hash)`` per stored event, in log order;
    ``leaves`` are their hashes in the order of ``stored_events`` where the caller has them (a
    command's sealed events carry theirs, of the very bytes stored), else each is hashed here.
    """
    if len(ids) != len(stored_events):
        msg = f"the recorder returned {len(ids)} notification ids for {len(stored_events)} events"
        raise RuntimeError(msg)
    if leaves is None or len(leaves) != len(stored_events):
        leaves = [leaf_hash(s.state) for s in stored_events]
    return sorted((int(nid), s.originator_id.hex if isinstance(s.originator_id, uuid.UUID)
                   else str(s.originator_id), s.originator_version, leaf)
                  for nid, s, leaf in zip(ids, stored_events, leaves, strict=True))


class UndecodableRowError(VerificationError, ValueError):
    """A stored row whose case id eventsourcing cannot read (a rewritten or damaged row): a
    located verification failure, and still the ``ValueError`` eventsourcing's conversion
    raised, so readers that fall back to the raw rows on it (cdlog.verify) still do."""

    def __init__(self, value: object) -> None:
        super().__init__(Failure("<log>", None, "decode", f"a stored event's case id "
                                 f"{value!r} is not a UUID (the row was changed or damaged)"))


class CdlogSQLiteApplicationRecorder(LedgerRecorder, SQLiteApplicationRecorder):
    """SQLite application recorder that appends each event to the Merkle log as it is stored.

    Selected through ``APPLICATION_RECORDER_TOPIC`` (see :mod:`cdlog.store.urls`). The leaf rows
    and node hashes are written with the same cursor, in the same transaction, as the events:
    either the events and their leaves are committed together, or neither is.
    """

    ledger_sql: LedgerSQL = SQLiteLedgerSQL()
    vault_sql: VaultSQL = SQLITE_VAULT_SQL

    def __init__(self, datastore: SQLiteDatastore, events_table_name: str = "stored_events"
                 ) -> None:
        self.frontier = FrontierCache()
        super().__init__(datastore, events_table_name)
        self.command_events_statement = (  # the table's name is cdlog's own, not input
            f"SELECT originator_version, topic, state FROM {self.events_table_name} "  # noqa: S608
            "WHERE originator_id=? AND originator_version>? ORDER BY originator_version")

    def convert_originator_id(self, originator_id: str) -> uuid.UUID | str:
        """A stored case id as a UUID; one that is none raises :class:`UndecodableRowError`
        (a verification failure, not a bare ``ValueError``)."""
        try:
            return super().convert_originator_id(originator_id)
        except (TypeError, ValueError):
            raise UndecodableRowError(originator_id) from None

    def construct_create_table_statements(self) -> list[str]:
        """The events table plus the Merkle-log tables and the restricted-data vault."""
        return [*super().construct_create_table_statements(), *self.ledger_sql.create,
                *self.vault_sql.create]

    def max_notification_id(self) -> int:
        """The newest notification id (None for an empty log, as eventsourcing's), read with
        :meth:`~cdlog.store.sqlitepool.CdlogSQLiteDatastore.glance`: the freshness look every
        command takes, without a pooled transaction around it."""
        if isinstance(self.datastore, CdlogSQLiteDatastore):
            newest: int = self.datastore.glance(self.select_max_notification_id_statement)
            return newest
        return super().max_notification_id()

    def command_events(self, originator_id: uuid.UUID, gt: int) -> Sequence[StoredEvent]:
        """A command's state read, with :meth:`~cdlog.store.sqlitepool.CdlogSQLiteDatastore.look`
        on the connection the commands keep: no pooled hand-out, no page cache read again
        (about 45 -> 10 µs a new case); other reads keep the pool, never waiting on a command."""
        if not isinstance(self.datastore, CdlogSQLiteDatastore):
            return super().command_events(originator_id, gt)
        rows = self.datastore.look(self.command_events_statement, (originator_id.hex, gt))
        return [StoredEvent(originator_id=originator_id, originator_version=version,
                            topic=topic, state=state) for version, topic, state in rows]

    def _create_table(self, c: Any) -> None:
        super()._create_table(c)
        # A store written before the tree existed gets its leaves here (see catch_up).
        self.ledger(c).catch_up()

    def insert_events(self, stored_events: Sequence[StoredEvent],
                      **kwargs: Any) -> Sequence[int] | None:
        """Insert the events and their leaves in one transaction (on the datastore's own
        connection for commands, :meth:`CdlogSQLiteDatastore.command_transaction`)."""
        try:
            if isinstance(self.datastore, CdlogSQLiteDatastore):
                with self.datastore.command_transaction() as c:
                    ids = self._insert_events(c, stored_events, **kwargs)
            else:
                ids = super().insert_events(stored_events, **kwargs)
        except BaseException:
            self.frontier.discard()
            raise
        self.frontier.publish()
        return ids

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent],
                       **kwargs: Any) -> Sequence[int] | None:
        ids = super()._insert_events(c, stored_events, **kwargs)
        if ids is None:
            msg = "the SQLite recorder returned no notification ids"
            raise RuntimeError(msg)
        # The inserts above hold the write lock, so the tree size read now is the latest.
        LedgerCursor(c, self.ledger_sql, self.events_table_name,
                     self.frontier).append_events(leaf_rows(ids, stored_events,
                                                            kwargs.get("leaves")),
                                                  kwargs.get("context_since"),
                                                  kwargs.get("context_topics", ()))
        # restricted values written, erased or read with these events (cdlog.restricted)
        apply_vault(kwargs, c, self.vault_sql, sqlite=True)
        return ids

    def ledger(self, cursor: Any) -> LedgerCursor:
        """The Merkle-log tables through ``cursor``."""
        return LedgerCursor(cursor, self.ledger_sql, self.events_table_name)

    @contextmanager
    def read(self) -> Iterator[LedgerCursor]:
        """A read-only view of the log (one consistent snapshot)."""
        with self.datastore.transaction(commit=False) as c:
            yield self.ledger(c)

    @contextmanager
    def write(self) -> Iterator[LedgerCursor]:
        """A write transaction holding the store's write lock from the start."""
        with self.datastore.transaction(commit=True) as c:
            ledger = self.ledger(c)
            ledger.lock()
            yield ledger


def recorder_of(log: Any) -> LedgerRecorder:
    """The Merkle-log recorder of a :class:`~cdlog.application.CaseLog`.

    Raises :class:`~cdlog.errors.ConfigurationError` for a store opened without cdlog's
    recorder (an eventsourcing application configured by hand).
    """
    recorder = log.app.recorder
    if not isinstance(recorder, LedgerRecorder):
        raise ConfigurationError(f"store {redact_url(log.store.url)}: its recorder keeps no "
                                 "Merkle log (checkpoints, proofs and bundles need cdlog's "
                                 "recorder)")
    return recorder


@contextmanager
def read_ledger(log: Any) -> Iterator[LedgerCursor]:
    """A consistent read-only view of ``log``'s Merkle tables."""
    with recorder_of(log).read() as ledger:
        yield ledger


@contextmanager
def write_ledger(log: Any) -> Iterator[LedgerCursor]:
    """A write transaction on ``log``'s Merkle tables, holding the write lock."""
    with recorder_of(log).write() as ledger:
        yield ledger
