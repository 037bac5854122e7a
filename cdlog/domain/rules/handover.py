"""Rules of the hand-over to OI (R2-R4): notification, decision, responsibility, closing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdlog.domain import events as ev
from cdlog.domain.rules.common import _is, _refuse, _require_actor, _require_party

if TYPE_CHECKING:
    from cdlog.domain.case import CaseState, Context, Fact


def _check_notification(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.InvestigativeNotificationSent)
    actor = fact.actor
    roles = ctx.config.notifier_roles
    if not _is(actor, "CBP", "OFO"):
        raise _refuse("R3", fact, f"recorded by {actor.label}; the investigative notification "
                      "is the CBPO (Enforcement)'s notice to OI of a case found at the port. "
                      "Information from another agency is recorded as InformationShared, or "
                      "as the case's origin (partner_referral, foreign_request) when OI opens "
                      "a case from it", "a CBP/OFO officer with role " + " or ".join(roles))
    if actor.role not in roles:
        raise _refuse("R3", fact, f"recorded by {actor.label}; the memo names the CBP Officers "
                      "(Enforcement) as the ones who notify OI",
                      "a CBP/OFO officer with role " + " or ".join(roles) + " (configurable: "
                      "notifier_roles)")
    _require_party(ctx, fact, "to", p.to, "R3", "ICE", "OI")
    if p.identified_at > fact.occurred.end:
        raise _refuse("R3", fact, "identified_at is after the notification",
                      "identification at or before notification")


def _check_acknowledged(state: CaseState, fact: Fact, ctx: Context) -> None:
    _require_actor(fact, "R3", "ICE", "OI", "acknowledge an investigative notification")
    if state.notified_at is None:
        raise _refuse("R3", fact, "nothing was notified", "InvestigativeNotificationSent first")


def _check_prosecutor(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.ProsecutorConsulted)
    officer = ctx.officer(p.with_)
    if officer is not None and officer.agency != "DOJ":
        raise _refuse("R4", fact, f"with {p.with_!r} is {officer.label}", "a DOJ prosecutor")


def _check_decision(state: CaseState, fact: Fact, ctx: Context) -> None:
    _require_actor(fact, "R4", "ICE", "OI", "accept or decline a case")
    if state.origin != "ofo_interdiction":
        raise _refuse("R4", fact, f"the case began as {state.origin} and is OI's from its "
                      "opening; acceptance applies to investigations OI accepts from OFO",
                      "no CaseAccepted/CaseDeclined (end it with OperationTerminated or "
                      "CaseClosed and a reason)")
    for c in fact.cosigners:
        if not _is(c, "ICE", "OI"):
            raise _refuse("R4", fact, f"co-signed by {c.label}", "ICE/OI co-signers only")
    if state.notified_at is None:
        raise _refuse("R4", fact, "OI was never notified of this case",
                      "InvestigativeNotificationSent before the decision")
    if state.decision is not None:
        raise _refuse("R4", fact, f"the case was already {state.decision}",
                      "one decision: accepted or declined")


def _check_resp_assumed(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.ResponsibilityAssumed)
    _require_actor(fact, "R2", "ICE", "OI", "assume responsibility")
    if (p.agency, p.office) != ("ICE", "OI"):
        raise _refuse("R2", fact, f"responsibility given to {p.agency}/{p.office}", "ICE/OI")
    if not state.oi_leads:
        raise _refuse("R2", fact, "OI has not accepted the case", "CaseAccepted first")
    if state.responsibility_assumed:
        raise _refuse("R2", fact, "OI already holds responsibility", "one assumption at a time")
    if p.acknowledged_by_ofo is not None:
        _require_party(ctx, fact, "acknowledged_by_ofo", p.acknowledged_by_ofo, "R2", "CBP",
                       "OFO")


def _check_resp_released(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.ResponsibilityReleased)
    _require_actor(fact, "R2", "ICE", "OI", "release responsibility")
    if not state.responsibility_assumed:
        raise _refuse("R2", fact, "OI does not hold responsibility", "ResponsibilityAssumed")
    if state.running:
        raise _refuse("R2", fact, "the operation is still running; OI is responsible for any "
                      "and all events or incidents arising from it",
                      "OperationTerminated before ResponsibilityReleased")
    if p.to_office is not None and p.to_agency is None:
        raise _refuse("R2", fact, f"to_office {p.to_office} without to_agency",
                      "to_agency with to_office")
    if p.to_agency is not None and p.to_agency not in ctx.config.agencies and \
            p.to_agency not in ctx.config.dhs_components:
        raise _refuse("R2", fact, f"to_agency {p.to_agency!r}", "a configured agency")


def _check_closed(state: CaseState, fact: Fact, ctx: Context) -> None:
    if state.responsibility_assumed:
        raise _refuse("R2", fact, "OI still holds responsibility",
                      "ResponsibilityReleased before CaseClosed")
