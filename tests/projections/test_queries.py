"""The accountability queries through the Python API: the scenarios' expected answers exactly,
both time axes, naming cases, and the findings each query makes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cdlog.application import CaseLog
from cdlog.canonical import parse_time
from cdlog.errors import InputError, NotFoundError
from cdlog.log.sealing import stream_id
from cdlog.projections.queries import Queries
from cdlog.scenario import Replayer

if TYPE_CHECKING:
    from conftest import STORE_KINDS, fresh_store
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import STORE_KINDS, fresh_store

A = "case:OP-2006-0001"
C = "case:C-SYS-DECLINED-ADMIN"


@pytest.fixture(scope="module", params=STORE_KINDS)
def replayed(tmp_path_factory: pytest.TempPathFactory,
             request: pytest.FixtureRequest) -> Iterator[Queries]:
    """Scenarios A and C replayed into one log (of each kind of store), with its views."""
    scenarios = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
    folder = tmp_path_factory.mktemp("scenarios")
    with fresh_store(request.param, folder / "store", request) as url:
        log = CaseLog(url)
        replayer = Replayer(log)
        for name in ("A-MIA-CD-ACCEPTED.yaml", "C-SYS-DECLINED-ADMIN.yaml"):
            replayer.replay(scenarios / name)
        with Queries(log) as q:
            yield q
        log.close()


def at(text: str) -> Any:
    return parse_time(text)


# ---------------------------------------------------------------- scenario A
def test_a_responsibility_at_noon_of_the_delivery_is_ice_oi(replayed: Queries) -> None:
    answer = replayed.responsibility_at("OP-2006-0001", at("2006-03-15T12:00-05:00"))
    assert answer.holder == "ICE/OI"
    assert answer.cites[0].type == "ResponsibilityAssumed"
    r = replayed.responsibility(A)
    # the release "to OFO vault custody" names no holder (no to_agency): after the operation
    # ended nobody is named, and that is no R2 gap (the words of ``to`` are not read)
    assert [iv.holder for iv in r.intervals] == ["CBP/OFO", "ICE/OI", None]
    assert r.intervals[2].note == "released to OFO vault custody (no holder named)"
    assert r.r2_triggered
    assert not r.findings
    assert [str(iv.start.time()) for iv in r.intervals] == ["06:10:00", "10:40:00",
                                                            "16:30:00"]


def test_a_pnr_state_on_28_august_per_regime(replayed: Queries) -> None:
    states = {s.regime: s.summary for s in replayed.pnr_state_on(A, date(2006, 8, 28)).states}
    assert states == {
        "EU-US-2012": "personalised (case hold: MI-06-CD-0001); without the hold it "
                      "depersonalises at received_at + 6 months (2006-08-27)",
        "CBP-Undertakings-2004": "personalised (3.5-year retention to 2009-08-27; accessed, "
                                 "so kept in deleted-record file 8 more years)",
    }
    later = {s.regime: (s.due, s.state, s.overdue)
             for s in replayed.pnr_state_on(A, date(2010, 1, 1)).states}
    assert later == {"EU-US-2012": ("personalised", "personalised", False),
                     "CBP-Undertakings-2004": ("deleted_record_file", "personalised", False)}
    # 2022: deletion is due; whether it was done cdlog cannot say for values it never held
    gone = {s.regime: (s.due, s.state, s.overdue)
            for s in replayed.pnr_state_on(A, date(2022, 1, 1)).states}
    assert gone["CBP-Undertakings-2004"] == ("deleted", "not_in_vault", False)
    before = replayed.pnr_state_on(A, date(2006, 3, 1), regime="EU-US-2012").states[0]
    assert before.summary == "personalised until received_at + 6 months (2006-08-27)"
    assert not before.accessed
    assert not before.case_hold


def test_a_disclosure_to_ice_requires_an_authorisation_first(replayed: Queries) -> None:
    check = replayed.disclosures("MI-06-CD-0001", to="ICE")
    assert check.requirement == ("ThirdPartyDisclosureAuthorized before InformationShared "
                                 "(both regimes; R8)")
    assert [(d.to_agency, d.pnr_derived, d.authorised) for d in check.disclosures] == [
        ("ICE", True, True)]
    assert check.disclosures[0].authorisation is not None
    assert check.disclosures[0].authorisation.type == "ThirdPartyDisclosureAuthorized"
    assert not check.findings
    assert replayed.disclosure_requirement("CBP").startswith("none")


def test_a_has_no_overdue_items(replayed: Queries) -> None:
    t = replayed.timeliness(A)
    assert t.overdue == []
    assert replayed.overdue(at("2007-01-01T00:00Z"), case=A).items == []
    assert [(i.subject_ref, i.cbp_present, i.ok) for i in t.interviews] == [
        ("SUBJ-A1", True, True), ("SUBJ-A2", False, True)]
    assert [f.status for f in t.feedback] == ["done", "done"]
    assert t.identification_to_notification.duration == "19 min"
    assert t.pilot is not None
    assert t.pilot.shadow_expected
    assert t.pilot.shadows == ["CBP-5120"]


def test_a_approvals_before_release(replayed: Queries) -> None:
    matrix = replayed.approvals(A)
    assert matrix.required == ["GS", "SAC", "USAO-origin", "substitution"]
    assert {r.kind: r.relative_to_release for r in matrix.rows} == {
        "GS": "19h50m before release", "SAC": "19h25m before release",
        "USAO-origin": "19h40m before release", "substitution": "19h20m before release"}
    assert all(r.before_release for r in matrix.rows)
    assert not matrix.findings


def test_a_items_custody_and_reconciliation(replayed: Queries) -> None:
    ledger = replayed.items(A)
    items = {r.item: r for r in ledger.items}
    assert items["A-1"].initial_count == 42
    assert items["A-1"].initial_weight_kg == "46.2"
    assert items["A-1"].holders == {"CBP-3150": 42}
    assert items["SHAM-A"].holders == {"ICE-6610": 41}
    assert (items["A-1"].left_control, items["A-1"].recovered, items["A-1"].outstanding) == (
        1, 1, 0)
    assert ledger.reconciliations[0].discrepancy == 0
    assert not ledger.findings
    held = replayed.custodian_at("A-1", at("2006-03-15T12:00-05:00"))
    assert {h.holder: h.count for h in held.holders} == {"CBP-3150": 41, "ICE-6610": 1}
    assert {h.holder: h.count for h in replayed.custodian_at(
        "A-1", at("2006-03-14T10:00-05:00")).holders} == {"CBP-4417": 42}


def test_a_surveillance_and_knowledge(replayed: Queries) -> None:
    cov = replayed.surveillance(A)
    assert [(e.duration, e.team_lead) for e in cov.eyes_on] == [("6h55m", "ICE-6610")]
    assert cov.gaps == []
    assert not cov.findings
    told = replayed.notifications(A).entries
    first = told[0]
    assert (first.kind, first.to, first.lag) == ("notification", "ICE-7781", "19 min")
    briefing = next(e for e in told if e.kind == "briefing")
    assert briefing.reports is not None
    assert briefing.reports.type == "InterviewConducted"
    assert briefing.lag == "12h50m"


# ---------------------------------------------------------------- scenario C
def test_c_expected_answers(replayed: Queries) -> None:
    t = replayed.timeliness("C-SYS-DECLINED-ADMIN")
    assert t.identification_to_notification.duration == "4 min"
    assert t.notification_to_decision.duration == "42 min"
    assert replayed.responsibility(C).summary == "OFO throughout (no CD/PT; R2 not triggered)"
    assert [(e.event, e.lag) for e in replayed.late_entries(C).entries] == [
        ("NotificationMade/CaseDeclined", "2d 5h28m")]
    assert [(d.key, d.due_day, d.done_at.date().isoformat() if d.done_at else None,
             d.days_late) for d in t.overdue] == [("AI-C-1", "2006-08-26", "2006-09-05", 10)]
    assert t.pilot is not None
    assert t.pilot.shadow_expected is False
    assert (t.pilot.pilot_port, t.pilot.title21, t.pilot.accepted) == (True, True, False)


def test_c_overdue_on_both_time_axes(replayed: Queries) -> None:
    due = at("2006-08-27T00:00-07:00")
    assert replayed.overdue(due - timedelta(seconds=1), case=C).items == []
    now = replayed.overdue(due, case=C).items
    assert [(d.key, d.status, d.days_late) for d in now] == [("AI-C-1", "overdue", 1)]
    # as the log stood on 1 September nothing was done; by now it was done late
    sept = at("2006-09-01T00:00-07:00")
    assert replayed.overdue(sept, case=C).items[0].status == "overdue"
    assert replayed.overdue(sept, case=C, recorded_by=sept).items[0].days_late == 6
    done = replayed.overdue(at("2006-12-01T00:00Z"), case=C).items[0]
    assert (done.status, done.days_late, done.late_by) == ("done_late", 10, "9d 14h")
    # before the action item was recorded, nothing is overdue on the record-time axis
    assert replayed.overdue(sept, case=C, recorded_by=at("2006-08-19T02:49-07:00")).items == []
    totals = replayed.overdue(at("2006-12-01T00:00Z"))
    assert {s.key: s.overdue for s in totals.by_port} == {"2504": 1, "5201": 0}
    assert {s.key: s.overdue for s in totals.by_office} == {"SAC-SanDiego": 1,
                                                            "SAC-Miami": 0}


def test_late_entry_is_absent_before_it_was_recorded(replayed: Queries) -> None:
    before = at("2006-08-21T08:14-07:00")
    assert replayed.late_entries(C, recorded_by=before).entries == []
    told = replayed.notifications(C, recorded_by=before).entries
    assert all(e.subject != "CaseDeclined" for e in told)
    late = next(e for e in replayed.notifications(C).entries if e.subject == "CaseDeclined")
    assert late.late_entry
    assert late.record_lag == "2d 5h28m"
    assert late.reports is not None
    assert late.reports.type == "CaseDeclined"


# ---------------------------------------------------------------- naming
@pytest.mark.parametrize("name", ["OP-2006-0001", "MI-06-CD-0001", A,
                                  str(stream_id(A))])
def test_a_case_is_found_by_every_name(replayed: Queries, name: str) -> None:
    ref = replayed.case(name)
    assert (ref.stream, ref.case_no, ref.operation_id, ref.port_name, ref.office) == (
        A, "MI-06-CD-0001", "OP-2006-0001", "Miami seaport", "SAC-Miami")


def test_unknown_names_are_refused(replayed: Queries) -> None:
    with pytest.raises(NotFoundError):
        replayed.case("OP-NOPE")
    with pytest.raises(NotFoundError):
        replayed.custodian_at("Z-9", at("2006-03-15T12:00-05:00"))
    with pytest.raises(InputError):
        replayed.pnr_state_on(A, date(2006, 1, 1), regime="GDPR")


def test_pilot_report_lists_every_case(replayed: Queries) -> None:
    pilot = replayed.pilot()
    assert [(p.case.stream, p.shadow_expected, p.finding) for p in pilot.cases] == [
        (A, True, None), (C, False, None)]
    assert {s.key for s in pilot.by_port} == {"5201", "2504"}
