"""``cdlog report``: case, incident, overdue and pilot reports in md, json and html; every fact
cites its events, and the report says whether they verified."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result

import cdlog.cli.cases_cmd
import cdlog.cli.report_cmd
from cdlog.cli.main import cli
from cdlog.projections.queries import Queries
from cdlog.reports.build import case_report, incident_report, iter_citations
from cdlog.reports.render import render
from cdlog.store.urls import resolve_store

if TYPE_CHECKING:
    from conftest import STORE_KINDS, RawStore, fresh_store
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import STORE_KINDS, RawStore, fresh_store

assert cdlog.cli.cases_cmd.replay is not None  # the imports register the commands
assert cdlog.cli.report_cmd.report is not None

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"
CITE = re.compile(r"\[(OP-2006-0001|C-SYS-DECLINED-ADMIN) v(\d+) ([0-9a-f]{12})\]")


def run(url: str, *args: str) -> Result:
    """Run ``cdlog --store URL ARGS``."""
    return CliRunner().invoke(cli, ["--store", url, *args], catch_exceptions=False)


@pytest.fixture(scope="module", params=STORE_KINDS)
def store(tmp_path_factory: pytest.TempPathFactory,
          request: pytest.FixtureRequest) -> Iterator[str]:
    """Scenarios A and C replayed through the CLI into one store (of each kind)."""
    folder = tmp_path_factory.mktemp("reports")
    with fresh_store(request.param, folder / "store", request) as url:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("CDLOG_PASSPHRASE", "test passphrase")
            result = run(url, "replay", str(SCENARIOS / "A-MIA-CD-ACCEPTED.yaml"),
                         str(SCENARIOS / "C-SYS-DECLINED-ADMIN.yaml"))
        assert result.exit_code == 0, result.output
        yield url


def test_case_report_markdown_cites_every_fact(store: str) -> None:
    result = run(store, "report", "case", "OP-2006-0001")
    assert result.exit_code == 0, result.output
    md = result.stdout
    assert md.startswith("# Case report: OP-2006-0001")
    assert "**Verification:** Verified: all" in md
    for title in ("## Responsibility (R2)", "## Approvals before release",
                  "## Items and custody", "## Surveillance coverage",
                  "## Who was told what, when", "## Duties and timeliness (R3-R9)",
                  "## Incidents", "## Information sharing and EU PNR (R8)", "## Event index"):
        assert title in md
    assert "| GS | yes | granted |" in md
    assert "19h50m before release" in md
    cited = {(m[1], int(m[2]), m[3]) for m in CITE.finditer(md)}
    index = {(m[1], int(m[2]), m[3][:12]) for m in re.finditer(
        r"\| case:(OP-2006-0001) \| (\d+) \| \w+ \|.*?`([0-9a-f]{64})`", md)}
    assert cited
    assert cited <= index
    assert "✗ unverified" not in md


def test_case_report_json_and_its_citations(store: str, tmp_path: Path) -> None:
    out = tmp_path / "a.json"
    result = run(store, "report", "case", "MI-06-CD-0001", "--format", "json", "--out",
                 str(out))
    assert result.exit_code == 0
    assert "report written to" in result.stderr
    doc = json.loads(out.read_text())
    assert doc["kind"] == "case"
    assert doc["case"]["case_no"] == "MI-06-CD-0001"
    v = doc["verification"]
    assert v["all_cited_verified"]
    assert v["scope"] == "cases"
    assert v["store_ok"] is None  # the default checks the cases, not the whole store
    assert v["cited"] == v["cited_verified"] > 30
    hashes = {(e["case"], e["version"]): e["hash"] for e in doc["events"]}
    assert len([e for e in doc["events"] if e["case"] == "case:OP-2006-0001"]) == 45
    assert doc["responsibility"]["intervals"][1]["holder"] == "ICE/OI"
    assert doc["timeliness"]["pilot"]["shadow_expected"] is True

    def walk(value: Any) -> Iterator[dict[str, Any]]:
        if isinstance(value, dict):
            if set(value) == {"case", "version", "hash", "type"}:
                yield value
            for item in value.values():
                yield from walk(item)
        elif isinstance(value, list):
            for item in value:
                yield from walk(item)

    cites = list(walk(doc))
    assert len(cites) > 50
    assert all(hashes[(c["case"], c["version"])] == c["hash"] for c in cites)


def test_case_report_html_is_self_contained(store: str, tmp_path: Path) -> None:
    out = tmp_path / "c.html"
    result = run(store, "report", "case", "C-SYS-DECLINED-ADMIN", "--format", "html", "--out",
                 str(out))
    assert result.exit_code == 0
    page = out.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "@media print" in page
    assert "<script" not in page
    assert not re.search(r"(src|href)=\"https?:", page)
    anchors = set(re.findall(r'href="#([^"]+)"', page))
    ids = set(re.findall(r'id="([^"]+)"', page))
    assert anchors
    assert anchors <= ids
    assert "OFO throughout (no CD/PT; R2 not triggered)" in page
    assert "NotificationMade/CaseDeclined" in page
    assert "2d 5h28m" in page


def test_overdue_and_pilot_reports(store: str) -> None:
    md = run(store, "report", "overdue", "--as-of", "2006-12-01T00:00Z").stdout
    assert "# Overdue duties as of 2006-12-01 00:00 +00:00" in md
    assert re.search(r"\| C-SYS-DECLINED-ADMIN \| action_item \| AI-C-1 \| ICE-2231 .*"
                     r"\| 2006-08-26 \|.*done_late.*\| 9d 14h \| 10 \|", md.replace(
                         "case:C-SYS", "C-SYS"))
    assert "| 2504 | San Ysidro | 1 | 0 | 1 |" in md
    assert "Nothing is overdue." in run(store, "report", "overdue", "--as-of",
                                        "2006-08-20T00:00Z").stdout
    pilot = json.loads(run(store, "report", "pilot", "--format", "json").stdout)
    assert [(c["case"]["reference"], c["shadow_expected"]) for c in pilot["pilot"]["cases"]] == [
        ("OP-2006-0001", True), ("C-SYS-DECLINED-ADMIN", False)]
    assert pilot["verification"]["all_cited_verified"]
    html = run(store, "report", "pilot", "--format", "html").stdout
    assert "Title 21 shadow pilot (R5)" in html


def test_a_tampered_event_makes_the_report_say_not_verified(
        store_url: str, raw: RawStore, monkeypatch: pytest.MonkeyPatch) -> None:
    url = store_url
    monkeypatch.setenv("CDLOG_PASSPHRASE", "test passphrase")
    assert run(url, "replay", str(SCENARIOS / "A-MIA-CD-ACCEPTED.yaml")).exit_code == 0
    assert "Verified: all" in run(url, "report", "case", "OP-2006-0001").stdout  # views built
    rows = raw.rows("SELECT {nid}, state FROM {events}")
    nid, state = next((r, s) for r, s in rows if b'"kind":"SAC"' in s)
    raw.execute(("UPDATE {events} SET state=? WHERE {nid}=?",
                 (state.replace(b'"kind":"SAC"', b'"kind":"SAX"'), nid)))
    md = run(url, "report", "case", "OP-2006-0001").stdout
    assert "**Verification:** NOT VERIFIED" in md
    assert "✗ unverified" in md
    html = run(url, "report", "case", "OP-2006-0001", "--format", "html").stdout
    assert 'class="verification bad"' in html
    assert "cite unverified" in html


def test_demo_ends_with_html_reports(store_url: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDLOG_PASSPHRASE", "test passphrase")
    monkeypatch.chdir(tmp_path)
    result = run(store_url, "demo")
    assert result.exit_code == 0, result.output
    found = [re.fullmatch(r"report of (case:\S+): (.+)", x) for x in result.stdout.splitlines()
             if x.startswith("report of ")]
    assert [m[1] for m in found if m] == ["case:OP-2006-0001", "case:C-SYS-DECLINED-ADMIN"]
    for m in found:
        assert m is not None
        path = Path(m[2])
        assert path.is_file()
        assert path.suffix == ".html"
        assert "Verified: all" in path.read_text()


# ---------------------------------------------------------------- incident reports
def _incident_case(w: Any) -> None:
    i = w.id
    w.open_case("OP-INC", port="5201", at=0)
    s = "case:OP-INC"
    w.rec(s, "ContrabandDiscovered", {"items": [{"item_id": "X-1", "description": "brick",
                                                 "category": "drug", "count": 3}]},
          by="cbpo", at=5)
    w.rec(s, "InvestigativeNotificationSent", {"identified_at": w.t(5).isoformat(),
                                               "to": i("oi_duty"), "channel": "phone"},
          by="cbpo", at=8)
    w.rec(s, "CaseAccepted", {"case_no": "MI-INC", "lead_office": "SAC-Miami"},
          by="oi_duty", at=20)
    w.rec(s, "ResponsibilityAssumed", {"agency": "ICE", "office": "OI", "scope": "OP-INC"},
          by="oi_gs", at=25)
    w.rec(s, "CustodyTransferred", {"from": i("cbpo"), "to": i("oi_ca"),
                                    "items": [{"item": "X-1", "count": 3}]},
          by="cbpo", cosign=("oi_ca",), at=30)
    w.rec(s, "IncidentOccurred", {"incident_id": "INC-9", "incident_type": "merchandise_missing",
                                  "discovered_at": w.t(90).isoformat(),
                                  "items_affected": [{"item": "X-1", "count": 1}]},
          by="oi_ca", at=80, recorded=95)
    w.rec(s, "NotificationMade", {"from": i("oi_ca"), "to": i("oi_gs"), "subject": "one missing",
                                  "incident_id": "INC-9"}, by="oi_ca", at=100)


def test_incident_report_in_every_format(world: Any, tmp_path: Path) -> None:
    _incident_case(world)
    url = world.log.store.url
    md = run(url, "report", "incident", "INC-9").stdout
    assert md.startswith("# Incident report: INC-9 (OP-INC)")
    assert "Responsible when it occurred: ICE/OI." in md
    assert "custodian of 3 x X-1" in md
    assert "Verified: all" in md
    out = tmp_path / "inc.html"
    assert run(url, "report", "incident", "INC-9", "--case", "MI-INC", "--format", "html",
               "--out", str(out)).exit_code == 0
    page = out.read_text()
    assert "<svg" in page
    assert "<polygon" in page
    assert "INC-9 merchandise_missing" in page
    doc = json.loads(run(url, "report", "incident", "INC-9", "--format", "json").stdout)
    assert doc["kind"] == "incident"
    assert doc["incident"]["responsible"] == "ICE/OI"
    assert doc["custody"][0]["holders"][0]["holder"] == world.id("oi_ca")


def test_report_builders_through_the_api(world: Any) -> None:
    _incident_case(world)
    with Queries(world.log) as q:
        rep = case_report(q, "OP-INC")
        assert rep.verification.all_cited_verified
        assert {c.case for c in iter_citations(rep)} == {"case:OP-INC"}
        inc = incident_report(q, "INC-9")
        for fmt in ("md", "json", "html"):
            assert "INC-9" in render(inc, fmt, world.log.config)
        assert [i.incident_id for i in rep.incidents] == ["INC-9"]


@pytest.mark.parametrize("fmt", ["md", "json", "html"])
def test_reports_never_carry_the_store_password(store: str, fmt: str) -> None:
    """Every report format names the store, with any password replaced by ***."""
    password = resolve_store(store).password
    result = run(store, "report", "case", "OP-2006-0001", "--format", fmt)
    assert result.exit_code == 0, result.output
    if password:
        assert password not in result.stdout
        assert "***" in result.stdout
    redacted = resolve_store(store).redacted
    assert (html.escape(redacted) if fmt == "html" else redacted) in result.stdout
