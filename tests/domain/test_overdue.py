"""Derived lateness: :func:`cdlog.domain.evolve.overdue` over states folded by ``evolve``.

These tests work on the pure domain (facts in, state out) with no store, so the time and
configuration edge cases are cheap to cover.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from cdlog.canonical import parse_time
from cdlog.domain import events as ev
from cdlog.domain.case import CaseState, Fact
from cdlog.domain.config import DEFAULT_CONFIG, Config, Deadlines, Port
from cdlog.domain.evolve import evolve, overdue, start_state
from cdlog.domain.values import Occurred, Officer

CBPO = Officer(id="CBP-9440", role="CBPO-Enforcement", agency="CBP", office="OFO")
SCBPO = Officer(id="CBP-9005", role="SCBPO", agency="CBP", office="OFO")
DUTY = Officer(id="ICE-2231", role="OIDutyAgent", agency="ICE", office="OI",
               aor="SAC-SanDiego")
AGENT = Officer(id="ICE-6610", role="CaseAgent", agency="ICE", office="OI")
T0 = parse_time("2006-08-19T02:00:00-07:00")
US = timedelta(microseconds=1)


class Case:
    """Folds payloads into one case state, one fact per call, times as minutes from T0."""

    def __init__(self, port: str = "2504", config: Config = DEFAULT_CONFIG) -> None:
        self.config = config
        self.state: CaseState = start_state("case:T")
        self.add(ev.CaseOpened(reference="T", port=port), CBPO, 0)

    def add(self, payload: ev.Payload, actor: Officer, minutes: float) -> CaseState:
        """Fold ``payload`` by ``actor`` at T0 + ``minutes``."""
        when = T0 + timedelta(minutes=minutes)
        fact = Fact(type=payload.TYPE, payload=payload, occurred=Occurred(at=when),
                    recorded=when, actor=actor, version=self.state.version + 1,
                    stream="case:T")
        return evolve(self.state, fact, self.config)

    def notified(self) -> Case:
        """OFO notified OI (so results open R7 feedback duties)."""
        self.add(ev.InvestigativeNotificationSent(identified_at=T0, to=DUTY.id,
                                                  channel="phone"), CBPO, 4)
        return self

    def item(self, due: str, item_id: str = "AI-1", minutes: float = 50) -> Case:
        """Assign an action item owned by the duty agent, due on day ``due``."""
        self.add(ev.ActionItemAssigned(item_id=item_id, owner=DUTY.id,
                                       due=datetime.fromisoformat(due).date(), what="feedback"),
                 SCBPO, minutes)
        return self


def at(text: str) -> datetime:
    """Parse an ISO time with offset."""
    return parse_time(text)


# ---------------------------------------------------------------- action items (R9)
@pytest.mark.parametrize(("port", "due", "instant"), [
    ("2504", "2006-08-26", "2006-08-27T00:00:00-07:00"),   # scenario C: San Ysidro, PDT
    ("2504", "2006-12-01", "2006-12-02T00:00:00-08:00"),   # San Ysidro, PST
    ("5201", "2006-08-26", "2006-08-27T00:00:00-04:00"),   # Miami, EDT
    ("4701", "2006-10-28", "2006-10-29T00:00:00-04:00"),   # JFK, the night before DST ends
    ("2301", "2006-04-01", "2006-04-02T00:00:00-06:00"),   # Brownsville, DST starts at 02:00
    ("XXXX", "2006-08-26", "2006-08-27T00:00:00+00:00"),   # unknown port: default_tz UTC
])
def test_action_item_overdue_from_midnight_after_due_day_in_port_zone(port: str, due: str,
                                                                      instant: str) -> None:
    """R9: an open action item is overdue from the first instant after its due day, locally."""
    case = Case(port=port).item(due)
    first = at(instant)
    assert overdue(case.state, first - US) == []
    [late] = overdue(case.state, first)
    assert late.event_type == "ActionItemOverdue"
    assert late.due == late.became_overdue_at == first
    assert late.due.utcoffset() == first.utcoffset()
    assert (late.key, late.owner, late.done_at) == ("AI-1", DUTY.id, None)


def test_action_item_done_before_due_instant_never_overdue() -> None:
    """R9: completion one microsecond before the due instant is on time."""
    case = Case().item("2006-08-26")
    due = at("2006-08-27T00:00:00-07:00")
    fact = Fact(type="ActionItemCompleted", payload=ev.ActionItemCompleted(item_id="AI-1"),
                occurred=Occurred(at=due - US), recorded=due - US, actor=DUTY,
                version=case.state.version + 1, stream="case:T")
    evolve(case.state, fact, case.config)
    assert overdue(case.state, due + timedelta(days=30)) == []


def test_action_item_done_at_due_instant_is_late() -> None:
    """R9: the due instant is already past due; completing then is late."""
    case = Case().item("2006-08-26")
    due = at("2006-08-27T00:00:00-07:00")
    minutes = (due - T0).total_seconds() / 60
    case.add(ev.ActionItemCompleted(item_id="AI-1"), DUTY, minutes)
    [late] = overdue(case.state, due)
    assert late.done_at == due


def test_action_item_done_late_reports_done_time_only_once_done() -> None:
    """R9: scenario C: done 10 days late; before completion done_at is None, after it is set."""
    case = Case().item("2006-08-26")
    done = at("2006-09-05T14:00:00-07:00")
    case.add(ev.ActionItemCompleted(item_id="AI-1"), DUTY, (done - T0).total_seconds() / 60)
    [before_done] = overdue(case.state, at("2006-08-28T09:00:00-07:00"))
    assert before_done.done_at is None
    [after_done] = overdue(case.state, done)
    assert after_done.done_at == done
    assert (after_done.done_at.date() - after_done.due.date()).days == 9
    assert (done.date() - datetime.fromisoformat("2006-08-26").date()).days == 10


def test_action_item_waived_is_never_overdue() -> None:
    """R9: a waived action item is not reported, even when waived after its due day."""
    case = Case().item("2006-08-26")
    case.add(ev.ActionItemWaived(item_id="AI-1", reason="moot"), SCBPO, 30 * 24 * 60)
    assert overdue(case.state, at("2007-01-01T00:00:00-08:00")) == []


def test_several_items_each_judged_on_its_own_day() -> None:
    """R9: each item has its own due instant; only those past due are listed, in order."""
    case = Case().item("2006-08-26", "AI-1").item("2006-08-20", "AI-2", 51)
    case.item("2006-09-30", "AI-3", 52)
    listed = overdue(case.state, at("2006-08-28T00:00:00-07:00"))
    assert [o.key for o in listed] == ["AI-1", "AI-2"]
    assert [o.became_overdue_at.isoformat() for o in listed] == [
        "2006-08-27T00:00:00-07:00", "2006-08-21T00:00:00-07:00"]


def test_action_item_zone_comes_from_configuration() -> None:
    """R9: a deployment's port table decides the time zone of a due day."""
    config = Config(ports={"9999": Port(name="Test port", tz="Asia/Tokyo")})
    case = Case(port="9999", config=config).item("2006-08-26")
    [late] = overdue(case.state, at("2006-08-27T00:00:00+09:00"))
    assert late.became_overdue_at.isoformat() == "2006-08-27T00:00:00+09:00"


# ---------------------------------------------------------------- briefings (R6)
def test_briefing_due_after_configured_delay() -> None:
    """R6: the briefing deadline comes from configuration (default 2 days)."""
    config = Config(deadlines=Deadlines(briefing_after_interview=timedelta(hours=6)))
    case = Case(config=config)
    case.add(ev.InterviewConducted(subject_ref="SUBJ-2", cbp_present=False), AGENT, 100)
    due = T0 + timedelta(minutes=100, hours=6)
    assert overdue(case.state, due - US) == []
    [late] = overdue(case.state, due)
    assert (late.event_type, late.kind, late.key) == ("BriefingOverdue", "briefing", "SUBJ-2")


def test_briefing_closes_the_named_interview_first() -> None:
    """R6: a briefing naming one subject closes that subject's duty, not the other one."""
    case = Case()
    case.add(ev.InterviewConducted(subject_ref="SUBJ-1", cbp_present=False), AGENT, 100)
    case.add(ev.InterviewConducted(subject_ref="SUBJ-2", cbp_present=False), AGENT, 110)
    case.add(ev.SCBPOBriefed(scbpo=SCBPO.id, topics=["SUBJ-2 interview"]), AGENT, 120)
    listed = overdue(case.state, T0 + timedelta(days=10))
    assert [o.key for o in listed] == ["SUBJ-1"]


def test_interview_with_cbp_present_opens_no_briefing() -> None:
    """R6: an interview attended by CBP owes no briefing."""
    case = Case()
    case.add(ev.InterviewConducted(subject_ref="S", cbp_present=True, cbp_officer=CBPO.id),
             AGENT, 100)
    assert case.state.duties == []


# ---------------------------------------------------------------- feedback (R7)
def test_feedback_due_per_office_plan() -> None:
    """R7: an office's feedback plan overrides the default deadline."""
    config = Config(deadlines=Deadlines(feedback_plan={"SAC-SanDiego": timedelta(days=7)}))
    case = Case(config=config).notified()
    case.add(ev.CaseDeclined(reason_code="QUANTITY"), DUTY, 47)
    due = T0 + timedelta(minutes=47, days=7)
    assert overdue(case.state, due - US) == []
    [late] = overdue(case.state, due)
    assert (late.event_type, late.owner) == ("FeedbackOverdue", "ICE")


def test_feedback_duty_default_deadline() -> None:
    """R7: without an office plan, feedback is due 30 days after the result."""
    case = Case().notified()
    case.add(ev.ArrestMade(subject_ref="S-1", arresting_agency="ICE"), AGENT, 60)
    [duty] = case.state.duties
    assert duty.due == T0 + timedelta(minutes=60, days=30)


def test_one_open_feedback_duty_covers_several_results() -> None:
    """R7: results pile onto the open feedback duty; after feedback a new result opens another."""
    case = Case().notified()
    for i in range(3):
        case.add(ev.ArrestMade(subject_ref=f"S-{i}", arresting_agency="ICE"), AGENT, 60 + i)
    assert len([d for d in case.state.duties if d.kind == "feedback"]) == 1
    case.add(ev.FeedbackProvided(from_agency="ICE", to_agency="CBP",
                                 categories=["investigation"], results="3 arrests"), AGENT, 70)
    case.add(ev.ProsecutionMilestone(kind="indictment", district="SD-CA"), AGENT, 80)
    feedback = [d for d in case.state.duties if d.kind == "feedback"]
    assert [d.done_at is not None for d in feedback] == [True, False]
    assert overdue(case.state, T0 + timedelta(days=365))[0].key == feedback[1].key


def test_no_feedback_duty_without_notification() -> None:
    """R7: results of a case OI was never notified of open no feedback duty."""
    case = Case()
    case.add(ev.ArrestMade(subject_ref="S-1", arresting_agency="ICE"), AGENT, 60)
    assert case.state.duties == []


def test_feedback_before_the_result_does_not_close_its_duty() -> None:
    """R7: feedback given before a result happened cannot cover that result."""
    case = Case().notified()
    case.add(ev.ArrestMade(subject_ref="S-1", arresting_agency="ICE"), AGENT, 60)
    fact = Fact(type="FeedbackProvided",
                payload=ev.FeedbackProvided(from_agency="ICE", to_agency="CBP",
                                            categories=["investigation"], results="r"),
                occurred=Occurred(at=T0 + timedelta(minutes=30)),
                recorded=T0 + timedelta(minutes=61), actor=AGENT,
                version=case.state.version + 1, stream="case:T")
    evolve(case.state, fact, case.config)
    assert case.state.duties[0].done_at is None


def test_nothing_overdue_before_anything_is_due() -> None:
    """A case with duties that are not yet due derives nothing."""
    case = Case().notified().item("2006-08-26")
    case.add(ev.InterviewConducted(subject_ref="S", cbp_present=False), AGENT, 100)
    assert overdue(case.state, T0 + timedelta(days=1)) == []
