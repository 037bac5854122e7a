"""The replay's case states in bounded memory: the most recently used in memory, the others
pickled into a private temporary SQLite file until their case goes on.

A state is pickled compactly: :class:`~cdlog.domain.case.CaseState` and the dataclasses it
holds (:class:`~cdlog.domain.case.Duty`, :class:`~cdlog.domain.case.Holding`) as their class
and the tuple of their field values, in field order, instead of the instance dictionary with
every field name written out again for each state (about half the time and 60% of the bytes
of the default pickling, measured on the benchmark's states). An instance whose dictionary is
not exactly its fields in order is pickled the default way. The bytes never leave the process
that wrote them.
"""

from __future__ import annotations

import copyreg
import io
import pickle
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, fields
from itertools import islice
from typing import Any

from cdlog.domain.case import CaseState, Duty, Holding


@dataclass
class _Stream:
    state: CaseState
    version: int = 0
    head: str | None = None
    named: bool = False
    """Whether the state's stream name was found to be its case's id (UUIDv5): an event
    naming that same stream needs no second derivation of the id."""


STREAMS_IN_MEMORY = 10_000
"""How many case states a replay keeps in memory; the others wait in a temporary file."""

_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in fields(cls)) for cls in (CaseState, Duty, Holding, _Stream)}


def _restore(cls: type, values: tuple[Any, ...]) -> Any:
    """An instance of ``cls`` (a dataclass of :data:`_FIELDS`) with ``values`` as its fields,
    made as :func:`copyreg.__newobj__` and the instance dictionary would make it."""
    made: Any = object.__new__(cls)
    made.__dict__.update(zip(_FIELDS[cls], values, strict=True))
    return made


def _compact(obj: Any) -> tuple[Any, ...]:
    """The reduction of a :data:`_FIELDS` dataclass: its class and its field values."""
    state = obj.__dict__
    names = _FIELDS[type(obj)]
    if len(state) != len(names) or tuple(state) != names:  # not the plain instance
        reduced: tuple[Any, ...] = obj.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
        return reduced
    return (_restore, (type(obj), tuple(state.values())))


_TABLE: dict[type, Callable[[Any], Any]] = {
    **copyreg.dispatch_table, **dict.fromkeys(_FIELDS, _compact)}


def dumps(value: Any) -> bytes:
    """``pickle.dumps(value)`` with the case states and their parts pickled compactly."""
    out = io.BytesIO()
    pickler = pickle.Pickler(out, pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _TABLE
    pickler.dump(value)
    return out.getvalue()


class _MaybeSpilled:
    """Which case ids may be in the spill file: a Bloom filter over the spilled ids.

    A new case (most of a large replay's cases) is not in the file, and asking the file costs a
    query (4 to 13 us); the filter answers "not there" for all but about 2% of them from about
    10 bits a spilled case (3 bits set each, by double hashing the id's ``hash``, which the
    table's dictionary has computed already). "Maybe" is answered by the file as before, so
    the filter never changes an answer. It is rebuilt 4 times larger from the file's ids when
    the ids put in outnumber a tenth of its bits.
    """

    def __init__(self, bits: int = 1 << 16) -> None:
        self._mask = bits - 1  # bits is a power of two
        self._bits = bytearray(bits >> 3)
        self.count = 0

    def _positions(self, key: str) -> tuple[int, int, int]:
        h = hash(key)
        step = ((h >> 32) | 1) & self._mask
        first = h & self._mask
        return first, (first + step) & self._mask, (first + 2 * step) & self._mask

    def add(self, key: str) -> None:
        """Note ``key`` as spilled."""
        bits = self._bits
        for p in self._positions(key):
            bits[p >> 3] |= 1 << (p & 7)
        self.count += 1

    def may_hold(self, key: str) -> bool:
        """False when ``key`` was never added; True when it was (and, rarely, when not)."""
        bits = self._bits
        a, b, c = self._positions(key)
        return bool(bits[a >> 3] >> (a & 7) & bits[b >> 3] >> (b & 7) & bits[c >> 3] >> (c & 7)
                    & 1)

    def full(self) -> bool:
        """Whether more ids went in than a tenth of the bits (the false answers grow)."""
        return self.count * 10 > self._mask + 1

    def bigger(self) -> _MaybeSpilled:
        """An empty filter 4 times this size."""
        return _MaybeSpilled((self._mask + 1) * 4)


class _StreamTable:
    """The replay state of every case seen so far, in bounded memory.

    The ``limit`` most recently used states stay in memory; older ones are pickled into a
    private temporary SQLite file (deleted when closed) and brought back when their case goes
    on, so a replay of any size holds at most ``limit`` case states.
    """

    def __init__(self, limit: int = STREAMS_IN_MEMORY) -> None:
        self._limit = max(limit, 8)
        self._live: dict[str, _Stream] = {}
        self._spill: sqlite3.Connection | None = None
        self._spilled = 0
        self._maybe = _MaybeSpilled()

    def get(self, case: str) -> _Stream | None:
        """The state of ``case`` (now the most recently used), or None for a new case."""
        st = self._live.pop(case, None)
        if st is None and self._spilled and self._maybe.may_hold(case):
            st = self._unspill(case)
        if st is not None:
            self._live[case] = st
        return st

    def add(self, case: str, st: _Stream) -> None:
        """Keep the state of a new case."""
        self._live[case] = st
        if len(self._live) > self._limit:
            self._evict()

    def _evict(self) -> None:
        victims = list(islice(self._live, self._limit // 8))
        rows = [(c, dumps(self._live.pop(c))) for c in victims]
        if self._spill is None:
            self._spill = sqlite3.connect("", isolation_level=None)  # private, on disk
            self._spill.execute("PRAGMA journal_mode=OFF")
            self._spill.execute("PRAGMA synchronous=OFF")
            # a rowid table: its rows (a pickled state, under 1 kB) are appended, and only the
            # key index is a B-tree of case ids (WITHOUT ROWID put every state in that B-tree,
            # over its overflow pages: about 10 times the cost of an insert)
            self._spill.execute("CREATE TABLE spill (c TEXT PRIMARY KEY, s BLOB)")
        self._spill.execute("BEGIN")
        self._spill.executemany("INSERT INTO spill VALUES (?, ?)", rows)
        self._spill.execute("COMMIT")
        self._spilled += len(rows)
        maybe = self._maybe
        for case in victims:
            maybe.add(case)
        if maybe.full():  # a larger filter of the ids in the file now
            maybe = maybe.bigger()
            for (case,) in self._spill.execute("SELECT c FROM spill"):
                maybe.add(case)
            self._maybe = maybe

    def _unspill(self, case: str) -> _Stream | None:
        assert self._spill is not None
        row = self._spill.execute("SELECT s FROM spill WHERE c = ?", (case,)).fetchone()
        if row is None:
            return None
        self._spill.execute("DELETE FROM spill WHERE c = ?", (case,))
        self._spilled -= 1
        st: _Stream = pickle.loads(row[0])  # noqa: S301 - our own bytes, written just now
        return st

    def close(self) -> None:
        """Drop every state and the temporary file."""
        self._live.clear()
        if self._spill is not None:
            self._spill.close()
            self._spill = None
            self._spilled = 0
            self._maybe = _MaybeSpilled()
