"""The native twin of :func:`cdlog.canonical.format_time` (``cdlog/_native/times.c``) equals its
pure-Python reference, :func:`cdlog.canonical.format_time_pure`.

On random times of every year, microsecond and offset (whole minutes, with seconds, historic
zones, naive times, subclasses, pydantic's own ``TzInfo``): the twin returns the reference's
text or hands the time back (None), it answers for every exact :class:`datetime` with a
whole-minute offset, and :func:`cdlog.canonical.format_time` returns the reference's text or
raises its very error. Like ``tests/test_native_speedups.py``, the comparisons run against the
compiled module whenever it is built, also in the pure pass of ``make test``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone, tzinfo
from types import ModuleType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import AwareDatetime, TypeAdapter

from cdlog import canonical
from cdlog.canonical import format_time, format_time_pure
from cdlog.errors import InputError

if TYPE_CHECKING:
    from test_native_speedups import NATIVE, PURE
else:  # pytest registers tests/test_native_speedups.py as tests.test_native_speedups
    from tests.test_native_speedups import NATIVE, PURE

TWINS = [NATIVE] if NATIVE is not None else []


class _Later(datetime):
    """A datetime subclass that formats itself otherwise: the twin must not answer for it."""

    def isoformat(self, sep: str = "T", timespec: str = "auto") -> str:
        return "later:" + super().isoformat(sep, timespec)


class _Broken(tzinfo):
    """A tzinfo whose offset is not a timedelta."""

    def utcoffset(self, dt: datetime | None) -> timedelta:
        raise RuntimeError("no offset here")

    def dst(self, dt: datetime | None) -> timedelta | None:
        return None

    def tzname(self, dt: datetime | None) -> str | None:
        return None


whole_minutes = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda m: timezone(timedelta(minutes=m)))
with_seconds = st.integers(-(24 * 3600 - 1), 24 * 3600 - 1).filter(lambda s: s % 60).map(
    lambda s: timezone(timedelta(seconds=s)))
zones = st.sampled_from([ZoneInfo(k) for k in ("America/New_York", "Europe/Amsterdam",
                                                 "Asia/Kolkata", "Africa/Monrovia",
                                                 "Pacific/Chatham", "UTC")])
offsets = st.one_of(whole_minutes, with_seconds, zones, st.just(UTC), st.none(),
                    st.just(_Broken()))
times = st.builds(lambda d, z: d.replace(tzinfo=z), st.datetimes(), offsets)


def reference(value: datetime) -> str | None:
    """The reference's text, or None where it raises."""
    try:
        return format_time_pure(value)
    except (InputError, RuntimeError):
        return None


def test_format_time_uses_the_twin_where_the_build_is_active() -> None:
    if PURE or NATIVE is None:
        assert canonical._native_format_time is None
    else:
        assert canonical._native_format_time is NATIVE.format_time


@pytest.mark.parametrize("native", TWINS)
@given(value=times)
def test_the_twin_is_the_reference_or_hands_back(native: ModuleType, value: datetime) -> None:
    got = native.format_time(value)
    want = reference(value)
    if got is not None:
        assert got == want
    offset = None if isinstance(value.tzinfo, _Broken) else value.utcoffset()
    if offset is not None and not offset.seconds % 60 and not offset.microseconds:
        assert got == want  # every time cdlog writes is formatted natively


@pytest.mark.parametrize("native", TWINS)
@given(value=st.datetimes(timezones=st.just(UTC)) | st.datetimes())
def test_the_twin_hands_back_subclasses(native: ModuleType, value: datetime) -> None:
    later = _Later(value.year, value.month, value.day, value.hour, value.minute, value.second,
                   value.microsecond, tzinfo=value.tzinfo)
    assert native.format_time(later) is None
    assert native.format_time(value.date()) is None
    assert native.format_time(value.isoformat()) is None


@pytest.mark.parametrize("native", TWINS)
@given(value=st.datetimes(), minutes=st.integers(-(24 * 60 - 1), 24 * 60 - 1))
def test_the_twin_formats_pydantic_parsed_times(native: ModuleType, value: datetime,
                                                minutes: int) -> None:
    """pydantic gives a parsed time its own ``TzInfo``: the twin asks it for its offset."""
    text = value.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat()
    parsed = TypeAdapter(AwareDatetime).validate_python(text)
    assert native.format_time(parsed) == format_time_pure(parsed) == text


@given(value=times)
def test_format_time_is_the_reference(value: datetime) -> None:
    want = reference(value)
    if want is None:
        with pytest.raises((InputError, RuntimeError)) as caught:
            format_time(value)
        with pytest.raises(type(caught.value)) as again:
            format_time_pure(value)
        assert str(again.value) == str(caught.value)
    else:
        assert format_time(value) == want
