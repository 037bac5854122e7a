"""Tests for cdlog.verify: clean stores verify, reports and errors list failures, rows that no
longer decode are reported rather than raised, and the replay pages through the whole log."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cdlog.application import CaseLog
from cdlog.canonical import canonical_bytes
from cdlog.domain.config import DEFAULT_CONFIG
from cdlog.errors import Failure, VerificationError
from cdlog.keys.signer import Ed25519Signer
from cdlog.keys.trust import TrustRoot
from cdlog.log.sealing import stream_id
from cdlog.scenario import replay
from cdlog.verify.replay import Report, Verifier, iter_notifications
from cdlog.verify.runner import verify_store

if TYPE_CHECKING:
    from conftest import RawStore, World
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import RawStore, World

CASE = "case:OP-T-1"


def small_case(world: World) -> str:
    """Record a short, valid case in the world's log and return its stream."""
    stream = world.open_case("OP-T-1")
    world.rec(stream, "ConveyanceArrived", {"conveyance": "truck"}, by="cbpo", at=5)
    world.rec(stream, "ExaminationReferred", {"reason": "seal"}, by="cbpo", at=10)
    world.rec(stream, "ExaminationConducted", {"method": "K9", "result": "alert"}, by="shadow",
              at=15)
    return stream


def rows(log: CaseLog) -> list[tuple[int, str, int, str, bytes]]:
    """All rows of a log's store, in log order (case ids as 32 hex digits)."""
    return RawStore(log.store.url).rows(
        "SELECT {nid}, originator_id, originator_version, topic, state FROM {events} "
        "ORDER BY {nid}")


def set_state(log: CaseLog, nid: int, state: object) -> None:
    """Overwrite one row's state column directly, alongside the open log."""
    RawStore(log.store.url).execute(("UPDATE {events} SET state = ? WHERE {nid} = ?",
                                     (state, nid)))


sqlite_only = pytest.mark.parametrize("store_kind", ["sqlite"])
"""For values only SQLite's dynamic typing can store (PostgreSQL's columns refuse them)."""


# --- clean stores ----------------------------------------------------------------------------


def test_clean_world_store_verifies(world: World) -> None:
    """An untouched store verifies: counts, heads, JSON form, and no exception from raising."""
    stream = small_case(world)
    report = verify_store(world.log)
    assert report.ok, report.failures
    assert report.events == world.log.max_position() == len(rows(world.log))
    assert report.cases == 5  # trust:CBP, trust:ICE, trust:DOJ, trust:DEA and the case
    last = world.log.events(stream)[-1]
    assert report.heads[stream] == (4, last.hash_hex)
    doc = report.as_json()
    assert {k: doc[k] for k in ("ok", "events", "cases", "failures")} == {
        "ok": True, "events": report.events, "cases": 5, "failures": []}
    assert doc["rules"] == "cdlog-rules/1"  # the rule set the rule check applied
    assert stream in {h["stream"] for h in doc["heads"]}
    report.raise_for_failures()


def test_scenario_store_verifies(store_url: str, scenarios_dir: Path) -> None:
    """A store replayed from every example scenario verifies, and progress ends at the total."""
    log = CaseLog(store_url)
    try:
        replay(log, sorted(scenarios_dir.glob("*.yaml")))
        seen: list[int] = []
        report = verify_store(log, progress=seen.append)
        assert report.ok, report.failures
        assert report.events == log.max_position() > 80
        assert seen[-1] == report.events
    finally:
        log.close()


def test_replay_pages_through_the_log(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """With tiny pages every row is read once, in order, and progress is reported per page."""
    small_case(world)
    monkeypatch.setattr("cdlog.verify.rows.PAGE", 4)
    monkeypatch.setattr("cdlog.verify.runner.PAGE", 4)
    ids = [n.id for n in iter_notifications(world.log.app.recorder)]
    assert ids == [r[0] for r in rows(world.log)]
    seen: list[int] = []
    report = verify_store(world.log, progress=seen.append)
    assert report.ok, report.failures
    assert seen == [*range(4, report.events + 1, 4), report.events]


def test_verifier_checks_events_without_rows(world: World) -> None:
    """``Verifier.feed`` without a row (a bundle) checks bytes alone and locates failures."""
    small_case(world)
    verifier = Verifier(DEFAULT_CONFIG)
    for nid, *_, state in rows(world.log):
        verifier.feed(nid, state)
    assert verifier.finish().ok, verifier.finish().failures

    broken = Verifier(DEFAULT_CONFIG)
    broken.feed(1, b"not a sealed event")
    assert broken.finish().failures == [
        Failure("<bundle>", None, "decode", "no newline between envelope and signatures")]


# --- reports and errors ----------------------------------------------------------------------


def test_report_json_and_error_list_failures(world: World) -> None:
    """A failed report's JSON lists each failure; raise_for_failures raises all of them."""
    stream = small_case(world)
    case = str(stream_id(stream))
    nid = next(r[0] for r in rows(world.log) if r[2] == 2 and str(uuid.UUID(r[1])) == case)
    RawStore(world.log.store.url).execute(("DELETE FROM {events} WHERE {nid} = ?", (nid,)))

    report = verify_store(world.log)
    assert not report.ok
    doc = report.as_json()
    assert doc["ok"] is False
    assert [{k: f[k] for k in ("case", "version", "check", "detail")}
            for f in doc["failures"]] == [f.as_dict() for f in report.failures]
    assert {f["stream"] for f in doc["failures"]} >= {stream}
    assert {(f["case"], f["version"], f["check"]) for f in doc["failures"]} >= {
        (case, 3, "version"), (case, 3, "chain")}
    canonical_bytes(doc)
    with pytest.raises(VerificationError) as raised:
        report.raise_for_failures()
    assert raised.value.failures == report.failures
    assert f"{case} v3: version" in str(raised.value)


def test_empty_report_is_ok() -> None:
    """A report with no failures is ok and raising for failures does nothing."""
    report = Report()
    assert report.ok
    report.raise_for_failures()
    assert report.as_json() == {"ok": True, "events": 0, "cases": 0, "failures": [],
                                "rules": "cdlog-rules/1", "heads": []}


# --- rows that no longer decode --------------------------------------------------------------


ENVELOPE_OK = (b'{"actor":{"key":"k"},"case":"c","cosigners":[],"format":"cdlog/event/v1",'
               b'"late":false,"log":"l","occurred":{},"payload":{},"prev":null,'
               b'"recorded":"r","stream":"s","type":"T","version":4}')


STATES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"\n", id="newline"),
    pytest.param(b"\xff\xfe\x00\n\x80", id="not-utf8"),
    pytest.param(b"{}\n[]", id="empty-envelope"),
    pytest.param(b"[1,2]\n[]", id="envelope-list"),
    pytest.param(ENVELOPE_OK + b'\n[{"key":"k","sig":"\\u00e9"}]', id="non-ascii-sig"),
    pytest.param(ENVELOPE_OK + b"\n[]", id="wrong-json-types"),
    pytest.param(ENVELOPE_OK.replace(b'"actor":{"key":"k"}', b'"actor":[]') + b"\n[]",
                 id="actor-list"),
    pytest.param(None, id="null"),
]
SQLITE_STATES = [
    pytest.param("a text value, not bytes", id="text"),
    pytest.param(12345, id="integer"),
    pytest.param(1.5, id="real"),
]


@pytest.mark.parametrize("state", STATES)
def test_undecodable_row_is_reported_not_raised(world: World, state: Any) -> None:
    """A row whose state no longer decodes fails ``decode`` at its place; the rest is checked."""
    check_undecodable(world, state)


@sqlite_only
@pytest.mark.parametrize("state", SQLITE_STATES)
def test_state_of_another_sql_type_is_reported_not_raised(world: World, state: Any) -> None:
    """A state column SQLite let hold text or a number fails ``decode`` at its place."""
    check_undecodable(world, state)


def check_undecodable(world: World, state: Any) -> None:
    """Overwrite the case's version 4 with ``state``; verification reports just that row."""
    stream = small_case(world)
    case = str(stream_id(stream))
    nid = next(r[0] for r in rows(world.log) if r[2] == 4 and str(uuid.UUID(r[1])) == case)
    set_state(world.log, nid, state)

    report = verify_store(world.log)
    assert report.events == len(rows(world.log))
    assert [(f.case, f.version, f.check) for f in report.failures] == [(case, 4, "decode")]


@sqlite_only
def test_row_with_a_case_id_that_is_no_uuid_is_reported(world: World) -> None:
    """A case id column that is not a UUID fails ``placement`` there instead of stopping the
    replay (eventsourcing itself cannot read such a row)."""
    stream = small_case(world)
    nid = rows(world.log)[-1][0]
    RawStore(world.log.store.url).execute(
        ("UPDATE {events} SET originator_id = 'no-uuid' WHERE {nid} = ?", (nid,)))

    report = verify_store(world.log)
    assert [(f.case, f.version, f.check) for f in report.failures] == [("no-uuid", 4,
                                                                        "placement")]
    assert str(stream_id(stream)) in report.failures[0].detail


def test_tampered_first_event_does_not_set_the_log_id(world: World) -> None:
    """A changed log name in the first event fails there; later events are not all misplaced."""
    first = rows(world.log)[0]
    old = b'"log":"' + world.log.log_id.encode() + b'"'
    assert old in first[4]
    set_state(world.log, first[0], first[4].replace(old, b'"log":"forged.example/log"'))

    report = verify_store(world.log)
    trust_cbp = str(stream_id("trust:CBP"))
    assert (trust_cbp, 1, "signature") in {(f.case, f.version, f.check) for f in report.failures}
    assert not [f for f in report.failures if f.check == "placement"]


# --- trust -----------------------------------------------------------------------------------


def test_untrusted_root_is_reported(world: World) -> None:
    """Given trusted roots, a root the log establishes that is not among them fails ``key``."""
    trusted = [TrustRoot.for_key(agency, signer.public_key)
               for agency, signer in world.roots.items() if agency != "DEA"]
    trusted.append(TrustRoot.for_key("DEA", Ed25519Signer.generate().public_key))

    report = verify_store(world.log, trusted_roots=trusted)
    dea = str(stream_id("trust:DEA"))
    assert (dea, 1, "key") in {(f.case, f.version, f.check) for f in report.failures}
    assert all(f.case == dea for f in report.failures)
    trusted[-1] = TrustRoot.for_key("DEA", world.roots["DEA"].public_key)
    assert verify_store(world.log, trusted_roots=trusted).ok
