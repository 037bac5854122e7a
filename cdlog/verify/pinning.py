"""What ties an audit bundle to evidence the auditor already holds (docs/SPEC.md §10).

* :func:`missing_cosignatures`: every witness key the auditor names must have cosigned the
  checkpoint; a missing (or unverifiable) cosignature line is a failure, not silence.
* :func:`consistency_docs` / :func:`check_saved_checkpoints`: checkpoints the auditor saved
  earlier (``cdlog verify --bundle DIR --checkpoint FILE``) must be consistent with the
  bundle's checkpoint. A bundle carries consistency proofs from the sizes its exporter was
  asked for (``cdlog export --consistency-from N``); a whole-log bundle needs none, since
  the root of any prefix is rebuilt from its events.

Every failure is located at ``<bundle>`` with check ``checkpoint`` and names the file.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from cdlog.errors import Failure, InputError, ProofError, VerificationError
from cdlog.log.checkpoint_format import Checkpoint, open_checkpoint
from cdlog.log.merkle import b64
from cdlog.log.note import CosignatureVerifier, NoteVerifier
from cdlog.log.proofs import verify_consistency_doc

BUNDLE = "<bundle>"
CONSISTENCY_DIR = "consistency"


def consistency_file(size1: int) -> str:
    """The bundle path of the consistency proof from the tree of size ``size1``."""
    return f"{CONSISTENCY_DIR}/{size1:012d}.json"


def missing_cosignatures(note: str | bytes, verifier: NoteVerifier,
                         witnesses: Sequence[CosignatureVerifier],
                         name: str) -> list[Failure]:
    """One failure per witness in ``witnesses`` without a valid cosignature on ``note``.

    The note must already have opened with ``verifier`` (the log key). Each witness is
    checked alone, so two witness keys with one name are told apart.
    """
    out: list[Failure] = []
    for witness in witnesses:
        try:
            _, cosigned = open_checkpoint(note, verifier, verifier.name, [witness])
        except VerificationError as exc:
            detail = exc.failures[0].detail
            out.append(Failure(BUNDLE, None, "checkpoint", f"{name}: the cosignature of "
                               f"witness {witness.vkey} does not verify: {detail}"))
            continue
        if not cosigned:
            out.append(Failure(BUNDLE, None, "checkpoint", f"{name}: no cosignature by "
                               f"witness {witness.vkey}, which --witness-key requires"))
    return out


def consistency_docs(prove: Callable[[int, int], dict[str, Any]], sizes: Sequence[int],
                     size: int) -> dict[int, dict[str, Any]]:
    """The consistency proof documents from each of ``sizes`` to the bundle's ``size``.

    ``prove(old, new)`` is :func:`cdlog.log.proofs.prove_consistency` bound to the log. A size
    of 0 or larger than the bundle's tree is refused (:class:`InputError`, nothing written).
    """
    docs: dict[int, dict[str, Any]] = {}
    for old in sorted(set(sizes)):
        if not 0 < old <= size:
            raise InputError("--consistency-from", f"{old} is not a size between 1 and the "
                             f"bundle's checkpoint size {size}",
                             "the size of a checkpoint you saved earlier")
        docs[old] = prove(old, size)
    return docs


def check_saved_checkpoints(saved: Sequence[tuple[str, str]], verifier: NoteVerifier,
                            cp: Checkpoint, listed: dict[int, dict[str, Any] | None],
                            prefix_root: Callable[[int], bytes | None]) -> list[Failure]:
    """Failures of the checkpoints the auditor saved, against the bundle's checkpoint ``cp``.

    ``saved`` is (name, signed note text) per ``--checkpoint`` file. ``listed`` maps each
    size the bundle carries a consistency proof from to its document (None when the file
    cannot be read; its own failure is reported elsewhere). ``prefix_root(n)`` is the root of
    the first ``n`` leaves when the bundle holds every leaf (a whole-log bundle), else None.
    """
    out: list[Failure] = []

    def fail(detail: str) -> None:
        out.append(Failure(BUNDLE, None, "checkpoint", detail))

    for name, text in saved:
        try:
            old, _ = open_checkpoint(text, verifier, cp.origin)
        except VerificationError as exc:
            fail(f"--checkpoint {name}: {exc.failures[0].detail}")
            continue
        if old.size > cp.size:
            fail(f"--checkpoint {name}: the saved checkpoint (size {old.size}) is newer than "
                 f"the bundle's (size {cp.size}): the bundle cannot show that its log "
                 "extends it; ask for a bundle exported at or after it")
            continue
        if old.size == cp.size:
            if old.root != cp.root:
                fail(f"--checkpoint {name}: size {old.size} with root {b64(old.root)}, but "
                     f"the bundle's checkpoint of that size has root {b64(cp.root)}: the log "
                     "forked")
            continue
        if old.size == 0:
            continue  # every tree extends the empty tree
        rebuilt = prefix_root(old.size)
        if rebuilt is not None:
            if rebuilt != old.root:
                fail(f"--checkpoint {name}: the bundle's first {old.size} events have root "
                     f"{b64(rebuilt)}, not the saved checkpoint's {b64(old.root)}: the log "
                     "was rewritten since")
            continue
        if old.size not in listed:
            fail(f"--checkpoint {name}: the bundle carries no consistency proof from size "
                 f"{old.size} to {cp.size}; export it with --consistency-from {old.size}")
            continue
        doc = listed[old.size]
        if doc is None:
            continue
        try:
            verify_consistency_doc(doc, old, cp)
        except ProofError as exc:
            fail(f"--checkpoint {name}: the saved checkpoint of size {old.size} is not "
                 f"consistent with the bundle's of size {cp.size}: "
                 f"{exc.failures[0].detail}")
    return out



def uncosigned_witnesses(notes: Sequence[str], verifier: NoteVerifier | None,
                         witnesses: Sequence[CosignatureVerifier]) -> list[Failure]:
    """Store verification with ``--witness-key``: one failure (at ``<log>``) per witness
    with no valid cosignature on any of the stored checkpoint ``notes`` (their text with
    the stored cosignature lines). Every stored checkpoint is compared with the rebuilt
    tree, so a witness that cosigned one vouches for a prefix of this log."""
    out: list[Failure] = []
    for witness in witnesses:
        if verifier is None:
            out.append(Failure("<log>", None, "checkpoint", f"the cosignature of witness "
                               f"{witness.vkey} cannot be checked without the log's key "
                               "(give --log-key)"))
            continue
        found = False
        for note in notes:
            try:
                found = bool(open_checkpoint(note, verifier, verifier.name, [witness])[1])
            except VerificationError:
                found = False
            if found:
                break
        if not found:
            out.append(Failure("<log>", None, "checkpoint", f"no stored checkpoint carries a "
                               f"valid cosignature by witness {witness.vkey}, which "
                               "--witness-key requires"))
    return out
