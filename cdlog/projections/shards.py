"""A view in two SQLite files, each holding the entries of half of the cases.

Every built-in view's handler reads only entries of the stream of the event it handles
(:class:`~cdlog.projections.store.Prior`), so a view is the union of what it holds for each
stream, and the streams can be kept apart. An event's *shard* is the last hex digit of the
case id it is stored under, even (0) or odd (1) (:data:`cdlog.projections.pages.SHARD_SQL`);
the views take only events stored under their own stream's case id
(:func:`cdlog.projections.pages.stored_case`), so all of a stream's entries are in one file.

Each file is a whole :class:`~cdlog.projections.store.SQLiteViewStore` (its entries, its
tracking position, its metadata), so each is written exactly once per page, in its own
transaction, as a view always was. Two processes can then catch up the two halves of every
view at once, each reading and decoding only its half of the log
(:meth:`cdlog.projections.projector.Projections.catch_up`): nothing is decoded twice and no
file is written by both.

:class:`ShardedViewStore` is what the rest of cdlog sees: one view, at the lower of the two
positions, its metadata what both files agree on, its entries those of both files in log
order.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eventsourcing.persistence import IntegrityError

from cdlog.projections.pages import case_shard
from cdlog.projections.store import Entry, Handler, Processed, SQLiteViewStore
from cdlog.projections.viewstate import ViewState

SHARDS = 2
"""How many files each view is kept in."""


def shard_paths(folder: Path, store_name: str, view: str) -> tuple[Path, Path]:
    """The files of a view: ``<store>.<view>.db`` (shard 0) and ``<store>.<view>.1.db``."""
    return folder / f"{store_name}.{view}.db", folder / f"{store_name}.{view}.1.db"


def combined(states: Sequence[ViewState]) -> ViewState:
    """One view's state from its files' states: the lower position, the metadata both files
    hold alike (a value only one holds, or that they hold differently, is missing: a
    fingerprint written to one file only makes the view rebuilt, never trusted), and of two
    heads (``<position>:<event hash>``, where each file's catch-up ended) the earlier: the
    log's prefix both were built from."""
    first, *rest = states
    meta = {k: v for k, v in first.meta.items() if all(s.meta.get(k) == v for s in rest)}
    heads = [s.meta.get("head") for s in states]
    if "head" not in meta and all(h and h.partition(":")[0].isdigit() for h in heads):
        meta["head"] = min((h for h in heads if h), key=lambda h: int(h.partition(":")[0]))
    return ViewState(position=min(s.position for s in states), meta=meta,
                     migration=first.migration)


def _order(entry: Entry) -> tuple[int, int]:
    return entry.position, entry.seq


class ShardedViewStore:
    """One view kept in :data:`SHARDS` SQLite files (:attr:`parts`), by the shard of the
    events' case ids."""

    def __init__(self, paths: Sequence[Path], name: str) -> None:
        self.name = name
        self.parts: tuple[SQLiteViewStore, ...] = ()
        parts = []
        try:
            for path in paths:
                parts.append(SQLiteViewStore(path, name))
        except BaseException:
            for part in parts:
                part.close()
            raise
        self.parts = tuple(parts)
        self.paths = tuple(paths)
        self._positions = [part.opened.position for part in self.parts]
        self.opened = combined([part.opened for part in self.parts])

    def position(self) -> int:
        """The lower of the files' positions."""
        self._positions = [part.position() for part in self.parts]
        return min(self._positions)

    def state(self) -> ViewState:
        """The view's state (:func:`combined`), from one statement per file."""
        states = [part.state() for part in self.parts]
        self._positions = [s.position for s in states]
        return combined(states)

    def part_of(self, stream: str) -> SQLiteViewStore:
        """The file holding ``stream``'s entries."""
        return self.parts[case_shard(stream)]

    def write(self, batch: Sequence[Processed], upto: int, handler: Handler) -> None:
        """Each file's events of ``batch`` past its position, and the position ``upto``, in
        a transaction per file (a file already at ``upto`` or beyond is left). Raises
        eventsourcing's ``IntegrityError`` (and writes nothing) when both files are there
        already, and as a file does when another writer moved it on."""
        if min(self._positions) >= upto:
            msg = f"view {self.name} is at {min(self._positions)} already, not before {upto}"
            raise IntegrityError(msg)
        halves: tuple[list[Processed], ...] = tuple([] for _ in self.parts)
        for p in batch:
            halves[p.shard].append(p)
        for shard, part in enumerate(self.parts):
            at = self._positions[shard]
            if at >= upto:
                continue
            half = halves[shard]
            if half and half[0].position <= at:
                half = [p for p in half if p.position > at]
            part.write(half, upto, handler)
            self._positions[shard] = upto

    def reset(self) -> None:
        """Forget every entry and position of both files."""
        for part in self.parts:
            part.reset()
        self._positions = [0] * len(self.parts)

    def select(self, where: str = "", params: Sequence[Any] = ()) -> list[Entry]:
        """Entries of both files matching an SQL condition, in log order."""
        return list(heapq.merge(*(part.select(where, params) for part in self.parts),
                                key=_order))

    def meta(self, name: str) -> str | None:
        """A metadata value both files hold alike (else None)."""
        values = {part.meta(name) for part in self.parts}
        return values.pop() if len(values) == 1 else None

    def set_meta(self, name: str, value: str) -> None:
        """Store a metadata value in both files."""
        for part in self.parts:
            part.set_meta(name, value)

    def dump(self) -> list[tuple[Any, ...]]:
        """Every row of the view in log order and its position (for equality checks)."""
        rows = heapq.merge(*(part.dump()[:-1] for part in self.parts),
                           key=lambda r: (r[0], r[1]))
        return [*rows, ("tracking", self.position())]

    def close(self) -> None:
        """Release both files' connections."""
        for part in self.parts:
            part.close()
