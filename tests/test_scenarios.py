"""The example scenarios (examples/scenarios): replay, verification, derived overdue, negative
variants of each rule built by editing the loaded data, and the ``replay``/``verify`` CLI."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import structlog
import yaml
from click.testing import CliRunner

import cdlog.cli.cases_cmd
import cdlog.cli.verify_cmd
from cdlog.application import CaseLog
from cdlog.canonical import parse_time
from cdlog.cli.main import cli
from cdlog.domain.evolve import overdue
from cdlog.errors import RuleViolationError
from cdlog.scenario import Replayer, load_scenario, replay
from cdlog.verify.runner import verify_store

assert cdlog.cli.cases_cmd.replay is not None  # the imports register the CLI commands
assert cdlog.cli.verify_cmd.verify is not None

A = "A-MIA-CD-ACCEPTED.yaml"
C = "C-SYS-DECLINED-ADMIN.yaml"


@pytest.fixture
def scenarios(scenarios_dir: Path) -> Path:
    """The example scenarios folder."""
    return scenarios_dir


@pytest.fixture
def log(store_url: str) -> Iterator[CaseLog]:
    """A fresh, empty log."""
    with CaseLog(store_url) as fresh:
        yield fresh


def raw(scenarios: Path, name: str) -> dict[str, Any]:
    """The scenario file as loaded YAML data (to edit into negative variants)."""
    data: dict[str, Any] = yaml.safe_load((scenarios / name).read_text(encoding="utf-8"))
    return data


def expected_counts(data: dict[str, Any]) -> tuple[int, int]:
    """(events a replay records, derived steps it checks) for loaded scenario data."""
    steps = data["events"]
    derived = sum(1 for s in steps if s.get("derived"))
    opened = 1 if any("stream" not in s for s in steps) else 0
    return len(steps) - derived + opened, derived


# ---------------------------------------------------------------- positive replays
def test_scenario_a_replays_every_step_and_verifies(log: CaseLog, scenarios: Path) -> None:
    """Scenario A records all 49 events (case, PNR and PNR-access streams) and verifies."""
    [result] = replay(log, [scenarios / A])
    assert (result.recorded, result.derived_checked) == (49, 0)
    assert result.streams == ["case:OP-2006-0001", "pnr:K-PNR-0001", "pnr-access:2006-03"]
    sizes = [len(log.events(s)) for s in result.streams]
    assert sizes == [45, 3, 1]
    report = verify_store(log)
    assert report.ok, report.failures
    assert report.cases == 3 + len({o.agency for o in result.scenario.actors.values()})
    state = log.state("case:OP-2006-0001")
    assert (state.decision, state.case_no, state.responsibility_assumed) == (
        "accepted", "MI-06-CD-0001", False)
    assert overdue(state, parse_time("2006-06-01T00:00:00-04:00")) == []


def test_scenario_a_signatures_follow_the_actors(log: CaseLog, scenarios: Path) -> None:
    """Scenario A: joint decisions and custody hand-offs carry every party's signature."""
    [result] = replay(log, [scenarios / A])
    ids = {h: o.id for h, o in result.scenario.actors.items()}
    events = log.events("case:OP-2006-0001")
    accepted = next(e for e in events if e.type == "CaseAccepted")
    assert accepted.envelope["actor"]["id"] == ids["oi_duty"]
    assert [c["id"] for c in accepted.envelope["cosigners"]] == [ids["oi_gs"]]
    handoffs = [e for e in events if e.type == "CustodyTransferred"]
    assert [[e.envelope["actor"]["id"], *[c["id"] for c in e.envelope["cosigners"]]]
            for e in handoffs] == [[ids["cbpo_e1"], ids["spc1"]], [ids["cbpo_e1"], ids["oi_ca"]],
                                   [ids["oi_ca"], ids["spc1"]]]
    weights = next(e for e in events if e.type == "ContrabandDiscovered")
    assert weights.payload["items"][0]["gross_weight_kg"] == "46.2"


def test_scenario_c_replays_with_one_derived_check(log: CaseLog, scenarios: Path) -> None:
    """Scenario C records 19 events, checks 1 derived step and verifies; the late entry is late."""
    [result] = replay(log, [scenarios / C])
    assert (result.recorded, result.derived_checked) == (19, 1)
    assert result.streams == ["case:C-SYS-DECLINED-ADMIN"]
    report = verify_store(log)
    assert report.ok, report.failures
    events = log.events("case:C-SYS-DECLINED-ADMIN")
    late = [e for e in events if e.envelope["late"]]
    assert [e.type for e in late] == ["LateEntryRecorded"]
    assert late[0].payload["wraps"] == "NotificationMade"
    assert late[0].envelope["recorded"] == "2006-08-21T08:15:00-07:00"
    assert log.state("case:C-SYS-DECLINED-ADMIN").decision == "declined"


def test_scenario_c_overdue_derived_at_first_instant_past_due(log: CaseLog,
                                                              scenarios: Path) -> None:
    """Scenario C: AI-C-1 (due 2006-08-26) is derived overdue at exactly 2006-08-27T00:00-07:00."""
    replay(log, [scenarios / C])
    state = log.state("case:C-SYS-DECLINED-ADMIN")
    instant = parse_time("2006-08-27T00:00-07:00")
    assert [o for o in overdue(state, instant - timedelta(microseconds=1))
            if o.key == "AI-C-1"] == []
    [late] = [o for o in overdue(state, instant) if o.key == "AI-C-1"]
    assert late.event_type == "ActionItemOverdue"
    assert late.became_overdue_at == instant
    assert late.became_overdue_at.isoformat() == "2006-08-27T00:00:00-07:00"
    assert late.owner == "ICE-2231"
    [done] = [o for o in overdue(state, parse_time("2006-09-06T00:00-07:00"))
              if o.key == "AI-C-1"]
    assert done.done_at == parse_time("2006-09-05T14:00-07:00")


def test_both_scenarios_replay_into_one_store(log: CaseLog, scenarios: Path) -> None:
    """A and C replay one after the other into the same store, which then verifies."""
    results = replay(log, [scenarios / A, scenarios / C])
    assert [r.recorded for r in results] == [49, 19]
    assert verify_store(log).ok


def test_every_example_scenario_replays(scenarios: Path,
                                        more_stores: Callable[[str], str]) -> None:
    """Every *.yaml in the example scenarios folder replays fully into a fresh store and
    verifies."""
    files = sorted(scenarios.glob("*.yaml"))
    assert {A, C} <= {f.name for f in files}
    for i, path in enumerate(files):
        with CaseLog(more_stores(f"every-{i}")) as fresh:
            [result] = replay(fresh, [path])
            want = expected_counts(yaml.safe_load(path.read_text(encoding="utf-8")))
            assert (result.recorded, result.derived_checked) == want, path.name
            report = verify_store(fresh)
            assert report.ok, (path.name, report.failures)


def test_loaded_scenario_matches_the_file(scenarios: Path) -> None:
    """load_scenario reads the actors, port and steps of a file; YAML floats become decimals."""
    sc = load_scenario(scenarios / A)
    assert (sc.name, sc.port, sc.case_stream) == ("A-MIA-CD-ACCEPTED", "5201",
                                                  "case:OP-2006-0001")
    assert sc.actors["oi_ca"].cross_designation == "T21"
    assert sc.events[3]["items"][0]["gross_weight_kg"] == "46.2"


# ---------------------------------------------------------------- negative variants
Edit = Callable[[list[dict[str, Any]]], int]


def index(steps: list[dict[str, Any]], type_: str, **match: Any) -> int:
    """The index of the first step of ``type_`` whose fields include ``match``."""
    return next(i for i, s in enumerate(steps) if s["type"] == type_
                and all(s.get(k) == v for k, v in match.items()))


def drop_authorisation(steps: list[dict[str, Any]]) -> int:
    """A′: no ThirdPartyDisclosureAuthorized before the PNR-derived InformationShared."""
    del steps[index(steps, "ThirdPartyDisclosureAuthorized")]
    return index(steps, "InformationShared")


def release_before_sac(steps: list[dict[str, Any]]) -> int:
    """A″: HoldReleased moved before the SAC ApprovalGranted."""
    release = steps.pop(index(steps, "HoldReleased"))
    sac = index(steps, "ApprovalGranted", kind="SAC")
    release["t"] = "2006-03-14T12:40-05:00"
    steps.insert(sac, release)
    return sac


def authorisation_expired(steps: list[dict[str, Any]]) -> int:
    """The authorisation expires the day it is given; the data is shared the day after."""
    steps[index(steps, "ThirdPartyDisclosureAuthorized")]["expires"] = "2006-03-16"
    steps[index(steps, "InformationShared")]["t"] = "2006-03-17T08:00-05:00"
    return index(steps, "InformationShared")


def authorisation_born_expired(steps: list[dict[str, Any]]) -> int:
    """An authorisation whose expiry date is before the day it is given is refused."""
    steps[index(steps, "ThirdPartyDisclosureAuthorized")]["expires"] = "2006-03-15"
    return index(steps, "ThirdPartyDisclosureAuthorized")


def overdue_typed_in(steps: list[dict[str, Any]]) -> int:
    """C′: ActionItemOverdue entered as an ordinary (non-derived) step."""
    i = index(steps, "ActionItemOverdue")
    del steps[i]["derived"]
    return i


def change(type_: str, match: dict[str, Any] | None = None, **fields: Any) -> Edit:
    """An edit that changes fields of the first matching step; it is the step refused."""
    def edit(steps: list[dict[str, Any]]) -> int:
        i = index(steps, type_, **(match or {}))
        steps[i].update(fields)
        return i
    edit.__doc__ = f"{type_}: {fields}"
    return edit


def drop(type_: str, refused_type: str) -> Edit:
    """An edit that removes a step; the first ``refused_type`` step after it is refused."""
    def edit(steps: list[dict[str, Any]]) -> int:
        del steps[index(steps, type_)]
        return index(steps, refused_type)
    edit.__doc__ = f"without {type_}"
    return edit


VARIANTS: list[tuple[str, str, Edit, str]] = [
    ("R1-ice-discovers", A, change("ContrabandDiscovered", actor="oi_ca"), "R1"),
    ("R2-no-responsibility", A, drop("ResponsibilityAssumed", "HoldReleased"), "R2"),
    ("R3-notify-cbp", A, change("InvestigativeNotificationSent", to="scbpo1"), "R3"),
    ("R3-identified-late", C, change("InvestigativeNotificationSent",
                                     identified_at="2006-08-19T02:06-07:00"), "R3"),
    ("R4-cbp-cosigns", A, change("CaseAccepted", actor=["oi_duty", "scbpo1"]), "R4"),
    ("R4-decline-by-cbp", C, change("CaseDeclined", actor="scbpo"), "R4"),
    ("R5-wrong-case-no", A, change("ShadowAssigned", case_no="MI-06-CD-9999"), "R5"),
    ("R6-brief-non-scbpo", A, change("SCBPOBriefed", scbpo="pd1"), "R6"),
    ("R7-feedback-wrong-agency", A, change("FeedbackProvided", from_agency="CBP"), "R7"),
    ("R8-A-prime", A, drop_authorisation, "R8"),
    ("R8-expired", A, authorisation_expired, "R8"),
    ("R8-born-expired", A, authorisation_born_expired, "R8"),
    ("R9-C-prime", C, overdue_typed_in, "R9"),
    ("approvals-A-double-prime", A, release_before_sac, "approvals"),
    ("custody-too-many", A, change("CustodyTransferred", items=[{"item": "A-1", "count": 43}]),
     "custody"),
    ("items-discrepancy", A, change("InventoryReconciled", discrepancy=1), "items"),
    ("late-not-late", C, change("LateEntryRecorded", rec="2006-08-19T03:45-07:00"), "late"),
    ("time-recorded-before", C, change("PenaltyAssessed", rec="2006-08-19T03:21-07:00"),
     "time"),
]


@pytest.mark.parametrize(("name", "file", "edit", "rule"), VARIANTS,
                         ids=[v[0] for v in VARIANTS])
def test_negative_variant_refused_naming_step_and_rule(log: CaseLog, scenarios: Path,
                                                       name: str, file: str, edit: Edit,
                                                       rule: str) -> None:
    """An edited scenario is refused at the edited step, naming step number, type and rule,
    and nothing of it is saved: no event of any stream, no root or certificate (issue 9.2)."""
    data = copy.deepcopy(raw(scenarios, file))
    bad = edit(data["events"])
    step = data["events"][bad]
    replayer = Replayer(log)
    with pytest.raises(RuleViolationError) as info:
        replayer.replay(data)
    err = info.value
    assert err.rule == rule, f"{name}: {err}"
    assert err.event_type == f"step {bad + 1} ({step['type']})"
    assert f"step {bad + 1} ({step['type']}) [{rule}]" in str(err)
    sc = load_scenario(data)
    stream = step.get("stream") or sc.case_stream
    assert log.events(stream) == []
    assert log.events(sc.case_stream) == []
    report = verify_store(log)
    assert report.ok
    assert report.events == 0


def test_a_prime_names_step_43(log: CaseLog, scenarios: Path) -> None:
    """A′: without the authorisation (step 42), step 43 (InformationShared) is refused: R8."""
    data = raw(scenarios, A)
    drop_authorisation(data["events"])
    with pytest.raises(RuleViolationError, match=r"step 43 \(InformationShared\) \[R8\]"):
        Replayer(log).replay(data)
    assert "InformationShared" not in [e.type for e in log.events("case:OP-2006-0001")]


def test_a_double_prime_names_the_missing_sac_approval(log: CaseLog, scenarios: Path) -> None:
    """A″: the early release is refused under ``approvals``, naming SAC and substitution."""
    data = raw(scenarios, A)
    release_before_sac(data["events"])
    with pytest.raises(RuleViolationError) as info:
        Replayer(log).replay(data)
    assert info.value.rule == "approvals"
    assert "missing SAC, substitution" in info.value.problem


# ---------------------------------------------------------------- CLI
@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A CLI runner with a passphrase set; structlog's configuration restored afterwards."""
    monkeypatch.setenv("CDLOG_PASSPHRASE", "test-passphrase-only")
    for name in ("CDLOG_STORE", "CDLOG_CONFIG", "CDLOG_JSON_LOGS"):
        monkeypatch.delenv(name, raising=False)
    saved = structlog.get_config()
    yield CliRunner()
    structlog.configure(**saved)


def test_cli_replay_then_verify_json(runner: CliRunner, scenarios: Path,
                                     store_url: str) -> None:
    """CLI: ``replay FILE`` exits 0 and ``verify --json`` prints ok true for the store."""
    store = store_url
    done = runner.invoke(cli, ["--store", store, "replay", str(scenarios / A),
                               str(scenarios / C)])
    assert done.exit_code == 0, done.output
    assert "replayed A-MIA-CD-ACCEPTED: 49 events recorded" in done.stdout
    assert "replayed C-SYS-DECLINED-ADMIN: 19 events recorded, 1 derived checked" in done.stdout
    checked = runner.invoke(cli, ["--store", store, "verify", "--json"])
    assert checked.exit_code == 0, checked.output
    report = json.loads(checked.stdout)
    assert report["ok"] is True
    assert report["failures"] == []
    assert report["events"] > 68


def test_cli_refused_step_exits_2_naming_step_and_rule(runner: CliRunner, scenarios: Path,
                                                       tmp_path: Path, store_url: str) -> None:
    """CLI: replaying A′ exits 2 with a message naming the step and the rule."""
    data = raw(scenarios, A)
    drop_authorisation(data["events"])
    bad = tmp_path / "A-prime.yaml"
    bad.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    done = runner.invoke(cli, ["--store", store_url, "replay", str(bad)])
    assert done.exit_code == 2, done.output
    assert "refused" in done.output
    assert "step 43 (InformationShared) [R8]" in done.output
    assert "ThirdPartyDisclosureAuthorized" in done.output
