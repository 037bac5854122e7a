"""Rules of the operation: approvals, substitution, custody, surveillance, delivery, incidents."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from cdlog.domain import events as ev
from cdlog.domain.config import Config
from cdlog.domain.rules.common import _refuse, _require_actor, _require_party

if TYPE_CHECKING:
    from cdlog.domain.case import CaseState, Context, Fact


def required_approvals(state: CaseState, config: Config) -> list[str]:
    """Approvals the proposed operation needs before release, from the configuration."""
    op = state.operation
    if op is None:
        return []
    kinds = list(config.required_approvals.get(op.operation_type, ()))
    if op.mode.contents != "intact" and config.substitution_approval not in kinds:
        kinds.append(config.substitution_approval)
    if op.sensitive and config.sensitive_approval not in kinds:
        kinds.append(config.sensitive_approval)
    if state.origin_district and op.destination.district != state.origin_district and \
            config.destination_approval not in kinds:
        kinds.append(config.destination_approval)   # 1997 handbook: both districts concur
    if op.border == "international" and config.foreign_approval not in kinds:
        kinds.append(config.foreign_approval)       # Vienna art. 11: foreign consent
    for kind in config.origin_approvals.get(state.origin, ()):
        if kind not in kinds:
            kinds.append(kind)
    return kinds


def _check_release(state: CaseState, fact: Fact, config: Config) -> None:
    if not state.responsibility_assumed:
        raise _refuse("R2", fact, "release for a controlled delivery or pass-through before "
                      "OI assumed responsibility", "ResponsibilityAssumed first")
    required = required_approvals(state, config)
    missing = [k for k in required if k not in state.approvals]
    if missing:
        raise _refuse("approvals", fact, "release before the required approvals: missing "
                      + ", ".join(missing), "ApprovalGranted for each required kind")
    when = fact.occurred.end
    lapsed = [k for k in required if (until := state.approval_expiry.get(k)) and until < when]
    if lapsed:
        raise _refuse("approvals", fact, "release after approvals lapsed: "
                      + ", ".join(lapsed), "approvals valid at the time of release")


def _item_count_total(items: Sequence[ev.ItemRef]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item.item] = out.get(item.item, 0) + (item.count or 0)
    return out


def _check_proposed(state: CaseState, fact: Fact, ctx: Context) -> None:
    _require_actor(fact, "R1", "ICE", "OI", "plan an operation (planning outside the port "
                   "is OI's)")
    if not state.oi_leads:
        raise _refuse("R4", fact, "the case was not accepted by OI", "CaseAccepted first")
    if state.operation is not None and not state.terminated:
        raise _refuse("lifecycle", fact, "an operation is already proposed",
                      "OperationTerminated before a new proposal")


def _check_approval(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.ApprovalGranted | ev.ApprovalDenied | ev.ApprovalRequested)
    roles = ctx.config.approval_roles.get(p.kind)
    if roles is None:
        raise _refuse("approvals", fact, f"unknown approval kind {p.kind!r}",
                      "one of " + ", ".join(sorted(ctx.config.approval_roles)))
    if state.operation is None:
        raise _refuse("approvals", fact, "no operation was proposed", "OperationProposed first")
    if isinstance(p, ev.ApprovalGranted | ev.ApprovalDenied):
        if fact.actor.role not in roles:
            raise _refuse("approvals", fact, f"{p.kind} approval by {fact.actor.label}",
                          "an approver with role " + " or ".join(roles))
        if p.kind in state.approvals:
            raise _refuse("approvals", fact, f"{p.kind} was already granted", "one grant")


def _check_substitution(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.SubstitutionPerformed)
    if state.operation is None or state.operation.mode.contents == "intact":
        raise _refuse("approvals", fact, "no operation with substitution was proposed",
                      "OperationProposed with contents partial_ or full_substitution")
    kind = ctx.config.substitution_approval
    if kind not in state.approvals:
        raise _refuse("approvals", fact, f"substitution before the {kind!r} approval",
                      f"ApprovalGranted kind {kind} first")
    if p.removed.item != p.remaining.item:
        raise _refuse("items", fact, "removed and remaining name different items", "one item")
    holding = state.holdings.get(p.removed.item)
    if holding is None:
        raise _refuse("items", fact, f"item {p.removed.item!r} is unknown", "a discovered item")
    if p.removed.count is not None and p.remaining.count is not None and \
            p.removed.count + p.remaining.count != holding.total:
        raise _refuse("items", fact, f"removed {p.removed.count} + remaining "
                      f"{p.remaining.count} != {holding.total} held",
                      "counts that reconcile with the item ledger")


def _check_custody(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.CustodyTransferred)
    if p.from_ == p.to:
        raise _refuse("custody", fact, "from and to are the same party", "two parties")
    for party in (p.from_, p.to):
        if ctx.officer(party) is not None and party not in fact.signer_ids:
            raise _refuse("custody", fact, f"party {party!r} did not sign the hand-off",
                          "signatures of both officers")
    if not fact.signer_ids & {p.from_, p.to}:
        raise _refuse("custody", fact, f"recorded by {fact.actor.label}, not a party",
                      "the giving or receiving officer")
    for item, count in _item_count_total(p.items).items():
        holding = state.holdings.get(item)
        if holding is None:
            continue  # first seen at this hand-off (e.g. sham); the ledger starts here
        held = holding.holders.get(p.from_, 0)
        if count > held:
            raise _refuse("custody", fact, f"{p.from_!r} holds {held} of {item!r}, "
                          f"cannot hand over {count}", f"at most {held}")


def _check_surveillance(state: CaseState, fact: Fact, ctx: Context) -> None:
    need = {"SurveillanceStarted": ("none", "ended"), "PositionObserved": ("active", "lost"),
            "SurveillanceHandedOff": ("active",), "SurveillanceLost": ("active",),
            "SurveillanceReacquired": ("lost",), "SurveillanceEnded": ("active", "lost")}
    allowed = need[fact.type]
    _require_actor(fact, "R1", "ICE", "OI", "record surveillance outside the port")
    if state.surveillance not in allowed:
        raise _refuse("surveillance", fact, f"surveillance is {state.surveillance}",
                      "surveillance " + " or ".join(allowed))
    p = fact.payload
    if isinstance(p, ev.SurveillanceStarted) and p.cbp_shadow is not None:
        _require_party(ctx, fact, "cbp_shadow", p.cbp_shadow, "R5", "CBP")
    if isinstance(p, ev.SurveillanceLost) and p.last_confirmed.at > fact.occurred.end:
        raise _refuse("surveillance", fact, "last confirmed after the loss was detected",
                      "last_confirmed.at <= occurred")


def _check_delivery(state: CaseState, fact: Fact, ctx: Context) -> None:
    if state.operation is None:
        raise _refuse("R2", fact, "a delivery without a proposed controlled delivery or "
                      "pass-through", "OperationProposed (and its approvals) first")
    if not state.released:
        raise _refuse("R2", fact, "delivery before the load was released",
                      "HoldReleased or ReleasedUnderPassThrough first")


def _check_reconciled(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.InventoryReconciled)
    keys = set(p.expected) | set(p.found)
    diff = sum(abs(p.expected.get(k, 0) - p.found.get(k, 0)) for k in keys)
    if diff != p.discrepancy:
        raise _refuse("items", fact, f"discrepancy {p.discrepancy} but expected and found "
                      f"differ by {diff}", str(diff))


def _check_terminated(state: CaseState, fact: Fact, ctx: Context) -> None:
    _require_actor(fact, "R4", "ICE", "OI", "terminate an operation OI leads")
    if state.operation is None or state.terminated:
        raise _refuse("lifecycle", fact, "no operation is running", "OperationProposed")


def _check_incident(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.IncidentOccurred | ev.IncidentUpdated | ev.IncidentClosed)
    if isinstance(p, ev.IncidentOccurred):
        if p.incident_id in state.incidents:
            raise _refuse("incidents", fact, f"incident {p.incident_id!r} already recorded",
                          "a new incident id")
        if p.discovered_at < fact.occurred.start or p.discovered_at > fact.recorded:
            raise _refuse("incidents", fact, "discovered_at is before the incident or after "
                          "it was recorded", "occurred <= discovered_at <= recorded")
    elif state.incidents.get(p.incident_id) is not True:
        raise _refuse("incidents", fact, f"incident {p.incident_id!r} is not open",
                      "an open incident id")
