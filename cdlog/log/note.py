"""C2SP signed-note v1 (Ed25519, type 0x01) and tlog-cosignature v1 (Ed25519, type 0x04).

A signed note is a text ending in a newline, a blank line, then one or more lines
``— <key name> base64(key ID || signature)\\n`` (em dash U+2014). The key ID is
SHA-256(name || 0x0A || type || public key)[:4]; a verifier key (vkey) is
``name+hex(key ID)+base64(type || public key)``.

Rules applied by :func:`open_note` (C2SP signed-note, as golang.org/x/mod/sumdb/note):

* the message must be UTF-8 with no ASCII control characters other than newline;
* the text/signature separator is the *last* blank line; text and every signature line end
  in a newline; key names are non-empty without Unicode spaces or ``+``; base64 is standard,
  padded and canonical (stricter than Go, which tolerates non-zero padding bits);
* at most 100 signature lines (C2SP asks for at least 16; x/mod's limit is 100);
* a signature is *known* when both its key name and key ID match a verifier; unknown ones are
  ignored and listed (deduplicated) in :attr:`Note.unverified_lines`;
* every known signature line is verified, and one that fails rejects the whole note
  (x/mod skips repeated lines of a key; we check them all);
* at least one known signature must verify.

Cosignatures sign ``cosignature/v1\\ntime <t>\\n`` followed by the note text; their payload
after the key ID is the u64 big-endian timestamp then the Ed25519 signature. Verified
timestamps are returned in :attr:`Note.timestamps`.

Errors: malformed or unverifiable notes and keys raise :class:`~cdlog.errors.NoteError`;
invalid arguments given to a producer (signer name or seed, text to sign, timestamp) raise
:class:`~cdlog.errors.InputError`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol, Self

import nacl.exceptions
import nacl.signing

from cdlog.errors import InputError, NoteError

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100
MAX_TIMESTAMP = 2**63 - 1
SIG_PREFIX = "— "  # em dash U+2014, space

_HEX8 = re.compile(r"[0-9a-fA-F]{8}")


class NoteSignature(NamedTuple):
    """One parsed signature line: key name, 4-byte key ID, the bytes after the ID, the line."""

    name: str
    key_id: bytes
    payload: bytes
    line: str


class Verifier(Protocol):
    """A known key that :func:`open_note` can check signature lines against."""

    @property
    def name(self) -> str:
        """The key name."""
        ...

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID."""
        ...

    def verify(self, text: str, payload: bytes) -> int | None:
        """Check ``payload`` (the signature after the key ID) over ``text``.

        Return None, or the verified timestamp for a cosignature; raise NoteError if invalid.
        """
        ...


class Signer(Protocol):
    """A key that :func:`sign_note` can sign with."""

    @property
    def name(self) -> str:
        """The key name."""
        ...

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID."""
        ...

    def sign(self, text: str) -> bytes:
        """Return the signature bytes that follow the key ID in the signature line."""
        ...


@dataclass(frozen=True)
class Note:
    """An opened note: its text, the verified keys and the ignored signature lines.

    ``verified`` lists ``(name, key_id)`` of each known key with a valid signature, in note
    order; ``unverified_lines`` the signature lines of unknown keys (without newline);
    ``timestamps`` maps ``(name, key_id)`` of each verified cosigner to its timestamp.
    """

    text: str
    verified: list[tuple[str, bytes]]
    unverified_lines: list[str]
    timestamps: dict[tuple[str, bytes], int] = field(default_factory=dict)


def is_valid_name(name: str) -> bool:
    """Return whether ``name`` is a valid key name (non-empty, no spaces, no '+')."""
    return (bool(name) and "+" not in name and not any(c.isspace() for c in name)
            and not _has_control(name))


def _has_control(s: str) -> bool:
    return any(ord(c) < 0x20 and c != "\n" for c in s)


def key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """Return the C2SP key ID SHA-256(name || 0x0A || alg || public_key)[:4]."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _strict_b64(s: str, what: str) -> bytes:
    try:
        raw = base64.b64decode(s.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error):
        raise NoteError(f"{what}: invalid base64") from None
    if base64.b64encode(raw).decode("ascii") != s:
        raise NoteError(f"{what}: non-canonical base64")
    return raw


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _check_name(name: str) -> None:
    if not is_valid_name(name):
        raise InputError("name", f"{name!r} is not a valid key name",
                         "non-empty, no spaces, no '+', no control characters")


def _check_seed(seed: bytes) -> None:
    if len(seed) != 32:
        raise InputError("seed", f"is {len(seed)} bytes", "a 32-byte Ed25519 seed")


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise InputError("text", "does not end in a newline", "note text ending in '\\n'")
    if _has_control(text):
        raise InputError("text", "contains ASCII control characters", "newline only")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError("text", "is not encodable as UTF-8", "valid Unicode") from None


def _parse_key(kind: str, name: str, hex_id: str, key64: str) -> tuple[bytes, int, bytes]:
    """Check name and key-ID syntax; return (key_id, algorithm byte, key material)."""
    if not is_valid_name(name):
        raise NoteError(f"{kind}: invalid key name {name!r}")
    if not _HEX8.fullmatch(hex_id):
        raise NoteError(f"{kind}: key ID {hex_id!r} is not 8 hex digits")
    raw = _strict_b64(key64, kind)
    if len(raw) != 33:
        raise NoteError(f"{kind}: key is {len(raw)} bytes, expected type byte + 32")
    return bytes.fromhex(hex_id), raw[0], raw[1:]


def _parse_vkey(vkey: str) -> tuple[str, int, bytes]:
    """Parse ``name+hex(keyid)+base64(type||pubkey)``, recomputing the key ID."""
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise NoteError(f"vkey {vkey!r}: expected name+keyid+key")
    name, hex_id, key64 = parts
    kid, alg, public_key = _parse_key("vkey", name, hex_id, key64)
    if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise NoteError(f"vkey {name}: unsupported signature type 0x{alg:02x}")
    if key_id(name, alg, public_key) != kid:
        raise NoteError(f"vkey {name}: key ID {hex_id} does not match the key")
    return name, alg, public_key


def _parse_skey(skey: str) -> tuple[str, int, bytes]:
    """Parse Go's ``PRIVATE+KEY+name+hex(keyid)+base64(type||seed)``; return name, type, seed."""
    parts = skey.split("+", 4)
    if len(parts) != 5 or parts[0] != "PRIVATE" or parts[1] != "KEY":
        raise NoteError("skey: expected PRIVATE+KEY+name+keyid+key")
    name, hex_id, key64 = parts[2:]
    kid, alg, seed = _parse_key("skey", name, hex_id, key64)
    if alg not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise NoteError(f"skey {name}: unsupported signature type 0x{alg:02x}")
    public_key = bytes(nacl.signing.SigningKey(seed).verify_key)
    if key_id(name, alg, public_key) != kid:
        raise NoteError(f"skey {name}: key ID {hex_id} does not match the key")
    return name, alg, seed


def _ed25519_verify(public_key: bytes, message: bytes, signature: bytes, who: str) -> None:
    if len(signature) != 64:
        raise NoteError(f"invalid signature for key {who}: {len(signature)} bytes, expected 64")
    try:
        nacl.signing.VerifyKey(public_key).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError,
            nacl.exceptions.TypeError):
        raise NoteError(f"invalid signature for key {who}") from None


class _PublicKey:
    """A named Ed25519 public key of one signature type byte: name, key ID and vkey."""

    _alg: int
    _name: str
    _public_key: bytes
    _key_id: bytes

    @property
    def name(self) -> str:
        """The key name."""
        return self._name

    @property
    def key_id(self) -> bytes:
        """The 4-byte key ID."""
        return self._key_id

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self._public_key

    @property
    def vkey(self) -> str:
        """The verifier key string ``name+hex(keyid)+base64(type||pubkey)``."""
        return f"{self._name}+{self._key_id.hex()}+{_b64(bytes([self._alg]) + self._public_key)}"


class _Ed25519Key(_PublicKey):
    """Shared Ed25519 signer state: name, seed-derived keys and key ID for one type byte."""

    def __init__(self, seed: bytes, name: str) -> None:
        _check_seed(seed)
        _check_name(name)
        self._name = name
        self._signing_key = nacl.signing.SigningKey(bytes(seed))
        self._public_key = bytes(self._signing_key.verify_key)
        self._key_id = key_id(name, self._alg, self._public_key)
        self._seed = bytes(seed)


    @property
    def skey(self) -> str:
        """The private key string in Go's ``PRIVATE+KEY+name+hex+base64(type||seed)`` form."""
        return (f"PRIVATE+KEY+{self._name}+{self._key_id.hex()}+"
                f"{_b64(bytes([self._alg]) + self._seed)}")

    def _raw_sign(self, message: bytes) -> bytes:
        return bytes(self._signing_key.sign(message).signature)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey!r})"


class NoteSigner(_Ed25519Key):
    """An Ed25519 (type 0x01) note signer built from a 32-byte seed and a key name."""

    _alg = ALG_ED25519

    def sign(self, text: str) -> bytes:
        """Return the 64-byte Ed25519 signature over ``text`` (without the key ID)."""
        return self._raw_sign(text.encode("utf-8"))

    def verifier(self) -> NoteVerifier:
        """Return the matching verifier."""
        return NoteVerifier(self.name, self.public_key)


def cosignature_message(body: str, timestamp: int) -> bytes:
    """Return the tlog-cosignature v1 signed message for a checkpoint body."""
    return f"cosignature/v1\ntime {timestamp}\n{body}".encode()


class CosignatureSigner(_Ed25519Key):
    """A tlog-cosignature v1 (type 0x04) Ed25519 cosigner built from a seed and a name."""

    _alg = ALG_COSIGNATURE_V1

    def cosign(self, checkpoint_body: str, timestamp: int) -> bytes:
        """Return the signature-line payload key ID || u64 BE timestamp || Ed25519 signature."""
        _check_text(checkpoint_body)
        if not 0 <= timestamp <= MAX_TIMESTAMP:
            raise InputError("timestamp", f"{timestamp} is out of range", "0 <= t <= 2**63-1")
        sig = self._raw_sign(cosignature_message(checkpoint_body, timestamp))
        return self._key_id + timestamp.to_bytes(8, "big") + sig

    def cosignature_line(self, checkpoint_body: str, timestamp: int) -> str:
        """Return the full ``— name base64(...)\\n`` line to append to a signed checkpoint."""
        return f"{SIG_PREFIX}{self._name} {_b64(self.cosign(checkpoint_body, timestamp))}\n"

    def verifier(self) -> CosignatureVerifier:
        """Return the matching verifier."""
        return CosignatureVerifier(self.name, self.public_key)


class _VerifierBase(_PublicKey):
    """Shared verifier state: name, public key, key ID for one type byte."""

    def __init__(self, name: str, public_key: bytes) -> None:
        if not is_valid_name(name):
            raise NoteError(f"invalid key name {name!r}")
        if len(public_key) != 32:
            raise NoteError(f"key {name}: public key is {len(public_key)} bytes, expected 32")
        self._name = name
        self._public_key = bytes(public_key)
        self._key_id = key_id(name, self._alg, self._public_key)

    _kind: str
    """What a vkey of this type byte is called in messages."""

    @classmethod
    def from_vkey(cls, vkey: str) -> Self:
        """Parse a vkey of this verifier's type byte (0x01 Ed25519, 0x04 cosignature/v1),
        recomputing and checking its key ID."""
        name, alg, public_key = _parse_vkey(vkey)
        if alg != cls._alg:
            raise NoteError(f"vkey {name}: type 0x{alg:02x} is not {cls._kind}")
        return cls(name, public_key)

    def verify(self, text: str, payload: bytes) -> int | None:
        """Check ``payload`` over ``text``; return None or a cosignature timestamp."""
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _VerifierBase) or type(other) is not type(self):
            return NotImplemented
        return other.vkey == self.vkey

    def __hash__(self) -> int:
        return hash(self.vkey)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.vkey!r})"


class NoteVerifier(_VerifierBase):
    """An Ed25519 (type 0x01) note verifier."""

    _alg = ALG_ED25519
    _kind = "an Ed25519 note key"

    def verify(self, text: str, payload: bytes) -> None:
        """Check an Ed25519 signature over the note text; raise NoteError if invalid."""
        _ed25519_verify(self._public_key, text.encode("utf-8"), payload, self.vkey)


class CosignatureVerifier(_VerifierBase):
    """A tlog-cosignature v1 (type 0x04) verifier; returns the verified timestamp."""

    _alg = ALG_COSIGNATURE_V1
    _kind = "a cosignature/v1 key"

    def verify(self, text: str, payload: bytes) -> int:
        """Check a cosignature over checkpoint body ``text``; return its timestamp."""
        if len(payload) != 8 + 64:
            raise NoteError(f"invalid cosignature for key {self.vkey}: {len(payload)} bytes, "
                            "expected 72")
        timestamp = int.from_bytes(payload[:8], "big")
        if timestamp > MAX_TIMESTAMP:
            raise NoteError(f"invalid cosignature for key {self.vkey}: timestamp exceeds 2^63-1")
        _ed25519_verify(self._public_key, cosignature_message(text, timestamp), payload[8:],
                        self.vkey)
        return timestamp

    def timestamp_in(self, note: Note) -> int:
        """Return this cosigner's verified timestamp in an opened note; NoteError if absent."""
        try:
            return note.timestamps[(self._name, self._key_id)]
        except KeyError:
            raise NoteError(f"note carries no verified cosignature by {self.vkey}") from None


def parse_vkey(vkey: str) -> NoteVerifier | CosignatureVerifier:
    """Parse a vkey of type 0x01 (note) or 0x04 (cosignature), checking its key ID."""
    name, alg, public_key = _parse_vkey(vkey)
    if alg == ALG_COSIGNATURE_V1:
        return CosignatureVerifier(name, public_key)
    return NoteVerifier(name, public_key)


def parse_skey(skey: str) -> NoteSigner:
    """Parse a type 0x01 private key in Go's ``PRIVATE+KEY+...`` format (checks its key ID)."""
    name, alg, seed = _parse_skey(skey)
    if alg != ALG_ED25519:
        raise NoteError(f"skey {name}: type 0x{alg:02x} is not an Ed25519 note key")
    return NoteSigner(seed, name)


def parse_cosigner_skey(skey: str) -> CosignatureSigner:
    """Parse a type 0x04 private key in the same ``PRIVATE+KEY+...`` format."""
    name, alg, seed = _parse_skey(skey)
    if alg != ALG_COSIGNATURE_V1:
        raise NoteError(f"skey {name}: type 0x{alg:02x} is not a cosignature/v1 key")
    return CosignatureSigner(seed, name)


def generate_signer(name: str) -> NoteSigner:
    """Return a new note signer with a random seed."""
    return NoteSigner(os.urandom(32), name)


def generate_cosigner(name: str) -> CosignatureSigner:
    """Return a new cosignature signer with a random seed."""
    return CosignatureSigner(os.urandom(32), name)


def sign_note(text: str, signers: Sequence[Signer]) -> str:
    """Return ``text`` + blank line + one signature line per signer, in order."""
    _check_text(text)
    if not signers:
        raise InputError("signers", "is empty", "at least one signer")
    seen: set[tuple[str, bytes]] = set()
    lines = []
    for signer in signers:
        _check_name(signer.name)
        ident = (signer.name, signer.key_id)
        if ident in seen:
            raise InputError("signers", f"key {signer.name} appears twice", "distinct keys")
        seen.add(ident)
        payload = signer.key_id + signer.sign(text)
        lines.append(f"{SIG_PREFIX}{signer.name} {_b64(payload)}\n")
    return text + "\n" + "".join(lines)


def _decode(message: str | bytes) -> str:
    if isinstance(message, bytes):
        try:
            message = message.decode("utf-8")
        except UnicodeDecodeError:
            raise NoteError("malformed note: not valid UTF-8") from None
    try:
        message.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("malformed note: not valid UTF-8") from None
    if _has_control(message):
        raise NoteError("malformed note: contains ASCII control characters")
    return message


def _parse_signature_line(line: str) -> NoteSignature:
    if not line.startswith(SIG_PREFIX):
        raise NoteError(f"malformed note: signature line {line[:40]!r} lacks '— '")
    name, sep, sig64 = line[len(SIG_PREFIX):].partition(" ")
    if not sep or not sig64 or not is_valid_name(name):
        raise NoteError(f"malformed note: bad signature line {line[:40]!r}")
    raw = _strict_b64(sig64, f"malformed note: signature of {name}")
    if len(raw) < 5:
        raise NoteError(f"malformed note: signature of {name} is too short")
    return NoteSignature(name, raw[:4], raw[4:], line)


def split_note(message: str | bytes) -> tuple[str, list[NoteSignature]]:
    """Check a signed note's structure without verifying; return its text and signatures."""
    message = _decode(message)
    split = message.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = message[: split + 1], message[split + 2 :]
    if not block or not block.endswith("\n"):
        raise NoteError("malformed note: signature block missing or not newline-terminated")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: {len(lines)} signatures, at most {MAX_SIGNATURES}")
    return text, [_parse_signature_line(line) for line in lines]


def _index_verifiers(verifiers: Sequence[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        ident = (v.name, v.key_id)
        if ident in known and known[ident] != v:
            raise NoteError(f"ambiguous verifiers: two keys named {v.name} with ID "
                            f"{v.key_id.hex()}")
        known[ident] = v
    return known


def open_note(message: str | bytes, verifiers: Sequence[Verifier]) -> Note:
    """Parse and verify a signed note against known verifiers (see the module docstring)."""
    text, signatures = split_note(message)
    known = _index_verifiers(verifiers)
    verified: list[tuple[str, bytes]] = []
    unverified: list[str] = []
    timestamps: dict[tuple[str, bytes], int] = {}
    for sig in signatures:
        ident = (sig.name, sig.key_id)
        verifier = known.get(ident)
        if verifier is None:
            if sig.line not in unverified:
                unverified.append(sig.line)
            continue
        timestamp = verifier.verify(text, sig.payload)
        if ident in verified:
            continue
        verified.append(ident)
        if timestamp is not None:
            timestamps[ident] = timestamp
    if not verified:
        raise NoteError("note has no valid signature by a known key")
    return Note(text, verified, unverified, timestamps)
