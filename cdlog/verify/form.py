"""The ``decode`` check of stored sealed bytes: the envelope's JSON types, canonical bytes."""

from __future__ import annotations

import re
from binascii import b2a_base64
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from cdlog.canonical import _MAX_SAFE_INT, _fast_path_ok, canonical_bytes, is_canonical_time
from cdlog.errors import CdlogError, Failure, VerificationError
from cdlog.log.sealing import SealedEvent, Signature, native_parse, parse, signatures_bytes

_HASH_HEX = re.compile(r"^[0-9a-f]{64}$")


def _is_party(value: object) -> bool:
    return isinstance(value, dict) and type(value.get("key")) is str


def _check_form(sealed: SealedEvent, case: str, version: int | None) -> None:
    """Raise (check ``decode``) unless the envelope has the format's JSON types and both
    halves of the sealed bytes are stored canonically."""
    env = sealed.envelope
    stream, env_version, cosigners, prev = (env["stream"], env["version"], env["cosigners"],
                                            env["prev"])
    if not (type(env["log"]) is str and type(stream) is str and ":" in stream
            and type(env["case"]) is str and type(env_version) is int and env_version >= 1
            and isinstance(env["occurred"], dict)
            and type(env["recorded"]) is str and is_canonical_time(env["recorded"])
            and _is_party(env["actor"]) and isinstance(cosigners, list)
            and all(_is_party(c) for c in cosigners) and isinstance(env["payload"], dict)
            and (prev is None or (type(prev) is str and bool(_HASH_HEX.match(prev))))
            and type(env["late"]) is bool):
        _raise_malformed(env, case, version)
    signatures = sealed.sealed[len(sealed.envelope_bytes) + 1:]
    try:
        canonical_env = _canonical_envelope(env)
        canonical_sigs = _canonical_signatures(sealed.signatures)
    except CdlogError as exc:
        raise VerificationError(Failure(case, version, "decode",
                                        f"envelope is not canonical JSON: {exc}")) from exc
    if canonical_env != sealed.envelope_bytes:
        raise VerificationError(Failure(case, version, "decode",
                                        "envelope bytes are not in canonical (RFC 8785) form"))
    if canonical_sigs != signatures:
        raise VerificationError(Failure(case, version, "decode",
                                        "signature bytes are not in canonical form"))


def parse_checked(data: bytes, case: str, version: int | None) -> SealedEvent:
    """:func:`~cdlog.log.sealing.parse` followed by :func:`_check_form`, in one native step where
    the native hot loops are built (:mod:`cdlog._native`) and the event has the shape cdlog
    writes; anything else, and every failure, takes the two Python functions (the reference).
    """
    if native_parse is not None:
        sealed = native_parse(data, True)
        if sealed is not None:
            return sealed
    sealed = parse(data, case, version)
    _check_form(sealed, case, version)
    return sealed


def _raise_malformed(env: Mapping[str, Any], case: str, version: int | None) -> None:
    """Raise the ``decode`` failure naming every malformed envelope field (if there is one)."""
    problems = [name for name, ok in (
        ("log", type(env["log"]) is str),
        ("stream", type(env["stream"]) is str and ":" in env["stream"]),
        ("case", type(env["case"]) is str),
        ("version", type(env["version"]) is int and env["version"] >= 1),
        ("occurred", isinstance(env["occurred"], dict)),
        ("recorded", type(env["recorded"]) is str and is_canonical_time(env["recorded"])),
        ("actor", _is_party(env["actor"])),
        ("cosigners", isinstance(env["cosigners"], list)
         and all(_is_party(c) for c in env["cosigners"])),
        ("payload", isinstance(env["payload"], dict)),
        ("prev", env["prev"] is None or (type(env["prev"]) is str
                                         and bool(_HASH_HEX.match(env["prev"])))),
        ("late", type(env["late"]) is bool),
    ) if not ok]
    if problems:
        raise VerificationError(Failure(case, version, "decode",
                                        f"envelope field(s) {', '.join(problems)} malformed"))


def _canonical_signatures(signatures: Sequence[Signature]) -> bytes:
    """:func:`~cdlog.log.sealing.signatures_bytes`: where every key is a string, its list of
    ``Signature.as_json()`` written with the base64 encoder ``base64.b64encode`` itself
    calls, without the per-signature method and wrapper calls."""
    if all(type(s.key) is str for s in signatures):
        return orjson.dumps([{"key": s.key, "sig": b2a_base64(s.sig, newline=False).decode()}
                             for s in signatures], option=orjson.OPT_SORT_KEYS)
    return signatures_bytes(signatures)


def _canonical_envelope(env: Mapping[str, Any]) -> bytes:
    """``canonical_bytes(env)`` for an envelope decoded by :func:`~cdlog.log.sealing.parse` whose
    fields have the format's JSON types (see :func:`_check_form`).

    :func:`canonical_bytes` walks the whole value to decide whether orjson's sorted output is
    RFC 8785. Here the top level is known: the keys are the envelope's (ASCII), the fields
    other than ``version``, ``occurred``, ``actor``, ``cosigners`` and ``payload`` are
    strings, booleans or null, so the walk is needed only for ``version``'s range and the
    four nested values; the decision and the bytes are the same.
    """
    if env["version"] <= _MAX_SAFE_INT and _fast_path_ok(
            (env["occurred"], env["actor"], env["cosigners"], env["payload"])):
        return orjson.dumps(env, option=orjson.OPT_SORT_KEYS)
    return canonical_bytes(env)

