"""Sealing: the envelope of an event, its canonical bytes, its hash and its signatures.

The stored form of every event (docs/SPEC.md §2) is::

    sealed = JCS(envelope) || 0x0A || JCS(signatures)

``envelope`` is a JSON object (format, log, stream, case, version, type, occurred, recorded,
actor, cosigners, payload, prev, late). Every signer signs
``"cdlog/event/v1\\n" || JCS(envelope)`` with Ed25519. The event hash is the RFC 6962 leaf hash
``SHA-256(0x00 || sealed)``: it covers the signatures, it is the Merkle leaf of the global log,
and it is what the next event of the same case names in ``prev``.
Verification works on the stored bytes as they are; nothing is re-encoded before hashing.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import hashlib
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson

from cdlog import _native
from cdlog.canonical import canonical_bytes
from cdlog.errors import Failure, InputError, VerificationError
from cdlog.keys.signer import Signer

FORMAT = "cdlog/event/v1"
SIGNING_PREFIX = b"cdlog/event/v1\n"
STREAM_NAMESPACE = uuid.UUID("6f1c3a2e-3c1b-5b7e-9a51-1e0c0d1a7c05")
ENVELOPE_KEYS = frozenset({
    "format", "log", "stream", "case", "version", "type", "occurred", "recorded",
    "actor", "cosigners", "payload", "prev", "late",
})


@functools.lru_cache(maxsize=8192)
def stream_id(name: str) -> uuid.UUID:
    """Return the case (stream) id for a stream name: UUIDv5 in cdlog's namespace."""
    return uuid.uuid5(STREAM_NAMESPACE, name)


_NAMESPACE_BYTES = STREAM_NAMESPACE.bytes
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def case_text(name: str) -> str:
    """``str(stream_id(name))`` written directly (a third of its time): the SHA-1 of the
    namespace and the name's UTF-8, its version nibble 5 and its variant bits ``10``, as the
    hyphenated hex text (``tests/test_sealing.py`` holds it to :func:`uuid.uuid5`)."""
    h = hashlib.sha1(_NAMESPACE_BYTES + name.encode("utf-8"), usedforsecurity=False).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


@functools.lru_cache(maxsize=8192)
def case_id(name: str) -> str:
    """``str(stream_id(name))``, the case id as envelopes write it, remembered."""
    return case_text(name)


def leaf_hash(sealed: bytes) -> bytes:
    """Return the event hash: SHA-256(0x00 || sealed bytes) (an RFC 6962 leaf hash)."""
    return hashlib.sha256(b"\x00" + sealed).digest()


def signing_message(envelope_bytes: bytes) -> bytes:
    """Return the bytes each signer signs."""
    return SIGNING_PREFIX + envelope_bytes


@dataclass(frozen=True)
class Signature:
    """One signature: the signer's key id and the 64-byte Ed25519 signature."""

    key: str
    sig: bytes

    def as_json(self) -> dict[str, str]:
        """Return the stored JSON form."""
        return {"key": self.key, "sig": base64.b64encode(self.sig).decode()}


@dataclass(frozen=True)
class SealedEvent:
    """An event as stored: envelope, signatures, the exact bytes and their hash.

    Immutable: the envelope is never changed after sealing or parsing, so the fields read
    from it are remembered on first use.
    """

    envelope: Mapping[str, Any]
    envelope_bytes: bytes
    signatures: tuple[Signature, ...]
    sealed: bytes
    hash: bytes

    @functools.cached_property
    def stream(self) -> str:
        """The stream name (``case:OP-2006-0001``, ``trust:CBP``...)."""
        return cast(str, self.envelope["stream"])

    @functools.cached_property
    def case(self) -> str:
        """The case (stream) id as a string UUID."""
        return cast(str, self.envelope["case"])

    @functools.cached_property
    def version(self) -> int:
        """The event's version in its case, from 1."""
        return cast(int, self.envelope["version"])

    @functools.cached_property
    def type(self) -> str:
        """The stable event type name."""
        return cast(str, self.envelope["type"])

    @property
    def topic(self) -> str:
        """The eventsourcing topic the event is stored under."""
        return "cdlog:" + self.type

    @property
    def payload(self) -> Mapping[str, Any]:
        """The event's payload object."""
        return cast(Mapping[str, Any], self.envelope["payload"])

    @property
    def prev(self) -> str | None:
        """Hex hash of the previous event of the same case, or None for version 1."""
        return cast("str | None", self.envelope["prev"])

    @functools.cached_property
    def hash_hex(self) -> str:
        """The event hash in lowercase hex."""
        return self.hash.hex()

    @property
    def signer_keys(self) -> tuple[str, ...]:
        """Key ids that must sign, in order: the actor first, then each cosigner."""
        keys = [cast(str, self.envelope["actor"]["key"])]
        keys.extend(cast(str, c["key"]) for c in self.envelope["cosigners"])
        return tuple(keys)


def build_envelope(
    *,
    log: str,
    stream: str,
    version: int,
    type_: str,
    occurred: Mapping[str, str],
    recorded: str,
    actor: Mapping[str, str],
    cosigners: Sequence[Mapping[str, str]],
    payload: Mapping[str, Any],
    prev: str | None,
    late: bool,
) -> dict[str, Any]:
    """Assemble an envelope dict (all values already in their canonical JSON form)."""
    return {
        "format": FORMAT,
        "log": log,
        "stream": stream,
        "case": case_id(stream),
        "version": version,
        "type": type_,
        "occurred": dict(occurred),
        "recorded": recorded,
        "actor": dict(actor),
        "cosigners": [dict(c) for c in cosigners],
        "payload": dict(payload),
        "prev": prev,
        "late": late,
    }


def owned_envelope(log: str, stream: str, version: int, type_: str, occurred: dict[str, str],
                   recorded: str, actor: dict[str, str], cosigners: list[dict[str, str]],
                   payload: dict[str, Any], prev: str | None, late: bool) -> dict[str, Any]:
    """:func:`build_envelope` for parts the caller made for this envelope alone (fresh dicts
    and list, not kept elsewhere): they are put in as they are, not copied (the same dict)."""
    return {"format": FORMAT, "log": log, "stream": stream, "case": case_id(stream),
            "version": version, "type": type_, "occurred": occurred, "recorded": recorded,
            "actor": actor, "cosigners": cosigners, "payload": payload, "prev": prev,
            "late": late}


def signatures_bytes(signatures: Sequence[Signature]) -> bytes:
    """The canonical (RFC 8785) bytes of the signature list, as stored after the envelope.

    Its objects have the two ASCII keys ``key`` and ``sig`` and string values, where orjson's
    sorted output is RFC 8785's; anything else goes through :func:`canonical_bytes`.
    """
    if all(type(s.key) is str for s in signatures):
        # orjson's sorted output of [{"key": k, "sig": base64(s)}, ...], written directly: each
        # key string as orjson writes it, the base64 text as is (it needs no escaping)
        return b"[" + b",".join([b'{"key":' + orjson.dumps(s.key) + b',"sig":"'
                                 + binascii.b2a_base64(s.sig, newline=False) + b'"}'
                                 for s in signatures]) + b"]"
    return canonical_bytes([s.as_json() for s in signatures])


def seal(envelope: Mapping[str, Any], signers: Sequence[Signer]) -> SealedEvent:
    """Sign an envelope with each signer, in the order the envelope names them.

    ``signers`` must match the envelope's actor key followed by each cosigner's key.
    """
    given = [s.key_id for s in signers]
    cosigners = envelope["cosigners"]
    if (len(given) != len(cosigners) + 1 or given[0] != envelope["actor"]["key"]
            or (cosigners and given[1:] != [c["key"] for c in cosigners])):
        expected = [envelope["actor"]["key"], *(c["key"] for c in cosigners)]
        raise InputError("signers", f"keys {given} do not match the envelope",
                         f"signers with keys {expected}, in that order")
    envelope_bytes = canonical_bytes(envelope)
    message = SIGNING_PREFIX + envelope_bytes  # signing_message(envelope_bytes)
    sigs = tuple([_signature(key, s.sign(message)) for key, s in zip(given, signers, strict=True)])
    sealed = envelope_bytes + b"\n" + signatures_bytes(sigs)
    return _sealed_event(envelope, envelope_bytes, sigs, sealed, leaf_hash(sealed))


def _signature(key: str, sig: bytes) -> Signature:
    """``Signature(key, sig)``, its instance dictionary filled directly (the frozen dataclass's
    ``__init__`` sets each field through ``object.__setattr__``): the same object."""
    if not _PLAIN_SIGNATURE:  # the class changed shape: build it the ordinary way
        return Signature(key, sig)
    made: Signature = object.__new__(Signature)
    made.__dict__.update(key=key, sig=sig)
    return made


def _decode_failure(where: str, version: int | None, detail: str) -> VerificationError:
    return VerificationError(Failure(where, version, "decode", detail))


def parse(sealed: bytes, where: str = "<unknown>", version: int | None = None) -> SealedEvent:
    """Decode stored bytes into a :class:`SealedEvent` without checking signatures.

    Raises :class:`~cdlog.errors.VerificationError` (check ``decode``) naming ``where`` and
    ``version`` when the bytes are not a well-formed sealed event.

    Where the native hot loops are built (:mod:`cdlog._native`), an event in the shape cdlog
    writes is decoded by their twin of :func:`parse_pure`; anything else, and every failure,
    goes through :func:`parse_pure`, the reference.
    """
    if native_parse is not None:
        event: SealedEvent | None = native_parse(sealed, False)
        if event is not None:
            return event
    return parse_pure(sealed, where, version)


def parse_pure(sealed: bytes, where: str = "<unknown>", version: int | None = None
               ) -> SealedEvent:
    """:func:`parse` in Python (the reference of its native twin).

    Every check runs on every call. Where a value has exactly the shape cdlog writes (a dict
    with the envelope's keys, signatures of two strings each), the check is done with fewer
    Python steps; anything else goes through the plain checks of :func:`_parse_plain`, which
    decide and word every failure.
    """
    head, sep, tail = sealed.partition(b"\n")
    if not sep:
        raise _decode_failure(where, version, "no newline between envelope and signatures")
    try:
        envelope = orjson.loads(head)
        raw_sigs = orjson.loads(tail)
    except ValueError as exc:
        raise _decode_failure(where, version, f"not JSON: {exc}") from exc
    sigs = _quick_signatures(raw_sigs)
    if (sigs is None or type(envelope) is not dict or envelope.keys() != ENVELOPE_KEYS
            or envelope["format"] != FORMAT or type(envelope["version"]) is not int
            or type(envelope["type"]) is not str):
        return _parse_plain(sealed, head, envelope, raw_sigs, where, version)
    return _sealed_event(envelope, head, sigs, sealed)


def _quick_signatures(raw_sigs: Any) -> tuple[Signature, ...] | None:
    """The signatures when every one is ``{"key": str, "sig": ASCII str}`` (what cdlog writes)
    and decodes as strict base64, else None (:func:`_parse_plain` then decides)."""
    if type(raw_sigs) is not list:
        return None
    out = []
    for s in raw_sigs:
        if type(s) is not dict or s.keys() != _SIGNATURE_KEYS:
            return None
        key, sig = s["key"], s["sig"]
        if type(key) is not str or type(sig) is not str or not sig.isascii():
            return None
        try:  # what base64.b64decode(sig, validate=True) does with an ASCII str
            raw = binascii.a2b_base64(sig, strict_mode=True)
        except binascii.Error:
            return None
        out.append(Signature(key, raw))
    return tuple(out)


_SIGNATURE_KEYS = frozenset({"key", "sig"})
_EVENT_FIELDS = ("envelope", "envelope_bytes", "signatures", "sealed", "hash")
_PLAIN_EVENT = (tuple(f.name for f in dataclasses.fields(SealedEvent)) == _EVENT_FIELDS
                and not hasattr(SealedEvent, "__slots__")
                and not hasattr(SealedEvent, "__post_init__"))
_PLAIN_SIGNATURE = (tuple(f.name for f in dataclasses.fields(Signature)) == ("key", "sig")
                    and not hasattr(Signature, "__slots__")
                    and not hasattr(Signature, "__post_init__"))


def _native_parse() -> Callable[[bytes, bool], SealedEvent | None] | None:
    """The native twin of :func:`parse_pure` (with ``True``: of :func:`parse_pure` followed by
    :func:`cdlog.verify.form._check_form`), configured with this module's classes, orjson and
    SHA-256; None when cdlog runs pure or the classes changed shape."""
    native = _native.speedups
    if native is None or not (_PLAIN_EVENT and _PLAIN_SIGNATURE):
        return None
    native.configure(SealedEvent, Signature, orjson.loads, orjson.dumps, orjson.OPT_SORT_KEYS,
                     hashlib.sha256, FORMAT)
    _native.bind_sha256()  # the leaf hash through OpenSSL's low-level calls where it can
    return cast("Callable[[bytes, bool], SealedEvent | None]", native.parse)


native_parse = _native_parse()


def _sealed_event(envelope: Mapping[str, Any], head: bytes, sigs: tuple[Signature, ...],
                  sealed: bytes, digest: bytes | None = None) -> SealedEvent:
    """The :class:`SealedEvent` of checked parts, with the envelope fields it reads remembered.

    Equal to ``SealedEvent(envelope, head, sigs, sealed, leaf_hash(sealed))`` whose cached
    properties (``stream``, ``case``, ``version``, ``type``, ``hash_hex``) were read once: the
    instance dictionary is filled directly, which skips the frozen dataclass's per-field
    ``object.__setattr__`` and the lock each cached property takes on first use (Python 3.11).
    ``digest`` is the leaf hash of ``sealed`` when the caller has it (:func:`seal`).
    """
    if digest is None:
        digest = hashlib.sha256(b"\x00" + sealed).digest()
    if not _PLAIN_EVENT:  # the class changed shape: build it the ordinary way
        return SealedEvent(envelope=envelope, envelope_bytes=head, signatures=sigs,
                           sealed=sealed, hash=digest)
    event: SealedEvent = object.__new__(SealedEvent)
    event.__dict__.update(envelope=envelope, envelope_bytes=head, signatures=sigs,
                          sealed=sealed, hash=digest, stream=envelope["stream"],
                          case=envelope["case"], version=envelope["version"],
                          type=envelope["type"], hash_hex=digest.hex())
    return event


def _parse_plain(sealed: bytes, head: bytes, envelope: Any, raw_sigs: Any, where: str,
                 version: int | None) -> SealedEvent:
    """The checks of :func:`parse` one by one, for decoded values of any shape."""
    if not isinstance(envelope, dict) or set(envelope) != ENVELOPE_KEYS:
        keys = sorted(envelope) if isinstance(envelope, dict) else type(envelope).__name__
        raise _decode_failure(where, version, f"envelope fields are {keys}, "
                              f"expected {sorted(ENVELOPE_KEYS)}")
    if envelope.get("format") != FORMAT:
        raise _decode_failure(where, version, f"format {envelope.get('format')!r}, "
                              f"expected {FORMAT!r}")
    if not isinstance(raw_sigs, list) or not all(
        isinstance(s, dict) and set(s) == {"key", "sig"} for s in raw_sigs
    ):
        raise _decode_failure(where, version, "signatures are not a list of {key, sig}")
    try:
        sigs = tuple(Signature(str(s["key"]), base64.b64decode(s["sig"], validate=True))
                     for s in raw_sigs)
    except (binascii.Error, TypeError, ValueError) as exc:
        raise _decode_failure(where, version, f"signature is not base64: {exc}") from exc
    if not isinstance(envelope.get("version"), int) or not isinstance(envelope.get("type"), str):
        raise _decode_failure(where, version, "version or type has the wrong JSON type")
    return SealedEvent(envelope=envelope, envelope_bytes=head, signatures=sigs,
                       sealed=sealed, hash=leaf_hash(sealed))
