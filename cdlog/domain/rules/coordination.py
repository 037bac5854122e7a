"""Rules of CBP-ICE coordination (R5-R7, R9): interviews, briefings, shadows, feedback, actions."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from cdlog.domain import events as ev
from cdlog.domain.rules.common import _refuse, _require_actor, _require_party

if TYPE_CHECKING:
    from cdlog.domain.case import CaseState, Context, Fact


SUPERVISORS = {"SCBPO", "PortDirector", "GroupSupervisor", "SAC", "ASAC"}


def _check_notification_made(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.NotificationMade)
    if p.from_ != fact.actor.id:
        raise _refuse("knowledge", fact, f"from {p.from_!r} but recorded by {fact.actor.id}",
                      "the teller records it (or a LateEntryRecorded by someone else)")


def _check_interview(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.InterviewConducted)
    _require_actor(fact, "R6", "ICE", "OI", "conduct a defendant interview")
    if p.cbp_present:
        if p.cbp_officer is None:
            raise _refuse("R6", fact, "cbp_present without cbp_officer", "the CBP officer's id")
        _require_party(ctx, fact, "cbp_officer", p.cbp_officer, "R6", "CBP")


def _check_briefed(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.SCBPOBriefed)
    _require_actor(fact, "R6", "ICE", "OI", "brief the SCBPO")
    _require_party(ctx, fact, "scbpo", p.scbpo, "R6", "CBP", "OFO", role="SCBPO")


def _check_shadow(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.ShadowAssigned)
    config = ctx.config
    ports = [x for x in (state.port, *state.ports) if x]
    if ports and p.port not in ports:
        raise _refuse("R5", fact, f"port {p.port} is not a port of the case "
                      f"({', '.join(dict.fromkeys(ports))})",
                      f"the port the case was opened at ({state.port}) or where it was "
                      "examined")
    if p.port not in config.pilot_ports:
        raise _refuse("R5", fact, f"port {p.port} is not a Title 21 pilot port",
                      "a port of the pilot locations: " + "; ".join(
                          f"{name} ({', '.join(codes)})"
                          for name, codes in config.pilot_locations.items()))
    if config.pilot_start is not None:
        day = fact.occurred.start.astimezone(config.zone(p.port)).date()
        end = config.pilot_start + timedelta(days=config.pilot_days)
        if not config.pilot_start <= day < end:
            raise _refuse("R5", fact, f"{day} is outside the pilot's evaluation "
                          f"({config.pilot_start} for {config.pilot_days} days)",
                          f"a day from {config.pilot_start} to {end - timedelta(days=1)} "
                          "(configuration: pilot_start, pilot_days)")
    if not state.oi_leads or state.case_no != p.case_no:
        if state.origin != "ofo_interdiction":
            raise _refuse("R5", fact, f"no OI case {p.case_no!r}: the case's OI number (given "
                          f"when it was opened) is {state.case_no!r}",
                          "the OI case number of the case's origin")
        raise _refuse("R5", fact, f"no accepted OI case {p.case_no!r}",
                      f"the accepted case number {state.case_no!r}")
    if not any(h.category in config.title21_categories for h in state.holdings.values()):
        raise _refuse("R5", fact, "the case has no Title 21 (controlled substance) items",
                      "items of category " + "/".join(config.title21_categories))
    _require_party(ctx, fact, "cbp_officer", p.cbp_officer, "R5", "CBP", "OFO")
    _require_party(ctx, fact, "oi_agent", p.oi_agent, "R5", "ICE", "OI")


def _check_shadow_released(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.ShadowReleased)
    if p.cbp_officer not in state.shadows:
        raise _refuse("R5", fact, f"{p.cbp_officer!r} holds no shadow assignment",
                      "ShadowAssigned first")


def _check_feedback(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.FeedbackProvided)
    if p.from_agency != fact.actor.agency:
        raise _refuse("R7", fact, f"from_agency {p.from_agency} but given by {fact.actor.label}",
                      fact.actor.agency)
    recipients = {*ctx.config.agencies, *ctx.config.dhs_components, state.origin_agency}
    if p.to_agency == p.from_agency or p.to_agency not in recipients:
        raise _refuse("R7", fact, f"to_agency {p.to_agency!r}",
                      "another agency: a configured agency or DHS component, or the case's "
                      f"originating agency ({state.origin_agency})")


def _check_action_assigned(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.ActionItemAssigned)
    if state.duty("action_item", p.item_id) is not None:
        raise _refuse("R9", fact, f"action item {p.item_id!r} already exists", "a new item id")


def _check_action_done(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.ActionItemCompleted | ev.ActionItemWaived)
    duty = state.duty("action_item", p.item_id)
    if duty is None or duty.done_at is not None:
        raise _refuse("R9", fact, f"action item {p.item_id!r} is not open", "an open item id")
    actor = fact.actor
    owners = {actor.id, actor.office, f"{actor.agency}/{actor.office}", actor.aor, actor.unit}
    if duty.owner not in owners and actor.id != duty.assigned_by and \
            actor.role not in SUPERVISORS:
        raise _refuse("R9", fact, f"recorded by {actor.label}, not the owner",
                      f"the owner {duty.owner!r} (an officer, or an officer of that office), "
                      "the assigner or a supervisor")
