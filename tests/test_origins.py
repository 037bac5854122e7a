"""Issue 10: cases that OI, an ICE attaché or a partner starts, not only OFO interdictions.

Part 1 replays the worked scenarios of examples/scenarios/origins (one per origin, one of them
spanning two ports and districts): every step recorded, the store verifies, the expected
answers hold through the queries, and the feedback duties the rules derive run both ways.
Part 2 tests every rule per origin on the allowed and the refused path (a refused event
leaves the log unchanged); part 3 the typed API (not-found, already-open); part 4 the domain
helpers the replay and the projections can use (origin blocks, responsibility holders, lists
of one, feedback owed, due days per port).

The scenario files carry a top-level ``origin:`` block (docs/SCENARIOS.md), which the replay
gives to the case's opening.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from click.testing import CliRunner

import cdlog.cli.query_cmd
import cdlog.cli.report_cmd
import cdlog.cli.verify_cmd
from cdlog.application import CaseLog
from cdlog.canonical import parse_time
from cdlog.cli.main import cli
from cdlog.domain import events as ev
from cdlog.domain.case import required_approvals
from cdlog.domain.config import DEFAULT_CONFIG, PROVENANCE, Config, Deadlines, provenance
from cdlog.domain.evolve import feedback_owed_for, overdue
from cdlog.domain.origins import opening_holder, origin_from_mapping, origin_of, released_holder
from cdlog.domain.values import Officer
from cdlog.errors import InputError, NotFoundError, RuleViolationError
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.facts import fact_of
from cdlog.projections.answers import dump, parse_question, plain
from cdlog.projections.queries import Queries
from cdlog.scenario import Replayer, ReplayResult
from cdlog.verify.runner import verify_store

if TYPE_CHECKING:
    from conftest import World
    from test_scenarios import expected_counts
else:  # pytest (import mode importlib) registers the tests folder as the package "tests"
    from tests.test_scenarios import expected_counts

assert cdlog.cli.query_cmd.query is not None  # the imports register the commands
assert cdlog.cli.report_cmd.report is not None
assert cdlog.cli.verify_cmd.verify is not None

ORIGINS_DIR = Path(__file__).resolve().parents[1] / "examples" / "scenarios" / "origins"
O1 = "O1-BLA-PT-OI-INVESTIGATION.yaml"
O2 = "O2-JFK-CD-FOREIGN-REQUEST.yaml"
O3 = "O3-BRO-PT-PARTNER-REFERRAL.yaml"
O4 = "O4-MIA-JFK-CD-TWO-PORTS.yaml"
FILES = (O1, O2, O3, O4)


# ---------------------------------------------------------------- replaying with an origin
def data_of(name: str) -> dict[str, Any]:
    """A scenario file of examples/scenarios/origins as loaded YAML."""
    loaded: dict[str, Any] = yaml.safe_load((ORIGINS_DIR / name).read_text(encoding="utf-8"))
    return loaded


def replay_origin(log: CaseLog, data: dict[str, Any]) -> ReplayResult:
    """Replay loaded scenario data (its case opens with its ``origin:`` block)."""
    return Replayer(log).replay(data)


@pytest.fixture
def log(store_url: str) -> Iterator[CaseLog]:
    """A fresh, empty log."""
    with CaseLog(store_url) as fresh:
        yield fresh


# ---------------------------------------------------------------- part 1: the scenarios
@pytest.mark.parametrize("name", FILES)
def test_origin_scenario_replays_verifies_and_answers(log: CaseLog, name: str) -> None:
    """Each origin's scenario records every step, verifies, opens its case with its origin,
    and its expected answers hold through the query API (as ``cdlog query`` prints them)."""
    data = data_of(name)
    result = replay_origin(log, data)
    assert (result.recorded, result.derived_checked) == expected_counts(data)
    report = verify_store(log)
    assert report.ok, report.failures
    stream = result.scenario.case_stream
    opened = log.events(stream)[0]
    assert opened.type == "CaseOpened"
    assert opened.payload["origin"]["kind"] == data["origin"]["kind"]
    state = log.state(stream)
    assert state.origin == data["origin"]["kind"]
    assert state.origin_agency == data["origin"]["agency"]
    with Queries(log) as q:
        for key, want in data["expected_answers"].items():
            question = parse_question(str(key))
            got = question.extract(dump(question.api(q, stream)), stream)
            assert got == plain(want), f"{name}: {key}"


def test_oi_investigation_is_oi_s_from_the_start(log: CaseLog) -> None:
    """O1: no acceptance, the OI case number from the opening, approvals given in any order
    checked at the release, two districts, feedback both ways and none overdue."""
    result = replay_origin(log, data_of(O1))
    state = log.state(result.scenario.case_stream)
    assert (state.decision, state.case_no, state.oi_leads) == (None, "SE-06-PT-0007", True)
    assert state.origin_district == "WD-WA"
    assert state.operation is not None
    assert state.operation.destination.district == "ED-WA"
    feedback = [(d.owner, d.to, d.key.split("@")[0], d.done_at is not None)
                for d in state.duties if d.kind == "feedback"]
    assert feedback == [("CBP", "ICE", "secondary_examination", True),
                        ("ICE", "CBP", "controlled_delivery", True)]
    assert overdue(state, parse_time("2006-12-31T00:00-08:00")) == []


def test_foreign_request_feedback_to_the_foreign_authority_and_ofo_s_late_feedback(
        log: CaseLog) -> None:
    """O2: the attaché opens the case; ICE owes the foreign authority and the port; OFO's
    feedback on its exam, given late, is derived overdue at the first instant past due."""
    result = replay_origin(log, data_of(O2))
    assert result.derived_checked == 1
    state = log.state(result.scenario.case_stream)
    owed = {(d.owner, d.to): d for d in state.duties if d.kind == "feedback"}
    assert set(owed) == {("ICE", "NL-FIOD"), ("ICE", "CBP"), ("CBP", "ICE")}
    assert all(d.done_at is not None for d in owed.values())
    late = owed["CBP", "ICE"]
    assert late.due == parse_time("2006-06-07T06:40-04:00") + timedelta(days=30)
    [derived] = overdue(state, parse_time("2006-08-01T00:00-04:00"))
    assert (derived.event_type, derived.owner, derived.to) == ("FeedbackOverdue", "CBP", "ICE")
    assert derived.became_overdue_at == parse_time("2006-07-07T06:40-04:00")
    opener = log.events(result.scenario.case_stream)[0].envelope["actor"]
    assert (opener["role"], opener["id"]) == ("Attache", "ICE-9001")
    assert state.shadows == {"CBP-4755"}


def test_partner_referral_stops_at_the_port(log: CaseLog) -> None:
    """O3: an operation aborted before any release; OI never held responsibility, the seizure
    opened no second OFO duty while the first was open, every duty was met."""
    result = replay_origin(log, data_of(O3))
    state = log.state(result.scenario.case_stream)
    assert not state.released
    assert not state.responsibility_assumed
    assert state.closed
    feedback = sorted((d.owner, d.to) for d in state.duties if d.kind == "feedback")
    assert feedback == [("CBP", "ICE"), ("ICE", "ATF"), ("ICE", "CBP")]
    assert overdue(state, parse_time("2006-12-31T00:00-06:00")) == []


def test_ofo_interdiction_spans_two_ports(log: CaseLog) -> None:
    """O4: examined at MIA, released at JFK (both OFO), two districts; the explicit
    ofo_interdiction origin behaves as no origin (acceptance needed, R3 notification)."""
    result = replay_origin(log, data_of(O4))
    state = log.state(result.scenario.case_stream)
    assert (state.port, state.ports) == ("5206", ["4701"])
    assert state.decision == "accepted"
    released = next(e for e in log.events(result.scenario.case_stream)
                    if e.type == "ResponsibilityReleased")
    assert (released.payload["to_agency"], released.payload["to_office"]) == ("CBP", "OFO")


def test_scenario_without_origin_block_opens_as_before(log: CaseLog,
                                                       scenarios_dir: Path) -> None:
    """A scenario with no ``origin:`` block (scenario C) opens its case as an OFO interdiction
    with no origin field in the stored payload, so its bytes are those of before."""
    result = Replayer(log).replay(scenarios_dir / "C-SYS-DECLINED-ADMIN.yaml")
    opened = log.events(result.scenario.case_stream)[0]
    assert "origin" not in opened.payload
    assert log.state(result.scenario.case_stream).origin == "ofo_interdiction"


SCENARIO_REFUSALS: list[tuple[str, str, dict[str, Any], int, str]] = [
    # (file, step type to change, changes, step refused (index, -1 = the opening), rule)
    (O1, "ExaminationConducted", {"actor": "oi_ca"}, 0, "R1"),
    (O1, "ResponsibilityAssumed", {"actor": "scbpo"}, 0, "R2"),
    (O2, "CaseOpened", {"opened_by": "oi_ca"}, -1, "R1"),
    (O3, "InformationShared", {"basis": "dhs_need_to_know"}, 0, "R8"),
    (O4, "InvestigativeNotificationSent", {"actor": "scbpo"}, 0, "R3"),
]


@pytest.mark.parametrize(("name", "type_", "changes", "refused_at", "rule"),
                         SCENARIO_REFUSALS,
                         ids=[f"{f[:2]}-{t}-{r}" for f, t, _, _, r in SCENARIO_REFUSALS])
def test_origin_scenario_variant_refused_naming_step_and_rule(
        log: CaseLog, name: str, type_: str, changes: dict[str, Any], refused_at: int,
        rule: str) -> None:
    """An edited origin scenario is refused at the edited step, naming it and the rule, and
    nothing of it is saved."""
    data = copy.deepcopy(data_of(name))
    if type_ == "CaseOpened":
        data["origin"].update(changes)
        step = 0
    else:
        step = next(i for i, s in enumerate(data["events"]) if s["type"] == type_)
        data["events"][step].update(changes)
    before = log.max_position()
    with pytest.raises(RuleViolationError) as info:
        replay_origin(log, data)
    assert info.value.rule == rule, str(info.value)
    shown = "CaseOpened" if refused_at < 0 else type_
    assert info.value.event_type == f"step {step + 1} ({shown})"
    assert log.max_position() == before


# ---------------------------------------------------------------- part 2: rules per origin
ATTACHE = ("ICE-9001", "Attache", "ICE", "OIA")
T21 = [{"item_id": "D-1", "description": "bricks, white powder", "category": "drug",
        "count": 10, "gross_weight_kg": "11.0"}]
MODE = {"courier": "unwitting", "contents": "intact", "direction": "inbound",
        "vector": "air_cargo"}
PROPOSAL = {"operation_type": "controlled_delivery", "mode": MODE,
            "destination": {"district": "SD-FL"}}
RESPONSIBILITY = {"agency": "ICE", "office": "OI", "scope": "OP-O-1"}
ORIGIN_OF: dict[str, tuple[str, dict[str, Any]]] = {  # kind -> (opener, origin fields)
    "ofo_interdiction": ("cbpo", {}),
    "oi_investigation": ("oi_ca", {"agency": "ICE", "office": "OI", "case_no": "MI-O-1"}),
    "foreign_request": ("attache", {"agency": "CO-DIAN", "state": "CO", "via": "ICE-9001",
                                    "request_ref": "MLA-CO-1", "case_no": "MI-O-1"}),
    "partner_referral": ("oi_ca", {"agency": "DEA", "office": "Miami-FD",
                                   "case_no": "MI-O-1"}),
}
KINDS = tuple(ORIGIN_OF)
NOT_OFO = KINDS[1:]


def with_attache(world: World) -> World:
    """Certify an ICE attaché (role Attache, office OIA) in the world."""
    if "attache" not in world.signers:
        ident, role, agency, office = ATTACHE
        signer = Ed25519Signer.generate()
        officer = Officer(id=ident, role=role, agency=agency, office=office)
        start = world.t(0) - timedelta(days=1)
        world.log.certify_officer(world.roots[agency], officer, signer.public_key,
                                  not_before=start, not_after=start + timedelta(days=3650),
                                  at=start)
        world.signers["attache"] = signer
        world.officers["attache"] = officer
    return world


def snapshot(world: World, stream: str) -> tuple[int, int, int]:
    """Log position, stream version and stored events of ``stream``."""
    return (world.log.max_position(), world.log.state(stream).version,
            len(world.log.events(stream)))


def refused(world: World, stream: str, type_: str, fields: dict[str, Any], *, by: str,
            at: float, rule: str, says: tuple[str, ...] = ()) -> RuleViolationError:
    """Record an event the rules must refuse under ``rule``; nothing may be written."""
    before = snapshot(world, stream)
    with pytest.raises(RuleViolationError) as info:
        world.rec(stream, type_, fields, by=by, at=at)
    assert info.value.rule == rule, str(info.value)
    for text in says:
        assert text in str(info.value), f"{text!r} not in {info.value}"
    assert snapshot(world, stream) == before
    return info.value


def open_origin(world: World, kind: str, *, by: str | None = None,
                **changes: Any) -> str:
    """Open case OP-O-1 at Miami airport (5206) with origin ``kind`` (none for OFO)."""
    opener, fields = ORIGIN_OF[kind]
    with_attache(world)
    origin = None if kind == "ofo_interdiction" and not changes else {
        "kind": kind, **fields, **changes}
    return world.log.open_case("OP-O-1", port="5206", signer=world.signers[by or opener],
                               at=world.t(0), recorded=world.t(0), origin=origin)


def lead(world: World, stream: str, kind: str) -> None:
    """Bring OI to lead the case: an OFO interdiction is discovered, notified and accepted;
    other origins are OI's already."""
    if kind != "ofo_interdiction":
        return
    world.rec(stream, "ContrabandDiscovered", {"items": T21}, by="cbpo", at=1)
    world.rec(stream, "InvestigativeNotificationSent",
              {"identified_at": world.t(1), "to": world.id("oi_duty"), "channel": "phone"},
              by="cbpo", at=2)
    world.rec(stream, "CaseAccepted", {"case_no": "MI-O-1", "lead_office": "SAC-Miami"},
              by="oi_duty", at=3)


def port_hold(world: World, stream: str, kind: str, at: float) -> None:
    """OFO examines, finds (unless found already) and holds at the port."""
    world.rec(stream, "ExaminationConducted", {"method": "covert", "result": "positive"},
              by="cbpo", at=at)
    if kind != "ofo_interdiction":
        world.rec(stream, "ContrabandDiscovered", {"items": T21}, by="cbpo", at=at + 1)
    world.rec(stream, "HoldPlaced", {"hold_type": "quiet_hold_pending_OI", "reason": "OI"},
              by="scbpo", at=at + 2)


GRANTS = [("GS", "oi_gs"), ("SAC", "oi_sac"), ("USAO-origin", "ausa")]


def approvals(world: World, stream: str, kind: str, at: float) -> None:
    """Grant every approval the default configuration requires, in reverse order."""
    grants = list(GRANTS)
    if kind == "foreign_request":
        grants.append(("foreign", "oi_sac"))
    for i, (approval, by) in enumerate(reversed(grants)):
        world.rec(stream, "ApprovalGranted", {"kind": approval}, by=by, at=at + i)


# R1 ----------------------------------------------------------------------------------------
OPENERS = [(k, by, ok) for k, allowed, denied in [
    ("ofo_interdiction", ["cbpo"], ["oi_ca", "attache"]),
    ("oi_investigation", ["oi_ca"], ["cbpo", "attache"]),
    ("foreign_request", ["attache"], ["oi_ca", "cbpo"]),
    ("partner_referral", ["oi_ca", "oi_duty"], ["cbpo", "dea"]),
] for by, ok in [*((a, True) for a in allowed), *((d, False) for d in denied)]]


@pytest.mark.parametrize(("kind", "by", "allowed"), OPENERS,
                         ids=[f"{k}-{b}" for k, b, _ in OPENERS])
def test_r1_who_may_open_each_origin(world: World, kind: str, by: str, allowed: bool) -> None:
    """R1 per origin: OFO opens its interdictions; OI its own investigations and partner
    referrals; the ICE attaché a foreign request; anyone else is refused, nothing written."""
    with_attache(world)
    changes = {"via": world.id(by)} if kind == "foreign_request" else {}
    if allowed:
        stream = open_origin(world, kind, by=by, **changes)
        assert world.log.state(stream).origin == kind
        return
    before = world.log.max_position()
    with pytest.raises(RuleViolationError) as info:
        open_origin(world, kind, by=by, **changes)
    assert info.value.rule == "R1"
    assert "may open a case from" in str(info.value)
    assert world.log.max_position() == before
    assert world.log.state("case:OP-O-1").version == 0


@pytest.mark.parametrize(("kind", "changes", "rule", "says"), [
    ("oi_investigation", {"agency": "CBP", "office": "OFO"}, "origin", "ICE/OI"),
    ("foreign_request", {"agency": "DEA"}, "origin", "a U.S. agency"),
    ("foreign_request", {"via": "ICE-6610"}, "origin", "relayed via"),
    ("partner_referral", {"agency": "ICE", "office": "OI"}, "origin", "partner referral"),
    ("ofo_interdiction", {"agency": "CBP", "office": "OFO", "case_no": "MI-O-1"}, "R4",
     "CaseAccepted"),
], ids=["oi-named-cbp", "foreign-from-us-agency", "foreign-via-other", "partner-is-oi",
        "ofo-with-case-no"])
def test_origin_must_agree_with_its_kind(world: World, kind: str, changes: dict[str, Any],
                                         rule: str, says: str) -> None:
    """The origin's originator must fit its kind (OI for its own investigation, a foreign
    authority relayed by the opening attaché, a partner other than OI); nothing written."""
    with pytest.raises(RuleViolationError) as info:
        open_origin(world, kind, **changes)
    assert info.value.rule == rule
    assert says in str(info.value)
    assert world.log.state("case:OP-O-1").version == 0


@pytest.mark.parametrize("kind", KINDS)
def test_r1_port_acts_are_ofo_s_whatever_the_origin(world: World, kind: str) -> None:
    """R1 per origin: an OI agent cannot record a port examination, hold or discovery; a CBP
    officer can."""
    stream = open_origin(world, kind)
    acts: list[tuple[str, dict[str, Any]]] = [
        ("ExaminationConducted", {"method": "covert", "result": "positive"}),
        ("HoldPlaced", {"hold_type": "quiet_hold_pending_OI", "reason": "OI"}),
        ("ContrabandDiscovered", {"items": T21})]
    for type_, fields in acts:
        refused(world, stream, type_, fields, by="oi_ca", at=5, rule="R1", says=("CBP/OFO",))
    port_hold(world, stream, kind, 5)


@pytest.mark.parametrize("kind", KINDS)
def test_r1_planning_and_surveillance_are_oi_s_whatever_the_origin(world: World,
                                                                   kind: str) -> None:
    """R1 per origin: a CBP officer cannot propose an operation or record surveillance."""
    stream = open_origin(world, kind)
    lead(world, stream, kind)
    refused(world, stream, "OperationProposed", PROPOSAL, by="scbpo", at=10, rule="R1",
            says=("planning",))
    world.rec(stream, "OperationProposed", PROPOSAL, by="oi_ca", at=10)
    refused(world, stream, "SurveillanceStarted", {"team_lead": world.id("oi_ca")},
            by="cbpo", at=11, rule="R1", says=("surveillance outside the port",))
    world.rec(stream, "SurveillanceStarted", {"team_lead": world.id("oi_ca")}, by="oi_ca",
              at=11)


# R3 ----------------------------------------------------------------------------------------
def test_r3_notification_only_from_the_cbpo_enforcement(world: World) -> None:
    """R3: a CBP/OFO officer who is not a CBPO (Enforcement) is refused, naming the memo's
    notifier; another agency is refused with where its information goes instead."""
    stream = open_origin(world, "ofo_interdiction")
    notice = {"identified_at": world.t(0), "to": world.id("oi_duty"), "channel": "phone"}
    refused(world, stream, "InvestigativeNotificationSent", notice, by="scbpo", at=2,
            rule="R3", says=("CBP Officers (Enforcement)", "notifier_roles"))
    err = refused(world, stream, "InvestigativeNotificationSent", notice, by="dea", at=2,
                  rule="R3", says=("InformationShared", "partner_referral"))
    assert "DEA/DO" in str(err)
    world.rec(stream, "InvestigativeNotificationSent", notice, by="cbpo", at=2)


# R4 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", NOT_OFO)
def test_r4_acceptance_only_for_ofo_referrals(world: World, kind: str) -> None:
    """R4 per origin: a case that began with OI, an attaché or a partner is OI's from its
    opening: no CaseAccepted/CaseDeclined, and OI proposes at once."""
    stream = open_origin(world, kind)
    refused(world, stream, "CaseAccepted", {"case_no": "MI-O-1", "lead_office": "SAC-Miami"},
            by="oi_duty", at=1, rule="R4", says=(f"began as {kind}",))
    refused(world, stream, "CaseDeclined", {"reason_code": "RESOURCES"}, by="oi_duty", at=1,
            rule="R4")
    world.rec(stream, "OperationProposed", PROPOSAL, by="oi_ca", at=2)
    assert world.log.state(stream).case_no == "MI-O-1"


def test_r4_ofo_interdiction_still_needs_acceptance(world: World) -> None:
    """R4: in an OFO interdiction (origin given explicitly) OI proposes only once accepted."""
    stream = open_origin(world, "ofo_interdiction", agency="CBP", office="OFO")
    refused(world, stream, "OperationProposed", PROPOSAL, by="oi_ca", at=1, rule="R4",
            says=("not accepted",))
    lead(world, stream, "ofo_interdiction")
    world.rec(stream, "OperationProposed", PROPOSAL, by="oi_ca", at=4)


# R2 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_r2_release_needs_oi_responsibility_and_approvals_in_any_order(world: World,
                                                                       kind: str) -> None:
    """R2 per origin: the release is refused until OI assumed responsibility and every
    required approval (granted in reverse order) is in; a CBP officer cannot assume
    responsibility for OI."""
    stream = open_origin(world, kind)
    lead(world, stream, kind)
    world.rec(stream, "OperationProposed", PROPOSAL, by="oi_ca", at=10)
    port_hold(world, stream, kind, 20)
    refused(world, stream, "HoldReleased", {"reason": "go"}, by="pd", at=30, rule="R2",
            says=("ResponsibilityAssumed",))
    refused(world, stream, "ResponsibilityAssumed", RESPONSIBILITY, by="scbpo", at=31,
            rule="R2", says=("only ICE/OI",))
    world.rec(stream, "ResponsibilityAssumed", RESPONSIBILITY, by="oi_gs", at=31)
    err = refused(world, stream, "HoldReleased", {"reason": "go"}, by="pd", at=32,
                  rule="approvals")
    if kind == "foreign_request":
        assert "foreign" in err.problem
    approvals(world, stream, kind, 33)
    world.rec(stream, "HoldReleased", {"reason": "go"}, by="pd", at=40)
    assert world.log.state(stream).released


@pytest.mark.parametrize("kind", KINDS)
def test_r2_no_delivery_without_a_proposed_operation(world: World, kind: str) -> None:
    """R2 per origin: a delivery recorded without OperationProposed is refused at that step."""
    stream = open_origin(world, kind)
    lead(world, stream, kind)
    refused(world, stream, "DeliveryMade", {"to_party": "SUBJ-1"}, by="oi_ca", at=10,
            rule="R2", says=("OperationProposed",))


@pytest.mark.parametrize("kind", KINDS)
def test_r2_responsibility_not_released_mid_operation(world: World, kind: str) -> None:
    """R2 per origin: OI cannot release responsibility while the operation runs; after its
    termination it may, naming who holds it from then on."""
    stream = open_origin(world, kind)
    lead(world, stream, kind)
    world.rec(stream, "ResponsibilityAssumed", RESPONSIBILITY, by="oi_gs", at=9)
    world.rec(stream, "OperationProposed", PROPOSAL, by="oi_ca", at=10)
    released = {"to": "CBP vault", "scope": "OP-O-1", "to_agency": "CBP", "to_office": "OFO"}
    refused(world, stream, "ResponsibilityReleased", released, by="oi_gs", at=11, rule="R2",
            says=("still running", "OperationTerminated"))
    world.rec(stream, "OperationTerminated", {"reason": "abort_risk"}, by="oi_gs", at=12)
    refused(world, stream, "ResponsibilityReleased", {**released, "to_agency": "ACME"},
            by="oi_gs", at=13, rule="R2", says=("to_agency",))
    sealed = world.rec(stream, "ResponsibilityReleased", released, by="oi_gs", at=13)
    assert (sealed.payload["to_agency"], sealed.payload["to_office"]) == ("CBP", "OFO")
    assert not world.log.state(stream).responsibility_assumed


# R5 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_r5_shadow_on_a_title21_case_whoever_opened_it(world: World, kind: str) -> None:
    """R5 per origin: at a pilot port, a Title 21 case OI leads takes a shadow under its OI
    case number (from the acceptance or from the opening); another number is refused."""
    stream = open_origin(world, kind)
    lead(world, stream, kind)
    if kind != "ofo_interdiction":
        world.rec(stream, "ContrabandDiscovered", {"items": T21}, by="cbpo", at=4)
    shadow = {"cbp_officer": world.id("shadow"), "oi_agent": world.id("oi_ca"),
              "case_no": "MI-O-9", "port": "5206"}
    refused(world, stream, "ShadowAssigned", shadow, by="scbpo", at=5, rule="R5")
    world.rec(stream, "ShadowAssigned", {**shadow, "case_no": "MI-O-1"}, by="scbpo", at=6)


# R6, R9 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_r6_r9_duties_the_same_whatever_the_origin(world: World, kind: str) -> None:
    """R6 per origin: an interview without a CBP officer opens OI's duty to brief the SCBPO,
    which only OI records, to an SCBPO; R9: an action item is completed by its owner only."""
    stream = open_origin(world, kind)
    refused(world, stream, "InterviewConducted", {"subject_ref": "S-1", "cbp_present": False},
            by="cbpo", at=5, rule="R6")
    world.rec(stream, "InterviewConducted", {"subject_ref": "S-1", "cbp_present": False},
              by="oi_ca", at=5)
    refused(world, stream, "SCBPOBriefed", {"scbpo": world.id("pd"), "topics": ["S-1"]},
            by="oi_ca", at=6, rule="R6", says=("SCBPO",))
    world.rec(stream, "SCBPOBriefed", {"scbpo": world.id("scbpo"), "topics": ["S-1 interview"]},
              by="oi_ca", at=6)
    world.rec(stream, "ActionItemAssigned", {"item_id": "AI-1", "owner": world.id("oi_ca"),
                                             "due": "2006-03-20", "what": "w"}, by="oi_gs",
              at=7)
    refused(world, stream, "ActionItemCompleted", {"item_id": "AI-1"}, by="cbpo", at=8,
            rule="R9", says=("not the owner",))
    world.rec(stream, "ActionItemCompleted", {"item_id": "AI-1"}, by="oi_ca", at=8)
    assert all(d.done_at is not None for d in world.log.state(stream).duties)


@pytest.mark.parametrize("kind", NOT_OFO)
def test_r3_a_cbpo_e_may_still_notify_in_a_case_oi_began(world: World, kind: str) -> None:
    """R3: in a case OI leads from its opening, a CBPO (Enforcement) who identifies more may
    still notify OI; it opens no acceptance (R4) nor OFO-interdiction feedback."""
    stream = open_origin(world, kind)
    world.rec(stream, "InvestigativeNotificationSent",
              {"identified_at": world.t(4), "to": world.id("oi_duty"), "channel": "phone"},
              by="cbpo", at=5)
    refused(world, stream, "CaseAccepted", {"case_no": "MI-O-1", "lead_office": "SAC-Miami"},
            by="oi_duty", at=6, rule="R4")


# R7 ----------------------------------------------------------------------------------------
def feedback_duties(world: World, stream: str) -> list[tuple[str, str, bool]]:
    """(owner, owed to, done) of every feedback duty of the case."""
    return [(d.owner, d.to, d.done_at is not None)
            for d in world.log.state(stream).duties if d.kind == "feedback"]


@pytest.mark.parametrize(("kind", "owed"), [
    ("ofo_interdiction", [("ICE", "CBP", False)]),
    ("oi_investigation", [("CBP", "ICE", False), ("ICE", "CBP", False)]),
    ("foreign_request", [("CBP", "ICE", False), ("ICE", "CO-DIAN", False),
                         ("ICE", "CBP", False)]),
    ("partner_referral", [("CBP", "ICE", False), ("ICE", "DEA", False),
                          ("ICE", "CBP", False)]),
])
def test_r7_feedback_owed_by_the_receiving_agency_both_ways(
        world: World, kind: str, owed: list[tuple[str, str, bool]]) -> None:
    """R7 per origin: an arrest opens ICE's duty to the originating agency (and to the port
    that acted for it); OFO's exam on OI's information opens CBP's duty to ICE; each
    feedback closes only the duties it answers; the due time comes from configuration."""
    stream = open_origin(world, kind)
    lead(world, stream, kind)
    port_hold(world, stream, kind, 5)
    world.rec(stream, "ArrestMade", {"subject_ref": "SUBJ-1", "arresting_agency": "ICE"},
              by="oi_ca", at=30)
    assert feedback_duties(world, stream) == owed
    state = world.log.state(stream)
    config = world.log.config
    for duty in state.duties:
        office = "OI" if duty.owner == "ICE" else "OFO"   # the result's recorder's office
        assert duty.due - duty.opened_at == config.feedback_due_after(office)
    for owner, to, _ in owed:
        by = "oi_gs" if owner == "ICE" else "scbpo"
        world.rec(stream, "FeedbackProvided", {"from_agency": owner, "to_agency": to,
                                               "categories": ["investigation"],
                                               "results": "results"}, by=by, at=40)
        assert (owner, to, True) in feedback_duties(world, stream)
    assert all(done for _, _, done in feedback_duties(world, stream))


@pytest.mark.parametrize(("kind", "to", "allowed"), [
    ("foreign_request", "CO-DIAN", True), ("foreign_request", "USCG", True),
    ("partner_referral", "DEA", True), ("oi_investigation", "USCG", True),
    ("oi_investigation", "CO-DIAN", False), ("partner_referral", "ICE", False),
])
def test_r7_feedback_recipients(world: World, kind: str, to: str, allowed: bool) -> None:
    """R7: feedback may go to the case's originator (a foreign authority, a partner) or a DHS
    component such as USCG; not to an unknown agency nor to oneself."""
    stream = open_origin(world, kind)
    fields = {"from_agency": "ICE", "to_agency": to, "categories": ["investigation"],
              "results": "r"}
    if allowed:
        world.rec(stream, "FeedbackProvided", fields, by="oi_gs", at=5)
    else:
        refused(world, stream, "FeedbackProvided", fields, by="oi_gs", at=5, rule="R7",
                says=("to_agency",))


# R8 ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kind", "to", "basis", "allowed"), [
    ("ofo_interdiction", "ICE", "dhs_need_to_know", True),
    ("oi_investigation", "USCG", "dhs_need_to_know", True),
    ("partner_referral", "DEA", "dhs_need_to_know", False),
    ("foreign_request", "CO-DIAN", "dhs_need_to_know", False),
    ("partner_referral", "DEA", "routine_use", True),
])
def test_r8_need_to_know_only_inside_dhs(world: World, kind: str, to: str, basis: str,
                                         allowed: bool) -> None:
    """R8 per origin: dhs_need_to_know is refused for an agency outside DHS (DEA, a foreign
    authority), also as a late entry; other bases and DHS components are allowed."""
    stream = open_origin(world, kind)
    agency, by = ("CBP", "cbpo") if to == "ICE" else ("ICE", "oi_ca")
    fields = {"from_agency": agency, "to_agency": to, "basis": basis}
    if allowed:
        world.rec(stream, "InformationShared", fields, by=by, at=5)
        return
    refused(world, stream, "InformationShared", fields, by=by, at=5, rule="R8",
            says=("outside DHS",))
    late = {"wraps": "InformationShared", "reason": "entered late", "event": fields}
    before = snapshot(world, stream)
    with pytest.raises(RuleViolationError) as info:
        world.rec(stream, "LateEntryRecorded", late, by=by, at=5, recorded=5 + 24 * 60)
    assert info.value.rule == "R8"
    assert snapshot(world, stream) == before


def test_r8_eu_pnr_flag(world: World) -> None:
    """R8: PNR-derived data flagged as not EU PNR is outside the third-party rule; with the
    flag left out it is treated as EU PNR and needs an authorisation."""
    stream = open_origin(world, "ofo_interdiction")
    fields = {"from_agency": "CBP", "to_agency": "ICE", "basis": "dhs_need_to_know",
              "pnr_derived": True}
    refused(world, stream, "InformationShared", fields, by="pnr_sup", at=5, rule="R8",
            says=("EU PNR",))
    sealed = world.rec(stream, "InformationShared", {**fields, "eu_pnr": False},
                       by="pnr_sup", at=6)
    assert sealed.payload["eu_pnr"] is False


# ---------------------------------------------------------------- part 3: the typed API
def test_api_not_found_and_already_open(world: World) -> None:
    """Recording into a case never opened raises NotFoundError naming it; opening a case that
    exists raises InputError saying so; neither writes anything."""
    before = world.log.max_position()
    with pytest.raises(NotFoundError, match=r"no case case:OP-NONE"):
        world.log.record_examination("OP-NONE", method="covert", result="positive",
                                     signer=world.signers["cbpo"], at=world.t(1),
                                     recorded=world.t(1))
    assert world.log.max_position() == before
    stream = open_origin(world, "oi_investigation")
    position = world.log.max_position()
    with pytest.raises(InputError, match=r"case case:OP-O-1 already exists"):
        open_origin(world, "oi_investigation")
    assert world.log.max_position() == position
    assert world.log.state(stream).version == 1


def test_api_typed_stages_of_an_oi_case(world: World) -> None:
    """The typed methods record an OI-originated pass-through end to end."""
    log, s, i = world.log, world.signers, world.id

    def t(m: float) -> dict[str, Any]:
        return {"at": world.t(m), "recorded": world.t(m)}

    stream = log.open_case("OP-O-2", port="5206", signer=s["oi_ca"],
                           origin={"kind": "oi_investigation", "agency": "ICE",
                                   "office": "OI", "case_no": "MI-O-2"}, **t(0))
    log.propose_operation(stream, operation_type="pass_through",
                          mode={**MODE, "vector": "air_cargo"},
                          destination={"district": "SD-FL"}, signer=s["oi_ca"], **t(1))
    for n, (kind, by) in enumerate([*GRANTS, ("port-release", "pd")]):
        log.grant_approval(stream, kind=kind, signer=s[by], **t(2 + n))
    log.record_examination(stream, method="covert", result="positive", signer=s["cbpo"],
                           port="5206", **t(10))
    log.record_discovery(stream, items=T21, signer=s["cbpo"], **t(11))
    log.place_hold(stream, hold_type="quiet_hold_pending_OI", reason="OI", signer=s["scbpo"],
                   **t(12))
    log.assume_responsibility(stream, scope="OP-O-2", signer=s["oi_gs"],
                              acknowledged_by_ofo=i("scbpo"), **t(13))
    log.release_pass_through(stream, requested_by=i("oi_ca"), authorised_by=i("pd"),
                             exam_performed=True, signer=s["oi_ca"], cosigners=[s["pd"]],
                             **t(14))
    log.start_surveillance(stream, team_lead=i("oi_ca"), signer=s["oi_ca"], **t(15))
    log.record_delivery(stream, to_party="SUBJ-2", signer=s["oi_ca"], **t(20))
    log.end_surveillance(stream, signer=s["oi_ca"], **t(21))
    log.terminate_operation(stream, reason="completed", signer=s["oi_gs"], **t(22))
    log.release_responsibility(stream, to="operation ended", scope="OP-O-2",
                               signer=s["oi_gs"], **t(23))
    log.provide_feedback(stream, from_agency="CBP", to_agency="ICE",
                         categories=["secondary_examination"], results="exam done",
                         signer=s["scbpo"], **t(24))
    log.provide_feedback(stream, from_agency="ICE", to_agency="CBP",
                         categories=["pass_through"], results="delivered",
                         signer=s["oi_gs"], **t(25))
    log.close_case(stream, reason="done", signer=s["oi_gs"], **t(26))
    state = log.state(stream)
    assert state.closed
    assert all(d.done_at is not None for d in state.duties)
    assert verify_store(log).ok


# ---------------------------------------------------------------- part 4: helpers for others
def test_origin_from_mapping_names_the_field() -> None:
    """An ``origin:`` block is read with handles for ``via``; what does not fit is refused
    naming the field and the expected form."""
    origin = origin_from_mapping({"kind": "foreign_request", "agency": "NL-FIOD",
                                  "via": "attache", "opened_by": "attache"},
                                 {"attache": "ICE-9001"})
    assert (origin.kind, origin.via) == ("foreign_request", "ICE-9001")
    with pytest.raises(InputError) as info:
        origin_from_mapping({"kind": "interdiction", "agency": "CBP"})
    assert info.value.field == "origin.kind"
    assert "oi_investigation" in info.value.expected
    with pytest.raises(InputError, match=r"origin\.agency: missing"):
        origin_from_mapping({"kind": "oi_investigation"})
    with pytest.raises(InputError, match=r"origin\.agent: is not a field"):
        origin_from_mapping({"kind": "oi_investigation", "agency": "ICE", "agent": "x"})
    with pytest.raises(InputError, match=r"origin: is str"):
        origin_from_mapping("oi_investigation")


def test_holders_come_from_structured_fields_only() -> None:
    """The responsibility holder after a release is read from to_agency/to_office, never
    from the words of ``to``; a case's opening holder follows its origin."""
    bare = ev.ResponsibilityReleased(to="OFO vault custody", scope="S")
    assert released_holder(bare) is None
    named = ev.ResponsibilityReleased(to="vault", scope="S", to_agency="CBP", to_office="OFO")
    assert released_holder(named) == "CBP/OFO"
    assert released_holder(ev.ResponsibilityReleased(to="x", scope="S", to_agency="DEA")) == \
        "DEA"
    plain_open = ev.CaseOpened(reference="R", port="5201")
    assert (opening_holder(plain_open), origin_of(plain_open).kind) == (
        "CBP/OFO", "ofo_interdiction")
    oi_open = ev.CaseOpened(reference="R", port="5201",
                            origin=ev.Origin(kind="oi_investigation", agency="ICE"))
    assert opening_holder(oi_open) == "ICE/OI"


def test_a_single_value_for_a_list_field_is_a_list_of_one() -> None:
    """as_lists wraps one value given for a list-valued field (also inside nested lists of
    models); the payload then validates; other values are left for validation to refuse."""
    fields = ev.as_lists(ev.ContrabandDiscovered, {
        "items": {"item_id": "X-1", "description": "d", "category": "drug"},
        "subjects": "SUBJ-1"})
    payload = ev.ContrabandDiscovered.model_validate(fields)
    assert (payload.items[0].item_id, payload.subjects) == ("X-1", ["SUBJ-1"])
    custody = ev.as_lists(ev.CustodyTransferred, {"from": "A", "to": "B", "seals": "S-1",
                                                  "items": {"item": "X-1", "count": 1}})
    assert custody["seals"] == ["S-1"]
    assert ev.as_lists(ev.FeedbackProvided, {"categories": "penalty"}) == {
        "categories": ["penalty"]}
    assert ev.as_lists(ev.HoldPlaced, {"reason": ["a"]}) == {"reason": ["a"]}


@pytest.mark.parametrize(("args", "owed"), [
    (("ArrestMade", "ICE", "OI", "ofo_interdiction", "CBP", True, True),
     [("ICE", "CBP", "investigation")]),
    (("ArrestMade", "ICE", "OI", "ofo_interdiction", "CBP", False, True), []),
    (("ExaminationConducted", "CBP", "OFO", "ofo_interdiction", "CBP", True, True), []),
    (("ArrestMade", "ICE", "OI", "oi_investigation", "ICE", False, False), []),
    (("ArrestMade", "ICE", "OI", "oi_investigation", "ICE", False, True),
     [("ICE", "CBP", "investigation")]),
    (("OperationTerminated", "ICE", "OI", "foreign_request", "NL-FIOD", False, True),
     [("ICE", "NL-FIOD", "controlled_delivery"), ("ICE", "CBP", "controlled_delivery")]),
    (("SeizureRecorded", "CBP", "OFO", "partner_referral", "DEA", False, True),
     [("CBP", "ICE", "seizure")]),
    (("SeizureRecorded", "ICE", "OI", "partner_referral", "DEA", False, True), []),
])
def test_feedback_owed_for_plain_values(args: tuple[Any, ...],
                                        owed: list[tuple[str, str, str]]) -> None:
    """feedback_owed_for (for the duties view): who owes whom on which result, per origin."""
    event_type, agency, office, origin, origin_agency, notified, port_acted = args
    assert feedback_owed_for(event_type, agency, office, origin=origin,
                             origin_agency=origin_agency, notified=notified,
                             port_acted=port_acted) == owed


def test_action_item_due_in_the_time_zone_of_its_port(world: World) -> None:
    """R9: an action item names the port where it arises; it becomes overdue at midnight
    after its due day there (Blaine, Pacific), not at the case's port (Miami, Eastern)."""
    stream = open_origin(world, "oi_investigation")
    for item, port in (("AI-1", None), ("AI-2", "3004")):
        world.rec(stream, "ActionItemAssigned", {
            "item_id": item, "owner": world.id("oi_ca"), "due": "2006-03-20",
            "what": "feedback plan", **({"port": port} if port else {})}, by="oi_gs", at=5)
    state = world.log.state(stream)
    due = {d.key: d.due for d in state.duties}
    assert due["AI-1"] == parse_time("2006-03-21T00:00-05:00")
    assert due["AI-2"] == parse_time("2006-03-21T00:00-08:00")


def cast(log: CaseLog, people: dict[str, tuple[str, str, str, str]],
         start: datetime) -> dict[str, Ed25519Signer]:
    """Roots and officer keys valid from a day before ``start`` for a year, in ``log``."""
    signers: dict[str, Ed25519Signer] = {}
    roots: dict[str, Ed25519Signer] = {}
    since = start - timedelta(days=1)
    for handle, (ident, role, agency, office) in people.items():
        if agency not in roots:
            roots[agency] = Ed25519Signer.generate()
            log.establish_root(agency, roots[agency], at=since)
        signers[handle] = Ed25519Signer.generate()
        log.certify_officer(roots[agency], Officer(id=ident, role=role, agency=agency,
                                                   office=office),
                            signers[handle].public_key, not_before=since,
                            not_after=since + timedelta(days=365), at=since)
    return signers


def test_r5_pilot_window_from_configuration(store_url: str) -> None:
    """R5: with pilot_start set (the memo gives no day), a shadow is refused outside the
    ninety days of the evaluation and allowed inside them; unset, no window applies."""
    config = Config(pilot_start=date(2006, 2, 1))
    start = parse_time("2006-04-01T08:00-04:00")
    with CaseLog(store_url, config=config) as log:
        s = cast(log, {"cbpo": ("CBP-4417", "CBPO-Enforcement", "CBP", "OFO"),
                       "shadow": ("CBP-5120", "CBPO", "CBP", "OFO"),
                       "oi_ca": ("ICE-6610", "CaseAgent", "ICE", "OI")}, start)
        stream = log.open_case("OP-P-1", port="5206", signer=s["oi_ca"], at=start,
                               recorded=start, origin={"kind": "oi_investigation",
                                                       "agency": "ICE", "case_no": "MI-P-1"})
        log.record_discovery(stream, items=T21, signer=s["cbpo"], at=start, recorded=start)
        shadow = {"cbp_officer": "CBP-5120", "oi_agent": "ICE-6610", "case_no": "MI-P-1",
                  "port": "5206"}
        late = parse_time("2006-05-02T08:00-04:00")   # day 91 from 2006-02-01
        with pytest.raises(RuleViolationError) as info:
            log.record(stream, "ShadowAssigned", shadow, signer=s["cbpo"], at=late,
                       recorded=late)
        assert info.value.rule == "R5"
        assert "outside the pilot's evaluation" in info.value.problem
        inside = parse_time("2006-05-01T08:00-04:00")  # day 90
        log.record(stream, "ShadowAssigned", shadow, signer=s["cbpo"], at=inside,
                   recorded=inside)
        assert log.state(stream).shadows == {"CBP-5120"}
    assert DEFAULT_CONFIG.pilot_start is None


# ---------------------------------------------------------------- R9 outside any case
MEMO = "programme:memo-2005-12-08"
MEMO_ITEMS = [  # the memo's own action items, with their due days
    ("HQ-MEMO", "OFO", "2006-01-13", "HQ OFO and OI issue a memorandum to HQ senior management"),
    ("JTTF-DIRECTIVE", "OFO", "2006-02-01", "CBP national directive on JTTF roles"),
    ("FEEDBACK-PLAN", "OI", "2006-01-31", "SACs and DFOs develop a local feedback action plan"),
]


def test_r9_programme_stream_holds_the_memo_s_action_items(log: CaseLog) -> None:
    """R9: the memo's own action items are recorded in a programme stream, outside any case;
    an office-owned item is completed by an officer of that office; overdue is derived at
    midnight after the due day (default time zone: UTC); case-only events are refused."""
    start = parse_time("2005-12-08T12:00Z")
    signers = cast(log, {"program": ("CBP-0007", "ProgramManager", "CBP", "OFO"),
                         "ofo": ("CBP-0008", "CBPO", "CBP", "OFO"),
                         "oi": ("ICE-0009", "SpecialAgent", "ICE", "OI")}, start)

    def rec(type_: str, fields: dict[str, Any], by: str, when: str) -> None:
        at = parse_time(when)
        log.record(MEMO, type_, fields, signer=signers[by], at=at, recorded=at)

    for n, (item, owner, due, what) in enumerate(MEMO_ITEMS):
        rec("ActionItemAssigned", {"item_id": item, "owner": owner, "due": due, "what": what,
                                   "source": "memo of 2005-12-08"}, "program",
            (start + timedelta(minutes=n)).isoformat())
    rec("ActionItemCompleted", {"item_id": "HQ-MEMO"}, "ofo", "2006-01-10T09:00Z")
    before = log.max_position()
    with pytest.raises(RuleViolationError) as info:
        rec("ActionItemCompleted", {"item_id": "FEEDBACK-PLAN"}, "ofo", "2006-01-11T09:00Z")
    assert (info.value.rule, log.max_position()) == ("R9", before)
    with pytest.raises(RuleViolationError) as info:
        rec("ContrabandDiscovered", {"items": T21}, "ofo", "2006-01-11T09:00Z")
    assert info.value.rule == "stream"
    rec("ActionItemCompleted", {"item_id": "FEEDBACK-PLAN"}, "oi", "2006-02-03T09:00Z")
    state = log.state(MEMO)
    late = overdue(state, parse_time("2006-03-01T00:00Z"))
    assert sorted((o.key, o.became_overdue_at.isoformat(), o.done_at is not None)
                  for o in late) == [
        ("FEEDBACK-PLAN", "2006-02-01T00:00:00+00:00", True),
        ("JTTF-DIRECTIVE", "2006-02-02T00:00:00+00:00", False)]
    assert verify_store(log).ok


# ---------------------------------------------------------------- through the command line
@pytest.mark.parametrize("name", FILES)
def test_origin_scenarios_verify_query_and_report_from_the_cli(store_url: str,
                                                               name: str) -> None:
    """Each origin's case, once replayed, verifies with ``cdlog verify``, answers its expected
    questions through ``cdlog query`` and gets a case report from ``cdlog report``."""
    data = data_of(name)
    with CaseLog(store_url) as log:
        stream = replay_origin(log, data).scenario.case_stream
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, ["--store", store_url, *args], catch_exceptions=False)

    checked = run("verify", "--json")
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["ok"] is True
    for key, want in data["expected_answers"].items():
        question = parse_question(str(key))
        done = run("query", *question.argv(stream))
        assert done.exit_code == 0, done.output
        assert question.extract(json.loads(done.stdout), stream) == plain(want), key
    report = run("report", "case", stream)
    assert report.exit_code == 0, report.output
    assert "Verified" in report.stdout


def test_every_setting_says_where_it_comes_from() -> None:
    """Every rule setting is labelled as the memo's or as a configuration placeholder, so a
    query or report applying it can say which."""
    names = {*Config.model_fields, *(f"deadlines.{n}" for n in Deadlines.model_fields)}
    assert names == set(PROVENANCE)
    assert provenance("required_approvals").startswith(
        "required_approvals: configuration (a placeholder")
    assert provenance("pilot_days").startswith("pilot_days: the memo")


# ---------------------------------------------------------------- part 5: the read side
# Each origin's case, with an incident added (a window, recorded late, with a notification),
# answers the oversight questions through `cdlog query` and `cdlog report` as the domain has
# it: the domain's fold (CaseState, its duties, overdue()) and the origin helpers are the
# reference; the answers judged against the memo are written out as well.
INCIDENTS: dict[str, list[tuple[str, str, str, str, str]]] = {
    # file -> (incident id, window from, window to, recorded, who records and notifies)
    O1: [("INC-O1", "2006-05-10T21:00-07:00", "2006-05-10T21:30-07:00",
          "2006-05-11T14:00-07:00", "oi_ca")],
    O2: [("INC-O2", "2006-06-07T10:00-04:00", "2006-06-07T10:00-04:00",
          "2006-06-07T10:05-04:00", "oi_ca")],
    O3: [("INC-O3", "2006-07-05T13:40-05:00", "2006-07-05T13:40-05:00",
          "2006-07-05T13:45-05:00", "cbpo_e")],
    O4: [("INC-O4-PORT", "2006-09-12T07:35-04:00", "2006-09-12T07:35-04:00",
          "2006-09-12T07:40-04:00", "scbpo"),
         ("INC-O4-CD", "2006-09-13T08:00-04:00", "2006-09-13T08:00-04:00",
          "2006-09-13T08:10-04:00", "oi_ny")],
}
HOLDER_AT_INCIDENT = {  # R2 by occurrence time, per the memo and the domain's origin rules
    "INC-O1": "ICE/OI",       # OI's case; OI assumed it before the pass-through release
    "INC-O2": "ICE/OI",       # a foreign request is OI's from the opening
    "INC-O3": "ICE/OI",       # a partner referral is OI's from the opening (no release)
    "INC-O4-PORT": "CBP/OFO",  # an OFO interdiction before OI accepted and assumed it
    "INC-O4-CD": "ICE/OI",    # the controlled delivery after OI assumed responsibility
}
FEEDBACK_BOTH_WAYS = {  # R7: (owner, to) of every feedback duty, per origin
    O1: {("CBP", "ICE"), ("ICE", "CBP")},
    O2: {("CBP", "ICE"), ("ICE", "CBP"), ("ICE", "NL-FIOD")},
    O3: {("CBP", "ICE"), ("ICE", "CBP"), ("ICE", "ATF")},
    O4: {("ICE", "CBP")},
}


def with_incidents(name: str) -> dict[str, Any]:
    """The scenario with its incidents (and a notification of each) inserted in time order."""
    data = copy.deepcopy(data_of(name))
    steps: list[dict[str, Any]] = data["events"]
    for incident, start, end, recorded, by in INCIDENTS[name]:
        told = parse_time(recorded) + timedelta(minutes=5)
        new: list[dict[str, Any]] = [
            {"t": {"from": start, "to": end}, "rec": recorded, "type": "IncidentOccurred",
             "actor": by, "incident_id": incident, "incident_type": "property_damage",
             "discovered_at": end, "description": "pallet damaged (fictitious)"},
            {"t": told.isoformat(), "type": "NotificationMade", "actor": by, "from": by,
             "to": "oi_gs", "subject": f"incident {incident}", "incident_id": incident}]
        at = parse_time(recorded)  # recorded in order; attributed by when it happened
        index = next((i for i, s in enumerate(steps) if not isinstance(s["t"], dict)
                      and parse_time(str(s.get("rec", s["t"]))) > at), len(steps))
        steps[index:index] = new
    return data


def holder_by_domain(log: CaseLog, stream: str, at: datetime) -> str | None:
    """R2 holder at ``at`` from the stored events and the domain's origin helpers."""
    holder: str | None = None
    for stored in log.events(stream):
        fact = fact_of(stored)
        p = fact.payload
        if isinstance(p, ev.CaseOpened):
            holder = opening_holder(p)
        elif fact.occurred.end > at:
            continue
        elif isinstance(p, ev.ResponsibilityAssumed):
            holder = f"{p.agency}/{p.office}"
        elif isinstance(p, ev.ResponsibilityReleased):
            holder = released_holder(p)
    return holder


def _duty_rows(duties: Any) -> list[tuple[Any, ...]]:
    return sorted((d["kind"], d["key"], d["owner"], d.get("to") or "",
                   parse_time(d["due"]), parse_time(d["done_at"]) if d["done_at"] else None)
                  for d in duties)


@pytest.mark.parametrize("name", FILES)
def test_each_origin_answers_the_oversight_questions_like_the_domain(
        store_url: str, name: str) -> None:
    """Through ``cdlog query``: the case's origin and names, responsibility at each incident's
    occurrence time, approvals before release, notifications and their lags, surveillance
    gaps, item counts, feedback owed and given both ways, overdue duties at several times;
    each as the domain's fold has it (both stores)."""
    data = with_incidents(name)
    with CaseLog(store_url) as log:
        stream = replay_origin(log, data).scenario.case_stream
        assert verify_store(log).ok
        state = log.state(stream)
        holders = {inc: holder_by_domain(log, stream, parse_time(end))
                   for inc, _, end, _, _ in INCIDENTS[name]}
    runner = CliRunner()

    def query(*args: str) -> Any:
        done = runner.invoke(cli, ["--store", store_url, "query", *args],
                             catch_exceptions=False)
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)

    # the case: origin, OI case number, ports, who leads
    [case] = query("cases")["cases"]
    assert (case["origin"], case["origin_agency"], case["case_no"], case["oi_leads"]) == (
        state.origin, state.origin_agency, state.case_no, state.oi_leads)
    assert case["ports"] == [state.port, *state.ports]
    assert query("cases")["cases"][0] == query("responsibility", state.case_no or "")["case"]

    # R2: responsibility at each incident's occurrence time, and the incident's attribution
    for incident, start, end, _, _ in INCIDENTS[name]:
        want = HOLDER_AT_INCIDENT[incident]
        assert holders[incident] == want, incident
        assert query("responsibility", stream, "--at", end)["holder"] == want
        answer = query("incident", incident, "--case", stream)
        assert answer["responsible"] == want, answer["findings"]
        assert answer["occurred_from"] == parse_time(start).isoformat()
        [told] = answer["notifications"]
        assert told["lag_seconds"] > 0
        assert not any(f["rule"] == "R2" for f in answer["findings"])
        late = [f for f in answer["findings"] if f["rule"] == "late"]
        assert bool(late) == (incident == "INC-O1")  # recorded 16h30m after it happened
        for f in late:
            assert f["source"].startswith("deadlines.late_entry_after: configuration")
    assert query("responsibility", stream)["findings"] == []
    shared = query("disclosures", stream)
    assert shared["settings"] == [provenance("agencies")]

    # approvals before release, against what the domain requires of this origin and district
    matrix = query("approvals", stream)
    assert matrix["required"] == required_approvals(state, DEFAULT_CONFIG)
    granted = {r["kind"] for r in matrix["rows"] if r["status"] == "granted"}
    assert granted == set(state.approvals)
    missing = [k for k in matrix["required"] if k not in granted]
    assert missing == data["expected_answers"]["approvals_missing"]
    if state.released:
        assert matrix["release_at"] is not None
        assert all(r["before_release"] for r in matrix["rows"] if r["required"])
    assert any(s.startswith("required_approvals: configuration (a placeholder")
               for s in matrix["settings"])
    assert matrix["findings"] == []  # released with every approval, or never released (O3)

    # notifications and their lags: every feedback given is on the timeline, reporting the
    # result it feeds back on, to the agency the domain's duty names
    timeline = query("notifications", stream)["entries"]
    feedback = [e for e in timeline if e["kind"] == "feedback"]
    assert {e["to"] for e in feedback} == {to for _, to in FEEDBACK_BOTH_WAYS[name]}
    for e in feedback:
        assert e["reports"] is not None, e
        assert e["lag_seconds"] >= 0, e
    if state.notified_at is not None:
        r3 = query("timeliness", stream)["identification_to_notification"]
        assert parse_time(r3["end"]) == state.notified_at
        assert parse_time(r3["start"]) == state.identified_at
        assert r3["deadline_source"].startswith(
            "deadlines.notification_after_identification: configuration")

    # surveillance: eyes on from the release to the delivery, no gap in these cases
    coverage = query("surveillance", stream)
    assert bool(coverage["eyes_on"]) == (state.surveillance != "none")
    assert coverage["gaps"] == []
    assert coverage["findings"] == []

    # items: counts as the domain holds them
    ledger = query("items", stream)
    assert {r["item"]: r["holders"] for r in ledger["items"] if r["holders"]} == {
        k: dict(h.holders) for k, h in state.holdings.items() if h.holders}
    for record in ledger["items"]:
        assert record["initial_count"] == state.holdings[record["item"]].initial_count

    # R7 feedback owed and given, both ways, and R9/R7 duties overdue at several times
    assert {(d.owner, d.to) for d in state.duties if d.kind == "feedback"} == \
        FEEDBACK_BOTH_WAYS[name]
    final = query("timeliness", stream, "--as-of", "2007-01-01T00:00Z")
    assert _duty_rows(final["feedback"]) == sorted(
        (d.kind, d.key, d.owner, d.to, d.due, d.done_at)
        for d in state.duties if d.kind == "feedback")
    for d in state.duties:
        for as_of in (d.due - timedelta(minutes=1), d.due, d.due + timedelta(days=3)):
            answer = query("timeliness", stream, "--as-of", as_of.isoformat())
            assert {(x["kind"], x["key"]) for x in answer["overdue"]} == {
                (o.kind, o.key) for o in overdue(state, as_of)}, as_of
            listed = query("overdue", "--as-of", as_of.isoformat())
            assert {(x["case"], x["kind"], x["key"], x.get("to") or "")
                    for x in listed["items"]} == {
                (stream, o.kind, o.key, o.to) for o in overdue(state, as_of)}
            for x in listed["items"]:
                assert x["due_source"].startswith("deadlines.feedback_after_result: "
                                                  "configuration"), x
                assert listed["settings"] == [x["due_source"]]


def test_origin_reports_follow_the_domain(store_url: str) -> None:
    """``cdlog report``: each origin's case report names its origin and OI case number, its
    duties as the domain derives them, the pilot report looks for shadows on Title 21 cases
    OI leads at a pilot port whoever opened them, and the overdue report says where the
    deadline comes from (configuration, not the memo)."""
    streams: dict[str, str] = {}
    with CaseLog(store_url) as log:
        replayer = Replayer(log)  # one replayer: the agencies' roots are made once
        for name in FILES:
            streams[name] = replayer.replay(with_incidents(name)).scenario.case_stream
        states = {name: log.state(s) for name, s in streams.items()}
    runner = CliRunner()

    def report(*args: str) -> Any:
        done = runner.invoke(cli, ["--store", store_url, "report", *args, "--format", "json"],
                             catch_exceptions=False)
        assert done.exit_code == 0, done.output
        return json.loads(done.stdout)

    for name, stream in streams.items():
        doc = report("case", stream, "--as-of", "2007-01-01T00:00Z")
        state = states[name]
        assert doc["verification"]["all_cited_verified"] is True
        assert (doc["case"]["origin"], doc["case"]["case_no"]) == (state.origin,
                                                                   state.case_no)
        assert {(d["owner"], d["to"]) for d in doc["timeliness"]["feedback"]} == \
            FEEDBACK_BOTH_WAYS[name]
        late = {(f["text"].split()[1], f["source"]) for f in doc["findings"]
                if f["section"] == "duties"}
        assert {key for key, _ in late} == {
            o.key for o in overdue(state, parse_time("2007-01-01T00:00Z"))}
        assert all(source.startswith("deadlines.feedback_after_result: configuration")
                   for _, source in late)
        markdown = runner.invoke(cli, ["--store", store_url, "report", "case", stream],
                                 catch_exceptions=False)
        assert markdown.exit_code == 0, markdown.output
        assert state.origin.replace("_", " ") in markdown.stdout
        assert "Settings applied" in markdown.stdout

    pilot = {c["case"]["stream"]: c for c in report("pilot")["pilot"]["cases"]}
    expected = {  # (pilot port, Title 21, OI leads, shadow expected, shadows)
        O1: (True, False, True, False, []),          # Blaine; counterfeit watches
        O2: (True, True, True, True, ["CBP-4755"]),  # JFK; the attaché's case, shadowed
        O3: (True, False, True, False, []),          # Brownsville; firearm parts
        O4: (True, True, True, True, []),            # MIA then JFK; OFO's, accepted
    }
    for name, (port, t21, leads, wanted, shadows) in expected.items():
        got = pilot[streams[name]]
        assert (got["pilot_port"], got["title21"], got["oi_leads"], got["shadow_expected"],
                got["shadows"]) == (port, t21, leads, wanted, shadows), name
        assert (got["finding"] is not None) == (wanted and not shadows)
    o4 = pilot[streams[O4]]
    assert "does not require one on every case" in o4["finding"]
    assert "pilot_locations: the memo" in o4["source"]

    late = report("overdue", "--as-of", "2006-07-10T00:00Z")
    [owed] = late["findings"]  # OFO's feedback to OI on its examination at JFK (O2)
    assert owed["text"].startswith(f"{streams[O2]}: feedback secondary_examination@")
    assert "owed by CBP" in owed["text"]
    assert owed["source"].startswith("deadlines.feedback_after_result: configuration")
    assert any("configuration (a placeholder" in s for s in late["overdue"]["settings"])


def test_list_of_one_and_refusals_in_a_replay(log: CaseLog) -> None:
    """A list-valued field given one value is taken as a list of one (in a late entry's
    wrapped event too); any other value that does not fit is refused naming the step, the
    field and the expected form, before anything is written."""
    data = copy.deepcopy(data_of(O1))
    steps = data["events"]
    for step in steps:
        if step["type"] == "ContrabandDiscovered":
            step["items"] = step["items"][0]
        if step["type"] == "OperationProposed":
            step["targets"] = "SUBJ-O1"
    given = next(i for i, s in enumerate(steps) if s["type"] == "FeedbackProvided")
    late = dict(steps[given])
    steps[given] = {"t": late.pop("t"), "rec": "2006-05-14T10:00-07:00",
                    "type": "LateEntryRecorded", "actor": late.pop("actor"),
                    "wraps": late.pop("type"), "reason": "recorded from the port's notes",
                    **late, "categories": "secondary_examination"}
    bad = copy.deepcopy(data)
    index = next(i for i, s in enumerate(bad["events"]) if s["type"] == "ContrabandDiscovered")
    bad["events"][index]["items"] = {**bad["events"][index]["items"], "count": "many"}
    before = log.max_position()
    with pytest.raises(InputError) as info:
        replay_origin(log, bad)
    assert info.value.field.startswith(f"step {index + 1} (ContrabandDiscovered): ")
    assert "items.0.count" in info.value.field
    assert "integer" in info.value.expected
    assert log.max_position() == before

    result = replay_origin(log, data)
    events = log.events(result.scenario.case_stream)
    found = next(e for e in events if e.type == "ContrabandDiscovered")
    assert [i["item_id"] for i in found.payload["items"]] == ["P-1"]
    assert next(e for e in events if e.type == "OperationProposed").payload["targets"] == [
        "SUBJ-O1"]
    wrapped = next(e for e in events if e.type == "LateEntryRecorded")
    assert wrapped.payload["event"]["categories"] == ["secondary_examination"]
