"""Who was responsible when (R2): OFO until OI assumes responsibility, OI until it releases.

A gap (responsibility released and not yet taken back by anyone who recorded it) is itself a
finding and appears as an interval whose holder is ``None``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cdlog.domain.case import Fact


@dataclass(frozen=True)
class Interval:
    """One stretch of time during which ``holder`` (``CBP/OFO``, ``ICE/OI``) was responsible."""

    holder: str | None
    start: datetime
    end: datetime | None
    started_by: str
    started_version: int
    note: str = ""

    def covers(self, t: datetime) -> bool:
        """True when ``t`` falls inside the interval (start inclusive, end exclusive)."""
        return self.start <= t and (self.end is None or t < self.end)


def responsibility_intervals(facts: Iterable[Fact]) -> list[Interval]:
    """Fold a case's facts into responsibility intervals, ordered by time of effect."""
    out: list[Interval] = []
    for fact in facts:
        when = fact.occurred.end
        if fact.type == "CaseOpened":
            out.append(Interval("CBP/OFO", fact.occurred.start, None, fact.actor.label,
                                fact.version, "case opened at the port"))
        elif fact.type == "ResponsibilityAssumed":
            p = fact.payload
            assumed = f"{getattr(p, 'agency', 'ICE')}/{getattr(p, 'office', 'OI')}"
            _close(out, when)
            out.append(Interval(assumed, when, None, fact.actor.label, fact.version,
                                f"assumed for {getattr(p, 'scope', '')}"))
        elif fact.type == "ResponsibilityReleased":
            _close(out, when)
            to = str(getattr(fact.payload, "to", ""))
            holder = "CBP/OFO" if "OFO" in to or "CBP" in to else None
            out.append(Interval(holder, when, None, fact.actor.label, fact.version,
                                f"released to {to}"))
    return out


def _close(out: list[Interval], when: datetime) -> None:
    if out and out[-1].end is None:
        last = out[-1]
        out[-1] = Interval(last.holder, last.start, when, last.started_by,
                           last.started_version, last.note)


def responsible_at(intervals: Iterable[Interval], t: datetime) -> str | None:
    """The holder at time ``t`` (``None`` when nobody was, or before the case opened)."""
    for interval in intervals:
        if interval.covers(t):
            return interval.holder
    return None
