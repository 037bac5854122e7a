"""Tests for cdlog.canonical: RFC 8785 bytes equal the reference implementation (and the fast
orjson path is taken only where it is equal), and the one canonical text form of times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.canonical import (
    _fast_path_ok,
    canonical_bytes,
    format_time,
    is_canonical_time,
    loads,
    parse_time,
)
from cdlog.errors import InputError

MAX_SAFE = 2**53 - 1
TRICKY_KEYS = ["", "a", "A", "é", "\x00", "\x1f", "\x7f", "\u2028", "\ud7ff", "\ue000",
               "\uffff", "\U00010000", "\U0001f600", "\U0010ffff", "a\U0001f600", "a\ue000"]

keys = st.one_of(st.text(max_size=6), st.sampled_from(TRICKY_KEYS))
strings = st.one_of(st.text(max_size=12), st.sampled_from(TRICKY_KEYS))
integers = st.one_of(
    st.integers(-MAX_SAFE, MAX_SAFE),
    st.integers(-(2**70), 2**70),
    st.sampled_from([MAX_SAFE, -MAX_SAFE, MAX_SAFE + 1, -MAX_SAFE - 1, 2**63, -(2**63) - 1]),
)
scalars = st.one_of(st.none(), st.booleans(), integers, strings)


def json_values(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nested JSON values (lists and string-keyed objects) over ``leaves``."""
    return st.recursive(leaves, lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
        max_leaves=20)


def reference(value: Any) -> bytes | None:
    """rfc8785's bytes for ``value``, or None when it refuses the value."""
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return None


# --- canonical JSON ----------------------------------------------------------------------------


@settings(max_examples=400)
@given(json_values(scalars))
def test_canonical_bytes_equal_rfc8785(value: Any) -> None:
    """canonical_bytes equals rfc8785.dumps, or refuses (InputError) exactly what it refuses."""
    expected = reference(value)
    if expected is None:
        with pytest.raises(InputError):
            canonical_bytes(value)
    else:
        assert canonical_bytes(value) == expected
        assert loads(expected) == value


@settings(max_examples=400)
@given(json_values(scalars))
def test_fast_path_is_taken_only_where_it_is_equal(value: Any) -> None:
    """Wherever orjson's sorted output is used it equals the RFC 8785 reference."""
    if _fast_path_ok(value):
        assert orjson.dumps(value, option=orjson.OPT_SORT_KEYS) == reference(value)


@settings(max_examples=200)
@given(json_values(st.one_of(scalars, st.floats(allow_nan=False, allow_infinity=False))))
def test_floats_go_through_rfc8785(value: Any) -> None:
    """Values holding floats are encoded exactly as rfc8785 encodes them."""
    expected = reference(value)
    if expected is None:
        with pytest.raises(InputError):
            canonical_bytes(value)
    else:
        assert canonical_bytes(value) == expected


@pytest.mark.parametrize("value", [1.5, [0.1], {"a": -0.0}, {"x": [1e21, 5e-324]}])
def test_values_with_floats_leave_the_fast_path(value: Any) -> None:
    """Any float anywhere in a value sends it to rfc8785."""
    assert not _fast_path_ok(value)
    assert canonical_bytes(value) == rfc8785.dumps(value)


def test_keys_beyond_the_bmp_sort_by_utf16() -> None:
    """Keys where UTF-8 and UTF-16 orders differ are sorted by UTF-16 code units (RFC 8785)."""
    value = {"\ue000": 1, "\U0001f600": 2, "a": 3}
    assert not _fast_path_ok(value)
    assert canonical_bytes(value) == '{"a":3,"\U0001f600":2,"\ue000":1}'.encode()
    assert orjson.dumps(value, option=orjson.OPT_SORT_KEYS) != canonical_bytes(value)


@pytest.mark.parametrize("value", [MAX_SAFE + 1, -MAX_SAFE - 1, [2**64], {"n": 2**80}])
def test_integers_beyond_the_safe_range_are_refused(value: Any) -> None:
    """Integers beyond ±(2**53 - 1) cannot be held exactly and are refused."""
    assert not _fast_path_ok(value)
    with pytest.raises(InputError) as raised:
        canonical_bytes(value)
    assert raised.value.field == "value"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [float("-inf")], {1: 2},
                                   {"a": {1, 2}}, object(), b"bytes"])
def test_values_json_cannot_hold_are_refused(value: Any) -> None:
    """NaN, infinities, non-string keys and non-JSON types raise InputError."""
    with pytest.raises(InputError):
        canonical_bytes(value)


def test_safe_integer_bounds_take_the_fast_path() -> None:
    """The largest exactly representable integers are encoded on the fast path."""
    value = {"max": MAX_SAFE, "min": -MAX_SAFE, "t": True, "n": None, "l": ["x", 0]}
    assert _fast_path_ok(value)
    assert canonical_bytes(value) == (b'{"l":["x",0],"max":9007199254740991,'
                                      b'"min":-9007199254740991,"n":null,"t":true}')


# --- times -------------------------------------------------------------------------------------


offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(
    lambda m: timezone(timedelta(minutes=m)))
aware_times = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                           timezones=offsets)


@settings(max_examples=300)
@given(aware_times)
def test_format_and_parse_time_round_trip(value: datetime) -> None:
    """format_time writes the canonical form; parse_time reads back the same instant and offset."""
    text = format_time(value)
    assert is_canonical_time(text)
    parsed = parse_time(text)
    assert parsed == value
    assert parsed.utcoffset() == value.utcoffset()
    assert format_time(parsed) == text
    assert ("." in text) == (value.microsecond != 0)
    assert not text.endswith("Z")


@settings(max_examples=100)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
def test_naive_times_are_refused(value: datetime) -> None:
    """A time without an offset is refused both ways, naming the field."""
    with pytest.raises(InputError) as formatted:
        format_time(value)
    assert formatted.value.field == "time"
    with pytest.raises(InputError) as parsed:
        parse_time(value.isoformat(), "recorded")
    assert parsed.value.field == "recorded"
    assert not is_canonical_time(value.isoformat())


def test_utc_is_written_with_an_offset_and_z_is_read() -> None:
    """UTC is written +00:00, never Z; Z and minutes-only times are accepted on input."""
    assert format_time(datetime(2006, 3, 14, 9, 12, tzinfo=UTC)) == "2006-03-14T09:12:00+00:00"
    assert parse_time("2006-03-14T09:12:00Z") == datetime(2006, 3, 14, 9, 12, tzinfo=UTC)
    assert format_time(parse_time("2006-03-14T09:12-05:00")) == "2006-03-14T09:12:00-05:00"
    assert not is_canonical_time("2006-03-14T09:12:00Z")
    assert not is_canonical_time("2006-03-14T09:12-05:00")
    assert not is_canonical_time("2006-03-14T09:12:00.000000-05:00")
    assert not is_canonical_time("2006-03-14T09:12:00.5-05:00")
    assert is_canonical_time("2006-03-14T09:12:00.500000-05:00")


@pytest.mark.parametrize("seconds", [1, 30, -1, 3600 + 59])
def test_offsets_with_seconds_are_refused(seconds: int) -> None:
    """An offset that is not a whole number of minutes has no canonical form and is refused."""
    value = datetime(1890, 1, 1, 12, 0, tzinfo=timezone(timedelta(seconds=seconds)))
    with pytest.raises(InputError) as raised:
        format_time(value)
    assert raised.value.field == "time"


@pytest.mark.parametrize("text", ["", "yesterday", "2006-13-01T00:00:00+00:00", 20060314])
def test_parse_time_refuses_what_is_no_time(text: Any) -> None:
    """Strings that are not ISO-8601 times, and non-strings, raise InputError naming the field."""
    with pytest.raises(InputError) as raised:
        parse_time(text, "occurred.at")
    assert raised.value.field == "occurred.at"
