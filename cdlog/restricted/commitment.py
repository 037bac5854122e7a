"""The salted commitment that stands in the signed log for a restricted value.

``commitment = "sha256:" || hex(SHA-256("cdlog/field/v1" || 0x0A || field || 0x0A || salt ||
JCS(value)))`` with ``field`` the class's field name (UTF-8), ``salt`` exactly
:data:`SALT_BYTES` random bytes and ``JCS(value)`` the RFC 8785 form of the JSON value
(docs/SPEC.md §12). Signatures cover the commitment, never the value; whoever holds value and
salt can show that they are what was signed, and nobody can guess a value from the commitment
alone (the salt is secret and as long as the hash).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from typing import Any

from cdlog.canonical import canonical_bytes
from cdlog.errors import InputError

DOMAIN_TAG = b"cdlog/field/v1"
SALT_BYTES = 32
PREFIX = "sha256:"
_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")


def _has_float(value: Any) -> bool:
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, float):
            return True
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list | tuple):
            stack.extend(v)
    return False


def _value_bytes(field: str, value: Any) -> bytes:
    if _has_float(value):
        raise InputError(field, "is or holds a float", "strings, integers, booleans, lists "
                         "and objects (cdlog never hashes a float: a decimal is a string)")
    try:
        return canonical_bytes(value)
    except (TypeError, ValueError) as exc:
        raise InputError(field, f"is not a JSON value ({type(value).__name__}: {exc})",
                         "a string, integer, boolean, list or object") from None


def commitment(field: str, value: Any, salt: object) -> str:
    """The commitment to ``value`` of restricted field ``field`` under ``salt``."""
    if not isinstance(salt, bytes | bytearray) or len(salt) != SALT_BYTES:
        got = (f"{len(salt)} bytes" if isinstance(salt, bytes | bytearray)
               else f"a {type(salt).__name__}")
        raise InputError(f"{field}.salt", f"is {got}", f"exactly {SALT_BYTES} bytes")
    if not field or "\n" in field:
        raise InputError("field", f"{field!r} is not a field name", "a one-line field name")
    digest = hashlib.sha256(DOMAIN_TAG + b"\n" + field.encode("utf-8") + b"\n" + bytes(salt)
                            + _value_bytes(field, value)).hexdigest()
    return PREFIX + digest


def commit(field: str, value: Any) -> tuple[str, bytes]:
    """Commit to ``value`` with a fresh random salt; return the commitment and the salt."""
    salt = secrets.token_bytes(SALT_BYTES)
    return commitment(field, value, salt), salt


def matches(field: str, value: Any, salt: object, expected: str) -> bool:
    """Whether ``value`` and ``salt`` open ``expected`` for ``field`` (constant-time compare;
    a salt of the wrong length or a value that is no JSON value never matches)."""
    try:
        got = commitment(field, value, salt)
    except InputError:
        return False
    return hmac.compare_digest(got.encode(), str(expected).encode())


def is_commitment(text: object) -> bool:
    """Whether ``text`` has the form of a commitment cdlog computes (``sha256:`` + 64 hex)."""
    return isinstance(text, str) and _PATTERN.fullmatch(text) is not None
