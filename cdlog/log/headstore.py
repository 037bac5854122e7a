"""The stream-head map in the store: updated at signing time, read by ``cdlog prove head``.

Three tables beside the Merkle log (created by the first checkpoint that needs them, so stores
written before the map get them without a migration):

``head_map(size, count, root)``
    one row: the tree size the stored map is at (the latest checkpoint's), its entry count and
    root;
``head_entries(originator_id, pos, version, leaf_index, hash, next_id)``
    one row per stream: its position in the map (the order streams first appear), its head and
    the next stream id in id order;
``head_nodes(level, idx, hash)``
    every *complete* subtree of the map (level 0: the entry hashes), as ``merkle_nodes`` is for
    the log; a proof folds the incomplete right edge from them.

:func:`update_map` runs inside :func:`cdlog.log.checkpoint_signing.sign_checkpoint`'s write
transaction:
it reads the leaves added since the last checkpoint, updates the entries of the streams they
touch (a new stream takes the next position and is linked in after the stream before it in id
order), recomputes only the nodes above changed entries and stores the new root. Nothing
happens when an event is appended. A map that is missing, or does not match the last
checkpoint's heads line, is rebuilt from the leaf rows (and must then match it).
:func:`cdlog.log.headproofs.prove_head` reads ``O(log n)`` rows for the latest checkpoint, and
rebuilds the map from the leaf rows for an older one.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cdlog.errors import InputError, VerificationError
from cdlog.log.checkpoint_format import Checkpoint
from cdlog.log.heads import (
    EMPTY_MAP_ROOT,
    Head,
    HeadEntry,
    fold,
    heads_of,
    id_bytes,
    link,
    link_hash,
    map_node,
    map_root,
    subtrees,
)
from cdlog.log.ledger import LedgerCursor
from cdlog.log.ledger_sql import PostgresLedgerSQL, quote_ident

LOG = "<log>"
CHUNK = 200


@dataclass(frozen=True)
class HeadSQL:
    """The statements of the head tables for one dialect."""

    create: tuple[str, ...]
    exists: str
    exists_params: tuple[str, ...]
    state: str
    entries: str
    entries_in: str
    entry_by_id: str
    entry_below: str
    entry_last: str
    entries_by_id: str
    nodes: str
    nodes_all: str
    node_values: str
    clear: tuple[str, ...]
    clear_state: str
    insert_state: str
    upsert_entry: str
    upsert_node: str
    mark: str


_COLUMNS = "originator_id, pos, version, leaf_index, hash, next_id, prev_id"
_ENTRY = "SELECT originator_id, pos, version, leaf_index, hash, next_id, prev_id "
"""The columns of a map entry, in :class:`Entry`'s order."""

_PORTABLE: dict[str, str | tuple[str, ...]] = {
    "state": "SELECT size, count, root FROM {map}",
    "entries": _ENTRY + "FROM {entries} ORDER BY pos",
    "entries_in": _ENTRY + "FROM {entries} WHERE originator_id IN ({})",
    "entry_by_id": _ENTRY + "FROM {entries} WHERE originator_id = {mark}",
    "entry_below": (_ENTRY + "FROM {entries} WHERE originator_id < {mark} ORDER BY "
                    "originator_id DESC LIMIT 1"),
    "entry_last": _ENTRY + "FROM {entries} ORDER BY originator_id DESC LIMIT 1",
    "entries_by_id": _ENTRY + "FROM {entries} ORDER BY originator_id",
    "nodes_all": "SELECT level, idx, hash FROM {nodes}",
    "clear": ("DELETE FROM {map}", "DELETE FROM {entries}", "DELETE FROM {nodes}"),
    "clear_state": "DELETE FROM {map}",
    "insert_state": "INSERT INTO {map} (size, count, root) VALUES ({mark}, {mark}, {mark})",
}
"""The statements both dialects write alike: ``{map}``, ``{entries}``, ``{nodes}`` stand for
the tables, ``{mark}`` for the parameter mark (``{}`` is filled per call)."""


def _dialect(tables: dict[str, str], mark: str,
             own: dict[str, str | tuple[str, ...]]) -> HeadSQL:
    """The statements of :data:`_PORTABLE` and ``own`` with ``tables`` and ``mark`` filled
    in (cdlog's own table names, quoted where needed; never user input)."""
    names = {"{map}": tables["map"], "{entries}": tables["entries"],
             "{nodes}": tables["nodes"], "{mark}": mark}

    def fill(text: str) -> str:
        for key, value in names.items():
            text = text.replace(key, value)
        return text

    values: dict[str, Any] = {"mark": mark}
    for name, value in {**_PORTABLE, **own}.items():
        values[name] = (tuple(fill(v) for v in value) if isinstance(value, tuple)
                        else fill(value))
    return HeadSQL(**values)


_SQLITE = _dialect({"map": "head_map", "entries": "head_entries", "nodes": "head_nodes"}, "?", {
    "create": ("CREATE TABLE IF NOT EXISTS head_map (size INTEGER NOT NULL, "
               "count INTEGER NOT NULL, root BLOB NOT NULL)",
               "CREATE TABLE IF NOT EXISTS head_entries (originator_id TEXT PRIMARY KEY, "
               "pos INTEGER NOT NULL UNIQUE, version INTEGER NOT NULL, "
               "leaf_index INTEGER NOT NULL, hash BLOB NOT NULL, next_id TEXT NOT NULL, "
               "prev_id TEXT NOT NULL) "
               "WITHOUT ROWID",
               "CREATE TABLE IF NOT EXISTS head_nodes (level INTEGER NOT NULL, "
               "idx INTEGER NOT NULL, hash BLOB NOT NULL, PRIMARY KEY (level, idx)) "
               "WITHOUT ROWID"),
    "exists": "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN (?, ?, ?)",
    "exists_params": ("head_map", "head_entries", "head_nodes"),
    "nodes": ("SELECT n.level, n.idx, n.hash FROM (VALUES {}) AS v JOIN head_nodes AS n "
              "ON n.level = v.column1 AND n.idx = v.column2"),
    "node_values": "(?, ?)",
    "upsert_entry": ("INSERT OR REPLACE INTO head_entries (originator_id, pos, version, "
                     "leaf_index, hash, next_id, prev_id) VALUES (?, ?, ?, ?, ?, ?, ?)"),
    "upsert_node": "INSERT OR REPLACE INTO head_nodes (level, idx, hash) VALUES (?, ?, ?)",
})

_PG_OWN: dict[str, str | tuple[str, ...]] = {
    "create": ("CREATE TABLE IF NOT EXISTS {map} (size BIGINT NOT NULL, count BIGINT NOT NULL, "
               "root BYTEA NOT NULL)",
               'CREATE TABLE IF NOT EXISTS {entries} (originator_id TEXT COLLATE "C" PRIMARY '
               "KEY, pos BIGINT NOT NULL UNIQUE, version BIGINT NOT NULL, leaf_index BIGINT "
               "NOT NULL, hash BYTEA NOT NULL, next_id TEXT NOT NULL, prev_id TEXT NOT NULL)",
               "CREATE TABLE IF NOT EXISTS {nodes} (level INTEGER NOT NULL, idx BIGINT NOT "
               "NULL, hash BYTEA NOT NULL, PRIMARY KEY (level, idx))"),
    "exists": ("SELECT (to_regclass(%s) IS NOT NULL)::int + (to_regclass(%s) IS NOT NULL)::int"
               " + (to_regclass(%s) IS NOT NULL)::int"),
    "exists_params": ("{map}", "{entries}", "{nodes}"),
    "nodes": ("SELECT n.level, n.idx, n.hash FROM (VALUES {}) AS v (level, idx) "
              "JOIN {nodes} AS n ON n.level = v.level AND n.idx = v.idx"),
    "node_values": "(%s::integer, %s::bigint)",
    "upsert_entry": ("INSERT INTO {entries} (originator_id, pos, version, leaf_index, hash, "
                     "next_id, prev_id) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT "
                     "(originator_id) DO UPDATE SET pos = excluded.pos, version = "
                     "excluded.version, leaf_index = excluded.leaf_index, hash = "
                     "excluded.hash, next_id = excluded.next_id, prev_id = excluded.prev_id"),
    "upsert_node": ("INSERT INTO {nodes} (level, idx, hash) VALUES (%s, %s, %s) ON CONFLICT "
                    "(level, idx) DO UPDATE SET hash = excluded.hash"),
}
"""What PostgreSQL writes its own way (``{map}``... as in :data:`_PORTABLE`)."""


def _postgres(sql: PostgresLedgerSQL) -> HeadSQL:
    """The statements with the tables of ``sql``'s schema, named after its Merkle tables."""
    schema_part, _, table = sql.tables["leaves"].rpartition(".")
    prefix = table.strip('"').removesuffix("merkle_leaves")
    return _dialect({k: f"{schema_part}.{quote_ident(prefix + 'head_' + k)}"
                     for k in ("map", "entries", "nodes")}, "%s", _PG_OWN)


def head_sql(led: LedgerCursor) -> HeadSQL:
    """The head-table statements for ``led``'s dialect."""
    return _postgres(led.sql) if isinstance(led.sql, PostgresLedgerSQL) else _SQLITE


@dataclass(frozen=True)
class MapState:
    """The stored map: the tree size it is at, its entry count and root."""

    size: int
    count: int
    root: bytes


@dataclass
class Row:
    """One stored entry: the stream's position and head, and its neighbours in id order."""

    key: bytes
    pos: int
    version: int
    leaf_index: int
    hash: bytes
    next_id: bytes
    prev_id: bytes

    def entry(self, next_hash: bytes) -> HeadEntry:
        """The map entry, given the event hash of the next stream."""
        return HeadEntry(self.key, link_hash(self.next_id, next_hash), self.version,
                         self.leaf_index, self.hash, self.next_id, next_hash)


def _row(values: Any) -> Row | None:
    try:
        originator_id, pos, version, leaf_index, value, next_id, prev_id = values
        row = Row(id_bytes(str(originator_id)), int(pos), int(version), int(leaf_index),
                  bytes(value), id_bytes(str(next_id)), id_bytes(str(prev_id)))
    except (ValueError, TypeError, VerificationError):
        return None
    return row if len(row.hash) == 32 and row.version >= 1 else None


def _damaged() -> VerificationError:
    return VerificationError.at(LOG, None, "checkpoint", "the stored stream-head map "
                                "(head_entries, head_nodes) is damaged; run `cdlog verify`")


class HeadTables:
    """The head tables through a ledger cursor (one transaction)."""

    def __init__(self, led: LedgerCursor) -> None:
        self.led = led
        self.sql = head_sql(led)

    def _all(self, statement: str, params: tuple[Any, ...] = ()) -> list[Any]:
        return self.led._all(statement, params)

    def _each(self, statement: str) -> Iterator[Any]:
        """The rows of ``statement`` a page at a time (a whole map is never held at once); no
        other statement may run on the cursor until the iterator is done."""
        return self.led.each(statement)

    def exist(self) -> bool:
        """Whether the three tables exist (a store older than the map has none)."""
        return int(self._all(self.sql.exists, self.sql.exists_params)[0][0]) == 3

    def create(self) -> None:
        """Create the tables (write transactions only)."""
        for statement in self.sql.create:
            self.led._c.execute(statement)

    def state(self) -> MapState | None:
        """The stored map's state, or None (no map stored, or the row is damaged)."""
        rows = self._all(self.sql.state)
        if len(rows) != 1:
            return None
        size, count, root = rows[0]
        if not isinstance(size, int) or not isinstance(count, int):
            return None
        return MapState(size, count, bytes(root))

    def _one(self, statement: str, params: tuple[Any, ...] = ()) -> Row | None:
        rows = self._all(statement, params)
        if not rows:
            return None
        row = _row(rows[0])
        if row is None:
            raise _damaged()
        return row

    def by_id(self, key: bytes) -> Row | None:
        """The stored entry of stream id ``key``."""
        return self._one(self.sql.entry_by_id, (key.hex(),))

    def spanning(self, key: bytes) -> Row | None:
        """The stored entry whose link spans ``key``: the largest id below it, else the
        largest id of all (the link that wraps around)."""
        return self._one(self.sql.entry_below, (key.hex(),)) or self._one(self.sql.entry_last)

    def by_ids(self, keys: list[bytes]) -> dict[bytes, Row]:
        """The stored entries of ``keys`` (those that exist)."""
        out: dict[bytes, Row] = {}
        for start in range(0, len(keys), CHUNK):
            chunk = keys[start:start + CHUNK]
            statement = self.sql.entries_in.format(", ".join([self.sql.mark] * len(chunk)))
            for values in self._all(statement, tuple(k.hex() for k in chunk)):
                row = _row(values)
                if row is None:
                    raise _damaged()
                out[row.key] = row
        return out

    def nodes(self, positions: list[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        """The stored nodes at ``positions`` (those that exist)."""
        out: dict[tuple[int, int], bytes] = {}
        for start in range(0, len(positions), CHUNK):
            chunk = positions[start:start + CHUNK]
            statement = self.sql.nodes.format(", ".join([self.sql.node_values] * len(chunk)))
            params = tuple(v for p in chunk for v in p)
            out.update({(int(r[0]), int(r[1])): bytes(r[2]) for r in self._all(statement,
                                                                                params)})
        return out

    def entry_of(self, row: Row, known: dict[bytes, Row] | None = None) -> HeadEntry:
        """The map entry of a stored row (its link needs the next row's event hash)."""
        after = (known or {}).get(row.next_id) or self.by_id(row.next_id)
        if after is None:
            raise _damaged()
        return row.entry(after.hash)

    # ------------------------------------------------------------ writes
    def write_entries(self, rows: list[Row]) -> None:
        """Insert or replace entries."""
        if rows:
            self.led._c.executemany(self.sql.upsert_entry, [
                (r.key.hex(), r.pos, r.version, r.leaf_index, r.hash, r.next_id.hex(),
                 r.prev_id.hex()) for r in rows])

    def write_nodes(self, nodes: dict[tuple[int, int], bytes]) -> None:
        """Insert or replace nodes."""
        if nodes:
            self.led._c.executemany(self.sql.upsert_node,
                                    [(lvl, idx, h) for (lvl, idx), h in nodes.items()])

    def set_state(self, state: MapState) -> None:
        """Replace the head_map row."""
        self.led._c.execute(self.sql.clear_state)
        self.led._c.execute(self.sql.insert_state, (state.size, state.count, state.root))

    def replace_all(self, size: int, entries: list[HeadEntry]) -> MapState:
        """Replace the whole stored map with ``entries`` (in map order) at ``size``."""
        for statement in self.sql.clear:
            self.led._c.execute(statement)
        before = {e.next_id: e.stream_id for e in entries}
        self.write_entries([Row(e.stream_id, i, e.version, e.leaf_index, e.event_hash,
                                e.next_id, before[e.stream_id]) for i, e in enumerate(entries)])
        nodes = {(0, i): e.hash() for i, e in enumerate(entries)}
        level, width = 0, len(entries)
        while width >= 2:
            for j in range(width // 2):
                nodes[(level + 1, j)] = map_node(nodes[(level, 2 * j)],
                                                 nodes[(level, 2 * j + 1)])
            level, width = level + 1, width // 2
        self.write_nodes(nodes)
        state = MapState(size, len(entries), _root(nodes, len(entries)))
        self.set_state(state)
        return state


def _root(nodes: dict[tuple[int, int], bytes], count: int) -> bytes:
    """The map root of ``count`` entries from its complete subtrees."""
    return fold([nodes[p] for p in subtrees(0, count)]) if count else EMPTY_MAP_ROOT


def heads_between(led: LedgerCursor, start: int, size: int) -> dict[bytes, Head]:
    """Each stream's newest event among leaves ``start..size-1``, in the order the streams
    first appear there, from the leaf rows and their stored leaf hashes."""
    heads: dict[bytes, Head] = {}
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
            key = id_bytes(leaf.originator_id)
            heads[key] = (key, leaf.originator_version, index, hashes[index])
            index += 1
    return heads


def entries_at(led: LedgerCursor, size: int) -> list[HeadEntry]:
    """The map's entries at tree ``size``, rebuilt from the leaf rows (``O(size)``)."""
    return link(list(heads_between(led, 0, size).values()))


def _link_in(tables: HeadTables, new: list[bytes], rows: dict[bytes, Row]) -> None:
    """Link each new stream id (rows in ``rows``, positions set) into the id-order cycle
    after the stored stream before it; ``rows`` gains every row whose neighbours change."""
    groups: dict[bytes, list[bytes]] = {}
    for key in new:
        pred = tables.spanning(key)
        if pred is None:
            raise _damaged()
        rows.setdefault(pred.key, pred)
        groups.setdefault(pred.key, []).append(key)
    for pred_id, keys in groups.items():
        pred = rows[pred_id]
        keys.sort(key=lambda k: (k < pred_id, k))  # the ids after it, then past the wrap
        old_next = pred.next_id
        chain = [pred_id, *keys, old_next]
        for here, after in itertools.pairwise(chain):
            rows[here].next_id = after
            if after != old_next:
                rows[after].prev_id = here
        if old_next not in rows:
            found = tables.by_id(old_next)
            if found is None:
                raise _damaged()
            rows[old_next] = found
        rows[old_next].prev_id = keys[-1]


def _update_nodes(tables: HeadTables, leaves: dict[int, bytes], count: int) -> bytes:
    """Rewrite the complete subtrees above the changed entry hashes ``leaves`` (by
    position); return the new root."""
    nodes = {(0, pos): h for pos, h in leaves.items()}
    current = set(leaves)
    level = 0
    while current:
        parents = {i >> 1 for i in current if ((i >> 1) + 1) << (level + 1) <= count}
        wanted = [(level, c) for j in parents for c in (2 * j, 2 * j + 1)
                  if (level, c) not in nodes]
        nodes.update(tables.nodes(wanted))
        for j in parents:
            left, right = nodes.get((level, 2 * j)), nodes.get((level, 2 * j + 1))
            if left is None or right is None:
                raise _damaged()
            nodes[(level + 1, j)] = map_node(left, right)
        current, level = parents, level + 1
    tables.write_nodes(nodes)
    edge = [p for p in subtrees(0, count) if p not in nodes]
    nodes.update(tables.nodes(edge))
    if any(p not in nodes for p in subtrees(0, count)):
        raise _damaged()
    return _root(nodes, count)


def update_map(led: LedgerCursor, size: int, last: Checkpoint | None,
               delta: dict[bytes, Head] | None = None) -> tuple[int, bytes]:
    """Compute, store and return ``(count, root)`` of the map at ``size`` (signing time).

    ``delta`` is :func:`heads_between` of the last checkpoint's size and ``size``, when the
    caller read those leaves already.

    Starts from the stored map when it is at the last checkpoint's size and its state matches
    that checkpoint's heads line; otherwise from the leaf rows. Raises VerificationError
    (check ``checkpoint``) when the map rebuilt from the leaves contradicts the last
    checkpoint's heads line.
    """
    tables = HeadTables(led)
    tables.create()
    signed = heads_of(last) if last is not None else None
    state = tables.state()
    if (last is None or state is None or state.size != last.size or state.count == 0
            or (signed is not None and signed != (state.count, state.root))):
        if last is not None and signed is not None:
            again = entries_at(led, last.size)
            if (len(again), map_root(again)) != signed:
                raise VerificationError.at(LOG, None, "checkpoint", "refusing to sign: the "
                                           "stream heads rebuilt from the leaves differ from "
                                           "the map of the last checkpoint (size "
                                           f"{last.size})")
        new_state = tables.replace_all(size, entries_at(led, size))
        return new_state.count, new_state.root
    if delta is None:
        delta = heads_between(led, state.size, size)
    if not delta:
        tables.set_state(MapState(size, state.count, state.root))
        return state.count, state.root
    rows = tables.by_ids(list(delta))  # every row whose stored columns change
    new = [key for key in delta if key not in rows]
    for pos, key in enumerate(new, start=state.count):
        rows[key] = Row(key, pos, 1, 0, b"", key, key)
    for key, (_, version, leaf_index, value) in delta.items():
        row = rows[key]
        row.version, row.leaf_index, row.hash = version, leaf_index, value
    if new:
        _link_in(tables, new, rows)
    count = state.count + len(new)
    # entries to rehash: the changed ones and those whose link names a changed head
    rehash = set(delta) | {rows[key].prev_id for key in delta} | {
        k for k in rows if k not in delta}
    missing = [k for k in rehash | {rows[k].next_id for k in rehash if k in rows}
               if k not in rows]
    known = {**tables.by_ids(missing), **rows}
    if any(k not in known for k in rehash):
        raise _damaged()
    tables.write_entries(list(rows.values()))
    leaves = {known[k].pos: tables.entry_of(known[k], known).hash() for k in rehash}
    root = _update_nodes(tables, leaves, count)
    tables.set_state(MapState(size, count, root))
    return count, root


def stored_map_problem(led: LedgerCursor, expected: dict[int, tuple[int, bytes]]) -> str | None:
    """What is wrong with the stored map, if anything (store verification, before signing).

    The rows must form one map in position order whose links follow the id order, every
    stored node must be the complete subtree rebuilt from those rows (and none missing), the
    root must be ``head_map``'s, and ``(count, root)`` the map ``expected`` holds, rebuilt
    from the events, at ``head_map``'s size. The rows are read a page at a time, in position
    order and then in id order: memory holds the entries' hashes, never every row of a map
    of every stream of a large log.
    """
    tables = HeadTables(led)
    if not tables.exist():
        return None
    state = tables.state()
    count = 0
    for values in tables._each(tables.sql.entries):
        if state is None:
            return "head_map has no valid row"
        row = _row(values)
        if row is None or row.pos != count:
            return "head_entries holds a damaged row or a gap in the positions"
        count += 1
    if state is None:
        return None
    leaves, problem = _entry_hashes(tables, count)
    if problem is not None:
        return problem
    levels = [leaves]
    while len(levels[-1]) >= 2:
        below = levels[-1]
        levels.append([map_node(below[2 * j], below[2 * j + 1])
                       for j in range(len(below) // 2)])
    problem = _nodes_problem(tables, levels)
    if problem is not None:
        return problem
    root = _root({p: levels[p[0]][p[1]] for p in subtrees(0, count)}, count)
    if (state.count, state.root) != (count, root):
        return "head_map does not hold the count and root of the stored entries"
    want = expected.get(state.size)
    if want is not None and want != (state.count, state.root):
        return (f"it is not the map of the events at size {state.size} ({want[0]} streams, "
                f"not {state.count})" if want[0] != state.count else
                f"it is not the map of the events at size {state.size}")
    return None


def _entry_hashes(tables: HeadTables, count: int) -> tuple[list[bytes], str | None]:
    """The map's leaf hashes by position, from the rows read in id order, each linked to its
    neighbours (the last to the first); or the first problem in id order (a broken link is
    said before a value out of range)."""
    leaves = [b""] * count
    if not count:
        return leaves, None
    last = tables._one(tables.sql.entry_last)
    if last is None:
        raise _damaged()
    out_of_range: str | None = None
    first: Row | None = None
    prev = last
    for values in tables._each(tables.sql.entries_by_id):
        row = _row(values)
        if row is None:  # every row parsed in position order, in this same transaction
            raise _damaged()
        if first is None:
            first = row
        elif prev.next_id != row.key or row.key <= prev.key:
            return leaves, _unlinked(prev.key)
        if row.prev_id != prev.key:
            return leaves, _unlinked(row.key)
        if row is not first:
            out_of_range = out_of_range or _put_leaf(leaves, prev, row.hash)
        prev = row
    if first is None:
        raise _damaged()
    if prev.next_id != first.key:
        return leaves, _unlinked(prev.key)
    return leaves, out_of_range or _put_leaf(leaves, prev, first.hash)


def _unlinked(key: bytes) -> str:
    return (f"the entry of stream {uuid.UUID(bytes=key)} is not linked to its neighbours in "
            "id order")


def _put_leaf(leaves: list[bytes], row: Row, next_hash: bytes) -> str | None:
    """Put ``row``'s entry hash at its position; the problem when a value is out of range."""
    try:
        leaves[row.pos] = row.entry(next_hash).hash()
    except InputError:
        return "head_entries holds a version or leaf index out of range"
    return None


def _nodes_problem(tables: HeadTables, levels: list[list[bytes]]) -> str | None:
    """The first stored node (level, index) missing or extra, else the first wrong one."""
    seen = [bytearray(len(level)) for level in levels]
    extra: tuple[int, int] | None = None
    wrong: tuple[int, int] | None = None
    for values in tables._each(tables.sql.nodes_all):
        at = (int(values[0]), int(values[1]))
        if not (0 <= at[0] < len(levels) and 0 <= at[1] < len(levels[at[0]])):
            extra = min(extra or at, at)
            continue
        seen[at[0]][at[1]] = 1
        if bytes(values[2]) != levels[at[0]][at[1]]:
            wrong = min(wrong or at, at)
    missing = next(((level, idx) for level, marks in enumerate(seen)
                    for idx, mark in enumerate(marks) if not mark), None)
    first = min((p for p in (extra, missing) if p is not None), default=wrong)
    if first is None:
        return None
    return f"head_nodes differs from the entries at (level, index) {first}"
