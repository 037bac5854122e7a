"""Folding allowed facts into a :class:`~cdlog.domain.case.CaseState`, and deriving duties.

:func:`evolve` never checks anything (that is :func:`cdlog.domain.case.check`); it only moves
the state on. :func:`overdue` derives what is late at a given time: "overdue" is never
recorded by a person (R9).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from cdlog.domain import events as ev
from cdlog.domain.case import CaseState, Duty, Fact, Holding
from cdlog.domain.config import Config

RESULT_EVENTS = {  # R7: events whose results the receiving agency must feed back
    "CaseDeclined": "declination",
    "ArrestMade": "investigation",
    "OperationTerminated": "controlled_delivery",
    "ProsecutionMilestone": "prosecution",
}
PORT_RESULT_EVENTS = {  # R7: OFO's results on information or requests from OI
    "ExaminationConducted": "secondary_examination",
    "SeizureRecorded": "seizure",
    "PenaltyAssessed": "penalty",
}
PORT_ACTS = frozenset({"ConveyanceArrived", "ExaminationReferred", "ExaminationConducted",
                       "ContrabandDiscovered", "HoldPlaced", "HoldReleased", "SeizureRecorded",
                       "ReleasedUnderPassThrough"})
CASE_CLASSES: tuple[type[ev.Payload], ...] = (
    ev.CaseOpened, ev.ContrabandDiscovered, ev.HoldPlaced, ev.HoldReleased,
    ev.ReleasedUnderPassThrough, ev.InvestigativeNotificationSent, ev.CaseAccepted,
    ev.CaseDeclined, ev.ResponsibilityAssumed, ev.ResponsibilityReleased, ev.OperationProposed,
    ev.ApprovalGranted, ev.ProsecutorConsulted, ev.USAONotified, ev.CustodyTransferred,
    ev.SurveillanceStarted, ev.SurveillanceReacquired, ev.SurveillanceLost,
    ev.SurveillanceEnded, ev.DeliveryMade, ev.OperationTerminated, ev.IncidentOccurred,
    ev.IncidentClosed, ev.InterviewConducted, ev.SCBPOBriefed, ev.ShadowAssigned,
    ev.ShadowReleased, ev.ActionItemAssigned, ev.ActionItemCompleted, ev.ActionItemWaived,
    ev.FeedbackProvided, ev.PNRRecordIngested, ev.CaseClosed)
"""Every class a case of :func:`_fold`'s match names (tests/domain/test_evolve_dispatch.py
holds the two equal). A payload of none of them skips the match: each case is an
``isinstance`` through pydantic's ``ABCMeta``, about 33 of them for such an event."""
_HAS_CASE: dict[type, bool] = {}


def start_state(stream: str) -> CaseState:
    """Return the empty state of a stream."""
    return CaseState(stream=stream, kind=stream.partition(":")[0])


def _give(state: CaseState, item: str, holder: str, count: int, category: str | None = None,
          initial: int | None = None) -> None:
    holding = state.holdings.setdefault(item, Holding(category=category, initial_count=initial))
    holding.holders[holder] = holding.holders.get(holder, 0) + count


def evolve(state: CaseState, fact: Fact, config: Config) -> CaseState:
    """Fold one allowed fact into ``state`` (mutated in place and returned)."""
    state.version = fact.version
    state.last_recorded = fact.recorded
    p = fact.payload
    when = fact.occurred.end
    cls = type(p)
    has_case = _HAS_CASE.get(cls)
    if has_case is None:
        has_case = _HAS_CASE[cls] = issubclass(cls, CASE_CLASSES)
    if has_case:  # else no case of _fold's match names it: it would try each and do nothing
        _fold(state, fact, p, when, config)
    if fact.type in PORT_ACTS and _is_ofo(fact):
        state.port_acted = True
        port = getattr(p, "port", None)
        if port and port != state.port and port not in state.ports:
            state.ports.append(port)
    _open_feedback_duty(state, fact, config)
    return state


def _fold(state: CaseState, fact: Fact, p: ev.Payload, when: datetime, config: Config
          ) -> None:
    """The part of :func:`evolve` proper to each event type (one case per type)."""
    match p:
        case ev.CaseOpened():
            state.reference = p.reference
            state.port = p.port
            if p.origin is not None:
                state.origin = p.origin.kind
                state.origin_agency = p.origin.agency
                state.origin_office = p.origin.office
                state.case_no = p.origin.case_no
        case ev.ContrabandDiscovered():
            state.discovered = True
            state.identified_at = state.identified_at or when
            for item in p.items:
                _give(state, item.item_id, fact.actor.id, item.count or 0, item.category,
                      item.count)
        case ev.HoldPlaced():
            state.hold_active = True
        case ev.HoldReleased():
            state.hold_active = False
            if state.operation is not None and not state.terminated:
                state.released = True
        case ev.ReleasedUnderPassThrough():
            state.released = True
            state.hold_active = False
        case ev.InvestigativeNotificationSent():
            if state.notified_at is None:
                state.notified_at = when
                state.notified_to = p.to
                state.identified_at = p.identified_at
        case ev.CaseAccepted():
            state.decision, state.decided_at, state.case_no = "accepted", when, p.case_no
        case ev.CaseDeclined():
            state.decision, state.decided_at = "declined", when
        case ev.ResponsibilityAssumed():
            state.responsibility_assumed = True
        case ev.ResponsibilityReleased():
            state.responsibility_assumed = False
        case ev.OperationProposed():
            state.operation, state.approvals, state.approval_expiry = p, {}, {}
            state.terminated = state.released = False
        case ev.ApprovalGranted():
            state.approvals[p.kind] = when
            if p.valid_until is not None:
                state.approval_expiry[p.kind] = p.valid_until
        case ev.ProsecutorConsulted() | ev.USAONotified():
            state.origin_district = state.origin_district or p.district
        case ev.CustodyTransferred():
            for moved in p.items:
                count = moved.count or 0
                holding = state.holdings.get(moved.item)
                if holding is None:
                    _give(state, moved.item, p.from_, count)
                    holding = state.holdings[moved.item]
                holding.holders[p.from_] = holding.holders.get(p.from_, 0) - count
                if holding.holders[p.from_] <= 0:
                    del holding.holders[p.from_]
                _give(state, moved.item, p.to, count)
        case ev.SurveillanceStarted() | ev.SurveillanceReacquired():
            state.surveillance = "active"
        case ev.SurveillanceLost():
            state.surveillance = "lost"
        case ev.SurveillanceEnded():
            state.surveillance = "ended"
        case ev.DeliveryMade():
            state.delivered = True
        case ev.OperationTerminated():
            state.terminated = True
        case ev.IncidentOccurred():
            state.incidents[p.incident_id] = True
        case ev.IncidentClosed():
            state.incidents[p.incident_id] = False
        case ev.InterviewConducted() if not p.cbp_present:
            state.duties.append(Duty(
                kind="briefing", key=p.subject_ref, owner=fact.actor.id, opened_at=when,
                due=when + config.deadlines.briefing_after_interview,
                what=f"brief the SCBPO on the interview of {p.subject_ref} (R6)"))
        case ev.SCBPOBriefed():
            _close_briefings(state, p, when)
        case ev.ShadowAssigned():
            state.shadows.add(p.cbp_officer)
        case ev.ShadowReleased():
            state.shadows.discard(p.cbp_officer)
        case ev.ActionItemAssigned():
            zone = config.zone(p.port or state.port)
            start = datetime(p.due.year, p.due.month, p.due.day, tzinfo=zone)
            state.duties.append(Duty(
                kind="action_item", key=p.item_id, owner=p.owner, opened_at=when,
                due=start + timedelta(days=1), due_day=p.due, what=p.what,
                assigned_by=fact.actor.id))
        case ev.ActionItemCompleted() | ev.ActionItemWaived():
            duty = state.duty("action_item", p.item_id)
            if duty is not None:
                duty.done_at = when
                duty.waived = isinstance(p, ev.ActionItemWaived)
        case ev.FeedbackProvided():
            for duty in state.duties:
                if duty.kind == "feedback" and duty.done_at is None and \
                        duty.owner == p.from_agency and duty.to in ("", p.to_agency) and \
                        duty.opened_at <= when:
                    duty.done_at = when
        case ev.PNRRecordIngested():
            state.pnr_ingested = True
        case ev.CaseClosed():
            state.closed = True
        case _:
            pass


def _is_ofo(fact: Fact) -> bool:
    return fact.actor.agency == "CBP" and fact.actor.office == "OFO"


def _close_briefings(state: CaseState, p: ev.SCBPOBriefed, when: datetime) -> None:
    open_duties = [d for d in state.duties if d.kind == "briefing" and d.done_at is None]
    named = [d for d in open_duties if any(d.key in topic for topic in p.topics)]
    for duty in named or open_duties[:1]:
        duty.done_at = when


def feedback_owed(state: CaseState, fact: Fact) -> list[tuple[str, str, str]]:
    """R7: the feedback a result opens, as ``(owing agency, owed to, category)`` triples.

    The receiving agency owes the originating one, in both directions: in an OFO interdiction
    notified to OI, ICE owes CBP its results (investigation, controlled delivery,
    prosecution, declination). In a case that began with OI (its own investigation, a
    foreign request, a partner referral), ICE owes its results to the originating agency
    (when that is not ICE itself) and to CBP once the port examined, held or released for
    it; and CBP owes ICE the results of the port actions OI's information led to (secondary
    examinations, seizures, penalties). See :func:`feedback_owed_for` for the same without a
    :class:`CaseState`.
    """
    return feedback_owed_for(fact.type, fact.actor.agency, fact.actor.office,
                             origin=state.origin, origin_agency=state.origin_agency,
                             notified=state.notified_to is not None,
                             port_acted=state.port_acted)


def feedback_owed_for(event_type: str, agency: str, office: str, *, origin: str,
                      origin_agency: str, notified: bool,
                      port_acted: bool) -> list[tuple[str, str, str]]:
    """:func:`feedback_owed` from plain values (for projections that keep no case state):
    the event type and its recorder's agency and office, the case's origin kind and
    originating agency, whether OFO notified OI (R3) and whether OFO acted at the port (a
    port act of :data:`PORT_ACTS` recorded by CBP/OFO) up to and including this event."""
    if origin == "ofo_interdiction":
        category = RESULT_EVENTS.get(event_type)
        if category is None or not notified:
            return []
        return [("ICE", "CBP", category)]
    category = RESULT_EVENTS.get(event_type)
    if category is not None:
        owed = [origin_agency] if origin_agency != "ICE" else []
        if port_acted and "CBP" not in owed:
            owed.append("CBP")
        return [("ICE", to, category) for to in owed]
    category = PORT_RESULT_EVENTS.get(event_type)
    if category is not None and (agency, office) == ("CBP", "OFO"):
        return [("CBP", "ICE", category)]
    return []


def _open_feedback_duty(state: CaseState, fact: Fact, config: Config) -> None:
    if fact.type not in RESULT_EVENTS and fact.type not in PORT_RESULT_EVENTS:
        return  # feedback_owed_for owes nothing for it, whatever the case
    when = fact.occurred.end
    office = fact.actor.aor or fact.actor.office
    for owner, to, category in feedback_owed(state, fact):
        if any(d.kind == "feedback" and d.done_at is None and d.owner == owner and d.to == to
               for d in state.duties):
            continue  # one open feedback duty covers every result until feedback is given
        if state.origin == "ofo_interdiction":  # the form duties of OFO cases always had
            key = f"{category}@{fact.version}"
            what = f"feedback to the originating agency on the {category} result (R7)"
        else:
            key = f"{category}@{fact.version}>{to}"
            what = f"feedback from {owner} to {to} on the {category} result (R7)"
        state.duties.append(Duty(
            kind="feedback", key=key, owner=owner, opened_at=when,
            due=when + config.feedback_due_after(office), what=what, to=to))


@dataclass(frozen=True)
class Overdue:
    """A duty that was (or is) late: derived, never recorded."""

    kind: str
    key: str
    owner: str
    due: datetime
    became_overdue_at: datetime
    done_at: datetime | None
    what: str
    to: str = ""

    @property
    def event_type(self) -> str:
        """The derived event type (``ActionItemOverdue``, ``FeedbackOverdue``...)."""
        return {"action_item": "ActionItemOverdue", "feedback": "FeedbackOverdue"}.get(
            self.kind, "BriefingOverdue")


def overdue(state: CaseState, as_of: datetime) -> list[Overdue]:
    """Derive every duty of the case that was past due at ``as_of`` (done late or still open).

    A duty becomes overdue at the first instant past its due time (for a due *day*, midnight
    at the end of that day in the port's time zone).
    """
    out = []
    for duty in state.duties:
        if duty.waived or as_of < duty.due:
            continue
        if duty.done_at is not None and duty.done_at < duty.due:
            continue
        out.append(Overdue(duty.kind, duty.key, duty.owner, duty.due, duty.due,
                           duty.done_at if duty.done_at and duty.done_at <= as_of else None,
                           duty.what, duty.to))
    return out
