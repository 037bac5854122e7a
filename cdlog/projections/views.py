"""The views: what each one extracts from the events it cares about, as a table per view.

Every view is a pure function of the events in log order (and, for :class:`DutiesView`, of the
rule configuration): ``handle(fact, prior)`` returns the entries one event adds, reading only
entries the same view wrote before. Queries (:mod:`cdlog.projections.queries`) fold entries.
A view's ``table`` gives, for each event type it reads, how the rows are made
(:class:`~cdlog.projections.view.Rows`: kind, key, document, per event or per list element).

Events recorded late through ``LateEntryRecorded`` are unwrapped for the knowledge timeline and
for incidents (an incident is attributed by when it happened), and ignored elsewhere, as the
domain's own fold (:func:`cdlog.domain.evolve.evolve`) ignores them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

from cdlog.canonical import format_time
from cdlog.domain import events as ev
from cdlog.domain.case import Fact
from cdlog.domain.config import Config
from cdlog.domain.evolve import PORT_ACTS
from cdlog.domain.origins import opening_holder, origin_of, released_holder
from cdlog.projections.duties import DutiesView
from cdlog.projections.store import NewEntry, Prior
from cdlog.projections.view import (
    Rows,
    View,
    constant,
    element_with,
    field,
    fields,
    itself,
    joined,
    json_of,
    payload,
    stream,
    unwrap,
)

__all__ = ["REPORTABLE", "VIEW_CLASSES", "ApprovalsView", "CasesView", "CustodyView",
           "DutiesView", "IncidentsView", "KnowledgeView", "PnrView", "ResponsibilityView",
           "SurveillanceView", "View", "default_views", "unwrap"]

_OPERATION = Rows("operation", stream, fields("operation_type"))
_TERMINATED = Rows("terminated", stream, fields("reason"))


# ---------------------------------------------------------------- cases
def _opened(fact: Fact, p: Any, x: Any) -> dict[str, Any]:
    origin = origin_of(p)
    return {"reference": p.reference, "operation_id": p.operation_id, "port": p.port,
            "refs": p.refs, "origin": origin.kind, "origin_agency": origin.agency,
            "origin_office": origin.office, "case_no": origin.case_no}


class CasesView(View):
    """The case index (names, port, decision, office) and pilot and late-entry facts."""

    name = "cases"
    schema = 2
    types: ClassVar[frozenset[str]] = frozenset()  # every case, PNR or access-log event
    # (late entries can be of any type)
    table: ClassVar[Mapping[str, Rows]] = {
        "CaseOpened": Rows("opened", stream, _opened),
        "ContrabandDiscovered": Rows("items", stream, lambda f, p, x: {
            "items": [i.item_id for i in p.items],
            "categories": sorted({i.category for i in p.items})}),
        "InvestigativeNotificationSent": Rows("notified", stream, lambda f, p, x: {
            "identified_at": format_time(p.identified_at), "to": p.to,
            "channel": p.channel}),
        "NotificationAcknowledged": Rows("acknowledged", stream, lambda f, p, x: {}),
        "CaseAccepted": Rows("decision", stream, lambda f, p, x: {
            "decision": "accepted", "case_no": p.case_no, "lead_office": p.lead_office}),
        "CaseDeclined": Rows("decision", stream, lambda f, p, x: {
            "decision": "declined", "reason_code": p.reason_code,
            "referred_to": p.referred_to}),
        "OperationProposed": _OPERATION,
        "ShadowAssigned": Rows("shadow", field("cbp_officer"), lambda f, p, x: {
            "assigned": True, "oi_agent": p.oi_agent, "case_no": p.case_no,
            "port": p.port}),
        "ShadowReleased": Rows("shadow", field("cbp_officer"),
                               lambda f, p, x: {"assigned": False}),
        "SurveillanceStarted": Rows("shadow_on_surveillance", field("cbp_shadow"),
                                    fields("team_lead"),
                                    when=lambda p: p.cbp_shadow is not None),
        "CaseClosed": Rows("closed", stream, fields("reason")),
    }

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """Case attributes (origin and ports included), shadows and late entries."""
        out = super().entries(fact, prior)
        if fact.type in PORT_ACTS:  # a port act may name the port: the case spans it
            port = getattr(fact.payload, "port", None)
            if port and (fact.actor.agency, fact.actor.office) == ("CBP", "OFO"):
                out.append(NewEntry("port", fact.stream, {"port": port}))
        if fact.late:
            out.append(NewEntry("late", fact.stream, _late_data(fact)))
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
    table: ClassVar[Mapping[str, Rows]] = {
        "CaseOpened": Rows("opened", stream, lambda f, p, x: {
            "holder": opening_holder(p), "port": p.port, "origin": origin_of(p).kind}),
        "ResponsibilityAssumed": Rows("assumed", stream, lambda f, p, x: {
            "holder": f"{p.agency}/{p.office}", "scope": p.scope,
            "acknowledged_by_ofo": p.acknowledged_by_ofo, "items": p.items}),
        "ResponsibilityReleased": Rows("released", stream, lambda f, p, x: {
            "holder": released_holder(p), "to": p.to, "scope": p.scope}),
        "OperationProposed": _OPERATION,
        "OperationTerminated": _TERMINATED,
    }


# ---------------------------------------------------------------- custody and items
class CustodyView(View):
    """The item ledger: every discovery, hand-off, substitution, recovery and reconciliation,
    keyed by item id (the reconciliation and delivery by stream)."""

    name = "custody"
    table: ClassVar[Mapping[str, Rows]] = {
        "ContrabandDiscovered": Rows("discovered", field("item_id"), lambda f, p, i: {
            "description": i.description, "category": i.category, "count": i.count,
            "gross_weight_kg": json_of(i).get("gross_weight_kg"), "holder": f.actor.id},
            each="items"),
        "SeizureRecorded": Rows("seized", field("item"), element_with(
            "seizure_no", "seizure_type", receipt="custody_receipt"), each="items"),
        "CustodyTransferred": Rows("transfer", field("item"), lambda f, p, i: {
            **json_of(i), "from": p.from_, "to": p.to, "receipt": p.receipt_ref,
            "seals": p.seals, "signed_by": sorted(f.signer_ids)}, each="items"),
        "SubstitutionPerformed": Rows("substitution", lambda f, p, x: p.removed.item,
                                      lambda f, p, x: {
            "removed": json_of(p.removed), "remaining": json_of(p.remaining),
            "sham_added": json_of(p.sham_added), "stored_at": p.removed_stored_at,
            "witnesses": p.witnesses}),
        "SampleTaken": Rows("sample", field("sample_of"), payload),
        "ItemsRecovered": Rows("recovered", field("item"), element_with("location"),
                               each="items"),
        "InventoryReconciled": Rows("reconciled", stream, payload),
        "EvidenceStored": Rows("stored", field("item"), element_with("location", "custodian"),
                               each="items"),
        "ReleasedUnderPassThrough": Rows("released", field("item"), payload,
                                         each="counts_at_release"),
        "DeliveryMade": Rows("delivered", stream, lambda f, p, x: {
            "to_party": p.to_party, "by": f.actor.id}),
        "ForfeitureDeclared": Rows("forfeited", itself, fields("fpf_no"), each="items"),
        "IncidentOccurred": Rows("incident", field("item"), element_with(
            "incident_id", "incident_type"), each="items_affected"),
    }


# ---------------------------------------------------------------- approvals
class ApprovalsView(View):
    """Proposals, approvals requested, granted and denied, and the releases they precede."""

    name = "approvals"
    schema = 2
    table: ClassVar[Mapping[str, Rows]] = {
        "OperationProposed": Rows("proposed", stream,
                                  lambda f, p, x: {"payload": json_of(p)}),
        "ApprovalRequested": Rows("requested", field("kind"), payload),
        "ApprovalGranted": Rows("granted", field("kind"), payload),
        "ApprovalDenied": Rows("denied", field("kind"), payload),
        "HoldReleased": Rows("release", stream, lambda f, p, x: {"how": f.type}),
        "ReleasedUnderPassThrough": Rows("release", stream, lambda f, p, x: {"how": f.type}),
        "DeliveryMade": Rows("delivered", stream, fields("to_party")),
        "OperationTerminated": _TERMINATED,
        "ForeignConsentRecorded": Rows("foreign_consent", field("state"), payload),
        "ProsecutorConsulted": Rows("prosecutor", field("district"), payload),
        # like a consultation, a notification fixes the district of origin
        "USAONotified": Rows("usao_notified", field("district"), fields("district")),
    }


# ---------------------------------------------------------------- knowledge
REPORTABLE = frozenset({
    "ContrabandDiscovered", "CaseAccepted", "CaseDeclined", "SeizureRecorded",
    "IncidentOccurred", "OperationProposed", "OperationTerminated", "ArrestMade",
    "DeliveryMade", "InterviewConducted", "LoadBreached", "SurveillanceLost",
    "ProsecutionMilestone", "ActionItemAssigned", "HoldReleased", "ItemsRecovered",
    "InventoryReconciled", "ExaminationConducted", "PenaltyAssessed", "ForfeitureDeclared",
    "ResponsibilityAssumed", "ResponsibilityReleased", "ReleasedUnderPassThrough",
})


def _told(key: str, data: Callable[[Fact, Any], dict[str, Any]]) -> Rows:
    """A told-entry: who told whom what, flagged when recorded late."""

    def make(fact: Fact, p: Any, x: Any) -> dict[str, Any]:
        told = data(fact, p)
        if fact.late:
            told["late_entry"] = True
        return told
    return Rows("told", constant(key), make)


_REPORTED: dict[str, Callable[[Any], dict[str, Any]]] = {
    "IncidentOccurred": lambda p: {"incident_id": p.incident_id},
    "InterviewConducted": lambda p: {"subject_ref": p.subject_ref},
    "ActionItemAssigned": lambda p: {"item_id": p.item_id, "due": p.due.isoformat(),
                                     "owner": p.owner, "port": p.port},
}
"""What an event entry of the knowledge view holds beyond its stream, by event type."""


def _reported(type_: str) -> Rows:
    """An event a notification can report: its type, stream and identifying fields."""
    more = _REPORTED.get(type_)
    if more is None:
        return Rows("event", constant(type_), lambda f, p, x: {"stream": f.stream})
    return Rows("event", constant(type_), lambda f, p, x: {"stream": f.stream, **more(p)})


class KnowledgeView(View):
    """Who was told what, when: notifications, briefings, consultations, feedback, sharing,
    and the events they can report on."""

    name = "knowledge"
    schema = 2
    unwrap_late = True
    table: ClassVar[Mapping[str, Rows]] = joined({
        "InvestigativeNotificationSent": _told("notification", lambda f, p: {
            "from": f.actor.id, "to": p.to, "channel": p.channel,
            "subject": "potential case identified (R3)", "reports_type": "identification",
            "reports_at": format_time(p.identified_at)}),
        "NotificationAcknowledged": _told("acknowledgement", lambda f, p: {
            "from": f.actor.id, "to": None, "subject": "notification acknowledged",
            "reports_type": "InvestigativeNotificationSent"}),
        "NotificationMade": _told("notification", lambda f, p: {
            "from": p.from_, "to": p.to, "channel": p.channel, "subject": p.subject,
            "incident_id": p.incident_id}),
        "SCBPOBriefed": _told("briefing", lambda f, p: {
            "from": f.actor.id, "to": p.scbpo, "subject": "; ".join(p.topics),
            "topics": p.topics, "reports_type": "InterviewConducted"}),
        "USAONotified": _told("usao_notification", lambda f, p: {
            "from": f.actor.id, "to": f"USAO {p.district}", "subject": p.basis,
            "reports_type": "SeizureRecorded"}),
        "ProsecutorConsulted": _told("prosecutor_consulted", lambda f, p: {
            "from": f.actor.id, "to": p.with_, "subject": f"{p.district}: {p.position}",
            "reports_type": "ContrabandDiscovered"}),
        "ReceivingOfficeNotified": _told("receiving_office", lambda f, p: {
            "from": f.actor.id, "to": p.office, "subject": p.note or "operation",
            "reports_type": "OperationProposed"}),
        "FeedbackProvided": _told("feedback", lambda f, p: {
            "from": f.actor.id, "to": p.to_agency, "from_agency": p.from_agency,
            "subject": "feedback (R7): " + ", ".join(p.categories),
            "categories": list(p.categories), "results": p.results}),
        "InformationShared": _told("information_shared", lambda f, p: {
            "from": f.actor.id, "to": p.to_agency, "from_agency": p.from_agency,
            "subject": f"information shared on basis {p.basis}"
                       + (" (EU PNR-derived)" if p.pnr_derived else ""),
            "basis": p.basis, "pnr_derived": p.pnr_derived}),
    }.items(), ((t, _reported(t)) for t in sorted(REPORTABLE)))


# ---------------------------------------------------------------- surveillance
def _lost(fact: Fact, p: Any, x: Any) -> dict[str, Any]:
    last = p.last_confirmed
    return {"last_at": format_time(last.at), "last_position": last.position, "last_by": last.by,
            "cause": p.cause}


class SurveillanceView(View):
    """Surveillance and the moments that bound it (release, delivery, termination): one
    entry per event, keyed by its stream, of its type's kind."""

    name = "surveillance"
    table: ClassVar[Mapping[str, Rows]] = {
        t: Rows(t, stream, _lost if t == "SurveillanceLost" else payload) for t in (
        "SurveillanceStarted", "PositionObserved", "SurveillanceHandedOff",
        "SurveillanceLost", "SurveillanceReacquired", "SurveillanceEnded", "HoldReleased",
        "ReleasedUnderPassThrough", "DeliveryMade", "OperationTerminated",
        "OperationProposed", "TrackingDeviceInstalled", "TrackingDeviceFailed",
        "LoadBreached")}

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """The type's entry; a release only while an operation runs."""
        if fact.type == "HoldReleased":
            ops = prior.entries(fact.stream, ["OperationProposed", "OperationTerminated"])
            if not ops or ops[-1].kind != "OperationProposed":
                return []  # a release with no running operation is not a CD/PT release
        return super().entries(fact, prior)


# ---------------------------------------------------------------- incidents
class IncidentsView(View):
    """Incidents, their updates and closure, and notifications about them, keyed by
    incident id."""

    name = "incidents"
    unwrap_late = True
    table: ClassVar[Mapping[str, Rows]] = {
        "IncidentOccurred": Rows("occurred", field("incident_id"), payload),
        "IncidentUpdated": Rows("updated", field("incident_id"), payload),
        "IncidentClosed": Rows("closed", field("incident_id"), payload),
        "NotificationMade": Rows("notified", field("incident_id"), lambda f, p, x: {
            "from": p.from_, "to": p.to, "channel": p.channel, "subject": p.subject,
            "late_entry": f.late}, when=lambda p: p.incident_id is not None),
    }


# ---------------------------------------------------------------- PNR (R8)
class PnrView(View):
    """EU PNR records, their case links, disclosures, accesses and what was shared, keyed by
    record stream or case number."""

    name = "pnr"
    schema = 2
    table: ClassVar[Mapping[str, Rows]] = {
        "PNRRecordIngested": Rows("record", stream, payload),
        "ThirdPartyDisclosureAuthorized": Rows(
            "authorised", field("case_no"), lambda f, p, x: {**json_of(p), "record": f.stream}),
        "PNRAccessed": Rows("accessed", lambda f, p, x: p.case_no or "", payload),
        "PNRLinkedToCase": Rows("linked", field("case_no"),
                                lambda f, p, x: {"record": f.stream}),
        "PNRCaseArchived": Rows("archived", field("case_no"),
                                lambda f, p, x: {"record": f.stream}),
        "InformationShared": Rows("shared", stream, payload),
        "CaseAccepted": Rows("case_no", stream, fields("case_no")),
        # keyed by the record read (its stream)
        "RestrictedValuesRead": Rows("read", field("record"),
                                     lambda f, p, x: {**json_of(p), "access": f.stream}),
        "RestrictedValuesErased": Rows("erased", stream,
                                       lambda f, p, x: {**json_of(p), "record": f.stream}),
    }


VIEW_CLASSES: tuple[type[View], ...] = (
    CasesView, ResponsibilityView, CustodyView, ApprovalsView, KnowledgeView,
    SurveillanceView, DutiesView, IncidentsView, PnrView)


def default_views(config: Config) -> list[View]:
    """One instance of every view."""
    return [cls(config) for cls in VIEW_CLASSES]
