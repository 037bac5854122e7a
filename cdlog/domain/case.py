"""The case aggregate as a pure state machine: facts in, state out, rules checked on the way.

:func:`check` raises :class:`~cdlog.errors.RuleViolationError` when an event may not happen in
the current state; :func:`evolve` folds an allowed event into the state. The application calls
both before it records a command, and the verifier calls both again while it replays the log,
so a rule broken by a forged or reordered row is found on replay too. No I/O happens here:
whatever the rules need from outside the case (other officers' certificates, PNR
authorisations, configuration) comes through a :class:`Context`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Protocol

from cdlog.domain import events as ev
from cdlog.domain.config import Config
from cdlog.domain.values import Occurred, Officer
from cdlog.errors import RuleViolationError


@dataclass(frozen=True)
class Fact:
    """One recorded event as the domain sees it (no hashes, no signatures)."""

    type: str
    payload: ev.Payload
    occurred: Occurred
    recorded: datetime
    actor: Officer
    cosigners: tuple[Officer, ...] = ()
    version: int = 1
    stream: str = ""
    late: bool = False

    @property
    def signer_ids(self) -> set[str]:
        """Ids of everyone who signed: the actor and the cosigners."""
        return {self.actor.id} | {c.id for c in self.cosigners}


@dataclass(frozen=True)
class Disclosure:
    """A third-party disclosure authorisation for EU PNR (R8), as seen from the case."""

    case_no: str
    requesting_agency: str
    authorised_at: datetime
    expires: date
    stream: str
    version: int


class Context(Protocol):
    """What the rules may ask of the world outside the case."""

    @property
    def config(self) -> Config:
        """The rule configuration."""
        ...

    def officer(self, officer_id: str) -> Officer | None:
        """The certified identity of an officer id, or None when it names no officer."""
        ...

    def disclosures(self, case_no: str) -> Sequence[Disclosure]:
        """PNR disclosure authorisations recorded so far for an OI case number."""
        ...


@dataclass
class Holding:
    """What is known of one item: first description and who holds how many."""

    category: str | None
    initial_count: int | None
    holders: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        """Units held by anyone."""
        return sum(self.holders.values())


@dataclass
class Duty:
    """An obligation the rules opened: what, who owes it, when due, when done."""

    kind: str               # "briefing" (R6), "action_item" (R9), "feedback" (R7)
    key: str
    owner: str
    opened_at: datetime
    due: datetime
    due_day: date | None = None
    done_at: datetime | None = None
    waived: bool = False
    what: str = ""
    assigned_by: str = ""
    to: str = ""            # feedback (R7): the agency it is owed to


@dataclass
class CaseState:
    """Everything the rules need to know about one stream so far."""

    stream: str = ""
    kind: str = ""
    version: int = 0
    reference: str = ""
    port: str | None = None
    origin: str = "ofo_interdiction"
    origin_agency: str = "CBP"
    origin_office: str | None = "OFO"
    ports: list[str] = field(default_factory=list)
    port_acted: bool = False
    closed: bool = False
    discovered: bool = False
    holdings: dict[str, Holding] = field(default_factory=dict)
    hold_active: bool = False
    notified_at: datetime | None = None
    notified_to: str | None = None
    identified_at: datetime | None = None
    decision: str | None = None
    decided_at: datetime | None = None
    case_no: str | None = None
    responsibility_assumed: bool = False
    operation: ev.OperationProposed | None = None
    approvals: dict[str, datetime] = field(default_factory=dict)
    approval_expiry: dict[str, datetime] = field(default_factory=dict)
    origin_district: str | None = None
    released: bool = False
    terminated: bool = False
    surveillance: str = "none"
    delivered: bool = False
    incidents: dict[str, bool] = field(default_factory=dict)
    shadows: set[str] = field(default_factory=set)
    duties: list[Duty] = field(default_factory=list)
    pnr_ingested: bool = False
    last_recorded: datetime | None = None

    def duty(self, kind: str, key: str) -> Duty | None:
        """Return an open or closed duty by kind and key."""
        return next((d for d in self.duties if d.kind == kind and d.key == key), None)

    @property
    def oi_leads(self) -> bool:
        """True when OI leads the case: it accepted it from OFO (R4), or the case did not
        begin as an OFO interdiction (OI's own, a foreign request, a partner referral), in
        which case it is OI's from its opening."""
        return self.decision == "accepted" or self.origin != "ofo_interdiction"

    @property
    def running(self) -> bool:
        """True while a proposed operation has not been terminated."""
        return self.operation is not None and not self.terminated


# ---------------------------------------------------------------- helpers
def _refuse(rule: str, fact: Fact, problem: str, expected: str = "") -> RuleViolationError:
    return RuleViolationError(rule, fact.type, problem, expected)


def _is(officer: Officer | None, agency: str, office: str | None = None) -> bool:
    return officer is not None and officer.agency == agency and (
        office is None or officer.office == office)


def _require_actor(fact: Fact, rule: str, agency: str, office: str | None,
                   what: str) -> None:
    if not _is(fact.actor, agency, office):
        who = f"{agency}/{office}" if office else agency
        raise _refuse(rule, fact, f"recorded by {fact.actor.label}; only {who} may {what}",
                      f"an actor of {who}")


def _require_party(ctx: Context, fact: Fact, field_name: str, party: str, rule: str,
                   agency: str, office: str | None = None, role: str | None = None) -> Officer:
    officer = ctx.officer(party)
    who = f"{agency}/{office}" if office else agency
    if officer is None or not _is(officer, agency, office) or (
            role is not None and officer.role != role):
        found = officer.label if officer else "no certified officer"
        want = f"a certified {who} officer" + (f" with role {role}" if role else "")
        raise _refuse(rule, fact, f"{field_name} {party!r} is {found}", want)
    return officer


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


# ---------------------------------------------------------------- the rules
STREAM_TYPES_OPENING = {"case": "CaseOpened", "pnr": "PNRRecordIngested"}
CLOSED_ALLOWED = {"LateEntryRecorded", "CorrectionRecorded"}
SUPERVISORS = {"SCBPO", "PortDirector", "GroupSupervisor", "SAC", "ASAC"}


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


def _check_restricted(fact: Fact, ctx: Context) -> None:
    """Issue 11: a read's actor must be entitled at the read; only the owner erases."""
    from cdlog.restricted.access import check_event  # noqa: PLC0415 - it imports this module

    check_event(fact, ctx)


def _check_closed(state: CaseState, fact: Fact, ctx: Context) -> None:
    if state.responsibility_assumed:
        raise _refuse("R2", fact, "OI still holds responsibility",
                      "ResponsibilityReleased before CaseClosed")


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
    "RestrictedValuesRead": lambda state, fact, ctx: _check_restricted(fact, ctx),
    "RestrictedValuesErased": lambda state, fact, ctx: _check_restricted(fact, ctx),
    "CaseClosed": _check_closed,
}
