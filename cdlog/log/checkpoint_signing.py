"""Signing, storing and reading the log's checkpoints, and the log's own key.

The log key is an Ed25519 C2SP note signer whose key name is the log's origin
(:attr:`cdlog.application.CaseLog.log_id`). It lives in an encrypted key file at
``<store home>/keys/log.key`` (:mod:`cdlog.keys.keyfile`); its public header is enough to build
the verifier key, so ``cdlog log-key`` and verification need no passphrase.

:func:`sign_checkpoint` never signs two inconsistent checkpoints:

* the first time in a process it is called for a log, the whole tree is rebuilt from the event
  rows (:func:`cdlog.log.tree_audit.audit_tree`) and compared with the stored tree and every stored
  checkpoint; any difference refuses;
* every time, inside one write transaction that holds the store's write lock: the stored tree
  must reproduce the last signed checkpoint's root, the leaves added since then must hash from
  the stored event bytes, and the new root must verify as consistent with the last checkpoint
  through a consistency proof; only then is the new checkpoint signed and stored, in the same
  transaction (so the tree state it attests is the persisted one);
* a tree that has not grown gets no new signature: the last checkpoint is returned.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cdlog.errors import (
    Failure,
    InputError,
    NoteError,
    NotFoundError,
    ProofError,
    VerificationError,
)
from cdlog.keys.keyfile import read_key_file, read_key_file_info, write_key_file
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.checkpoint_format import Checkpoint
from cdlog.log.checkpoint_format import sign_checkpoint as sign_checkpoint_note
from cdlog.log.heads import Head, heads_line, id_bytes
from cdlog.log.headstore import update_map
from cdlog.log.ledger import LedgerCursor, read_ledger, write_ledger
from cdlog.log.ledger_rows import CheckpointRow, CosignatureRow
from cdlog.log.merkle import b64, consistency_proof, verify_consistency
from cdlog.log.note import CosignatureVerifier, NoteSigner, NoteVerifier, open_note, split_note
from cdlog.log.sealing import leaf_hash
from cdlog.log.tree_audit import audit_tree

LOG = "<log>"
_AUDITED: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class StoredCheckpoint:
    """A signed checkpoint as stored, with the witness cosignatures the log accepted."""

    checkpoint: Checkpoint
    note: str
    created_at: str
    cosignatures: tuple[CosignatureRow, ...] = ()

    @property
    def size(self) -> int:
        """The tree size."""
        return self.checkpoint.size

    @property
    def root(self) -> bytes:
        """The tree root."""
        return self.checkpoint.root

    @property
    def text(self) -> str:
        """The signed note with every stored cosignature line appended."""
        return self.note + "".join(c.line + "\n" for c in self.cosignatures)


def stored_checkpoint(led: LedgerCursor, row: CheckpointRow) -> StoredCheckpoint:
    """A stored checkpoint row as a :class:`StoredCheckpoint`, with its cosignatures."""
    body, _ = split_note(row.note)
    return StoredCheckpoint(Checkpoint.parse(body), row.note, row.created_at,
                            tuple(led.cosignatures(row.size)))


# ---------------------------------------------------------------------------- the log key
def log_key_path(log: Any) -> Path:
    """Where the log's key file lives: ``<store home>/keys/log.key``."""
    return Path(log.store.home) / "keys" / "log.key"


def note_signer(key: Ed25519Signer, origin: str) -> NoteSigner:
    """The C2SP note signer for an Ed25519 key, named after the log's origin."""
    return NoteSigner(key.seed(), origin)


def create_log_key(log: Any, passphrase: bytes) -> NoteSigner:
    """Create the log's key file (refused if it exists) and return its note signer."""
    path = log_key_path(log)
    key = Ed25519Signer.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_key_file(path, key, passphrase, label=f"checkpoint key of log {log.log_id}")
    return note_signer(key, log.log_id)


def load_log_signer(log: Any, passphrase: bytes, *, create: bool = False) -> NoteSigner:
    """Read the log's key file and return its note signer (created first if asked to)."""
    path = log_key_path(log)
    if create and not path.exists():
        return create_log_key(log, passphrase)
    return note_signer(read_key_file(path, passphrase), log.log_id)


def log_verifier(log: Any) -> NoteVerifier:
    """The log's checkpoint verifier, from its key file's public header (no passphrase)."""
    path = log_key_path(log)
    if not path.exists():
        raise NotFoundError(f"the log has no key yet ({path}); run `cdlog log-key` or "
                            "`cdlog checkpoint` to create it")
    return NoteVerifier(log.log_id, read_key_file_info(path).public_key)


# ---------------------------------------------------------------------------- checkpoints
def _refuse(detail: str) -> VerificationError:
    return VerificationError(Failure(LOG, None, "checkpoint", "refusing to sign: " + detail))


def _check_new_leaves(led: LedgerCursor, start: int, size: int) -> dict[bytes, Head]:
    """Leaves ``start..size-1`` must hash from the stored event bytes they name; return each
    stream's newest event among them (for the stream-head map), in first-appearance order."""
    heads: dict[bytes, Head] = {}
    index = start
    while index < size:
        page = led.leaves(index)
        if not page:
            raise _refuse(f"leaf {index} is missing from merkle_leaves")
        stored = led.level_range(0, page[0].leaf_index, page[-1].leaf_index + 1)
        for leaf in page:
            if leaf.leaf_index >= size:
                return heads
            event = led.event(leaf.notification_id)
            if leaf.leaf_index != index or event is None:
                raise _refuse(f"leaf {index}: its event (notification {leaf.notification_id}) "
                              "is missing")
            if stored.get(index) != leaf_hash(event.state):
                raise _refuse(f"leaf {index} ({leaf.case} v{leaf.originator_version}): the "
                              "stored event does not hash to the stored leaf hash")
            key = id_bytes(leaf.originator_id)
            heads[key] = (key, leaf.originator_version, index, stored[index])
            index += 1
    return heads


def _full_audit(log: Any, verifier: NoteVerifier) -> None:
    if _AUDITED.get(log):
        return
    with read_ledger(log) as led:
        audit = audit_tree(led, log.log_id, verifier)
    if audit.failures:
        raise VerificationError([Failure(LOG, None, "checkpoint",
                                         "refusing to sign: the stored tree does not match "
                                         "the events and checkpoints"), *audit.failures])
    _AUDITED[log] = True


def sign_checkpoint(log: Any, signer: NoteSigner) -> StoredCheckpoint:
    """Sign, store and return a checkpoint of the whole tree (see the module docstring).

    Returns the latest stored checkpoint unchanged when the tree has not grown. Raises
    :class:`~cdlog.errors.VerificationError` (check ``checkpoint``) instead of signing when the
    stored tree or events disagree with the last signed checkpoint.
    """
    if signer.name != log.log_id:
        raise InputError("signer", f"is named {signer.name!r}",
                         f"a note signer named after the log's origin {log.log_id!r}")
    _full_audit(log, signer.verifier())
    with write_ledger(log) as led:
        size = led.size()
        last_row = led.latest_checkpoint()
        last = stored_checkpoint(led, last_row) if last_row is not None else None
        start = 0
        if last is not None:
            if size < last.size:
                raise _refuse(f"the tree has {size} leaves, fewer than the {last.size} of the "
                              "last signed checkpoint (truncated)")
            if led.root(last.size) != last.root:
                raise _refuse(f"the stored tree does not reproduce the root of the last signed "
                              f"checkpoint (size {last.size})")
            if size == last.size:
                return last
            start = last.size
        delta = _check_new_leaves(led, start, size)
        root = led.root(size)
        if last is not None and last.size > 0:
            try:
                verify_consistency(last.size, size, last.root, root,
                                   consistency_proof(led, last.size, size))
            except ProofError as exc:
                raise _refuse(f"the tree of size {size} is not consistent with the last "
                              f"checkpoint (size {last.size}): {exc.failures[0].detail}"
                              ) from None
        # The stream-head map (docs/SPEC.md §12) rides as an extension line.
        cp = Checkpoint(log.log_id, size, root,
                        (heads_line(*update_map(led, size, last.checkpoint if last else None,
                                                delta)),))
        note = sign_checkpoint_note(cp, signer)
        created = log.clock().astimezone(UTC).isoformat(timespec="seconds")
        led.insert_checkpoint(CheckpointRow(size, root, note, created))
    return StoredCheckpoint(cp, note, created)


def latest_checkpoint(log: Any) -> StoredCheckpoint | None:
    """The newest stored checkpoint with its accepted cosignatures, or None."""
    with read_ledger(log) as led:
        row = led.latest_checkpoint()
        return None if row is None else stored_checkpoint(led, row)


def checkpoint_at(log: Any, size: int) -> StoredCheckpoint:
    """The stored checkpoint of tree size ``size``; NotFoundError if none was signed."""
    with read_ledger(log) as led:
        row = led.checkpoint_at(size)
        if row is None:
            sizes = [c.size for c in led.checkpoints()]
            raise NotFoundError(f"no checkpoint was signed at size {size} (signed sizes: "
                                f"{', '.join(map(str, sizes)) or 'none'})")
        return stored_checkpoint(led, row)


def list_checkpoints(log: Any) -> list[StoredCheckpoint]:
    """Every stored checkpoint, by size."""
    with read_ledger(log) as led:
        return [stored_checkpoint(led, row) for row in led.checkpoints()]


def accept_cosigned(log: Any, text: str | bytes,
                    witnesses: list[CosignatureVerifier]) -> StoredCheckpoint:
    """Store the witness cosignatures of a cosigned checkpoint the log signed before.

    The note must carry a valid log signature over a checkpoint body the log stored, and at
    least one valid cosignature by one of ``witnesses``; each verified cosignature line is
    stored (lines of unknown keys are ignored). Raises NoteError otherwise.
    """
    if not witnesses:
        raise InputError("witnesses", "is empty", "the verifier key of at least one witness")
    verifier = log_verifier(log)
    note = open_note(text, [verifier, *witnesses])
    if (verifier.name, verifier.key_id) not in note.verified:
        raise NoteError(f"the cosigned checkpoint is not signed by this log's key "
                        f"{verifier.vkey}")
    cp = Checkpoint.parse(note.text)
    if cp.origin != log.log_id:
        raise NoteError(f"the checkpoint is for log {cp.origin!r}, not {log.log_id!r}")
    lines = {(s.name, s.key_id): s.line for s in split_note(text)[1]}
    cosigs = [CosignatureRow(name, kid, note.timestamps[(name, kid)], lines[(name, kid)])
              for name, kid in note.verified if (name, kid) in note.timestamps]
    if not cosigs:
        raise NoteError("the checkpoint carries no valid cosignature by the given witnesses")
    received = datetime.now(UTC).isoformat(timespec="seconds")
    with write_ledger(log) as led:
        row = led.checkpoint_at(cp.size)
        if row is None or split_note(row.note)[0] != note.text:
            raise NoteError(f"the log never signed this checkpoint (size {cp.size}, root "
                            f"{b64(cp.root)})")
        for cosig in cosigs:
            led.insert_cosignature(cp.size, cosig, received)
        return stored_checkpoint(led, row)
