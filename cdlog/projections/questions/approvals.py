"""The approvals an operation needed and got, and who was told what and how soon."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from cdlog.domain import events as ev
from cdlog.domain.case import CaseState, required_approvals
from cdlog.domain.config import provenance
from cdlog.projections import models as m
from cdlog.projections.questions.cases import CaseQueries
from cdlog.projections.questions.common import by_time, cite, cites, opt
from cdlog.projections.store import Entry
from cdlog.projections.timefmt import duration_text

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


class ApprovalQueries(CaseQueries):
    """The approval matrix and the knowledge timeline of a case."""

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
            release_how=opt(release.data.get("how")) if release else None,
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
        out = [self._knowledge_entry(e, events, told, ref) for e in by_time(told)]
        return m.KnowledgeTimeline(case=ref, recorded_by=recorded_by, entries=out)

    def _reported(self, e: Entry, events: list[Entry], told: list[Entry],
                  ref: m.CaseRef) -> m.Reported | None:
        before = [x for x in by_time(events) if x.at <= e.at]
        kind = e.key
        rtype = e.data.get("reports_type")
        if rtype == "identification":
            found = next((x for x in before if x.key == "ContrabandDiscovered"), None)
            return m.Reported(type="identification", at=e.time("reports_at"),
                              cites=cites([found]))
        if rtype == "InvestigativeNotificationSent":
            first = next((x for x in by_time(told) if x.key == "notification"
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
                zone = self.config.zone(opt(x.data.get("port")) or ref.port)
                became = datetime(day.year, day.month, day.day, tzinfo=zone) + timedelta(days=1)
                return m.Reported(type="ActionItemOverdue", at=became, cites=[cite(x)])
        return None

    def _knowledge_entry(self, e: Entry, events: list[Entry], told: list[Entry],
                         ref: m.CaseRef) -> m.KnowledgeEntry:
        reported = self._reported(e, events, told, ref)
        lag = e.at - reported.at if reported else None
        late = bool(e.data.get("late_entry"))
        return m.KnowledgeEntry(
            at=e.at, recorded=e.recorded, kind=e.key, from_=opt(e.data.get("from")),
            to=opt(e.data.get("to")), channel=opt(e.data.get("channel")),
            subject=str(e.data.get("subject") or e.key), reports=reported,
            lag=duration_text(lag) if lag is not None else None,
            lag_seconds=int(lag.total_seconds()) if lag is not None else None,
            late_entry=late,
            record_lag=duration_text(e.recorded - e.at) if late else None,
            cites=cites([e]))
