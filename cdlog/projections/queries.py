"""The oversight questions (docs/REPORTS.md lists them), answered from the views.

Every query takes ``recorded_by`` (the record-time axis: answer from what the log had
recorded by then; within a case that is always a prefix of its events) and the time-of-event
arguments of its question (``at``, ``as_of``). Answers are pydantic models
(:mod:`cdlog.projections.models`) citing the events they rest on.

A case can be named by its stream name, reference, operation id, OI case number or internal
id (the stream's UUID)::

    with Queries.open(log) as q:
        q.responsibility_at("MI-06-CD-0001", t).holder     # "ICE/OI"
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from cdlog.application import CaseLog
from cdlog.canonical import parse_time
from cdlog.domain import events as ev
from cdlog.domain.case import CaseState, required_approvals
from cdlog.domain.config import provenance
from cdlog.errors import InputError, NotFoundError
from cdlog.log.sealing import stream_id
from cdlog.projections import models as m
from cdlog.projections.projector import Projections
from cdlog.projections.store import Entry
from cdlog.projections.timefmt import add_months, duration_text, when_text
from cdlog.restricted.classes import EU_PNR, commitments_in

REGIMES = ("EU-US-2012", "CBP-Undertakings-2004")
RETENTION_SOURCE = ("EU PNR retention: the EU-US 2012 agreement (art. 8) and the 2004 CBP "
                    "Undertakings, as the regimes' texts give them; the store's erasures "
                    "as its RestrictedValuesErased events record them")
FEEDBACK_REPORTS = {  # R7 feedback category -> result events it reports on
    "investigation": ("ArrestMade",),
    "controlled_delivery": ("OperationTerminated", "DeliveryMade"),
    "pass_through": ("OperationTerminated", "ReleasedUnderPassThrough"),
    "prosecution": ("ProsecutionMilestone",),
    "secondary_examination": ("ExaminationConducted",),
    "penalty": ("PenaltyAssessed", "ForfeitureDeclared"),
    "declination": ("CaseDeclined",),
    "seizure": ("SeizureRecorded",),
}


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


def _by_time(entries: Iterable[Entry]) -> list[Entry]:
    return sorted(entries, key=lambda e: (e.at, e.position, e.seq))


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)


def _nobody(iv: _Interval, entries: Sequence[Entry]) -> str:
    """How a summary names an interval nobody held: a gap while an operation ran, or the
    time after it ended, when R2 asks for no holder."""
    return "NOBODY" if Queries._running_at(entries, iv.entry) else "no holder named"


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


@dataclass
class _Eyes:
    start: datetime
    end: datetime | None
    lead: str | None
    entries: list[Entry] = field(default_factory=list)


@dataclass
class _Gap:
    kind: str
    start: datetime
    end: datetime | None
    entries: list[Entry]
    detected_at: datetime | None = None
    last_position: str | None = None
    last_by: str | None = None


class Queries:
    """Query functions over the views of one log (caught up when opened)."""

    def __init__(self, log: CaseLog, projections: Projections | None = None) -> None:
        self.log = log
        self.config = log.config
        self._own = projections is None
        self.views = projections or Projections(log)

    @classmethod
    def open(cls, log: CaseLog) -> Queries:
        """Open (and catch up) the views of ``log``."""
        return cls(log)

    def __enter__(self) -> Queries:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the views (when this object opened them)."""
        if self._own:
            self.views.close()

    def refresh(self) -> int:
        """Catch the views up with the log."""
        return self.views.catch_up()

    def _sel(self, view: str, **kw: Any) -> list[Entry]:
        return self.views.select(view, **kw)

    # ------------------------------------------------------------ cases
    def cases(self, *, recorded_by: datetime | None = None) -> m.CaseList:
        """Every case in the log, in order of opening."""
        opened = self._sel("cases", kinds=["opened"], recorded_by=recorded_by)
        return m.CaseList(recorded_by=recorded_by,
                          cases=[self._ref(e.stream, recorded_by) for e in opened])

    def stream_of(self, name: str) -> str:
        """The stream of a case named by stream name, reference, operation id, OI case
        number or internal id.

        A stream name, or a reference whose stream is ``case:<reference>``, is found with the
        view's stream index (two lookups, whatever the size of the log); other names are
        looked for among every case."""
        direct = [e for stream in dict.fromkeys((name, f"case:{name}"))
                  for e in self._sel("cases", stream=stream, kinds=["opened"])]
        if direct:
            return min(direct, key=lambda e: e.position).stream
        opened = self._sel("cases", kinds=["opened"])
        for e in opened:
            if name in (e.stream, e.stream.partition(":")[2]):
                return e.stream
        for e in opened:
            if name in (e.data.get("reference"), e.data.get("operation_id"),
                        str(stream_id(e.stream))):
                return e.stream
        for e in self._sel("cases", kinds=["decision"]):
            if e.data.get("case_no") == name:
                return e.stream
        for e in opened:  # a case OI leads from its opening has its number from the origin
            if e.data.get("case_no") == name:
                return e.stream
        raise NotFoundError(f"no case named {name!r} (tried stream name, reference, "
                            "operation id, OI case number and internal id)")

    def case(self, name: str, *, recorded_by: datetime | None = None) -> m.CaseRef:
        """The case named ``name`` and all its names."""
        return self._ref(self.stream_of(name), recorded_by)

    def _ref(self, stream: str, recorded_by: datetime | None) -> m.CaseRef:
        entries = self._sel("cases", stream=stream, recorded_by=recorded_by)
        opened = next((e for e in entries if e.kind == "opened"), None)
        decision = next((e for e in entries if e.kind == "decision"), None)
        ack = next((e for e in entries if e.kind == "acknowledged"), None)
        port = _opt(opened.data.get("port")) if opened else None
        entry = self.config.ports.get(port or "")
        origin = str(opened.data.get("origin") or "ofo_interdiction") if opened else \
            "ofo_interdiction"
        office = None
        if decision is not None:
            office = decision.data.get("lead_office") or decision.data["actor"].get("aor")
        if office is None and ack is not None:
            office = ack.data["actor"].get("aor")
        if office is None and origin != "ofo_interdiction":
            # a case OI leads from its opening: the office that plans its operation, else
            # the office of whoever opened it
            planned = next((e for e in entries if e.kind == "operation"), None)
            office = (planned.data["actor"].get("aor") if planned else None) or (
                opened.data["actor"].get("aor") if opened else None)
        case_no = (decision.data.get("case_no") if decision else None) or (
            opened.data.get("case_no") if opened else None)
        ports = list(dict.fromkeys([*([port] if port else []),
                                    *(str(e.data["port"]) for e in entries
                                      if e.kind == "port")]))
        decided = _opt(decision.data.get("decision")) if decision else None
        return m.CaseRef(
            stream=stream, case_id=str(stream_id(stream)),
            reference=str(opened.data["reference"]) if opened else stream.partition(":")[2],
            operation_id=_opt(opened.data.get("operation_id")) if opened else None,
            case_no=_opt(case_no), port=port, port_name=entry.name if entry else None,
            ports=ports, office=_opt(office), origin=origin,
            origin_agency=str(opened.data.get("origin_agency") or "CBP") if opened else "CBP",
            oi_leads=decided == "accepted" or origin != "ofo_interdiction",
            decision=decided, opened_at=opened.occurred_from if opened else None,
            cites=cites([opened, decision]))

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
            holder = _opt(e.data.get("holder"))
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
        for e in _by_time(entries):
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
        for e in _by_time(entries):
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
        for name in dict.fromkeys(e.key for e in _by_time(per_item)):
            mine = _by_time(e for e in per_item if e.key == name)
            first = next((e for e in mine if e.kind == "discovered"), None)
            recovered = sum(int(e.data.get("count") or 0) for e in mine
                            if e.kind == "recovered")
            outstanding = max(0, left.get(name, 0) - recovered)
            rec = m.ItemRecord(
                item=name,
                description=_opt(first.data.get("description")) if first else _first_desc(mine),
                category=_opt(first.data.get("category")) if first else None,
                initial_count=first.data.get("count") if first else None,
                initial_weight_kg=_opt(first.data.get("gross_weight_kg")) if first else None,
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
        for e in _by_time(x for x in entries if x.kind == "reconciled"):
            recs.append(m.Reconciliation(
                at=e.at, expected={str(k): int(v) for k, v in e.data["expected"].items()},
                found={str(k): int(v) for k, v in e.data["found"].items()},
                discrepancy=int(e.data["discrepancy"]),
                explained_by=_opt(e.data.get("explained_by")), cites=[cite(e)]))
            if e.data["discrepancy"] and not e.data.get("explained_by"):
                findings.append(m.Finding(rule="custody", text=f"reconciliation at "
                                          f"{when_text(e.at)} found a discrepancy of "
                                          f"{e.data['discrepancy']} with no explanation",
                                          cites=[cite(e)]))
        return m.ItemLedger(case=ref, recorded_by=recorded_by, items=records,
                            reconciliations=recs, findings=findings)

    # ------------------------------------------------------------ approvals
    def approvals(self, case: str, *, recorded_by: datetime | None = None
                  ) -> m.ApprovalMatrix:
        """Approvals required for the operation against those obtained, with their times
        relative to release."""
        ref = self.case(case, recorded_by=recorded_by)
        entries = self._sel("approvals", stream=ref.stream, recorded_by=recorded_by)
        proposal = next((e for e in reversed(entries) if e.kind == "proposed"), None)
        if proposal is None:
            return m.ApprovalMatrix(case=ref, recorded_by=recorded_by, required=[], rows=[])
        after = [e for e in entries if e.position > proposal.position]
        end = next((e.position for e in after if e.kind == "terminated"), None)
        release = next((e for e in after if e.kind == "release"
                        and (end is None or e.position < end)), None)
        op = ev.OperationProposed.model_validate(proposal.data["payload"])
        # the district of origin is the first consulted or notified before the release (as
        # the domain's fold has it when it checks the release)
        district = next((str(e.key) for e in entries if e.kind in ("prosecutor",
                                                                    "usao_notified")
                         and (release is None or e.position < release.position)), None)
        state = CaseState(operation=op, origin=ref.origin, origin_district=district)
        required = required_approvals(state, self.config)
        settings = self._approval_settings(op, state, required)
        decisions = [e for e in after if e.kind in ("granted", "denied", "requested")]
        kinds = list(dict.fromkeys([*required, *(e.key for e in decisions)]))
        rows = []
        findings = []
        for kind in kinds:
            mine = [e for e in decisions if e.key == kind]
            final = next((e for e in mine if e.kind == "granted"), None) or next(
                (e for e in reversed(mine) if e.kind == "denied"), None) or next(
                (e for e in reversed(mine)), None)
            status = final.kind if final else "missing"
            row: dict[str, Any] = {"kind": kind, "required": kind in required,
                                   "status": status, "cites": cites(mine)}
            if final is not None:
                actor = final.data["actor"]
                row.update(by=actor["id"], role=actor["role"], at=final.at)
                if release is not None:
                    delta = release.at - final.at
                    row.update(seconds_before_release=int(delta.total_seconds()),
                               before_release=delta.total_seconds() >= 0,
                               relative_to_release=(
                                   f"{duration_text(delta)} before release"
                                   if delta.total_seconds() >= 0 else
                                   f"{duration_text(-delta)} after release"))
            rows.append(m.ApprovalRow(**row))
            source = settings.get(kind)
            if kind in required and status != "granted" and (release or end is None):
                # (an operation that ended at the port without a release needed none)
                findings.append(m.Finding(
                    rule="approvals", text=f"required approval {kind} is {status}"
                    + (" at release" if release else ""), cites=cites([release, *mine]),
                    source=source))
            elif kind in required and row.get("before_release") is False:
                findings.append(m.Finding(rule="approvals",
                                          text=f"{kind} was granted after the release",
                                          cites=cites([release, final]), source=source))
        return m.ApprovalMatrix(
            case=ref, recorded_by=recorded_by, operation_type=op.operation_type,
            mode=op.mode.model_dump(mode="json"), required=required, rows=rows,
            release_at=release.at if release else None,
            release_how=_opt(release.data.get("how")) if release else None,
            release_cites=cites([proposal, release]), findings=findings,
            settings=list(dict.fromkeys([*settings.values(), provenance("approval_roles")])))

    def _approval_settings(self, op: ev.OperationProposed, state: CaseState,
                           required: Sequence[str]) -> dict[str, str]:
        """For each required approval, the setting that requires it (and where that comes
        from: configuration, not the memo)."""
        c = self.config
        out: dict[str, str] = {}
        for kind in required:
            if kind in c.required_approvals.get(op.operation_type, ()):
                name = "required_approvals"
            elif kind == c.substitution_approval and op.mode.contents != "intact":
                name = "substitution_approval"
            elif kind == c.sensitive_approval and op.sensitive:
                name = "sensitive_approval"
            elif kind == c.destination_approval and state.origin_district and \
                    op.destination.district != state.origin_district:
                name = "destination_approval"
            elif kind == c.foreign_approval and op.border == "international":
                name = "foreign_approval"
            else:
                name = "origin_approvals"
            out[kind] = provenance(name)
        return out

    # ------------------------------------------------------------ knowledge
    def notifications(self, case: str, *, recorded_by: datetime | None = None
                      ) -> m.KnowledgeTimeline:
        """Every notification, briefing, consultation, feedback and sharing of a case, with
        its lag from the event it reports."""
        ref = self.case(case, recorded_by=recorded_by)
        entries = self._sel("knowledge", stream=ref.stream, recorded_by=recorded_by)
        events = [e for e in entries if e.kind == "event"]
        told = [e for e in entries if e.kind == "told"]
        out = [self._knowledge_entry(e, events, told, ref) for e in _by_time(told)]
        return m.KnowledgeTimeline(case=ref, recorded_by=recorded_by, entries=out)

    def _reported(self, e: Entry, events: list[Entry], told: list[Entry],
                  ref: m.CaseRef) -> m.Reported | None:
        before = [x for x in _by_time(events) if x.at <= e.at]
        kind = e.key
        rtype = e.data.get("reports_type")
        if rtype == "identification":
            found = next((x for x in before if x.key == "ContrabandDiscovered"), None)
            return m.Reported(type="identification", at=e.time("reports_at"),
                              cites=cites([found]))
        if rtype == "InvestigativeNotificationSent":
            first = next((x for x in _by_time(told) if x.key == "notification"
                          and x.data.get("reports_type") == "identification"), None)
            return m.Reported(type=rtype, at=first.at, cites=[cite(first)]) if first else None
        if kind == "briefing":
            topics = [str(t) for t in e.data.get("topics") or []]
            named = [x for x in before if x.key == "InterviewConducted"
                     and any(str(x.data.get("subject_ref")) in t for t in topics)]
            pick = named[-1] if named else next(
                (x for x in reversed(before) if x.key == "InterviewConducted"), None)
            return m.Reported(type="InterviewConducted", at=pick.at, cites=[cite(pick)]) \
                if pick else None
        if kind == "feedback":
            types = {t for c in e.data.get("categories") or [] for t in FEEDBACK_REPORTS.get(c, ())}
            pick = next((x for x in reversed(before) if x.key in types), None)
            return m.Reported(type=pick.key, at=pick.at, cites=[cite(pick)]) if pick else None
        if isinstance(rtype, str):
            pick = next((x for x in reversed(before) if x.key == rtype), None)
            return m.Reported(type=pick.key, at=pick.at, cites=[cite(pick)]) if pick else None
        if kind != "notification":
            return None
        incident = e.data.get("incident_id")
        if incident:
            pick = next((x for x in events if x.key == "IncidentOccurred"
                         and x.data.get("incident_id") == incident), None)
            return m.Reported(type="IncidentOccurred", at=pick.at, cites=[cite(pick)]) \
                if pick else None
        subject = str(e.data.get("subject") or "")
        words = set(re.findall(r"[A-Za-z0-9_-]+", subject))
        for x in reversed(before):
            if x.key in words:
                return m.Reported(type=x.key, at=x.at, cites=[cite(x)])
        for x in events:
            if x.key == "ActionItemAssigned" and str(x.data.get("item_id")) in words and \
                    "overdue" in subject.lower():
                day = date.fromisoformat(str(x.data["due"]))
                zone = self.config.zone(_opt(x.data.get("port")) or ref.port)
                became = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=1)
                return m.Reported(type="ActionItemOverdue", at=became, cites=[cite(x)])
        return None

    def _knowledge_entry(self, e: Entry, events: list[Entry], told: list[Entry],
                         ref: m.CaseRef) -> m.KnowledgeEntry:
        reported = self._reported(e, events, told, ref)
        lag = e.at - reported.at if reported else None
        late = bool(e.data.get("late_entry"))
        return m.KnowledgeEntry(
            at=e.at, recorded=e.recorded, kind=e.key, from_=_opt(e.data.get("from")),
            to=_opt(e.data.get("to")), channel=_opt(e.data.get("channel")),
            subject=str(e.data.get("subject") or e.key), reports=reported,
            lag=duration_text(lag) if lag is not None else None,
            lag_seconds=int(lag.total_seconds()) if lag is not None else None,
            late_entry=late,
            record_lag=duration_text(e.recorded - e.at) if late else None,
            cites=cites([e]))

    # ------------------------------------------------------------ surveillance
    def _coverage(self, stream: str, recorded_by: datetime | None) -> tuple[
            list[_Eyes], list[_Gap], datetime | None, datetime | None, list[Entry]]:
        """Fold surveillance in time order: eyes on from a start or reacquisition to a loss
        (at the last confirmed sighting), a hand-off, the end of surveillance or the end of
        the operation; a loss stays open until reacquired or surveillance ends. A release
        nobody watched, and surveillance that ended while the operation ran before the load
        was delivered, are gaps too (after the delivery the load is where it was going)."""
        entries = _by_time(self._sel("surveillance", stream=stream, recorded_by=recorded_by))
        eyes: list[_Eyes] = []
        gaps: list[_Gap] = []
        pending: Entry | None = None  # a release no surveillance has picked up yet
        ended: Entry | None = None  # surveillance ended; the operation may still run
        window_start: datetime | None = None
        window_end: datetime | None = None
        delivered: datetime | None = None

        def close_eyes(at: datetime, e: Entry) -> None:
            if eyes and eyes[-1].end is None:
                eyes[-1].end = at
                eyes[-1].entries.append(e)

        for e in entries:
            if e.kind in ("HoldReleased", "ReleasedUnderPassThrough"):
                window_start = window_start or e.at
                if not (eyes and eyes[-1].end is None):
                    pending = pending or e
            elif e.kind == "SurveillanceStarted":
                window_start = window_start or e.at
                if pending is not None and pending.at < e.at:
                    gaps.append(_Gap("before_surveillance", pending.at, e.at, [pending, e]))
                pending = ended = None
                eyes.append(_Eyes(e.at, None, _opt(e.data.get("team_lead")), [e]))
            elif e.kind == "SurveillanceHandedOff":
                close_eyes(e.at, e)
                eyes.append(_Eyes(e.at, None, _opt(e.data.get("to_team")), [e]))
            elif e.kind == "SurveillanceLost":
                last = e.time("last_at")
                close_eyes(last, e)
                gaps.append(_Gap("lost", last, None, [e], e.at,
                                 _opt(e.data.get("last_position")), _opt(e.data.get("last_by"))))
            elif e.kind == "SurveillanceReacquired":
                if gaps and gaps[-1].end is None:
                    gaps[-1].end = e.at
                    gaps[-1].entries.append(e)
                eyes.append(_Eyes(e.at, None, eyes[-1].lead if eyes else None, [e]))
            elif e.kind == "SurveillanceEnded":
                close_eyes(e.at, e)
                if gaps and gaps[-1].end is None:
                    gaps[-1].end = e.at
                    gaps[-1].entries.append(e)
                elif delivered is None or e.at < delivered:
                    ended = e
                window_end = e.at
            elif e.kind == "DeliveryMade":
                delivered = delivered or e.at
            elif e.kind == "OperationTerminated":
                close_eyes(e.at, e)
                if pending is not None:
                    gaps.append(_Gap("before_surveillance", pending.at, e.at, [pending, e]))
                    pending = None
                if ended is not None and ended.at < e.at:
                    gaps.append(_Gap("after_surveillance", ended.at, e.at, [ended, e]))
                ended = None
                if window_start is not None:
                    window_end = e.at
        if pending is not None:
            gaps.append(_Gap("before_surveillance", pending.at, None, [pending]))
        gaps.sort(key=lambda g: g.start)
        return eyes, gaps, window_start, window_end, entries

    def surveillance(self, case: str, *, recorded_by: datetime | None = None
                     ) -> m.SurveillanceCoverage:
        """Eyes-on intervals and gaps while the load was released."""
        ref = self.case(case, recorded_by=recorded_by)
        eyes, gaps, start, end, _ = self._coverage(ref.stream, recorded_by)
        findings = []
        gap_models = []
        for g in gaps:
            dur = duration_text(g.end - g.start) if g.end else None
            gap_models.append(m.Gap(kind=g.kind, start=g.start, end=g.end, duration=dur,
                                    detected_at=g.detected_at, last_position=g.last_position,
                                    last_by=g.last_by, cites=cites(g.entries)))
            what = {"lost": "surveillance lost", "before_surveillance":
                    "released before surveillance started", "after_surveillance":
                    "surveillance ended before the operation did"}[g.kind]
            findings.append(m.Finding(
                rule="surveillance", text=f"{what}: {when_text(g.start)} to "
                f"{when_text(g.end) if g.end else 'not reacquired'}"
                + (f" ({dur})" if dur else "")
                + (f"; last confirmed at {g.last_position} by {g.last_by}"
                   if g.last_position else ""), cites=cites(g.entries)))
        return m.SurveillanceCoverage(
            case=ref, recorded_by=recorded_by, window_start=start, window_end=end,
            eyes_on=[m.EyesOn(start=x.start, end=x.end, team_lead=x.lead,
                              duration=duration_text(x.end - x.start) if x.end else None,
                              cites=cites(x.entries)) for x in eyes],
            gaps=gap_models, findings=findings)

    # ------------------------------------------------------------ duties and timeliness
    def _duties(self, stream: str | None, as_of: datetime, recorded_by: datetime | None,
                refs: dict[str, m.CaseRef]) -> list[m.DutyStatus]:
        entries = self._sel("duties", stream=stream, kinds=["opened", "closed"],
                            recorded_by=recorded_by)
        closed = {(e.stream, e.key): e for e in entries if e.kind == "closed"}
        out = []
        for e in entries:
            if e.kind != "opened":
                continue
            ref = refs.get(e.stream) or refs.setdefault(e.stream, self._ref(e.stream,
                                                                           recorded_by))
            done = closed.get((e.stream, e.key))
            out.append(self._duty_status(e, done, as_of, ref))
        return out

    def _duty_status(self, opened: Entry, done: Entry | None, as_of: datetime,
                     ref: m.CaseRef) -> m.DutyStatus:
        due = opened.time("due")
        done_at = done.time("done_at") if done else None
        if done_at is not None and done_at > as_of:
            done_at = None  # not done yet at as_of
        waived = bool(done.data.get("waived")) if done and done_at else False
        port = _opt(opened.data.get("port")) or ref.port  # where the duty arose
        zone = self.config.zone(port)
        due_day = _opt(opened.data.get("due_day"))
        late_by = None
        days_late = None
        if waived:
            status = "waived"
        elif done_at is not None and done_at < due:
            status = "done"
        elif as_of < due:
            status = "open"
        else:
            status = "done_late" if done_at is not None else "overdue"
            until = done_at or as_of
            late_by = duration_text(until - due)
            if due_day is not None:
                days_late = (until.astimezone(zone).date() - date.fromisoformat(due_day)).days
            else:
                days_late = (until - due).days
        return m.DutyStatus(
            case=opened.stream, kind=str(opened.data["kind"]), key=str(opened.data["key"]),
            owner=str(opened.data["owner"]), to=_opt(opened.data.get("to")),
            what=str(opened.data["what"]), opened_at=opened.time("opened_at"), due=due,
            due_source=self._due_source(opened), due_day=due_day, done_at=done_at,
            waived=waived, status=status, days_late=days_late, late_by=late_by,
            port=port, office=ref.office, cites=cites([opened, done if done_at else None]))

    def _due_source(self, opened: Entry) -> str:
        """Where a duty's due time comes from."""
        kind = opened.data["kind"]
        if kind == "action_item":
            return "the due day recorded with the action item (R9), at midnight after it " \
                "in the time zone of its port; " + provenance("ports")
        if kind == "briefing":
            return provenance("deadlines.briefing_after_interview")
        office = opened.data.get("office")
        if office and office in self.config.deadlines.feedback_plan:
            return provenance("deadlines.feedback_plan")
        return provenance("deadlines.feedback_after_result")

    def _metric(self, name: str, start: datetime | None, end: datetime | None,
                deadline: timedelta, entries: Sequence[Entry | None], *,
                setting: str) -> m.Metric:
        source = provenance(f"deadlines.{setting}")
        if start is None or end is None:
            return m.Metric(name=name, start=start, end=end, deadline=duration_text(deadline),
                            deadline_source=source, cites=cites(entries))
        delta = end - start
        return m.Metric(name=name, start=start, end=end, duration=duration_text(delta),
                        seconds=int(delta.total_seconds()), deadline=duration_text(deadline),
                        deadline_source=source, within_deadline=delta <= deadline,
                        cites=cites(entries))

    def timeliness(self, case: str, *, as_of: datetime | None = None,
                   recorded_by: datetime | None = None) -> m.Timeliness:
        """The memo's duties for one case: R3 and R4 lags, R6 briefings, R7 feedback, R9
        action items, late entries and the R5 pilot; ``as_of`` defaults to the case's last
        recording time."""
        ref = self.case(case, recorded_by=recorded_by)
        entries = self._sel("duties", stream=ref.stream, recorded_by=recorded_by)
        when = as_of or self._last_recorded(ref.stream, recorded_by)
        notified = next((e for e in entries if e.kind == "notified"), None)
        decided = next((e for e in entries if e.kind == "decided"), None)
        d = self.config.deadlines
        r3 = self._metric("identification_to_notification",
                          notified.time("identified_at") if notified else None,
                          notified.at if notified else None,
                          d.notification_after_identification, [notified],
                          setting="notification_after_identification")
        r4 = self._metric("notification_to_decision", notified.at if notified else None,
                          decided.at if decided else None, d.decision_after_notification,
                          [notified, decided], setting="decision_after_notification")
        duties = self._duties(ref.stream, when, recorded_by, {ref.stream: ref})
        pilot = self._pilot_case(ref.stream, recorded_by)
        briefings = [x for x in duties if x.kind == "briefing"]
        interviews = []
        for e in (x for x in entries if x.kind == "interview"):
            duty = next((b for b in briefings if b.key == e.key
                         and b.opened_at == e.at), None)
            ok = bool(e.data.get("cbp_present")) or (duty is not None and duty.status == "done")
            interviews.append(m.Interview(
                subject_ref=e.key, at=e.at, cbp_present=bool(e.data.get("cbp_present")),
                cbp_officer=_opt(e.data.get("cbp_officer")),
                briefing_due=duty.due if duty else None,
                briefed_at=duty.done_at if duty else None, ok=ok,
                cites=cites([e]) + (duty.cites if duty else [])))
        return m.Timeliness(
            case=ref, as_of=when, recorded_by=recorded_by,
            identification_to_notification=r3, notification_to_decision=r4,
            feedback=[x for x in duties if x.kind == "feedback"], briefings=briefings,
            interviews=interviews, action_items=[x for x in duties if x.kind == "action_item"],
            overdue=[x for x in duties if x.status in ("overdue", "done_late")],
            late_entries=self.late_entries(case, recorded_by=recorded_by).entries,
            pilot=pilot, settings=list(dict.fromkeys([
                r3.deadline_source or "", r4.deadline_source or "",
                *(x.due_source or "" for x in duties), provenance("deadlines.late_entry_after"),
                *(_PILOT_SETTINGS if pilot is not None and pilot.shadow_expected else ())])))

    def _last_recorded(self, stream: str, recorded_by: datetime | None) -> datetime:
        entries = self._sel("cases", stream=stream, recorded_by=recorded_by)
        times = [e.recorded for e in entries]
        for view in ("duties", "knowledge"):
            times += [e.recorded for e in self._sel(view, stream=stream,
                                                     recorded_by=recorded_by)]
        if not times:
            raise NotFoundError(f"nothing recorded for {stream}")
        return max(times)

    def overdue(self, as_of: datetime, *, case: str | None = None,
                recorded_by: datetime | None = None) -> m.OverdueList:
        """Every duty past due at ``as_of`` (done late or still open), with summaries per
        port and per office."""
        stream = self.stream_of(case) if case else None
        refs: dict[str, m.CaseRef] = {}
        items = [x for x in self._duties(stream, as_of, recorded_by, refs)
                 if x.status in ("overdue", "done_late")]
        all_refs = [refs.get(s) or self._ref(s, recorded_by) for s in self._streams(
            stream, recorded_by)]
        return m.OverdueList(as_of=as_of, recorded_by=recorded_by, items=items,
                             by_port=self._summaries(all_refs, "port", overdue=items),
                             by_office=self._summaries(all_refs, "office", overdue=items),
                             settings=list(dict.fromkeys(x.due_source or "" for x in items)))

    def _streams(self, stream: str | None, recorded_by: datetime | None) -> list[str]:
        if stream is not None:
            return [stream]
        return [e.stream for e in self._sel("cases", kinds=["opened"], recorded_by=recorded_by)]

    def _summaries(self, refs: Sequence[m.CaseRef], by: str, *,
                   overdue: Sequence[m.DutyStatus] = (),
                   incidents: Sequence[m.Incident] = ()) -> list[m.Summary]:
        keyed: dict[str, list[str]] = {}
        for ref in refs:
            keyed.setdefault(str(getattr(ref, by) or "-"), []).append(ref.stream)
        if by == "port":  # a duty counts at the port where it arose (a case may span two)
            for x in overdue:
                keyed.setdefault(x.port or "-", [])
        out = []
        for key, streams in sorted(keyed.items()):
            name = None
            if by == "port":
                entry = self.config.ports.get(key)
                name = entry.name if entry else None
                late = sum(1 for x in overdue if (x.port or "-") == key)
            else:
                late = sum(1 for x in overdue if x.case in streams)
            out.append(m.Summary(key=key, name=name, cases=len(streams), overdue=late,
                                 incidents=sum(1 for x in incidents
                                               if x.case.stream in streams)))
        return out

    def late_entries(self, case: str | None = None, *, recorded_by: datetime | None = None
                     ) -> m.LateEntryList:
        """Every event recorded later than the configured lag after it happened."""
        stream = self.stream_of(case) if case else None
        entries = self._sel("cases", stream=stream, kinds=["late"], recorded_by=recorded_by)
        out = [m.LateEntry(case=e.stream, version=e.version, event=str(e.data["label"]),
                           occurred=e.at, recorded=e.recorded,
                           lag=duration_text(e.recorded - e.at),
                           lag_seconds=int((e.recorded - e.at).total_seconds()),
                           reason=_opt(e.data.get("reason")), cites=[cite(e)])
               for e in entries]
        return m.LateEntryList(recorded_by=recorded_by, entries=out,
                               settings=[provenance("deadlines.late_entry_after")])

    # ------------------------------------------------------------ pilot (R5)
    def _pilot_case(self, stream: str, recorded_by: datetime | None) -> m.PilotCase | None:
        entries = self._sel("cases", stream=stream, recorded_by=recorded_by)
        if not any(e.kind == "opened" for e in entries):
            return None
        ref = self._ref(stream, recorded_by)
        categories = {c for e in entries if e.kind == "items" for c in e.data["categories"]}
        c = self.config
        pilot_port = any(port in c.pilot_ports for port in ref.ports)
        title21 = bool(categories & set(c.title21_categories))
        accepted = ref.decision == "accepted"
        in_window = None
        if c.pilot_start is not None and ref.opened_at is not None:
            day = ref.opened_at.astimezone(c.zone(ref.port)).date()
            in_window = c.pilot_start <= day < c.pilot_start + timedelta(days=c.pilot_days)
        # whoever opened it: a Title 21 case OI leads at a pilot port (in the window)
        expected = pilot_port and title21 and ref.oi_leads and in_window is not False
        shadows = list(dict.fromkeys(e.key for e in entries
                                     if e.kind == "shadow" and e.data.get("assigned")))
        on_surv = list(dict.fromkeys(e.key for e in entries
                                     if e.kind == "shadow_on_surveillance"))
        finding = None
        if expected and not shadows:
            finding = ("R5: Title 21 case OI leads at a pilot port, and no CBP officer was "
                       "assigned to shadow the OI agent (the memo assigns shadows at the pilot "
                       "locations; it does not require one on every case)")
        why = [e for e in entries if e.kind in ("opened", "items", "decision", "shadow",
                                                "shadow_on_surveillance", "port")]
        return m.PilotCase(case=ref, pilot_port=pilot_port, title21=title21,
                           accepted=accepted, oi_leads=ref.oi_leads, in_window=in_window,
                           shadow_expected=expected, shadows=shadows,
                           shadow_on_surveillance=on_surv, finding=finding,
                           source="; ".join(_PILOT_SETTINGS) if finding else None,
                           cites=cites(why))

    def pilot(self, *, recorded_by: datetime | None = None) -> m.PilotReport:
        """R5: for every case, whether a Title 21 shadow was expected and assigned."""
        out = [p for s in self._streams(None, recorded_by)
               if (p := self._pilot_case(s, recorded_by)) is not None]
        by_port: dict[str, list[m.PilotCase]] = {}
        for p in out:
            by_port.setdefault(p.case.port or "-", []).append(p)
        summaries = [m.Summary(key=k, name=(self.config.ports[k].name
                                            if k in self.config.ports else None),
                               cases=len(v)) for k, v in sorted(by_port.items())]
        return m.PilotReport(recorded_by=recorded_by,
                             pilot_ports=list(self.config.pilot_ports),
                             pilot_locations={k: list(v) for k, v
                                              in self.config.pilot_locations.items()},
                             cases=out,
                             by_port=summaries, settings=list(_PILOT_SETTINGS))

    # ------------------------------------------------------------ incidents
    def incidents(self, case: str | None = None, *, recorded_by: datetime | None = None
                  ) -> m.IncidentList:
        """Every incident with who was responsible when it happened, and summaries per port
        and per office."""
        stream = self.stream_of(case) if case else None
        entries = self._sel("incidents", stream=stream, recorded_by=recorded_by)
        out = [self._incident(e, entries, recorded_by)
               for e in entries if e.kind == "occurred"]
        refs = [self._ref(s, recorded_by) for s in self._streams(stream, recorded_by)]
        return m.IncidentList(recorded_by=recorded_by, incidents=out,
                              by_port=self._summaries(refs, "port", incidents=out),
                              by_office=self._summaries(refs, "office", incidents=out))

    def incident(self, incident_id: str, *, case: str | None = None,
                 recorded_by: datetime | None = None) -> m.Incident:
        """One incident by id."""
        stream = self.stream_of(case) if case else None
        entries = self._sel("incidents", key=incident_id, stream=stream,
                            recorded_by=recorded_by)
        occurred = [e for e in entries if e.kind == "occurred"]
        if not occurred:
            raise NotFoundError(f"no incident {incident_id!r}")
        if len({e.stream for e in occurred}) > 1:
            raise InputError("case", f"incident {incident_id!r} is in several cases",
                             "--case naming one of them")
        mine = [e for e in entries if e.stream == occurred[0].stream]
        return self._incident(occurred[0], mine, recorded_by)

    def _incident(self, e: Entry, entries: list[Entry], recorded_by: datetime | None
                  ) -> m.Incident:
        ref = self._ref(e.stream, recorded_by)
        intervals, _ = self._intervals(e.stream, recorded_by)
        start, end = e.occurred_from, e.occurred_to
        during = [iv for iv in intervals if iv.overlaps(start, end)]
        holders = list(dict.fromkeys(iv.holder or "NOBODY" for iv in during))
        responsible = holders[0] if len(holders) == 1 and holders[0] != "NOBODY" else None
        findings: list[m.Finding] = []
        officers: list[m.ResponsibleOfficer] = []
        for iv in during:
            actor = iv.entry.data["actor"]
            why = {"opened": f"opened the case ({iv.note}; {iv.holder} responsible)",
                   "assumed": "assumed responsibility for the operation (R2)",
                   "released": "released responsibility"}[iv.entry.kind]
            officers.append(m.ResponsibleOfficer(officer=str(actor["id"]), why=why,
                                                 cites=[cite(iv.entry)]))
            ack = iv.entry.data.get("acknowledged_by_ofo")
            if iv.entry.kind == "assumed" and ack:
                officers.append(m.ResponsibleOfficer(
                    officer=str(ack), why="acknowledged the transfer for OFO (R2)",
                    cites=[cite(iv.entry)]))
        custody = self._sel("custody", stream=e.stream, kinds=["discovered", "transfer"],
                            recorded_by=recorded_by)
        affected = {str(i.get("item")) for i in e.data.get("items_affected") or []}
        for item, holders_now in sorted(self._fold_holders(custody, start).items()):
            if affected and item not in affected:
                continue
            for holder, (count, src) in sorted(holders_now.items()):
                officers.append(m.ResponsibleOfficer(
                    officer=holder, why=f"custodian of {count} x {item}", cites=[cite(src)]))
        eyes, _, _, _, _ = self._coverage(e.stream, recorded_by)
        for x in eyes:
            if x.lead and x.start <= start and (x.end is None or start < x.end):
                officers.append(m.ResponsibleOfficer(officer=x.lead, why="led surveillance",
                                                     cites=cites(x.entries[:1])))
        if len(holders) > 1:
            findings.append(m.Finding(rule="R2", text="responsibility changed during the "
                                      "incident window: " + ", ".join(holders),
                                      cites=cites(iv.entry for iv in during)))
        elif "NOBODY" in holders or not holders:
            findings.append(m.Finding(rule="R2", text="nobody was responsible when the "
                                      "incident occurred", cites=cites(iv.entry for iv in during)))
        lag = e.recorded - end
        late = lag > self.config.deadlines.late_entry_after
        if late:
            findings.append(m.Finding(rule="late", text=f"recorded {duration_text(lag)} after "
                                      "it happened; attributed by when it happened",
                                      cites=[cite(e)],
                                      source=provenance("deadlines.late_entry_after")))
        told = []
        for n in (x for x in entries if x.kind == "notified" and x.key == e.key):
            delay = n.at - end
            told.append(m.KnowledgeEntry(
                at=n.at, recorded=n.recorded, kind="notification", from_=_opt(n.data["from"]),
                to=_opt(n.data["to"]), channel=_opt(n.data.get("channel")),
                subject=str(n.data.get("subject") or ""),
                reports=m.Reported(type="IncidentOccurred", at=end, cites=[cite(e)]),
                lag=duration_text(delay), lag_seconds=int(delta_s(delay)),
                late_entry=bool(n.data.get("late_entry")),
                record_lag=duration_text(n.recorded - n.at) if n.data.get("late_entry")
                else None, cites=[cite(n)]))
        if not told:
            findings.append(m.Finding(rule="knowledge", text="no notification about the "
                                      "incident is recorded", cites=[cite(e)]))
        updates = [str(x.data.get("findings")) for x in entries
                   if x.kind == "updated" and x.key == e.key]
        closed = next((x for x in entries if x.kind == "closed" and x.key == e.key), None)
        return m.Incident(
            case=ref, incident_id=e.key, incident_type=str(e.data["incident_type"]),
            severity=str(e.data.get("severity", "medium")), occurred_from=start,
            occurred_to=end, discovered_at=e.time("discovered_at"), recorded=e.recorded,
            reported_late=late, report_lag=duration_text(lag), responsible=responsible,
            responsible_during_window=holders, officers=officers,
            description=_opt(e.data.get("description")), notifications=told,
            updates=updates, closed_at=closed.at if closed else None, findings=findings,
            cites=cites([e, *(iv.entry for iv in during), closed]))

    # ------------------------------------------------------------ PNR (R8)
    def _pnr_cases(self, stream: str, recorded_by: datetime | None) -> list[str]:
        return [str(e.data["case_no"]) for e in self._sel(
            "pnr", stream=stream, kinds=["case_no"], recorded_by=recorded_by)]

    def pnr_state_on(self, case: str, day: date, *, regime: str | None = None,
                     recorded_by: datetime | None = None) -> m.PnrStates:
        """The retention state of the case's EU PNR records on ``day``, per regime."""
        if regime is not None and regime not in REGIMES:
            raise InputError("regime", f"unknown regime {regime!r}", " or ".join(REGIMES))
        ref = self.case(case, recorded_by=recorded_by)
        case_nos = self._pnr_cases(ref.stream, recorded_by)
        entries = self._sel("pnr", recorded_by=recorded_by)
        records = list(dict.fromkeys(
            str(e.data["record"]) for e in entries
            if e.kind in ("linked", "authorised") and e.key in case_nos))
        states = []
        for record in records:
            ingest = next((e for e in entries if e.kind == "record" and e.stream == record),
                          None)
            if ingest is None:
                continue
            for name in ([regime] if regime else list(REGIMES)):
                states.append(self._pnr_state(record, ingest, entries, day, name))
        findings = [m.Finding(rule="R8", text=f"{s.record} ({s.regime}): {s.summary}",
                              cites=s.cites, source=RETENTION_SOURCE)
                    for s in states if s.overdue]
        return m.PnrStates(case=ref, day=day.isoformat(), states=states, findings=findings)

    @staticmethod
    def _pnr_state(record: str, ingest: Entry, entries: list[Entry], day: date,
                   regime: str) -> m.PnrState:
        """What the regime makes due on ``day`` and what the store did: the vault's values
        held or erased, as the record's ``RestrictedValuesErased`` events say."""
        due, since, text, hold, accessed, why = Queries._pnr_due(
            record, ingest, entries, day, regime)
        vaulted = commitments_in("PNRRecordIngested", ingest.data)
        erasures = [e for e in entries if e.kind == "erased" and e.key == record
                    and e.at.date() <= day]
        erased = {str(f): e for e in erasures for f in e.data.get("fields") or []}
        vault = {f: ("erased" if f in erased else "held") for f in sorted(vaulted)}
        held = [f for f, v in vault.items() if v == "held"]
        gone = [f for f, v in vault.items() if v == "erased"]
        shown = {f: (EU_PNR.mask if v == "held" else "[erased]") for f, v in vault.items()}
        full = due in ("anonymised", "deleted")  # every value must go
        done_on = max((erased[f].at.date() for f in gone), default=None)
        if not vaulted:
            state = "personalised" if due in ("personalised", "deleted_record_file") \
                else "not_in_vault"
            if state == "not_in_vault":
                text = (f"due: {text}; not in cdlog's vault: the log holds only a commitment "
                        "to the record, so whether the values were masked or deleted where "
                        "they are kept is not recorded here")
        elif not gone:
            state = "personalised"
            if due not in ("personalised", "deleted_record_file"):
                text = (f"due: {text}; not done: the vault still holds "
                        f"{', '.join(held)} (nothing was masked or erased; "
                        "`cdlog restricted erase` does it)")
        else:
            state = "erased" if not held else "masked"
            how = ", ".join(dict.fromkeys(
                f"{e.data.get('reason')}" + (f" {e.data['order_ref']}" if e.data.get("order_ref")
                                             else "") for e in erasures))
            did = (f"erased on {done_on.isoformat() if done_on else day.isoformat()} "
                   f"({', '.join(gone)}; {how})")
            if held:
                did += f"; the vault still holds {', '.join(held)}"
            text = f"{did}; due: {text}"
            if full and held:
                text += "; not done"
        overdue = bool(held) and due not in ("personalised", "deleted_record_file") and (
            full or not gone)
        return m.PnrState(record=record, regime=regime, day=day.isoformat(), state=state,
                          summary=text, due=due, due_since=since, overdue=overdue,
                          vault=vault, fields=shown, received_at=ingest.time("received_at"),
                          case_hold=hold, accessed=accessed,
                          cites=cites([*why, *erasures]))

    @staticmethod
    def _pnr_due(record: str, ingest: Entry, entries: list[Entry], day: date, regime: str
                 ) -> tuple[str, str | None, str, list[str], bool, list[Entry]]:
        """What ``regime`` makes due for ``record`` on ``day``: the state, since when, a
        sentence, the case holds, whether it was accessed, and the entries it rests on."""
        received = ingest.time("received_at")
        start = received.date()
        mine = [e for e in entries if str(e.data.get("record")) == record]
        cases = {e.key for e in mine if e.kind in ("linked", "authorised")}
        links = [e for e in mine if e.kind == "linked" and e.at.date() <= day]
        archived = {e.key: e for e in mine if e.kind == "archived" and e.at.date() <= day}
        hold = [e.key for e in links if e.key not in archived]
        accesses = [e for e in entries if e.at.date() <= day and (
            (e.kind == "accessed" and e.key in cases) or (e.kind == "read" and e.key == record))]
        accessed = bool(accesses)
        why = [ingest, *links, *archived.values(), *accesses]
        since: date | None = None
        if regime == "EU-US-2012":
            masked = add_months(start, 6)
            dormant = add_months(start, 60)
            anonymised = add_months(start, 180)
            if hold:
                state = "personalised"
                text = (f"personalised (case hold: {', '.join(hold)}); without the hold it "
                        f"depersonalises at received_at + 6 months ({masked.isoformat()})")
            elif day < masked:
                state = "personalised"
                text = f"personalised until received_at + 6 months ({masked.isoformat()})"
            elif day < dormant:
                since = max([masked, *(e.at.date() for e in archived.values())])
                state = "depersonalised"
                text = (f"depersonalised and masked from {since.isoformat()} (art. 8(1)-(2); "
                        f"active database to {dormant.isoformat()})")
            elif day < anonymised:
                state, since = "dormant", dormant
                text = (f"dormant from {dormant.isoformat()} (art. 8(3); anonymised at "
                        f"{anonymised.isoformat()})")
            else:
                state, since = "anonymised", anonymised
                text = f"anonymised from {anonymised.isoformat()} (art. 8(4))"
        else:
            kept = add_months(start, 42)
            deleted_file = add_months(kept, 96)
            if day < kept:
                state = "personalised"
                text = f"personalised (3.5-year retention to {kept.isoformat()}" + (
                    "; accessed, so kept in deleted-record file 8 more years)" if accessed
                    else ")")
            elif accessed and day < deleted_file:
                state, since = "deleted_record_file", kept
                text = (f"in the deleted-record file from {kept.isoformat()} (accessed; kept "
                        f"to {deleted_file.isoformat()})")
            else:
                since = deleted_file if accessed else kept
                state = "deleted"
                text = f"deleted from {since.isoformat()}"
        return (state, since.isoformat() if since else None, text, hold, accessed, why)

    def third_parties(self) -> dict[str, list[str]]:
        """Agencies that are third parties for EU PNR under each regime (R8: every agency
        but CBP, the primary receiver, ICE included)."""
        return {r: [a for a in self.config.agencies if a != "CBP"] for r in REGIMES}

    def disclosure_requirement(self, agency: str) -> str:
        """What R8 requires before EU PNR-derived information goes to ``agency``."""
        under = [r for r, parties in self.third_parties().items() if agency in parties]
        if not under:
            return f"none: {agency} is the primary receiver under every regime"
        scope = "both regimes" if len(under) == len(REGIMES) else ", ".join(under)
        return f"ThirdPartyDisclosureAuthorized before InformationShared ({scope}; R8)"

    def disclosures(self, case: str, *, to: str | None = None,
                    recorded_by: datetime | None = None) -> m.DisclosureCheck:
        """R8: every information sharing of a case and whether an authorisation preceded
        each PNR-derived disclosure to a third party; ``requirement`` states what R8 asks
        before disclosure to ``to`` (default: the first third party the case shared with,
        else ICE)."""
        ref = self.case(case, recorded_by=recorded_by)
        case_nos = self._pnr_cases(ref.stream, recorded_by)
        shared = self._sel("pnr", stream=ref.stream, kinds=["shared"], recorded_by=recorded_by)
        auths = [e for e in self._sel("pnr", kinds=["authorised"], recorded_by=recorded_by)
                 if e.key in case_nos]
        parties = {a for v in self.third_parties().values() for a in v}
        zone = self.config.zone(ref.port)
        out = []
        findings = []
        agencies = []
        for e in shared:
            to = str(e.data["to_agency"])
            pnr = bool(e.data.get("pnr_derived"))
            auth = None
            needed = pnr and to in parties
            if needed:
                agencies.append(to)
                day = e.occurred_from.astimezone(zone).date()
                auth = next((a for a in auths if a.data.get("requesting_agency") == to
                             and a.at <= e.occurred_from
                             and day <= date.fromisoformat(str(a.data["expires"]))), None)
                if auth is None:
                    findings.append(m.Finding(
                        rule="R8", text=f"EU PNR-derived information to {to} at "
                        f"{when_text(e.at)} without a prior ThirdPartyDisclosureAuthorized",
                        cites=[cite(e)], source=provenance("agencies")))
            out.append(m.Disclosure(
                at=e.at, from_agency=str(e.data["from_agency"]), to_agency=to,
                basis=str(e.data["basis"]), pnr_derived=pnr,
                authorised=(auth is not None) if needed else None,
                authorisation=cite(auth) if auth else None, cites=cites([e, auth])))
        agency = to or (agencies[0] if agencies else "ICE")
        return m.DisclosureCheck(case=ref, requirement=self.disclosure_requirement(agency),
                                 third_parties=self.third_parties(), disclosures=out,
                                 findings=findings, settings=[provenance("agencies")])


_PILOT_SETTINGS = tuple(provenance(name) for name in (
    "pilot_locations", "title21_categories", "pilot_start", "pilot_days"))


def delta_s(delta: timedelta) -> float:
    """Seconds of a duration."""
    return delta.total_seconds()


def parse_at(text: str) -> datetime:
    """Parse a ``--at``/``--as-of`` time."""
    return parse_time(text, "time")


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
        at=e.at, kind=e.kind, from_=_opt(d.get("from")), to=_opt(to),
        count=d.get("count"), gross_weight_kg=_opt(d.get("gross_weight_kg")),
        receipt=_opt(d.get("receipt")), signed_by=list(d.get("signed_by") or []),
        detail=detail, cites=[cite(e)])
