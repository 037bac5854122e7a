"""The views: what each one extracts from the events it cares about.

Every view is a pure function of the events in log order (and, for :class:`DutiesView`, of the
rule configuration): ``handle(fact, prior)`` returns the entries one event adds, reading only
entries the same view wrote before. Queries (:mod:`cdlog.projections.queries`) fold entries.

Events recorded late through ``LateEntryRecorded`` are unwrapped for the knowledge timeline and
for incidents (an incident is attributed by when it happened), and ignored elsewhere, as the
domain's own fold (:func:`cdlog.domain.evolve.evolve`) ignores them.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any, ClassVar

from cdlog.canonical import format_time
from cdlog.domain import events as ev
from cdlog.domain.case import Fact
from cdlog.domain.config import Config
from cdlog.domain.evolve import PORT_ACTS, PORT_RESULT_EVENTS, RESULT_EVENTS, feedback_owed_for
from cdlog.domain.origins import opening_holder, origin_of, released_holder
from cdlog.projections.store import Entry, NewEntry, Prior, fingerprint


def _t(value: datetime) -> str:
    return format_time(value)


def _json(model: Any) -> Any:
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def unwrap(fact: Fact) -> Fact | None:
    """The event a ``LateEntryRecorded`` wraps, as a fact of its own type (else ``None``)."""
    p = fact.payload
    if not isinstance(p, ev.LateEntryRecorded):
        return None
    try:
        inner = p.wrapped()
    except ValueError:
        return None
    return dataclasses.replace(fact, type=p.wraps, payload=inner, late=True)


class View:
    """Base of the views: a name, a schema version and the event types it reads."""

    name: ClassVar[str] = ""
    schema: ClassVar[int] = 1
    types: ClassVar[frozenset[str]] = frozenset()
    unwrap_late: ClassVar[bool] = False

    def __init__(self, config: Config) -> None:
        self.config = config

    def fingerprint(self) -> str:
        """What the view's content depends on: its name and schema version."""
        return fingerprint(self.name, str(self.schema))

    def wants(self, fact: Fact) -> bool:
        """True when the view reads this event.

        A subclass that keeps this method reads exactly the case events whose type is in
        :meth:`wanted_types`; the projector relies on that to filter a page by type.
        """
        if fact.stream.startswith("trust:"):
            return False
        if not self.types or fact.type in self.types:
            return True
        return self.unwrap_late and fact.type == "LateEntryRecorded"

    def wanted_types(self) -> frozenset[str] | None:
        """The event types :meth:`wants` takes outside the trust streams (None: every one)."""
        if not self.types:
            return None
        return (self.types | {"LateEntryRecorded"}) if self.unwrap_late else self.types

    def handle(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """The entries ``fact`` adds."""
        if fact.type == "LateEntryRecorded" and self.unwrap_late:
            inner = unwrap(fact)
            if inner is None or (self.types and inner.type not in self.types):
                return []
            fact = inner
        return self.entries(fact, prior)

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:  # pragma: no cover
        """The entries of one (unwrapped) event."""
        raise NotImplementedError


# ---------------------------------------------------------------- cases
class CasesView(View):
    """The case index (names, port, decision, office) and pilot and late-entry facts."""

    name = "cases"
    schema = 2
    # no types: every case, PNR or access-log event (late entries can be of any type)

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """Case attributes (origin and ports included), shadows and late entries."""
        p = fact.payload
        s = fact.stream
        out: list[NewEntry] = []
        match p:
            case ev.CaseOpened():
                origin = origin_of(p)
                out.append(NewEntry("opened", s, {
                    "reference": p.reference, "operation_id": p.operation_id, "port": p.port,
                    "refs": p.refs, "origin": origin.kind, "origin_agency": origin.agency,
                    "origin_office": origin.office, "case_no": origin.case_no}))
            case ev.ContrabandDiscovered():
                out.append(NewEntry("items", s, {
                    "items": [i.item_id for i in p.items],
                    "categories": sorted({i.category for i in p.items})}))
            case ev.InvestigativeNotificationSent():
                out.append(NewEntry("notified", s, {"identified_at": _t(p.identified_at),
                                                    "to": p.to, "channel": p.channel}))
            case ev.NotificationAcknowledged():
                out.append(NewEntry("acknowledged", s, {}))
            case ev.CaseAccepted():
                out.append(NewEntry("decision", s, {"decision": "accepted",
                                                    "case_no": p.case_no,
                                                    "lead_office": p.lead_office}))
            case ev.CaseDeclined():
                out.append(NewEntry("decision", s, {"decision": "declined",
                                                    "reason_code": p.reason_code,
                                                    "referred_to": p.referred_to}))
            case ev.OperationProposed():
                out.append(NewEntry("operation", s, {"operation_type": p.operation_type}))
            case ev.ShadowAssigned():
                out.append(NewEntry("shadow", p.cbp_officer, {
                    "assigned": True, "oi_agent": p.oi_agent, "case_no": p.case_no,
                    "port": p.port}))
            case ev.ShadowReleased():
                out.append(NewEntry("shadow", p.cbp_officer, {"assigned": False}))
            case ev.SurveillanceStarted() if p.cbp_shadow is not None:
                out.append(NewEntry("shadow_on_surveillance", p.cbp_shadow,
                                    {"team_lead": p.team_lead}))
            case ev.CaseClosed():
                out.append(NewEntry("closed", s, {"reason": p.reason}))
            case _:
                pass
        if fact.type in PORT_ACTS:  # a port act may name the port: the case spans it
            port = getattr(p, "port", None)
            if port and (fact.actor.agency, fact.actor.office) == ("CBP", "OFO"):
                out.append(NewEntry("port", s, {"port": port}))
        if fact.late:
            out.append(NewEntry("late", s, _late_data(fact)))
        return out


def _late_data(fact: Fact) -> dict[str, Any]:
    p = fact.payload
    label = fact.type
    reason = None
    if isinstance(p, ev.LateEntryRecorded):
        label = p.wraps
        subject = p.event.get("subject")
        if isinstance(subject, str):
            label += f"/{subject}"
        reason = p.reason
    return {"label": label, "reason": reason,
            "lag_seconds": int((fact.recorded - fact.occurred.end).total_seconds())}


# ---------------------------------------------------------------- responsibility (R2)
class ResponsibilityView(View):
    """Changes of responsibility: the case opening (CBP/OFO for an OFO interdiction, ICE/OI
    for a case that began with OI), OI assuming and releasing it; and the operation's start
    and end, which bound R2. Holders come from structured fields only
    (:mod:`cdlog.domain.origins`), never from the words of ``to``."""

    name = "responsibility"
    schema = 2
    types = frozenset({"CaseOpened", "ResponsibilityAssumed", "ResponsibilityReleased",
                       "OperationProposed", "OperationTerminated"})

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """One entry per change."""
        p = fact.payload
        s = fact.stream
        match p:
            case ev.CaseOpened():
                return [NewEntry("opened", s, {"holder": opening_holder(p), "port": p.port,
                                               "origin": origin_of(p).kind})]
            case ev.ResponsibilityAssumed():
                return [NewEntry("assumed", s, {
                    "holder": f"{p.agency}/{p.office}", "scope": p.scope,
                    "acknowledged_by_ofo": p.acknowledged_by_ofo, "items": p.items})]
            case ev.ResponsibilityReleased():
                return [NewEntry("released", s, {"holder": released_holder(p), "to": p.to,
                                                 "scope": p.scope})]
            case ev.OperationProposed():
                return [NewEntry("operation", s, {"operation_type": p.operation_type})]
            case ev.OperationTerminated():
                return [NewEntry("terminated", s, {"reason": p.reason})]
            case _:
                return []


# ---------------------------------------------------------------- custody and items
class CustodyView(View):
    """The item ledger: every discovery, hand-off, substitution, recovery and reconciliation."""

    name = "custody"
    types = frozenset({"ContrabandDiscovered", "SeizureRecorded", "CustodyTransferred",
                       "SubstitutionPerformed", "SampleTaken", "ItemsRecovered",
                       "InventoryReconciled", "EvidenceStored", "ReleasedUnderPassThrough",
                       "DeliveryMade", "ForfeitureDeclared", "IncidentOccurred"})

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """Entries keyed by item id (the reconciliation and delivery by stream)."""
        p = fact.payload
        signed = sorted(fact.signer_ids)
        match p:
            case ev.ContrabandDiscovered():
                return [NewEntry("discovered", i.item_id, {
                    "description": i.description, "category": i.category, "count": i.count,
                    "gross_weight_kg": _json(i).get("gross_weight_kg"),
                    "holder": fact.actor.id}) for i in p.items]
            case ev.SeizureRecorded():
                return [NewEntry("seized", i.item, {
                    **_json(i), "seizure_no": p.seizure_no, "seizure_type": p.seizure_type,
                    "receipt": p.custody_receipt}) for i in p.items]
            case ev.CustodyTransferred():
                return [NewEntry("transfer", i.item, {
                    **_json(i), "from": p.from_, "to": p.to, "receipt": p.receipt_ref,
                    "seals": p.seals, "signed_by": signed}) for i in p.items]
            case ev.SubstitutionPerformed():
                return [NewEntry("substitution", p.removed.item, {
                    "removed": _json(p.removed), "remaining": _json(p.remaining),
                    "sham_added": _json(p.sham_added), "stored_at": p.removed_stored_at,
                    "witnesses": p.witnesses})]
            case ev.SampleTaken():
                return [NewEntry("sample", p.sample_of, {**_json(p)})]
            case ev.ItemsRecovered():
                return [NewEntry("recovered", i.item, {**_json(i), "location": p.location})
                        for i in p.items]
            case ev.InventoryReconciled():
                return [NewEntry("reconciled", fact.stream, _json(p))]
            case ev.EvidenceStored():
                return [NewEntry("stored", i.item, {**_json(i), "location": p.location,
                                                    "custodian": p.custodian})
                        for i in p.items]
            case ev.ReleasedUnderPassThrough():
                return [NewEntry("released", i.item, _json(i)) for i in p.counts_at_release]
            case ev.DeliveryMade():
                return [NewEntry("delivered", fact.stream, {"to_party": p.to_party,
                                                            "by": fact.actor.id})]
            case ev.ForfeitureDeclared():
                return [NewEntry("forfeited", i, {"fpf_no": p.fpf_no}) for i in p.items]
            case ev.IncidentOccurred():
                return [NewEntry("incident", i.item, {**_json(i), "incident_id": p.incident_id,
                                                      "incident_type": p.incident_type})
                        for i in p.items_affected]
            case _:
                return []


# ---------------------------------------------------------------- approvals
class ApprovalsView(View):
    """Proposals, approvals requested, granted and denied, and the releases they precede."""

    name = "approvals"
    schema = 2
    types = frozenset({"OperationProposed", "ApprovalRequested", "ApprovalGranted",
                       "ApprovalDenied", "HoldReleased", "ReleasedUnderPassThrough",
                       "DeliveryMade", "OperationTerminated", "ForeignConsentRecorded",
                       "ProsecutorConsulted", "USAONotified"})

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """One entry per event."""
        p = fact.payload
        s = fact.stream
        match p:
            case ev.OperationProposed():
                return [NewEntry("proposed", s, {"payload": _json(p)})]
            case ev.ApprovalRequested():
                return [NewEntry("requested", p.kind, _json(p))]
            case ev.ApprovalGranted():
                return [NewEntry("granted", p.kind, _json(p))]
            case ev.ApprovalDenied():
                return [NewEntry("denied", p.kind, _json(p))]
            case ev.HoldReleased() | ev.ReleasedUnderPassThrough():
                return [NewEntry("release", s, {"how": fact.type})]
            case ev.DeliveryMade():
                return [NewEntry("delivered", s, {"to_party": p.to_party})]
            case ev.OperationTerminated():
                return [NewEntry("terminated", s, {"reason": p.reason})]
            case ev.ForeignConsentRecorded():
                return [NewEntry("foreign_consent", p.state, _json(p))]
            case ev.ProsecutorConsulted():
                return [NewEntry("prosecutor", p.district, _json(p))]
            case ev.USAONotified():  # like a consultation, it fixes the district of origin
                return [NewEntry("usao_notified", p.district, {"district": p.district})]
            case _:
                return []


# ---------------------------------------------------------------- knowledge
REPORTABLE = frozenset({
    "ContrabandDiscovered", "CaseAccepted", "CaseDeclined", "SeizureRecorded",
    "IncidentOccurred", "OperationProposed", "OperationTerminated", "ArrestMade",
    "DeliveryMade", "InterviewConducted", "LoadBreached", "SurveillanceLost",
    "ProsecutionMilestone", "ActionItemAssigned", "HoldReleased", "ItemsRecovered",
    "InventoryReconciled", "ExaminationConducted", "PenaltyAssessed", "ForfeitureDeclared",
    "ResponsibilityAssumed", "ResponsibilityReleased", "ReleasedUnderPassThrough",
})


class KnowledgeView(View):
    """Who was told what, when: notifications, briefings, consultations, feedback, sharing,
    and the events they can report on."""

    name = "knowledge"
    schema = 2
    unwrap_late = True
    types = REPORTABLE | {"InvestigativeNotificationSent", "NotificationAcknowledged",
                          "NotificationMade", "SCBPOBriefed", "USAONotified",
                          "ProsecutorConsulted", "ReceivingOfficeNotified", "FeedbackProvided",
                          "InformationShared"}

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """Told-entries and reportable events."""
        p = fact.payload
        s = fact.stream
        out: list[NewEntry] = []
        late = {"late_entry": True} if fact.late else {}
        match p:
            case ev.InvestigativeNotificationSent():
                out.append(NewEntry("told", "notification", {
                    "from": fact.actor.id, "to": p.to, "channel": p.channel,
                    "subject": "potential case identified (R3)",
                    "reports_type": "identification", "reports_at": _t(p.identified_at),
                    **late}))
            case ev.NotificationAcknowledged():
                out.append(NewEntry("told", "acknowledgement", {
                    "from": fact.actor.id, "to": None, "subject": "notification acknowledged",
                    "reports_type": "InvestigativeNotificationSent", **late}))
            case ev.NotificationMade():
                out.append(NewEntry("told", "notification", {
                    "from": p.from_, "to": p.to, "channel": p.channel, "subject": p.subject,
                    "incident_id": p.incident_id, **late}))
            case ev.SCBPOBriefed():
                out.append(NewEntry("told", "briefing", {
                    "from": fact.actor.id, "to": p.scbpo, "subject": "; ".join(p.topics),
                    "topics": p.topics, "reports_type": "InterviewConducted", **late}))
            case ev.USAONotified():
                out.append(NewEntry("told", "usao_notification", {
                    "from": fact.actor.id, "to": f"USAO {p.district}", "subject": p.basis,
                    "reports_type": "SeizureRecorded", **late}))
            case ev.ProsecutorConsulted():
                out.append(NewEntry("told", "prosecutor_consulted", {
                    "from": fact.actor.id, "to": p.with_, "subject":
                    f"{p.district}: {p.position}", "reports_type": "ContrabandDiscovered",
                    **late}))
            case ev.ReceivingOfficeNotified():
                out.append(NewEntry("told", "receiving_office", {
                    "from": fact.actor.id, "to": p.office, "subject": p.note or "operation",
                    "reports_type": "OperationProposed", **late}))
            case ev.FeedbackProvided():
                out.append(NewEntry("told", "feedback", {
                    "from": fact.actor.id, "to": p.to_agency, "from_agency": p.from_agency,
                    "subject": "feedback (R7): " + ", ".join(p.categories),
                    "categories": list(p.categories), "results": p.results, **late}))
            case ev.InformationShared():
                out.append(NewEntry("told", "information_shared", {
                    "from": fact.actor.id, "to": p.to_agency, "from_agency": p.from_agency,
                    "subject": f"information shared on basis {p.basis}"
                               + (" (EU PNR-derived)" if p.pnr_derived else ""),
                    "basis": p.basis, "pnr_derived": p.pnr_derived, **late}))
            case _:
                pass
        if fact.type in REPORTABLE:
            data: dict[str, Any] = {}
            if isinstance(p, ev.IncidentOccurred):
                data["incident_id"] = p.incident_id
            elif isinstance(p, ev.InterviewConducted):
                data["subject_ref"] = p.subject_ref
            elif isinstance(p, ev.ActionItemAssigned):
                data.update(item_id=p.item_id, due=p.due.isoformat(), owner=p.owner,
                            port=p.port)
            out.append(NewEntry("event", fact.type, {"stream": s, **data}))
        return out


# ---------------------------------------------------------------- surveillance
class SurveillanceView(View):
    """Surveillance and the moments that bound it (release, delivery, termination)."""

    name = "surveillance"
    types = frozenset({"SurveillanceStarted", "PositionObserved", "SurveillanceHandedOff",
                       "SurveillanceLost", "SurveillanceReacquired", "SurveillanceEnded",
                       "HoldReleased", "ReleasedUnderPassThrough", "DeliveryMade",
                       "OperationTerminated", "OperationProposed", "TrackingDeviceInstalled",
                       "TrackingDeviceFailed", "LoadBreached"})

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """One entry per event, keyed by its type."""
        p = fact.payload
        data: dict[str, Any] = _json(p)
        if isinstance(p, ev.SurveillanceLost):
            data = {"last_at": _t(p.last_confirmed.at), "last_position": p.last_confirmed.position,
                    "last_by": p.last_confirmed.by, "cause": p.cause}
        if isinstance(p, ev.HoldReleased):
            ops = prior.entries(fact.stream, ["OperationProposed", "OperationTerminated"])
            if not ops or ops[-1].kind != "OperationProposed":
                return []  # a release with no running operation is not a CD/PT release
        return [NewEntry(fact.type, fact.stream, data)]


# ---------------------------------------------------------------- duties (R3-R9)
class DutiesView(View):
    """The memo's duties as opened and closed, with their due times from the configuration.

    This is an independent implementation of the duty rules of
    :func:`cdlog.domain.evolve.evolve` over stored entries; a property test holds the two
    equal. Feedback (R7) is owed as :func:`cdlog.domain.evolve.feedback_owed_for` says, per
    the case's origin: by the receiving agency to the originating one, in both directions.
    Each duty records the port where it arises (an action item's ``port``, a port act's
    ``port``, else the case's port): its due day is read in that port's time zone.
    """

    name = "duties"
    schema = 2
    types = frozenset({"CaseOpened", "InvestigativeNotificationSent", "CaseAccepted",
                       "CaseDeclined", "InterviewConducted", "SCBPOBriefed",
                       "ActionItemAssigned", "ActionItemCompleted", "ActionItemWaived",
                       "FeedbackProvided", *RESULT_EVENTS, *PORT_RESULT_EVENTS, *PORT_ACTS})

    def fingerprint(self) -> str:
        """Due times depend on the configuration, so it is part of the fingerprint."""
        return fingerprint(self.name, str(self.schema), self.config.model_dump_json())

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """Duty openings and closings, plus the R3/R4 timestamps, interviews, the case's
        origin and whether OFO acted at the port (for R7)."""
        s = fact.stream
        if fact.type in _PORT_ONLY or fact.type in PORT_RESULT_EVENTS:
            # OFO's port acts and results count only outside OFO interdictions (R7): OFO owes
            # OI feedback on them, and they make the port one OI owes its results to
            if (fact.actor.agency, fact.actor.office) != ("CBP", "OFO"):
                return []
            seen = prior.entries(s, _KNOWN)  # the kinds the full path asks: one load a page
            case = next((e for e in seen if e.kind == "case"), None)
            if case is None or case.data.get("origin", "ofo_interdiction") == \
                    "ofo_interdiction":
                return []
            if fact.type in _PORT_ONLY:
                return [] if any(e.kind == "port_acted" for e in seen) else [
                    NewEntry("port_acted", s, {})]
        p = fact.payload
        when = fact.occurred.end
        out: list[NewEntry] = []
        known = prior.entries(s, _KNOWN)
        case = next((e for e in known if e.kind == "case"), None)
        case_port = case.data.get("port") if case is not None else None
        open_duties = _open_duties(known)
        match p:
            case ev.CaseOpened():
                origin = origin_of(p)
                out.append(NewEntry("case", s, {"port": p.port, "origin": origin.kind,
                                                "origin_agency": origin.agency}))
            case ev.InvestigativeNotificationSent():
                if not any(e.kind == "notified" for e in known):
                    out.append(NewEntry("notified", s, {"identified_at": _t(p.identified_at),
                                                        "to": p.to}))
            case ev.CaseAccepted() | ev.CaseDeclined():
                out.append(NewEntry("decided", s, {
                    "decision": "accepted" if isinstance(p, ev.CaseAccepted) else "declined"}))
            case ev.InterviewConducted():
                out.append(NewEntry("interview", p.subject_ref, {
                    "cbp_present": p.cbp_present, "cbp_officer": p.cbp_officer}))
                if not p.cbp_present:
                    out.append(self._open(fact, "briefing", p.subject_ref, fact.actor.id,
                                          when + self.config.deadlines.briefing_after_interview,
                                          f"brief the SCBPO on the interview of "
                                          f"{p.subject_ref} (R6)", port=case_port))
            case ev.SCBPOBriefed():
                briefings = [e for e in open_duties if e.data["kind"] == "briefing"]
                named = [e for e in briefings if any(e.data["key"] in t for t in p.topics)]
                out.extend(_close(e, when) for e in named or briefings[:1])
            case ev.ActionItemAssigned():
                port = p.port or case_port
                zone = self.config.zone(port)
                due = datetime(p.due.year, p.due.month, p.due.day, tzinfo=zone) + \
                    timedelta(days=1)
                out.append(self._open(fact, "action_item", p.item_id, p.owner, due, p.what,
                                      due_day=p.due.isoformat(), assigned_by=fact.actor.id,
                                      port=port))
            case ev.ActionItemCompleted() | ev.ActionItemWaived():
                waived = isinstance(p, ev.ActionItemWaived)
                out.extend(_close(e, when, waived=waived) for e in open_duties
                           if e.data["kind"] == "action_item" and e.data["key"] == p.item_id)
            case ev.FeedbackProvided():
                out.extend(_close(e, when) for e in open_duties
                           if e.data["kind"] == "feedback" and e.data["owner"] == p.from_agency
                           and e.data.get("to", "") in ("", p.to_agency)
                           and e.time("opened_at") <= when)
            case _:
                pass
        port_acted = any(e.kind == "port_acted" for e in known)
        ofo = (fact.actor.agency, fact.actor.office) == ("CBP", "OFO")
        if fact.type in PORT_ACTS and ofo and not port_acted:
            out.append(NewEntry("port_acted", s, {}))
            port_acted = True
        if fact.type in RESULT_EVENTS or fact.type in PORT_RESULT_EVENTS:
            out.extend(self._feedback(fact, case or next(
                (e for e in out if e.kind == "case"), None), known, out, open_duties,
                port_acted, case_port))
        return out

    def _feedback(self, fact: Fact, case: Entry | NewEntry | None, known: list[Entry],
                  out: list[NewEntry], open_duties: list[Entry], port_acted: bool,
                  case_port: Any) -> list[NewEntry]:
        origin = str(case.data.get("origin", "ofo_interdiction")) if case else \
            "ofo_interdiction"
        origin_agency = str(case.data.get("origin_agency", "CBP")) if case else "CBP"
        notified = any(e.kind == "notified" for e in known) or any(
            e.kind == "notified" for e in out)
        owed = feedback_owed_for(fact.type, fact.actor.agency, fact.actor.office,
                                 origin=origin, origin_agency=origin_agency,
                                 notified=notified, port_acted=port_acted)
        if not owed:
            return []
        when = fact.occurred.end
        office = fact.actor.aor or fact.actor.office
        due = when + self.config.feedback_due_after(office)
        port = getattr(fact.payload, "port", None) or case_port
        opened: list[NewEntry] = []
        for owner, to, category in owed:
            if any(e.data["kind"] == "feedback" and e.data["owner"] == owner
                   and e.data.get("to", "") == to for e in open_duties):
                continue  # one open feedback duty covers every result until feedback is given
            if origin == "ofo_interdiction":
                key = f"{category}@{fact.version}"
                what = f"feedback to the originating agency on the {category} result (R7)"
            else:
                key = f"{category}@{fact.version}>{to}"
                what = f"feedback from {owner} to {to} on the {category} result (R7)"
            opened.append(self._open(fact, "feedback", key, owner, due, what, office=office,
                                     to=to, port=port))
        return opened

    @staticmethod
    def _open(fact: Fact, kind: str, key: str, owner: str, due: datetime, what: str,
              **extra: Any) -> NewEntry:
        duty_id = f"{kind}:{key}@{fact.version}"
        return NewEntry("opened", duty_id, {
            "kind": kind, "key": key, "owner": owner, "opened_at": _t(fact.occurred.end),
            "due": _t(due), "what": what, **extra})


_KNOWN = ("case", "notified", "port_acted", "opened", "closed")
"""The kinds of its own entries the duties view reads (always the same set, so that a page
loads a stream's entries once)."""
_PORT_ONLY = PORT_ACTS - set(RESULT_EVENTS) - set(PORT_RESULT_EVENTS)
"""Port acts the duties view reads only to know that OFO acted at the port (R7)."""


def _open_duties(known: list[Entry]) -> list[Entry]:
    closed = {e.key for e in known if e.kind == "closed"}
    return [e for e in known if e.kind == "opened" and e.key not in closed]


def _close(opened: Entry, when: datetime, *, waived: bool = False) -> NewEntry:
    return NewEntry("closed", opened.key, {"kind": opened.data["kind"],
                                           "key": opened.data["key"], "done_at": _t(when),
                                           "waived": waived})


# ---------------------------------------------------------------- incidents
class IncidentsView(View):
    """Incidents, their updates and closure, and notifications about them."""

    name = "incidents"
    unwrap_late = True
    types = frozenset({"IncidentOccurred", "IncidentUpdated", "IncidentClosed",
                       "NotificationMade"})

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """Entries keyed by incident id."""
        p = fact.payload
        match p:
            case ev.IncidentOccurred():
                return [NewEntry("occurred", p.incident_id, _json(p))]
            case ev.IncidentUpdated():
                return [NewEntry("updated", p.incident_id, _json(p))]
            case ev.IncidentClosed():
                return [NewEntry("closed", p.incident_id, _json(p))]
            case ev.NotificationMade() if p.incident_id is not None:
                return [NewEntry("notified", p.incident_id, {
                    "from": p.from_, "to": p.to, "channel": p.channel, "subject": p.subject,
                    "late_entry": fact.late})]
            case _:
                return []


# ---------------------------------------------------------------- PNR (R8)
class PnrView(View):
    """EU PNR records, their case links, disclosures, accesses and what was shared."""

    name = "pnr"
    schema = 2
    types = frozenset({"PNRRecordIngested", "ThirdPartyDisclosureAuthorized", "PNRAccessed",
                       "PNRLinkedToCase", "PNRCaseArchived", "InformationShared",
                       "CaseAccepted", "RestrictedValuesRead", "RestrictedValuesErased"})

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """Entries keyed by record stream or case number."""
        p = fact.payload
        s = fact.stream
        match p:
            case ev.PNRRecordIngested():
                return [NewEntry("record", s, _json(p))]
            case ev.ThirdPartyDisclosureAuthorized():
                return [NewEntry("authorised", p.case_no, {**_json(p), "record": s})]
            case ev.PNRAccessed():
                return [NewEntry("accessed", p.case_no or "", _json(p))]
            case ev.PNRLinkedToCase():
                return [NewEntry("linked", p.case_no, {"record": s})]
            case ev.PNRCaseArchived():
                return [NewEntry("archived", p.case_no, {"record": s})]
            case ev.InformationShared():
                return [NewEntry("shared", s, _json(p))]
            case ev.CaseAccepted():
                return [NewEntry("case_no", s, {"case_no": p.case_no})]
            case ev.RestrictedValuesRead():  # keyed by the record read (its stream)
                return [NewEntry("read", p.record, {**_json(p), "access": s})]
            case ev.RestrictedValuesErased():
                return [NewEntry("erased", s, {**_json(p), "record": s})]
            case _:
                return []


VIEW_CLASSES: tuple[type[View], ...] = (
    CasesView, ResponsibilityView, CustodyView, ApprovalsView, KnowledgeView,
    SurveillanceView, DutiesView, IncidentsView, PnrView)


def default_views(config: Config) -> list[View]:
    """One instance of every view."""
    return [cls(config) for cls in VIEW_CLASSES]
