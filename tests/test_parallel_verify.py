"""Parallel verification gives the very report of the serial replay, on any tampered store.

One base store is built per module: the conftest world, both example scenarios (two cases, a PNR
stream with a disclosure authorisation that a case's rules depend on), a revoked key and a
small case of our own. Each hypothesis example copies it, applies one to three random changes
through sqlite3 (bytes flipped, columns rewritten, rows deleted, copied, swapped, moved, states
replaced, the log name changed), and compares :func:`cdlog.verify.runner.verify_store` run in this
process with the same run on two and on three worker processes: the failures (in order),
counts and case heads must be equal.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sqlite3
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.application import CaseLog
from cdlog.canonical import format_time
from cdlog.domain import events as ev
from cdlog.domain.config import DEFAULT_CONFIG
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.facts import officer_json, payload_json
from cdlog.log.sealing import build_envelope, seal, stream_id
from cdlog.verify import parallel
from cdlog.verify.parallel import verify_parallel
from cdlog.verify.replay import Report, Verifier, iter_notifications
from cdlog.verify.runner import replay_store, verify_log, verify_store

if TYPE_CHECKING:
    from conftest import (
        T0,
        World,
        opened_copy,
        stored_rows,
        world_with_scenarios,
    )
else:  # pytest registers tests/conftest.py as the module tests.conftest
    from tests.conftest import (
        T0,
        World,
        opened_copy,
        stored_rows,
        world_with_scenarios,
    )

OWN_CASE = "case:OP-PARALLEL"
Mutation = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True)
class Row:
    """One stored row of the base store."""

    rowid: int
    originator_id: str
    version: int
    topic: str
    state: bytes


@dataclass(repr=False)
class Base:
    """The pristine store and what built it."""

    path: Path
    world: World
    rows: list[Row]
    log_id: str
    forged_other_log: bytes  # a correctly signed next event of OWN_CASE naming another log

    def __repr__(self) -> str:
        return f"Base({len(self.rows)} rows)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _build(folder: Path) -> Base:
    path = folder / "base.db"
    world = world_with_scenarios(path)
    log = world.log
    revoked = Ed25519Signer.generate()
    log.certify_officer(world.roots["CBP"], world.officers["shadow"].model_copy(
        update={"id": "CBP-7001"}), revoked.public_key, not_before=T0 - timedelta(1),
        not_after=T0 + timedelta(days=3650), at=T0 - timedelta(1))
    world.open_case("OP-PARALLEL", at=0)
    world.rec(OWN_CASE, "ConveyanceArrived", {"conveyance": "truck"}, by="cbpo", at=5)
    world.rec(OWN_CASE, "ExaminationReferred", {"reason": "seal"}, by="cbpo", at=10)
    log.revoke_key(world.roots["CBP"], "CBP", revoked.key_id, "device lost", at=world.t(20))
    last = log.events(OWN_CASE)[-1]
    payload = payload_json(ev.payload_model("ExaminationConducted").model_validate(
        {"method": "K9", "result": "alert"}))
    envelope = build_envelope(
        log="other.example/log", stream=OWN_CASE, version=last.version + 1,
        type_="ExaminationConducted", occurred={"at": format_time(world.t(25))},
        recorded=format_time(world.t(25)),
        actor=officer_json(world.officers["shadow"], world.signers["shadow"].key_id),
        cosigners=[], payload=payload, prev=last.hash_hex, late=False)
    forged = seal(envelope, [world.signers["shadow"]]).sealed
    log_id = log.log_id
    log.close()
    rows = [Row(*r) for r in stored_rows(path)]
    return Base(path, world, rows, log_id, forged)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    """The base store, built once for this module."""
    return _build(tmp_path_factory.mktemp("parallel-base"))


def as_tuple(report: Report) -> tuple[Any, ...]:
    """Everything a report says, heads in their order."""
    return (report.events, report.cases, report.failures, list(report.heads.items()))


def assert_same_reports(log: CaseLog, *, split: bool = False) -> Report:
    """Serial and parallel (2 and 3 workers) verification agree; return the serial report.

    With ``split`` the parallel replay must have run (not declined for the serial one).
    """
    serial = verify_store(log, workers=1)
    direct = verify_parallel(log, workers=2)
    assert direct is not None or not split, "the parallel replay declined"
    if direct is not None:
        assert as_tuple(direct) == as_tuple(serial), "2 workers"
    assert as_tuple(verify_store(log, workers=3)) == as_tuple(serial), "3 workers"
    return serial


# --- mutations ---------------------------------------------------------------------------------


def _set(column: str, value: object, rowid: int) -> Mutation:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute(f"UPDATE stored_events SET {column} = ? WHERE rowid = ?", (value, rowid))
    return run


def _delete(rowid: int) -> Mutation:
    def run(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM stored_events WHERE rowid = ?", (rowid,))
    return run


def _insert(originator_id: object, version: object, topic: object, state: object,
            rowid: int | None = None) -> Mutation:
    def run(conn: sqlite3.Connection) -> None:
        if rowid is None:
            conn.execute("INSERT INTO stored_events (originator_id, originator_version, topic, "
                         "state) VALUES (?, ?, ?, ?)", (originator_id, version, topic, state))
        else:
            conn.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, "
                         "topic, state) VALUES (?, ?, ?, ?, ?)",
                         (rowid, originator_id, version, topic, state))
    return run


def _seq(*steps: Mutation) -> Mutation:
    def run(conn: sqlite3.Connection) -> None:
        for step in steps:
            step(conn)
    return run


@st.composite
def mutations(draw: st.DrawFn, base: Base) -> Mutation:
    """One random change to the base store."""
    rows = base.rows
    row = draw(st.sampled_from(rows), label="row")
    other = draw(st.sampled_from(rows), label="other row")
    cases = sorted({r.originator_id for r in rows})
    kind = draw(st.sampled_from([
        "flip", "originator_id", "version", "topic", "delete", "copy", "swap", "move",
        "state", "log", "first", "forged",
    ]), label="kind")
    if kind == "flip":
        index = draw(st.integers(0, len(row.state) - 1), label="byte")
        state = bytearray(row.state)
        state[index] ^= draw(st.integers(1, 255), label="mask")
        return _set("state", bytes(state), row.rowid)
    if kind == "originator_id":
        value = draw(st.sampled_from(cases) | st.just(str(uuid.UUID(other.originator_id)))
                     | st.just(row.originator_id.upper()) | st.uuids().map(lambda u: u.hex)
                     | st.text(max_size=12), label="id")
        return _set("originator_id", value, row.rowid)
    if kind == "version":
        version: object = draw(st.integers(-2, 60) | st.sampled_from([None, "x", 2.5]),
                               label="version")
        return _set("originator_version", version, row.rowid)
    if kind == "topic":
        topics = sorted({r.topic for r in rows} | {"cdlog:Bogus", ""})
        return _set("topic", draw(st.sampled_from(topics), label="topic"), row.rowid)
    if kind == "delete":
        return _delete(row.rowid)
    if kind == "copy":  # another row's event into this row's case, at a free or taken place
        rowid = draw(st.none() | st.integers(-3, 0), label="rowid")
        target = draw(st.sampled_from([row.originator_id, str(uuid.UUID(row.originator_id))]),
                      label="spelling")
        return _insert(target, draw(st.integers(1, 60), label="version"), other.topic,
                       other.state, rowid)
    if kind == "swap":
        return _seq(_set("state", other.state, row.rowid), _set("state", row.state,
                                                                other.rowid))
    if kind == "move":  # to the end of the log, columns kept
        return _seq(_delete(row.rowid),
                    _insert(row.originator_id, row.version, row.topic, row.state))
    if kind == "state":
        replaced: object = draw(st.sampled_from([b"", b"\n", b"{}\n[]", "text", None,
                                                  12345]), label="state")
        return _set("state", replaced, row.rowid)
    if kind == "log":
        old = b'"log":"' + base.log_id.encode() + b'"'
        return _set("state", row.state.replace(old, b'"log":"forged.example/log"'), row.rowid)
    if kind == "first":  # the first rows rewritten: the log name, or no decodable event
        old = b'"log":"' + base.log_id.encode() + b'"'
        count = draw(st.integers(1, 3), label="rows")
        garbage = draw(st.booleans(), label="garbage")
        return _seq(*[_set("state", b"garbage" if garbage else r.state.replace(
            old, b'"log":"forged.example/log"'), r.rowid) for r in rows[:count]])
    # a correctly signed next event of the own case that names another log
    target = draw(st.sampled_from([stream_id(OWN_CASE).hex, uuid.uuid4().hex]), label="case")
    return _insert(target, 4, "cdlog:ExaminationConducted", base.forged_other_log)


# --- tests ---------------------------------------------------------------------------------------


def test_untouched_store_same_report(base: Base) -> None:
    """The untouched store verifies the same on one and on several processes."""
    with opened_copy(base.path) as (log, _):
        report = assert_same_reports(log, split=True)
    assert report.ok, report.failures
    assert report.events == len(base.rows)


@settings(max_examples=40)
@given(data=st.data())
def test_tampered_store_same_report(base: Base, data: st.DataObject) -> None:
    """Any one to three changes: serial and parallel reports are equal."""
    changes = data.draw(st.lists(mutations(base), min_size=1, max_size=3), label="changes")
    with opened_copy(base.path) as (log, conn):
        for change in changes:
            with contextlib.suppress(sqlite3.IntegrityError):  # a place already taken
                change(conn)
        conn.commit()
        report = assert_same_reports(log)
    assert report.events >= 1


def _trust_row(base: Base, topic: str) -> Row:
    return next(r for r in base.rows if r.topic == topic and r.rowid > 3)


@pytest.mark.parametrize("kind", ["revocation-deleted", "certificate-deleted",
                                  "disclosure-deleted", "disclosure-moved", "row-deleted",
                                  "other-log", "state-swapped"])
def test_context_and_case_changes_split_and_agree(base: Base, kind: str) -> None:
    """Changes to the events every worker takes in (key certificates, revocations, disclosure
    authorisations), to a case, and an event of another log: the parallel replay runs and
    agrees with the serial one (and verification fails, but for the removed revocation, which
    was the newest event of its stream)."""
    revocation = _trust_row(base, "cdlog:OfficerKeyRevoked")
    certificate = _trust_row(base, "cdlog:OfficerKeyCertified")
    disclosure = _trust_row(base, "cdlog:ThirdPartyDisclosureAuthorized")
    middle = base.rows[len(base.rows) // 2]
    change = {
        "revocation-deleted": _delete(revocation.rowid),
        "certificate-deleted": _delete(certificate.rowid),
        "disclosure-deleted": _delete(disclosure.rowid),
        "disclosure-moved": _seq(_delete(disclosure.rowid), _insert(
            disclosure.originator_id, disclosure.version, disclosure.topic, disclosure.state)),
        "row-deleted": _delete(middle.rowid),
        "other-log": _insert(stream_id(OWN_CASE).hex, 4, "cdlog:ExaminationConducted",
                             base.forged_other_log),
        "state-swapped": _seq(_set("state", base.rows[-5].state, middle.rowid),
                              _set("state", middle.state, base.rows[-5].rowid)),
    }[kind]
    with opened_copy(base.path) as (log, conn):
        change(conn)
        conn.commit()
        report = assert_same_reports(log, split=True)
    assert report.ok == (kind == "revocation-deleted")  # the newest event of trust:CBP


@pytest.mark.parametrize("kind", ["log", "garbage"])
def test_first_rows_rewritten_fall_back_to_the_serial_replay(base: Base, kind: str) -> None:
    """When the first row names another log (or no first-page row decodes) the split cannot
    settle the log check from the hint: :func:`verify_parallel` declines, and verify_store's
    answer is still the serial one."""
    old = b'"log":"' + base.log_id.encode() + b'"'
    with opened_copy(base.path) as (log, conn):
        if kind == "log":
            conn.execute("UPDATE stored_events SET state = ? WHERE rowid = ?",
                         (base.rows[0].state.replace(old, b'"log":"x.example/log"'),
                          base.rows[0].rowid))
        else:
            conn.execute("UPDATE stored_events SET state = 'garbage'")
        conn.commit()
        assert verify_parallel(log, workers=2) is None
        report = assert_same_reports(log)
    assert not report.ok


def test_small_batches_and_pages(base: Base, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny pages and batches, and few case states in memory: the same report, and progress
    counts every row."""
    monkeypatch.setattr("cdlog.verify.rows.PAGE", 7)
    monkeypatch.setattr("cdlog.verify.runner.PAGE", 7)
    monkeypatch.setattr("cdlog.verify.parallel.PAGE", 7)
    monkeypatch.setattr("cdlog.verify.parallel.BATCH", 3)
    monkeypatch.setattr("cdlog.verify.parallel.STREAMS_IN_MEMORY", 16)
    with opened_copy(base.path) as (log, conn):
        conn.execute("DELETE FROM stored_events WHERE rowid = ?", (base.rows[40].rowid,))
        conn.commit()
        serial = verify_store(log, workers=1)
        seen: list[int] = []
        parallel = verify_store(log, workers=2, progress=seen.append)
    assert as_tuple(parallel) == as_tuple(serial)
    assert seen == [*range(7, serial.events + 1, 7), serial.events]


def test_case_states_beyond_the_memory_bound_are_kept(base: Base) -> None:
    """A verifier that may hold only 8 case states (the rest in its temporary file) replays to
    the same report as one that holds them all."""
    with opened_copy(base.path) as (log, conn):
        conn.execute("DELETE FROM stored_events WHERE rowid = ?", (base.rows[60].rowid,))
        conn.commit()
        reports = []
        for limit in (8, 100_000):
            verifier = Verifier(DEFAULT_CONFIG, streams_in_memory=limit)
            for row in iter_notifications(log.app.recorder):
                verifier.feed(row.id, row.state, row)
            reports.append(as_tuple(verifier.finish()))
    assert reports[0] == reports[1]
    assert reports[0][1] > 8


def test_default_is_serial_for_small_stores(base: Base, monkeypatch: pytest.MonkeyPatch) -> None:
    """Small stores are replayed in-process; large ones (here: a lowered bar) in parallel."""
    calls: list[int] = []

    def spy(log: Any, *, workers: int, **kwargs: Any) -> Report | None:
        calls.append(workers)
        return verify_parallel(log, workers=workers, **kwargs)

    monkeypatch.setattr("cdlog.verify.parallel.verify_parallel", spy)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    with opened_copy(base.path) as (log, _):
        assert verify_store(log).ok
        assert calls == []
        monkeypatch.setattr("cdlog.verify.runner.PARALLEL_MIN_EVENTS", 10)
        assert verify_store(log).ok
        assert calls == [2]


def _runs(path: Path) -> list[list[str]]:
    """The lines the watched work wrote (one per run: what ran, in which process)."""
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("kind", ["untouched", "declined", "serial"])
def test_work_alongside_runs_once(base: Base, kind: str, tmp_path: Path) -> None:
    """Work given to run alongside the replay runs exactly once and its value comes back:
    beside the workers in a process of its own (given the store opened anew), after a replay
    the split declined, or after a serial replay (in this process, given the log itself)."""
    runs = tmp_path / "runs"

    def work(opened: Any) -> tuple[int, bool]:
        with runs.open("a") as out:
            out.write(f"work {os.getpid()}\n")
        return opened.max_position(), opened is log

    with opened_copy(base.path) as (log, conn):
        if kind == "declined":
            conn.execute("UPDATE stored_events SET state = 'garbage'")
            conn.commit()
        _, value = replay_store(log, workers=1 if kind == "serial" else 2, alongside=work)
        assert value is not None
        assert value[0] == log.max_position()
    [(_, pid)] = _runs(runs)
    assert value[1] is (kind != "untouched")
    assert (int(pid) == os.getpid()) is (kind != "untouched")


@pytest.mark.parametrize("workers", [1, 2])
def test_store_checks_run_beside_the_workers(base: Base, workers: int, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's own checks (SQLite's, the vault's) and the case numbers are read once: in
    the side process while worker processes replay (no core idles after the replay, and no
    thread competes with the dispatch), after the replay in this process when it runs here;
    the report is the same either way."""
    from cdlog.verify import runner

    numbers = runner.store_case_numbers
    runs = tmp_path / "runs"
    for name in ("store_integrity", "store_case_numbers"):
        real = getattr(runner, name)

        def watched(log: Any, _real: Any = real, _name: str = name) -> Any:
            with runs.open("a") as out:
                out.write(f"{_name} {os.getpid()}\n")
            return _real(log)

        monkeypatch.setattr(runner, name, watched)
    with opened_copy(base.path) as (log, _):
        report = verify_store(log, workers=workers)
        expected = numbers(log)
    assert report.ok, report.failures
    me = str(os.getpid())
    if workers == 1:
        assert _runs(runs) == [["store_integrity", me]]
    else:
        where = sorted(_runs(runs))
        assert [name for name, _ in where] == ["store_case_numbers", "store_integrity"]
        assert {pid for _, pid in where} != {me}
        assert len({pid for _, pid in where}) == 1
        assert report.case_nos == expected
        assert expected


def test_full_audit_same_with_workers(base: Base, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cdlog verify``'s full audit (events and Merkle tree, the tree rebuilt beside the
    workers) reports the same with and without worker processes, also when a leaf hash and
    an event were changed."""
    with opened_copy(base.path) as (log, conn):
        conn.execute("UPDATE merkle_nodes SET hash = zeroblob(32) WHERE level = 0 AND idx = 5")
        conn.execute("DELETE FROM stored_events WHERE rowid = ?", (base.rows[50].rowid,))
        conn.commit()
        docs = []
        for bar in (10**9, 1):
            monkeypatch.setattr("cdlog.verify.runner.PARALLEL_MIN_EVENTS", bar)
            monkeypatch.setattr("os.cpu_count", lambda: 2)
            report = verify_log(log)
            docs.append((report.as_json(), list(report.heads.items())))
    assert docs[0] == docs[1]
    assert not docs[0][0]["ok"]
    assert {f["check"] for f in docs[0][0]["failures"]} >= {"merkle", "version"}


def test_workers_started_as_fresh_interpreters_agree(base: Base) -> None:
    """With another thread running, workers are fresh interpreters (not forked): the same
    report, for an untouched and a tampered store."""
    stop = threading.Event()
    waiting = threading.Thread(target=stop.wait)
    waiting.start()
    try:
        with opened_copy(base.path) as (log, conn):
            assert assert_same_reports(log, split=True).ok
            conn.execute("DELETE FROM stored_events WHERE rowid = ?", (base.rows[30].rowid,))
            conn.commit()
            assert not assert_same_reports(log, split=True).ok
    finally:
        stop.set()
        waiting.join()


class _Cycle:
    me: Any = None


def freeze_counts_at_dispatch(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The frozen-object count as each dispatch of rows to the workers begins."""
    seen: list[int] = []
    dispatch = parallel._dispatch

    def spy(*args: Any, **kwargs: Any) -> int:
        seen.append(gc.get_freeze_count())
        return dispatch(*args, **kwargs)

    monkeypatch.setattr("cdlog.verify.parallel._dispatch", spy)
    return seen


def test_the_host_heap_is_frozen_while_the_rows_are_dispatched(
        base: Base, monkeypatch: pytest.MonkeyPatch) -> None:
    """What this process held before is out of its collections during the dispatch, and
    back in them after: nothing stays frozen, and garbage made before is collected."""
    seen = freeze_counts_at_dispatch(monkeypatch)
    assert gc.get_freeze_count() == 0
    with opened_copy(base.path) as (log, _):
        gc.collect()
        held = len(gc.get_objects())
        garbage = _Cycle()
        garbage.me = garbage
        gone = weakref.ref(garbage)
        del garbage
        report = verify_store(log, workers=2)
    assert report.events == len(base.rows)
    assert seen
    assert seen[0] >= held
    assert gc.get_freeze_count() == 0
    gc.collect()
    assert gone() is None


def test_a_host_that_froze_its_own_objects_keeps_them_frozen(
        base: Base, monkeypatch: pytest.MonkeyPatch) -> None:
    """A pre-fork server's frozen objects are neither frozen again with the rest nor thawed."""
    seen = freeze_counts_at_dispatch(monkeypatch)
    with opened_copy(base.path) as (log, _):
        kept = [_Cycle() for _ in range(100)]
        gc.freeze()
        try:
            frozen = gc.get_freeze_count()
            made = [_Cycle() for _ in range(5000)]  # not frozen: the host's own business
            report = verify_store(log, workers=2)
            assert report.events == len(base.rows)
            assert seen
            assert seen[0] <= frozen
            assert gc.get_freeze_count() > 0
        finally:
            gc.unfreeze()
        del kept, made


@given(sizes=st.lists(st.sampled_from([0, 1, 7, 8, 65_535, 65_537, 300_000, 3_000_000]),
                      min_size=1, max_size=4))
@settings(max_examples=15, deadline=None)
def test_the_channel_gives_back_each_message_whole(sizes: list[int]) -> None:
    """Messages larger than the pipe's buffer arrive whole, in order; a message cut short
    (the writer gone) is an EOFError, never a short message."""
    read, write = os.pipe()
    messages = [bytes([i % 251]) * size for i, size in enumerate(sizes)]
    sender = parallel._Channel(write)

    def send() -> None:
        for message in messages:
            sender.send_bytes(message)
        os.write(write, (10).to_bytes(8, "little") + b"cut")  # 3 of 10 bytes, then the end
        sender.close()

    writer = threading.Thread(target=send)
    writer.start()
    receiver = parallel._Channel(read)
    try:
        for message in messages:
            got = receiver.recv_bytes()
            assert bytes(got) == message
        with pytest.raises(EOFError):
            receiver.recv_bytes()
    finally:
        writer.join()
        receiver.close()
