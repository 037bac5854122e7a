"""Domain rules R1-R9 and the structural rules (lifecycle, time, stream, approvals, custody,
items, surveillance, incidents, knowledge, late), on the allowed and on the refused path.

Every refused path checks the rule id and that nothing was written (log position, stream
version and stored events unchanged). :func:`stage` builds a case up to a given step of the
controlled-delivery lifecycle; :func:`refused` and :func:`recorded_ok` record and check.

Parts: 1 port operations (R1), notification (R3), decision (R4), responsibility (R2), the
Title 21 pilot (R5), lifecycle/time/stream, signing keys; 2 the operation (approvals,
substitution, items, custody, surveillance, incidents); 3 after the operation (R6, R7, R8,
R9, late entries, knowledge).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from cdlog.canonical import parse_time
from cdlog.domain.evolve import overdue
from cdlog.errors import InputError, RuleViolationError
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.sealing import SealedEvent

if TYPE_CHECKING:
    from conftest import World

CASE = "case:OP-T-1"
CASE_NO = "MI-T-1"
DRUGS = [{"item_id": "A-1", "description": "brick, white powder", "category": "drug",
          "count": 42, "gross_weight_kg": "46.2"}]
STAGES = ("opened", "discovered", "held", "notified", "accepted", "responsible", "proposed",
          "approved", "released")
MODE = {"courier": "unwitting", "contents": "partial_substitution", "direction": "inbound",
        "vector": "maritime_container"}


# ---------------------------------------------------------------- shared helpers
def snapshot(world: World, stream: str = CASE) -> tuple[int, int, int]:
    """Log position, stream version and number of stored events of ``stream``."""
    return (world.log.max_position(), world.log.state(stream).version,
            len(world.log.events(stream)))


def refused(world: World, stream: str, type_: str, fields: dict[str, Any] | None, *, by: str,
            at: float, rule: str, cosign: tuple[str, ...] = (), recorded: float | None = None,
            says: Sequence[str] = ()) -> RuleViolationError:
    """Record an event that must be refused by ``rule``; check that nothing was written."""
    before = snapshot(world, stream)
    with pytest.raises(RuleViolationError) as info:
        world.rec(stream, type_, fields, by=by, at=at, cosign=cosign, recorded=recorded)
    err = info.value
    assert err.rule == rule, f"refused by {err.rule}, not {rule}: {err}"
    assert err.event_type == type_
    for text in says:
        assert text in str(err), f"{text!r} not in {err}"
    assert snapshot(world, stream) == before, "a refused event changed the log"
    return err


def approvals_for(operation_type: str, contents: str) -> list[tuple[str, str]]:
    """(kind, approver handle) of every approval the default configuration requires."""
    kinds = [("GS", "oi_gs"), ("USAO-origin", "ausa"), ("SAC", "oi_sac")]
    if contents != "intact":
        kinds.append(("substitution", "oi_gs"))
    if operation_type == "pass_through":
        kinds.append(("port-release", "pd"))
    return kinds


def stage(world: World, upto: str, *, port: str = "5201", items: list[dict[str, Any]] | None
          = None, contents: str = "partial_substitution",
          operation_type: str = "controlled_delivery", skip: Sequence[str] = (),
          sensitive: bool = False) -> str:
    """Build case ``OP-T-1`` up to stage ``upto`` (see :data:`STAGES`); return its stream.

    Minutes from T0: opened 0, discovered 10, held 15, notified 20, acknowledged 25,
    accepted 40, responsible 41, proposed 60, approvals 70.., released 100.
    """
    last = STAGES.index(upto)

    def want(name: str) -> bool:
        return STAGES.index(name) <= last and name not in skip

    stream = world.open_case(port=port)
    if want("discovered"):
        world.rec(stream, "ContrabandDiscovered", {"items": items or DRUGS}, by="cbpo", at=10)
    if want("held"):
        world.rec(stream, "HoldPlaced", {"hold_type": "quiet_hold_pending_OI",
                                         "reason": "do not alert the importer"},
                  by="scbpo", at=15)
    if want("notified"):
        world.rec(stream, "InvestigativeNotificationSent",
                  {"identified_at": world.t(10), "to": world.id("oi_duty"), "channel": "phone"},
                  by="cbpo", at=20)
        world.rec(stream, "NotificationAcknowledged", {}, by="oi_duty", at=25)
    if want("accepted"):
        world.rec(stream, "CaseAccepted", {"case_no": CASE_NO, "lead_office": "SAC-Miami"},
                  by="oi_duty", cosign=("oi_gs",), at=40)
    if want("responsible"):
        world.rec(stream, "ResponsibilityAssumed",
                  {"agency": "ICE", "office": "OI", "scope": "OP-T-1",
                   "acknowledged_by_ofo": world.id("scbpo")}, by="oi_gs", at=41)
    if want("proposed"):
        world.rec(stream, "OperationProposed",
                  {"operation_type": operation_type, "mode": {**MODE, "contents": contents},
                   "destination": {"district": "SD-FL"}, "sensitive": sensitive},
                  by="oi_ca", at=60)
    if want("approved"):
        for i, (kind, handle) in enumerate(approvals_for(operation_type, contents)):
            world.rec(stream, "ApprovalGranted", {"kind": kind}, by=handle, at=70 + i)
    if want("released"):
        if operation_type == "pass_through":
            world.rec(stream, "ReleasedUnderPassThrough",
                      {"requested_by": world.id("oi_ca"), "authorised_by": world.id("pd"),
                       "exam_performed": True}, by="oi_ca", cosign=("pd",), at=100)
        else:
            world.rec(stream, "HoldReleased", {"reason": "released for the CD"}, by="pd",
                      at=100)
    return stream


def recorded_ok(world: World, stream: str, type_: str, fields: dict[str, Any] | None, *,
                by: str, at: float, cosign: tuple[str, ...] = (),
                recorded: float | None = None) -> SealedEvent:
    """Record an event that must be allowed; check it was appended as the next version."""
    position, version, _ = snapshot(world, stream)
    sealed = world.rec(stream, type_, fields, by=by, at=at, cosign=cosign, recorded=recorded)
    assert sealed.type == type_
    assert sealed.version == version + 1
    assert world.log.max_position() == position + 1
    assert world.log.state(stream).version == version + 1
    return sealed


# ---------------------------------------------------------------- R1: port operations
PORT_OPS: list[tuple[str, dict[str, Any]]] = [
    ("ConveyanceArrived", {"refs": {"bol": "EXLN0000000001"}}),
    ("ExaminationReferred", {"reason": "NII image anomaly"}),
    ("ExaminationConducted", {"method": "devan", "result": "positive"}),
    ("ContrabandDiscovered", {"items": DRUGS}),
    ("HoldPlaced", {"hold_type": "quiet_hold_pending_OI", "reason": "quiet"}),
]


@pytest.mark.parametrize(("type_", "fields"), PORT_OPS, ids=[t for t, _ in PORT_OPS])
def test_r1_ofo_officer_records_port_operations(world: World, type_: str,
                                                fields: dict[str, Any]) -> None:
    """R1: a CBP/OFO officer may record port operations and discoveries."""
    stream = world.open_case()
    recorded_ok(world, stream, type_, fields, by="cbpo", at=5)


@pytest.mark.parametrize(("type_", "fields"), PORT_OPS, ids=[t for t, _ in PORT_OPS])
@pytest.mark.parametrize("by", ["oi_ca", "ausa"])
def test_r1_non_ofo_actor_refused_port_operations(world: World, type_: str,
                                                  fields: dict[str, Any], by: str) -> None:
    """R1: an ICE (or DOJ) actor may not record port operations or discoveries."""
    stream = world.open_case()
    refused(world, stream, type_, fields, by=by, at=5, rule="R1", says=("CBP/OFO",))


def test_r1_case_opened_only_by_ofo(world: World) -> None:
    """R1: only CBP/OFO opens a case at a port of entry; an ICE officer is refused."""
    before = snapshot(world)
    with pytest.raises(RuleViolationError) as info:
        world.log.open_case("OP-T-1", port="5201", signer=world.signers["oi_ca"],
                            at=world.t(0), recorded=world.t(0))
    assert info.value.rule == "R1"
    assert snapshot(world) == before
    assert world.open_case() == CASE


def test_r1_hold_released_only_by_ofo(world: World) -> None:
    """R1: an ICE agent cannot release the port's hold; the Port Director can."""
    stream = stage(world, "held")
    refused(world, stream, "HoldReleased", {"reason": "go"}, by="oi_ca", at=20, rule="R1")
    recorded_ok(world, stream, "HoldReleased", {"reason": "commercial release"}, by="pd", at=20)


@pytest.mark.parametrize("by", ["cbpo", "oi_ca"])
def test_r1_seizure_by_ofo_or_oi(world: World, by: str) -> None:
    """R1: seizures may be recorded by CBP/OFO or ICE/OI officers."""
    stream = stage(world, "discovered")
    recorded_ok(world, stream, "SeizureRecorded",
                {"seizure_no": "S-1", "seizure_type": "criminal"}, by=by, at=30)


def test_r1_seizure_by_prosecutor_refused(world: World) -> None:
    """R1: a DOJ prosecutor cannot record a seizure."""
    stream = stage(world, "discovered")
    refused(world, stream, "SeizureRecorded", {"seizure_no": "S-1", "seizure_type": "criminal"},
            by="ausa", at=30, rule="R1")


def test_r1_pass_through_parties_must_be_oi_and_ofo(world: World) -> None:
    """R1: a pass-through is requested by ICE/OI and authorised by CBP/OFO, not the reverse."""
    stream = stage(world, "approved", operation_type="pass_through", contents="intact")
    refused(world, stream, "ReleasedUnderPassThrough",
            {"requested_by": world.id("cbpo"), "authorised_by": world.id("pd"),
             "exam_performed": True}, by="cbpo", cosign=("pd",), at=100, rule="R1",
            says=("requested_by",))
    refused(world, stream, "ReleasedUnderPassThrough",
            {"requested_by": world.id("oi_ca"), "authorised_by": world.id("oi_gs"),
             "exam_performed": True}, by="oi_ca", at=100, rule="R1", says=("authorised_by",))
    recorded_ok(world, stream, "ReleasedUnderPassThrough",
                {"requested_by": world.id("oi_ca"), "authorised_by": world.id("pd"),
                 "exam_performed": True}, by="oi_ca", cosign=("pd",), at=100)
    assert world.log.state(stream).released


def test_pass_through_release_needs_a_pass_through_operation(world: World) -> None:
    """A pass-through release is refused when the proposed operation is a controlled delivery."""
    stream = stage(world, "approved")
    refused(world, stream, "ReleasedUnderPassThrough",
            {"requested_by": world.id("oi_ca"), "authorised_by": world.id("pd"),
             "exam_performed": False}, by="oi_ca", cosign=("pd",), at=100, rule="lifecycle")


def test_pass_through_authoriser_must_cosign(world: World) -> None:
    """The OFO officer who authorises a pass-through must co-sign it (COSIGN field)."""
    stream = stage(world, "approved", operation_type="pass_through", contents="intact")
    refused(world, stream, "ReleasedUnderPassThrough",
            {"requested_by": world.id("oi_ca"), "authorised_by": world.id("pd"),
             "exam_performed": True}, by="oi_ca", at=100, rule="R1",
            says=("authorised_by",))


# ---------------------------------------------------------------- R3: notification
def test_r3_notification_allowed_records_times(world: World) -> None:
    """R3: OFO notifies an OI officer; the identification and notification times are kept."""
    stream = stage(world, "discovered")
    recorded_ok(world, stream, "InvestigativeNotificationSent",
                {"identified_at": world.t(10), "to": world.id("oi_duty"), "channel": "phone"},
                by="cbpo", at=14)
    state = world.log.state(stream)
    assert state.identified_at == world.t(10)
    assert state.notified_at == world.t(14)
    assert state.notified_to == world.id("oi_duty")


def test_r3_notification_by_ice_refused(world: World) -> None:
    """R3: the investigative notification is sent by CBP/OFO; an ICE actor is refused."""
    stream = stage(world, "discovered")
    refused(world, stream, "InvestigativeNotificationSent",
            {"identified_at": world.t(10), "to": world.id("oi_duty"), "channel": "phone"},
            by="oi_ca", at=14, rule="R3")


@pytest.mark.parametrize("to", ["scbpo", "ausa", "NOBODY-1"])
def test_r3_notification_to_non_oi_officer_refused(world: World, to: str) -> None:
    """R3: ``to`` must be a certified ICE/OI officer (not CBP, DOJ or an unknown id)."""
    stream = stage(world, "discovered")
    target = world.id(to) if to in world.officers else to
    refused(world, stream, "InvestigativeNotificationSent",
            {"identified_at": world.t(10), "to": target, "channel": "phone"}, by="cbpo",
            at=14, rule="R3", says=("to", "ICE/OI"))


def test_r3_identified_after_notification_refused(world: World) -> None:
    """R3: identified_at after the notification itself is refused."""
    stream = stage(world, "discovered")
    refused(world, stream, "InvestigativeNotificationSent",
            {"identified_at": world.t(15), "to": world.id("oi_duty"), "channel": "phone"},
            by="cbpo", at=14, rule="R3", says=("identified_at",))


def test_r3_acknowledgement_before_notification_refused(world: World) -> None:
    """R3: OI cannot acknowledge a notification that was never sent."""
    stream = stage(world, "discovered")
    refused(world, stream, "NotificationAcknowledged", {}, by="oi_duty", at=14, rule="R3",
            says=("nothing was notified",))


def test_r3_acknowledgement_by_cbp_refused(world: World) -> None:
    """R3: the acknowledgement comes from ICE/OI, not from a CBP officer."""
    stream = stage(world, "discovered")
    world.rec(stream, "InvestigativeNotificationSent",
              {"identified_at": world.t(10), "to": world.id("oi_duty"), "channel": "phone"},
              by="cbpo", at=14)
    refused(world, stream, "NotificationAcknowledged", {}, by="scbpo", at=16, rule="R3")
    recorded_ok(world, stream, "NotificationAcknowledged", {}, by="oi_duty", at=16)


# ---------------------------------------------------------------- R4: accept / decline
ACCEPT = {"case_no": CASE_NO, "lead_office": "SAC-Miami"}
DECLINE = {"reason_code": "USAO_DECLINATION_QUANTITY", "referred_to": "administrative"}


def test_r4_accept_allowed(world: World) -> None:
    """R4: the OI duty agent accepts, co-signed by the GS; the case number is kept."""
    stream = stage(world, "notified")
    recorded_ok(world, stream, "CaseAccepted", ACCEPT, by="oi_duty", cosign=("oi_gs",), at=40)
    state = world.log.state(stream)
    assert (state.decision, state.case_no, state.decided_at) == ("accepted", CASE_NO,
                                                                 world.t(40))


def test_r4_decline_allowed(world: World) -> None:
    """R4: OI may decline with a reason code."""
    stream = stage(world, "notified")
    recorded_ok(world, stream, "CaseDeclined", DECLINE, by="oi_duty", at=40)
    assert world.log.state(stream).decision == "declined"


@pytest.mark.parametrize(("type_", "fields"), [("CaseAccepted", ACCEPT),
                                               ("CaseDeclined", DECLINE)])
def test_r4_decision_by_cbp_refused(world: World, type_: str, fields: dict[str, Any]) -> None:
    """R4: only ICE/OI accepts or declines; a CBP officer is refused."""
    stream = stage(world, "notified")
    refused(world, stream, type_, fields, by="scbpo", at=40, rule="R4")


@pytest.mark.parametrize(("type_", "fields"), [("CaseAccepted", ACCEPT),
                                               ("CaseDeclined", DECLINE)])
def test_r4_decision_without_notification_refused(world: World, type_: str,
                                                  fields: dict[str, Any]) -> None:
    """R4: OI cannot decide on a case it was never notified of."""
    stream = stage(world, "discovered")
    refused(world, stream, type_, fields, by="oi_duty", at=40, rule="R4",
            says=("never notified",))


@pytest.mark.parametrize(("first", "second"), [
    (("CaseAccepted", ACCEPT), ("CaseDeclined", DECLINE)),
    (("CaseDeclined", DECLINE), ("CaseAccepted", ACCEPT)),
    (("CaseAccepted", ACCEPT), ("CaseAccepted", ACCEPT)),
], ids=["accept-then-decline", "decline-then-accept", "accept-twice"])
def test_r4_one_decision_only(world: World, first: tuple[str, dict[str, Any]],
                              second: tuple[str, dict[str, Any]]) -> None:
    """R4: a case cannot be both accepted and declined (or decided twice)."""
    stream = stage(world, "notified")
    world.rec(stream, first[0], first[1], by="oi_duty", at=40)
    refused(world, stream, second[0], second[1], by="oi_duty", at=45, rule="R4",
            says=("already",))


def test_r4_cosigner_from_cbp_refused(world: World) -> None:
    """R4: a decision co-signed by a CBP officer is refused."""
    stream = stage(world, "notified")
    refused(world, stream, "CaseAccepted", ACCEPT, by="oi_duty", cosign=("scbpo",), at=40,
            rule="R4", says=("co-signed",))


def test_r4_prosecutor_must_be_doj(world: World) -> None:
    """R4: ProsecutorConsulted names a DOJ officer (or an outside ref), not an agent."""
    stream = stage(world, "notified")
    refused(world, stream, "ProsecutorConsulted",
            {"with": world.id("oi_gs"), "district": "SD-FL", "position": "concur"},
            by="oi_duty", at=30, rule="R4")
    recorded_ok(world, stream, "ProsecutorConsulted",
                {"with": world.id("ausa"), "district": "SD-FL", "position": "concur"},
                by="oi_duty", at=30)
    recorded_ok(world, stream, "ProsecutorConsulted",
                {"with": "AUSA-NOT-IN-LOG", "district": "SD-FL", "position": "decline"},
                by="oi_duty", at=31)


def test_r4_operation_proposed_only_by_oi_after_acceptance(world: World) -> None:
    """R4: OI leads accepted cases: proposals before acceptance are refused; R1: planning
    outside the port is OI's, so a proposal by CBP is refused."""
    fields = {"operation_type": "controlled_delivery", "mode": MODE,
              "destination": {"district": "SD-FL"}}
    stream = stage(world, "notified")
    refused(world, stream, "OperationProposed", fields, by="oi_ca", at=50, rule="R4",
            says=("not accepted",))
    world.rec(stream, "CaseAccepted", ACCEPT, by="oi_duty", at=55)
    refused(world, stream, "OperationProposed", fields, by="scbpo", at=60, rule="R1",
            says=("planning outside the port",))
    recorded_ok(world, stream, "OperationProposed", fields, by="oi_ca", at=60)
    refused(world, stream, "OperationProposed", fields, by="oi_ca", at=61, rule="lifecycle",
            says=("already proposed",))


def test_r4_operation_proposed_after_decline_refused(world: World) -> None:
    """R4: a declined case cannot get an operation."""
    stream = stage(world, "notified")
    world.rec(stream, "CaseDeclined", DECLINE, by="oi_duty", at=40)
    refused(world, stream, "OperationProposed",
            {"operation_type": "controlled_delivery", "mode": MODE,
             "destination": {"district": "SD-FL"}}, by="oi_ca", at=60, rule="R4")


def test_r4_termination_by_oi_of_a_running_operation(world: World) -> None:
    """R4: OI terminates its operation; CBP cannot, and a second termination is refused."""
    stream = stage(world, "proposed")
    refused(world, stream, "OperationTerminated", {"reason": "completed"}, by="pd", at=90,
            rule="R4")
    recorded_ok(world, stream, "OperationTerminated", {"reason": "walk_away"}, by="oi_gs",
                at=90)
    refused(world, stream, "OperationTerminated", {"reason": "completed"}, by="oi_gs", at=91,
            rule="lifecycle", says=("no operation is running",))


def test_termination_without_operation_refused(world: World) -> None:
    """An operation that was never proposed cannot be terminated."""
    stream = stage(world, "accepted")
    refused(world, stream, "OperationTerminated", {"reason": "completed"}, by="oi_gs", at=90,
            rule="lifecycle")


# ---------------------------------------------------------------- R2: responsibility
RESPONSIBILITY = {"agency": "ICE", "office": "OI", "scope": "OP-T-1"}


def test_r2_responsibility_assumed_after_acceptance(world: World) -> None:
    """R2: after CaseAccepted, OI assumes responsibility (acknowledged by OFO)."""
    stream = stage(world, "accepted")
    recorded_ok(world, stream, "ResponsibilityAssumed",
                {**RESPONSIBILITY, "acknowledged_by_ofo": world.id("scbpo")}, by="oi_gs", at=41)
    assert world.log.state(stream).responsibility_assumed


def test_r2_responsibility_before_acceptance_refused(world: World) -> None:
    """R2: ResponsibilityAssumed before CaseAccepted is refused."""
    stream = stage(world, "notified")
    refused(world, stream, "ResponsibilityAssumed", RESPONSIBILITY, by="oi_gs", at=41,
            rule="R2", says=("CaseAccepted",))


def test_r2_responsibility_after_decline_refused(world: World) -> None:
    """R2: a declined case gives OI no responsibility to assume."""
    stream = stage(world, "notified")
    world.rec(stream, "CaseDeclined", DECLINE, by="oi_duty", at=40)
    refused(world, stream, "ResponsibilityAssumed", RESPONSIBILITY, by="oi_gs", at=41,
            rule="R2")


def test_r2_responsibility_assumed_by_cbp_refused(world: World) -> None:
    """R2: only ICE/OI assumes responsibility; a CBP actor is refused."""
    stream = stage(world, "accepted")
    refused(world, stream, "ResponsibilityAssumed", RESPONSIBILITY, by="scbpo", at=41,
            rule="R2")


def test_r2_responsibility_given_to_another_agency_refused(world: World) -> None:
    """R2: responsibility moves to ICE/OI and nowhere else."""
    stream = stage(world, "accepted")
    refused(world, stream, "ResponsibilityAssumed",
            {"agency": "CBP", "office": "OFO", "scope": "OP-T-1"}, by="oi_gs", at=41,
            rule="R2", says=("CBP/OFO",))


def test_r2_responsibility_acknowledged_by_non_ofo_refused(world: World) -> None:
    """R2: acknowledged_by_ofo must name a CBP/OFO officer."""
    stream = stage(world, "accepted")
    refused(world, stream, "ResponsibilityAssumed",
            {**RESPONSIBILITY, "acknowledged_by_ofo": world.id("oi_duty")}, by="oi_gs", at=41,
            rule="R2", says=("acknowledged_by_ofo",))


def test_r2_responsibility_assumed_twice_refused(world: World) -> None:
    """R2: responsibility is assumed once at a time; release, then it may be assumed again."""
    stream = stage(world, "responsible")
    refused(world, stream, "ResponsibilityAssumed", RESPONSIBILITY, by="oi_gs", at=42,
            rule="R2", says=("already",))
    recorded_ok(world, stream, "ResponsibilityReleased", {"to": "OFO vault", "scope": "OP-T-1"},
                by="oi_gs", at=43)
    recorded_ok(world, stream, "ResponsibilityAssumed", RESPONSIBILITY, by="oi_gs", at=44)


def test_r2_responsibility_release_needs_assumption_and_oi(world: World) -> None:
    """R2: a release without a prior assumption, or by CBP, is refused."""
    stream = stage(world, "accepted")
    refused(world, stream, "ResponsibilityReleased", {"to": "OFO", "scope": "OP-T-1"},
            by="oi_gs", at=45, rule="R2", says=("does not hold",))
    world.rec(stream, "ResponsibilityAssumed", RESPONSIBILITY, by="oi_gs", at=46)
    refused(world, stream, "ResponsibilityReleased", {"to": "OFO", "scope": "OP-T-1"},
            by="scbpo", at=47, rule="R2")


def test_r2_release_before_responsibility_refused(world: World) -> None:
    """R2: releasing the load of a CD before OI assumed responsibility is refused."""
    stream = stage(world, "approved", skip=("responsible",))
    refused(world, stream, "HoldReleased", {"reason": "go"}, by="pd", at=100, rule="R2",
            says=("ResponsibilityAssumed",))


def test_r2_release_after_responsibility_and_approvals(world: World) -> None:
    """R2: with responsibility assumed and every approval granted, the release is allowed."""
    stream = stage(world, "approved")
    recorded_ok(world, stream, "HoldReleased", {"reason": "go"}, by="pd", at=100)
    state = world.log.state(stream)
    assert state.released
    assert not state.hold_active


def test_r2_delivery_before_release_refused(world: World) -> None:
    """R2: a delivery of an operation's load before it was released is refused."""
    stream = stage(world, "approved")
    refused(world, stream, "DeliveryMade", {"to_party": "SUBJ-1"}, by="oi_ca", at=110,
            rule="R2")
    world.rec(stream, "HoldReleased", {"reason": "go"}, by="pd", at=111)
    recorded_ok(world, stream, "DeliveryMade", {"to_party": "SUBJ-1"}, by="oi_ca", at=120)


def test_r2_case_closed_while_oi_responsible_refused(world: World) -> None:
    """R2: CaseClosed while OI holds responsibility is refused; after release it is allowed."""
    stream = stage(world, "responsible")
    refused(world, stream, "CaseClosed", {"reason": "done"}, by="scbpo", at=50, rule="R2",
            says=("ResponsibilityReleased",))
    world.rec(stream, "ResponsibilityReleased", {"to": "OFO", "scope": "OP-T-1"}, by="oi_gs",
              at=51)
    recorded_ok(world, stream, "CaseClosed", {"reason": "done"}, by="scbpo", at=52)
    assert world.log.state(stream).closed


# ---------------------------------------------------------------- R5: Title 21 pilot
def shadow_fields(world: World, port: str = "5201", case_no: str = CASE_NO) -> dict[str, Any]:
    """A ShadowAssigned payload for the cast's shadow and case agent."""
    return {"cbp_officer": world.id("shadow"), "oi_agent": world.id("oi_ca"),
            "case_no": case_no, "port": port}


def test_r5_shadow_assigned_on_accepted_title21_case_at_pilot_port(world: World) -> None:
    """R5: a CBP officer shadows an OI agent on an accepted drug case at a pilot port."""
    stream = stage(world, "accepted")
    recorded_ok(world, stream, "ShadowAssigned", shadow_fields(world), by="scbpo", at=45)
    assert world.log.state(stream).shadows == {world.id("shadow")}
    recorded_ok(world, stream, "ShadowReleased", {"cbp_officer": world.id("shadow")},
                by="scbpo", at=46)
    assert world.log.state(stream).shadows == set()


def test_r5_shadow_at_non_pilot_port_refused(world: World) -> None:
    """R5: shadow assignments exist only at the pilot ports."""
    stream = stage(world, "accepted", port="0901")
    refused(world, stream, "ShadowAssigned", shadow_fields(world, port="0901"), by="scbpo",
            at=45, rule="R5", says=("pilot port",))


def test_r5_pilot_is_the_memos_five_locations() -> None:
    """R5: the default pilot is the memo's five locations, each with its port codes; a
    location can be configured with other codes, and a port outside them is no pilot port."""
    from cdlog.domain.config import DEFAULT_CONFIG, Config, provenance
    locations = DEFAULT_CONFIG.pilot_locations
    assert [name.split(",")[0] for name in locations] == [
        "Miami (MIA)", "San Ysidro", "Blaine", "New York (JFK)", "Brownsville"]
    assert DEFAULT_CONFIG.pilot_location("5206") == "Miami (MIA), Florida"
    assert DEFAULT_CONFIG.pilot_location("4701") == "New York (JFK), New York"
    assert DEFAULT_CONFIG.pilot_location("0901") is None
    assert set(DEFAULT_CONFIG.pilot_ports) == {c for v in locations.values() for c in v}
    assert provenance("pilot_locations").startswith("pilot_locations: the memo")
    airport_only = Config(pilot_locations={**locations, "Miami (MIA), Florida": ("5206",)})
    assert "5201" not in airport_only.pilot_ports
    assert airport_only.pilot_location("5201") is None


def test_r5_refusal_names_the_pilot_locations(world: World) -> None:
    """R5: refusing a shadow at a non-pilot port says which locations the pilot has."""
    stream = stage(world, "accepted", port="0901")
    refused(world, stream, "ShadowAssigned", shadow_fields(world, port="0901"), by="scbpo",
            at=45, rule="R5", says=("Miami (MIA), Florida (5201, 5206)", "Brownsville"))


def test_r5_shadow_port_must_be_the_case_port(world: World) -> None:
    """R5: a case at a non-pilot port cannot claim a pilot port in the shadow assignment."""
    stream = stage(world, "accepted", port="0901")
    refused(world, stream, "ShadowAssigned", shadow_fields(world, port="5201"), by="scbpo",
            at=45, rule="R5", says=("0901",))


def test_r5_shadow_without_accepted_case_refused(world: World) -> None:
    """R5: no accepted OI case (not yet decided, or declined) means no shadow."""
    stream = stage(world, "notified")
    refused(world, stream, "ShadowAssigned", shadow_fields(world), by="scbpo", at=45,
            rule="R5")
    world.rec(stream, "CaseDeclined", DECLINE, by="oi_duty", at=46)
    refused(world, stream, "ShadowAssigned", shadow_fields(world), by="scbpo", at=47,
            rule="R5", says=("no accepted OI case",))


def test_r5_shadow_with_wrong_case_no_refused(world: World) -> None:
    """R5: the shadow assignment must name the accepted case number."""
    stream = stage(world, "accepted")
    refused(world, stream, "ShadowAssigned", shadow_fields(world, case_no="MI-OTHER"),
            by="scbpo", at=45, rule="R5", says=("MI-OTHER", CASE_NO))


def test_r5_shadow_without_drug_items_refused(world: World) -> None:
    """R5: a case with no controlled-substance items is not a Title 21 pilot case."""
    ipr = [{"item_id": "B-1", "description": "fake watches", "category": "IPR", "count": 300}]
    stream = stage(world, "accepted", items=ipr)
    refused(world, stream, "ShadowAssigned", shadow_fields(world), by="scbpo", at=45,
            rule="R5", says=("Title 21",))


@pytest.mark.parametrize(("field", "handle"), [("cbp_officer", "oi_duty"),
                                               ("oi_agent", "shadow")])
def test_r5_shadow_parties_must_be_cbp_and_oi(world: World, field: str, handle: str) -> None:
    """R5: the shadow is a CBP/OFO officer and the shadowed agent an ICE/OI agent."""
    stream = stage(world, "accepted")
    refused(world, stream, "ShadowAssigned", {**shadow_fields(world), field: world.id(handle)},
            by="scbpo", at=45, rule="R5", says=(field,))


def test_r5_shadow_release_without_assignment_refused(world: World) -> None:
    """R5: a shadow that was never assigned cannot be released."""
    stream = stage(world, "accepted")
    refused(world, stream, "ShadowReleased", {"cbp_officer": world.id("shadow")}, by="scbpo",
            at=45, rule="R5")


# ---------------------------------------------------------------- lifecycle, time, stream
def test_lifecycle_events_before_case_opened_refused(world: World) -> None:
    """Lifecycle: a case stream must begin with CaseOpened."""
    refused(world, CASE, "ConveyanceArrived", {}, by="cbpo", at=5, rule="lifecycle",
            says=("CaseOpened",))
    assert world.log.state(CASE).version == 0


def test_lifecycle_case_opened_once(world: World) -> None:
    """Lifecycle: a second CaseOpened in the same stream is refused."""
    stream = world.open_case()
    refused(world, stream, "CaseOpened", {"reference": "OP-T-1", "port": "5201"}, by="cbpo",
            at=5, rule="lifecycle", says=("once",))


def test_lifecycle_nothing_after_case_closed(world: World) -> None:
    """Lifecycle: after CaseClosed new events are refused; late entries and corrections not."""
    stream = world.open_case()
    world.rec(stream, "CaseClosed", {"reason": "no case"}, by="scbpo", at=5)
    refused(world, stream, "ConveyanceArrived", {}, by="cbpo", at=6, rule="lifecycle",
            says=("closed",))
    refused(world, stream, "CaseClosed", {"reason": "again"}, by="scbpo", at=6,
            rule="lifecycle")
    recorded_ok(world, stream, "CorrectionRecorded",
                {"corrects_version": 1, "reason": "typo", "correction": "port 5201"},
                by="cbpo", at=7)
    recorded_ok(world, stream, "LateEntryRecorded",
                {"wraps": "ExaminationReferred", "reason": "entered next day",
                 "event": {"reason": "x-ray anomaly"}}, by="cbpo", at=1, recorded=24 * 60)


def test_lifecycle_hold_release_needs_a_hold(world: World) -> None:
    """Lifecycle: a hold that was never placed cannot be released."""
    stream = stage(world, "discovered")
    refused(world, stream, "HoldReleased", {"reason": "go"}, by="pd", at=20, rule="lifecycle")


def test_lifecycle_correction_must_name_an_earlier_version(world: World) -> None:
    """Lifecycle: a correction names an earlier version, never itself or a later one."""
    stream = stage(world, "discovered")
    refused(world, stream, "CorrectionRecorded",
            {"corrects_version": 3, "reason": "r", "correction": "c"}, by="cbpo", at=11,
            rule="lifecycle")
    recorded_ok(world, stream, "CorrectionRecorded",
                {"corrects_version": 2, "reason": "r", "correction": "42 bricks, not 24"},
                by="cbpo", at=11)


def test_lifecycle_pnr_stream_begins_with_ingest(world: World) -> None:
    """Lifecycle: a PNR stream must begin with PNRRecordIngested, and only once."""
    refused(world, "pnr:K-1", "PNRLinkedToCase", {"case_no": CASE_NO}, by="pnr", at=5,
            rule="lifecycle", says=("PNRRecordIngested",))
    ingest = {"received_at": world.t(0), "flight": "XX1", "key_id": "K-1",
              "pnr_locator_commitment": "sha256:00"}
    recorded_ok(world, "pnr:K-1", "PNRRecordIngested", ingest, by="pnr", at=5)
    refused(world, "pnr:K-1", "PNRRecordIngested", ingest, by="pnr", at=6, rule="lifecycle")


def test_time_occurred_after_recorded_refused(world: World) -> None:
    """Time: an event cannot be recorded before it happened."""
    stream = world.open_case()
    refused(world, stream, "ConveyanceArrived", {}, by="cbpo", at=10, recorded=9, rule="time",
            says=("after it was recorded",))


def test_time_window_end_after_recorded_refused(world: World) -> None:
    """Time: a window whose end lies after the recording time is refused; one before is not."""
    stream = world.open_case()
    before = snapshot(world, stream)
    with pytest.raises(RuleViolationError) as info:
        world.log.record(stream, "ConveyanceArrived", {}, signer=world.signers["cbpo"],
                         at={"from": world.t(5), "to": world.t(12)}, recorded=world.t(10))
    assert info.value.rule == "time"
    assert snapshot(world, stream) == before
    sealed = world.log.record(stream, "ConveyanceArrived", {}, signer=world.signers["cbpo"],
                              at={"from": world.t(5), "to": world.t(9)}, recorded=world.t(10))
    assert sealed.envelope["occurred"] == {"from": "2006-03-14T06:05:00-05:00",
                                           "to": "2006-03-14T06:09:00-05:00"}


def test_time_recording_cannot_go_back_in_a_stream(world: World) -> None:
    """Time: recorded times of one stream never go back, even for older events."""
    stream = world.open_case(at=30)
    refused(world, stream, "ConveyanceArrived", {}, by="cbpo", at=10, recorded=20, rule="time",
            says=("before the previous event",))
    recorded_ok(world, stream, "ConveyanceArrived", {}, by="cbpo", at=10, recorded=30)


def test_time_recording_order_is_per_stream(world: World) -> None:
    """Time: another stream may be recorded at an earlier time than this one's last event."""
    world.open_case(at=60)
    other = world.log.open_case("OP-T-2", port="5201", signer=world.signers["cbpo"],
                                at=world.t(5), recorded=world.t(5))
    assert world.log.state(other).version == 1


@pytest.mark.parametrize(("stream", "type_", "fields", "by"), [
    ("case:OP-T-1", "PNRRecordIngested", {"received_at": "2006-03-01T00:00:00+00:00",
                                          "flight": "XX1", "key_id": "K-1",
                                          "pnr_locator_commitment": "sha256:00"}, "pnr"),
    ("case:OP-T-1", "ThirdPartyDisclosureAuthorized",
     {"requesting_agency": "ICE", "case_no": CASE_NO, "purpose": "p", "expires": "2006-06-01"},
     "pnr_sup"),
    ("case:OP-T-1", "PNRAccessed", {"purpose": "p", "fields": ["itinerary"]}, "pnr"),
    ("pnr-access:2006-03", "ConveyanceArrived", {}, "cbpo"),
])
def test_stream_kind_refuses_foreign_event_types(world: World, stream: str, type_: str,
                                                 fields: dict[str, Any], by: str) -> None:
    """Stream: PNR events do not go into a case stream, nor case events into PNR streams."""
    world.open_case()
    refused(world, stream, type_, fields, by=by, at=5, rule="stream", says=("stream",))


def test_stream_kind_refuses_case_event_in_pnr_stream(world: World) -> None:
    """Stream: an InformationShared event belongs to the case, not to the PNR record."""
    world.rec("pnr:K-1", "PNRRecordIngested",
              {"received_at": world.t(0), "flight": "XX1", "key_id": "K-1",
               "pnr_locator_commitment": "sha256:00"}, by="pnr", at=5)
    refused(world, "pnr:K-1", "InformationShared",
            {"from_agency": "CBP", "to_agency": "ICE", "basis": "dhs_need_to_know"},
            by="pnr_sup", at=6, rule="stream")


# ---------------------------------------------------------------- signing keys
def test_unknown_signer_refused_naming_the_signer(world: World) -> None:
    """A key that no agency root certified cannot sign; the error names the signer."""
    stream = world.open_case()
    stranger = Ed25519Signer.generate()
    before = snapshot(world, stream)
    with pytest.raises(InputError) as info:
        world.log.record(stream, "ConveyanceArrived", {}, signer=stranger, at=world.t(5),
                         recorded=world.t(5))
    assert not isinstance(info.value, RuleViolationError)
    assert info.value.field == "ConveyanceArrived.signer"
    assert stranger.key_id in info.value.problem
    assert snapshot(world, stream) == before


def test_revoked_signer_refused_naming_the_signer(world: World) -> None:
    """A revoked officer key cannot sign from the revocation on; the error names it."""
    stream = world.open_case()
    world.rec(stream, "ConveyanceArrived", {}, by="cbpo", at=5)
    key_id = world.signers["cbpo"].key_id
    world.log.revoke_key(world.roots["CBP"], "CBP", key_id, "lost", at=world.t(5))
    before = snapshot(world, stream)
    with pytest.raises(InputError) as info:
        world.rec(stream, "ExaminationReferred", {"reason": "x"}, by="cbpo", at=6)
    assert info.value.field == "ExaminationReferred.signer"
    assert key_id in info.value.problem
    assert snapshot(world, stream) == before
    recorded_ok(world, stream, "ExaminationReferred", {"reason": "x"}, by="scbpo", at=6)


def test_revoked_cosigner_refused(world: World) -> None:
    """A revoked co-signer's key is refused like the actor's."""
    stream = stage(world, "notified")
    key_id = world.signers["oi_gs"].key_id
    world.log.revoke_key(world.roots["ICE"], "ICE", key_id, "lost", at=world.t(39))
    before = snapshot(world, stream)
    with pytest.raises(InputError) as info:
        world.rec(stream, "CaseAccepted", ACCEPT, by="oi_duty", cosign=("oi_gs",), at=40)
    assert key_id in str(info.value)
    assert "signer" in info.value.field
    assert snapshot(world, stream) == before


# ================================================================ part 2: the operation
SUBSTITUTION = {"witnesses": ["CBP-5120"], "removed": {"item": "A-1", "count": 41},
                "remaining": {"item": "A-1", "count": 1}, "sham_added": {"count": 41},
                "removed_stored_at": "CBP vault MIA-V2"}


# ---------------------------------------------------------------- approvals
@pytest.mark.parametrize("missing", ["GS", "USAO-origin", "SAC", "substitution"])
def test_approvals_release_names_the_missing_kind(world: World, missing: str) -> None:
    """Approvals: a release before each required approval is refused, naming what is missing."""
    stream = stage(world, "proposed")
    for i, (kind, handle) in enumerate(approvals_for("controlled_delivery", "partial")):
        if kind != missing:
            world.rec(stream, "ApprovalGranted", {"kind": kind}, by=handle, at=70 + i)
    err = refused(world, stream, "HoldReleased", {"reason": "go"}, by="pd", at=100,
                  rule="approvals", says=(f"missing {missing}",))
    others = {k for k, _ in approvals_for("controlled_delivery", "partial")} - {missing}
    assert not any(k in err.problem.split("missing ", 1)[1].split(", ") for k in others)


def test_approvals_release_with_none_names_every_kind(world: World) -> None:
    """Approvals: with no approval at all, every required kind is listed."""
    stream = stage(world, "proposed")
    err = refused(world, stream, "HoldReleased", {"reason": "go"}, by="pd", at=100,
                  rule="approvals")
    assert err.problem.endswith("missing GS, SAC, USAO-origin, substitution")


def test_approvals_intact_cd_needs_no_substitution_approval(world: World) -> None:
    """Approvals: an intact controlled delivery needs GS, SAC and USAO-origin only."""
    stream = stage(world, "approved", contents="intact")
    recorded_ok(world, stream, "HoldReleased", {"reason": "go"}, by="pd", at=100)


def test_approvals_pass_through_needs_port_release(world: World) -> None:
    """Approvals: a pass-through needs the Port Director's port-release approval too."""
    stream = stage(world, "proposed", operation_type="pass_through", contents="intact")
    for i, (kind, handle) in enumerate(approvals_for("controlled_delivery", "intact")):
        world.rec(stream, "ApprovalGranted", {"kind": kind}, by=handle, at=70 + i)
    fields = {"requested_by": world.id("oi_ca"), "authorised_by": world.id("pd"),
              "exam_performed": True}
    refused(world, stream, "ReleasedUnderPassThrough", fields, by="oi_ca", cosign=("pd",),
            at=100, rule="approvals", says=("missing port-release",))
    world.rec(stream, "ApprovalGranted", {"kind": "port-release"}, by="pd", at=101)
    recorded_ok(world, stream, "ReleasedUnderPassThrough", fields, by="oi_ca", cosign=("pd",),
                at=102)


def test_approvals_sensitive_operation_needs_hq(world: World) -> None:
    """Approvals: a sensitive operation also needs HQ approval before release."""
    stream = stage(world, "approved", sensitive=True)
    refused(world, stream, "HoldReleased", {"reason": "go"}, by="pd", at=100,
            rule="approvals", says=("missing HQ",))


@pytest.mark.parametrize(("kind", "handle"), [("GS", "oi_ca"), ("SAC", "oi_gs"),
                                              ("USAO-origin", "oi_gs"), ("port-release", "scbpo"),
                                              ("substitution", "cbpo")])
def test_approvals_by_wrong_role_refused(world: World, kind: str, handle: str) -> None:
    """Approvals: an approval given by someone without the configured role is refused."""
    stream = stage(world, "proposed")
    refused(world, stream, "ApprovalGranted", {"kind": kind}, by=handle, at=70,
            rule="approvals", says=(f"{kind} approval by",))


def test_approvals_denial_by_wrong_role_refused(world: World) -> None:
    """Approvals: a denial is held to the same roles as a grant."""
    stream = stage(world, "proposed")
    refused(world, stream, "ApprovalDenied", {"kind": "SAC", "reason": "no"}, by="oi_ca", at=70,
            rule="approvals")
    recorded_ok(world, stream, "ApprovalDenied", {"kind": "SAC", "reason": "risk"},
                by="oi_sac", at=70)
    assert "SAC" not in world.log.state(stream).approvals


def test_approvals_duplicate_grant_refused(world: World) -> None:
    """Approvals: the same kind cannot be granted twice."""
    stream = stage(world, "proposed")
    recorded_ok(world, stream, "ApprovalGranted", {"kind": "GS"}, by="oi_gs", at=70)
    refused(world, stream, "ApprovalGranted", {"kind": "GS"}, by="oi_gs", at=71,
            rule="approvals", says=("already granted",))


def test_approvals_unknown_kind_refused(world: World) -> None:
    """Approvals: an approval kind the configuration does not know is refused."""
    stream = stage(world, "proposed")
    refused(world, stream, "ApprovalGranted", {"kind": "mayor"}, by="oi_sac", at=70,
            rule="approvals", says=("unknown approval kind",))


def test_approvals_before_any_operation_refused(world: World) -> None:
    """Approvals: nothing can be approved (or requested) before an operation is proposed."""
    stream = stage(world, "responsible")
    refused(world, stream, "ApprovalGranted", {"kind": "GS"}, by="oi_gs", at=70,
            rule="approvals", says=("no operation",))
    refused(world, stream, "ApprovalRequested", {"kind": "GS", "requested_of": "ICE-3302"},
            by="oi_ca", at=70, rule="approvals")


def test_approvals_request_allowed_by_case_agent(world: World) -> None:
    """Approvals: a request may come from the case agent; it grants nothing."""
    stream = stage(world, "proposed")
    recorded_ok(world, stream, "ApprovalRequested",
                {"kind": "SAC", "requested_of": world.id("oi_sac")}, by="oi_ca", at=65)
    assert world.log.state(stream).approvals == {}


def test_approvals_reset_by_a_new_proposal(world: World) -> None:
    """Approvals: after termination, a new proposal starts with no approvals."""
    stream = stage(world, "approved")
    world.rec(stream, "OperationTerminated", {"reason": "abort_risk"}, by="oi_gs", at=90)
    world.rec(stream, "OperationProposed",
              {"operation_type": "controlled_delivery",
               "mode": {"courier": "cooperating", "contents": "intact", "direction": "inbound",
                        "vector": "commercial_truck"},
               "destination": {"district": "SD-FL"}}, by="oi_ca", at=95)
    refused(world, stream, "HoldReleased", {"reason": "go"}, by="pd", at=100, rule="approvals",
            says=("missing GS, SAC, USAO-origin",))


# ---------------------------------------------------------------- substitution and items
def test_substitution_without_approval_refused(world: World) -> None:
    """Approvals: a substitution before the substitution approval is refused."""
    stream = stage(world, "proposed")
    refused(world, stream, "SubstitutionPerformed", SUBSTITUTION, by="oi_ca", at=80,
            rule="approvals", says=("substitution",))
    world.rec(stream, "ApprovalGranted", {"kind": "substitution"}, by="oi_gs", at=81)
    recorded_ok(world, stream, "SubstitutionPerformed", SUBSTITUTION, by="oi_ca", at=82)


def test_substitution_for_intact_operation_refused(world: World) -> None:
    """Approvals: an operation proposed with intact contents cannot substitute."""
    stream = stage(world, "approved", contents="intact")
    refused(world, stream, "SubstitutionPerformed", SUBSTITUTION, by="oi_ca", at=80,
            rule="approvals", says=("no operation with substitution",))


@pytest.mark.parametrize(("change", "says"), [
    ({"removed": {"item": "A-1", "count": 40}}, "!= 42 held"),
    ({"remaining": {"item": "A-2", "count": 1}}, "different items"),
    ({"removed": {"item": "Z-9", "count": 41}, "remaining": {"item": "Z-9", "count": 1}},
     "unknown"),
], ids=["counts", "two-items", "unknown-item"])
def test_substitution_counts_must_reconcile(world: World, change: dict[str, Any],
                                            says: str) -> None:
    """Items: removed + remaining must be one known item and add up to what is held."""
    stream = stage(world, "approved")
    refused(world, stream, "SubstitutionPerformed", {**SUBSTITUTION, **change}, by="oi_ca",
            at=80, rule="items", says=(says,))


def test_items_same_item_discovered_twice_refused(world: World) -> None:
    """Items: an item id is discovered once."""
    stream = stage(world, "discovered")
    refused(world, stream, "ContrabandDiscovered",
            {"items": [{"item_id": "A-1", "description": "more", "category": "drug"}]},
            by="cbpo", at=11, rule="items", says=("already recorded",))


@pytest.mark.parametrize(("expected", "found", "discrepancy"), [
    ({"A-1": 1, "SHAM-A": 41}, {"A-1": 1, "SHAM-A": 41}, 0),
    ({"A-1": 5, "SHAM-A": 3}, {"A-1": 4, "SHAM-A": 3, "X": 1}, 2),
    ({"A-1": 5}, {}, 5),
    ({}, {"A-1": 2}, 2),
])
def test_items_reconciliation_arithmetic_allowed(world: World, expected: dict[str, int],
                                                 found: dict[str, int],
                                                 discrepancy: int) -> None:
    """Items: the discrepancy is the sum of absolute differences per item, missing = 0."""
    stream = stage(world, "discovered")
    recorded_ok(world, stream, "InventoryReconciled",
                {"expected": expected, "found": found, "discrepancy": discrepancy},
                by="oi_ca", at=30)


@pytest.mark.parametrize(("expected", "found", "claimed", "true"), [
    ({"A-1": 5, "SHAM-A": 3}, {"A-1": 4, "SHAM-A": 3, "X": 1}, 0, 2),
    ({"A-1": 5}, {"A-1": 7}, 1, 2),
    ({"A-1": 1}, {"A-1": 1}, 3, 0),
])
def test_items_reconciliation_wrong_discrepancy_refused(world: World, expected: dict[str, int],
                                                        found: dict[str, int], claimed: int,
                                                        true: int) -> None:
    """Items: a stated discrepancy that does not match expected vs found is refused."""
    stream = stage(world, "discovered")
    err = refused(world, stream, "InventoryReconciled",
                  {"expected": expected, "found": found, "discrepancy": claimed},
                  by="oi_ca", at=30, rule="items")
    assert err.expected == str(true)


# ---------------------------------------------------------------- custody
def custody(world: World, frm: str, to: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    """A CustodyTransferred payload; cast handles become officer ids, others stay places."""
    def who(name: str) -> str:
        return world.id(name) if name in world.officers else name
    return {"from": who(frm), "to": who(to), "items": items, "receipt_ref": "6051S-1"}


def test_custody_both_officers_sign_allowed(world: World) -> None:
    """Custody: a hand-off signed by giver and receiver moves the counts between them."""
    stream = stage(world, "discovered")
    recorded_ok(world, stream, "CustodyTransferred",
                custody(world, "cbpo", "oi_ca", [{"item": "A-1", "count": 40}]),
                by="cbpo", cosign=("oi_ca",), at=20)
    holders = world.log.state(stream).holdings["A-1"].holders
    assert holders == {world.id("cbpo"): 2, world.id("oi_ca"): 40}


def test_custody_receiver_may_record_with_giver_cosigning(world: World) -> None:
    """Custody: either party may record, as long as both officers sign."""
    stream = stage(world, "discovered")
    recorded_ok(world, stream, "CustodyTransferred",
                custody(world, "cbpo", "spc", [{"item": "A-1", "count": 42}]),
                by="spc", cosign=("cbpo",), at=20)
    assert world.log.state(stream).holdings["A-1"].holders == {world.id("spc"): 42}


def test_custody_unsigned_receiving_officer_refused(world: World) -> None:
    """Custody: a receiving officer who did not sign makes the hand-off invalid."""
    stream = stage(world, "discovered")
    refused(world, stream, "CustodyTransferred",
            custody(world, "cbpo", "oi_ca", [{"item": "A-1", "count": 1}]), by="cbpo", at=20,
            rule="custody", says=(world.id("oi_ca"), "did not sign"))


def test_custody_unsigned_giving_officer_refused(world: World) -> None:
    """Custody: the giving officer must sign too."""
    stream = stage(world, "discovered")
    refused(world, stream, "CustodyTransferred",
            custody(world, "cbpo", "oi_ca", [{"item": "A-1", "count": 1}]), by="oi_ca", at=20,
            rule="custody", says=(world.id("cbpo"), "did not sign"))


def test_custody_place_as_receiver_needs_no_signature(world: World) -> None:
    """Custody: a vault (a place, not an officer) receives without signing."""
    stream = stage(world, "discovered")
    recorded_ok(world, stream, "CustodyTransferred",
                custody(world, "cbpo", "CBP vault MIA-V2", [{"item": "A-1", "count": 42}]),
                by="cbpo", at=20)
    assert world.log.state(stream).holdings["A-1"].holders == {"CBP vault MIA-V2": 42}


def test_custody_more_than_held_refused(world: World) -> None:
    """Custody: nobody can hand over more units than they hold."""
    stream = stage(world, "discovered")
    refused(world, stream, "CustodyTransferred",
            custody(world, "cbpo", "oi_ca", [{"item": "A-1", "count": 43}]), by="cbpo",
            cosign=("oi_ca",), at=20, rule="custody", says=("holds 42", "cannot hand over 43"))


def test_custody_more_than_held_counts_repeated_lines(world: World) -> None:
    """Custody: two lines of the same item are added up before comparing with the holding."""
    stream = stage(world, "discovered")
    refused(world, stream, "CustodyTransferred",
            custody(world, "cbpo", "oi_ca", [{"item": "A-1", "count": 30},
                                             {"item": "A-1", "count": 13}]),
            by="cbpo", cosign=("oi_ca",), at=20, rule="custody", says=("cannot hand over 43",))


def test_custody_from_non_holder_refused(world: World) -> None:
    """Custody: an officer who holds none of an item cannot hand it over."""
    stream = stage(world, "discovered")
    refused(world, stream, "CustodyTransferred",
            custody(world, "oi_ca", "spc", [{"item": "A-1", "count": 1}]), by="oi_ca",
            cosign=("spc",), at=20, rule="custody", says=("holds 0",))


def test_custody_new_item_starts_its_ledger_at_hand_off(world: World) -> None:
    """Custody: an item first seen at a hand-off (sham) starts its ledger there."""
    stream = stage(world, "discovered")
    recorded_ok(world, stream, "CustodyTransferred",
                custody(world, "cbpo", "oi_ca", [{"item": "SHAM-A", "count": 41}]),
                by="cbpo", cosign=("oi_ca",), at=20)
    assert world.log.state(stream).holdings["SHAM-A"].holders == {world.id("oi_ca"): 41}
    refused(world, stream, "CustodyTransferred",
            custody(world, "oi_ca", "spc", [{"item": "SHAM-A", "count": 42}]), by="oi_ca",
            cosign=("spc",), at=21, rule="custody")


def test_custody_same_party_refused(world: World) -> None:
    """Custody: a hand-off needs two different parties."""
    stream = stage(world, "discovered")
    refused(world, stream, "CustodyTransferred",
            custody(world, "cbpo", "cbpo", [{"item": "A-1", "count": 1}]), by="cbpo", at=20,
            rule="custody", says=("same party",))


def test_custody_recorded_by_non_party_refused(world: World) -> None:
    """Custody: a transfer between two places must be recorded by a party, not a bystander."""
    stream = stage(world, "discovered")
    world.rec(stream, "CustodyTransferred",
              custody(world, "cbpo", "vault A", [{"item": "A-1", "count": 42}]), by="cbpo",
              at=20)
    refused(world, stream, "CustodyTransferred",
            custody(world, "vault A", "vault B", [{"item": "A-1", "count": 42}]), by="spc",
            at=21, rule="custody", says=("not a party",))


# ---------------------------------------------------------------- surveillance
Step = tuple[str, dict[str, Any]]
START: Step = ("SurveillanceStarted", {"team_lead": "ICE-6610"})
OBSERVE: Step = ("PositionObserved", {"method": "visual", "position": "I-95 north"})
HANDOFF: Step = ("SurveillanceHandedOff", {"from_team": "T1", "to_team": "T2"})
LOST: Step = ("SurveillanceLost", {"last_confirmed": {"at": "2006-03-14T07:55:00-05:00",
                                                      "position": "exit 4", "by": "ICE-6610"}})
REACQUIRED: Step = ("SurveillanceReacquired", {"condition_of_load": "seals intact"})
ENDED: Step = ("SurveillanceEnded", {"reason": "delivered"})


def test_surveillance_full_cycle_allowed(world: World) -> None:
    """Surveillance: start, observe, hand off, lose, observe by tracker, reacquire, end, restart."""
    stream = stage(world, "discovered")
    steps = [START, OBSERVE, HANDOFF, LOST, OBSERVE, REACQUIRED, OBSERVE, LOST, ENDED, START]
    expected = ["active", "active", "active", "lost", "lost", "active", "active", "lost",
                "ended", "active"]
    for i, ((type_, fields), state) in enumerate(zip(steps, expected, strict=True)):
        recorded_ok(world, stream, type_, fields, by="oi_ca", at=120 + i)
        assert world.log.state(stream).surveillance == state, type_


@pytest.mark.parametrize(("before", "event"), [
    ([], OBSERVE), ([], HANDOFF), ([], LOST), ([], REACQUIRED), ([], ENDED),
    ([START], START), ([START], REACQUIRED),
    ([START, LOST], LOST), ([START, LOST], HANDOFF), ([START, LOST], START),
    ([START, ENDED], OBSERVE), ([START, ENDED], ENDED), ([START, ENDED], REACQUIRED),
], ids=lambda v: v[0] if isinstance(v, tuple) else "-".join(t for t, _ in v) or "none")
def test_surveillance_state_machine_refusals(world: World, before: list[tuple[str, Any]],
                                             event: tuple[str, dict[str, Any]]) -> None:
    """Surveillance: each event is allowed only from its states (e.g. reacquire only if lost)."""
    stream = stage(world, "discovered")
    for i, (type_, fields) in enumerate(before):
        world.rec(stream, type_, fields, by="oi_ca", at=120 + i)
    refused(world, stream, event[0], event[1], by="oi_ca", at=130, rule="surveillance",
            says=("surveillance is",))


def test_surveillance_lost_confirmed_after_detection_refused(world: World) -> None:
    """Surveillance: the last confirmed sighting cannot be after the loss was detected."""
    stream = stage(world, "discovered")
    world.rec(stream, *START, by="oi_ca", at=100)
    late = {"last_confirmed": {"at": world.t(112), "position": "x", "by": "ICE-6610"}}
    refused(world, stream, "SurveillanceLost", late, by="oi_ca", at=110, rule="surveillance",
            says=("last confirmed",))


def test_surveillance_shadow_must_be_cbp(world: World) -> None:
    """R5: the CBP shadow named in surveillance must be a certified CBP officer."""
    stream = stage(world, "discovered")
    refused(world, stream, "SurveillanceStarted",
            {"team_lead": world.id("oi_ca"), "cbp_shadow": world.id("oi_gs")}, by="oi_ca",
            at=100, rule="R5", says=("cbp_shadow",))
    recorded_ok(world, stream, "SurveillanceStarted",
                {"team_lead": world.id("oi_ca"), "cbp_shadow": world.id("shadow")}, by="oi_ca",
                at=100)


# ---------------------------------------------------------------- incidents
INCIDENT = {"incident_id": "INC-1", "incident_type": "surveillance_lost", "severity": "high"}


def test_incidents_open_update_close_allowed(world: World) -> None:
    """Incidents: an incident with a window is opened, updated and closed."""
    stream = stage(world, "discovered")
    sealed = world.log.record(stream, "IncidentOccurred",
                              {**INCIDENT, "discovered_at": world.t(140)},
                              signer=world.signers["oi_ca"],
                              at={"from": world.t(130), "to": world.t(138)},
                              recorded=world.t(145))
    assert sealed.version == world.log.state(stream).version
    assert world.log.state(stream).incidents == {"INC-1": True}
    recorded_ok(world, stream, "IncidentUpdated", {"incident_id": "INC-1", "findings": "f"},
                by="oi_gs", at=150)
    recorded_ok(world, stream, "IncidentClosed", {"incident_id": "INC-1"}, by="oi_gs", at=160)
    assert world.log.state(stream).incidents == {"INC-1": False}
    refused(world, stream, "IncidentUpdated", {"incident_id": "INC-1", "findings": "late"},
            by="oi_gs", at=161, rule="incidents", says=("not open",))
    refused(world, stream, "IncidentClosed", {"incident_id": "INC-1"}, by="oi_gs", at=162,
            rule="incidents")


def test_incidents_duplicate_id_refused(world: World) -> None:
    """Incidents: an incident id is used once, even after the incident was closed."""
    stream = stage(world, "discovered")
    world.rec(stream, "IncidentOccurred", {**INCIDENT, "discovered_at": world.t(130)},
              by="oi_ca", at=130)
    refused(world, stream, "IncidentOccurred", {**INCIDENT, "discovered_at": world.t(131)},
            by="oi_ca", at=131, rule="incidents", says=("already recorded",))
    world.rec(stream, "IncidentClosed", {"incident_id": "INC-1"}, by="oi_gs", at=132)
    refused(world, stream, "IncidentOccurred", {**INCIDENT, "discovered_at": world.t(133)},
            by="oi_ca", at=133, rule="incidents")


@pytest.mark.parametrize("type_", ["IncidentUpdated", "IncidentClosed"])
def test_incidents_unknown_incident_refused(world: World, type_: str) -> None:
    """Incidents: updating or closing an incident that was never recorded is refused."""
    stream = stage(world, "discovered")
    fields: dict[str, Any] = {"incident_id": "INC-404"}
    if type_ == "IncidentUpdated":
        fields["findings"] = "f"
    refused(world, stream, type_, fields, by="oi_gs", at=130, rule="incidents",
            says=("INC-404",))


def test_incidents_discovered_before_occurrence_refused(world: World) -> None:
    """Incidents: discovered_at cannot precede the start of the occurrence window."""
    stream = stage(world, "discovered")
    before = (world.log.max_position(), world.log.state(stream).version)
    with pytest.raises(RuleViolationError) as info:
        world.log.record(stream, "IncidentOccurred", {**INCIDENT, "discovered_at": world.t(125)},
                         signer=world.signers["oi_ca"],
                         at={"from": world.t(130), "to": world.t(138)}, recorded=world.t(145))
    assert info.value.rule == "incidents"
    assert (world.log.max_position(), world.log.state(stream).version) == before


def test_incidents_discovered_after_recording_refused(world: World) -> None:
    """Incidents: discovered_at cannot be after the incident was recorded."""
    stream = stage(world, "discovered")
    refused(world, stream, "IncidentOccurred", {**INCIDENT, "discovered_at": world.t(131)},
            by="oi_ca", at=125, recorded=130, rule="incidents", says=("discovered_at",))


# ================================================================ part 3: after the operation
DAY = 24 * 60


# ---------------------------------------------------------------- R6: interviews, briefings
def test_r6_interview_with_cbp_present_allowed_opens_no_duty(world: World) -> None:
    """R6: an interview attended by a CBP officer opens no briefing duty."""
    stream = stage(world, "accepted")
    recorded_ok(world, stream, "InterviewConducted",
                {"subject_ref": "SUBJ-1", "cbp_present": True, "cbp_officer": world.id("shadow")},
                by="oi_ca", at=200)
    assert world.log.state(stream).duties == []


def test_r6_interview_by_cbp_refused(world: World) -> None:
    """R6: defendant interviews are conducted by ICE/OI, not by CBP."""
    stream = stage(world, "accepted")
    refused(world, stream, "InterviewConducted",
            {"subject_ref": "SUBJ-1", "cbp_present": True, "cbp_officer": world.id("shadow")},
            by="shadow", at=200, rule="R6")


def test_r6_cbp_present_without_officer_refused(world: World) -> None:
    """R6: cbp_present=true must name the CBP officer who attended."""
    stream = stage(world, "accepted")
    refused(world, stream, "InterviewConducted", {"subject_ref": "SUBJ-1", "cbp_present": True},
            by="oi_ca", at=200, rule="R6", says=("cbp_officer",))


def test_r6_cbp_present_with_non_cbp_officer_refused(world: World) -> None:
    """R6: the attending officer must be a certified CBP officer."""
    stream = stage(world, "accepted")
    refused(world, stream, "InterviewConducted",
            {"subject_ref": "SUBJ-1", "cbp_present": True, "cbp_officer": world.id("oi_gs")},
            by="oi_ca", at=200, rule="R6", says=("cbp_officer",))


def test_r6_briefing_duty_opened_and_closed(world: World) -> None:
    """R6: without CBP present a briefing duty opens, due in 2 days; SCBPOBriefed closes it."""
    stream = stage(world, "accepted")
    world.rec(stream, "InterviewConducted", {"subject_ref": "SUBJ-2", "cbp_present": False},
              by="oi_ca", at=200)
    duty = world.log.state(stream).duty("briefing", "SUBJ-2")
    assert duty is not None
    assert (duty.owner, duty.opened_at, duty.due, duty.done_at) == (
        world.id("oi_ca"), world.t(200), world.t(200 + 2 * DAY), None)
    recorded_ok(world, stream, "SCBPOBriefed",
                {"scbpo": world.id("scbpo"), "topics": ["SUBJ-2 interview"]}, by="oi_ca",
                at=300)
    state = world.log.state(stream)
    closed = state.duty("briefing", "SUBJ-2")
    assert closed is not None
    assert closed.done_at == world.t(300)
    assert overdue(state, world.t(10 * DAY)) == []


def test_r6_briefing_overdue_when_not_done(world: World) -> None:
    """R6: a briefing not given is derived overdue from its due time on, never before."""
    stream = stage(world, "accepted")
    world.rec(stream, "InterviewConducted", {"subject_ref": "SUBJ-2", "cbp_present": False},
              by="oi_ca", at=200)
    state = world.log.state(stream)
    due = world.t(200 + 2 * DAY)
    assert overdue(state, due - timedelta(microseconds=1)) == []
    [late] = overdue(state, due)
    assert (late.event_type, late.key, late.became_overdue_at, late.done_at) == (
        "BriefingOverdue", "SUBJ-2", due, None)


def test_r6_briefing_given_late_is_still_reported_overdue(world: World) -> None:
    """R6: a briefing given after its due time is reported overdue, with when it was done."""
    stream = stage(world, "accepted")
    world.rec(stream, "InterviewConducted", {"subject_ref": "SUBJ-2", "cbp_present": False},
              by="oi_ca", at=200)
    world.rec(stream, "SCBPOBriefed", {"scbpo": world.id("scbpo"), "topics": ["SUBJ-2"]},
              by="oi_ca", at=200 + 3 * DAY)
    [late] = overdue(world.log.state(stream), world.t(200 + 4 * DAY))
    assert late.done_at == world.t(200 + 3 * DAY)


@pytest.mark.parametrize("handle", ["cbpo", "pd", "oi_gs", "NOBODY"])
def test_r6_briefing_to_non_scbpo_refused(world: World, handle: str) -> None:
    """R6: SCBPOBriefed must name a CBP/OFO officer with the SCBPO role."""
    stream = stage(world, "accepted")
    target = world.id(handle) if handle in world.officers else handle
    refused(world, stream, "SCBPOBriefed", {"scbpo": target, "topics": ["x"]}, by="oi_ca",
            at=200, rule="R6", says=("scbpo",))


def test_r6_briefing_by_cbp_refused(world: World) -> None:
    """R6: OI briefs the SCBPO; a CBP officer cannot record the briefing."""
    stream = stage(world, "accepted")
    refused(world, stream, "SCBPOBriefed", {"scbpo": world.id("scbpo"), "topics": ["x"]},
            by="shadow", at=200, rule="R6")


# ---------------------------------------------------------------- R7: feedback
FEEDBACK = {"from_agency": "ICE", "to_agency": "CBP", "categories": ["declination"],
            "results": "declined; administrative path"}


def test_r7_feedback_from_actor_agency_allowed(world: World) -> None:
    """R7: ICE gives feedback to CBP; CBP gives feedback to ICE."""
    stream = stage(world, "notified")
    recorded_ok(world, stream, "FeedbackProvided", FEEDBACK, by="oi_gs", at=100)
    recorded_ok(world, stream, "FeedbackProvided",
                {"from_agency": "CBP", "to_agency": "ICE", "categories": ["penalty"],
                 "results": "penalty mitigated"}, by="scbpo", at=101)


@pytest.mark.parametrize(("by", "from_agency"), [("scbpo", "ICE"), ("oi_gs", "CBP"),
                                                 ("ausa", "ICE")])
def test_r7_feedback_from_other_agency_refused(world: World, by: str, from_agency: str) -> None:
    """R7: from_agency must be the agency of the officer giving the feedback."""
    stream = stage(world, "notified")
    to = "CBP" if from_agency == "ICE" else "ICE"
    refused(world, stream, "FeedbackProvided",
            {**FEEDBACK, "from_agency": from_agency, "to_agency": to}, by=by, at=100,
            rule="R7", says=("from_agency",))


@pytest.mark.parametrize("to_agency", ["ICE", "FBI"])
def test_r7_feedback_to_self_or_unknown_agency_refused(world: World, to_agency: str) -> None:
    """R7: feedback goes to another configured agency."""
    stream = stage(world, "notified")
    refused(world, stream, "FeedbackProvided", {**FEEDBACK, "to_agency": to_agency},
            by="oi_gs", at=100, rule="R7", says=("to_agency",))


def test_r7_feedback_duty_opened_by_decline_and_closed_by_ice_feedback(world: World) -> None:
    """R7: a declination opens ICE's feedback duty; CBP's own feedback does not close it."""
    stream = stage(world, "notified")
    world.rec(stream, "CaseDeclined", {"reason_code": "RESOURCES"}, by="oi_duty", at=40)
    duties = [d for d in world.log.state(stream).duties if d.kind == "feedback"]
    assert [(d.owner, d.due) for d in duties] == [("ICE", world.t(40 + 30 * DAY))]
    world.rec(stream, "FeedbackProvided",
              {"from_agency": "CBP", "to_agency": "ICE", "categories": ["penalty"],
               "results": "r"}, by="scbpo", at=50)
    still = world.log.state(stream).duties[0]
    assert still.done_at is None
    world.rec(stream, "FeedbackProvided", FEEDBACK, by="oi_gs", at=60)
    assert world.log.state(stream).duties[0].done_at == world.t(60)
    assert overdue(world.log.state(stream), world.t(60 * DAY)) == []


def test_r7_feedback_overdue_derived(world: World) -> None:
    """R7: feedback not given by its due time is derived as FeedbackOverdue."""
    stream = stage(world, "notified")
    world.rec(stream, "CaseDeclined", {"reason_code": "RESOURCES"}, by="oi_duty", at=40)
    due = world.t(40 + 30 * DAY)
    state = world.log.state(stream)
    assert overdue(state, due - timedelta(seconds=1)) == []
    assert [(o.event_type, o.owner, o.became_overdue_at) for o in overdue(state, due)] == [
        ("FeedbackOverdue", "ICE", due)]


@pytest.mark.parametrize("type_", ["FeedbackOverdue", "ActionItemOverdue"])
def test_r7_r9_overdue_events_cannot_be_typed_in(world: World, type_: str) -> None:
    """R7/R9: overdue events are derived only; recording one by hand is refused (R9)."""
    stream = stage(world, "notified")
    fields = {"item_id": "AI-1"} if type_ == "ActionItemOverdue" else {}
    refused(world, stream, type_, fields, by="scbpo", at=100, rule="R9", says=("derived",))


# ---------------------------------------------------------------- R8: EU PNR
SHARE = {"from_agency": "CBP", "to_agency": "ICE", "basis": "third_party_rule",
         "pnr_derived": True, "data_classes": ["itinerary"]}


def pnr_case(world: World) -> str:
    """An accepted case plus a PNR record ingested by the CBP analyst."""
    stream = stage(world, "accepted")
    world.rec("pnr:K-1", "PNRRecordIngested",
              {"received_at": world.t(-20 * DAY), "flight": "XX123 EU->MIA", "key_id": "K-1",
               "pnr_locator_commitment": "sha256:00"}, by="pnr", at=50)
    return stream


def authorise(world: World, at: float, *, expires: str = "2006-06-16",
              case_no: str = CASE_NO, agency: str = "ICE") -> None:
    """Record a ThirdPartyDisclosureAuthorized in the PNR stream."""
    world.rec("pnr:K-1", "ThirdPartyDisclosureAuthorized",
              {"requesting_agency": agency, "case_no": case_no,
               "purpose": "transnational crime investigation", "expires": expires},
              by="pnr_sup", at=at)


def test_r8_pnr_to_ice_without_authorisation_refused(world: World) -> None:
    """R8: PNR-derived data cannot go to ICE without a ThirdPartyDisclosureAuthorized."""
    stream = pnr_case(world)
    refused(world, stream, "InformationShared", SHARE, by="pnr_sup", at=200, rule="R8",
            says=("no ThirdPartyDisclosureAuthorized",))


def test_r8_pnr_to_ice_with_valid_prior_authorisation_allowed(world: World) -> None:
    """R8: with a prior, unexpired authorisation for this case and ICE, sharing is allowed."""
    stream = pnr_case(world)
    authorise(world, 100)
    recorded_ok(world, stream, "InformationShared", SHARE, by="pnr_sup", at=200)


def test_r8_pnr_to_ice_with_expired_authorisation_refused(world: World) -> None:
    """R8: an authorisation that expired before the sharing does not cover it."""
    stream = pnr_case(world)
    authorise(world, 100, expires="2006-03-14")
    refused(world, stream, "InformationShared", SHARE, by="pnr_sup", at=DAY, rule="R8")


def test_r8_expiry_day_is_inclusive_and_judged_in_port_time(world: World) -> None:
    """R8: an authorisation expiring 2006-03-15 covers that whole day at the port, no more."""
    stream = pnr_case(world)
    authorise(world, 100, expires="2006-03-15")
    # 2006-03-15T23:30-05:00, written in UTC (2006-03-16T04:30Z): still the 15th at the port.
    last_minute = world.t(DAY + 17 * 60 + 30).astimezone(UTC)
    sealed = world.log.record(stream, "InformationShared", SHARE,
                              signer=world.signers["pnr_sup"], at=last_minute,
                              recorded=last_minute)
    assert sealed.version == world.log.state(stream).version
    refused(world, stream, "InformationShared", SHARE, by="pnr_sup", at=DAY + 18 * 60,
            rule="R8")


def test_r8_authorisation_after_the_sharing_refused(world: World) -> None:
    """R8: an authorisation given after the time of sharing does not cover it."""
    stream = pnr_case(world)
    authorise(world, 300)
    refused(world, stream, "InformationShared", SHARE, by="pnr_sup", at=200, recorded=310,
            rule="R8")


@pytest.mark.parametrize(("case_no", "agency"), [("MI-OTHER", "ICE"), (CASE_NO, "DEA")])
def test_r8_authorisation_for_other_case_or_agency_refused(world: World, case_no: str,
                                                           agency: str) -> None:
    """R8: the authorisation must be for this case's number and the receiving agency."""
    stream = pnr_case(world)
    authorise(world, 100, case_no=case_no, agency=agency)
    refused(world, stream, "InformationShared", SHARE, by="pnr_sup", at=200, rule="R8")


def test_r8_pnr_to_ice_on_other_basis_refused(world: World) -> None:
    """R8: DHS need-to-know is no basis for EU PNR to ICE (ICE is a third party)."""
    stream = pnr_case(world)
    authorise(world, 100)
    refused(world, stream, "InformationShared", {**SHARE, "basis": "dhs_need_to_know"},
            by="pnr_sup", at=200, rule="R8", says=("third_party_rule",))


def test_r8_non_pnr_and_pnr_to_cbp_need_no_authorisation(world: World) -> None:
    """R8: ordinary DHS sharing and PNR kept within CBP need no authorisation."""
    stream = pnr_case(world)
    recorded_ok(world, stream, "InformationShared",
                {"from_agency": "CBP", "to_agency": "ICE", "basis": "dhs_need_to_know"},
                by="scbpo", at=200)
    recorded_ok(world, stream, "InformationShared",
                {**SHARE, "to_agency": "CBP", "basis": "dhs_need_to_know"}, by="pnr", at=201)


def test_r8_from_agency_must_be_the_sharers(world: World) -> None:
    """R8: from_agency names the agency of the officer who shares."""
    stream = pnr_case(world)
    refused(world, stream, "InformationShared",
            {"from_agency": "CBP", "to_agency": "DEA", "basis": "dhs_need_to_know"},
            by="oi_gs", at=200, rule="R8", says=("from_agency",))


@pytest.mark.parametrize(("stream", "type_", "fields"), [
    ("pnr:K-2", "PNRRecordIngested", {"received_at": "2006-03-01T00:00:00+00:00",
                                      "flight": "XX1", "key_id": "K-2",
                                      "pnr_locator_commitment": "sha256:01"}),
    ("pnr:K-1", "ThirdPartyDisclosureAuthorized",
     {"requesting_agency": "ICE", "case_no": CASE_NO, "purpose": "p", "expires": "2006-06-16"}),
    ("pnr-access:2006-03", "PNRAccessed", {"purpose": "p", "fields": ["itinerary"]}),
    ("pnr:K-1", "PNRLinkedToCase", {"case_no": CASE_NO}),
    ("pnr:K-1", "PNRCaseArchived", {"case_no": CASE_NO}),
], ids=lambda v: v if isinstance(v, str) and ":" not in v else None)
def test_r8_pnr_events_by_ice_refused(world: World, stream: str, type_: str,
                                      fields: dict[str, Any]) -> None:
    """R8: CBP is the primary receiver of EU PNR; ICE cannot record PNR events."""
    pnr_case(world)
    refused(world, stream, type_, fields, by="oi_gs", at=100, rule="R8", says=("CBP",))


def test_r8_pnr_events_by_cbp_allowed(world: World) -> None:
    """R8: CBP records PNR access, case links and disclosure authorisations."""
    pnr_case(world)
    recorded_ok(world, "pnr-access:2006-03", "PNRAccessed",
                {"purpose": "respond to ICE request", "case_no": CASE_NO,
                 "fields": ["itinerary", "contact"]}, by="pnr", at=100)
    recorded_ok(world, "pnr:K-1", "PNRLinkedToCase", {"case_no": CASE_NO}, by="pnr_sup",
                at=101)
    authorise(world, 102)
    assert [d.case_no for d in world.log.context.disclosures(CASE_NO)] == [CASE_NO]


def test_r8_late_entry_of_pnr_sharing_needs_the_authorisation_too(world: World) -> None:
    """R8: a late entry wrapping PNR-derived sharing to ICE is held to the same gate."""
    stream = pnr_case(world)
    late = {"wraps": "InformationShared", "reason": "entered next day", "event": SHARE}
    refused(world, stream, "LateEntryRecorded", late, by="pnr_sup", at=200,
            recorded=200 + DAY, rule="R8", says=("no ThirdPartyDisclosureAuthorized",))
    authorise(world, 100)
    recorded_ok(world, stream, "LateEntryRecorded", late, by="scbpo", at=200,
                recorded=200 + DAY)


# ---------------------------------------------------------------- R9: action items
ITEM = {"item_id": "AI-1", "owner": "ICE-7781", "due": "2006-03-20", "what": "feedback"}


def test_r9_action_item_assigned_opens_a_duty(world: World) -> None:
    """R9: an action item becomes a duty of its owner, due at the end of its due day."""
    stream = stage(world, "notified")
    recorded_ok(world, stream, "ActionItemAssigned", ITEM, by="scbpo", at=100)
    duty = world.log.state(stream).duty("action_item", "AI-1")
    assert duty is not None
    assert (duty.owner, duty.assigned_by, duty.due.isoformat()) == (
        "ICE-7781", world.id("scbpo"), "2006-03-21T00:00:00-05:00")


def test_r9_duplicate_item_refused(world: World) -> None:
    """R9: an action item id is assigned once."""
    stream = stage(world, "notified")
    world.rec(stream, "ActionItemAssigned", ITEM, by="scbpo", at=100)
    refused(world, stream, "ActionItemAssigned", ITEM, by="scbpo", at=101, rule="R9",
            says=("already exists",))


@pytest.mark.parametrize("handle", ["oi_duty", "scbpo", "oi_gs", "pd"])
def test_r9_completion_by_owner_assigner_or_supervisor_allowed(world: World,
                                                               handle: str) -> None:
    """R9: the owner, the assigner or a supervisor may complete an action item."""
    stream = stage(world, "notified")
    world.rec(stream, "ActionItemAssigned", ITEM, by="scbpo", at=100)
    recorded_ok(world, stream, "ActionItemCompleted", {"item_id": "AI-1"}, by=handle, at=200)
    duty = world.log.state(stream).duty("action_item", "AI-1")
    assert duty is not None
    assert duty.done_at == world.t(200)


@pytest.mark.parametrize(("type_", "fields"), [
    ("ActionItemCompleted", {"item_id": "AI-1"}),
    ("ActionItemWaived", {"item_id": "AI-1", "reason": "not needed"}),
])
def test_r9_completion_by_non_owner_refused(world: World, type_: str,
                                            fields: dict[str, Any]) -> None:
    """R9: someone who is not owner, assigner or supervisor cannot complete or waive it."""
    stream = stage(world, "notified")
    world.rec(stream, "ActionItemAssigned", ITEM, by="scbpo", at=100)
    refused(world, stream, type_, fields, by="oi_ca", at=200, rule="R9", says=("not the owner",))


def test_r9_completion_of_unknown_or_done_item_refused(world: World) -> None:
    """R9: only an open action item can be completed."""
    stream = stage(world, "notified")
    refused(world, stream, "ActionItemCompleted", {"item_id": "AI-404"}, by="oi_duty", at=100,
            rule="R9", says=("not open",))
    world.rec(stream, "ActionItemAssigned", ITEM, by="scbpo", at=101)
    world.rec(stream, "ActionItemCompleted", {"item_id": "AI-1"}, by="oi_duty", at=102)
    refused(world, stream, "ActionItemCompleted", {"item_id": "AI-1"}, by="oi_duty", at=103,
            rule="R9", says=("not open",))


@pytest.mark.parametrize(("port", "due", "first_instant"), [
    ("5201", "2006-03-20", "2006-03-21T00:00:00-05:00"),   # Miami, standard time
    ("5201", "2006-04-05", "2006-04-06T00:00:00-04:00"),   # Miami, daylight time
    ("2504", "2006-03-20", "2006-03-21T00:00:00-08:00"),   # San Ysidro
    ("2301", "2006-03-20", "2006-03-21T00:00:00-06:00"),   # Brownsville
    ("0901", "2006-03-20", "2006-03-21T00:00:00+00:00"),   # not configured: default UTC
])
def test_r9_overdue_derived_at_first_instant_past_due_in_port_zone(
        world: World, port: str, due: str, first_instant: str) -> None:
    """R9: an open item is overdue from midnight after its due day, in the port's time zone."""
    stream = stage(world, "notified", port=port)
    world.rec(stream, "ActionItemAssigned", {**ITEM, "due": due}, by="scbpo", at=100)
    state = world.log.state(stream)
    instant = parse_time(first_instant)
    assert overdue(state, instant - timedelta(microseconds=1)) == []
    [late] = overdue(state, instant)
    assert (late.event_type, late.key, late.owner, late.became_overdue_at) == (
        "ActionItemOverdue", "AI-1", "ICE-7781", instant)
    assert late.became_overdue_at.utcoffset() == instant.utcoffset()


def test_r9_item_done_in_time_or_waived_is_not_overdue(world: World) -> None:
    """R9: completed before the due instant, or waived, means never overdue."""
    stream = stage(world, "notified")
    world.rec(stream, "ActionItemAssigned", ITEM, by="scbpo", at=100)
    world.rec(stream, "ActionItemAssigned", {**ITEM, "item_id": "AI-2"}, by="scbpo", at=101)
    world.rec(stream, "ActionItemCompleted", {"item_id": "AI-1"}, by="oi_duty", at=200)
    world.rec(stream, "ActionItemWaived", {"item_id": "AI-2", "reason": "moot"}, by="scbpo",
              at=30 * DAY)
    assert overdue(world.log.state(stream), world.t(60 * DAY)) == []


# ---------------------------------------------------------------- late entries
LATE = {"wraps": "NotificationMade", "reason": "shift ended",
        "event": {"from": "ICE-7781", "to": "CBP-2290", "subject": "CaseDeclined"}}


def test_late_entry_allowed_and_flagged_late(world: World) -> None:
    """Late: an entry recorded over 12 h after the fact is allowed and flagged late."""
    stream = stage(world, "notified", port="5201")
    sealed = recorded_ok(world, stream, "LateEntryRecorded", LATE, by="scbpo", at=30,
                         recorded=30 + 2 * DAY)
    assert sealed.envelope["late"] is True
    assert sealed.envelope["occurred"] == {"at": "2006-03-14T06:30:00-05:00"}
    assert sealed.payload["event"]["from"] == "ICE-7781"
    on_time = world.rec(stream, "ConveyanceArrived", {}, by="cbpo", at=2 * DAY + 31)
    assert on_time.envelope["late"] is False


@pytest.mark.parametrize("lag", [0, 60, 12 * 60])
def test_late_entry_not_late_enough_refused(world: World, lag: int) -> None:
    """Late: an entry within 12 h (inclusive) of the event is refused; record the event itself."""
    stream = stage(world, "notified")
    refused(world, stream, "LateEntryRecorded", LATE, by="scbpo", at=30, recorded=30 + lag,
            rule="late", says=("not late",))


def test_late_entry_just_over_the_limit_allowed(world: World) -> None:
    """Late: one minute past the 12 h limit is late."""
    stream = stage(world, "notified")
    recorded_ok(world, stream, "LateEntryRecorded", LATE, by="scbpo", at=30,
                recorded=30 + 12 * 60 + 1)


@pytest.mark.parametrize("event", [
    {"from": "ICE-7781", "subject": "CaseDeclined"},
    {"from": "ICE-7781", "to": "CBP-2290", "subject": "CaseDeclined", "colour": "red"},
    {"from": "ICE-7781", "to": "CBP-2290", "subject": ""},
], ids=["missing-field", "unknown-field", "empty-text"])
def test_late_entry_with_invalid_wrapped_payload_refused(world: World,
                                                         event: dict[str, Any]) -> None:
    """Late: the wrapped event must be a valid payload of the wrapped type."""
    stream = stage(world, "notified")
    refused(world, stream, "LateEntryRecorded", {**LATE, "event": event}, by="scbpo", at=30,
            recorded=30 + 2 * DAY, rule="late", says=("NotificationMade is invalid",))


@pytest.mark.parametrize("wraps", ["ActionItemOverdue", "PNRAccessed", "LateEntryRecorded",
                                   "NoSuchEvent"])
def test_late_entry_cannot_wrap_derived_foreign_or_unknown_types(world: World,
                                                                 wraps: str) -> None:
    """Late: a late entry may not wrap a derived, non-case, late-entry or unknown type."""
    stream = stage(world, "notified")
    before = snapshot(world, stream)
    with pytest.raises(InputError) as info:
        world.rec(stream, "LateEntryRecorded", {**LATE, "wraps": wraps}, by="scbpo", at=30,
                  recorded=30 + 2 * DAY)
    assert not isinstance(info.value, RuleViolationError)
    assert info.value.field == "LateEntryRecorded.wraps"
    assert snapshot(world, stream) == before


def test_any_event_recorded_after_the_limit_is_flagged_late(world: World) -> None:
    """Late: the envelope's late flag is set for every event recorded over 12 h after it."""
    stream = stage(world, "notified")
    sealed = world.rec(stream, "ExaminationReferred", {"reason": "r"}, by="cbpo", at=30,
                       recorded=30 + 13 * 60)
    assert sealed.envelope["late"] is True


# ---------------------------------------------------------------- knowledge
def test_knowledge_notification_recorded_by_the_teller(world: World) -> None:
    """Knowledge: NotificationMade is recorded by whoever told; someone else is refused."""
    stream = stage(world, "notified")
    fields = {"from": world.id("scbpo"), "to": world.id("oi_gs"), "subject": "AI-1 overdue",
              "channel": "email"}
    refused(world, stream, "NotificationMade", fields, by="pd", at=100, rule="knowledge",
            says=("recorded by",))
    recorded_ok(world, stream, "NotificationMade", fields, by="scbpo", at=100)
