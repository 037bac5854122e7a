"""``cdlog restricted``: values shown only to entitled readers, every read and refusal
recorded, disclosure packages that verify, erasure that keeps verification passing; and the
honest ``cdlog query pnr`` (what the store did, apart from what is due)."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner, Result

import cdlog.cli  # noqa: F401  (registers every command)
from cdlog.cli.main import cli
from cdlog.keys import keyfile
from cdlog.log.sealing import stream_id

if TYPE_CHECKING:
    from conftest import SCENARIOS, assert_one_line_refusal, store_snapshot
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import SCENARIOS, assert_one_line_refusal, store_snapshot

PASS = "restricted-test-passphrase"
RECORD = "pnr:K-PNR-0002"
CASE_NO = "MI-06-CD-0001"
VALUES = {"locator": "ABC123", "passenger": "DOE/JOHN (fictitious)",
          "itinerary": ["CDG-MIA 2020-01-01"]}


@dataclass
class Pnr:
    """Scenario A replayed, CBP's KEK, key files for a CBP analyst, a CBP approving official
    and an ICE case agent, and a vaulted record pnr:K-PNR-0002 linked to MI-06-CD-0001."""

    store: str
    home: Path
    folder: Path
    raw: Any

    def __call__(self, *args: str) -> Result:
        return CliRunner().invoke(cli, ["--store", self.store, *args], catch_exceptions=False)

    def ok(self, *args: str) -> Result:
        result = self(*args)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def types(self, stream: str) -> list[str]:
        doc = json.loads(self.ok("show", stream, "--json").stdout)
        return [e["type"] for e in doc["events"]]

    def snapshot(self) -> tuple[Any, ...]:
        return store_snapshot(self.raw, self.folder)

    def access_types(self) -> list[str]:
        rows = self.raw.rows("SELECT state FROM {events} ORDER BY {nid}")
        out = []
        for (state,) in rows:
            env = json.loads(bytes(state).split(b"\n", 1)[0])
            if env["stream"].startswith("pnr-access:"):
                out.append(env["type"])
        return out


@pytest.fixture
def pnr(tmp_path: Path, store_url: str, raw: Any, monkeypatch: pytest.MonkeyPatch) -> Pnr:
    folder = tmp_path / "keys"
    folder.mkdir()
    monkeypatch.setenv("CDLOG_PASSPHRASE", PASS)
    monkeypatch.setattr(keyfile, "KDF_ROUNDS", 1)
    monkeypatch.chdir(folder)
    p = Pnr(store_url, tmp_path / "store", folder, raw)
    p.ok("replay", str(SCENARIOS / "A-MIA-CD-ACCEPTED.yaml"))
    p.ok("restricted", "kek-new", "CBP")
    roots = p.home / "keys"
    for name, root, ident, role, agency, office in (
            ("cbp", "CBP", "CBP-6203", "PNRAnalyst", "CBP", "OFO"),
            ("sup", "CBP", "CBP-6001", "PNRApprovingOfficial", "CBP", "OFO"),
            ("ice", "ICE", "ICE-6610", "CaseAgent", "ICE", "OI")):
        p.ok("keys", "create-officer", "--root", str(roots / f"root-{root}.key"), "--id", ident,
             "--role", role, "--agency", agency, "--office", office, "--out", f"{name}.key")
    p.ok("record", RECORD, "PNRRecordIngested", "--key", "cbp.key", "--at", "now",
         "--json-fields", json.dumps({"received_at": "2020-01-01T00:00Z", "flight": "XX9",
                                      "key_id": "K-PNR-0002", **VALUES}))
    p.ok("record", RECORD, "PNRLinkedToCase", "--key", "sup.key", "--at", "now",
         "--field", f"case_no={CASE_NO}")
    return p


def test_owner_reads_and_the_read_is_recorded(pnr: Pnr) -> None:
    before = pnr.access_types()
    result = pnr.ok("restricted", "show", "K-PNR-0002", "--key", "cbp.key", "--purpose",
                    "targeting", "--json")
    doc = json.loads(result.stdout)
    assert doc["values"] == VALUES
    assert pnr.access_types() == [*before, "RestrictedValuesRead"]
    assert doc["read"]["stream"].startswith("pnr-access:")
    status = json.loads(pnr.ok("restricted", "status", RECORD, "--json").stdout)
    assert {f["field"]: f["state"] for f in status["fields"]} == dict.fromkeys(VALUES, "held")
    assert "ABC123" not in json.dumps(status)


def test_third_party_without_authorisation_is_refused_and_recorded(pnr: Pnr) -> None:
    before = pnr.access_types()
    result = pnr("restricted", "show", RECORD, "--key", "ice.key", "--purpose", "lead",
                 "--case-no", CASE_NO)
    line = assert_one_line_refusal(result, "ICE may not read", RECORD, secret=PASS)
    assert "ABC123" not in result.output
    assert "restricted" in line
    assert pnr.access_types() == [*before, "RestrictedReadRefused"]


def test_third_party_reads_under_an_unexpired_authorisation_only(pnr: Pnr) -> None:
    def authorise(at: str, expires: str) -> None:
        pnr.ok("record", RECORD, "ThirdPartyDisclosureAuthorized", "--key", "sup.key",
               "--at", at, "--field", "requesting_agency=ICE", "--field", f"case_no={CASE_NO}",
               "--field", "purpose=investigation", "--field", f"expires={expires}")

    authorise("2026-01-01T00:00Z", "2026-01-02")  # given and expired before this read
    late = pnr("restricted", "show", RECORD, "--key", "ice.key", "--purpose", "x",
               "--case-no", CASE_NO)
    assert_one_line_refusal(late, "expired")
    assert "--at" not in pnr("restricted", "show", "--help").stdout  # reads happen now
    authorise("now", (datetime.now(UTC).date() + timedelta(days=30)).isoformat())
    # named by the case: its OI case number is the one read for
    shown = pnr.ok("restricted", "show", "OP-2006-0001", "--key", "ice.key", "--purpose",
                   "investigation", "--field", "itinerary")
    assert shown.stdout == 'itinerary\t["CDG-MIA 2020-01-01"]\n'
    assert pnr.access_types()[-2:] == ["RestrictedReadRefused", "RestrictedValuesRead"]


@pytest.mark.parametrize("fault", ["passphrase", "key", "kek", "field"])
def test_refusals_before_any_write_leave_the_store_alone(pnr: Pnr, fault: str,
                                                         monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    args = ["restricted", "show", RECORD, "--key", "cbp.key", "--purpose", "p"]
    if fault == "passphrase":
        monkeypatch.setenv("CDLOG_PASSPHRASE", "wrong passphrase here")
    elif fault == "key":
        args[args.index("cbp.key")] = "missing.key"
    elif fault == "kek":
        kek = pnr.home / "keys" / "kek-CBP.key"
        kek.rename(kek.with_suffix(".gone"))
    else:
        args += ["--field", "shoe_size"]
    before = pnr.snapshot()
    assert_one_line_refusal(pnr(*args), secret=PASS)
    assert pnr.snapshot() == before


def test_erase_keeps_verification_and_serves_nothing(pnr: Pnr) -> None:
    pnr.ok("record", "pnr:K-PNR-0003", "PNRRecordIngested", "--key", "cbp.key", "--at", "now",
           "--json-fields", json.dumps({"received_at": "2026-01-01T00:00Z", "flight": "XX8",
                                        "key_id": "K-PNR-0003", "locator": "NEW001"}))
    pnr.ok("checkpoint")
    before = pnr.snapshot()
    refused = pnr("restricted", "erase", RECORD, "--key", "ice.key", "--reason",
                  "legal_order", "--order-ref", "ORD-1")
    assert_one_line_refusal(refused, "CBP")
    early = pnr("restricted", "erase", "K-PNR-0003", "--key", "cbp.key", "--reason",
                "retention_ended")  # received this year: 42 months have not run
    assert_one_line_refusal(early, "retention")
    assert pnr.snapshot() == before
    done = pnr.ok("restricted", "erase", RECORD, "--key", "cbp.key", "--reason",
                  "legal_order", "--order-ref", "ORD-1", "--field", "passenger")
    assert "erased passenger" in done.stdout
    status = json.loads(pnr.ok("restricted", "status", RECORD, "--json").stdout)
    assert {f["field"]: f["state"] for f in status["fields"]} == {
        "locator": "held", "passenger": "erased", "itinerary": "held"}
    pnr.ok("restricted", "erase", RECORD, "--key", "cbp.key", "--reason", "retention_ended")
    assert pnr.types(RECORD)[-2:] == ["RestrictedValuesErased", "RestrictedValuesErased"]
    pnr.ok("checkpoint")
    pnr.ok("verify")
    result = pnr("restricted", "show", RECORD, "--key", "cbp.key", "--purpose", "after")
    assert_one_line_refusal(result, "erased")
    assert "ABC123" not in result.output
    assert pnr.access_types()[-1] == "RestrictedReadRefused"
    if pnr.store.startswith("sqlite"):
        db = sqlite3.connect(pnr.home / "cdlog.db")
        rows = list(db.execute("SELECT ciphertext, wrapped_key FROM restricted_vault "
                               "WHERE case_id = ?", (stream_id(RECORD).hex,)))
        db.close()
        assert len(rows) == len(VALUES)  # the rows (and commitments) stay, their data goes
        assert rows == [(None, None)] * len(VALUES)


def test_disclosure_package_verifies_in_its_bundle(pnr: Pnr, tmp_path: Path) -> None:
    before = pnr.snapshot()
    early = pnr("restricted", "disclose", RECORD, "--key", "cbp.key", "--purpose", "court",
                "--field", "locator", "--out", str(tmp_path / "early"))
    assert_one_line_refusal(early, "checkpoint")
    assert pnr.snapshot() == before
    assert not (tmp_path / "early").exists()
    pnr.ok("checkpoint")
    vkey = pnr.ok("log-key").stdout.strip()
    third = pnr("restricted", "disclose", RECORD, "--key", "ice.key", "--purpose", "court",
                "--case-no", CASE_NO, "--field", "locator", "--out", str(tmp_path / "no"))
    assert_one_line_refusal(third, "ICE may not read")
    assert not (tmp_path / "no").exists()
    assert pnr.access_types()[-1] == "RestrictedReadRefused"
    out = tmp_path / "disc"
    pnr.ok("restricted", "disclose", RECORD, "--key", "cbp.key", "--purpose", "court",
           "--field", "locator", "--field", "itinerary", "--out", str(out))
    assert pnr.access_types()[-1] == "RestrictedValuesRead"
    (package,) = (out / "disclosures").iterdir()
    doc = json.loads(package.read_bytes())
    assert {f["field"]: f["value"] for f in doc["fields"]} == {
        "itinerary": VALUES["itinerary"], "locator": "ABC123"}
    report = pnr.ok("verify", "--bundle", str(out), "--log-key", vkey, "--json")
    assert json.loads(report.stdout)["disclosed"] == [f"{RECORD} v1 itinerary",
                                                       f"{RECORD} v1 locator"]
    # erasure later does not unmake what was disclosed: the package still proves its values
    pnr.ok("restricted", "erase", RECORD, "--key", "cbp.key", "--reason", "retention_ended")
    pnr.ok("verify", "--bundle", str(out), "--log-key", vkey)
    doc["fields"][1]["value"] = "ABC124"
    package.write_text(json.dumps(doc))
    bad = pnr("verify", "--bundle", str(out), "--log-key", vkey)
    assert bad.exit_code == 1
    assert "disclosure" in bad.output
    assert "locator" in bad.output


def test_query_pnr_says_what_the_store_did(pnr: Pnr) -> None:
    def states(day: str) -> dict[str, Any]:
        doc = json.loads(pnr.ok("query", "pnr", "OP-2006-0001", "--on", day, "--regime",
                                "EU-US-2012").stdout)
        return {s["record"]: s for s in doc["states"]} | {"findings": doc["findings"]}

    today = json.loads(pnr.ok("show", RECORD, "--json").stdout)["events"][0]["recorded"][:10]
    assert states(today)[RECORD]["due"] == "personalised"  # the case holds it
    pnr.ok("record", RECORD, "PNRCaseArchived", "--key", "sup.key", "--at", "now",
           "--field", f"case_no={CASE_NO}")
    held = states(today)[RECORD]
    assert held["due"] == "dormant"  # received 2020-01-01: dormant from 2025-01-01
    assert held["due_since"] == "2025-01-01"
    assert held["state"] == "personalised"
    assert held["overdue"] is True
    assert held["vault"] == dict.fromkeys(sorted(VALUES), "held")
    assert held["fields"] == dict.fromkeys(sorted(VALUES), "[restricted: EU PNR]")
    assert "not done" in held["summary"]
    assert "masked since" not in held["summary"]
    assert "ABC123" not in json.dumps(held)
    assert any(RECORD in f["text"] for f in states(today)["findings"])
    old = states("2010-01-01")["pnr:K-PNR-0001"]  # scenario A's: a typed commitment only
    assert old["state"] == "personalised"  # its case still holds it: nothing due
    assert old["vault"] == {}
    pnr.ok("restricted", "erase", RECORD, "--key", "cbp.key", "--reason", "legal_order",
           "--order-ref", "ORD-7", "--field", "passenger")
    masked = states(today)[RECORD]
    assert masked["state"] == "masked"
    assert masked["overdue"] is False  # depersonalised: the identifying value is gone
    assert masked["fields"]["passenger"] == "[erased]"
    assert masked["vault"]["locator"] == "held"
    partly = states("2035-06-01")[RECORD]  # anonymised is due: every value must go
    assert (partly["state"], partly["overdue"]) == ("masked", True)
    pnr.ok("restricted", "erase", RECORD, "--key", "cbp.key", "--reason", "retention_ended")
    later = states("2035-06-01")[RECORD]
    assert later["due"] == "anonymised"
    assert later["state"] == "erased"
    assert later["overdue"] is False
    assert later["summary"].startswith("erased on ")
    assert not [f for f in states("2035-06-01")["findings"] if RECORD in f["text"]]


def test_reports_and_exports_mask_restricted_fields(pnr: Pnr, tmp_path: Path) -> None:
    pnr.ok("record", RECORD, "PNRCaseArchived", "--key", "sup.key", "--at", "now",
           "--field", f"case_no={CASE_NO}")
    secrets = (b"ABC123", b"DOE/JOHN", b"CDG-MIA 2020")
    for fmt in ("md", "json", "html"):
        text = pnr.ok("report", "case", "OP-2006-0001", "--format", fmt).stdout
        assert "[restricted: EU PNR]" in text
        assert "Retention overdue" in text or fmt == "json"
        assert not [v for v in secrets if v.decode() in text]
    pnr.ok("checkpoint")
    pnr.ok("export", "--out", str(tmp_path / "all"))  # the signed events: commitments only
    exported = b"".join(p.read_bytes() for p in (tmp_path / "all").rglob("*") if p.is_file())
    assert b"sha256:" in exported
    assert not [v for v in secrets if v in exported]
    pnr.ok("restricted", "erase", RECORD, "--key", "cbp.key", "--reason", "retention_ended")
    text = pnr.ok("report", "case", "OP-2006-0001", "--format", "md").stdout
    assert "[erased]" in text
    assert "[restricted: EU PNR]" not in text
    assert "Retention overdue" not in text
