"""Views: exactly-once tracking, catch-up, rebuild, and agreement with a direct fold.

The property tests record random valid event sequences (random steps through the lifecycle;
steps the rules refuse are simply not recorded) and check that

* a view kept up incrementally, at random moments, equals the same view rebuilt from scratch;
* the answers built from the views agree with the domain's own fold over the events
  (:func:`cdlog.domain.evolve.evolve`, :func:`overdue`, the pure responsibility fold), on
  both time axes.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError as ESIntegrityError
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.application import CaseLog
from cdlog.canonical import format_time
from cdlog.domain.evolve import overdue
from cdlog.errors import RuleViolationError
from cdlog.log.facts import fact_of
from cdlog.log.sealing import parse
from cdlog.projections import projector
from cdlog.projections.projector import Projections
from cdlog.projections.queries import Queries
from cdlog.projections.responsibility import responsibility_intervals
from cdlog.projections.shards import ShardedViewStore
from cdlog.projections.store import Processed

STEPS = ("discover", "hold", "notify", "ack", "accept", "decline", "assume", "release_resp",
         "propose", "approve", "release", "transfer", "surv_start", "surv_lost", "surv_re",
         "surv_end", "deliver", "arrest", "recover", "terminate", "interview", "brief",
         "action", "action_done", "feedback", "incident", "tell", "late", "shadow",
         "milestone", "reconcile")
APPROVERS = {"GS": "oi_gs", "SAC": "oi_sac", "USAO-origin": "ausa", "substitution": "oi_gs"}
CASES = itertools.count(1000)
TRANSFERS = (("cbpo", "oi_ca"), ("oi_ca", "spc"), ("cbpo", "spc"), ("spc", "oi_ca"))


@dataclass
class Ctx:
    """The state of one generated case."""

    stream: str
    ref: str
    t: float = 0.0
    items: int = 0
    actions: int = 0
    case_no: str = ""


def _ts(w: Any, minutes: float) -> str:
    return format_time(w.t(minutes))


def run_step(w: Any, ctx: Ctx, name: str, k: int) -> None:
    """Record one generated step (it may be refused by the rules)."""
    s, t = ctx.stream, ctx.t

    def rec(type_: str, fields: dict[str, Any], by: str, cosign: tuple[str, ...] = (),
            at: Any = None) -> None:
        when = at if at is not None else w.t(t)
        w.log.record(s, type_, fields, signer=w.signers[by],
                     cosigners=[w.signers[c] for c in cosign], at=when, recorded=w.t(t))

    i = w.id
    if name == "discover":
        rec("ContrabandDiscovered", {"items": [{
            "item_id": f"I{ctx.items}", "description": "brick", "category": "drug",
            "count": 2 + k, "gross_weight_kg": "1.5"}]}, "cbpo")
        ctx.items += 1
    elif name == "hold":
        rec("HoldPlaced", {"hold_type": "quiet_hold_pending_OI", "reason": "quiet"}, "scbpo")
    elif name == "notify":
        rec("InvestigativeNotificationSent", {"identified_at": _ts(w, t - k - 1),
                                              "to": i("oi_duty"), "channel": "phone"}, "cbpo")
    elif name == "ack":
        rec("NotificationAcknowledged", {}, "oi_duty")
    elif name == "accept":
        ctx.case_no = f"CN-{ctx.ref}"
        rec("CaseAccepted", {"case_no": ctx.case_no, "lead_office": "SAC-Miami"}, "oi_duty",
            ("oi_gs",))
    elif name == "decline":
        rec("CaseDeclined", {"reason_code": "USAO_DECLINATION"}, "oi_duty")
    elif name == "assume":
        rec("ResponsibilityAssumed", {"agency": "ICE", "office": "OI", "scope": ctx.ref,
                                      "acknowledged_by_ofo": i("scbpo")}, "oi_gs")
    elif name == "release_resp":
        rec("ResponsibilityReleased", {"to": "OFO vault custody", "scope": ctx.ref}, "oi_gs")
    elif name == "propose":
        rec("OperationProposed", {
            "operation_type": "controlled_delivery",
            "mode": {"courier": "unwitting", "contents": "intact" if k % 2 else
                     "partial_substitution", "direction": "inbound",
                     "vector": "maritime_container"},
            "destination": {"district": "SD-FL"}}, "oi_ca")
    elif name == "approve":
        kind = list(APPROVERS)[k % 4]
        rec("ApprovalGranted", {"kind": kind}, APPROVERS[kind])
    elif name == "release":
        rec("HoldReleased", {"reason": "released for the operation"}, "pd")
    elif name == "transfer":
        giver, taker = TRANSFERS[k % 4]
        rec("CustodyTransferred", {"from": i(giver), "to": i(taker),
                                   "items": [{"item": "I0", "count": 1}]}, giver, (taker,))
    elif name == "surv_start":
        rec("SurveillanceStarted", {"team_lead": i("oi_ca")}, "oi_ca")
    elif name == "surv_lost":
        rec("SurveillanceLost", {"last_confirmed": {"at": _ts(w, t - k - 1), "position": "exit",
                                                    "by": i("oi_ca")}}, "oi_ca")
    elif name == "surv_re":
        rec("SurveillanceReacquired", {"condition_of_load": "seals intact"}, "oi_ca")
    elif name == "surv_end":
        rec("SurveillanceEnded", {}, "oi_ca")
    elif name == "deliver":
        rec("DeliveryMade", {"to_party": "SUBJ-1"}, "oi_ca")
    elif name == "arrest":
        rec("ArrestMade", {"subject_ref": f"SUBJ-{k}", "arresting_agency": "ICE"}, "oi_ca")
    elif name == "recover":
        rec("ItemsRecovered", {"items": [{"item": "I0", "count": 1}]}, "oi_ca")
    elif name == "reconcile":
        rec("InventoryReconciled", {"expected": {"I0": 2}, "found": {"I0": 2 - k % 2},
                                    "discrepancy": k % 2}, "oi_ca")
    elif name == "terminate":
        rec("OperationTerminated", {"reason": "completed"}, "oi_gs")
    elif name == "interview":
        present = k % 2 == 0
        rec("InterviewConducted", {"subject_ref": f"SUBJ-{k}", "cbp_present": present,
                                   **({"cbp_officer": i("shadow")} if present else {})},
            "oi_ca")
    elif name == "brief":
        rec("SCBPOBriefed", {"scbpo": i("scbpo"), "topics": [f"SUBJ-{k} interview"]}, "oi_ca")
    elif name == "action":
        due = (w.t(t) + timedelta(days=k)).date()
        rec("ActionItemAssigned", {"item_id": f"AI-{ctx.actions}", "owner": i("oi_duty"),
                                   "due": due.isoformat(), "what": "write it up"}, "scbpo")
        ctx.actions += 1
    elif name == "action_done":
        rec("ActionItemCompleted", {"item_id": f"AI-{k % max(ctx.actions, 1)}"}, "oi_duty")
    elif name == "feedback":
        rec("FeedbackProvided", {"from_agency": "ICE", "to_agency": "CBP",
                                 "categories": ["investigation"], "results": "arrests"}, "oi_gs")
    elif name == "incident":
        back = 20 * 60 if k == 3 else 60  # k == 3: reported a day late
        rec("IncidentOccurred", {"incident_id": f"INC-{k}", "incident_type": "surveillance_lost",
                                 "discovered_at": _ts(w, t - 5)}, "oi_ca",
            at={"from": _ts(w, t - back - 30), "to": _ts(w, t - back)})
    elif name == "tell":
        rec("NotificationMade", {"from": i("oi_ca"), "to": i("oi_gs"), "subject": "incident",
                                 "incident_id": f"INC-{k}"}, "oi_ca")
    elif name == "late":
        rec("LateEntryRecorded", {"wraps": "NotificationMade", "reason": "shift ended",
                                  "event": {"from": i("oi_duty"), "to": i("scbpo"),
                                            "subject": "CaseDeclined"}}, "scbpo",
            at=w.t(t - 13 * 60))
    elif name == "shadow":
        rec("ShadowAssigned", {"cbp_officer": i("shadow"), "oi_agent": i("oi_ca"),
                               "case_no": ctx.case_no or "none", "port": "5201"}, "scbpo")
    elif name == "milestone":
        rec("ProsecutionMilestone", {"kind": "indictment", "district": "SD-FL"}, "oi_ca")


SPINE = [("discover", 0), ("hold", 0), ("notify", 1), ("ack", 0), ("accept", 0),
         ("assume", 0), ("propose", 0), ("approve", 0), ("approve", 1), ("approve", 2),
         ("approve", 3), ("transfer", 0), ("release", 0), ("surv_start", 0)]
"""The lifecycle up to a released load under surveillance, so that random steps after it
reach the operation's later stages too."""

random_steps = st.lists(st.tuples(st.sampled_from(STEPS), st.integers(1, 900),
                                  st.integers(0, 3), st.booleans()), min_size=4, max_size=24)


@st.composite
def step_lists(draw: Any) -> list[tuple[str, int, int, bool]]:
    """Random steps, after the lifecycle spine in most examples."""
    steps: list[tuple[str, int, int, bool]] = []
    if draw(st.integers(0, 3)):
        steps = [(name, draw(st.integers(1, 120)), k, draw(st.booleans()))
                 for name, k in SPINE]
    extra: list[tuple[str, int, int, bool]] = draw(random_steps)
    return steps + extra


def record_case(w: Any, n: int, steps: list[tuple[str, int, int, bool]],
                inc: Projections | None = None) -> Ctx:
    """Open case ``n`` and record the steps that the rules allow."""
    ctx = Ctx(stream=f"case:H-{n}", ref=f"H-{n}", t=30 * 24 * 60)
    w.log.open_case(ctx.ref, port="5201", signer=w.signers["cbpo"], at=w.t(ctx.t),
                    recorded=w.t(ctx.t))
    for name, advance, k, catch in steps:
        ctx.t += advance
        try:
            run_step(w, ctx, name, k)
        except RuleViolationError:
            continue
        if catch and inc is not None:
            inc.catch_up()
    return ctx


def assert_agrees_with_fold(log: CaseLog, q: Queries, stream: str) -> None:
    """The views' answers equal the domain's fold over the case's events."""
    facts = [fact_of(s) for s in log.events(stream)]
    state = log.state(stream)
    # responsibility: the pure fold over facts
    direct = [(iv.holder, iv.start, iv.end) for iv in responsibility_intervals(facts)]
    viewed = [(iv.holder, iv.start, iv.end) for iv in q.responsibility(stream).intervals]
    assert viewed == direct
    # case attributes
    ref = q.case(stream)
    assert (ref.decision, ref.case_no) == (state.decision, state.case_no)
    # custody: final holders per item
    ledger = {r.item: r.holders for r in q.items(stream).items}
    folded = {k: dict(h.holders) for k, h in state.holdings.items() if h.holders}
    assert {k: v for k, v in ledger.items() if v} == folded
    # approvals granted for the current operation
    matrix = q.approvals(stream)
    granted = {r.kind for r in matrix.rows if r.status == "granted"}
    assert granted == (set(state.approvals) if state.operation else set())
    # R3: notification and identification times
    tl = q.timeliness(stream, as_of=datetime(2100, 1, 1, tzinfo=UTC))
    assert tl.identification_to_notification.end == state.notified_at
    if state.notified_at is not None:
        assert tl.identification_to_notification.start == state.identified_at
    # duties: every duty the fold opened, with due and done times
    duties = [*tl.feedback, *tl.briefings, *tl.action_items]
    assert sorted((d.kind, d.key, d.owner, d.due, d.done_at) for d in duties) == sorted(
        (d.kind, d.key, d.owner, d.due, d.done_at) for d in state.duties)
    # overdue at moments around each due time
    for d in state.duties:
        for as_of in (d.due - timedelta(minutes=1), d.due, d.due + timedelta(days=3)):
            mine = {(x.kind, x.key) for x in q.timeliness(stream, as_of=as_of).overdue}
            assert mine == {(o.kind, o.key) for o in overdue(state, as_of)}, as_of
    # incidents: open ones
    listed = q.incidents(stream).incidents
    assert {i.incident_id: i.closed_at is None for i in listed} == state.incidents
    # surveillance: an open loss shows as an open gap
    cov = q.surveillance(stream)
    lost = [g for g in cov.gaps if g.kind == "lost"]
    assert (state.surveillance == "lost") == bool(lost and lost[-1].end is None)
    assert (state.surveillance == "none") == (not cov.eyes_on)
    if state.surveillance == "active" and not any(f.type == "OperationTerminated"
                                                  for f in facts):
        assert cov.eyes_on[-1].end is None  # eyes-on closes when the operation ends


def assert_prefix_axis(log: CaseLog, q: Queries, stream: str) -> None:
    """Answers as recorded by T equal answers over the events recorded by T."""
    facts = [fact_of(s) for s in log.events(stream)]
    for cut in sorted({f.recorded for f in facts})[:: max(1, len(facts) // 4)]:
        prefix = [f for f in facts if f.recorded <= cut]
        direct = [(iv.holder, iv.start, iv.end) for iv in responsibility_intervals(prefix)]
        viewed = [(iv.holder, iv.start, iv.end)
                  for iv in q.responsibility(stream, recorded_by=cut).intervals]
        assert viewed == direct
        late = [f.version for f in prefix if f.late]
        assert [e.version for e in q.late_entries(stream, recorded_by=cut).entries] == late


@pytest.fixture
def twin(world: Any, tmp_path: Path) -> Any:
    """Two builds of the views of the world's log: incremental and rebuilt."""
    inc = Projections(world.log, folder=tmp_path / "inc")
    full = Projections(world.log, folder=tmp_path / "full", catch_up=False)
    yield inc, full
    inc.close()
    full.close()


@settings(max_examples=25)
@given(steps=step_lists())
def test_rebuilt_views_equal_incremental_views_and_the_fold(world: Any, twin: Any,
                                                            steps: Any) -> None:
    """Property: incremental == rebuilt, and both agree with a direct fold."""
    inc, full = twin
    ctx = record_case(world, next(CASES), steps, inc)
    inc.catch_up()
    full.rebuild()
    assert inc.dump() == full.dump()
    assert set(inc.positions().values()) == {world.log.max_position()}
    with Queries(world.log, inc) as q:
        assert_agrees_with_fold(world.log, q, ctx.stream)
        assert_prefix_axis(world.log, q, ctx.stream)


def test_each_view_has_its_own_two_files_and_tracking_rows(world: Any, tmp_path: Path
                                                            ) -> None:
    record_case(world, 1, [("discover", 5, 0, False), ("notify", 5, 1, False)])
    with Projections(world.log, folder=tmp_path / "v") as p:
        assert set(p.positions().values()) == {world.log.max_position()}
        stores = [s for s in p.stores.values() if isinstance(s, ShardedViewStore)]
        assert len(stores) == len(p.stores)
        files = [path for s in stores for path in s.paths]
        assert len(set(files)) == len(files) == 2 * len(stores)  # two files per view
        for name, store in p.stores.items():
            assert isinstance(store, ShardedViewStore)
            assert [f.name.split(".", 1)[1] for f in store.paths] == [f"{name}.db",
                                                                      f"{name}.1.db"]
            for part in store.parts:  # one tracking row per file, for the log
                with part.datastore.transaction(commit=False) as c:
                    c.execute("SELECT application_name FROM tracking WHERE "
                              "application_name != '__migration__'")
                    assert [r[0] for r in c.fetchall()] == ["cdlog"]


def test_a_page_is_applied_exactly_once(world: Any, tmp_path: Path) -> None:
    record_case(world, 1, [("discover", 5, 0, False)])
    with Projections(world.log, folder=tmp_path / "v") as p:
        store = p.stores["custody"]
        before = store.dump()
        top = world.log.max_position()
        row = world.log.app.recorder.select_notifications(start=top, limit=1)[0]
        sealed = parse(row.state, str(row.originator_id), row.originator_version)
        again = [Processed(top, sealed, fact_of(sealed))]
        with pytest.raises(ESIntegrityError):
            store.write(again, top, p.views["custody"].handle)  # same position again
        assert store.dump() == before  # rows and tracking rolled back together


def test_views_catch_up_on_open_and_two_readers_do_not_double_apply(world: Any,
                                                                     tmp_path: Path) -> None:
    folder = tmp_path / "v"
    first = Projections(world.log, folder=folder)
    record_case(world, 1, [("discover", 5, 0, False), ("notify", 5, 1, False),
                           ("ack", 5, 0, False)])
    second = Projections(world.log, folder=folder)  # catches up on open
    assert set(second.positions().values()) == {world.log.max_position()}
    first.catch_up()  # nothing left; its stale positions are re-read, nothing is duplicated
    rebuilt = Projections(world.log, folder=tmp_path / "r")
    assert first.dump() == rebuilt.dump()
    for p in (first, second, rebuilt):
        p.close()


def test_views_are_rebuilt_when_the_log_or_the_configuration_changes(
        tmp_path: Path, world: Any, more_stores: Callable[[str], str]) -> None:
    record_case(world, 1, [("discover", 5, 0, False)])
    folder = tmp_path / "v"
    with Projections(world.log, folder=folder) as p:
        assert p.positions()["custody"] == world.log.max_position()
    other = CaseLog(more_stores("other"))  # another (empty) log of the same kind
    try:
        with Projections(other, folder=folder) as p:  # same file names, another (empty) log
            assert p.positions()["custody"] == 0
            assert p.select("custody") == []
    finally:
        other.close()
    changed = world.log.config.model_copy(update={"deadlines": world.log.config.deadlines
                                                  .model_copy(update={
                                                      "briefing_after_interview":
                                                      timedelta(days=9)})})
    world.log.config = changed
    with Projections(world.log, folder=folder) as p:
        assert p.positions()["duties"] == world.log.max_position()
        assert p.stores["duties"].meta("fingerprint") == p.fingerprint("duties")


def test_default_folder_is_beside_the_store(world: Any) -> None:
    with Projections(world.log) as p:
        assert p.folder == world.log.store.home / "views"
        store = p.stores["responsibility"]
        if isinstance(store, ShardedViewStore):
            assert {path.parent for path in store.paths} == {p.folder}
            assert all(path.exists() for path in store.paths)


def test_concurrent_catch_up_applies_every_event_once(world: Any, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Two readers racing page by page over the same views (in the log's own store kind):
    every page is applied by exactly one of them."""
    record_case(world, 1, [(name, 7, k, False) for name, k in SPINE]
                + [("arrest", 5, k, False) for k in range(4)])
    monkeypatch.setattr(projector, "PAGE", 3)
    racers = [Projections(world.log, catch_up=False) for _ in range(3)]
    errors: list[BaseException] = []

    def run(p: Projections) -> None:
        try:
            p.catch_up()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors
    with Projections(world.log, folder=tmp_path / "rebuilt") as rebuilt:
        want = {n: (s.select(), s.position()) for n, s in rebuilt.stores.items()}
    got = {n: (s.select(), s.position()) for n, s in racers[0].stores.items()}
    assert got == want
    for p in racers:
        p.close()


def test_views_of_a_replaced_log_with_the_same_first_event_are_rebuilt(
        world: Any, tmp_path: Path) -> None:
    """A log recreated under the same name (``demo --fresh``) may begin with the very same
    event; the views notice that their head is no longer in the log and rebuild."""
    record_case(world, 1, [("discover", 5, 0, False), ("notify", 5, 1, False)])
    folder = tmp_path / "v"
    with Projections(world.log, folder=folder) as p:
        top = p.positions()["cases"]
        assert p.stores["cases"].meta("head") == f"{top}:{p._hash_at(top)}"
        p.stores["cases"].set_meta("head", f"{top}:{'0' * 64}")  # as if the log were another
    with Projections(world.log, folder=folder, catch_up=False) as p:
        assert p.positions()["cases"] == 0  # rebuilt from scratch
        assert p.positions()["custody"] == top  # the others still match the log
        p.catch_up()
        assert p.positions()["cases"] == top
