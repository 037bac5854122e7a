"""Stores that are opened safely and fail clearly (issue 9, observations 3, 4 and 5).

* Opening without ``create`` (what every read-only command does) never makes a file, a
  folder or a table: a missing store is a :class:`StoreError` naming its absolute path (or
  server, database and schema) and saying how a store is made.
* A damaged, read-only or locked SQLite file, an unreachable PostgreSQL server, a wrong
  password, a missing database or schema: one line on stderr, ``cdlog: store: ...``, naming
  the file or server and the cause, exit 2, and the store (events, tree, checkpoints, key
  files) exactly as it was.
* No password from a store URL in any message, ``repr`` or output.

API-level tests use :class:`CaseLog` directly; CLI-level tests run ``cdlog`` as a user does,
in a subprocess.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib
import logging
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cdlog.application import CaseLog
from cdlog.cli.main import cli
from cdlog.errors import ConfigurationError, StoreError
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.checkpoint_signing import note_signer, sign_checkpoint
from cdlog.store.urls import resolve_store
from cdlog.verify.runner import verify_store

if TYPE_CHECKING:
    from conftest import RawStore, World

importlib.import_module("cdlog.cli.verify_cmd")  # registers verify and cases with the group

CDLOG = [sys.executable, "-m", "cdlog"]
PASSPHRASE = "store-faults-test-passphrase"
SCENARIOS = Path(__file__).resolve().parents[1] / "examples" / "scenarios"
SCENARIO_A = SCENARIOS / "A-MIA-CD-ACCEPTED.yaml"
SCENARIO_C = SCENARIOS / "C-SYS-DECLINED-ADMIN.yaml"
PASSWORD = "s3cret-Pa55"


# ------------------------------------------------------------------------------ helpers
def cdlog(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
          preexec_fn: Callable[[], None] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``cdlog ARGS`` as a user would (no terminal; the test passphrase set)."""
    full = {**os.environ, "CDLOG_PASSPHRASE": PASSPHRASE, **(env or {})}
    full.pop("CDLOG_STORE", None)
    return subprocess.run([*CDLOG, *args], capture_output=True, text=True, cwd=cwd, env=full,
                          stdin=subprocess.DEVNULL, preexec_fn=preexec_fn,
                          timeout=timeout, check=False)


def store_line(result: subprocess.CompletedProcess[str]) -> str:
    """The one line a refused command printed: exit 2, ``cdlog: store: ...``, no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cdlog: store: "), lines[0]
    assert "Traceback" not in result.stderr
    return lines[0]


def files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (SQLite's transient -wal/-shm files aside) and its digest."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(("-wal", "-shm"))}


def sqlite_rows(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the events, Merkle and checkpoint tables of an SQLite store."""
    conn = sqlite3.connect(path)
    try:
        return {table: list(conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2"))
                for table in ("stored_events", "merkle_leaves", "merkle_nodes", "checkpoints",
                              "cosignatures")}
    finally:
        conn.close()


def pg_tables(url: str) -> list[str]:
    """The tables in a PostgreSQL store's schema."""
    store = resolve_store(url)
    with psycopg.connect(host=store.host, port=store.port, dbname=store.dbname,
                         user=store.user, password=store.password) as conn:
        return sorted(str(r[0]) for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s", (store.schema,)))


def with_password(url: str, password: str) -> str:
    """``url`` (postgresql://user:pw@...) with another password."""
    head, _, tail = url.partition("@")
    user = head.rsplit(":", 1)[0]
    return f"{user}:{password}@{tail}"


def _no_permission_override() -> None:
    """In the child, before ``exec``: drop CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and
    CAP_FOWNER from the bounding set, so that a process running as root obeys file modes as
    any other user does (Linux ``prctl(PR_CAPBSET_DROP)``)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2, 3):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


@contextmanager
def read_only(folder: Path, *, folder_too: bool) -> Iterator[Callable[[], None] | None]:
    """Make the store file in ``folder`` read-only (chmod 0444; with ``folder_too`` the
    folder as well, 0555) and yield what a ``cdlog`` child needs to be refused as a user is.

    A user without write permission on the file is the real case. Tests often run as root
    (CI containers), and root ignores file modes through its CAP_DAC_OVERRIDE capability; so
    when the tests run as root the child drops that capability before it starts (and is then
    refused by the kernel exactly as any other user would be: ``EACCES``/read-only open).
    Run as an ordinary user, the child runs unchanged.
    """
    db = folder / "cdlog.db"
    db.chmod(0o444)
    if folder_too:
        folder.chmod(0o555)
    try:
        yield _no_permission_override if os.geteuid() == 0 else None
    finally:
        folder.chmod(0o755)
        db.chmod(0o644)


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Another process' view: an SQLite connection holding ``BEGIN EXCLUSIVE`` on the file."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN EXCLUSIVE")
        yield
        conn.execute("ROLLBACK")
    finally:
        conn.close()


# ------------------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two store folders made by the CLI: ``a`` holds scenario A and a signed checkpoint
    (scenario C can still be replayed into it); ``ac`` holds A, that checkpoint, then C (so
    ``cdlog checkpoint`` has a grown log to sign)."""
    root = tmp_path_factory.mktemp("store-faults")
    folder = root / "build"
    url = f"sqlite:///{folder / 'cdlog.db'}"
    for args in (("replay", str(SCENARIO_A)), ("checkpoint",)):
        result = cdlog("--store", url, *args)
        assert result.returncode == 0, result.stderr
    shutil.copytree(folder, root / "a")
    result = cdlog("--store", url, "replay", str(SCENARIO_C))
    assert result.returncode == 0, result.stderr
    shutil.copytree(folder, root / "ac")
    return {"a": root / "a", "ac": root / "ac"}


@pytest.fixture
def copy_of(bases: dict[str, Path], tmp_path: Path) -> Callable[[str], Path]:
    """A private copy of a base store folder (see :func:`bases`)."""

    def make(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(bases[name], target)
        return target

    return make


# ------------------------------------------------------------------ observation 3: no creating
def test_open_without_create_makes_nothing(store_url: str, tmp_path: Path) -> None:
    """create=False on a store that is not there: StoreError, and no file, folder or table."""
    with pytest.raises(StoreError) as caught:
        CaseLog(store_url, create=False)
    message = str(caught.value)
    assert "created by" in message
    store = resolve_store(store_url)
    if store.path is not None:
        assert f"no store at {store.path.resolve()}" in message
        assert not store.path.parent.exists()
    else:
        assert f"schema {store.schema!r}" in message
        assert "no table 'cdlog_events'" in message
        assert pg_tables(store_url) == []
    assert PASSWORD not in message


def test_created_says_whether_this_open_made_the_store(store_url: str) -> None:
    """CaseLog.created: True for the open that made the store, False afterwards."""
    with CaseLog(store_url) as log:
        assert log.created
    with CaseLog(store_url) as log:
        assert not log.created
    with CaseLog.open(store_url, create=False) as log:
        assert not log.created
        assert log.max_position() == 0


def test_relative_sqlite_url_is_named_by_absolute_path(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """``sqlite:///tmp/x`` is ./tmp/x: refused without create (nothing made), and a writing
    open says it created it; messages give the absolute path."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(StoreError, match=re.escape(f"no store at {tmp_path / 'tmp' / 'x'}:")):
        CaseLog("sqlite:///tmp/x", create=False)
    assert list(tmp_path.iterdir()) == []
    with CaseLog("sqlite:///tmp/x") as log:
        assert log.created
    assert (tmp_path / "tmp" / "x").is_file()


@pytest.mark.parametrize("create", [True, False])
def test_a_file_that_is_not_a_database_is_left_alone(tmp_path: Path, create: bool) -> None:
    """A text file given as a store is refused before anything is written to it."""
    notes = tmp_path / "notes.md"
    notes.write_text("# my notes\n" * 50)
    before = files(tmp_path)
    with pytest.raises(StoreError, match=re.escape(f"{notes} is not a cdlog store or is "
                                                   "damaged: file is not a database")):
        CaseLog(f"sqlite:///{notes}", create=create)
    assert files(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]


@pytest.mark.parametrize("create", [True, False])
def test_a_folder_is_not_a_store(tmp_path: Path, create: bool) -> None:
    """A folder given as the store file is refused, and left as it was."""
    (tmp_path / "cases").mkdir()
    with pytest.raises(StoreError, match=re.escape(f"{tmp_path / 'cases'} is not a store file")):
        CaseLog(f"sqlite:///{tmp_path / 'cases'}", create=create)
    assert list((tmp_path / "cases").iterdir()) == []


def test_another_sqlite_database_is_not_made_a_store_by_reading(tmp_path: Path) -> None:
    """An SQLite file of another program: a read-only open adds no table to it."""
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE mine (x)")
    conn.close()
    with pytest.raises(StoreError, match="is an SQLite database but not a cdlog store"):
        CaseLog(f"sqlite:///{other}", create=False)
    with sqlite3.connect(other) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["mine"]
    conn.close()


def test_read_only_commands_on_a_missing_store_create_nothing(
        store_url: str, store_kind: str, tmp_path: Path) -> None:
    """verify and cases on a store that is not there (an SQLite path in a missing folder, or a
    PostgreSQL schema without cdlog's tables): exit 2, one line, nothing created."""
    for args in (["verify"], ["verify", "--json"], ["cases"]):
        line = store_line(cdlog("--store", store_url, *args, cwd=tmp_path))
        if store_kind == "sqlite":
            assert f"no store at {resolve_store(store_url).path}" in line
        else:
            assert "no table 'cdlog_events'" in line
            assert pg_tables(store_url) == []
    if store_kind == "sqlite":
        assert not (tmp_path / "store").exists()


# ------------------------------------------------------------ observation 4: damaged stores
@pytest.mark.parametrize("args", [["verify"], ["verify", "--json"], ["cases"]],
                         ids=["verify", "verify-json", "cases"])
def test_store_cut_to_half_its_size(copy_of: Callable[[str], Path], args: list[str]) -> None:
    """A store file cut to half its size: one line naming the file and SQLite's cause."""
    folder = copy_of("ac")
    db = folder / "cdlog.db"
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 2)
    before = files(folder)
    line = store_line(cdlog("--store", f"sqlite:///{db}", *args))
    assert line == (f"cdlog: store: {db} is not a cdlog store or is damaged: "
                    "database disk image is malformed")
    assert files(folder) == before


@settings(max_examples=60)
@given(data=st.data())
def test_damaged_store_files(bases: dict[str, Path], data: st.DataObject) -> None:
    """Bytes of a store file zeroed, overwritten or cut off anywhere: verify and cases exit 0
    (nothing that matters was hit), 1 (a located verification failure) or 2 (one line naming
    the file: damaged); never a traceback or an internal error."""
    source = bases["ac"] / "cdlog.db"
    size = source.stat().st_size
    how = data.draw(st.sampled_from(["zero", "overwrite", "cut"]), label="how")
    start = data.draw(st.integers(0, size - 1), label="start")
    length = data.draw(st.integers(1, 4096), label="length")
    content = bytearray(source.read_bytes())
    if how == "cut":
        del content[start:]
    else:
        fill = (bytes(length) if how == "zero" else
                data.draw(st.binary(min_size=length, max_size=length), label="bytes"))
        content[start:start + length] = fill[:len(content) - start]
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "cdlog.db"
        db.write_bytes(bytes(content))
        for args in (["verify"], ["cases"]):
            result = CliRunner().invoke(cli, ["--store", f"sqlite:///{db}", *args])
            assert result.exit_code in (0, 1, 2), (args, result.output)
            assert "internal error" not in result.stderr, (args, result.stderr)
            assert "Traceback" not in result.output
            lines = result.stderr.splitlines()
            if result.exit_code == 2:
                assert lines == [lines[0]], lines
                assert lines[0].startswith(f"cdlog: store: {db}"), lines[0]
        assert db.read_bytes() == bytes(content)


@pytest.mark.parametrize("folder_too", [False, True], ids=["file", "file-and-folder"])
@pytest.mark.parametrize("command", ["replay", "checkpoint"])
def test_writing_to_a_read_only_store(copy_of: Callable[[str], Path], command: str,
                                      folder_too: bool) -> None:
    """replay and checkpoint on a store file the user may not write: one line, exit 2, and
    the events, tree, checkpoints and key files unchanged."""
    folder = copy_of("a" if command == "replay" else "ac")
    db = folder / "cdlog.db"
    args = ["replay", str(SCENARIO_C)] if command == "replay" else ["checkpoint"]
    rows, before = sqlite_rows(db), files(folder)
    with read_only(folder, folder_too=folder_too) as preexec:
        line = store_line(cdlog("--store", f"sqlite:///{db}", *args, preexec_fn=preexec))
    assert line.startswith(f"cdlog: store: {db} is read-only")
    assert sqlite_rows(db) == rows
    assert files(folder) == before
    # the same command succeeds once the file may be written: the refusal was the mode only
    assert cdlog("--store", f"sqlite:///{db}", *args).returncode == 0


@pytest.mark.parametrize("folder_too", [False, True], ids=["file", "file-and-folder"])
def test_reading_a_read_only_store(copy_of: Callable[[str], Path], folder_too: bool) -> None:
    """Read-only commands work on a store the user may only read (read-only media, another
    user's files) and write nothing; in a read-only folder not even SQLite's -wal/-shm."""
    folder = copy_of("ac")
    db = folder / "cdlog.db"
    before, names = files(folder), sorted(p.name for p in folder.iterdir())
    with read_only(folder, folder_too=folder_too) as preexec:
        for args, expected in ((["verify"], "OK: "), (["verify", "--json"], '"ok": true'),
                               (["cases"], "case:OP-2006-0001")):
            result = cdlog("--store", f"sqlite:///{db}", *args, preexec_fn=preexec)
            assert result.returncode == 0, result.stderr
            assert expected in result.stdout
        if folder_too:
            assert sorted(p.name for p in folder.iterdir()) == names
    assert files(folder) == before


def test_new_store_in_a_folder_the_user_may_not_write(tmp_path: Path) -> None:
    """A writing command that would create a store in a folder the user may not write: one
    line naming the file and the cause, exit 2, the folder left empty."""
    folder = tmp_path / "archive"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        preexec = _no_permission_override if os.geteuid() == 0 else None
        line = store_line(cdlog("--store", f"sqlite:///{folder / 'new.db'}", "keys",
                                "init-root", "CBP", "--out", str(tmp_path / "cbp.key"),
                                preexec_fn=preexec))
    finally:
        folder.chmod(0o755)
    assert line == f"cdlog: store: {folder / 'new.db'} cannot be opened: permission denied"
    assert list(folder.iterdir()) == []
    assert not (tmp_path / "cbp.key").exists()


@pytest.mark.parametrize("command", ["replay", "checkpoint"])
def test_writing_to_a_locked_store(copy_of: Callable[[str], Path], command: str) -> None:
    """Another process holds the store's write lock: after CDLOG_LOCK_TIMEOUT seconds, one
    line saying so, exit 2, nothing written."""
    folder = copy_of("a" if command == "replay" else "ac")
    db = folder / "cdlog.db"
    args = ["replay", str(SCENARIO_C)] if command == "replay" else ["checkpoint"]
    rows, before = sqlite_rows(db), files(folder)
    with locked(db):
        started = time.monotonic()
        line = store_line(cdlog("--store", f"sqlite:///{db}", *args,
                                env={"CDLOG_LOCK_TIMEOUT": "1"}))
        assert time.monotonic() - started < 20
    assert line == (f"cdlog: store: {db} is locked by another process (waited 1 s; "
                    "CDLOG_LOCK_TIMEOUT sets how long)")
    assert sqlite_rows(db) == rows
    assert files(folder) == before


def test_reading_a_locked_store_still_works(copy_of: Callable[[str], Path]) -> None:
    """A writer's lock does not stop readers (WAL): verify runs while another holds it."""
    folder = copy_of("ac")
    db = folder / "cdlog.db"
    with locked(db):
        result = cdlog("--store", f"sqlite:///{db}", "verify", env={"CDLOG_LOCK_TIMEOUT": "1"})
    assert result.returncode == 0, result.stderr


def test_lock_timeout_must_be_a_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A malformed CDLOG_LOCK_TIMEOUT is a configuration error naming it."""
    monkeypatch.setenv("CDLOG_LOCK_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="CDLOG_LOCK_TIMEOUT='soon'"):
        CaseLog(f"sqlite:///{tmp_path / 'x.db'}")


@contextmanager
def hold_lock(raw: RawStore) -> Iterator[None]:
    """Hold the events table's write lock from another connection (either kind of store)."""
    if raw.kind == "sqlite":
        assert raw.config.path is not None
        with locked(raw.config.path):
            yield
        return
    with raw.connect() as conn:
        conn.execute(raw.sql("LOCK TABLE {events} IN EXCLUSIVE MODE"))
        yield
        conn.rollback()


def test_locked_store_api(world: World, store_url: str, raw: RawStore,
                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the API, on both kinds of store: a write that meets another process' lock is a
    StoreError saying so; nothing is written, and the same log writes once the lock is gone."""
    monkeypatch.setenv("CDLOG_LOCK_TIMEOUT", "1")
    log = CaseLog(store_url)
    signer = note_signer(Ed25519Signer.generate(), log.log_id)
    events = raw.rows("SELECT COUNT(*) FROM {events}")
    try:
        with hold_lock(raw), pytest.raises(StoreError) as caught:
            sign_checkpoint(log, signer)
        assert "is locked by another process (waited 1 s" in str(caught.value)
        assert PASSWORD not in str(caught.value)
        assert raw.rows("SELECT COUNT(*) FROM {checkpoints}") == [(0,)]
        assert raw.rows("SELECT COUNT(*) FROM {events}") == events
        assert sign_checkpoint(log, signer).size == events[0][0]
    finally:
        log.close()


def test_record_on_locked_store_then_again(world: World, raw: RawStore, store_url: str,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """An event recorded while another process holds the store's write lock: StoreError
    after the lock timeout (once, not retried), nothing saved; recorded again once it is
    released, it is saved once (the log stays usable)."""
    monkeypatch.setenv("CDLOG_LOCK_TIMEOUT", "1")
    stream = world.open_case("OP-LOCK-1")
    log = CaseLog(store_url)
    count = raw.rows("SELECT COUNT(*) FROM {events}")
    try:
        started = time.monotonic()
        with hold_lock(raw), pytest.raises(StoreError, match="locked by another process"):
            log.record(stream, "ConveyanceArrived", {"refs": {"bol": "B-1"}},
                       signer=world.signers["cbpo"], at=world.t(5), recorded=world.t(5))
        assert time.monotonic() - started < 5
        assert raw.rows("SELECT COUNT(*) FROM {events}") == count
        sealed = log.record(stream, "ConveyanceArrived", {"refs": {"bol": "B-1"}},
                            signer=world.signers["cbpo"], at=world.t(5), recorded=world.t(5))
        assert sealed.version == 2
    finally:
        log.close()


# --------------------------------------------------------------- observation 5: PostgreSQL
def test_postgres_connection_refused_is_fast_and_keeps_the_password(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """A port where nothing listens: within seconds, "connection refused", never the password
    (API with every logger at DEBUG, CLI with debug logs, a reading and a writing command)."""
    url = f"postgresql://cdlog:{PASSWORD}@127.0.0.1:1/cdlog?home={tmp_path / 'home'}"
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        CaseLog(url)
    assert time.monotonic() - started < 5
    assert str(caught.value) == "cannot connect to PostgreSQL at 127.0.0.1:1: connection refused"
    assert PASSWORD not in caplog.text
    for args in (["verify"], ["-vv", "--json-logs", "verify"], ["replay", str(SCENARIO_A)]):
        started = time.monotonic()
        result = cdlog("--store", url, *args, cwd=tmp_path)
        assert time.monotonic() - started < 10
        assert store_line(result) == ("cdlog: store: cannot connect to PostgreSQL at "
                                      "127.0.0.1:1: connection refused")
        assert PASSWORD not in result.stdout + result.stderr
    assert not (tmp_path / "home" / "keys").exists()


def test_postgres_server_that_never_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A port that accepts connections and never answers (a hung server, a firewall that
    swallows packets): the open gives up after the connect timeout and says so."""
    monkeypatch.setenv("POSTGRES_CONNECT_TIMEOUT", "2")
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(StoreError) as caught:
            CaseLog(f"postgresql://cdlog:{PASSWORD}@127.0.0.1:{port}/cdlog")
        assert time.monotonic() - started < 8
    assert str(caught.value) == (f"cannot connect to PostgreSQL at 127.0.0.1:{port}: "
                                 "no answer within 2 s")


def test_postgres_wrong_password_missing_database_and_schema(pg_server: str,
                                                             tmp_path: Path) -> None:
    """Each cause in its own words; the wrong password is not printed."""
    base = pg_server.split("?", 1)[0]
    store = resolve_store(base)
    server = f"PostgreSQL at {store.host}:{store.port}"
    cases = {
        with_password(base, PASSWORD):
            f"{server} refused user {store.user!r}: password authentication failed",
        base.rsplit("/", 1)[0] + "/no_such_db_for_cdlog":
            f"{server} has no database 'no_such_db_for_cdlog'",
        base + "?schema=no_such_schema":
            "there is no schema 'no_such_schema' (create it first: "
            'CREATE SCHEMA "no_such_schema")',
    }
    for url, expected in cases.items():
        with pytest.raises(StoreError) as caught:
            CaseLog(url)
        assert expected in str(caught.value)
        result = cdlog("--store", url, "cases", cwd=tmp_path)
        assert expected in store_line(result)
        assert PASSWORD not in result.stdout + result.stderr


def test_store_config_never_shows_the_password() -> None:
    """repr, redacted and the configuration errors of a URL hide the password."""
    store = resolve_store(f"postgresql://me:{PASSWORD}@db.example:5433/cases?schema=s")
    assert PASSWORD not in repr(store)
    assert store.redacted == "postgresql://me:***@db.example:5433/cases?schema=s"
    assert store.password == PASSWORD
    odd = resolve_store("postgresql://me:p@ss:w@rd@db.example/cases")  # '@' not encoded
    assert odd.password == "p@ss:w@rd"
    assert odd.redacted == "postgresql://me:***@db.example/cases"
    assert "w@rd" not in repr(odd)
    for bad in (f"postgresql://me:{PASSWORD}@db.example:5433/",
                f"postgresql://me:{PASSWORD}@db.example:port/x",
                f"postgres-ql://me:{PASSWORD}@db.example/x"):
        with pytest.raises(ConfigurationError) as caught:
            resolve_store(bad)
        assert PASSWORD not in str(caught.value)
        assert "***" in str(caught.value)


@pytest.mark.parametrize("workers", [1, 2])
def test_damaged_index_page_fails_verify(copy_of: Callable[[str], Path], workers: int) -> None:
    """Bytes of an index page changed: every event still reads, so the replay alone passed;
    SQLite's quick_check finds it, and verify fails (exit 1) with a located `store` failure
    naming the file, serial or parallel, without writing anything."""
    folder = copy_of("ac")
    db = folder / "cdlog.db"
    conn = sqlite3.connect(db)
    size = conn.execute("PRAGMA page_size").fetchone()[0]
    (page,) = conn.execute("SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf'",
                           ("sqlite_autoindex_stored_events_1",)).fetchone()
    conn.close()
    content = bytearray(db.read_bytes())
    for i in range(page * size - 40, page * size - 8):
        content[i] ^= 0x01
    db.write_bytes(bytes(content))
    before = files(folder)
    with CaseLog(f"sqlite:///{db}", create=False) as log:
        report = verify_store(log, workers=workers)
    assert [(f.case, f.check) for f in report.failures] == [("<store>", "store")]
    assert str(db) in report.failures[0].detail
    assert "quick_check" in report.failures[0].detail
    result = cdlog("--store", f"sqlite:///{db}", "verify")
    assert result.returncode == 1, result.stderr
    assert "<store>: store: " in result.stdout + result.stderr
    assert files(folder) == before
