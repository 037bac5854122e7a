"""The case rules: :func:`check`, the structural checks, then one rule function per event type.

The rules of each stage of a case live in their own module (port, handover, operation,
coordination, sharing, restricted data); :func:`check` runs the checks every event passes and
then the one for its type. Pure like the rest of the domain: whatever the rules need from
outside the case comes through a :class:`~cdlog.domain.case.Context`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdlog.domain.rules.common import _refuse
from cdlog.domain.rules.coordination import (
    _check_action_assigned,
    _check_action_done,
    _check_briefed,
    _check_feedback,
    _check_interview,
    _check_notification_made,
    _check_shadow,
    _check_shadow_released,
)
from cdlog.domain.rules.handover import (
    _check_acknowledged,
    _check_closed,
    _check_decision,
    _check_notification,
    _check_prosecutor,
    _check_resp_assumed,
    _check_resp_released,
)
from cdlog.domain.rules.operation import (
    _check_approval,
    _check_custody,
    _check_delivery,
    _check_incident,
    _check_proposed,
    _check_reconciled,
    _check_substitution,
    _check_surveillance,
    _check_terminated,
    required_approvals,
)
from cdlog.domain.rules.port import (
    _check_case_opened,
    _check_discovery,
    _check_hold_released,
    _check_pass_through,
    _check_port_ofo,
    _check_seizure,
)
from cdlog.domain.rules.restricted import check_event as check_restricted
from cdlog.domain.rules.sharing import _check_correction, _check_late, _check_pnr, _check_shared

if TYPE_CHECKING:
    from cdlog.domain.case import CaseState, Context, Fact

__all__ = ["CLOSED_ALLOWED", "STREAM_TYPES_OPENING", "check", "required_approvals"]

STREAM_TYPES_OPENING = {"case": "CaseOpened", "pnr": "PNRRecordIngested"}
CLOSED_ALLOWED = {"LateEntryRecorded", "CorrectionRecorded"}


def check(state: CaseState, fact: Fact, ctx: Context) -> None:
    """Raise :class:`RuleViolationError` if ``fact`` may not be recorded in ``state``."""
    model = type(fact.payload)
    kind = fact.stream.partition(":")[0] if fact.stream else state.kind or "case"
    if model.DERIVED_ONLY:
        raise _refuse("R9", fact, "is derived by the rules and cannot be recorded by a person",
                      "let the rules derive it")
    if kind not in model.STREAMS:
        raise _refuse("stream", fact, f"does not belong in a {kind!r} stream",
                      f"a stream of kind {sorted(model.STREAMS)}")
    opening = STREAM_TYPES_OPENING.get(kind)
    if opening and (state.version == 0) != (fact.type == opening):
        raise _refuse("lifecycle", fact, f"a {kind} stream must begin with {opening}, once",
                      f"{opening} as version 1 only")
    if state.closed and fact.type not in CLOSED_ALLOWED:
        raise _refuse("lifecycle", fact, "the case is closed", "no new events after CaseClosed")
    if state.last_recorded is not None and fact.recorded < state.last_recorded:
        raise _refuse("time", fact, f"recorded {fact.recorded.isoformat()} before the previous "
                      f"event of this stream ({state.last_recorded.isoformat()})",
                      "a recording time that does not go back")
    if fact.occurred.end > fact.recorded:
        raise _refuse("time", fact, f"occurred {fact.occurred.end.isoformat()} is after it was "
                      f"recorded {fact.recorded.isoformat()}", "an event in the past")
    checker = _CHECKS.get(fact.type)
    if checker is not None:
        checker(state, fact, ctx)


_PORT_OPS = ("ConveyanceArrived", "ExaminationReferred", "ExaminationConducted", "HoldPlaced")
_CHECKS = {
    "CaseOpened": _check_case_opened,
    **dict.fromkeys(_PORT_OPS, _check_port_ofo),
    "ContrabandDiscovered": _check_discovery,
    "SeizureRecorded": _check_seizure,
    "HoldReleased": _check_hold_released,
    "ReleasedUnderPassThrough": _check_pass_through,
    "InvestigativeNotificationSent": _check_notification,
    "NotificationAcknowledged": _check_acknowledged,
    "ProsecutorConsulted": _check_prosecutor,
    "CaseAccepted": _check_decision,
    "CaseDeclined": _check_decision,
    "ResponsibilityAssumed": _check_resp_assumed,
    "ResponsibilityReleased": _check_resp_released,
    "OperationProposed": _check_proposed,
    "ApprovalRequested": _check_approval,
    "ApprovalGranted": _check_approval,
    "ApprovalDenied": _check_approval,
    "SubstitutionPerformed": _check_substitution,
    "CustodyTransferred": _check_custody,
    **dict.fromkeys(("SurveillanceStarted", "PositionObserved", "SurveillanceHandedOff",
                     "SurveillanceLost", "SurveillanceReacquired", "SurveillanceEnded"),
                    _check_surveillance),
    "DeliveryMade": _check_delivery,
    "InventoryReconciled": _check_reconciled,
    "OperationTerminated": _check_terminated,
    "IncidentOccurred": _check_incident,
    "IncidentUpdated": _check_incident,
    "IncidentClosed": _check_incident,
    "NotificationMade": _check_notification_made,
    "InterviewConducted": _check_interview,
    "SCBPOBriefed": _check_briefed,
    "ShadowAssigned": _check_shadow,
    "ShadowReleased": _check_shadow_released,
    "FeedbackProvided": _check_feedback,
    "ActionItemAssigned": _check_action_assigned,
    "ActionItemCompleted": _check_action_done,
    "ActionItemWaived": _check_action_done,
    "InformationShared": _check_shared,
    **dict.fromkeys(("PNRRecordIngested", "ThirdPartyDisclosureAuthorized", "PNRAccessed",
                     "PNRLinkedToCase", "PNRCaseArchived"), _check_pnr),
    "LateEntryRecorded": _check_late,
    "CorrectionRecorded": _check_correction,
    "RestrictedValuesRead": lambda state, fact, ctx: check_restricted(fact, ctx),
    "RestrictedValuesErased": lambda state, fact, ctx: check_restricted(fact, ctx),
    "CaseClosed": _check_closed,
}
