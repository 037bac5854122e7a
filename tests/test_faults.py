"""Faults (issue 5, point 3): a writer killed mid-save, a server restarted mid-run.

The writer is ``tests/procs/cdlog_writer.py`` in its own process, saving batches of tagged
events to one case and reporting each commit after it returned. After the fault the store must
open, verify in full (events, chains, Merkle tree), hold every reported commit as reported,
hold every batch whole or not at all (nothing half-sealed), and take the next writer's events
at the next versions without waiting on a leftover lock.

What cdlog does when PostgreSQL goes away (measured here, eventsourcing 9.5): every recorder
call is retried up to 10 times, each waiting up to ``POSTGRES_CONNECT_TIMEOUT`` (30 s unless set)
for a pooled connection, so a writer *blocks* through an outage of up to ~10 x that and sees no
error; a save whose transaction the restart aborted is re-run whole on a new connection. After a
longer outage the call raises eventsourcing's ``OperationalError`` (a ``PersistenceError``); the
same :class:`CaseLog` works again once the server is back (the pool reconnects): no reopening.
When the connection drops after a COMMIT went through, that retry meets the save's own rows;
cdlog then finds the command whole in the store and reports it saved, not a conflict.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "procs"))
import cdlog_testkit as kit

from cdlog.application import CaseLog
from cdlog.keys.signer import Ed25519Signer
from cdlog.store.urls import resolve_store


@pytest.fixture(params=kit.KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh store URL: an SQLite file, or a PostgreSQL schema dropped afterwards (on the
    session's test server, conftest's ``pg_server``: never skipped)."""
    base = request.getfixturevalue("pg_server") if request.param == "postgresql" else ""
    with kit.fresh_store(request.param, tmp_path, base) as url:
        yield url


@pytest.fixture(scope="module")
def restart_server() -> Iterator[tuple[str, Path]]:
    """A PostgreSQL server of this module's own (a free port, its own data folder), so
    restarting it disturbs no other test or process; stopped and removed at the end.
    Yields its URL and data folder."""
    port = kit.free_port()
    data = Path(f"/tmp/cdlog-pg-restart-{port}")
    url = kit.pg_server(port, data)
    try:
        yield url, data
    finally:
        kit.pg_stop(port, data)
        shutil.rmtree(data, ignore_errors=True)


# ---------------------------------------------------------------------------- helpers
def write_locked(url: str) -> bool:
    """True while some session holds the store's write lock."""
    config = resolve_store(url)
    if config.path is not None:
        conn = sqlite3.connect(config.path, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            return True
        finally:
            conn.close()
        return False
    with psycopg.connect(host=config.host, port=config.port, dbname=config.dbname,
                         user=config.user, password=config.password, autocommit=True) as pg:
        row = pg.execute(
            "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s "
            "AND l.mode = 'ExclusiveLock' AND l.granted", (config.schema,)).fetchone()
    return bool(row and row[0])


def wait_unlocked(url: str, seconds: float = 10) -> float:
    """Wait until no session holds the write lock; return how long that took."""
    start = time.monotonic()
    while write_locked(url):
        if time.monotonic() - start > seconds:
            pytest.fail(f"the write lock is still held {seconds} s after the writer died")
        time.sleep(0.05)
    return time.monotonic() - start


def batch_of(tag: str) -> str:
    """The batch a tag belongs to (``kill-7-12`` -> ``kill-7``)."""
    return tag.rsplit("-", 1)[0]


def whole_batches(audit: kit.Audit, prefix: str, size: int) -> set[str]:
    """The stored batches of ``prefix``; fails unless each is complete."""
    counts = Counter(batch_of(t) for t in audit.tags if t.startswith(prefix + "-"))
    partial = {b: n for b, n in counts.items() if n != size}
    assert not partial, f"half-written batches: {partial}"
    return set(counts)


def reported_batches(reported: list[dict[str, Any]]) -> set[str]:
    """The batches the writer reported committed."""
    return {batch_of(e[3]) for c in reported for e in c["events"] if e[3]}


def resume(url: str, folder: Path, stream: str, seed: str) -> list[dict[str, Any]]:
    """A new writer process appends two batches to ``stream``; return its commits."""
    writer = kit.Writer(folder, "resumer", {
        "url": url, "seed": seed, "mode": "append", "stream": stream, "commits": 2,
        "batch": 5, "tag": "resume"})
    writer.join(timeout=60)
    done = writer.of("commit")
    assert len(done) == 2
    for c in done:
        assert (c["t1"] - c["t0"]) / 1e9 < 10, "the next writer waited on a leftover lock"
    return done


# ---------------------------------------------------------------------------- SIGKILL
@pytest.mark.parametrize("moment", ["inside-transaction", "random"])
def test_writer_killed_mid_save(store: str, tmp_path: Path, moment: str) -> None:
    """A writer SIGKILLed mid-save loses no commit, leaves no partial batch; the next resumes."""
    seeds = kit.make_world(store, 1)
    stream = "case:OP-KILL"
    size = 40
    spec: dict[str, Any] = {"url": store, "seed": seeds[0], "mode": "loop", "open": "OP-KILL",
                            "stream": stream, "batch": size, "commits": 10**6, "seconds": 60,
                            "tag": "kill"}
    if moment == "inside-transaction":
        spec["hook_after"] = 3  # the 4th batch pauses after its events and leaves are written
    victim = kit.Writer(tmp_path / "procs", "victim", spec)
    if moment == "inside-transaction":
        victim.wait_for("in_txn", timeout=60)
        assert write_locked(store), "the victim should be inside its write transaction"
    else:
        victim.wait_for("commit", 4, timeout=60)
        time.sleep(random.uniform(0, 0.3))
    victim.kill()
    reported = victim.of("commit")
    wait_unlocked(store)

    audit = kit.audit_store(store)
    kit.check_reported(audit, reported)
    stored = whole_batches(audit, "kill", size)
    told = reported_batches(reported)
    assert told <= stored
    in_flight = f"kill-{len(told)}"
    if moment == "inside-transaction":
        assert stored == told, "the batch killed inside its transaction was committed"
    else:  # it may have committed before its report line was written
        assert stored - told <= {in_flight}
    before = len(audit.streams[stream])

    done = resume(store, tmp_path / "procs", stream, seeds[0])
    after = kit.audit_store(store)
    kit.check_reported(after, reported + done)
    assert len(after.streams[stream]) == before + 10
    assert after.streams[stream][before].prev == audit.streams[stream][-1].hash


# ---------------------------------------------------------------------------- server restart
def test_postgres_restarted_mid_run(restart_server: tuple[str, Path], tmp_path: Path) -> None:
    """PostgreSQL restarted mid-save and down past the retries: nothing lost, writing resumes."""
    stream = "case:OP-RESTART"
    size = 20
    stop = tmp_path / "stop"
    server, data = restart_server
    with kit.pg_schema(server, tmp_path / "store") as url:
        seeds = kit.make_world(url, 1)
        writer = kit.Writer(tmp_path / "procs", "writer", {
            "url": url, "seed": seeds[0], "mode": "loop", "open": "OP-RESTART",
            "stream": stream, "batch": size, "commits": 10**6, "seconds": 100, "tag": "rs",
            "stop": str(stop), "hook_after": 3, "pause": 3,
            # one second per connection attempt (the default is 30): ten attempts of eventsourcing's
            # retry then outlast 12 s, not 5 minutes
            "env": {"POSTGRES_CONNECT_TIMEOUT": "1"}})
        try:
            # 1. A fast restart while a save is inside its transaction (paused 3 s there).
            writer.wait_for("in_txn", timeout=60)
            kit.pg_restart(data, 0)
            resumed = len(writer.wait_for("commit", 5, timeout=60))
            writer.wait_for("commit", resumed + 3, timeout=60)
            assert not writer.of("error"), "a short restart is absorbed by the retries"
            # 2. An outage longer than the retries: the writer sees errors, then goes on.
            kit.pg_restart(data, 15)
            (first_error, *_) = writer.wait_for("error", timeout=30)
            assert first_error["type"] == "StoreOperationalError"
            after_outage = len(writer.of("commit"))
            writer.wait_for("commit", after_outage + 5, timeout=60)
            stop.touch()
            lines = writer.join(timeout=60)
        finally:
            writer.kill()
        (done,) = [line for line in lines if line["ev"] == "done"]
        assert done["errors"] == len(writer.of("error")) >= 1

        reported = writer.of("commit")
        audit = kit.audit_store(url)
        kit.check_reported(audit, reported)
        stored = whole_batches(audit, "rs", size)
        told = reported_batches(reported)
        assert told <= stored
        # A batch that failed may still have committed (the error came after COMMIT was sent):
        # then whole, never twice (tags are unique in the store).
        failed = {batch_of(t) for e in writer.of("error") for t in e["tags"][:1]}
        assert stored - told <= failed
        assert "rs-3" in told  # the save the restart interrupted was re-run and committed once

        # The next start resumes the case.
        with CaseLog(url) as log:
            head = audit.streams[stream][-1]
            sealed = log.record(stream, "ConveyanceArrived", {"conveyance": "after"},
                                signer=Ed25519Signer(bytes.fromhex(seeds[0])),
                                at=datetime.now(UTC))
        assert (sealed.version, sealed.prev) == (head.version + 1, head.hash)
        kit.audit_store(url)


# ---------------------------------------------------------------------------- lost COMMIT answer
def test_postgres_lost_commit_answer_is_not_a_conflict(tmp_path: Path,
                                                       pg_server: str) -> None:
    """A save whose COMMIT went through but whose answer was lost is reported committed, once."""
    stream = "case:OP-ACK"
    with kit.pg_schema(pg_server, tmp_path / "store") as url:
        seeds = kit.make_world(url, 1)
        writer = kit.Writer(tmp_path / "procs", "writer", {
            "url": url, "seed": seeds[0], "mode": "loop", "open": "OP-ACK", "stream": stream,
            "batch": 3, "commits": 4, "seconds": 60, "tag": "ack", "lose_ack_after": 2})
        writer.join(timeout=60)
        assert writer.of("ack_lost")
        assert "commit answer lost" in writer.stderr()
        audit = kit.audit_store(url)
        refused = writer.of("conflict")
        wrongly = [t for c in refused for t in c["tags"] if t in audit.tags]
        assert not wrongly, f"told 'nothing was saved' but stored: {refused[0]['message']}"
        kit.check_reported(audit, writer.of("commit"))
        assert whole_batches(audit, "ack", 3) == reported_batches(writer.of("commit"))
