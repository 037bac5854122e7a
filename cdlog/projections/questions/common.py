"""What every question family shares: citing entries, ordering them in time, reading times."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from cdlog.canonical import parse_time
from cdlog.projections import models as m
from cdlog.projections.store import Entry


def cite(entry: Entry) -> m.Citation:
    """The citation of the event an entry rests on."""
    return m.Citation(case=entry.stream, version=entry.version, hash=entry.hash,
                      type=entry.type)


def cites(entries: Iterable[Entry | None]) -> list[m.Citation]:
    """Citations of entries, without repeats, in log order."""
    seen: dict[tuple[str, int], m.Citation] = {}
    for e in sorted((e for e in entries if e is not None), key=lambda e: e.position):
        seen.setdefault((e.stream, e.version), cite(e))
    return list(seen.values())


def by_time(entries: Iterable[Entry]) -> list[Entry]:
    """Entries in time-of-event order (log order among equal times)."""
    return sorted(entries, key=lambda e: (e.at, e.position, e.seq))


def opt(value: Any) -> str | None:
    """``value`` as text, ``None`` kept."""
    return None if value is None else str(value)


def delta_s(delta: timedelta) -> float:
    """Seconds of a duration."""
    return delta.total_seconds()


def parse_at(text: str) -> datetime:
    """Parse a ``--at``/``--as-of`` time."""
    return parse_time(text, "time")
