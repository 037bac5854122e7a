"""The Merkle tree's frontier as a writer process last committed it (the hashes of the
complete subtrees the tree ends with), so that a process appending again and again does not
read back the hashes it wrote itself; :class:`cdlog.log.ledger.LedgerCursor` uses it."""

from __future__ import annotations

import threading

FrontierKey = tuple[int, int, str, int]
"""What identifies a tree between commits: its size and its last leaf row (notification id,
case id, version)."""


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """The ``(level, idx)`` of the complete subtrees a tree of ``size`` leaves ends with: one
    per set bit of ``size``. Appending the next leaf reads only some of these."""
    return [(level, (size >> level) - 1) for level in range(size.bit_length())
            if (size >> level) & 1]


class FrontierCache:
    """The frontier hashes of the tree as this process last committed it.

    Every append reads the left siblings of its path (some of the frontier) in its insert
    transaction. A process that appends again and again would read the very hashes it wrote
    itself; it remembers them instead. They are used only when the tree's last leaf row, read
    under the write lock of the new transaction, is the one this process committed, so a
    commit by any other writer (another process, another connection) makes the cache miss and
    the hashes are read from the table as before. Hashes are published only after the insert
    transaction committed (:meth:`publish`); a rolled-back transaction leaves the cache alone.
    (A committed complete subtree never changes, so the key guards against a store changed
    underneath, such as one restored from an older backup, rather than against other writers.)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: FrontierKey | None = None
        self._hashes: dict[tuple[int, int], bytes] = {}
        self._pending = threading.local()

    def get(self, key: FrontierKey) -> dict[tuple[int, int], bytes]:
        """The remembered frontier of the tree ``key`` names, or nothing."""
        with self._lock:
            return dict(self._hashes) if key == self._key else {}

    def stage(self, key: FrontierKey, hashes: dict[tuple[int, int], bytes]) -> None:
        """Hold the frontier of an insert transaction (this thread's) until it commits."""
        self._pending.value = (key, hashes)

    def publish(self) -> None:
        """The insert transaction of this thread committed: remember its frontier."""
        staged = getattr(self._pending, "value", None)
        self._pending.value = None
        if staged is not None:
            with self._lock:
                self._key, self._hashes = staged

    def discard(self) -> None:
        """The insert transaction of this thread failed: forget what it staged."""
        self._pending.value = None
