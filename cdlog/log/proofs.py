"""Inclusion and consistency proofs from the stored tree, in JSON, and their verifiers.

Inclusion (``cdlog prove inclusion CASE VERSION [--size N]``)::

    {"leaf_index": 12, "tree_size": 40, "leaf_hash": "<b64>", "root": "<b64>",
     "proof": ["<b64>", ...], "checkpoint": "<signed note text, with cosignatures>"}

Consistency (``cdlog prove consistency OLD NEW``)::

    {"size1": 20, "size2": 40, "root1": "<b64>", "root2": "<b64>", "proof": ["<b64>", ...]}

Hashes are standard base64 with padding, indices 0-based, proofs ordered leaf-to-root as in
RFC 9162 (§2.1.3 inclusion, §2.1.4 consistency). An inclusion proof is always given against a
*signed* checkpoint (the latest one, or the one of ``size``). Decisions at the edges (see also
:mod:`cdlog.log.merkle`):

* old size 0: every tree extends the empty tree, so no consistency proof is produced
  (:func:`prove_consistency` refuses) and :func:`verify_consistency_doc` rejects
  ``size1 == 0``; a witness handles its first checkpoint itself (:mod:`cdlog.verify.witness`);
* equal sizes: the proof is empty and valid only when both roots are equal;
* inclusion in a tree of size 0, or at an index >= the tree size, is impossible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cdlog.errors import InputError, NotFoundError, ProofError, VerificationError
from cdlog.log.checkpoint_format import Checkpoint, open_checkpoint
from cdlog.log.checkpoint_signing import StoredCheckpoint, stored_checkpoint
from cdlog.log.ledger import LedgerCursor, read_ledger
from cdlog.log.merkle import (
    HASH_SIZE,
    b64,
    consistency_proof,
    inclusion_proof,
    unb64,
    verify_consistency,
    verify_inclusion,
)
from cdlog.log.note import CosignatureVerifier, NoteVerifier
from cdlog.log.sealing import leaf_hash, stream_id

INCLUSION_KEYS = ("leaf_index", "tree_size", "leaf_hash", "root", "proof", "checkpoint")
CONSISTENCY_KEYS = ("size1", "size2", "root1", "root2", "proof")


def _checkpoint_for(led: LedgerCursor, size: int | None) -> StoredCheckpoint:
    row = led.latest_checkpoint() if size is None else led.checkpoint_at(size)
    if row is None:
        if size is None:
            raise NotFoundError("the log has no signed checkpoint yet; run `cdlog checkpoint`")
        signed = [c.size for c in led.checkpoints()]
        if not signed:
            raise NotFoundError(f"no checkpoint of size {size}: the log has no signed "
                                "checkpoint yet; run `cdlog checkpoint`")
        shown = ", ".join(str(n) for n in signed[-10:])
        more = f"{len(signed) - 10} more, " if len(signed) > 10 else ""
        raise NotFoundError(f"no checkpoint of size {size} (latest is {signed[-1]}; signed "
                            f"sizes: {more}{shown})")
    return stored_checkpoint(led, row)


def inclusion_doc(led: LedgerCursor, index: int, cp: StoredCheckpoint) -> dict[str, Any]:
    """The inclusion JSON for leaf ``index`` against stored checkpoint ``cp``."""
    if not 0 <= index < cp.size:
        raise InputError("size", f"leaf {index} is not in the tree of size {cp.size}",
                         f"a checkpoint of size > {index}")
    root = led.root(cp.size)
    if root != cp.root:
        raise VerificationError.at("<log>", None, "checkpoint",
                                   f"the stored tree no longer reproduces the checkpoint of "
                                   f"size {cp.size}; run `cdlog verify`")
    leaf = led.read_hashes([(0, index)])[0]
    return {"leaf_index": index, "tree_size": cp.size, "leaf_hash": b64(leaf),
            "root": b64(root), "proof": [b64(h) for h in inclusion_proof(led, index, cp.size)],
            "checkpoint": cp.text}


def prove_inclusion(log: Any, case_stream: str, version: int,
                    size: int | None = None) -> dict[str, Any]:
    """Prove that event ``version`` of stream ``case_stream`` is in the signed log.

    ``size`` selects a stored checkpoint (default: the latest). The event's stored bytes must
    hash to its leaf; otherwise a VerificationError is raised rather than a proof.
    """
    with read_ledger(log) as led:
        leaf = led.leaf_of_event(stream_id(case_stream), version)
        if leaf is None:
            heads = log.app.recorder.select_events(stream_id(case_stream), desc=True, limit=1)
            head = f"its head is v{heads[0].originator_version}" if heads else "it has no events"
            raise NotFoundError(f"no event version {version} in {case_stream} ({head})")
        cp = _checkpoint_for(led, size)
        if leaf.leaf_index >= cp.size:
            raise NotFoundError(f"{case_stream} v{version} is leaf {leaf.leaf_index}, after the "
                                f"checkpoint of size {cp.size}; sign a newer checkpoint")
        event = led.event(leaf.notification_id)
        doc = inclusion_doc(led, leaf.leaf_index, cp)
        if event is None or b64(leaf_hash(event.state)) != doc["leaf_hash"]:
            raise VerificationError.at(case_stream, version, "merkle",
                                       f"leaf {leaf.leaf_index}: the stored event is missing "
                                       "or does not hash to its leaf; run `cdlog verify`")
        return doc


def prove_consistency(log: Any, old: int, new: int) -> dict[str, Any]:
    """Prove that the tree of size ``new`` extends the tree of size ``old``.

    Both sizes must be within the stored tree; where a checkpoint was signed at a size, its
    root must be the stored tree's. ``old == 0`` is refused (no proof is needed or defined).
    """
    if old == 0:
        raise InputError("old", "is 0", "a size >= 1: every tree extends the empty tree, and "
                         "RFC 6962 defines no consistency proof from size 0")
    if not 0 < old <= new:
        raise InputError("old", f"{old} is not between 1 and new {new}", "1 <= old <= new")
    with read_ledger(log) as led:
        size = led.size()
        if new > size:
            raise InputError("new", f"{new} is larger than the tree ({size} leaves)",
                             f"a size <= {size}")
        roots = {}
        for s in (old, new):
            roots[s] = led.root(s)
            row = led.checkpoint_at(s)
            if row is not None and row.root != roots[s]:
                raise VerificationError.at("<log>", None, "checkpoint",
                                           f"the stored tree no longer reproduces the "
                                           f"checkpoint of size {s}; run `cdlog verify`")
        proof = consistency_proof(led, old, new)
    return {"size1": old, "size2": new, "root1": b64(roots[old]), "root2": b64(roots[new]),
            "proof": [b64(h) for h in proof]}


# ---------------------------------------------------------------------------- verification
def _field(doc: Mapping[str, Any], key: str, kind: type) -> Any:
    if key not in doc:
        raise ProofError(f"proof document has no {key!r}")
    value = doc[key]
    if kind is int and (type(value) is not int or value < 0):
        raise ProofError(f"{key} must be an integer >= 0, not {value!r}")
    if kind is str and not isinstance(value, str):
        raise ProofError(f"{key} must be a string, not {type(value).__name__}")
    return value


def _hash(doc: Mapping[str, Any], key: str) -> bytes:
    value = unb64(_field(doc, key, str))
    if len(value) != HASH_SIZE:
        raise ProofError(f"{key} is {len(value)} bytes, expected {HASH_SIZE}")
    return value


def _proof(doc: Mapping[str, Any]) -> list[bytes]:
    proof = doc.get("proof")
    if not isinstance(proof, list) or not all(isinstance(p, str) for p in proof):
        raise ProofError("proof must be a list of base64 strings")
    return [unb64(p) for p in proof]


def _check_keys(doc: Any, allowed: Sequence[str]) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise ProofError(f"proof document is a {type(doc).__name__}, not an object")
    extra = sorted(set(doc) - set(allowed))
    if extra:
        raise ProofError(f"proof document has unknown fields {extra}")
    return doc


def verify_inclusion_doc(doc: Any, leaf: bytes | None = None, *,
                         checkpoint: Checkpoint | None = None) -> None:
    """Verify an inclusion document's proof (without its ``checkpoint`` field).

    ``leaf`` (the leaf hash the caller computed from the event) must equal ``leaf_hash``;
    ``checkpoint`` binds the proof to a verified checkpoint's size and root.
    """
    doc = _check_keys(doc, INCLUSION_KEYS)
    index = _field(doc, "leaf_index", int)
    size = _field(doc, "tree_size", int)
    claimed = _hash(doc, "leaf_hash")
    root = _hash(doc, "root")
    if leaf is not None and leaf != claimed:
        raise ProofError(f"leaf {index}: the event hashes to {b64(leaf)}, but the proof is for "
                         f"{b64(claimed)}")
    if checkpoint is not None and (checkpoint.size, checkpoint.root) != (size, root):
        raise ProofError(f"the proof is for size {size} root {b64(root)}, but the checkpoint "
                         f"has size {checkpoint.size} root {b64(checkpoint.root)}")
    verify_inclusion(claimed, index, size, _proof(doc), root)


def verify_inclusion_proof(doc: Any, log_verifier: NoteVerifier, *,
                           sealed: bytes | None = None, origin: str | None = None,
                           cosigners: Sequence[CosignatureVerifier] = ()
                           ) -> tuple[Checkpoint, list[tuple[str, int]]]:
    """Verify ``cdlog prove inclusion`` output end to end; return the checkpoint, cosigners.

    Checks the checkpoint's log signature (and origin, default the key name), that the proof's
    size and root are the checkpoint's, the audit path, and, given the event's ``sealed``
    bytes, that they hash to the proven leaf. Raises ProofError or NoteError.
    """
    doc = _check_keys(doc, INCLUSION_KEYS)
    text = _field(doc, "checkpoint", str)
    cp, cosigned = open_checkpoint(text, log_verifier, origin or log_verifier.name, cosigners)
    verify_inclusion_doc(doc, leaf_hash(sealed) if sealed is not None else None, checkpoint=cp)
    return cp, cosigned


def verify_consistency_doc(doc: Any, old: Checkpoint | None = None,
                           new: Checkpoint | None = None) -> None:
    """Verify ``cdlog prove consistency`` output; optionally bind it to two checkpoints.

    ``size1 == 0`` is rejected and equal sizes need an empty proof and equal roots (see the
    module docstring). Raises ProofError.
    """
    doc = _check_keys(doc, CONSISTENCY_KEYS)
    size1, size2 = _field(doc, "size1", int), _field(doc, "size2", int)
    root1, root2 = _hash(doc, "root1"), _hash(doc, "root2")
    for label, cp, size, root in (("old", old, size1, root1), ("new", new, size2, root2)):
        if cp is not None and (cp.size, cp.root) != (size, root):
            raise ProofError(f"the proof's {label} tree is size {size} root {b64(root)}, but "
                             f"the {label} checkpoint has size {cp.size} root {b64(cp.root)}")
    verify_consistency(size1, size2, root1, root2, _proof(doc))
