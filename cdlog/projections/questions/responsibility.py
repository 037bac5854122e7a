"""Who was responsible for a case (R2) and who held its items (custody), when."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cdlog.errors import InputError, NotFoundError
from cdlog.projections import models as m
from cdlog.projections.questions.cases import CaseQueries
from cdlog.projections.questions.common import by_time, cite, cites, opt
from cdlog.projections.store import Entry
from cdlog.projections.timefmt import when_text


def _nobody(iv: _Interval, entries: Sequence[Entry]) -> str:
    """How a summary names an interval nobody held: a gap while an operation ran, or the
    time after it ended, when R2 asks for no holder."""
    return "NOBODY" if ResponsibilityQueries._running_at(entries, iv.entry) else "no holder named"


@dataclass
class _Interval:
    holder: str | None
    start: datetime
    end: datetime | None
    entry: Entry
    note: str

    def covers(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t < self.end)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start <= end and (self.end is None or start < self.end)


class ResponsibilityQueries(CaseQueries):
    """Responsibility intervals (R2) and the item ledger."""

    # ------------------------------------------------------------ responsibility (R2)
    def _intervals(self, stream: str, recorded_by: datetime | None) -> tuple[
            list[_Interval], list[Entry]]:
        entries = self._sel("responsibility", stream=stream, recorded_by=recorded_by)
        out: list[_Interval] = []
        changes = [e for e in entries if e.kind in ("opened", "assumed", "released")]
        changes.sort(key=lambda e: (e.occurred_from if e.kind == "opened" else e.at,
                                    e.position))
        for e in changes:
            start = e.occurred_from if e.kind == "opened" else e.at
            if out and out[-1].end is None:
                out[-1].end = start
            holder = opt(e.data.get("holder"))
            if e.kind == "opened":
                origin = str(e.data.get("origin") or "ofo_interdiction")
                note = "case opened at the port" if origin == "ofo_interdiction" else \
                    f"case opened ({origin.replace('_', ' ')}): OI's from its opening"
            elif e.kind == "assumed":
                note = f"assumed for {e.data.get('scope')}"
            else:
                note = f"released to {e.data.get('to')}" + (
                    " (no holder named)" if holder is None else "")
            out.append(_Interval(holder, start, None, e, note))
        return out, entries

    @staticmethod
    def _running_at(entries: Sequence[Entry], release: Entry) -> bool:
        """True when an operation was running (proposed, not yet terminated) when
        ``release`` was recorded into the case."""
        running = False
        for e in entries:
            if e.position >= release.position:
                break
            if e.kind == "operation":
                running = True
            elif e.kind == "terminated":
                running = False
        return running

    @staticmethod
    def _interval_model(iv: _Interval) -> m.ResponsibilityInterval:
        actor = iv.entry.data["actor"]
        return m.ResponsibilityInterval(
            holder=iv.holder, start=iv.start, end=iv.end,
            started_by=f"{actor['agency']}/{actor['office']} {actor['role']} {actor['id']}",
            note=iv.note, cites=[cite(iv.entry)])

    def responsibility(self, case: str, *, recorded_by: datetime | None = None
                       ) -> m.Responsibility:
        """The responsibility intervals of a case: OFO until OI assumes responsibility, OI
        until it releases it; an interval nobody held is a finding."""
        ref = self.case(case, recorded_by=recorded_by)
        intervals, entries = self._intervals(ref.stream, recorded_by)
        triggered = any(e.kind == "assumed" for e in entries)
        operation = any(e.kind == "operation" for e in entries)
        models = [self._interval_model(iv) for iv in intervals]
        # R2 asks for a holder while an operation runs; the domain refuses a release before
        # OperationTerminated, so a release naming nobody after the operation is no gap
        findings = [m.Finding(rule="R2", text=f"nobody was responsible from "
                              f"{when_text(iv.start)} to "
                              f"{when_text(iv.end) if iv.end else 'now'} ({iv.note}) while "
                              "the operation was running",
                              cites=[cite(iv.entry)]) for iv in intervals
                    if iv.holder is None and self._running_at(entries, iv.entry)]
        if not intervals:
            summary = "no responsibility recorded"
        elif not triggered:
            office = (intervals[0].holder or "nobody").rpartition("/")[2]
            why = "no CD/PT; R2 not triggered" if not operation else "R2 not triggered"
            summary = f"{office} throughout ({why})"
        else:
            summary = "; ".join(
                f"{iv.holder or _nobody(iv, entries)} from {when_text(iv.start)}"
                for iv in intervals)
        return m.Responsibility(case=ref, recorded_by=recorded_by, intervals=models,
                                r2_triggered=triggered, summary=summary, findings=findings)

    def responsibility_at(self, case: str, at: datetime, *,
                          recorded_by: datetime | None = None) -> m.ResponsibilityAt:
        """Who was responsible for ``case`` at ``at`` (R2)."""
        ref = self.case(case, recorded_by=recorded_by)
        intervals, changes = self._intervals(ref.stream, recorded_by)
        hit = next((iv for iv in intervals if iv.covers(at)), None)
        findings = []
        if hit is None:
            findings.append(m.Finding(rule="R2", text="the case was not open at that time"))
        elif hit.holder is None:
            findings.append(m.Finding(rule="R2", text=f"nobody was responsible ({hit.note}"
                                      + ("; the operation had ended)" if not self._running_at(
                                          changes, hit.entry) else ")"),
                                      cites=[cite(hit.entry)]))
        return m.ResponsibilityAt(
            case=ref, at=at, recorded_by=recorded_by, holder=hit.holder if hit else None,
            interval=self._interval_model(hit) if hit else None,
            cites=[cite(hit.entry)] if hit else [], findings=findings)

    # ------------------------------------------------------------ custody
    @staticmethod
    def _fold_holders(entries: Iterable[Entry], until: datetime | None = None
                      ) -> dict[str, dict[str, tuple[int, Entry]]]:
        """item -> holder -> (count, entry that last changed it), from discoveries and
        hand-offs up to ``until``."""
        held: dict[str, dict[str, tuple[int, Entry]]] = {}
        for e in by_time(entries):
            if until is not None and e.at > until:
                break
            count = int(e.data.get("count") or 0)
            item = held.setdefault(e.key, {})
            if e.kind == "discovered":
                now = item.get(str(e.data["holder"]), (0, e))[0]
                item[str(e.data["holder"])] = (now + count, e)
            elif e.kind == "transfer":
                giver, taker = str(e.data["from"]), str(e.data["to"])
                left = item.get(giver, (0, e))[0] - count
                if left > 0:
                    item[giver] = (left, e)
                else:
                    item.pop(giver, None)
                item[taker] = (item.get(taker, (0, e))[0] + count, e)
        return held

    def custodian_at(self, item: str, at: datetime, *, case: str | None = None,
                     recorded_by: datetime | None = None) -> m.CustodianAt:
        """Who held ``item`` at ``at`` (and how many units each)."""
        stream = self.stream_of(case) if case else None
        entries = self._sel("custody", key=item, stream=stream, recorded_by=recorded_by)
        streams = sorted({e.stream for e in entries})
        if not streams:
            raise NotFoundError(f"no item {item!r}" + (f" in case {case!r}" if case else ""))
        if len(streams) > 1:
            raise InputError("case", f"item {item!r} is in several cases: "
                             + ", ".join(streams), "--case naming one of them")
        stream = streams[0]
        ledger = [e for e in entries if e.stream == stream and e.kind in
                  ("discovered", "transfer")]
        held = self._fold_holders(ledger, at).get(item, {})
        holdings = [m.Holding(holder=h, count=c, since=e.at, cites=[cite(e)])
                    for h, (c, e) in sorted(held.items())]
        return m.CustodianAt(item=item, case=self._ref(stream, recorded_by), at=at,
                             recorded_by=recorded_by, holders=holdings,
                             cites=cites(e for e in ledger if e.at <= at))

    def items(self, case: str, *, recorded_by: datetime | None = None) -> m.ItemLedger:
        """The item ledger of a case: counts and weights at each hand-off, reconciliation,
        what left control and what is outstanding."""
        ref = self.case(case, recorded_by=recorded_by)
        entries = self._sel("custody", stream=ref.stream, recorded_by=recorded_by)
        per_item = [e for e in entries if e.kind not in ("reconciled", "delivered")]
        held = self._fold_holders(e for e in per_item if e.kind in ("discovered", "transfer"))
        left: dict[str, int] = {}
        for e in by_time(entries):
            if e.kind == "released":
                left[e.key] = left.get(e.key, 0) + int(e.data.get("count") or 0)
            elif e.kind == "delivered":
                at_delivery = self._fold_holders(
                    (x for x in per_item if x.kind in ("discovered", "transfer")), e.at)
                for name, holders in at_delivery.items():
                    count = holders.get(str(e.data.get("by")), (0, e))[0]
                    if count:
                        left[name] = left.get(name, 0) + count
        findings: list[m.Finding] = []
        records = []
        for name in dict.fromkeys(e.key for e in by_time(per_item)):
            mine = by_time(e for e in per_item if e.key == name)
            first = next((e for e in mine if e.kind == "discovered"), None)
            recovered = sum(int(e.data.get("count") or 0) for e in mine
                            if e.kind == "recovered")
            outstanding = max(0, left.get(name, 0) - recovered)
            rec = m.ItemRecord(
                item=name,
                description=opt(first.data.get("description")) if first else _first_desc(mine),
                category=opt(first.data.get("category")) if first else None,
                initial_count=first.data.get("count") if first else None,
                initial_weight_kg=opt(first.data.get("gross_weight_kg")) if first else None,
                entries=[_ledger_entry(e) for e in mine],
                holders={h: c for h, (c, _) in sorted(held.get(name, {}).items())},
                left_control=left.get(name, 0), recovered=recovered, outstanding=outstanding)
            records.append(rec)
            if outstanding:
                findings.append(m.Finding(
                    rule="custody", text=f"{outstanding} unit(s) of {name} left law-enforcement "
                    "control and were not recovered", cites=cites(mine)))
            if first is not None and first.data.get("gross_weight_kg") is not None:
                for e in mine:
                    w = e.data.get("gross_weight_kg")
                    if e is not first and w is not None and e.data.get("count") == \
                            first.data.get("count") and w != first.data["gross_weight_kg"]:
                        findings.append(m.Finding(
                            rule="custody", text=f"{name}: gross weight {w} kg at {e.kind} "
                            f"differs from {first.data['gross_weight_kg']} kg at discovery for "
                            "the same count", cites=[cite(first), cite(e)]))
        recs = []
        for e in by_time(x for x in entries if x.kind == "reconciled"):
            recs.append(m.Reconciliation(
                at=e.at, expected={str(k): int(v) for k, v in e.data["expected"].items()},
                found={str(k): int(v) for k, v in e.data["found"].items()},
                discrepancy=int(e.data["discrepancy"]),
                explained_by=opt(e.data.get("explained_by")), cites=[cite(e)]))
            if e.data["discrepancy"] and not e.data.get("explained_by"):
                findings.append(m.Finding(rule="custody", text=f"reconciliation at "
                                          f"{when_text(e.at)} found a discrepancy of "
                                          f"{e.data['discrepancy']} with no explanation",
                                          cites=[cite(e)]))
        return m.ItemLedger(case=ref, recorded_by=recorded_by, items=records,
                            reconciliations=recs, findings=findings)


def _first_desc(entries: Sequence[Entry]) -> str | None:
    return next((str(e.data["description"]) for e in entries if e.data.get("description")),
                None)


def _qty(part: Any) -> str:
    if not isinstance(part, dict):
        return "?"
    text = str(part.get("count", "?"))
    if part.get("gross_weight_kg") is not None:
        text += f" ({part['gross_weight_kg']} kg)"
    return text


def _ledger_entry(e: Entry) -> m.LedgerEntry:
    d = e.data
    detail = {
        "discovered": f"found: {d.get('description')}",
        "seized": f"seizure {d.get('seizure_no')} ({d.get('seizure_type')})",
        "transfer": "seals " + ", ".join(d.get("seals") or []) if d.get("seals") else "",
        "substitution": f"removed {_qty(d.get('removed'))} to {d.get('stored_at')}; "
                        f"{_qty(d.get('remaining'))} left; "
                        f"{_qty(d.get('sham_added'))} sham added; witnesses "
                        + ", ".join(d.get("witnesses") or []),
        "sample": f"sample to {d.get('destination')}",
        "recovered": f"recovered at {d.get('location')}" if d.get("location") else "recovered",
        "stored": f"stored at {d.get('location')} with {d.get('custodian')}",
        "released": "released under pass-through",
        "forfeited": f"forfeited ({d.get('fpf_no')})",
        "incident": f"affected by incident {d.get('incident_id')} ({d.get('incident_type')})",
    }.get(e.kind, "")
    to = d.get("to") if e.kind == "transfer" else d.get("holder") if e.kind == "discovered" \
        else None
    return m.LedgerEntry(
        at=e.at, kind=e.kind, from_=opt(d.get("from")), to=opt(to),
        count=d.get("count"), gross_weight_kg=opt(d.get("gross_weight_kg")),
        receipt=opt(d.get("receipt")), signed_by=list(d.get("signed_by") or []),
        detail=detail, cites=[cite(e)])
