"""Shared fixtures: a log in a temporary store with certified officers (a "world").

Every test that takes ``store_url`` (or ``world``) runs twice: on a fresh SQLite file and on a
fresh schema of a PostgreSQL test server. The server is ``CDLOG_TEST_PG_URL`` (``make test``
starts one and exports it); without it the session starts ``scripts/pg-test-server`` itself
(and stops it at the end if it started it). PostgreSQL tests never skip: a server that cannot
be had fails them.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import structlog
from eventsourcing.postgres import PostgresDatastore
from eventsourcing.sqlite import SQLiteDatastore
from hypothesis import HealthCheck, settings

from cdlog.application import CaseLog
from cdlog.canonical import parse_time
from cdlog.domain.values import Officer
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.ledger import CdlogSQLiteApplicationRecorder, LedgerCursor
from cdlog.log.ledger_sql import LedgerSQL, PostgresLedgerSQL, SQLiteLedgerSQL
from cdlog.log.pgledger import CdlogPostgresApplicationRecorder
from cdlog.log.sealing import SealedEvent
from cdlog.restricted.vault import X25519KeyWrapper
from cdlog.store.urls import resolve_store

sys.path.insert(0, str(Path(__file__).resolve().parent / "procs"))
from cdlog_testkit import pg_schema  # the writer processes' helpers (sys.path)

settings.register_profile("cdlog", deadline=None, max_examples=60,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.load_profile("cdlog")
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))

ROOT = Path(__file__).resolve().parents[1]
VECTORS = ROOT / "tests" / "vectors"  # public test vectors (sources in its README.md)
SCENARIOS = ROOT / "examples" / "scenarios"  # the worked scenario files (docs/SCENARIOS.md)
PG_URL_ENV = "CDLOG_TEST_PG_URL"
PG_SCRIPT = ROOT / "scripts" / "pg-test-server"
STORE_KINDS = ("sqlite", "postgresql")
T0 = parse_time("2006-03-14T06:00:00-05:00")

# handle -> (id, role, agency, office); the cast of scenario A plus a few extra parties.
CAST: dict[str, tuple[str, str, str, str]] = {
    "cbpo": ("CBP-4417", "CBPO-Enforcement", "CBP", "OFO"),
    "scbpo": ("CBP-2290", "SCBPO", "CBP", "OFO"),
    "pd": ("CBP-1001", "PortDirector", "CBP", "OFO"),
    "spc": ("CBP-3150", "SeizedPropertyCustodian", "CBP", "OFO"),
    "shadow": ("CBP-5120", "CBPO", "CBP", "OFO"),
    "pnr": ("CBP-6203", "PNRAnalyst", "CBP", "OFO"),
    "pnr_sup": ("CBP-6001", "PNRApprovingOfficial", "CBP", "OFO"),
    "oi_duty": ("ICE-7781", "OIDutyAgent", "ICE", "OI"),
    "oi_ca": ("ICE-6610", "CaseAgent", "ICE", "OI"),
    "oi_gs": ("ICE-3302", "GroupSupervisor", "ICE", "OI"),
    "oi_sac": ("ICE-0100", "SAC", "ICE", "OI"),
    "ausa": ("AUSA-DUTY-A", "AUSA", "DOJ", "USAO-SD-FL"),
    "dea": ("DEA-0042", "SpecialAgent", "DEA", "DO"),
}


@dataclass
class World:
    """A log with roots and one certified key per cast member; times count from T0."""

    log: CaseLog
    roots: dict[str, Ed25519Signer] = field(default_factory=dict)
    signers: dict[str, Ed25519Signer] = field(default_factory=dict)
    officers: dict[str, Officer] = field(default_factory=dict)
    clock_minutes: int = 0

    def t(self, minutes: float) -> datetime:
        """T0 plus ``minutes``."""
        return T0 + timedelta(minutes=minutes)

    def id(self, handle: str) -> str:
        """The officer id of a cast handle."""
        return self.officers[handle].id

    def rec(self, stream: str, type_: str, fields: dict[str, Any] | None = None, *,
            by: str, at: float, cosign: tuple[str, ...] = (),
            recorded: float | None = None) -> SealedEvent:
        """Record ``type_`` by cast member ``by`` at T0 + ``at`` minutes."""
        return self.log.record(
            stream, type_, fields or {}, signer=self.signers[by],
            cosigners=[self.signers[c] for c in cosign], at=self.t(at),
            recorded=self.t(recorded if recorded is not None else at))

    def open_case(self, ref: str = "OP-T-1", port: str = "5201", at: float = 0) -> str:
        """Open a case by the OFO enforcement officer."""
        return self.log.open_case(ref, port=port, signer=self.signers["cbpo"], at=self.t(at),
                                  recorded=self.t(at))


def stored_rows(path: Path) -> list[tuple[Any, ...]]:
    """Every stored event row of an SQLite store: rowid, case id, version, topic, state."""
    conn = sqlite3.connect(path)
    try:
        return list(conn.execute("SELECT rowid, originator_id, originator_version, topic, "
                                 "state FROM stored_events ORDER BY rowid"))
    finally:
        conn.close()


@contextmanager
def opened_copy(path: Path) -> Iterator[tuple[CaseLog, sqlite3.Connection]]:
    """A fresh copy of an SQLite store, open as a log and as a raw SQLite connection."""
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "cdlog.db"
        shutil.copyfile(path, copy)
        log = CaseLog(f"sqlite:///{copy}")
        conn = sqlite3.connect(copy)
        try:
            yield log, conn
        finally:
            conn.close()
            log.close()


def build_world(store: str) -> World:
    """Create a log in ``store`` with a root per agency and a key per cast member."""
    log = CaseLog(store)
    world = World(log)
    start = T0 - timedelta(days=1)
    for handle, (ident, role, agency, office) in CAST.items():
        if agency not in world.roots:
            world.roots[agency] = Ed25519Signer.generate()
            log.establish_root(agency, world.roots[agency], at=start)
        signer = Ed25519Signer.generate()
        officer = Officer(id=ident, role=role, agency=agency, office=office)
        log.certify_officer(world.roots[agency], officer, signer.public_key, not_before=start,
                            not_after=start + timedelta(days=3650), at=start)
        world.signers[handle] = signer
        world.officers[handle] = officer
    return world


def world_with_scenarios(path: Path) -> World:
    """A world in a new SQLite store at ``path`` holding the example scenarios, replayed with
    the world's agency roots (created for agencies it has none for)."""
    from cdlog.scenario import Replayer

    world = build_world(f"sqlite:///{path}")

    def root_for(agency: str) -> Ed25519Signer:
        return world.roots.setdefault(agency, Ed25519Signer.generate())

    replayer = Replayer(world.log, root_signer=root_for)
    for scenario in sorted(SCENARIOS.glob("*.yaml")):
        replayer.replay(scenario)
    return world


def _pg_script(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(PG_SCRIPT), command], capture_output=True, text=True,
                          timeout=600, check=False, stdin=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """The PostgreSQL test server's URL (``CDLOG_TEST_PG_URL``, else one started here)."""
    url = os.environ.get(PG_URL_ENV, "")
    started = False
    if not url:
        started = _pg_script("status").returncode != 0
        run = _pg_script("start")
        if run.returncode != 0 or not run.stdout.strip():
            pytest.fail(f"PostgreSQL test server did not start ({PG_SCRIPT} start, exit "
                        f"{run.returncode}): {run.stderr.strip()}")
        url = run.stdout.strip().splitlines()[-1]
    try:
        psycopg.connect(url.split("?", 1)[0], connect_timeout=10).close()
    except psycopg.Error as exc:
        pytest.fail(f"PostgreSQL test server {url} is not reachable: {exc}")
    yield url
    if started:
        _pg_script("stop")


class RawStore:
    """Direct SQL on a store's tables alongside cdlog, as anyone with database access could.

    Statements are written once for both kinds of store: ``?`` placeholders, and the names
    ``{events}`` (the events table), ``{nid}`` (its notification-id column), ``{leaves}``,
    ``{nodes}``, ``{checkpoints}`` and ``{cosignatures}``. SQLite goes through the ``sqlite3``
    module, PostgreSQL through ``psycopg``. Rows come back as tuples with case ids as 32 hex
    digits (as SQLite stores them) and binary columns as bytes.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.config = resolve_store(url)
        self.kind = self.config.kind
        self.schema = self.config.schema or "public"
        if self.kind == "sqlite":
            self.names = {"events": "stored_events", "nid": "rowid", "leaves": "merkle_leaves",
                          "nodes": "merkle_nodes", "checkpoints": "checkpoints",
                          "cosignatures": "cosignatures"}
        else:  # qualified: a datastore's connections search other schemas
            self.names = {name: f'"{self.schema}"."cdlog_{table}"' for name, table in (
                ("events", "events"), ("leaves", "merkle_leaves"), ("nodes", "merkle_nodes"),
                ("checkpoints", "checkpoints"), ("cosignatures", "cosignatures"))}
            self.names["nid"] = "notification_id"

    def sql(self, text: str) -> str:
        """A neutral statement in this store's dialect."""
        text = text.format(**self.names)
        return text if self.kind == "sqlite" else text.replace("?", "%s")

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """A DB-API connection in a transaction (commit or roll back yourself)."""
        if self.kind == "sqlite":
            assert self.config.path is not None
            lite = sqlite3.connect(self.config.path)
            try:
                yield lite
            finally:
                lite.close()
            return
        conn = psycopg.connect(host=self.config.host, port=self.config.port,
                               dbname=self.config.dbname, user=self.config.user,
                               password=self.config.password)
        try:
            yield conn
        finally:
            conn.close()

    def execute(self, *statements: str | tuple[str, Sequence[object]]) -> None:
        """Run statements in one committed transaction."""
        with self.connect() as conn:
            cursor = conn.cursor()
            for statement in statements:
                text, params = (statement, ()) if isinstance(statement, str) else statement
                cursor.execute(self.sql(text), tuple(params))
            conn.commit()

    def rows(self, text: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """The rows of a query."""
        with self.connect() as conn:
            cursor = conn.cursor()
            cursor.execute(self.sql(text), tuple(params))
            return [tuple(_plain(v) for v in row) for row in cursor.fetchall()]

    def ledger_sql(self) -> tuple[LedgerSQL, str]:
        """The Merkle-log statements of this store and its qualified events table."""
        if self.kind == "sqlite":
            return SQLiteLedgerSQL(), "stored_events"
        return PostgresLedgerSQL(self.schema, "cdlog_"), self.names["events"]

    @contextmanager
    def trial(self) -> Iterator[tuple[Callable[..., None], LedgerCursor]]:
        """A transaction that is rolled back: change rows with the first item, read the
        changed Merkle log through the second."""
        sql, events = self.ledger_sql()
        with self.connect() as conn:
            cursor = conn.cursor()

            def run(text: str, params: Sequence[object] = ()) -> None:
                cursor.execute(self.sql(text), tuple(params))

            try:
                yield run, LedgerCursor(cursor, sql, events)
            finally:
                conn.rollback()


MERKLE_TABLES = ("leaves", "nodes", "checkpoints", "cosignatures")


def copy_store(source: str, target: str) -> None:
    """Copy every row of the store ``source`` into the new, empty store ``target`` (a fork of
    the log as it stands). SQLite: a file backup; PostgreSQL: the tables are created by
    opening the target, then filled from the source's schema and the id sequence moved on."""
    src, dst = RawStore(source), RawStore(target)
    if src.kind == "sqlite":
        assert src.config.path is not None
        assert dst.config.path is not None
        dst.config.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(src.config.path) as a, sqlite3.connect(dst.config.path) as b:
            a.backup(b)
        a.close()
        b.close()
        return
    CaseLog(target).close()
    statements = [f"INSERT INTO {dst.names[t]} SELECT * FROM {src.names[t]}"
                  for t in ("events", *MERKLE_TABLES)]
    statements.append(f"SELECT setval(pg_get_serial_sequence('{dst.names['events']}', "
                      f"'notification_id'), (SELECT COALESCE(MAX(notification_id), 0) + 1 "
                      f"FROM {dst.names['events']}), false)")
    dst.execute(*statements)


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value.hex
    if isinstance(value, memoryview):
        return bytes(value)
    return value


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    """The kind of store a store-dependent test runs on (each test runs on both)."""
    return str(request.param)


@pytest.fixture
def store_url(request: pytest.FixtureRequest, store_kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh store URL: an SQLite file in a temporary folder, or a fresh PostgreSQL schema
    whose home folder (keys, trust file) is that same temporary folder."""
    with fresh_store(store_kind, tmp_path / "store", request) as url:
        yield url


@contextmanager
def fresh_store(kind: str, home: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh store URL of ``kind`` whose files live in ``home`` (for any fixture scope)."""
    if kind == "sqlite":
        yield f"sqlite:///{home / 'cdlog.db'}"
        return
    with pg_schema(request.getfixturevalue("pg_server"), home) as url:
        yield url


@pytest.fixture
def more_stores(request: pytest.FixtureRequest, store_kind: str,
                tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """Makes further fresh store URLs of the test's kind (``name`` keeps them apart)."""
    with ExitStack() as stack:

        def make(name: str) -> str:
            return stack.enter_context(fresh_store(store_kind, tmp_path / name, request))

        yield make


@pytest.fixture
def raw(store_url: str) -> RawStore:
    """Direct SQL access to the test's store (see :class:`RawStore`)."""
    return RawStore(store_url)


LedgerApplicationRecorder = CdlogSQLiteApplicationRecorder | CdlogPostgresApplicationRecorder


@dataclass
class BareStore:
    """A bare Merkle-log recorder (no sealing: any bytes are a leaf) and raw access to it."""

    recorder: LedgerApplicationRecorder
    raw: RawStore

    @property
    def kind(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self.raw.kind


@pytest.fixture
def open_bare(request: pytest.FixtureRequest, store_kind: str,
              tmp_path: Path) -> Iterator[Callable[..., BareStore]]:
    """Opens fresh bare recorders of the test's store kind, each in its own file or schema;
    ``make(same_as=other)`` opens another recorder on ``other``'s store (a second writer)."""
    opened: list[BareStore] = []
    with ExitStack() as stack:

        def make(same_as: BareStore | None = None) -> BareStore:
            recorder: LedgerApplicationRecorder
            if same_as is not None:
                url = same_as.raw.url
            elif store_kind == "sqlite":
                url = f"sqlite:///{tmp_path / f'bare{len(opened)}.db'}"
            else:
                url = stack.enter_context(pg_schema(request.getfixturevalue("pg_server"),
                                                    tmp_path / f"bare{len(opened)}"))
            config = resolve_store(url)
            if store_kind == "sqlite":
                recorder = CdlogSQLiteApplicationRecorder(SQLiteDatastore(str(config.path)))
            else:
                recorder = CdlogPostgresApplicationRecorder(
                    PostgresDatastore(config.dbname, config.host, config.port, config.user,
                                      config.password, schema=config.schema, pool_size=2,
                                      max_overflow=8, lock_timeout=30),
                    events_table_name="cdlog_events")
            recorder.create_table()
            opened.append(BareStore(recorder, RawStore(url)))
            return opened[-1]

        try:
            yield make
        finally:
            for bare in opened:
                bare.recorder.datastore.close()


@pytest.fixture
def bare(open_bare: Callable[[], BareStore]) -> BareStore:
    """A fresh bare recorder of the test's store kind."""
    return open_bare()


@pytest.fixture
def world(store_url: str) -> Iterator[World]:
    """A fresh log with certified officers (see :data:`CAST`)."""
    w = build_world(store_url)
    yield w
    w.log.close()


def vectors_dir() -> Path:
    """The public test vectors in the repository (tests/vectors); fail loudly if they are
    missing (module-level use, for parametrisation)."""
    if not VECTORS.is_dir():
        msg = f"test vectors not found at {VECTORS}"
        raise RuntimeError(msg)
    return VECTORS


@pytest.fixture
def scenarios_dir() -> Path:
    """The example scenario files in the repository (examples/scenarios)."""
    if not any(SCENARIOS.glob("*.yaml")):
        pytest.fail(f"no scenario files in {SCENARIOS}")
    return SCENARIOS


def assert_one_line_refusal(result: Any, *needles: str, code: int = 2,
                            secret: str = "") -> str:
    """A CLI result that exits ``code`` with one ``cdlog:`` line on stderr naming every
    needle, no traceback, and ``secret`` (a passphrase) nowhere; returns the line."""
    err = result.stderr
    assert result.exit_code == code, (result.stdout, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("cdlog: "), err
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    if secret:
        assert secret not in result.output
    return str(lines[0])


def store_snapshot(raw: Any, folder: Path) -> tuple[Any, ...]:
    """A store's events and Merkle tree (``raw``: a :class:`RawStore`) and every entry of
    ``folder`` with its bytes, to compare before and after a refused command."""
    events = raw.rows("SELECT {nid}, state FROM {events} ORDER BY {nid}")
    leaves = raw.rows("SELECT COUNT(*) FROM {leaves}")
    nodes = raw.rows("SELECT COUNT(*) FROM {nodes}")
    files = sorted((p.name, p.read_bytes() if p.is_file() else b"<not a file>")
                   for p in folder.iterdir())
    return events, leaves, nodes, files


# ------------------------------------------------------------ restricted data (tests/restricted)
@pytest.fixture
def kek(world: World) -> X25519KeyWrapper:
    """CBP's key-encryption key, loaded in the world's log."""
    from restricted_kit import load_kek

    return load_kek(world)


@pytest.fixture
def pworld(world: World, kek: X25519KeyWrapper) -> World:
    """The world with CBP's KEK loaded (wrapping and unwrapping)."""
    return world
