"""What a report verifies: by default (``--verify cases``) the streams it cites, whole, with the
key events that judge them, proven against the latest signed checkpoint; ``--verify store`` the
whole store. A tamper with anything the report rests on is caught by either; a tamper elsewhere
only by the whole-store check, and the scoped statement says the rest was not checked."""

from __future__ import annotations

import json
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import cdlog.cli.report_cmd
from cdlog.application import CaseLog
from cdlog.cli.main import cli
from cdlog.log.checkpoint_signing import load_log_signer, sign_checkpoint
from cdlog.log.sealing import stream_id
from cdlog.projections import models as m
from cdlog.reports.build import Verification, check_citations
from cdlog.reports.scope import verify_streams
from cdlog.scenario import Replayer

assert cdlog.cli.report_cmd.report is not None  # registers the command

SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"
CASE = "case:OP-2006-0001"
OTHER = "case:C-SYS-DECLINED-ADMIN"
PASS = b"report verification test"
NOT_CHECKED = "The rest of the store was not checked: run cdlog verify"


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scenarios A and C in an SQLite store, with a signed checkpoint of every event."""
    folder = tmp_path_factory.mktemp("reportverify")
    with CaseLog(f"sqlite:///{folder / 'cdlog.db'}") as log:
        replayer = Replayer(log)
        for name in ("A-MIA-CD-ACCEPTED.yaml", "C-SYS-DECLINED-ADMIN.yaml"):
            replayer.replay(SCENARIOS / name)
        sign_checkpoint(log, load_log_signer(log, PASS, create=True))
    return folder


@contextmanager
def copy_of(base: Path) -> Iterator[tuple[CaseLog, sqlite3.Connection]]:
    """A fresh copy of the store folder (database and log key), open as a log and raw."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "store"
        shutil.copytree(base, folder)
        conn = sqlite3.connect(folder / "cdlog.db")
        log = CaseLog(f"sqlite:///{folder / 'cdlog.db'}", create=False)
        try:
            yield log, conn
        finally:
            log.close()
            conn.close()


def rows_of(conn: sqlite3.Connection, stream: str) -> list[tuple[int, int, bytes]]:
    """(rowid, version, state) of every stored event of a stream, by version."""
    return list(conn.execute(
        "SELECT rowid, originator_version, state FROM stored_events WHERE originator_id = ? "
        "ORDER BY originator_version", (stream_id(stream).hex,)))


def cite(log: CaseLog, stream: str, versions: list[int]) -> list[m.Citation]:
    """Citations of some events of a stream, as a query would give them."""
    events = {e.version: e for e in log.events(stream)}
    return [m.Citation(case=stream, version=v, hash=events[v].hash_hex, type=events[v].type)
            for v in versions]


def check(log: CaseLog, citations: list[m.Citation], verify: Any = "cases") -> Verification:
    verification, _ = check_citations(log, [citations], all_of=[CASE], verify=verify)
    return verification


def flip(conn: sqlite3.Connection, rowid: int, state: bytes, at: int, value: int) -> None:
    """Change one byte of a stored event."""
    data = bytearray(state)
    data[at % len(data)] = value if value != data[at % len(data)] else (value + 1) % 256
    conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?", (bytes(data), rowid))
    conn.commit()


def test_the_default_verifies_the_case_and_its_keys_and_says_what_it_left(base: Path) -> None:
    with copy_of(base) as (log, _):
        size = log.max_position()
        v = check(log, cite(log, CASE, [1, 10, 45]))
        assert v.scope == "cases"
        assert v.all_cited_verified
        assert v.store_ok is None
        assert v.checkpoint == size
        assert v.cited_in_checkpoint == 3
        roles = {s.stream: (s.role, s.versions, s.proven_complete_at) for s in v.streams}
        assert roles[CASE] == ("cited", 45, size)
        trust = [s for s, (role, _, _) in roles.items() if role == "trust"]
        assert trust
        assert all(s.startswith("trust:") and roles[s][2] == size for s in trust)
        assert OTHER not in roles  # the other case was not replayed
        assert v.events_checked < size
        assert v.statement.startswith("Verified: all 3 events this report cites.")
        assert f"all 45 events of {CASE} (every version 1..45, proven complete at checkpoint " \
               f"{size})" in v.statement
        assert "key events of trust:" in v.statement
        assert f"Each cited event is proven included in the signed checkpoint of size {size}" \
            in v.statement
        assert NOT_CHECKED in v.statement
        whole = check(log, cite(log, CASE, [1, 10, 45]), verify="store")
        assert whole.scope == "store"
        assert whole.store_ok is True
        assert whole.events_checked == size
        assert "all 3 events this report cites, and all" in whole.statement
        assert NOT_CHECKED not in whole.statement


def test_events_after_the_checkpoint_are_verified_but_said_not_yet_proven(
        tmp_path: Path) -> None:
    with CaseLog(f"sqlite:///{tmp_path / 'cdlog.db'}") as log:
        replayer = Replayer(log)
        replayer.replay(SCENARIOS / "A-MIA-CD-ACCEPTED.yaml")
        cp = sign_checkpoint(log, load_log_signer(log, PASS, create=True))
        replayer.replay(SCENARIOS / "C-SYS-DECLINED-ADMIN.yaml")
        later = len(log.events(OTHER))
        verification, _ = check_citations(log, [cite(log, OTHER, [1, 2])], all_of=[OTHER])
        assert verification.all_cited_verified
        assert verification.checkpoint == cp.size
        assert verification.cited_in_checkpoint == 0
        assert verification.streams[0].proven_complete_at is None
        assert f"all {later} events of {OTHER} (every version 1..{later})" in \
            verification.statement
        assert "0 of the 2 cited events are proven included" in verification.statement
        assert "2 were recorded after it and are not yet in a checkpoint" in \
            verification.statement
    with sqlite3.connect(tmp_path / "cdlog.db") as conn:
        conn.execute("DELETE FROM checkpoints")
    conn.close()
    with CaseLog(f"sqlite:///{tmp_path / 'cdlog.db'}", create=False) as log:
        v = check(log, cite(log, CASE, [2]))
    assert v.all_cited_verified
    assert v.checkpoint is None
    assert "The log has no signed checkpoint yet" in v.statement


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                               HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(["cited", "middle", "trust"]), pick=st.integers(0, 10_000),
       at=st.integers(0, 100_000), value=st.integers(0, 255))
def test_a_tamper_with_what_the_report_rests_on_is_caught_by_the_scoped_check(
        base: Path, where: str, pick: int, at: int, value: int) -> None:
    with copy_of(base) as (log, conn):
        case_rows = rows_of(conn, CASE)
        cited = [1, len(case_rows) // 2 + 1, len(case_rows)]
        citations = cite(log, CASE, cited)
        version = None
        if where == "cited":
            rowid, _, state = case_rows[cited[pick % len(cited)] - 1]
        elif where == "middle":  # an event of the case no fact cites
            rest = [r for r in case_rows if r[1] not in cited]
            rowid, version, state = rest[pick % len(rest)]
        else:
            trust = sorted(s for s in (r.stream for r in check(log, citations).streams)
                           if s.startswith("trust:"))
            rows = [r for s in trust for r in rows_of(conn, s)]
            rowid, _, state = rows[pick % len(rows)]
        flip(conn, rowid, state, at, value)
        v, events = check_citations(log, [citations], all_of=[CASE])
        assert v.failures
        assert not v.statement.startswith("Verified")
        if version is None:  # a cited event, or a key event that judges every one
            assert not v.all_cited_verified
            assert v.statement.startswith("NOT VERIFIED")
        else:  # the case's own event, listed in the report's index as not verified
            assert [e.verified for e in events if e.case == CASE and e.version == version] \
                == [False]
            assert "verification failure(s)" in v.statement or not v.all_cited_verified


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                               HealthCheck.function_scoped_fixture])
@given(pick=st.integers(0, 10_000), at=st.integers(0, 100_000), value=st.integers(0, 255))
def test_a_tamper_elsewhere_is_caught_only_by_the_whole_store_check(
        base: Path, pick: int, at: int, value: int) -> None:
    with copy_of(base) as (log, conn):
        citations = cite(log, CASE, [3, 30])
        others = rows_of(conn, OTHER)
        rowid, _, state = others[pick % len(others)]
        flip(conn, rowid, state, at, value)
        scoped = check(log, citations)
        assert scoped.all_cited_verified
        assert scoped.failures == []
        assert NOT_CHECKED in scoped.statement
        whole = check(log, citations, verify="store")
        assert whole.store_ok is False
        assert whole.failures
        assert "verification failure(s) elsewhere" in whole.statement


@pytest.mark.parametrize("cut", ["middle", "last"])
def test_a_deleted_event_and_its_leaf_are_caught_by_the_head_proof(base: Path, cut: str
                                                                    ) -> None:
    with copy_of(base) as (log, conn):
        citations = cite(log, CASE, [2, 3])  # neither the deleted event nor next to it
        rows = rows_of(conn, CASE)
        rowid, version, _ = rows[20] if cut == "middle" else rows[-1]
        conn.execute("DELETE FROM stored_events WHERE rowid = ?", (rowid,))
        conn.execute("DELETE FROM merkle_leaves WHERE notification_id = ?", (rowid,))
        conn.commit()
        v = check(log, citations)
        assert not v.all_cited_verified
        assert any(f"v{version}" in f and "missing" in f for f in v.failures)


def test_the_command_takes_verify_and_the_json_carries_the_scope(base: Path) -> None:
    with copy_of(base) as (log, _):
        url = log.store.url
        runner = CliRunner()
        doc = json.loads(runner.invoke(cli, ["--store", url, "report", "case", "OP-2006-0001",
                                             "--format", "json"]).stdout)
        assert doc["verification"]["scope"] == "cases"
        assert NOT_CHECKED in doc["verification"]["statement"]
        md = runner.invoke(cli, ["--store", url, "report", "case", "OP-2006-0001", "--verify",
                                 "store"]).stdout
        assert "and all" in md
        assert "events in the store, passed verification" in md
        bad = runner.invoke(cli, ["--store", url, "report", "case", "OP-2006-0001", "--verify",
                                  "everything"])
        assert bad.exit_code == 2


@pytest.mark.parametrize("where", ["trust", "elsewhere", "deleted"])
def test_the_scoped_check_on_every_kind_of_store(store_url: str, raw: Any, where: str) -> None:
    """On SQLite and PostgreSQL: a tampered key event or a deleted case event (with its leaf)
    is caught by the default check; a tamper in another case is caught only by the whole-store
    check."""
    with CaseLog(store_url) as log:
        replayer = Replayer(log)
        for name in ("A-MIA-CD-ACCEPTED.yaml", "C-SYS-DECLINED-ADMIN.yaml"):
            replayer.replay(SCENARIOS / name)
        sign_checkpoint(log, load_log_signer(log, PASS, create=True))
        citations = cite(log, CASE, [1, 2])
        assert check(log, citations).all_cited_verified
    target = {"trust": "trust:CBP", "elsewhere": OTHER, "deleted": CASE}[where]
    rows = [r for r in raw.rows("SELECT {nid}, originator_id, originator_version, state "
                                "FROM {events} ORDER BY {nid}")
            if r[1] == stream_id(target).hex]
    nid, _, version, state = rows[len(rows) // 2]
    if where == "deleted":
        raw.execute(("DELETE FROM {events} WHERE {nid} = ?", (nid,)),
                    ("DELETE FROM {leaves} WHERE notification_id = ?", (nid,)))
    else:
        raw.execute(("UPDATE {events} SET state = ? WHERE {nid} = ?",
                     (state.replace(b'"recorded":"20', b'"recorded":"19', 1), nid)))
    with CaseLog(store_url, create=False) as log:
        scoped = check(log, citations)
        whole = check(log, citations, verify="store")
    assert not whole.store_ok
    if where == "elsewhere":
        assert scoped.all_cited_verified
        assert NOT_CHECKED in scoped.statement
    else:
        assert scoped.failures
        assert not scoped.all_cited_verified, (where, version, scoped.failures)


def test_an_authorisation_in_another_stream_is_found_when_r8_needs_it(base: Path) -> None:
    """Scenario A shares EU PNR-derived data under an authorisation recorded in the PNR
    record's stream: verifying the case alone finds it (R8 would fail without it), and with
    the authorisation tampered the sharing event fails R8 and is listed as not verified."""
    with copy_of(base) as (log, conn):
        done = verify_streams(log, [CASE], set())
        assert done.report.failures == []
        assert done.dependencies == 1
        v, _ = check_citations(log, [cite(log, CASE, [1])], all_of=[CASE])
        assert "1 third-party disclosure authorisation(s) their rules consult" in v.statement
        nid = next(r for r in conn.execute("SELECT rowid, state FROM stored_events WHERE "
                                           "topic = 'cdlog:ThirdPartyDisclosureAuthorized'"))
        flip(conn, nid[0], nid[1], 40, ord("#"))
        v, events = check_citations(log, [cite(log, CASE, [1])], all_of=[CASE])
        assert any("[R8]" in f for f in v.failures)
        assert not v.statement.startswith("Verified")
        assert [e.verified for e in events if e.type == "InformationShared"] == [False]


def test_a_trust_stream_removed_whole_leaves_the_keys_unknown(base: Path) -> None:
    """Every event and leaf of a signing agency's trust stream deleted: the replay looks for
    the keys in every trust stream of the log (the slow way), finds none, and says so."""
    with copy_of(base) as (log, conn):
        gone = stream_id("trust:ICE").hex
        conn.execute("DELETE FROM stored_events WHERE originator_id = ?", (gone,))
        conn.execute("DELETE FROM merkle_leaves WHERE originator_id = ?", (gone,))
        conn.commit()
        v = check(log, cite(log, CASE, [1, 45]))
        assert not v.all_cited_verified
        assert any("is not known to this log" in f for f in v.failures)
        assert "trust:ICE" not in {s.stream for s in v.streams}
