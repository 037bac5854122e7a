"""C2SP tlog-checkpoint v1: the signed tree head of the log, with witness cosignatures.

Body (the signed-note text)::

    <origin>\\n<size, decimal, no leading zeros>\\n<base64 RFC 6962 root>\\n[<extension>\\n...]

Parsing is strict: the origin and every extension line are non-empty, the size matches
``0|[1-9][0-9]*`` (ASCII only, at most 2**63-1), the root is canonical base64 of exactly 32
bytes, and the body ends in a newline with no control characters. Malformed input raises
:class:`~cdlog.errors.NoteError`; building a :class:`Checkpoint` from invalid fields raises
:class:`~cdlog.errors.InputError`.

:func:`open_checkpoint` requires a valid signature by the *log's* key (a note signed only by
cosigners is rejected) and the expected origin, so checkpoints of another log cannot be
replayed; verified cosignatures are returned with their timestamps.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cdlog.errors import InputError, NoteError
from cdlog.log.merkle import HASH_SIZE, b64
from cdlog.log.note import (
    CosignatureSigner,
    CosignatureVerifier,
    NoteSigner,
    Verifier,
    open_note,
    sign_note,
    split_note,
)

MAX_SIZE = 2**63 - 1
_SIZE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
_B64 = re.compile(r"[A-Za-z0-9+/]*={0,2}", re.ASCII)


def _bad_line(line: str) -> bool:
    return not line or any(ord(c) < 0x20 for c in line)


@dataclass(frozen=True)
class Checkpoint:
    """A log checkpoint: origin, tree size, RFC 6962 root, optional extension lines."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if _bad_line(self.origin):
            raise InputError("origin", f"{self.origin!r} is empty or contains control "
                             "characters", "a non-empty single line")
        if not 0 <= self.size <= MAX_SIZE:
            raise InputError("size", f"{self.size} is out of range", "0 <= size <= 2**63-1")
        if len(self.root) != HASH_SIZE:
            raise InputError("root", f"is {len(self.root)} bytes", "a 32-byte hash")
        for ext in self.extensions:
            if _bad_line(ext):
                raise InputError("extensions", f"{ext!r} is empty or contains control "
                                 "characters", "non-empty single lines")

    def body(self) -> str:
        """Return the checkpoint note text (origin, size, base64 root, extensions)."""
        lines = [self.origin, str(self.size), b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse(cls, body: str) -> Checkpoint:
        """Parse a checkpoint body strictly; raise NoteError if malformed."""
        if not body.endswith("\n"):
            raise NoteError("checkpoint body does not end in a newline")
        lines = body[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError(f"checkpoint body has {len(lines)} lines, expected at least 3")
        origin, size_text, root_text, *extensions = lines
        if any(_bad_line(line) for line in lines):
            raise NoteError("checkpoint has an empty line or control characters")
        if not _SIZE.fullmatch(size_text):
            raise NoteError(f"checkpoint size {size_text!r} is not a decimal without "
                            "leading zeros")
        size = int(size_text)
        if size > MAX_SIZE:
            raise NoteError(f"checkpoint size {size_text} exceeds 2**63-1")
        root = _decode_root(root_text)
        return cls(origin, size, root, tuple(extensions))


def _decode_root(text: str) -> bytes:
    """Decode the root line: canonical padded base64 of exactly 32 bytes."""
    if len(text) != 44 or not _B64.fullmatch(text):
        raise NoteError(f"checkpoint root {text!r} is not base64 of 32 bytes")
    raw = base64.b64decode(text, validate=True)
    if len(raw) != HASH_SIZE or base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"checkpoint root {text!r} is not canonical base64 of 32 bytes")
    return raw


def sign_checkpoint(cp: Checkpoint, signer: NoteSigner) -> str:
    """Return the checkpoint as a signed note, signed by the log's key."""
    return sign_note(cp.body(), [signer])


def add_cosignature(signed_checkpoint: str, cosigner: CosignatureSigner, timestamp: int) -> str:
    """Append a cosignature/v1 line to a signed checkpoint (structure checked, not verified).

    A witness must have verified the log signature and consistency before calling this.
    """
    body, _ = split_note(signed_checkpoint)
    Checkpoint.parse(body)
    return signed_checkpoint + cosigner.cosignature_line(body, timestamp)


def open_checkpoint(note_text: str | bytes, log_verifier: Verifier, expected_origin: str,
                    cosigners: Sequence[CosignatureVerifier] = ()
                    ) -> tuple[Checkpoint, list[tuple[str, int]]]:
    """Verify a signed checkpoint; return it and the verified cosignatures (name, timestamp).

    Requires a valid signature by ``log_verifier`` and ``origin == expected_origin``; unknown
    signature lines are ignored, and a bad signature by any known key rejects the note.
    """
    note = open_note(note_text, [log_verifier, *cosigners])
    if (log_verifier.name, log_verifier.key_id) not in note.verified:
        raise NoteError(f"checkpoint is not signed by the log key {log_verifier.name}")
    cp = Checkpoint.parse(note.text)
    if cp.origin != expected_origin:
        raise NoteError(f"checkpoint origin {cp.origin!r} is not the expected "
                        f"{expected_origin!r}")
    wanted = {(c.name, c.key_id) for c in cosigners}
    cosigned = [(ident[0], note.timestamps[ident]) for ident in note.verified
                if ident in wanted and ident in note.timestamps]
    return cp, cosigned
