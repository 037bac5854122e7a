"""``cdlog prove head``: a stream's head at a signed checkpoint, with its map proof.

The latest checkpoint's map is stored (:mod:`cdlog.log.headstore`), so its proofs read ``O(log n)``
rows; an older checkpoint's map is rebuilt from the leaf rows. Every document is checked with
:func:`cdlog.log.heads.verify_head_doc` before it is returned, so a damaged head table gives a
located failure or a rebuilt proof, never a wrong proof.
"""

from __future__ import annotations

from typing import Any

from cdlog.errors import NotFoundError, ProofError, VerificationError
from cdlog.log.checkpoint_signing import StoredCheckpoint, stored_checkpoint
from cdlog.log.heads import (
    fold,
    head_doc,
    heads_of,
    path_ranges,
    prove_in_memory,
    subtrees,
    verify_head_doc,
)
from cdlog.log.headstore import HeadTables, entries_at
from cdlog.log.ledger import LedgerCursor, read_ledger
from cdlog.log.merkle import b64
from cdlog.log.sealing import stream_id

LOG = "<log>"


def _checkpoint_for(led: LedgerCursor, size: int | None) -> StoredCheckpoint:
    row = led.latest_checkpoint() if size is None else led.checkpoint_at(size)
    if row is None:
        if size is None:
            raise NotFoundError("the log has no signed checkpoint yet; run `cdlog checkpoint`")
        sizes = ", ".join(str(c.size) for c in led.checkpoints()[-10:]) or "none"
        raise NotFoundError(f"no checkpoint of size {size} (latest signed sizes: {sizes})")
    return stored_checkpoint(led, row)


def _from_stored_map(led: LedgerCursor, stream: str, cp: StoredCheckpoint, count: int,
                     root: bytes) -> dict[str, Any] | None:
    """The head document read from the stored map (``O(log n)`` rows), or None when the map
    is not at ``cp`` or its answer does not verify."""
    tables = HeadTables(led)
    state = tables.state() if tables.exist() else None
    if state is None or (state.size, state.count, state.root) != (cp.size, count, root):
        return None
    key = stream_id(stream).bytes
    row = tables.by_id(key)
    gap = row is None
    if gap and count:
        row = tables.spanning(key)
    if row is None:
        doc = head_doc(stream, cp.size, count, root, None)
    else:
        entry = tables.entry_of(row)
        ranges = path_ranges(row.pos, count)
        nodes = tables.nodes(sorted({p for lo, hi in ranges for p in subtrees(lo, hi)}))
        try:
            path = [fold([nodes[p] for p in subtrees(lo, hi)]) for lo, hi in ranges]
        except KeyError:
            return None
        proven = (row.pos, entry, path)
        doc = (head_doc(stream, cp.size, count, root, None, proven) if gap
               else head_doc(stream, cp.size, count, root, proven))
    try:
        verify_head_doc(doc, stream, checkpoint=cp.checkpoint)
    except ProofError:
        return None
    return doc


def head_proof(led: LedgerCursor, stream: str, cp: StoredCheckpoint) -> dict[str, Any]:
    """The head document of ``stream`` at stored checkpoint ``cp`` (without ``checkpoint``).

    Raises NotFoundError when ``cp`` carries no heads line, VerificationError when the stored
    map or the leaves no longer reproduce it.
    """
    line = heads_of(cp.checkpoint)
    if line is None:
        raise NotFoundError(f"the checkpoint of size {cp.size} carries no stream-head map (it "
                            "was signed before cdlog kept one); sign a newer checkpoint once "
                            "the log has grown")
    count, root = line
    try:
        stored = _from_stored_map(led, stream, cp, count, root)
    except VerificationError:
        stored = None  # a damaged stored map: rebuilt from the leaves below
    if stored is not None:
        return stored
    doc = prove_in_memory(entries_at(led, cp.size), stream, cp.size)
    if (doc["heads_size"], doc["heads_root"]) != (count, b64(root)):
        raise VerificationError.at(LOG, None, "checkpoint", f"the stream heads rebuilt from "
                                   f"the leaves differ from the map of the checkpoint of size "
                                   f"{cp.size}; run `cdlog verify`")
    return doc


def prove_head(log: Any, stream: str, size: int | None = None) -> dict[str, Any]:
    """``cdlog prove head``: the head of ``stream`` at a signed checkpoint (default: the
    latest), or the proof that the log holds no event of it, with the checkpoint."""
    with read_ledger(log) as led:
        cp = _checkpoint_for(led, size)
        doc = head_proof(led, stream, cp)
    doc["checkpoint"] = cp.text
    return doc


