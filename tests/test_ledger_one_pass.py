"""The one-pass append on a remembered frontier (``LedgerCursor._append_on_frontier``) gives
the rows of the reference path (``_stage``, which reads the left siblings through
:func:`cdlog.log.merkle.append_positions`) and the next frontier, for any tree size and
any split of the appends into saves."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.log.frontier import FrontierCache, frontier_positions
from cdlog.log.ledger import LedgerCursor
from cdlog.log.ledger_sql import SQLiteLedgerSQL
from cdlog.log.merkle import MemoryHashStore
from cdlog.log.sealing import leaf_hash


class _Flushed(LedgerCursor):
    """A cursor whose writes are kept in lists instead of sent."""

    def __init__(self, frontier: FrontierCache | None) -> None:
        super().__init__(None, SQLiteLedgerSQL(), "stored_events", frontier)
        self.leaf_out: list[tuple[Any, ...]] = []
        self.node_out: list[tuple[Any, ...]] = []

    def _flush(self) -> None:
        self.leaf_out += self._leaf_rows
        self.node_out += self._node_rows
        self._leaf_rows, self._node_rows = [], []


def _rows(first: int, count: int, salt: int) -> list[tuple[int, str, int, bytes]]:
    """Rows as :func:`cdlog.log.ledger.leaf_rows` gives them: the last field is a leaf hash."""
    return [(10 + i, f"case-{salt}", i + 1, leaf_hash(b"state %d %d" % (salt, i)))
            for i in range(first, first + count)]


@settings(max_examples=60, deadline=None)
@given(size=st.integers(0, 300), saves=st.lists(st.integers(1, 40), min_size=1, max_size=6),
       salt=st.integers(0, 10**6))
def test_one_pass_equals_the_reference(size: int, saves: list[int], salt: int) -> None:
    tree = MemoryHashStore()
    for i in range(size):
        tree.append(leaf_hash(b"earlier %d %d" % (salt, i)))
    for count in saves:
        rows = _rows(size, count, salt)
        # the reference: every left sibling read from the stored tree
        reference = _Flushed(None)
        reference._written.update({p: tree.read_hashes([p])[0]
                                   for p in frontier_positions(size)})
        n = size
        for nid, oid, version, leaf in rows:
            reference._stage(nid, oid, version, leaf, n)
            n += 1
        reference._flush()
        # one pass on the frontier alone
        cache = FrontierCache()
        fast = _Flushed(cache)
        known = {p: tree.read_hashes([p])[0] for p in frontier_positions(size)}
        fast._append_on_frontier(rows, size, known, cache)
        cache.publish()
        assert fast.leaf_out == reference.leaf_out
        assert fast.node_out == reference.node_out
        for _, _, _, leaf in rows:
            tree.append(leaf)
        size += count
        last = rows[-1]
        frontier = cache.get((size, last[0], last[1], last[2]))
        assert frontier == {p: tree.read_hashes([p])[0] for p in frontier_positions(size)}
