"""A writer (or projector) process for the concurrency and fault tests.

Run as ``python tests/procs/cdlog_writer.py SPEC.json``. The spec names the store URL, the
officer key seed (hex) and a mode; the process opens its own :class:`CaseLog` and reports on
stdout, one JSON object a line, flushed at once:

``{"ev": "commit", "t0": ns, "t1": ns, "events": [[stream, version, hash, tag], ...]}``
    a command returned: its events are committed (``t0``/``t1`` are ``time.monotonic_ns()``
    before the command started and after it returned; the clock is system-wide);
``{"ev": "conflict", "tags": [...], "message": ...}``
    a command was refused with :class:`ConcurrencyError` (``tags`` are the tags of all its
    events, none of which may be in the store);
``{"ev": "error", "type": ..., "message": ..., "tags": [...]}``
    another error (in ``loop`` mode, during a server outage);
``{"ev": "in_txn"}``  the save hook is inside the write transaction (``hook_after`` set);
``{"ev": "ack_lost"}``  the simulated loss of a COMMIT answer happened (``lose_ack_after``);
``{"ev": "ready"}``   a ``stale`` writer has prepared its batch;
``{"ev": "done", ...}``.

Modes: ``open`` (open the store at the go signal, nothing else), ``append`` (own case,
``commits`` batches of ``batch`` events), ``race`` (the same case as other writers, batches
of 1..3 events, until ``commits`` succeeded, retrying after each conflict), ``stale``
(prepare a multi-event batch, wait for a go file, commit, expect a conflict, then retry),
``loop`` (batches until ``commits``, ``seconds`` or a stop file, surviving errors; for the
SIGKILL and server-restart tests) and ``project`` (catch up a counting view until a stop file
appears).
"""

from __future__ import annotations

import json
import logging
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cdlog.application import CaseLog
from cdlog.domain.case import Fact
from cdlog.errors import ConcurrencyError
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.ledger import LedgerCursor
from cdlog.log.sealing import SealedEvent
from cdlog.projections.projector import Projections
from cdlog.projections.store import NewEntry, Prior
from cdlog.projections.views import View

logging.basicConfig(level=logging.WARNING, stream=sys.stderr)  # cdlog's warnings; stdout: reports


def emit(**fields: Any) -> None:
    """Report one line on stdout, flushed at once (a line read means it happened)."""
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def now() -> datetime:
    """The wall clock (UTC): events happen and are recorded now."""
    return datetime.now(UTC)


def wait_for(path: str, seconds: float = 60.0) -> None:
    """Wait until ``path`` exists (a barrier set by the parent)."""
    deadline = time.monotonic() + seconds
    while not Path(path).exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not appear within {seconds} s")
        time.sleep(0.002)


def described(events: list[SealedEvent]) -> list[list[Any]]:
    """``[stream, version, hash, tag]`` of each committed event."""
    return [[e.stream, e.version, e.hash_hex, e.payload.get("conveyance")] for e in events]


@dataclass
class Command:
    """One command in progress: its batch, the events prepared, whether it committed."""

    batch: Any = None
    sealed: list[SealedEvent] = field(default_factory=list)
    ok: bool = False

    def record(self, stream: str, tag: str, signer: Ed25519Signer) -> None:
        """Add one ConveyanceArrived event tagged ``tag`` to the batch."""
        self.sealed.append(self.batch.record(stream, "ConveyanceArrived", {"conveyance": tag},
                                             signer=signer, at=now()))


@contextmanager
def command(log: CaseLog, tags: list[str]) -> Iterator[Command]:
    """Run one command (a batch) and report its outcome; a conflict is reported, not raised."""
    t0 = time.monotonic_ns()
    cmd = Command()
    try:
        with log.batch() as b:
            cmd.batch = b
            yield cmd
    except ConcurrencyError as exc:
        emit(ev="conflict", tags=tags, message=str(exc))
        return
    cmd.ok = True
    emit(ev="commit", t0=t0, t1=time.monotonic_ns(), events=described(cmd.sealed))


def open_case(log: CaseLog, reference: str, signer: Ed25519Signer) -> None:
    """Open the case ``reference`` in a command of its own."""
    t0 = time.monotonic_ns()
    stream = log.open_case(reference, port="5201", signer=signer, at=now())
    emit(ev="commit", t0=t0, t1=time.monotonic_ns(), events=described(log.events(stream)))


def append(log: CaseLog, spec: dict[str, Any], signer: Ed25519Signer) -> None:
    """Own case: ``commits`` batches of ``batch`` events."""
    stream = spec["stream"]
    for k in range(spec["commits"]):
        tags = [f"{spec['tag']}-{k}-{i}" for i in range(spec["batch"])]
        with command(log, tags) as cmd:
            for tag in tags:
                cmd.record(stream, tag, signer)


def race(log: CaseLog, spec: dict[str, Any], signer: Ed25519Signer) -> None:
    """Shared case: batches of 1..3 events until ``commits`` succeeded."""
    rnd = random.Random(spec["tag"])
    stream = spec["stream"]
    committed = attempts = 0
    deadline = time.monotonic() + spec.get("seconds", 60)
    while committed < spec["commits"] and time.monotonic() < deadline:
        attempts += 1
        tags = [f"{spec['tag']}-a{attempts}-{i}" for i in range(rnd.randint(1, 3))]
        with command(log, tags) as cmd:
            for tag in tags:
                cmd.record(stream, tag, signer)
            time.sleep(rnd.uniform(0, 0.003))  # the case system's own work before saving
        committed += cmd.ok


def stale(log: CaseLog, spec: dict[str, Any], signer: Ed25519Signer) -> None:
    """Prepare a batch over a new case and the shared one, let another writer commit first."""
    fresh = f"case:{spec['fresh']}"
    tags = [f"{spec['tag']}-{i}" for i in range(3)]
    with command(log, tags) as cmd:
        cmd.sealed.append(cmd.batch.record(fresh, "CaseOpened", {
            "reference": spec["fresh"], "port": "5201"}, signer=signer, at=now()))
        cmd.record(fresh, tags[0], signer)
        cmd.record(spec["stream"], tags[1], signer)
        cmd.record(spec["stream"], tags[2], signer)
        emit(ev="ready", events=described(cmd.sealed))
        wait_for(spec["go"])
    # Reload and retry, as the error message says.
    retry = [f"{spec['tag']}-retry-{i}" for i in range(2)]
    with command(log, retry) as cmd:
        for tag in retry:
            cmd.record(spec["stream"], tag, signer)


def install_hook(seconds: float) -> None:
    """Make the next save pause ``seconds`` inside its write transaction, after its events and
    their Merkle leaves were written (both stores append leaves through LedgerCursor); once."""
    original = LedgerCursor.append_events

    def pausing(self: LedgerCursor, rows: Sequence[tuple[int, str, int, bytes]],
                context_since: int | None = None, context_topics: Sequence[str] = (),
                tail: Sequence[Any] | None = None) -> None:
        original(self, rows, context_since, context_topics, tail)
        LedgerCursor.append_events = original  # type: ignore[method-assign]
        emit(ev="in_txn", events=len(rows))
        time.sleep(seconds)

    LedgerCursor.append_events = pausing  # type: ignore[method-assign]


def lose_next_ack() -> None:
    """Make the next save's connection fail right after its COMMIT went through (as when the
    network drops the server's answer): eventsourcing's retry then runs the save again."""
    from eventsourcing.persistence import OperationalError
    from eventsourcing.postgres import PostgresDatastore

    original_append = LedgerCursor.append_events
    original_connection = PostgresDatastore.get_connection
    armed = [False]

    def arming(self: LedgerCursor, rows: Sequence[tuple[int, str, int, bytes]],
               context_since: int | None = None, context_topics: Sequence[str] = (),
               tail: Sequence[Any] | None = None) -> None:
        original_append(self, rows, context_since, context_topics, tail)
        LedgerCursor.append_events = original_append  # type: ignore[method-assign]
        armed[0] = True

    @contextmanager
    def lossy(self: PostgresDatastore) -> Iterator[Any]:
        with original_connection(self) as conn:
            yield conn
        if armed[0]:
            armed[0] = False
            PostgresDatastore.get_connection = original_connection  # type: ignore[method-assign]
            emit(ev="ack_lost")
            raise OperationalError("server closed the connection unexpectedly (simulated)")

    LedgerCursor.append_events = arming  # type: ignore[method-assign]
    PostgresDatastore.get_connection = lossy  # type: ignore[method-assign]


def loop(log: CaseLog, spec: dict[str, Any], signer: Ed25519Signer) -> None:
    """Batches of ``batch`` events until ``commits``, ``seconds`` or the stop file; errors are
    reported and the loop goes on with the same :class:`CaseLog`."""
    stream = spec["stream"]
    deadline = time.monotonic() + spec.get("seconds", 60)
    k = done = errors = 0
    hook_after = spec.get("hook_after")
    while done < spec["commits"] and time.monotonic() < deadline:
        if Path(spec.get("stop", "/nonexistent")).exists():
            break
        if hook_after is not None and done == hook_after:
            install_hook(spec.get("pause", 120))
            hook_after = None
        if spec.get("lose_ack_after") == done:
            lose_next_ack()
            spec["lose_ack_after"] = None
        tags = [f"{spec['tag']}-{k}-{i}" for i in range(spec["batch"])]
        k += 1
        try:
            with command(log, tags) as cmd:
                for tag in tags:
                    cmd.record(stream, tag, signer)
            done += cmd.ok
        except Exception as exc:
            errors += 1
            emit(ev="error", type=type(exc).__name__, message=str(exc)[:300], tags=tags,
                 t=time.monotonic_ns())
            time.sleep(0.05)  # then go on with the same CaseLog
    emit(ev="done", commits=done, errors=errors)


class CountingView(View):
    """One entry per case event: a view that must end up with every event of the log."""

    name = "count_all"
    schema = 1

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """An entry per event."""
        return [NewEntry("event", fact.stream, {"version": fact.version})]


def project(log: CaseLog, spec: dict[str, Any]) -> None:
    """Catch up a counting view while writers run; a last catch-up after the stop file."""
    rounds = 0
    with Projections(log, folder=Path(spec["folder"]), views=[CountingView(log.config)]) as p:
        while not Path(spec["stop"]).exists():
            p.catch_up()
            rounds += 1
            time.sleep(0.005)
        p.catch_up()
        entries = p.select("count_all")
        emit(ev="done", rounds=rounds, position=p.positions()["count_all"],
             entries=[[e.stream, e.version, e.hash, e.position] for e in entries])


def main() -> None:
    """Read the spec, open the log and run the mode."""
    spec = json.loads(Path(sys.argv[1]).read_text())
    os.environ.update(spec.get("env", {}))  # eventsourcing reads settings cdlog leaves open
    emit(ev="started", pid=os.getpid())
    if spec["mode"] == "open":  # only open the store, all at once with other processes
        wait_for(spec["go"])
        with CaseLog(spec["url"]) as log:
            emit(ev="opened", position=log.max_position())
        return
    log = CaseLog(spec["url"])
    try:
        if spec["mode"] == "project":
            project(log, spec)
            return
        signer = Ed25519Signer(bytes.fromhex(spec["seed"]))
        if spec.get("open"):
            open_case(log, spec["open"], signer)
        if "go" in spec and spec["mode"] == "race":
            wait_for(spec["go"])
        {"append": append, "race": race, "stale": stale, "loop": loop}[spec["mode"]](
            log, spec, signer)
        if spec["mode"] != "loop":
            emit(ev="done")
    finally:
        log.close()


if __name__ == "__main__":
    main()
