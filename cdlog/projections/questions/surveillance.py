"""Surveillance coverage of a released load, and the memo's duties and their timeliness."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from cdlog.domain.config import provenance
from cdlog.errors import NotFoundError
from cdlog.projections import models as m
from cdlog.projections.questions.common import by_time, cite, cites, opt
from cdlog.projections.questions.pilot import PILOT_SETTINGS, PilotQueries
from cdlog.projections.store import Entry
from cdlog.projections.timefmt import duration_text, when_text


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


class SurveillanceQueries(PilotQueries):
    """Eyes on and gaps; duties, deadlines, overdue and late entries."""

    # ------------------------------------------------------------ surveillance
    def _coverage(self, stream: str, recorded_by: datetime | None) -> tuple[
            list[_Eyes], list[_Gap], datetime | None, datetime | None, list[Entry]]:
        """Fold surveillance in time order: eyes on from a start or reacquisition to a loss
        (at the last confirmed sighting), a hand-off, the end of surveillance or the end of
        the operation; a loss stays open until reacquired or surveillance ends. A release
        nobody watched, and surveillance that ended while the operation ran before the load
        was delivered, are gaps too (after the delivery the load is where it was going)."""
        entries = by_time(self._sel("surveillance", stream=stream, recorded_by=recorded_by))
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
                eyes.append(_Eyes(e.at, None, opt(e.data.get("team_lead")), [e]))
            elif e.kind == "SurveillanceHandedOff":
                close_eyes(e.at, e)
                eyes.append(_Eyes(e.at, None, opt(e.data.get("to_team")), [e]))
            elif e.kind == "SurveillanceLost":
                last = e.time("last_at")
                close_eyes(last, e)
                gaps.append(_Gap("lost", last, None, [e], e.at,
                                 opt(e.data.get("last_position")), opt(e.data.get("last_by"))))
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
        port = opt(opened.data.get("port")) or ref.port  # where the duty arose
        zone = self.config.zone(port)
        due_day = opt(opened.data.get("due_day"))
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
            owner=str(opened.data["owner"]), to=opt(opened.data.get("to")),
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
                cbp_officer=opt(e.data.get("cbp_officer")),
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
                *(PILOT_SETTINGS if pilot is not None and pilot.shadow_expected else ())])))

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

    def late_entries(self, case: str | None = None, *, recorded_by: datetime | None = None
                     ) -> m.LateEntryList:
        """Every event recorded later than the configured lag after it happened."""
        stream = self.stream_of(case) if case else None
        entries = self._sel("cases", stream=stream, kinds=["late"], recorded_by=recorded_by)
        out = [m.LateEntry(case=e.stream, version=e.version, event=str(e.data["label"]),
                           occurred=e.at, recorded=e.recorded,
                           lag=duration_text(e.recorded - e.at),
                           lag_seconds=int((e.recorded - e.at).total_seconds()),
                           reason=opt(e.data.get("reason")), cites=[cite(e)])
               for e in entries]
        return m.LateEntryList(recorded_by=recorded_by, entries=out,
                               settings=[provenance("deadlines.late_entry_after")])
