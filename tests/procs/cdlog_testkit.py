"""Shared helpers of the concurrency and fault tests: stores, keys, writer processes, checks.

Imported by ``tests/test_concurrency.py`` and ``tests/test_faults.py`` (they put this folder on
``sys.path``); the writer processes run ``cdlog_writer.py`` beside it.
"""

from __future__ import annotations

import glob
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cdlog.application import CaseLog
from cdlog.domain.values import Officer
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.ledger import read_ledger
from cdlog.log.ledger_rows import LeafRow
from cdlog.log.sealing import parse, stream_id
from cdlog.verify.replay import Report, iter_notifications
from cdlog.verify.runner import verify_log

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WRITER = HERE / "cdlog_writer.py"
PG_SCRIPT = ROOT / "scripts" / "pg-test-server"
KINDS = ("sqlite", "postgresql")


# ---------------------------------------------------------------------------- PostgreSQL
def pg_server(port: int | None = None, data: Path | None = None) -> str:
    """A PostgreSQL test server's URL: ``CDLOG_TEST_PG_URL``, else the server that
    ``scripts/pg-test-server start`` starts or finds (on ``port``/``data`` when given).
    Fails the test, never skips, when no server can be had."""
    if port is None and os.environ.get("CDLOG_TEST_PG_URL"):
        return os.environ["CDLOG_TEST_PG_URL"]
    env = dict(os.environ)
    if port is not None:
        env["CDLOG_PG_PORT"] = str(port)
    if data is not None:
        env["CDLOG_PG_DATA"] = str(data)
    try:
        out = subprocess.run([str(PG_SCRIPT), "start"], env=env, capture_output=True,
                             text=True, timeout=300, check=True, stdin=subprocess.DEVNULL)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        pytest.fail(f"the PostgreSQL test server did not start: {exc}: "
                    f"{getattr(exc, 'stderr', '')}")
    return out.stdout.strip().splitlines()[-1]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def pg_stop(port: int, data: Path) -> None:
    """Stop the server :func:`pg_server` started on ``port`` with ``data``."""
    env = dict(os.environ, CDLOG_PG_PORT=str(port), CDLOG_PG_DATA=str(data))
    subprocess.run([str(PG_SCRIPT), "stop"], env=env, capture_output=True, timeout=120,
                   check=False, stdin=subprocess.DEVNULL)


def pg_ctl(data: Path, *args: str) -> None:
    """Run ``pg_ctl -D data ARGS`` as the server's (unprivileged) user."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not bins:
        pytest.fail("pg_ctl not found under /usr/lib/postgresql")
    command = [bins[-1], "-D", str(data), *args]
    if os.getuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    # The server inherits pg_ctl's descriptors: never a pipe we would wait on.
    subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=60, check=True)


def pg_restart(data: Path, outage: float) -> None:
    """Restart the server of ``data`` (``-m fast``: sessions are cut, open transactions
    aborted), down for ``outage`` seconds, with the options it was started with."""
    opts = shlex.split((data / "postmaster.opts").read_text())[1:]
    at = opts.index("-D")
    del opts[at:at + 2]
    pg_ctl(data, "-m", "fast", "-w", "stop")
    time.sleep(outage)
    pg_ctl(data, "-w", "-l", str(data / "server.log"), "-o", shlex.join(opts), "start")


@contextmanager
def pg_schema(base: str, home: Path) -> Iterator[str]:
    """A store URL on a fresh schema of ``base``'s server (files in ``home``); the schema is
    dropped afterwards."""
    schema = "cc_" + uuid.uuid4().hex[:12]
    plain = base.split("?", 1)[0]
    home.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{plain}?schema={schema}&home={home}"
    finally:
        with psycopg.connect(plain, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '60s'")
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def fresh_store(kind: str, tmp_path: Path, pg_base: str) -> Iterator[str]:
    """A fresh, empty store URL of ``kind`` with its files under ``tmp_path/store``."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'store' / 'cdlog.db'}"
    else:
        with pg_schema(pg_base, tmp_path / "store") as url:
            yield url


# ---------------------------------------------------------------------------- keys
def make_world(url: str, officers: int, root: Ed25519Signer | None = None) -> list[str]:
    """Create the log: the CBP root (``root``, else a new key) and ``officers`` certified OFO
    officers, valid from an hour ago for a day (writers record on the wall clock). Return the
    officers' seeds (hex)."""
    start = datetime.now(UTC) - timedelta(hours=1)
    seeds = []
    with CaseLog(url) as log:
        root = root or Ed25519Signer.generate()
        log.establish_root("CBP", root, at=start)
        for i in range(officers):
            signer = Ed25519Signer.generate()
            officer = Officer(id=f"CBP-{2000 + i}", role="CBPO-Enforcement", agency="CBP",
                              office="OFO")
            log.certify_officer(root, officer, signer.public_key, not_before=start,
                                not_after=start + timedelta(days=1), at=start)
            seeds.append(signer.seed().hex())
    return seeds


# ---------------------------------------------------------------------------- processes
class Writer:
    """A ``cdlog_writer.py`` process; its report lines are read from its stdout file."""

    def __init__(self, folder: Path, name: str, spec: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.name = name
        spec_path = folder / f"{name}.json"
        spec_path.write_text(json.dumps(spec))
        self.out = folder / f"{name}.out"
        self.err = folder / f"{name}.err"
        with self.out.open("w") as out, self.err.open("w") as err:
            self.proc = subprocess.Popen([sys.executable, str(WRITER), str(spec_path)],
                                         stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         cwd=folder)

    def lines(self) -> list[dict[str, Any]]:
        """Every complete report line so far."""
        text = self.out.read_text()
        return [json.loads(line) for line in text.splitlines(keepends=True)
                if line.endswith("\n")]

    def of(self, ev: str) -> list[dict[str, Any]]:
        """The report lines of kind ``ev``."""
        return [line for line in self.lines() if line["ev"] == ev]

    def stderr(self) -> str:
        """The tail of the process's stderr."""
        return self.err.read_text()[-3000:]

    def wait_for(self, ev: str, count: int = 1, timeout: float = 60) -> list[dict[str, Any]]:
        """Wait until ``count`` lines of kind ``ev`` were reported; fail on exit or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.of(ev)
            if len(found) >= count:
                return found
            if self.proc.poll() is not None:
                found = self.of(ev)
                if len(found) >= count:
                    return found
                self.kill()
                pytest.fail(f"{self.name} exited ({self.proc.returncode}) before {count} "
                            f"{ev!r} line(s): {self.stderr()}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"{self.name}: no {count} {ev!r} line(s) within {timeout} s: "
                            f"{self.stderr()}")
            time.sleep(0.005)

    def join(self, timeout: float = 90) -> list[dict[str, Any]]:
        """Wait for a clean exit (killing and failing on timeout); return the lines."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not finish within {timeout} s: {self.stderr()}")
        if rc != 0:
            pytest.fail(f"{self.name} failed ({rc}): {self.stderr()}")
        return self.lines()

    def kill(self) -> None:
        """SIGKILL the process (if it still runs) and reap it."""
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)


def join_all(writers: Sequence[Writer], timeout: float = 90) -> None:
    """Join every writer within ``timeout`` overall; kill all of them if one fails."""
    deadline = time.monotonic() + timeout
    try:
        for w in writers:
            w.join(max(1.0, deadline - time.monotonic()))
    finally:
        for w in writers:
            w.kill()


def commits(writers: Sequence[Writer]) -> list[dict[str, Any]]:
    """Every commit reported by ``writers``."""
    return [c for w in writers for c in w.of("commit")]


# ---------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class Row:
    """One stored event: its position and what its sealed bytes say."""

    nid: int
    case: str
    stream: str
    version: int
    hash: str
    prev: str | None
    type: str
    tag: str | None


@dataclass
class Audit:
    """What a store holds, after it verified."""

    report: Report
    rows: list[Row]
    leaves: list[LeafRow]
    streams: dict[str, list[Row]] = field(default_factory=dict)

    @property
    def tags(self) -> set[str]:
        """The tags (``conveyance`` values) of every stored event."""
        return {r.tag for r in self.rows if r.tag is not None}

    def at(self, stream: str, version: int) -> Row:
        """The stored event of ``stream`` at ``version``."""
        return self.streams[stream][version - 1]


def read_leaves(log: CaseLog) -> list[LeafRow]:
    """Every ``merkle_leaves`` row, in leaf order."""
    with read_ledger(log) as led:
        out: list[LeafRow] = []
        while True:
            page = led.leaves(len(out))
            out.extend(page)
            if not page:
                return out


def audit_store(url: str) -> Audit:
    """Open the store, verify it in full and check every case chain and the Merkle leaves.

    :func:`verify_log` checks every event and rebuilds the Merkle tree. Then: each case has
    one event per version from 1 on, each linking to the one before (no fork); a case's
    versions commit in order; leaf ``i`` is the ``i``-th event in notification (commit) order.
    """
    with CaseLog(url) as log:
        report = verify_log(log)
        assert report.ok, [f.as_dict() for f in report.failures]
        rows = []
        for n in iter_notifications(log.app.recorder):
            sealed = parse(n.state, str(n.originator_id), n.originator_version)
            tag = sealed.payload.get("conveyance")
            rows.append(Row(int(n.id), str(n.originator_id), sealed.stream, sealed.version,
                            sealed.hash_hex, sealed.prev, sealed.type,
                            tag if isinstance(tag, str) else None))
        leaves = read_leaves(log)
    audit = Audit(report, rows, leaves)
    by_stream: dict[str, list[Row]] = defaultdict(list)
    for r in rows:
        by_stream[r.stream].append(r)
    for stream, events in by_stream.items():
        events.sort(key=lambda r: r.version)
        assert [r.version for r in events] == list(range(1, len(events) + 1)), stream
        assert events[0].prev is None, stream
        for before, after in pairwise(events):
            assert after.prev == before.hash, f"{stream} v{after.version} forks"
            assert after.nid > before.nid, f"{stream} v{after.version} committed out of order"
        assert {r.case for r in events} == {str(stream_id(stream))}
    audit.streams = dict(by_stream)
    tags = [r.tag for r in rows if r.tag is not None]
    assert len(tags) == len(set(tags)), "an event was stored twice"
    assert [lf.leaf_index for lf in leaves] == list(range(len(rows)))
    assert [lf.notification_id for lf in leaves] == [r.nid for r in rows]
    assert [(uuid.UUID(lf.originator_id), lf.originator_version) for lf in leaves] == [
        (uuid.UUID(r.case), r.version) for r in rows]
    assert audit.report.events == len(leaves)
    return audit


def check_reported(audit: Audit, reported: Sequence[dict[str, Any]]) -> None:
    """Every reported commit is stored as reported; the commits' positions do not interleave,
    and a commit that returned before another started precedes it in the log (and the tree)."""
    nid = {(r.stream, r.version): r for r in audit.rows}
    spans = []
    for c in reported:
        ids = []
        for stream, version, digest, tag in c["events"]:
            row = nid.get((stream, version))
            assert row is not None, f"committed {stream} v{version} is lost"
            assert (row.hash, row.tag) == (digest, tag), f"{stream} v{version} differs"
            ids.append(row.nid)
        spans.append((min(ids), max(ids), int(c["t0"]), int(c["t1"])))
    spans.sort()
    for a, b in pairwise(spans):
        assert a[1] < b[0], f"two commits interleave in the log: {a[:2]} and {b[:2]}"
    for a in spans:
        for b in spans:
            if a[3] < b[2]:
                assert a[1] < b[0], f"a commit that returned first is later in the log: {a} {b}"
