"""Durations and days as the scenarios and reports write them (``"4 min"``, ``"2d 5h28m"``)."""

from __future__ import annotations

import calendar
from datetime import date, datetime, timedelta

from cdlog.canonical import parse_time
from cdlog.errors import InputError


def duration_text(delta: timedelta) -> str:
    """Prose form of a duration: ``45 s``, ``4 min``, ``19h50m``, ``3h``, ``2d 5h28m``, ``2d``."""
    seconds = int(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{sign}{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{sign}{minutes} min"
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if hours and mins:
        parts.append(f"{hours}h{mins}m")
    elif hours:
        parts.append(f"{hours}h")
    elif mins:
        parts.append(f"{mins}m")
    return sign + " ".join(parts)


def when_text(value: datetime) -> str:
    """A time as findings and summaries write it: ``2006-03-14 07:40 -05:00``."""
    text = value.isoformat(sep=" ", timespec="minutes")
    return f"{text[:-6]} {text[-6:]}" if text[-6] in "+-" else text


def add_months(day: date, months: int) -> date:
    """``day`` plus whole calendar months (the day clamped to the month's length)."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def parse_moment(text: str, field: str = "time") -> datetime:
    """A time with offset; a bare day ``YYYY-MM-DD`` means the end of that day (UTC)."""
    if len(text) == 10:
        try:
            day = date.fromisoformat(text)
        except ValueError as exc:
            raise InputError(field, f"{text!r} is not a day or a time",
                             "YYYY-MM-DD or an ISO-8601 time with offset") from exc
        return parse_time(f"{day.isoformat()}T23:59:59+00:00", field)
    return parse_time(text, field)


def parse_day(text: str, field: str = "day") -> date:
    """A calendar day ``YYYY-MM-DD``."""
    try:
        return date.fromisoformat(text[:10])
    except ValueError as exc:
        raise InputError(field, f"{text!r} is not a day", "YYYY-MM-DD") from exc
