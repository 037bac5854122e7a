"""The tree audit: rebuild the Merkle tree from the event rows, compare it with the stored one.

:func:`audit_tree` (run by :func:`cdlog.verify.runner.verify_log` after the replay, and before
every checkpoint is signed) rebuilds the RFC 6962 tree from the event rows in log
order, independently of the stored tree, and compares it with

* the ``merkle_leaves`` rows: every event has exactly one leaf, every leaf names an event that
  is still in the store (a removed event, e.g. the newest of a case, is reported at its case
  and version), leaf indices are gap-free and in log order;
* the ``merkle_nodes`` rows: every stored hash equals the rebuilt one (a rewritten event is
  reported at its case, version and leaf index; a rewritten node at its level and index);
* every stored checkpoint: its note parses, names this log, carries the stored size and root,
  is signed by the log key when one is known, and its root equals the rebuilt root at its size.
  A log smaller than a signed checkpoint was truncated. Since every checkpoint is compared with
  the same rebuilt tree, any two of them that pass are consistent with each other;
* every checkpoint's stream-head map (``cdlog/heads/v1`` line, :mod:`cdlog.log.heads`): it must be
  the map of the heads rebuilt from the leaves at its size, and once a checkpoint carries the
  line every later one must.

Failures use check ``merkle`` (tree rows) or ``checkpoint``; log-level ones name ``<log>``.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

from cdlog.errors import Failure, NoteError, NotFoundError, VerificationError
from cdlog.log.checkpoint_format import Checkpoint, open_checkpoint
from cdlog.log.heads import EMPTY_MAP_ROOT, MAX_U64, MapBuilder, heads_of, id_bytes
from cdlog.log.heads import EXTENSION as HEADS_EXTENSION
from cdlog.log.headstore import stored_map_problem
from cdlog.log.ledger import PAGE as LEDGER_PAGE
from cdlog.log.ledger import LedgerCursor
from cdlog.log.ledger_rows import CheckpointRow, EventRow, LeafRow
from cdlog.log.merkle import EMPTY_ROOT, HASH_SIZE, append_positions, b64, node_hash
from cdlog.log.note import NoteVerifier, open_note, split_note
from cdlog.log.sealing import leaf_hash

LOG = "<log>"
PAGE = LEDGER_PAGE
"""Leaf rows the audit reads (and rebuilds, and compares) at a time."""
_LEVELS = 64
"""Frontier levels the native step carries (a tree of up to 2**63 leaves)."""


def _native_page() -> Callable[..., Any] | None:
    """``audit_page`` of the native build, bound to hashlib's libcrypto; None when pure."""
    from cdlog._native import bind_sha256, speedups  # noqa: PLC0415 - light

    page = getattr(speedups, "audit_page", None)
    return page if page is not None and bind_sha256() else None


_NATIVE_PAGE = _native_page()
"""The native twin of the audit's per-page loop (:meth:`_Auditor._native`), or None."""


def _node_count(size: int) -> int:
    """Nodes (leaves included) of a tree of ``size`` leaves as the audit stores them."""
    return 2 * size - size.bit_count()


class Frontier:
    """The right edge of a tree being rebuilt: the newest complete subtree at each level.

    A :class:`cdlog.log.merkle.HashReader` for exactly what :func:`append_positions` reads, so a
    tree of any size is rebuilt in ``O(log n)`` memory.
    """

    def __init__(self) -> None:
        self._nodes: dict[int, tuple[int, bytes]] = {}
        self.size = 0

    def read_hashes(self, positions: Sequence[tuple[int, int]]) -> list[bytes]:
        """Return the frontier hashes at ``positions``."""
        out = []
        for level, idx in positions:
            got = self._nodes.get(level)
            if got is None or got[0] != idx:
                raise NotFoundError(f"no frontier hash at ({level}, {idx})")
            out.append(got[1])
        return out

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Append a leaf hash; return the ``(level, idx, hash)`` nodes it completes.

        The rows :func:`append_positions` returns for the frontier (the left sibling at each
        level is the frontier's node there), computed without its generic reader calls.
        """
        n = self.size
        if len(leaf) != HASH_SIZE:
            append_positions(n, leaf, self)  # raises its InputError
        nodes = self._nodes
        rows = [(0, n, leaf)]
        current = leaf
        level = 0
        while (n >> level) & 1:
            sibling = (n >> level) - 1
            got = nodes.get(level)
            if got is None or got[0] != sibling:
                raise NotFoundError(f"no frontier hash at ({level}, {sibling})")
            current = sha256(b"\x01" + got[1] + current).digest()
            level += 1
            rows.append((level, n >> level, current))
        for lvl, idx, value in rows:
            nodes[lvl] = (idx, value)
        self.size = n + 1
        return rows

    def node_at(self, level: int) -> tuple[int, bytes] | None:
        """The ``(idx, hash)`` kept at ``level`` (the newest node completed there), if any."""
        return self._nodes.get(level)

    def restore(self, nodes: Sequence[tuple[int, bytes] | None], size: int) -> None:
        """Take the state :func:`audit_page` returns: the node kept at each level, the size."""
        self._nodes = {level: node for level, node in enumerate(nodes) if node is not None}
        self.size = size

    def root(self) -> bytes:
        """The RFC 6962 root of the leaves appended so far."""
        if self.size == 0:
            return EMPTY_ROOT
        hashes = [self._nodes[level][1] for level in range(self.size.bit_length() - 1, -1, -1)
                  if self.size >> level & 1]
        result = hashes[-1]
        for h in reversed(hashes[:-1]):
            result = node_hash(h, result)
        return result


@dataclass
class TreeAudit:
    """The outcome of :func:`audit_tree`."""

    size: int = 0
    root: bytes = EMPTY_ROOT
    failures: list[Failure] = field(default_factory=list)
    checkpoints: int = 0
    latest_checkpoint: int | None = None


_FIRST = -(2**62)  # below any id, so rows slipped in before position 1 are seen too


def _pages(fetch: Callable[[int], list[Any]], key: Callable[[Any], int], after: int = _FIRST
           ) -> Iterator[Any]:
    while True:
        page = fetch(after)
        yield from page
        if len(page) < PAGE:
            return
        after = key(page[-1])


def _where(leaf: LeafRow) -> str:
    return f"leaf {leaf.leaf_index} (notification {leaf.notification_id})"


class _Auditor:
    def __init__(self, led: LedgerCursor) -> None:
        self.led = led
        self.out = TreeAudit()
        self.tree = Frontier()
        self.expected_nodes = 0
        self.pending: list[tuple[int, int, bytes, LeafRow, EventRow | None]] = []
        self.roots: dict[int, bytes] = {}
        self.wanted_sizes: set[int] = set()
        # the stream-head map kept while rebuilding, and its (count, root) at wanted sizes
        self.heads = MapBuilder()
        self.maps: dict[int, tuple[int, bytes]] = {}

    def fail(self, case: str, version: int | None, detail: str, check: str = "merkle") -> None:
        self.out.failures.append(Failure(case, version, check, detail))

    # -------------------------------------------------------------- leaves vs events
    def run(self, sizes: Iterable[int]) -> None:
        self.wanted_sizes = set(sizes)
        if 0 in self.wanted_sizes:
            self.roots[0] = EMPTY_ROOT
            self.maps[0] = (0, EMPTY_MAP_ROOT)
        after_leaf, after_event, expected_index, last_nid = _FIRST, _FIRST, 0, 0
        if _NATIVE_PAGE is not None:
            after_leaf, after_event, expected_index, last_nid = self._native(_NATIVE_PAGE)
        leaves = _pages(lambda after: self.led.leaves(after + 1, PAGE), lambda r: r.leaf_index,
                        after_leaf)
        events = _pages(lambda after: self.led.events_after(after, PAGE),
                        lambda r: r.notification_id, after_event)
        event = next(events, None)
        for leaf in leaves:
            if leaf.leaf_index > expected_index:
                self.fail(LOG, None, f"leaf indices {expected_index}..{leaf.leaf_index - 1} "
                          "are missing from merkle_leaves (rows removed)")
                expected_index = leaf.leaf_index
            elif leaf.leaf_index < expected_index:
                self.fail(leaf.case, leaf.originator_version,
                          f"{_where(leaf)}: leaf index out of sequence (expected "
                          f"{expected_index})")
                continue
            if leaf.notification_id <= last_nid:
                self.fail(leaf.case, leaf.originator_version,
                          f"{_where(leaf)} is out of log order (after notification {last_nid})")
            last_nid = max(last_nid, leaf.notification_id)
            while event is not None and event.notification_id < leaf.notification_id:
                self._event_without_leaf(event)
                event = next(events, None)
            if event is not None and event.notification_id == leaf.notification_id:
                self._leaf(leaf, event)
                event = next(events, None)
            else:
                self._leaf(leaf, None)
            expected_index += 1
        while event is not None:
            self._event_without_leaf(event)
            event = next(events, None)
        self._flush()
        self.out.size = self.tree.size
        self.out.root = self.tree.root()
        stored = self.led.node_count()
        if stored != self.expected_nodes:
            extra = self.led.nodes_beyond(self.tree.size)
            what = f"; nodes past the tree: {extra}" if extra else ""
            self.fail(LOG, None, f"merkle_nodes holds {stored} rows, but a tree of "
                      f"{self.tree.size} leaves has {self.expected_nodes}{what}")

    def _native(self, audit_page: Callable[..., Any]) -> tuple[int, int, int, int]:
        """Audit clean pages in one native step each (``cdlog/_native/audit.c``).

        A page is the ``PAGE`` leaf rows the loop of :meth:`run` would take next, with the event
        rows it would pair with them, and the stored hashes :meth:`_flush` would compare: the
        same reads. ``audit_page`` returns the state after the page when the Python would report
        nothing on it (and the page ends where the Python flushes), else None. Returns where the
        Python loop goes on: the last leaf index and notification id read, the next leaf index
        and the last notification id seen (from the first page that is not clean, or the end).
        """
        led, tree, heads = self.led, self.tree, self.heads
        wanted = sorted(self.wanted_sizes)
        after_leaf, after_event, last_nid = _FIRST, _FIRST, 0
        while True:
            size = tree.size
            leaves = led.leaf_tuples(after_leaf + 1, PAGE)
            events = led.event_tuples(after_event, PAGE)
            if not leaves or len(events) != len(leaves):
                break
            end = size + len(leaves)
            levels = []
            level = 0
            while size >> level < end >> level:
                levels.append(led.level_tuples(level, size >> level, end >> level))
                level += 1
            at = wanted[bisect_right(wanted, size):bisect_right(wanted, end)]
            nodes = [tree.node_at(level) for level in range(_LEVELS)]
            got = audit_page(leaves, events, levels, nodes, size, last_nid, at)
            if got is None:
                break
            nodes, roots, pairs, last_nid = got
            tree.restore(nodes, end)
            self.expected_nodes += _node_count(end) - _node_count(size)
            done = 0  # MapBuilder.set of each pair, in leaf order (state() takes the dict)
            for wanted_size, root in zip(at, roots, strict=True):
                heads._pending.update(pairs[done:wanted_size - size])
                done = wanted_size - size
                self.roots[wanted_size] = root
                self.maps[wanted_size] = self._map()
            heads._pending.update(pairs[done:])
            after_leaf, after_event = end - 1, last_nid
            if len(leaves) < PAGE:
                break
        return after_leaf, after_event, tree.size, last_nid

    def _event_without_leaf(self, event: EventRow) -> None:
        self.fail(event.case, event.originator_version,
                  f"event (notification {event.notification_id}) has no leaf in the Merkle "
                  "log: it was added outside cdlog or its leaf row was removed")

    def _leaf(self, leaf: LeafRow, event: EventRow | None) -> None:
        if event is None:
            self.fail(leaf.case, leaf.originator_version,
                      f"{_where(leaf)}: the event is missing from the store (removed after it "
                      "was appended)")
        elif (event.originator_id, event.originator_version) != (leaf.originator_id,
                                                                  leaf.originator_version):
            self.fail(event.case, event.originator_version,
                      f"{_where(leaf)} names case {leaf.case} v{leaf.originator_version}, but "
                      "that notification holds this event (rows moved)")
        self.pending.append((leaf.leaf_index, leaf.notification_id,
                             leaf_hash(event.state) if event is not None else b"", leaf, event))
        if len(self.pending) >= PAGE:
            self._flush()

    # -------------------------------------------------------------- rebuild and compare
    def _flush(self) -> None:
        pending = self.pending
        if not pending:
            return
        leaves = self._stored_levels({0: [index for index, *_ in pending]})[0]
        tree, wanted, roots = self.tree, self.wanted_sizes, self.roots
        expected: list[tuple[int, int, bytes]] = []
        for index, _, rebuilt, leaf, event in pending:
            recorded = leaves.get(index)
            if event is None:
                # No event to rehash: keep the recorded hash so one removal is one failure.
                value = recorded if recorded is not None else EMPTY_ROOT
            else:
                value = rebuilt
                if recorded is not None and recorded != rebuilt:
                    self.fail(event.case, event.originator_version,
                              f"{_where(leaf)}: the stored event bytes do not hash to the leaf "
                              "hash recorded when it was appended: the event (or that leaf "
                              "hash) was rewritten")
            rows = tree.append(value)
            self._head(leaf, index, value)
            self.expected_nodes += len(rows)
            if len(rows) > 1:
                expected.extend(rows[1:])
            if recorded is None:
                self.fail(leaf.case, leaf.originator_version,
                          f"{_where(leaf)}: merkle_nodes has no leaf hash (row removed)")
            if tree.size in wanted:
                roots[tree.size] = tree.root()
                self.maps[tree.size] = self._map()
        by_level: dict[int, list[int]] = {}
        for level, idx, _ in expected:
            by_level.setdefault(level, []).append(idx)
        inner = self._stored_levels(by_level)
        for level, idx, value in expected:
            got = inner[level].get(idx)
            if got is None:
                lo, hi = idx << level, (idx + 1) << level
                self.fail(LOG, None, f"merkle node (level {level}, index {idx}) over leaves "
                          f"{lo}..{hi - 1} is missing (row removed)")
            elif got != value:
                lo, hi = idx << level, (idx + 1) << level
                self.fail(LOG, None, f"merkle node (level {level}, index {idx}) over leaves "
                          f"{lo}..{hi - 1} differs from the tree rebuilt from the events "
                          "(node rewritten)")
        self.pending = []

    def _head(self, leaf: LeafRow, index: int, value: bytes) -> None:
        try:
            key = id_bytes(leaf.originator_id)
        except ValueError:
            return  # a damaged row: reported at its leaf; the map then differs
        if 1 <= leaf.originator_version <= MAX_U64 and len(value) == HASH_SIZE:
            self.heads.set(key, leaf.originator_version, index, value)

    def _map(self) -> tuple[int, bytes]:
        """The stream-head map (count, root) of the leaves so far (docs/SPEC.md §12)."""
        return self.heads.state()

    def _stored_levels(self, wanted: dict[int, list[int]]) -> dict[int, dict[int, bytes]]:
        """The stored hashes of each level over the range of the indices wanted there (one
        range read per level), by level and index."""
        return {level: self.led.level_range(level, min(idxs), max(idxs) + 1)
                for level, idxs in wanted.items()}


def _check_map(audit: _Auditor, cp: Checkpoint, where: str, with_heads: int | None
               ) -> int | None:
    """Compare a checkpoint's heads line with the map rebuilt from the events; return the
    size of the first checkpoint with a heads line so far (a later one without it is a
    downgrade)."""
    try:
        line = heads_of(cp)
    except NoteError as exc:
        audit.fail(LOG, None, f"{where}: {exc.failures[0].detail}", "checkpoint")
        return with_heads
    if line is None:
        if with_heads is not None:
            audit.fail(LOG, None, f"{where} carries no {HEADS_EXTENSION} line, but the "
                       f"checkpoint of size {with_heads} before it did", "checkpoint")
        return with_heads
    rebuilt = audit.maps.get(cp.size)
    if rebuilt is not None and rebuilt != line:
        audit.fail(LOG, None, f"{where}: its stream-head map ({line[0]} streams, root "
                   f"{b64(line[1])}) differs from the heads rebuilt from the events "
                   f"({rebuilt[0]} streams, root {b64(rebuilt[1])})", "checkpoint")
    return cp.size if with_heads is None else with_heads


def _check_checkpoints(audit: _Auditor, checkpoints: Sequence[CheckpointRow], origin: str,
                       verifier: NoteVerifier | None) -> None:
    out = audit.out
    with_heads: int | None = None
    for row in checkpoints:
        where = f"checkpoint of size {row.size}"
        try:
            if verifier is not None:
                note = open_note(row.note, [verifier])
                text = note.text
            else:
                text, _ = split_note(row.note)
            cp = Checkpoint.parse(text)
        except VerificationError as exc:
            audit.fail(LOG, None, f"{where}: {exc.failures[0].detail}", "checkpoint")
            continue
        if cp.origin != origin:
            audit.fail(LOG, None, f"{where} names log {cp.origin!r}, not {origin!r}",
                       "checkpoint")
        if cp.size != row.size or cp.root != row.root:
            audit.fail(LOG, None, f"{where}: the signed note says size {cp.size} root "
                       f"{b64(cp.root)}, the row says size {row.size} root {b64(row.root)}",
                       "checkpoint")
        out.checkpoints += 1
        out.latest_checkpoint = max(out.latest_checkpoint or 0, row.size)
        if row.size > out.size:
            audit.fail(LOG, None, f"the log is truncated: it has {out.size} leaves, but a "
                       f"checkpoint was signed at size {row.size} (leaves {out.size}.."
                       f"{row.size - 1} are gone)", "checkpoint")
            continue
        rebuilt = audit.roots.get(row.size)
        if rebuilt is not None and rebuilt != cp.root:
            audit.fail(LOG, None, f"{where}: its root {b64(cp.root)} differs from the root "
                       f"{b64(rebuilt)} rebuilt from the events: an event before leaf "
                       f"{row.size} was changed or removed", "checkpoint")
        with_heads = _check_map(audit, cp, where, with_heads)


def _check_known(audit: _Auditor, known: Sequence[tuple[str, Checkpoint | None]],
                 stored: Sequence[CheckpointRow]) -> None:
    signed = {(row.size, row.root) for row in stored}
    for i, (detail, cp) in enumerate(known, start=1):
        where = f"saved checkpoint {i}"
        if cp is None:
            audit.fail(LOG, None, f"{where}: {detail}", "checkpoint")
            continue
        if (cp.size, cp.root) not in signed:
            audit.fail(LOG, None, f"{where} (size {cp.size}) carries the log's signature but "
                       "is not among the store's checkpoints (removed, or signed elsewhere)",
                       "checkpoint")
        if cp.size > audit.out.size:
            audit.fail(LOG, None, f"the log is truncated: it has {audit.out.size} leaves, but "
                       f"{where} was signed at size {cp.size}", "checkpoint")
        elif audit.roots.get(cp.size) != cp.root:
            audit.fail(LOG, None, f"{where} (size {cp.size}, root {b64(cp.root)}) is not the "
                       "tree rebuilt from the events: the log was rewritten or forked since",
                       "checkpoint")
        else:
            _check_map(audit, cp, where, None)


def audit_tree(led: LedgerCursor, origin: str, verifier: NoteVerifier | None = None,
               known: Sequence[str] = ()) -> TreeAudit:
    """Rebuild the tree from the event rows and compare it with the stored tree and checkpoints.

    ``verifier`` (the log key) checks each stored checkpoint's signature when given. ``known``
    are signed checkpoints saved outside the store (by an auditor or a witness); each must be
    signed by ``verifier`` for ``origin`` and match the rebuilt tree at its size.
    """
    checkpoints = led.checkpoints()
    saved: list[tuple[str, Checkpoint | None]] = []
    for text in known:
        if verifier is None:
            saved.append(("cannot be checked without the log's verifier key", None))
            continue
        try:
            saved.append(("", open_checkpoint(text, verifier, origin)[0]))
        except VerificationError as exc:
            saved.append((exc.failures[0].detail, None))
    auditor = _Auditor(led)
    auditor.run([cp.size for cp in checkpoints] + [cp.size for _, cp in saved if cp])
    _check_checkpoints(auditor, checkpoints, origin, verifier)
    _check_known(auditor, saved, checkpoints)
    problem = stored_map_problem(led, auditor.maps)
    if problem is not None:
        auditor.fail(LOG, None, f"the stored stream-head map: {problem} (the next checkpoint "
                     "would sign it; emptying head_map, head_entries and head_nodes makes it "
                     "rebuild the map from the events)", "checkpoint")
    return auditor.out
