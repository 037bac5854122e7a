"""``cdlog replay`` + ``cdlog query``: every scenario in examples/scenarios replays, and each
of its ``expected_answers`` holds exactly, through the command line and through the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import yaml
from click.testing import CliRunner, Result

import cdlog.cli.cases_cmd
import cdlog.cli.query_cmd
import cdlog.cli.report_cmd
from cdlog.application import CaseLog
from cdlog.cli.main import cli
from cdlog.projections.answers import dump, parse_question, plain
from cdlog.projections.queries import Queries
from cdlog.scenario import load_scenario

if TYPE_CHECKING:
    from conftest import STORE_KINDS, fresh_store
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import STORE_KINDS, fresh_store

assert cdlog.cli.cases_cmd.replay is not None  # the imports register the commands
assert cdlog.cli.query_cmd.query is not None
assert cdlog.cli.report_cmd.report is not None

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"
FILES = sorted(SCENARIOS.glob("*.yaml"))


@dataclass
class Replayed:
    """A scenario replayed into its own store through the CLI."""

    path: Path
    url: str
    case: str
    expected: dict[str, Any]


def run(url: str, *args: str) -> Result:
    """Run ``cdlog --store URL ARGS``."""
    return CliRunner().invoke(cli, ["--store", url, *args], catch_exceptions=False)


def query(url: str, *args: str) -> Any:
    """Run ``cdlog query ARGS`` and parse its JSON."""
    result = run(url, "query", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def passphrase() -> Iterator[None]:
    """Root key files get a test passphrase (module-scoped monkeypatch)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CDLOG_PASSPHRASE", "test passphrase for demo roots")
        yield


@pytest.fixture(scope="module", params=STORE_KINDS)
def replayed(tmp_path_factory: pytest.TempPathFactory, passphrase: None,
             request: pytest.FixtureRequest) -> Iterator[dict[str, Replayed]]:
    """Every scenario file replayed through ``cdlog replay`` into its own store (SQLite
    files, then PostgreSQL schemas)."""
    out = {}
    with ExitStack() as stack:
        for path in FILES:
            folder = tmp_path_factory.mktemp(path.stem)
            url = stack.enter_context(fresh_store(request.param, folder / "store", request))
            result = run(url, "replay", str(path))
            assert result.exit_code == 0, result.output
            sc = load_scenario(path)
            out[path.name] = Replayed(path, url, sc.operation_id or sc.name,
                                      dict(yaml.safe_load(path.read_text())
                                           .get("expected_answers") or {}))
        yield out


def test_the_example_scenarios_are_there() -> None:
    names = {p.name for p in FILES}
    assert {"A-MIA-CD-ACCEPTED.yaml", "C-SYS-DECLINED-ADMIN.yaml"} <= names


@pytest.mark.parametrize("name", [p.name for p in FILES])
def test_expected_answers_hold_through_cli_and_api(replayed: dict[str, Replayed],
                                                   name: str) -> None:
    sc = replayed[name]
    assert sc.expected, f"{name} has no expected_answers"
    questions = {key: parse_question(str(key)) for key in sc.expected}
    with CaseLog(sc.url) as log, Queries(log) as q:
        for key, question in questions.items():
            want = plain(sc.expected[key])
            by_cli = question.extract(query(sc.url, *question.argv(sc.case)), sc.case)
            by_api = question.extract(dump(question.api(q, sc.case)), sc.case)
            assert by_cli == want, f"{name}: {key} via cdlog query"
            assert by_api == want, f"{name}: {key} via the API"


def test_scenario_a_answers_by_hand(replayed: dict[str, Replayed]) -> None:
    url = replayed["A-MIA-CD-ACCEPTED.yaml"].url
    doc = query(url, "responsibility", "MI-06-CD-0001", "--at", "2006-03-15T12:00-05:00")
    assert doc["holder"] == "ICE/OI"
    assert doc["cites"][0]["type"] == "ResponsibilityAssumed"
    assert len(doc["cites"][0]["hash"]) == 64
    pnr = query(url, "pnr", "OP-2006-0001", "--on", "2006-08-28", "--regime", "EU-US-2012")
    assert [s["state"] for s in pnr["states"]] == ["personalised"]
    assert query(url, "overdue", "--as-of", "2007-01-01T00:00Z", "--case",
                 "OP-2006-0001")["items"] == []


def test_scenario_c_answers_by_hand(replayed: dict[str, Replayed]) -> None:
    url = replayed["C-SYS-DECLINED-ADMIN.yaml"].url
    late = query(url, "late-entries")
    assert [(e["event"], e["lag"]) for e in late["entries"]] == [
        ("NotificationMade/CaseDeclined", "2d 5h28m")]
    over = query(url, "overdue", "--as-of", "2006-12-01")
    assert [(i["key"], i["due_day"], i["days_late"], i["status"]) for i in over["items"]] == [
        ("AI-C-1", "2006-08-26", 10, "done_late")]
    assert over["by_port"] == [{"key": "2504", "name": "San Ysidro", "cases": 1,
                                "incidents": 0, "overdue": 1}]
    # the record-time axis: as the log stood before the late entry was made
    assert query(url, "late-entries", "--recorded-by", "2006-08-21T08:00-07:00")[
        "entries"] == []


@pytest.mark.parametrize("args", [
    ("responsibility", "OP-2006-0001"),
    ("custodian", "A-1", "--at", "2006-03-15T12:00-05:00"),
    ("approvals", "OP-2006-0001"),
    ("notifications", "OP-2006-0001"),
    ("surveillance", "OP-2006-0001"),
    ("items", "OP-2006-0001"),
    ("incidents",),
    ("incidents", "OP-2006-0001"),
    ("overdue", "--as-of", "2006-06-01T00:00Z"),
    ("late-entries",),
    ("pilot",),
    ("timeliness", "OP-2006-0001", "--as-of", "2006-03-17T00:00-05:00"),
    ("disclosures", "OP-2006-0001"),
    ("cases",),
    ("views",),
])
def test_every_query_prints_json(replayed: dict[str, Replayed], args: tuple[str, ...]) -> None:
    doc = query(replayed["A-MIA-CD-ACCEPTED.yaml"].url, *args)
    assert isinstance(doc, dict)
    assert doc


def test_query_cli_equals_api(replayed: dict[str, Replayed]) -> None:
    url = replayed["A-MIA-CD-ACCEPTED.yaml"].url
    with CaseLog(url) as log, Queries(log) as q:
        assert query(url, "items", "OP-2006-0001") == dump(q.items("OP-2006-0001"))
        assert query(url, "notifications", "OP-2006-0001") == dump(
            q.notifications("OP-2006-0001"))
        assert query(url, "approvals", "OP-2006-0001") == dump(q.approvals("OP-2006-0001"))


def test_unknown_case_and_bad_time_are_refused(replayed: dict[str, Replayed]) -> None:
    url = replayed["A-MIA-CD-ACCEPTED.yaml"].url
    result = run(url, "query", "responsibility", "OP-NOPE")
    assert result.exit_code == 2
    assert "no case named 'OP-NOPE'" in result.output
    result = run(url, "query", "responsibility", "OP-2006-0001", "--at", "yesterday")
    assert result.exit_code == 2
    assert "ISO-8601" in result.output


def test_views_rebuild_from_the_cli(replayed: dict[str, Replayed]) -> None:
    url = replayed["C-SYS-DECLINED-ADMIN.yaml"].url
    before = query(url, "timeliness", "C-SYS-DECLINED-ADMIN")
    doc = query(url, "views", "--rebuild")
    assert set(doc["views"].values()) == {doc["log_position"]}
    assert query(url, "timeliness", "C-SYS-DECLINED-ADMIN") == before


def test_unknown_questions_are_named() -> None:
    with pytest.raises(ValueError, match="unknown question 'who_ate_the_cake'"):
        parse_question("who_ate_the_cake")
    q = parse_question('responsibility_at("2006-03-15T12:00-05:00")')
    assert q.argv("X") == ["responsibility", "X", "--at", "2006-03-15T12:00-05:00"]
    assert parse_question("pnr_disclosure_to_DEA_requires").argv("X") == [
        "disclosures", "X", "--to", "DEA"]


# ---------------------------------------------------------------- origins (issue 10)
ORIGINS = sorted((SCENARIOS / "origins").glob("*.yaml"))


def test_cases_of_scenarios_a_and_c_are_ofo_interdictions(
        replayed: dict[str, Replayed]) -> None:
    """A and C have no ``origin:`` block: OFO interdictions; OI leads A (accepted), not C."""
    for name, leads in (("A-MIA-CD-ACCEPTED.yaml", True), ("C-SYS-DECLINED-ADMIN.yaml", False)):
        [case] = query(replayed[name].url, "cases")["cases"]
        assert (case["origin"], case["origin_agency"], case["oi_leads"]) == (
            "ofo_interdiction", "CBP", leads)


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_origin_scenarios_replayed_by_the_cli_are_found_by_their_origin(
        tmp_path: Path, passphrase: None, request: pytest.FixtureRequest, kind: str) -> None:
    """``cdlog replay`` of the four origin scenarios in one store; each case is found by the
    OI case number its origin gives (no acceptance), says how it began and every port it
    spans, and the pilot answer says where its settings come from."""
    assert len(ORIGINS) == 4
    with fresh_store(kind, tmp_path / "store", request) as url:
        result = run(url, "replay", *map(str, ORIGINS))
        assert result.exit_code == 0, result.output
        found = {}
        for path in ORIGINS:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            origin = data["origin"]
            number = origin.get("case_no") or next(  # else the number OI accepted it under
                c["case_no"] for c in query(url, "cases")["cases"]
                if c["reference"] == data["operation_id"])
            doc = query(url, "responsibility", number)["case"]
            assert doc["reference"] == data["operation_id"]
            assert (doc["origin"], doc["origin_agency"]) == (origin["kind"], origin["agency"])
            assert doc["oi_leads"] is True
            found[origin["kind"]] = doc["ports"]
        assert found == {"oi_investigation": ["3004"], "foreign_request": ["4701"],
                         "partner_referral": ["2301"], "ofo_interdiction": ["5206", "4701"]}
        pilot = query(url, "pilot")
        assert any(s.startswith("pilot_locations: the memo") for s in pilot["settings"])
        assert any(s.startswith("title21_categories: configuration")
                   for s in pilot["settings"])
