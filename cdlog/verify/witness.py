"""The oversight side: a witness that cosigns checkpoints only when they extend what it saw.

A :class:`Witness` keeps, in a JSON state file, the last checkpoint it accepted for each log
origin. Given a new signed checkpoint (and, when the tree grew, a consistency proof from
``cdlog prove consistency``) it

1. verifies the log's signature and that the origin is the log key's name;
2. refuses a *rollback* (a smaller tree than the one accepted) and a *fork* (the same size
   with another root, or a larger tree that no valid proof connects to the accepted one) with
   :class:`~cdlog.errors.WitnessError`;
3. records the new checkpoint in the state file (written atomically) *before* it
   cosigns, so a crash can never leave a cosignature the state does not know of;
4. appends its C2SP tlog-cosignature v1 line (Ed25519, type 0x04): "as of time t, the
   largest consistent tree I have seen for this origin has this root".

The first checkpoint seen for an origin is accepted on trust, as is any checkpoint after an
accepted size-0 one (every tree extends the empty tree). State file::

    {"format": "cdlog/witness-state/v1", "witness": "<cosigner vkey>",
     "logs": {"<origin>": {"size": 40, "root": "<b64>", "timestamp": 1700000000,
                           "checkpoint": "<the signed note as accepted>"}}}
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cdlog.errors import ConfigurationError, ProofError, VerificationError, WitnessError
from cdlog.keys.keyfile import read_key_file, read_key_file_info, write_key_file
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.checkpoint_format import Checkpoint, open_checkpoint
from cdlog.log.heads import heads_of, verify_head_doc
from cdlog.log.merkle import b64, unb64
from cdlog.log.note import CosignatureSigner, NoteVerifier, split_note
from cdlog.log.proofs import verify_consistency_doc

STATE_FORMAT = "cdlog/witness-state/v1"
_LABEL = "witness "


def _check_heads_forward(prev: Accepted, cp: Checkpoint) -> None:
    """Stream heads only move forward between consistent checkpoints (docs/SPEC.md §12).

    What a witness can check from the heads lines alone: the same tree size has the same map;
    once a checkpoint carried a map, every later one does; the number of streams never falls
    (a stream never loses its events) and grows by at most the number of new events. That each
    stream's head moved forward needs the entries: store verification (`cdlog verify`) checks
    it for every checkpoint.
    """
    try:
        old = heads_of(Checkpoint.parse(split_note(prev.checkpoint)[0]))
        new = heads_of(cp)
    except VerificationError as exc:
        raise WitnessError(f"{cp.origin} checkpoint of size {cp.size}: "
                           f"{exc.failures[0].detail}") from None
    if old is None:
        return
    seen = f"the checkpoint of size {prev.size} this witness accepted"
    if new is None:
        raise WitnessError(f"heads refused: {cp.origin} checkpoint of size {cp.size} carries no "
                           f"stream-head map, but {seen} did")
    if cp.size == prev.size and new != old:
        raise WitnessError(f"fork refused: {cp.origin} checkpoint of size {cp.size} commits to "
                           f"another stream-head map ({new[0]} streams, root {b64(new[1])}) "
                           f"than {seen} ({old[0]} streams, root {b64(old[1])})")
    if new[0] < old[0]:
        raise WitnessError(f"heads refused: {cp.origin} checkpoint of size {cp.size} has heads "
                           f"of {new[0]} streams, fewer than the {old[0]} of {seen}: heads only "
                           "move forward")
    if new[0] - old[0] > cp.size - prev.size:
        raise WitnessError(f"heads refused: {cp.origin} checkpoint of size {cp.size} adds "
                           f"{new[0] - old[0]} streams with only {cp.size - prev.size} new events "
                           f"since {seen}")


def _watched_heads(prev: Accepted | None, cp: Checkpoint, docs: Sequence[Any]
                  ) -> dict[str, dict[str, Any] | None]:
    """The heads of the streams this witness watches, after ``cp`` (docs/SPEC.md §9, §12).

    ``docs`` are head proofs (``cdlog prove head``) against ``cp``; each stream proven once
    is watched from then on: every later checkpoint needs its head proof, and its head only
    moves forward (a higher version at a later leaf; the same version at the same leaf and
    hash), never back to absent.
    """
    watched = dict(prev.heads) if prev is not None else {}
    given: dict[str, dict[str, Any] | None] = {}
    for doc in docs:
        name = doc.get("stream") if isinstance(doc, Mapping) else None
        try:
            proven = verify_head_doc(doc, checkpoint=cp)
        except VerificationError as exc:
            raise WitnessError(f"the head proof of {name!r} does not hold for {cp.origin} "
                               f"checkpoint of size {cp.size}: {exc.failures[0].detail}"
                               ) from None
        head = proven.head
        given[proven.stream] = None if head is None else {
            "version": head.version, "leaf_index": head.leaf_index,
            "event_hash": b64(head.event_hash)}
    missing = sorted(set(watched) - set(given))
    if missing:
        raise WitnessError(f"heads refused: this witness watches {missing[0]} of {cp.origin}; "
                           f"give its head proof (`cdlog prove head {missing[0]} --size "
                           f"{cp.size}`)")
    for stream, new in given.items():
        old = watched.get(stream)
        if old is None:
            continue
        was = f"v{old['version']} (leaf {old['leaf_index']})"
        if new is None:
            raise WitnessError(f"heads refused: {cp.origin} checkpoint of size {cp.size} says "
                               f"{stream} has no event, but this witness saw its head {was}")
        same = (new["version"], new["leaf_index"], new["event_hash"]) == (
            old["version"], old["leaf_index"], old["event_hash"])
        forward = new["version"] > old["version"] and new["leaf_index"] > old["leaf_index"]
        if not (same or forward):
            raise WitnessError(f"heads refused: {cp.origin} checkpoint of size {cp.size} "
                               f"proves the head of {stream} at v{new['version']} (leaf "
                               f"{new['leaf_index']}), not forward from {was}: heads only "
                               "move forward")
    watched.update(given)
    return watched


@dataclass(frozen=True)
class Accepted:
    """The last checkpoint a witness accepted for one origin."""

    origin: str
    size: int
    root: bytes
    timestamp: int
    checkpoint: str
    # streams this witness watches: their last proven head, or None (proven absent)
    heads: dict[str, dict[str, Any] | None] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The state-file form."""
        doc = {"size": self.size, "root": b64(self.root), "timestamp": self.timestamp,
               "checkpoint": self.checkpoint}
        if self.heads:
            doc["heads"] = dict(sorted(self.heads.items()))
        return doc


# ---------------------------------------------------------------------------- keys
def create_witness_key(path: str | os.PathLike[str], name: str,
                       passphrase: bytes) -> CosignatureSigner:
    """Create an encrypted witness key file (label ``witness <name>``); return the cosigner."""
    key = Ed25519Signer.generate()
    cosigner = CosignatureSigner(key.seed(), name)  # checks the name first
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_key_file(path, key, passphrase, label=_LABEL + name)
    return cosigner


def witness_name(path: str | os.PathLike[str]) -> str:
    """The witness name recorded in a witness key file's label."""
    label = read_key_file_info(path).label
    if not label.startswith(_LABEL):
        raise ConfigurationError(f"{path} is not a witness key file (label {label!r})")
    return label[len(_LABEL):]


def load_witness_key(path: str | os.PathLike[str], passphrase: bytes) -> CosignatureSigner:
    """Decrypt a witness key file and return its cosigner."""
    name = witness_name(path)
    return CosignatureSigner(read_key_file(path, passphrase).seed(), name)


# ---------------------------------------------------------------------------- the witness
class Witness:
    """A witness with its cosigning key and its state file (see the module docstring)."""

    def __init__(self, state_path: str | os.PathLike[str], cosigner: CosignatureSigner, *,
                 clock: Callable[[], int] | None = None) -> None:
        self.path = Path(state_path)
        self.cosigner = cosigner
        self._clock = clock or (lambda: int(time.time()))
        self._logs = self._load()

    def _load(self) -> dict[str, Accepted]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            if data.get("format") != STATE_FORMAT:
                raise ValueError(f"format is {data.get('format')!r}, not {STATE_FORMAT!r}")
            if data.get("witness") != self.cosigner.vkey:
                raise ValueError(f"it belongs to witness {data.get('witness')!r}, not "
                                 f"{self.cosigner.vkey!r}")
            logs = {}
            for origin, entry in data["logs"].items():
                cp, _ = split_note(entry["checkpoint"])
                parsed = Checkpoint.parse(cp)
                root = unb64(entry["root"])
                if (parsed.origin, parsed.size, parsed.root) != (origin, entry["size"], root):
                    raise ValueError(f"entry {origin!r} does not match its checkpoint")
                watched = entry.get("heads", {})
                if not isinstance(watched, dict):
                    raise ValueError(f"entry {origin!r}: heads is not an object")
                logs[origin] = Accepted(origin, int(entry["size"]), root,
                                        int(entry["timestamp"]), str(entry["checkpoint"]),
                                        dict(watched))
        except (OSError, ValueError, KeyError, TypeError, AttributeError,
                VerificationError) as exc:
            raise ConfigurationError(f"witness state {self.path}: {exc}") from None
        return logs

    def _save(self) -> None:
        doc = {"format": STATE_FORMAT, "witness": self.cosigner.vkey,
               "logs": {o: a.as_json() for o, a in sorted(self._logs.items())}}
        data = (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                Path(tmp).unlink()
            raise ConfigurationError(f"cannot write witness state {self.path}: "
                                     f"{exc.strerror}") from None

    def last(self, origin: str) -> Accepted | None:
        """The checkpoint last accepted for ``origin``, or None."""
        return self._logs.get(origin)

    def add_checkpoint(self, signed: str | bytes, log_verifier: NoteVerifier,
                       proof: Mapping[str, Any] | None = None,
                       heads: Sequence[Any] = ()) -> str:
        """Check ``signed`` against what was seen, record it, and return it cosigned.

        ``proof`` is the ``cdlog prove consistency OLD NEW`` document from the accepted size
        to the new one; it is needed whenever the tree grew from a size above 0. ``heads``
        are ``cdlog prove head`` documents against this checkpoint: their streams are watched
        from then on (see :func:`_watched_heads`).
        """
        text = signed.decode("utf-8") if isinstance(signed, bytes) else signed
        cp, _ = open_checkpoint(text, log_verifier, log_verifier.name)
        prev = self._logs.get(cp.origin)
        if prev is not None:
            self._check_extends(prev, cp, proof)
            _check_heads_forward(prev, cp)
        watched = _watched_heads(prev, cp, heads)
        timestamp = max(self._clock(), prev.timestamp if prev is not None else 0)
        body, sigs = split_note(text)
        own = (self.cosigner.name, self.cosigner.key_id)
        kept = "".join(s.line + "\n" for s in sigs if (s.name, s.key_id) != own)
        cosigned = body + "\n" + kept + self.cosigner.cosignature_line(body, timestamp)
        self._logs[cp.origin] = Accepted(cp.origin, cp.size, cp.root, timestamp, cosigned,
                                         watched)
        self._save()
        return cosigned

    @staticmethod
    def _check_extends(prev: Accepted, cp: Checkpoint, proof: Mapping[str, Any] | None) -> None:
        seen = f"size {prev.size} (root {b64(prev.root)})"
        if cp.size < prev.size:
            raise WitnessError(f"rollback refused: {cp.origin} checkpoint of size {cp.size} is "
                               f"smaller than the {seen} this witness already accepted")
        if cp.size == prev.size:
            if cp.root != prev.root:
                raise WitnessError(f"fork refused: {cp.origin} checkpoint of size {cp.size} "
                                   f"has root {b64(cp.root)}, but this witness accepted root "
                                   f"{b64(prev.root)} at the same size")
            return
        if prev.size == 0:
            if proof is not None and proof.get("proof"):
                raise WitnessError("a consistency proof from size 0 must be empty")
            return
        if proof is None:
            raise WitnessError(f"a consistency proof is needed: this witness accepted {seen} "
                               f"of {cp.origin}; give the output of `cdlog prove consistency "
                               f"{prev.size} {cp.size}`")
        old = Checkpoint(prev.origin, prev.size, prev.root)
        try:
            verify_consistency_doc(proof, old, cp)
        except ProofError as exc:
            raise WitnessError(f"fork refused: {cp.origin} checkpoint of size {cp.size} (root "
                               f"{b64(cp.root)}) is not proven consistent with the {seen} "
                               f"this witness accepted: {exc.failures[0].detail}") from None
