"""Canonical JSON (RFC 8785) and the one fixed text form of times.

Everything cdlog hashes or signs is RFC 8785 (JCS) JSON. :func:`canonical_bytes` uses orjson
with sorted keys where that is provably byte-identical to RFC 8785 (no floats, integers inside
the IEEE-754 exact range, object keys below U+D800 so that UTF-8 and UTF-16 orderings agree) and
the ``rfc8785`` reference implementation otherwise. A property test holds the two equal.
"""

from __future__ import annotations

import functools
import re
from datetime import datetime
from typing import Any

import orjson
import rfc8785

from cdlog import _native
from cdlog.errors import InputError

_MAX_SAFE_INT = 2**53 - 1
_OPTS = orjson.OPT_SORT_KEYS


def _fast_path_ok(value: Any) -> bool:
    """Return True when orjson's sorted output equals RFC 8785 for ``value``.

    Strings, booleans, null and integers inside the IEEE-754 exact range are written alike,
    and object keys must be strings below U+D800 (so UTF-8 and UTF-16 orders agree); any
    float sends the value to the reference. Leaves are checked where they are met, so only
    containers go on the stack.
    """
    stack = [value]
    while stack:
        v = stack.pop()
        t = type(v)
        if t is dict:
            for k, item in v.items():
                if type(k) is not str or (not k.isascii() and max(k) >= "\ud800"):
                    return False
                ti = type(item)
                if ti is str or ti is bool or item is None:
                    continue
                if ti is int:
                    if not -_MAX_SAFE_INT <= item <= _MAX_SAFE_INT:
                        return False
                else:
                    stack.append(item)
        elif t is str or t is bool or v is None:
            continue
        elif t is int:
            if not -_MAX_SAFE_INT <= v <= _MAX_SAFE_INT:
                return False
        elif t is list or t is tuple:
            stack.extend(v)
        else:
            return False
    return True


_fast_path_ok_pure = _fast_path_ok
"""The reference of the native twin (:mod:`cdlog._native`), which replaces
:func:`_fast_path_ok` where it is built."""
if _native.speedups is not None:
    _fast_path_ok = _native.speedups.fast_path_ok


def canonical_bytes(value: Any) -> bytes:
    """Encode a JSON value as RFC 8785 canonical bytes.

    Raises :class:`~cdlog.errors.InputError` for values JSON cannot hold canonically
    (floats that are NaN or infinite, integers beyond 2**53, non-string keys, other types).
    """
    if _fast_path_ok(value):
        return orjson.dumps(value, option=_OPTS)
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise InputError("value", f"cannot be encoded canonically: {exc}",
                         "JSON strings, integers below 2**53, booleans, null, lists, "
                         "objects with string keys") from exc


def loads(data: bytes | str) -> Any:
    """Decode JSON (the inverse of :func:`canonical_bytes`)."""
    return orjson.loads(data)


_TIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?([+-]\d{2}:\d{2}|Z)$",
)


def format_time_pure(value: datetime) -> str:
    """Return the one canonical text form of an aware time.

    ``YYYY-MM-DDTHH:MM:SS[.ffffff]±HH:MM``: seconds always present, microseconds only when not
    zero, the offset the time was given with (UTC written ``+00:00``, never ``Z``).
    """
    off = value.utcoffset()
    if off is None:
        raise InputError("time", f"{value.isoformat()} has no UTC offset",
                         "a timezone-aware time such as 2006-03-14T09:12:00-05:00")
    if off.seconds % 60 or off.microseconds:  # total_seconds() % 60: days are whole minutes
        raise InputError("time", f"{value.isoformat()} has a UTC offset with seconds",
                         "an offset in whole minutes such as -05:00")
    text = value.isoformat()  # timespec "auto": microseconds only when there are any
    if text.endswith("Z"):  # pragma: no cover - isoformat never writes Z, kept for safety
        text = text[:-1] + "+00:00"
    return text


_native_format_time = (getattr(_native.speedups, "format_time", None)
                       if _native.speedups is not None else None)


def format_time(value: datetime) -> str:
    """Return the one canonical text form of an aware time (see :func:`format_time_pure`, the
    reference; where the native hot loops are built, their twin formats an exact
    :class:`datetime` with a whole-minute offset, and hands anything else back to it)."""
    if _native_format_time is not None:
        text: str | None = _native_format_time(value)
        if text is not None:
            return text
    return format_time_pure(value)


def parse_time(text: str, field: str = "time") -> datetime:
    """Parse an ISO-8601 time with offset (``Z`` accepted); the result is aware.

    Minutes-only times such as ``2006-03-14T09:12-05:00`` are accepted as given in scenario
    files. Naive times are refused with an :class:`~cdlog.errors.InputError` naming ``field``.
    """
    if type(text) is str:
        return _parse_time_text(text, field)  # the same (immutable) time for the same text
    return _parse_time(text, field)


@functools.lru_cache(maxsize=256)
def _parse_time_text(text: str, field: str) -> datetime:
    return _parse_time(text, field)


def _parse_time(text: str, field: str) -> datetime:
    if not isinstance(text, str):
        raise InputError(field, f"{text!r} is not a time string", "ISO-8601 with offset")
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(field, f"{text!r} is not an ISO-8601 time",
                         "e.g. 2006-03-14T09:12:00-05:00") from exc
    if value.tzinfo is None:
        raise InputError(field, f"{text!r} has no UTC offset",
                         "a time with an offset such as -05:00 or Z")
    return value


def is_canonical_time(text: str) -> bool:
    """Return True when ``text`` is exactly what :func:`format_time` would write.

    :func:`format_time` inlined: a text the pattern admits always parses (if at all) to an
    aware time whose offset is whole minutes (``±HH:MM``), so neither of its refusals can
    happen, and its ``timespec`` (microseconds only when there are any) is ``isoformat``'s
    default.
    """
    if not _TIME_RE.match(text) or text.endswith("Z"):
        return False
    return datetime.fromisoformat(text).isoformat() == text
