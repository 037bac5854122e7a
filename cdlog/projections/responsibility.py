"""Who was responsible when (R2): from the opening, CBP/OFO for an OFO interdiction (ICE/OI
for a case that began with OI); OI from when it assumes responsibility until it releases it.

After a release that names no holder (``to_agency``), the interval's holder is ``None``; the
query reports that as a finding only when an operation was still running (a gap R2 forbids),
not after the operation ended, when R2 asks for no holder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from cdlog.domain import events as ev
from cdlog.domain.case import Fact
from cdlog.domain.origins import opening_holder, origin_of, released_holder


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
    """Fold a case's facts into responsibility intervals, ordered by time of effect.

    The opening's holder follows the case's origin (:func:`~cdlog.domain.origins.
    opening_holder`); after a release, the holder is the one the release names
    (:func:`~cdlog.domain.origins.released_holder`), ``None`` when it names none.
    """
    out: list[Interval] = []
    for fact in facts:
        when = fact.occurred.end
        p = fact.payload
        if isinstance(p, ev.CaseOpened):
            out.append(Interval(opening_holder(p), fact.occurred.start, None,
                                fact.actor.label, fact.version, opened_note(p)))
        elif isinstance(p, ev.ResponsibilityAssumed):
            _close(out, when)
            out.append(Interval(f"{p.agency}/{p.office}", when, None, fact.actor.label,
                                fact.version, f"assumed for {p.scope}"))
        elif isinstance(p, ev.ResponsibilityReleased):
            _close(out, when)
            out.append(Interval(released_holder(p), when, None, fact.actor.label,
                                fact.version, released_note(p.to, released_holder(p))))
    return out


def opened_note(opened: ev.CaseOpened) -> str:
    """How an opening interval is described, per origin."""
    kind = origin_of(opened).kind
    if kind == "ofo_interdiction":
        return "case opened at the port"
    return f"case opened ({kind.replace('_', ' ')}): OI's from its opening"


def released_note(to: object, holder: str | None) -> str:
    """How a release interval is described (saying when it names no holder)."""
    if holder is None:
        return f"released to {to} (no holder named)"
    return f"released to {to}"


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
