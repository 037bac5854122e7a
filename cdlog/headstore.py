"""The stream-head map in the store: kept at signing time, read by ``cdlog prove head``.

Three tables beside the Merkle log (created by the first checkpoint that needs them, so stores
written before the map get them without a migration):

``head_map(size, count, root)``
    one row: the tree size the stored map is at (the latest checkpoint's), its entry count and
    root;
``head_entries(pos, originator_id, version, leaf_index, hash)``
    the map's entries in order (``pos`` 0-based), one per stream;
``head_nodes(level, idx, hash)``
    every node of the map (level 0: the entry hashes), as :func:`cdlog.heads.build_levels`.

:func:`update_map` runs inside :func:`cdlog.checkpoints.sign_checkpoint`'s write transaction:
it loads the stored map, checks that it still hashes to its root (and to the last checkpoint's
heads line), applies the leaves added since, and rewrites the tables. Nothing happens when an
event is appended. :func:`cdlog.headproofs.prove_head` reads ``O(log n)`` rows for the latest
checkpoint, and rebuilds the map from the leaf rows for an older one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from cdlog.checkpoint import Checkpoint
from cdlog.errors import VerificationError
from cdlog.heads import (
    EMPTY_MAP_ROOT,
    HeadEntry,
    build_levels,
    heads_of,
    root_of,
)
from cdlog.ledger import LedgerCursor, PostgresLedgerSQL, quote_ident

LOG = "<log>"


@dataclass(frozen=True)
class HeadSQL:
    """The statements of the head tables for one dialect."""

    create: tuple[str, ...]
    exists: str
    exists_params: tuple[str, ...]
    state: str
    entries: str
    entry_by_id: str
    entry_below: str
    entry_above: str
    nodes: str
    node_values: str
    clear: tuple[str, ...]
    insert_state: str
    insert_entry: str
    insert_node: str


def _sqlite() -> HeadSQL:
    return HeadSQL(
        create=("CREATE TABLE IF NOT EXISTS head_map (size INTEGER NOT NULL, "
                "count INTEGER NOT NULL, root BLOB NOT NULL)",
                "CREATE TABLE IF NOT EXISTS head_entries (pos INTEGER PRIMARY KEY, "
                "originator_id TEXT NOT NULL UNIQUE, version INTEGER NOT NULL, "
                "leaf_index INTEGER NOT NULL, hash BLOB NOT NULL)",
                "CREATE TABLE IF NOT EXISTS head_nodes (level INTEGER NOT NULL, "
                "idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) "
                "WITHOUT ROWID"),
        exists=("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN "
                "(?, ?, ?)"),
        exists_params=("head_map", "head_entries", "head_nodes"),
        state="SELECT size, count, root FROM head_map",
        entries=("SELECT pos, originator_id, version, leaf_index, hash FROM head_entries "
                 "ORDER BY pos"),
        entry_by_id=("SELECT pos, originator_id, version, leaf_index, hash FROM head_entries "
                     "WHERE originator_id = ?"),
        entry_below=("SELECT pos, originator_id, version, leaf_index, hash FROM head_entries "
                     "WHERE originator_id < ? ORDER BY originator_id DESC LIMIT 1"),
        entry_above=("SELECT pos, originator_id, version, leaf_index, hash FROM head_entries "
                     "WHERE originator_id > ? ORDER BY originator_id LIMIT 1"),
        nodes=("SELECT n.level, n.idx, n.hash FROM (VALUES {}) AS v JOIN head_nodes AS n "
               "ON n.level = v.column1 AND n.idx = v.column2"),
        node_values="(?, ?)",
        clear=("DELETE FROM head_map", "DELETE FROM head_entries", "DELETE FROM head_nodes"),
        insert_state="INSERT INTO head_map (size, count, root) VALUES (?, ?, ?)",
        insert_entry=("INSERT INTO head_entries (pos, originator_id, version, leaf_index, hash) "
                      "VALUES (?, ?, ?, ?, ?)"),
        insert_node="INSERT INTO head_nodes (level, idx, hash) VALUES (?, ?, ?)")


_PG = HeadSQL(
    create=("CREATE TABLE IF NOT EXISTS {map} (size BIGINT NOT NULL, count BIGINT NOT NULL, "
            "root BYTEA NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {entries} (pos BIGINT PRIMARY KEY, "
            'originator_id TEXT COLLATE "C" NOT NULL UNIQUE, version BIGINT NOT NULL, '
            "leaf_index BIGINT NOT NULL, hash BYTEA NOT NULL)",
            "CREATE TABLE IF NOT EXISTS {nodes} (level INTEGER NOT NULL, idx BIGINT NOT NULL, "
            "hash BYTEA NOT NULL, PRIMARY KEY (level, idx))"),
    exists=("SELECT (to_regclass(%s) IS NOT NULL)::int + (to_regclass(%s) IS NOT NULL)::int"
            " + (to_regclass(%s) IS NOT NULL)::int"),
    exists_params=("{map}", "{entries}", "{nodes}"),
    state="SELECT size, count, root FROM {map}",
    entries="SELECT pos, originator_id, version, leaf_index, hash FROM {entries} ORDER BY pos",
    entry_by_id=("SELECT pos, originator_id, version, leaf_index, hash FROM {entries} "
                 "WHERE originator_id = %s"),
    entry_below=("SELECT pos, originator_id, version, leaf_index, hash FROM {entries} "
                 "WHERE originator_id < %s "
                 "ORDER BY originator_id DESC LIMIT 1"),
    entry_above=("SELECT pos, originator_id, version, leaf_index, hash FROM {entries} "
                 "WHERE originator_id > %s "
                 "ORDER BY originator_id LIMIT 1"),
    nodes=("SELECT n.level, n.idx, n.hash FROM (VALUES {}) AS v (level, idx) "
           "JOIN {nodes} AS n ON n.level = v.level AND n.idx = v.idx"),
    node_values="(%s::integer, %s::bigint)",
    clear=("DELETE FROM {map}", "DELETE FROM {entries}", "DELETE FROM {nodes}"),
    insert_state="INSERT INTO {map} (size, count, root) VALUES (%s, %s, %s)",
    insert_entry=("INSERT INTO {entries} (pos, originator_id, version, leaf_index, hash) "
                  "VALUES (%s, %s, %s, %s, %s)"),
    insert_node="INSERT INTO {nodes} (level, idx, hash) VALUES (%s, %s, %s)")


def _postgres(sql: PostgresLedgerSQL) -> HeadSQL:
    """:data:`_PG` with the tables of ``sql``'s schema, named after its Merkle tables."""
    schema_part, _, table = sql.tables["leaves"].rpartition(".")
    prefix = table.strip('"').removesuffix("merkle_leaves")
    names = {"{map}": "head_map", "{entries}": "head_entries", "{nodes}": "head_nodes"}
    tables = {k: f"{schema_part}.{quote_ident(prefix + v)}" for k, v in names.items()}

    def fill(text: str) -> str:
        for key, value in tables.items():
            text = text.replace(key, value)
        return text

    values: dict[str, Any] = {}
    for name in HeadSQL.__dataclass_fields__:
        value = getattr(_PG, name)
        values[name] = (tuple(fill(v) for v in value) if isinstance(value, tuple)
                        else fill(value))
    return HeadSQL(**values)


_SQLITE = _sqlite()


def head_sql(led: LedgerCursor) -> HeadSQL:
    """The head-table statements for ``led``'s dialect."""
    return _postgres(led.sql) if isinstance(led.sql, PostgresLedgerSQL) else _SQLITE


@dataclass(frozen=True)
class MapState:
    """The stored map: the tree size it is at, its entry count and root."""

    size: int
    count: int
    root: bytes


class HeadTables:
    """The head tables through a ledger cursor (one transaction)."""

    def __init__(self, led: LedgerCursor) -> None:
        self.led = led
        self.sql = head_sql(led)

    def _all(self, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.led._all(statement, params)

    def exist(self) -> bool:
        """Whether the three tables exist (a store older than the map has none)."""
        return int(self._all(self.sql.exists, self.sql.exists_params)[0][0]) == 3

    def state(self) -> MapState | None:
        """The stored map's state, or None (no map stored, or the table is damaged)."""
        rows = self._all(self.sql.state)
        if len(rows) != 1:
            return None
        size, count, root = rows[0]
        if not isinstance(size, int) or not isinstance(count, int):
            return None
        return MapState(size, count, bytes(root))

    def entries(self) -> list[HeadEntry] | None:
        """Every stored entry in order; None when the rows are not a valid map."""
        out: list[HeadEntry] = []
        for pos, *rest in self._all(self.sql.entries):
            entry = _entry(rest)
            if pos != len(out) or entry is None:
                return None
            out.append(entry)
        return out

    def _row(self, statement: str, hex_id: str) -> tuple[int, HeadEntry] | None:
        rows = self._all(statement, (hex_id,))
        if not rows:
            return None
        entry = _entry(rows[0][1:])
        if entry is None:
            raise VerificationError.at(LOG, None, "checkpoint", "head_entries holds a damaged "
                                       "row; run `cdlog verify`")
        return int(rows[0][0]), entry

    def lookup(self, case: uuid.UUID) -> tuple[tuple[int, HeadEntry] | None,
                                               list[tuple[int, HeadEntry]]]:
        """The entry of ``case``, or the entries around where it would be."""
        found = self._row(self.sql.entry_by_id, case.hex)
        if found is not None:
            return found, []
        around = [self._row(self.sql.entry_below, case.hex),
                  self._row(self.sql.entry_above, case.hex)]
        return None, [a for a in around if a is not None]

    def nodes(self, positions: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored nodes at ``positions``."""
        if not positions:
            return {}
        statement = self.sql.nodes.format(", ".join([self.sql.node_values] * len(positions)))
        params = tuple(v for p in positions for v in p)
        return {(int(r[0]), int(r[1])): bytes(r[2]) for r in self._all(statement, params)}

    def write(self, size: int, entries: list[HeadEntry], levels: list[list[bytes]]) -> None:
        """Replace the stored map with ``entries`` (and their ``levels``) at ``size``."""
        c = self.led._c
        for statement in self.sql.create:
            c.execute(statement)
        for statement in self.sql.clear:
            c.execute(statement)
        c.execute(self.sql.insert_state, (size, len(entries), root_of(levels)))
        if entries:
            c.executemany(self.sql.insert_entry,
                          [(i, uuid.UUID(bytes=e.stream_id).hex, e.version, e.leaf_index,
                            e.event_hash) for i, e in enumerate(entries)])
            c.executemany(self.sql.insert_node, [(level, idx, h)
                                                 for level, row in enumerate(levels)
                                                 for idx, h in enumerate(row)])


def _entry(row: Any) -> HeadEntry | None:
    try:
        hex_id, version, leaf_index, value = row
        return HeadEntry(uuid.UUID(str(hex_id)).bytes, int(version), int(leaf_index),
                         bytes(value))
    except (ValueError, TypeError, VerificationError):
        return None


def entries_at(led: LedgerCursor, size: int, start: int = 0,
               base: dict[bytes, HeadEntry] | None = None) -> list[HeadEntry]:
    """The map's entries at tree ``size``: ``base`` (the heads at ``start``) updated with the
    leaf rows ``start..size-1`` and their stored leaf hashes."""
    heads = dict(base or {})
    index = start
    while index < size:
        page = [leaf for leaf in led.leaves(index) if leaf.leaf_index < size]
        if not page:
            raise VerificationError.at(LOG, None, "merkle", f"leaf {index} is missing from "
                                       "merkle_leaves; run `cdlog verify`")
        hashes = led.level_range(0, page[0].leaf_index, page[-1].leaf_index + 1)
        for leaf in page:
            if leaf.leaf_index != index or index not in hashes:
                raise VerificationError.at(LOG, None, "merkle", f"leaf {index} is missing "
                                           "from the stored tree; run `cdlog verify`")
            key = uuid.UUID(leaf.originator_id).bytes
            heads[key] = HeadEntry(key, leaf.originator_version, index, hashes[index])
            index += 1
    return [heads[k] for k in sorted(heads)]


def update_map(led: LedgerCursor, size: int, last: Checkpoint | None) -> tuple[int, bytes]:
    """Compute, store and return ``(count, root)`` of the map at ``size`` (signing time).

    Starts from the stored map when it is at the last checkpoint's size and still hashes to its
    root and to that checkpoint's heads line; otherwise from the leaf rows. Raises
    VerificationError (check ``checkpoint``) when the map rebuilt from the leaves contradicts
    the last checkpoint's heads line.
    """
    tables = HeadTables(led)
    signed = heads_of(last) if last is not None else None
    base: dict[bytes, HeadEntry] | None = None
    start = 0
    if last is not None and tables.exist():
        state = tables.state()
        stored = tables.entries() if state is not None and state.size == last.size else None
        if state is not None and stored is not None and len(stored) == state.count:
            levels = build_levels(stored)
            if root_of(levels) == state.root and (signed is None
                                                  or signed == (state.count, state.root)):
                base, start = {e.stream_id: e for e in stored}, last.size
    if last is not None and signed is not None and base is None:
        again = entries_at(led, last.size)
        if (len(again), root_of(build_levels(again))) != signed:
            raise VerificationError.at(LOG, None, "checkpoint", "refusing to sign: the stream "
                                       f"heads rebuilt from the leaves differ from the map of "
                                       f"the last checkpoint (size {last.size})")
        base, start = {e.stream_id: e for e in again}, last.size
    entries = entries_at(led, size, start, base)
    levels = build_levels(entries)
    tables.write(size, entries, levels)
    return len(entries), root_of(levels)


__all__ = ["EMPTY_MAP_ROOT", "HeadTables", "MapState", "entries_at", "update_map"]
