"""``cdlog check-proof``: check a saved proof against the log's key, offline (no store).

The counterpart of ``cdlog prove``, as ``rekor-cli verify`` is of a transparency log's
proofs: an auditor who holds the log's verifier key checks

* an inclusion proof (``cdlog prove inclusion`` output): the checkpoint it carries is signed
  by the log key, its size and root are the proof's, the audit path leads from the leaf to
  that root, and (with ``--event``) the event's sealed bytes hash to the proven leaf; with
  ``--checkpoint`` the proof must be against that saved checkpoint;
* a consistency proof (``cdlog prove consistency`` output) between two saved checkpoints
  ``--old`` and ``--new``, each signed by the log key.

Exit 0 with one line saying what holds; 1 when a proof, a signature or a binding does not
hold (the failing check is named); 2 when a file or key is unreadable or malformed.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from cdlog.cli import evidence
from cdlog.cli.main import cli
from cdlog.errors import ConfigurationError, NoteError, ProofError, VerificationError
from cdlog.log.checkpoint_format import Checkpoint, open_checkpoint
from cdlog.log.heads import verify_head_proof
from cdlog.log.merkle import b64
from cdlog.log.note import CosignatureVerifier, NoteVerifier
from cdlog.log.proofs import (
    CONSISTENCY_KEYS,
    INCLUSION_KEYS,
    verify_consistency_doc,
    verify_inclusion_proof,
)
from cdlog.log.sealing import leaf_hash, parse

_FILE = click.Path(path_type=Path, dir_okay=False)


@cli.command("check-proof")
@click.argument("proof_file", metavar="PROOF", type=_FILE)
@click.option("--log-key", "log_vkey", required=True, metavar="VKEY",
              help="The log's checkpoint verifier key (`cdlog log-key`).")
@click.option("--checkpoint", "checkpoint_file", type=_FILE, default=None,
              help="Inclusion: a signed checkpoint saved earlier; the proof must be against "
                   "it (default: the checkpoint the proof carries).")
@click.option("--event", "event_file", type=_FILE, default=None,
              help="Inclusion: the event's sealed bytes (`cdlog prove inclusion --event-out`, "
                   "or a bundle's events/ file); they must hash to the proven leaf.")
@click.option("--old", "old_file", type=_FILE, default=None,
              help="Consistency: the signed checkpoint of the older size.")
@click.option("--new", "new_file", type=_FILE, default=None,
              help="Consistency: the signed checkpoint of the newer size.")
@click.option("--witness-key", "witness_keys", multiple=True, metavar="VKEY",
              help="A witness that must have cosigned the checkpoint; its cosignature is "
                   "verified and named (repeatable).")
def check_proof(proof_file: Path, log_vkey: str, checkpoint_file: Path | None,
                event_file: Path | None, old_file: Path | None, new_file: Path | None,
                witness_keys: tuple[str, ...]) -> None:
    """Check a saved inclusion, consistency or head PROOF against the log key, offline.

    PROOF is the JSON that `cdlog prove inclusion`, `cdlog prove consistency` or `cdlog prove
    head` printed.
    Exit 0 when it holds, 1 when it does not, 2 when a file or key is malformed.
    """
    verifier = evidence.log_key("--log-key", log_vkey)
    witnesses = [evidence.witness_key("--witness-key", v) for v in witness_keys]
    doc = evidence.read_json("PROOF", proof_file, "`cdlog prove`")
    kind = _kind(doc, proof_file)
    if kind == "head":
        if old_file is not None or new_file is not None or event_file is not None:
            raise ConfigurationError(f"PROOF {proof_file} is a head proof: --old, --new and "
                                     "--event are for other proofs (use --checkpoint)")
        click.echo(_head(doc, verifier, witnesses, _saved(checkpoint_file, "--checkpoint")))
        return
    if kind == "inclusion":
        if old_file is not None or new_file is not None:
            raise ConfigurationError(f"PROOF {proof_file} is an inclusion proof: --old and "
                                     "--new are for consistency proofs (use --checkpoint)")
        saved = _saved(checkpoint_file, "--checkpoint")
        sealed = _event(event_file)
        click.echo(_inclusion(doc, verifier, witnesses, saved, sealed))
        return
    if checkpoint_file is not None or event_file is not None:
        raise ConfigurationError(f"PROOF {proof_file} is a consistency proof: --checkpoint "
                                 "and --event are for inclusion proofs (use --old and --new)")
    if old_file is None or new_file is None:
        raise ConfigurationError(f"PROOF {proof_file} is a consistency proof: give the two "
                                 "signed checkpoints it links as --old FILE and --new FILE")
    old = _saved(old_file, "--old")
    new = _saved(new_file, "--new")
    assert old is not None
    assert new is not None
    click.echo(_consistency(doc, verifier, witnesses, old, new))


def _kind(doc: Any, path: Path) -> str:
    """``inclusion`` or ``consistency``, from the document's fields."""
    if isinstance(doc, Mapping):
        if "heads_root" in doc:
            return "head"
        if set(doc) & (set(INCLUSION_KEYS) - {"proof"}):
            return "inclusion"
        if set(doc) & (set(CONSISTENCY_KEYS) - {"proof"}):
            return "consistency"
    raise ConfigurationError(f"PROOF {path}: neither an inclusion nor a consistency proof "
                             "(expected the JSON object `cdlog prove inclusion` or `cdlog "
                             "prove consistency` prints)")


def _saved(path: Path | None, option: str) -> tuple[str, str] | None:
    """A saved checkpoint file's text (form checked) and a label for messages."""
    if path is None:
        return None
    text, _ = evidence.read_checkpoint(option, path)
    return text, f"{option} {path}"


def _event(path: Path | None) -> bytes | None:
    if path is None:
        return None
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"--event {path}: no such file") from None
    except OSError as exc:
        raise ConfigurationError(f"--event {path}: cannot read: {exc.strerror}") from None


def _open(saved: tuple[str, str], verifier: NoteVerifier,
          witnesses: list[CosignatureVerifier]) -> tuple[Checkpoint, list[tuple[str, int]]]:
    text, label = saved
    try:
        return open_checkpoint(text, verifier, verifier.name, witnesses)
    except VerificationError as exc:
        raise NoteError(f"{label}: {exc.failures[0].detail}") from None


def _require(cosigned: list[tuple[str, int]], witnesses: list[CosignatureVerifier]) -> None:
    """Each --witness-key must have cosigned the checkpoint (a missing line is no pass)."""
    names = {name for name, _ in cosigned}
    for witness in witnesses:
        if witness.name not in names:
            raise ProofError(f"no cosignature by witness {witness.vkey} on the checkpoint, "
                             "which --witness-key requires")


def _cosigned(cosigners: list[tuple[str, int]]) -> str:
    return "; cosigned by " + ", ".join(f"{n} (t={t})" for n, t in cosigners) \
        if cosigners else ""


def _inclusion(doc: Any, verifier: NoteVerifier, witnesses: list[CosignatureVerifier],
               saved: tuple[str, str] | None, sealed: bytes | None) -> str:
    cp, cosigned = verify_inclusion_proof(doc, verifier, sealed=sealed, cosigners=witnesses)
    if saved is not None:
        mine, mine_cosigned = _open(saved, verifier, witnesses)
        if (mine.size, mine.root) != (cp.size, cp.root):
            raise ProofError(f"the proof is against the checkpoint of size {cp.size} root "
                             f"{b64(cp.root)}, not the {saved[1]} of size {mine.size} root "
                             f"{b64(mine.root)}; prove against it with `cdlog prove inclusion "
                             f"CASE VERSION --size {mine.size}`")
        cosigned = sorted(set(cosigned) | set(mine_cosigned))
    _require(cosigned, witnesses)
    index = doc["leaf_index"]
    where = f"the log {cp.origin} at tree size {cp.size} (root {b64(cp.root)}), signed by " \
            f"{verifier.name}{_cosigned(cosigned)}"
    if sealed is None:
        return (f"OK: leaf {index} (hash {doc['leaf_hash']}) is in {where}; the event itself "
                "was not checked (give --event FILE)")
    try:
        event = parse(sealed)
        what = f"{event.stream} v{event.version} ({event.type}, leaf {index})"
    except VerificationError:
        what = f"the event (leaf {index}, hash {b64(leaf_hash(sealed))})"
    return f"OK: {what} is in {where}"


def _head(doc: Any, verifier: NoteVerifier, witnesses: list[CosignatureVerifier],
          saved: tuple[str, str] | None) -> str:
    proven, cp = verify_head_proof(doc, verifier, cosigners=witnesses)
    _, cosigned = _open((doc["checkpoint"], "the proof's checkpoint"), verifier, witnesses)
    if saved is not None:
        mine, mine_cosigned = _open(saved, verifier, witnesses)
        if (mine.size, mine.root, mine.extensions) != (cp.size, cp.root, cp.extensions):
            raise ProofError(f"the proof is against the checkpoint of size {cp.size}, not the "
                             f"{saved[1]} of size {mine.size}; prove against it with `cdlog "
                             f"prove head CASE --size {mine.size}`")
        cosigned = sorted(set(cosigned) | set(mine_cosigned))
    _require(cosigned, witnesses)
    where = f"the log {cp.origin} at tree size {cp.size} (root {b64(cp.root)}), signed by " \
            f"{verifier.name}{_cosigned(cosigned)}"
    if proven.head is None:
        return f"OK: {proven.stream} has no event in {where}"
    head = proven.head
    return (f"OK: the head of {proven.stream} is v{head.version} (leaf {head.leaf_index}, "
            f"event hash {b64(head.event_hash)}) in {where}")


def _consistency(doc: Any, verifier: NoteVerifier, witnesses: list[CosignatureVerifier],
                 old: tuple[str, str], new: tuple[str, str]) -> str:
    cp1, _ = _open(old, verifier, witnesses)
    cp2, cosigned = _open(new, verifier, witnesses)
    verify_consistency_doc(doc, cp1, cp2)
    _require(cosigned, witnesses)
    return (f"OK: the log {cp2.origin} at tree size {cp2.size} (root {b64(cp2.root)}) extends "
            f"its checkpoint of size {cp1.size} (root {b64(cp1.root)}); both signed by "
            f"{verifier.name}{_cosigned(cosigned)}")
