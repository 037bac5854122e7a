"""Findings the queries make on cases built event by event: incidents attributed by when they
happened, surveillance gaps, responsibility gaps, missing approvals, items outstanding, the
R5 pilot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from cdlog.projections.queries import Queries

REF = "OP-F-1"
S = f"case:{REF}"


def rec_window(w: Any, type_: str, fields: dict[str, Any], *, by: str, start: float,
               end: float, recorded: float) -> None:
    """Record an event that happened some time between ``start`` and ``end``."""
    w.log.record(S, type_, fields, signer=w.signers[by],
                 at={"from": w.t(start).isoformat(), "to": w.t(end).isoformat()},
                 recorded=w.t(recorded))


def operation(w: Any, *, release: bool = True, assume: bool = True) -> None:
    """A Title 21 controlled delivery at Miami up to a released load under surveillance."""
    i = w.id
    w.open_case(REF, port="5201", at=0)
    w.rec(S, "ContrabandDiscovered", {"items": [{"item_id": "D-1", "description": "brick",
                                                 "category": "drug", "count": 10,
                                                 "gross_weight_kg": "11.0"}]}, by="cbpo", at=5)
    w.rec(S, "HoldPlaced", {"hold_type": "quiet_hold_pending_OI", "reason": "quiet"},
          by="scbpo", at=6)
    w.rec(S, "InvestigativeNotificationSent", {"identified_at": w.t(5).isoformat(),
                                               "to": i("oi_duty"), "channel": "phone"},
          by="cbpo", at=10)
    w.rec(S, "CaseAccepted", {"case_no": "MI-F-1", "lead_office": "SAC-Miami"}, by="oi_duty",
          at=30)
    if assume:
        w.rec(S, "ResponsibilityAssumed", {"agency": "ICE", "office": "OI", "scope": REF},
              by="oi_gs", at=40)
    w.rec(S, "OperationProposed", {
        "operation_type": "controlled_delivery",
        "mode": {"courier": "unwitting", "contents": "intact", "direction": "inbound",
                 "vector": "air_cargo"}, "destination": {"district": "SD-FL"}},
          by="oi_ca", at=50)
    w.rec(S, "ApprovalGranted", {"kind": "GS"}, by="oi_gs", at=60)
    if not release:
        return
    w.rec(S, "ApprovalGranted", {"kind": "SAC"}, by="oi_sac", at=61)
    w.rec(S, "ApprovalGranted", {"kind": "USAO-origin"}, by="ausa", at=62)
    w.rec(S, "CustodyTransferred", {"from": i("cbpo"), "to": i("oi_ca"),
                                    "items": [{"item": "D-1", "count": 10,
                                               "gross_weight_kg": "10.2"}]},
          by="cbpo", cosign=("oi_ca",), at=70)
    w.rec(S, "HoldReleased", {"reason": "go"}, by="pd", at=100)
    w.rec(S, "SurveillanceStarted", {"team_lead": i("oi_ca")}, by="oi_ca", at=110)


def test_late_reported_incident_is_attributed_by_when_it_happened(world: Any) -> None:
    operation(world)
    i = world.id
    world.rec(S, "SurveillanceLost", {"last_confirmed": {"at": world.t(150).isoformat(),
                                                         "position": "I-95 exit 4",
                                                         "by": i("oi_ca")},
                                      "cause": "traffic"}, by="oi_ca", at=160)
    world.rec(S, "SurveillanceReacquired", {"condition_of_load": "seals intact"}, by="oi_ca",
              at=200)
    world.rec(S, "OperationTerminated", {"reason": "completed"}, by="oi_gs", at=300)
    world.rec(S, "ResponsibilityReleased", {"to": "OFO vault custody", "scope": REF},
              by="oi_gs", at=310)
    # entered two days later, after OI released responsibility: still OI's incident
    rec_window(world, "IncidentOccurred", {"incident_id": "INC-1",
                                           "incident_type": "property_damage",
                                           "discovered_at": world.t(170).isoformat(),
                                           "description": "warehouse door damaged"},
               by="oi_ca", start=155, end=165, recorded=3000)
    world.rec(S, "NotificationMade", {"from": i("oi_ca"), "to": i("oi_gs"),
                                      "subject": "door damaged", "incident_id": "INC-1"},
              by="oi_ca", at=3010)
    with Queries(world.log) as q:
        inc = q.incident("INC-1")
        assert inc.responsible == "ICE/OI"
        assert inc.reported_late
        assert inc.report_lag == "1d 23h15m"
        whys = {(o.officer, o.why) for o in inc.officers}
        assert (i("oi_gs"), "assumed responsibility for the operation (R2)") in whys
        assert (i("oi_ca"), "custodian of 10 x D-1") in whys
        assert [n.to for n in inc.notifications] == [i("oi_gs")]
        assert inc.notifications[0].lag == "1d 23h25m"
        assert any("attributed by when it happened" in f.text for f in inc.findings)
        # on the record-time axis it did not exist before it was entered
        assert q.incidents(S, recorded_by=world.t(2999)).incidents == []
        listing = q.incidents()
        assert [s.incidents for s in listing.by_port] == [1]
        assert [s.key for s in listing.by_office] == ["SAC-Miami"]
        # the loss of surveillance is a gap with its last confirmed position
        cov = q.surveillance(S)
        assert [(g.kind, g.duration, g.last_position) for g in cov.gaps] == [
            ("before_surveillance", "10 min", None), ("lost", "50 min", "I-95 exit 4")]
        assert [e.duration for e in cov.eyes_on] == ["40 min", "1h40m"]
        assert "I-95 exit 4" in cov.findings[1].text


def test_incident_across_a_change_of_responsibility_is_a_finding(world: Any) -> None:
    operation(world, release=False, assume=False)
    world.rec(S, "ResponsibilityAssumed", {"agency": "ICE", "office": "OI", "scope": REF},
              by="oi_gs", at=80)
    rec_window(world, "IncidentOccurred", {"incident_id": "INC-2", "incident_type": "injury",
                                           "discovered_at": world.t(90).isoformat()},
               by="oi_ca", start=70, end=85, recorded=95)
    with Queries(world.log) as q:
        inc = q.incident("INC-2", case=REF)
        assert inc.responsible is None
        assert inc.responsible_during_window == ["CBP/OFO", "ICE/OI"]
        assert any("changed during the incident window" in f.text for f in inc.findings)
        assert any("no notification" in f.text for f in inc.findings)


def test_missing_approvals_and_a_released_load_nobody_watched(world: Any) -> None:
    operation(world, release=False)
    with Queries(world.log) as q:
        matrix = q.approvals(S)
        assert {r.kind: r.status for r in matrix.rows} == {"GS": "granted", "SAC": "missing",
                                                          "USAO-origin": "missing"}
        assert len(matrix.findings) == 2
        assert all(f.source is not None and f.source.startswith(
            "required_approvals: configuration (a placeholder") for f in matrix.findings)
        assert matrix.release_at is None
    i = world.id
    world.rec(S, "ApprovalGranted", {"kind": "SAC"}, by="oi_sac", at=61)
    world.rec(S, "ApprovalGranted", {"kind": "USAO-origin"}, by="ausa", at=62)
    world.rec(S, "HoldReleased", {"reason": "go"}, by="pd", at=100)
    world.rec(S, "DeliveryMade", {"to_party": "SUBJ-9"}, by="cbpo", at=150)
    world.rec(S, "OperationTerminated", {"reason": "walk_away"}, by="oi_gs", at=200)
    with Queries(world.log) as q:
        cov = q.surveillance(S)
        assert [(g.kind, g.duration) for g in cov.gaps] == [("before_surveillance", "1h40m")]
        items = q.items(S)
        d1 = items.items[0]
        assert (d1.left_control, d1.recovered, d1.outstanding) == (10, 0, 10)
        assert any("left law-enforcement control" in f.text for f in items.findings)
        assert i("cbpo") in d1.holders


def test_responsibility_released_naming_nobody_after_the_operation_is_no_gap(
        world: Any) -> None:
    """R2 asks for a holder while an operation runs (the domain refuses a release before
    OperationTerminated). A release after it that names no holder leaves nobody named, from
    structured fields only (the words of ``to`` are not read): no R2 finding, and the
    interval says no holder was named."""
    operation(world, release=False)
    world.rec(S, "OperationTerminated", {"reason": "abort_risk"}, by="oi_gs", at=85)
    world.rec(S, "ResponsibilityReleased", {"to": "DEA task force (CBP to follow)",
                                            "scope": REF}, by="oi_gs", at=90)
    with Queries(world.log) as q:
        r = q.responsibility(S)
        assert [iv.holder for iv in r.intervals] == ["CBP/OFO", "ICE/OI", None]
        assert r.findings == []
        assert r.intervals[2].note.endswith("(no holder named)")
        assert r.summary.endswith("no holder named from 2006-03-14 07:30 -05:00")
        answer = q.responsibility_at(REF, world.t(120))
        assert answer.holder is None
        assert "the operation had ended" in answer.findings[0].text
        before = q.responsibility_at(REF, world.t(-10))
        assert before.holder is None
        assert "not open" in before.findings[0].text


def test_responsibility_released_to_a_named_holder(world: Any) -> None:
    """A release naming ``to_agency``/``to_office`` gives that holder, whatever ``to`` says."""
    operation(world, release=False)
    world.rec(S, "OperationTerminated", {"reason": "abort_risk"}, by="oi_gs", at=85)
    world.rec(S, "ResponsibilityReleased", {"to": "task force", "scope": REF,
                                            "to_agency": "DEA"}, by="oi_gs", at=90)
    with Queries(world.log) as q:
        assert [iv.holder for iv in q.responsibility(S).intervals] == [
            "CBP/OFO", "ICE/OI", "DEA"]
        assert q.responsibility_at(REF, world.t(120)).holder == "DEA"


def test_pilot_case_without_a_shadow_is_a_finding(world: Any) -> None:
    operation(world, release=False)
    with Queries(world.log) as q:
        case = next(p for p in q.pilot().cases if p.case.stream == S)
        assert case.shadow_expected
        assert case.finding is not None
    world.rec(S, "ShadowAssigned", {"cbp_officer": world.id("shadow"),
                                    "oi_agent": world.id("oi_ca"), "case_no": "MI-F-1",
                                    "port": "5201"}, by="scbpo", at=95)
    with Queries(world.log) as q:
        case = next(p for p in q.pilot().cases if p.case.stream == S)
        assert case.finding is None
        assert case.shadows == [world.id("shadow")]


def test_weight_differences_are_findings(world: Any) -> None:
    operation(world)
    with Queries(world.log) as q:
        texts = [f.text for f in q.items(S).findings]
        assert texts == ["D-1: gross weight 10.2 kg at transfer differs from 11 kg at "
                         "discovery for the same count"]


@pytest.mark.parametrize("cbp_present", [True, False])
def test_interviews_and_briefings(world: Any, cbp_present: bool) -> None:
    operation(world, release=False)
    world.rec(S, "InterviewConducted", {"subject_ref": "SUBJ-1", "cbp_present": cbp_present,
                                        **({"cbp_officer": world.id("shadow")}
                                           if cbp_present else {})}, by="oi_ca", at=200)
    with Queries(world.log) as q:
        t = q.timeliness(S, as_of=world.t(200 + 3 * 24 * 60))
        assert [i.ok for i in t.interviews] == [cbp_present]
        assert [d.status for d in t.overdue] == ([] if cbp_present else ["overdue"])


def test_feedback_is_due_by_the_office_feedback_plan(world: Any) -> None:
    plan = world.log.config.deadlines.model_copy(update={"feedback_plan": {
        "OI": timedelta(days=3)}})
    world.log.config = world.log.config.model_copy(update={"deadlines": plan})
    operation(world, release=False)
    world.rec(S, "ArrestMade", {"subject_ref": "SUBJ-1", "arresting_agency": "ICE"},
              by="oi_ca", at=100)
    with Queries(world.log) as q:
        t = q.timeliness(S, as_of=world.t(100 + 4 * 24 * 60))
        assert [(d.kind, d.due, d.status) for d in t.feedback] == [
            ("feedback", world.t(100 + 3 * 24 * 60), "overdue")]
    world.rec(S, "FeedbackProvided", {"from_agency": "ICE", "to_agency": "CBP",
                                      "categories": ["investigation"], "results": "1 arrest"},
              by="oi_gs", at=100 + 5 * 24 * 60)
    with Queries(world.log) as q:
        done = q.timeliness(S).feedback[0]
        assert (done.status, done.late_by) == ("done_late", "2d")
        told = [e for e in q.notifications(S).entries if e.kind == "feedback"]
        assert told[0].reports is not None
        assert (told[0].reports.type, told[0].lag) == ("ArrestMade", "5d")
