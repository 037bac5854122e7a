"""Rules at the port (R1): opening a case by its origin, OFO's port operations, releases."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdlog.domain import events as ev
from cdlog.domain.rules.common import _is, _refuse, _require_actor, _require_party
from cdlog.domain.rules.operation import _check_release

if TYPE_CHECKING:
    from cdlog.domain.case import CaseState, Context, Fact


ORIGIN_OPENERS_WHY = {
    "ofo_interdiction": "open a case from an interdiction at a port of entry (OFO runs the "
                        "operations and interdictions within the ports)",
    "oi_investigation": "open a case from OI's own investigation (OI is the investigative arm)",
    "foreign_request": "open a case from a foreign request (relayed by an ICE attaché)",
    "partner_referral": "open a case from another agency's referral (OI receives it)",
}


def _check_case_opened(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.CaseOpened)
    origin = p.origin
    kind = origin.kind if origin is not None else "ofo_interdiction"
    agency, office, roles = ctx.config.openers.get(kind, ("CBP", "OFO", ("*",)))
    actor = fact.actor
    if actor.agency != agency or office not in ("*", actor.office) or (
            "*" not in roles and actor.role not in roles):
        who = agency + (f"/{office}" if office != "*" else "")
        if "*" not in roles:
            who += " with role " + " or ".join(roles)
        raise _refuse("R1", fact, f"recorded by {actor.label}; only {who} may "
                      f"{ORIGIN_OPENERS_WHY[kind]}", f"an actor of {who}")
    if origin is None:
        return
    expected = {"ofo_interdiction": ("CBP", "OFO"), "oi_investigation": ("ICE", "OI")}.get(kind)
    if expected is not None and (origin.agency, origin.office or expected[1]) != expected:
        raise _refuse("origin", fact, f"origin {kind} names {origin.agency}/{origin.office}",
                      f"originating agency {expected[0]}/{expected[1]}")
    if kind == "foreign_request":
        if origin.agency in ctx.config.agencies or origin.agency in ctx.config.dhs_components:
            raise _refuse("origin", fact, f"a foreign request originated by {origin.agency}, "
                          "a U.S. agency", "the foreign authority that made the request")
        if origin.via is not None and origin.via != actor.id:
            raise _refuse("origin", fact, f"relayed via {origin.via!r} but opened by {actor.id}",
                          "the attaché who relays the request opens the case")
    if kind == "partner_referral" and origin.agency in ("ICE", "CBP") and \
            origin.office in (None, "OI", "OFO"):
        raise _refuse("origin", fact, f"a partner referral from {origin.agency}/"
                      f"{origin.office}", "another agency or component (DEA, FBI, USCG, "
                      "a state or local agency); OFO's own finds are ofo_interdiction")
    if kind == "ofo_interdiction" and origin.case_no is not None:
        raise _refuse("R4", fact, "an OI case number on an OFO interdiction's opening",
                      "the case number in CaseAccepted, when OI accepts the case")


def _check_port_ofo(state: CaseState, fact: Fact, ctx: Context) -> None:
    _require_actor(fact, "R1", "CBP", "OFO", "record port operations and interdictions")


def _check_discovery(state: CaseState, fact: Fact, ctx: Context) -> None:
    _check_port_ofo(state, fact, ctx)
    assert isinstance(fact.payload, ev.ContrabandDiscovered)
    for item in fact.payload.items:
        if item.item_id in state.holdings:
            raise _refuse("items", fact, f"item {item.item_id!r} was already recorded",
                          "a new item id")


def _check_seizure(state: CaseState, fact: Fact, ctx: Context) -> None:
    if not (_is(fact.actor, "CBP", "OFO") or _is(fact.actor, "ICE", "OI")):
        raise _refuse("R1", fact, f"recorded by {fact.actor.label}", "a CBP/OFO or ICE/OI actor")


def _check_hold_released(state: CaseState, fact: Fact, ctx: Context) -> None:
    _check_port_ofo(state, fact, ctx)
    if not state.hold_active:
        raise _refuse("lifecycle", fact, "there is no hold to release", "HoldPlaced first")
    if state.operation is not None and not state.terminated:
        _check_release(state, fact, ctx.config)


def _check_pass_through(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.ReleasedUnderPassThrough)
    _require_party(ctx, fact, "requested_by", p.requested_by, "R1", "ICE", "OI")
    _require_party(ctx, fact, "authorised_by", p.authorised_by, "R1", "CBP", "OFO")
    if p.authorised_by not in fact.signer_ids:  # COSIGN: the authorising officer signs
        raise _refuse("R1", fact, f"authorised_by {p.authorised_by!r} did not sign the release",
                      "the signature of the authorising OFO officer")
    if state.operation is None or state.operation.operation_type != "pass_through":
        raise _refuse("lifecycle", fact, "no pass-through operation was proposed",
                      "OperationProposed with operation_type pass_through")
    _check_release(state, fact, ctx.config)
