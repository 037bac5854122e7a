"""Rules of information sharing and EU PNR (R8), late entries and corrections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cdlog.domain import events as ev
from cdlog.domain.rules.common import _refuse, _require_actor

if TYPE_CHECKING:
    from cdlog.domain.case import CaseState, Context, Fact


def _check_shared(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.InformationShared)
    if p.from_agency != fact.actor.agency:
        raise _refuse("R8", fact, f"from_agency {p.from_agency} but shared by "
                      f"{fact.actor.label}", fact.actor.agency)
    _check_basis(fact, p, ctx)
    _check_pnr_gate(state, fact, p, ctx)


def _check_basis(fact: Fact, p: ev.InformationShared, ctx: Context) -> None:
    """R8: need to know is the basis between DHS components only (no third parties)."""
    if p.basis != "dhs_need_to_know":
        return
    outside = [a for a in (p.from_agency, p.to_agency) if a not in ctx.config.dhs_components]
    if outside:
        raise _refuse("R8", fact, f"basis dhs_need_to_know with {', '.join(outside)}, outside "
                      "DHS (need to know applies between DHS components only)",
                      "another basis (third_party_rule, routine_use, court) for an agency "
                      "outside DHS")


def _check_pnr_gate(state: CaseState, fact: Fact, p: ev.InformationShared,
                    ctx: Context) -> None:
    """R8: EU PNR-derived data leaves CBP only under a prior, unexpired authorisation."""
    if not p.pnr_derived or p.eu_pnr is False or p.to_agency == "CBP":
        return
    if p.basis != "third_party_rule":
        raise _refuse("R8", fact, f"EU PNR-derived data to {p.to_agency} on basis {p.basis}",
                      "basis third_party_rule with a ThirdPartyDisclosureAuthorized")
    when = fact.occurred.start
    day = when.astimezone(ctx.config.zone(state.port)).date()  # expiry day at the port
    ok = [d for d in ctx.disclosures(state.case_no or "")
          if d.requesting_agency == p.to_agency and d.authorised_at <= when
          and day <= d.expires]
    if not ok:
        raise _refuse("R8", fact, f"no ThirdPartyDisclosureAuthorized for {p.to_agency} on "
                      f"case {state.case_no!r} in force at {when.isoformat()}",
                      "a prior, unexpired third-party disclosure authorisation")


def _check_pnr(state: CaseState, fact: Fact, ctx: Context) -> None:
    _require_actor(fact, "R8", "CBP", None, "handle EU PNR (CBP is its primary receiver)")
    p = fact.payload
    if isinstance(p, ev.ThirdPartyDisclosureAuthorized):
        day = fact.occurred.end.astimezone(ctx.config.zone(None)).date()
        if p.expires < day:
            raise _refuse("R8", fact, f"the authorisation expired on {p.expires}, before it "
                          "was given", "an expiry date on or after the authorisation")


def _check_late(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.LateEntryRecorded)
    try:
        wrapped = p.wrapped()
    except ValueError as exc:
        raise _refuse("late", fact, f"the wrapped {p.wraps} is invalid: {exc}",
                      f"the fields of {p.wraps}") from None
    if isinstance(wrapped, ev.InformationShared):  # a late entry is no way around R8
        _check_basis(fact, wrapped, ctx)
        _check_pnr_gate(state, fact, wrapped, ctx)
    lag = fact.recorded - fact.occurred.end
    if lag <= ctx.config.deadlines.late_entry_after:
        raise _refuse("late", fact, f"entered {lag} after it happened, which is not late",
                      f"a lag over {ctx.config.deadlines.late_entry_after}; record the event "
                      "itself")


def _check_correction(state: CaseState, fact: Fact, ctx: Context) -> None:
    p = fact.payload
    assert isinstance(p, ev.CorrectionRecorded)
    if p.corrects_version >= fact.version:
        raise _refuse("lifecycle", fact, f"corrects version {p.corrects_version}, which is "
                      "not earlier", f"a version below {fact.version}")
