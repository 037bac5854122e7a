"""Concurrency (issue 5, point 2): several OS processes write to one store at once.

Writers run ``tests/procs/cdlog_writer.py`` as separate processes with their own
:class:`CaseLog`; the parent creates the keys and hands each writer an officer's seed. Each
test runs on SQLite and on PostgreSQL. Afterwards the store verifies in full, every case chain
is one unbroken line (one event per version), every reported commit is stored as reported and
nothing else is, commits do not interleave and keep their real-time order in the log and in
the Merkle tree (where the store has one), a refused writer left nothing, and a view caught up
while the writers ran holds every event.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "procs"))
import cdlog_testkit as kit

from cdlog.application import CaseLog
from cdlog.errors import ConcurrencyError
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.sealing import SealedEvent

WRITERS = 4


@pytest.fixture(params=kit.KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store URL: an SQLite file, or a PostgreSQL schema dropped afterwards (on the
    session's test server, conftest's ``pg_server``: never skipped)."""
    base = request.getfixturevalue("pg_server") if request.param == "postgresql" else ""
    with kit.fresh_store(request.param, tmp_path, base) as url:
        yield url


@pytest.mark.parametrize("existing", [False, True], ids=["new-store", "existing-store"])
def test_processes_open_one_store_at_once(store: str, tmp_path: Path, existing: bool) -> None:
    """Six processes opening one store at the same moment all succeed (new or existing)."""
    if existing:
        kit.make_world(store, 1)
    go = tmp_path / "go"
    openers = [kit.Writer(tmp_path / "procs", f"open{i}", {
        "url": store, "mode": "open", "go": str(go)}) for i in range(6)]
    for w in openers:
        w.wait_for("started", timeout=30)
    go.touch()
    kit.join_all(openers, timeout=60)
    assert all(w.of("opened") for w in openers)
    kit.audit_store(store)


def test_writers_own_and_shared_cases(store: str, tmp_path: Path) -> None:
    """Four writers on their own cases and four racing on one case: nothing forks or is lost."""
    seeds = kit.make_world(store, 2 * WRITERS)
    with CaseLog(store) as log:
        shared = log.open_case("OP-RACE", port="5201", signer=Ed25519Signer(
            bytes.fromhex(seeds[0])), at=datetime.now(UTC))
    go = tmp_path / "go"
    stop = tmp_path / "stop"
    projector = kit.Writer(tmp_path / "procs", "projector", {
        "url": store, "mode": "project", "folder": str(tmp_path / "views"), "stop": str(stop)})
    own = [kit.Writer(tmp_path / "procs", f"own{i}", {
        "url": store, "seed": seeds[i], "mode": "append", "open": f"OP-OWN-{i}",
        "stream": f"case:OP-OWN-{i}", "commits": 8, "batch": 3, "tag": f"own{i}"})
        for i in range(WRITERS)]
    racers = [kit.Writer(tmp_path / "procs", f"race{i}", {
        "url": store, "seed": seeds[WRITERS + i], "mode": "race", "stream": shared,
        "commits": 10, "tag": f"race{i}", "go": str(go), "seconds": 60})
        for i in range(WRITERS)]
    for w in racers:
        w.wait_for("started", timeout=30)
    go.touch()
    kit.join_all(own + racers, timeout=90)
    stop.touch()
    projector.join(timeout=60)

    audit = kit.audit_store(store)
    reported = kit.commits(own + racers)
    kit.check_reported(audit, reported)
    # Exactly what was reported committed is in the store, nothing else.
    written = {tuple(e[:2]) for c in reported for e in c["events"]}
    cases = {(r.stream, r.version) for r in audit.rows if not r.stream.startswith("trust:")}
    assert cases == written | {(shared, 1)}
    for i in range(WRITERS):
        assert len(audit.streams[f"case:OP-OWN-{i}"]) == 1 + 8 * 3
    assert sum(len(w.of("commit")) for w in racers) == WRITERS * 10
    # Refused commands left nothing of themselves.
    conflicts = [c for w in racers for c in w.of("conflict")]
    assert conflicts, "the racing writers never collided: the test did not race"
    refused = {t for c in conflicts for t in c["tags"]}
    assert not refused & audit.tags
    assert all("nothing of this command was saved" in c["message"] for c in conflicts)
    # The view caught up during the run holds every case event, once, at its position.
    (done,) = projector.of("done")
    assert done["rounds"] > 1
    stored = sorted((r.stream, r.version, r.hash, r.nid) for r in audit.rows
                    if not r.stream.startswith("trust:"))
    assert sorted(tuple(e) for e in done["entries"]) == stored
    assert done["position"] == audit.rows[-1].nid


def test_stale_writer_is_refused_and_writes_nothing(store: str, tmp_path: Path) -> None:
    """A writer whose multi-case batch went stale gets ConcurrencyError and writes none of it."""
    seeds = kit.make_world(store, 2)
    parent = Ed25519Signer(bytes.fromhex(seeds[0]))
    with CaseLog(store) as log:
        shared = log.open_case("OP-STALE", port="5201", signer=parent, at=datetime.now(UTC))
        go = tmp_path / "go"
        stale = kit.Writer(tmp_path / "procs", "stale", {
            "url": store, "seed": seeds[1], "mode": "stale", "stream": shared,
            "fresh": "OP-FRESH", "tag": "stale", "go": str(go)})
        (ready,) = stale.wait_for("ready", timeout=30)
        # The stale batch: the new case (v1, v2) and the shared case at v2 and v3.
        assert [e[:2] for e in ready["events"]] == [
            ["case:OP-FRESH", 1], ["case:OP-FRESH", 2], [shared, 2], [shared, 3]]
        mine = log.record(shared, "ConveyanceArrived", {"conveyance": "parent"}, signer=parent,
                          at=datetime.now(UTC))
        assert mine.version == 2
        go.touch()
        stale.join(timeout=30)
    (conflict,) = stale.of("conflict")
    assert "nothing of this command was saved" in conflict["message"]
    assert f"{shared} version 2" in conflict["message"], conflict["message"]
    (retry,) = stale.of("commit")
    assert [e[:2] for e in retry["events"]] == [[shared, 3], [shared, 4]]

    audit = kit.audit_store(store)
    assert "case:OP-FRESH" not in audit.streams
    assert not {"stale-0", "stale-1", "stale-2"} & audit.tags
    assert [r.tag for r in audit.streams[shared]] == [None, "parent", "stale-retry-0",
                                                      "stale-retry-1"]
    kit.check_reported(audit, [retry])


def test_writer_overtaken_while_preparing_gets_concurrency_error(store: str) -> None:
    """A writer overtaken while it prepares gets ConcurrencyError, not a false rule refusal."""
    seeds = kit.make_world(store, 2)
    mine, theirs = (Ed25519Signer(bytes.fromhex(s)) for s in seeds)
    with CaseLog(store) as other:
        case = other.open_case("OP-OVERTAKE", port="5201", signer=theirs, at=datetime.now(UTC))
        overtaken: list[SealedEvent] = []

        def clock() -> datetime:
            """The log clock; its first reading lets the other writer commit, recorded later."""
            now = datetime.now(UTC)
            if not overtaken:
                later = now + timedelta(milliseconds=1)
                overtaken.append(other.record(case, "ConveyanceArrived", {"conveyance": "b"},
                                              signer=theirs, at=later, recorded=later))
            return now

        with CaseLog(store, clock=clock) as log:
            with pytest.raises(ConcurrencyError, match=f"{case} version 2 was written by another"):
                log.record(case, "ConveyanceArrived", {"conveyance": "a"}, signer=mine,
                           at=datetime.now(UTC) - timedelta(seconds=1))
            again = log.record(case, "ConveyanceArrived", {"conveyance": "a"}, signer=mine,
                               at=datetime.now(UTC) - timedelta(seconds=1))
    assert [e.version for e in overtaken] == [2]
    assert again.version == 3
    audit = kit.audit_store(store)
    assert [r.tag for r in audit.streams[case]] == [None, "b", "a"]


def test_key_revoked_while_writers_run(store: str, tmp_path: Path) -> None:
    """A key revoked while its writer keeps preparing batches: no event signed with it lands
    after the revocation (the log verifies), its later commands fail with the revocation
    named and write nothing, and the other writers go on."""
    root = Ed25519Signer.generate()
    seeds = kit.make_world(store, 3, root=root)
    stop = tmp_path / "stop"
    writers = [kit.Writer(tmp_path / "procs", f"w{i}", {
        "url": store, "seed": seeds[i], "mode": "loop", "open": f"OP-REV-{i}",
        "stream": f"case:OP-REV-{i}", "tag": f"w{i}", "batch": 20, "commits": 10_000,
        "seconds": 60, "stop": str(stop)}) for i in range(3)]
    try:
        for w in writers:
            w.wait_for("commit", count=3)
        key_id = Ed25519Signer(bytes.fromhex(seeds[0])).key_id
        with CaseLog(store) as log:
            revoked = log.revoke_key(root, "CBP", key_id, "device lost", at=datetime.now(UTC))
            position = log.max_position()
        writers[0].wait_for("error", count=2)
        for w in writers[1:]:
            w.wait_for("commit", count=len(w.of("commit")) + 2)
    finally:
        stop.touch()
    kit.join_all(writers)
    errors = writers[0].of("error")
    assert {e["type"] for e in errors} == {"InputError"}, errors
    assert all("revoked" in e["message"] for e in errors), errors
    audit = kit.audit_store(store)  # verifies the whole log: no event of a revoked key
    assert audit.at(revoked.stream, revoked.version).nid <= position
    failed = {tag for e in errors for tag in e["tags"]}
    assert not failed & audit.tags
    kit.check_reported(audit, kit.commits(writers))
    later = [r for r in audit.rows if r.nid > position]
    assert {r.stream for r in later} >= {"case:OP-REV-1", "case:OP-REV-2"}
    assert "case:OP-REV-0" not in {r.stream for r in later}
