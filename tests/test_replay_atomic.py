"""A replay writes all or nothing (issue 9, observations 2 and 8).

A scenario, or every scenario of one ``cdlog replay``, is prepared in one batch of the log and
saved in one transaction: a misspelt event type, a step missing a required field, a refused
step or Ctrl-C (during preparation or in the middle of the save) leave the store's events,
Merkle tree, key files and trust file as they were, and the corrected file then replays
cleanly. ``--dry-run`` checks the same way and writes nothing. Underneath: batches nest
(commands inside an open batch join it), ``state``/``context`` see the batch's own events,
certificate serials stay distinct inside one batch.
"""

from __future__ import annotations

import copy
import os
import pty
import select
import signal
import sqlite3
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest
import structlog
import yaml
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import cdlog
import cdlog.cli.cases_cmd
from cdlog.application import CaseLog
from cdlog.canonical import parse_time
from cdlog.cli.demo_keys import root_key_path
from cdlog.cli.main import cli
from cdlog.domain.values import Officer
from cdlog.errors import CdlogError, InputError, RuleViolationError
from cdlog.keys.keyfile import read_key_file
from cdlog.keys.signer import Ed25519Signer, Signer
from cdlog.log.ledger import LedgerCursor
from cdlog.log.pgledger import probe
from cdlog.logging import capture_logs
from cdlog.scenario import Replayer, load_scenario, replay
from cdlog.store.urls import resolve_store
from cdlog.verify.runner import verify_store

if TYPE_CHECKING:
    from conftest import World

assert cdlog.cli.cases_cmd.replay is not None  # registers the command

DATA = Path(cdlog.__file__).resolve().parent / "demo_data"
A = DATA / "A-MIA-CD-ACCEPTED.yaml"
C = DATA / "C-SYS-DECLINED-ADMIN.yaml"
PASSPHRASE = "test-passphrase-only"
CDLOG = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "cdlog"


def key_events(path: Path, agencies: set[str]) -> int:
    """Key events a replay of ``path`` records when ``agencies`` have roots already: a root
    for each other agency of its actors and a certificate per actor."""
    actors = load_scenario(path).actors.values()
    return len({o.agency for o in actors} - agencies) + len(actors)


def agencies(path: Path) -> set[str]:
    """The agencies of a scenario's actors."""
    return {o.agency for o in load_scenario(path).actors.values()}


def recorded_events(path: Path) -> int:
    """Events a replay of ``path`` records: its case's CaseOpened and every step that is not
    derived."""
    steps = load_scenario(path).events
    return 1 + sum(1 for step in steps if not step.get("derived"))


C_STEPS = recorded_events(C)
C_KEYS = key_events(C, set())


def root_keeper() -> Callable[[str], Signer]:
    """A root source for replays that gives each agency the same root every time."""
    roots: dict[str, Signer] = {}
    return lambda agency: roots.setdefault(agency, Ed25519Signer.generate())


def loaded(path: Path) -> dict[str, Any]:
    """A scenario file as YAML data, to edit."""
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def misspelt(path: Path = C) -> dict[str, Any]:
    """The scenario with its tenth step's type misspelt (``PenaltyAsessed``)."""
    data = copy.deepcopy(loaded(path))
    assert data["events"][9]["type"] == "PenaltyAssessed"
    data["events"][9]["type"] = "PenaltyAsessed"
    return data


def missing_field(path: Path = C) -> dict[str, Any]:
    """The scenario with a required field dropped from its third step (the items found)."""
    data = copy.deepcopy(loaded(path))
    assert data["events"][2]["type"] == "ContrabandDiscovered"
    del data["events"][2]["items"]
    return data


def snapshot(url: str) -> tuple[list[tuple[Any, ...]], ...]:
    """Every event row (id, case, version, bytes) and Merkle row of a store, read with plain
    SQL (an empty tuple of lists for a store without tables)."""
    store = resolve_store(url)
    if store.path is not None:
        names = {"events": "stored_events", "nid": "rowid", "leaves": "merkle_leaves",
                 "nodes": "merkle_nodes"}
        conn: Any = sqlite3.connect(store.path)
    else:
        schema = store.schema or "public"
        names = {t: f'"{schema}"."cdlog_{n}"' for t, n in (
            ("events", "events"), ("leaves", "merkle_leaves"), ("nodes", "merkle_nodes"))}
        names["nid"] = "notification_id"
        conn = psycopg.connect(host=store.host, port=store.port, dbname=store.dbname,
                               user=store.user, password=store.password)
    try:
        def rows(text: str) -> list[tuple[Any, ...]]:
            return [tuple(bytes(v) if isinstance(v, bytes | memoryview) else str(v)
                          for v in row) for row in conn.execute(text.format(**names))]

        return (rows("SELECT {nid}, originator_id, originator_version, state FROM {events} "
                     "ORDER BY {nid}"),
                rows("SELECT * FROM {leaves} ORDER BY 1"),
                rows("SELECT * FROM {nodes} ORDER BY 1, 2"))
    finally:
        conn.close()


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (relative name -> bytes); the store's own files left out."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.startswith("cdlog.db")}


@pytest.fixture
def log(store_url: str) -> Iterator[CaseLog]:
    """A fresh, empty log."""
    with CaseLog(store_url) as fresh:
        yield fresh


# ---------------------------------------------------------------- API: all or nothing
@pytest.mark.parametrize("bad", [misspelt, missing_field], ids=["misspelt-type", "no-items"])
def test_a_bad_step_saves_nothing_and_the_fixed_file_then_replays(
        log: CaseLog, store_url: str, bad: Any) -> None:
    """Issue 9.2: a misspelt type or a missing field used to leave the certificates and the
    first steps (19-21 events) in the log, and the corrected file then failed ("must begin
    with CaseOpened, once"). Now nothing is saved and the corrected file replays."""
    before = snapshot(store_url)
    with pytest.raises(InputError) as refused:
        Replayer(log).replay(bad())
    assert refused.value.field.startswith(("step 10 (PenaltyAsessed)", "step 3 (Contraband"))
    assert snapshot(store_url) == before
    assert log.max_position() == 0
    [result] = replay(log, [C])
    assert (result.recorded, result.keys, result.derived_checked) == (C_STEPS, C_KEYS, 1)
    assert log.max_position() == C_STEPS + C_KEYS
    assert verify_store(log).ok


def test_several_scenarios_are_one_transaction(log: CaseLog, store_url: str) -> None:
    """``replay_all`` of a good and a bad scenario saves neither; the roots the first one
    made are forgotten, so the next replay establishes them (and verifies)."""
    replayer = Replayer(log, root_signer=lambda agency: Ed25519Signer.generate())
    with pytest.raises(InputError):
        replayer.replay_all([A, misspelt()])
    assert snapshot(store_url) == ([], [], [])
    results = replayer.replay_all([A, C])
    assert [r.recorded for r in results] == [49, C_STEPS]
    assert verify_store(log).ok


def test_a_scenario_already_in_the_log_is_named(log: CaseLog, store_url: str) -> None:
    """Replaying a scenario a second time is refused before anything is prepared, naming
    its case stream, and nothing is added (no second set of certificates)."""
    replay(log, [C])
    before = snapshot(store_url)
    replayer = Replayer(log, root_signer=lambda agency: Ed25519Signer.generate())
    with pytest.raises(RuleViolationError, match="case:C-SYS-DECLINED-ADMIN already holds"):
        replayer.replay(C)
    assert snapshot(store_url) == before


def test_interrupted_preparation_saves_nothing(log: CaseLog, store_url: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C while the steps are being signed (the 25th signature) leaves the store as it
    was; the same replay afterwards records everything."""
    replayer = Replayer(log, root_keeper())
    replayer.replay(A)
    before = snapshot(store_url)
    sign = Ed25519Signer.sign
    calls = []

    def interrupted(self: Ed25519Signer, message: bytes) -> bytes:
        calls.append(1)
        if len(calls) == 25:
            raise KeyboardInterrupt
        return sign(self, message)

    monkeypatch.setattr(Ed25519Signer, "sign", interrupted)
    with pytest.raises(KeyboardInterrupt):
        replayer.replay(C)
    monkeypatch.setattr(Ed25519Signer, "sign", sign)
    assert snapshot(store_url) == before
    result = replayer.replay(C)
    assert result.recorded == C_STEPS
    assert verify_store(log).ok


def test_interrupted_save_saves_nothing(log: CaseLog, store_url: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in the middle of the save (the events and their Merkle leaves and nodes
    inserted, not yet committed) rolls the whole transaction back."""
    keeper = root_keeper()
    replayer = Replayer(log, keeper)
    replayer.replay(A)
    before = snapshot(store_url)
    flush = LedgerCursor._flush
    calls = []

    def interrupted(self: LedgerCursor) -> None:
        flush(self)
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(LedgerCursor, "_flush", interrupted)
    with pytest.raises(KeyboardInterrupt):
        replayer.replay(C)
    monkeypatch.setattr(LedgerCursor, "_flush", flush)
    assert calls == [1]
    assert snapshot(store_url) == before
    with CaseLog(store_url) as fresh:  # a new reader sees the old log, whole
        assert fresh.max_position() == len(before[0])
        result = Replayer(fresh, keeper).replay(C)
        assert result.recorded == C_STEPS
        assert verify_store(fresh).ok


def test_dry_run_prepares_everything_and_saves_nothing(log: CaseLog, store_url: str) -> None:
    """A dry run reports what would be recorded, scenario by scenario (each seeing the ones
    before it), and saves nothing; the real replay then records exactly that."""
    replayer = Replayer(log, root_signer=lambda agency: Ed25519Signer.generate())
    dry = replayer.replay_all([A, C], dry_run=True)
    assert [(r.recorded, r.derived_checked, r.streams) for r in dry] == [
        (49, 0, ["case:OP-2006-0001", "pnr:K-PNR-0001", "pnr-access:2006-03"]),
        (C_STEPS, 1, ["case:C-SYS-DECLINED-ADMIN"])]
    assert snapshot(store_url) == ([], [], [])
    real = replayer.replay_all([A, C])
    assert [(r.recorded, r.keys) for r in real] == [(d.recorded, d.keys) for d in dry]
    assert log.max_position() == sum(r.recorded + r.keys for r in real)
    with pytest.raises(InputError):
        replayer.replay_all([misspelt()], dry_run=True)


EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "scenarios"


def test_every_example_replays_in_one_go_with_its_origin(log: CaseLog) -> None:
    """Every example scenario (those with an ``origin:`` block too) replays in one
    transaction; a case opens with the origin its file names, or none."""
    files = sorted(EXAMPLES.rglob("*.yaml"))
    assert any(load_scenario(f).origin for f in files)
    results = Replayer(log, root_keeper()).replay_all(files)
    for result in results:
        opened = log.events(result.scenario.case_stream)[0]
        origin = result.scenario.origin
        assert opened.payload.get("origin", {}).get("kind") == (origin or {}).get("kind")
    assert log.max_position() == sum(r.recorded + r.keys for r in results)
    assert verify_store(log).ok


def test_no_dry_run_inside_an_open_batch(log: CaseLog) -> None:
    """A dry run cannot leave a caller's open batch unchanged: it is refused."""
    with log.batch(), pytest.raises(InputError, match="inside an open batch"):
        Replayer(log).replay_all([C], dry_run=True)
    assert log.max_position() == 0


def test_replay_joins_an_open_batch(log: CaseLog, store_url: str) -> None:
    """A replay inside a caller's batch is saved with it, or not at all."""
    seen = []

    def abandoned() -> None:
        with log.batch():
            [result] = replay(log, [C])
            seen.extend([result.recorded, log.state("case:C-SYS-DECLINED-ADMIN").version])
            raise RuntimeError("the caller changes its mind")

    with pytest.raises(RuntimeError):
        abandoned()
    assert seen == [C_STEPS, C_STEPS]  # the pending case, seen inside the batch
    assert snapshot(store_url) == ([], [], [])
    assert log.state("case:C-SYS-DECLINED-ADMIN").version == 0


EDITS = ("drop-field", "misspell-type", "earlier-time", "unknown-actor", "bad-time")


@settings(max_examples=30)
@given(data=st.data())
def test_any_edited_step_replays_whole_or_not_at_all(data: st.DataObject) -> None:
    """Property: scenario C with one step edited (a field dropped, the type misspelt, the
    time moved a day back, an unknown actor, a time that is not one) either replays whole
    and verifies, or is refused with a cdlog error and leaves the store as it was; never a
    raw exception, never part of it."""
    scenario = copy.deepcopy(loaded(C))
    steps = scenario["events"]
    i = data.draw(st.integers(0, len(steps) - 1), label="step")
    step = steps[i]
    edit = data.draw(st.sampled_from(EDITS), label="edit")
    if edit == "drop-field":
        fields = sorted(k for k in step if k not in {"t", "type"})
        if fields:
            del step[data.draw(st.sampled_from(fields), label="field")]
    elif edit == "misspell-type":
        step["type"] = str(step["type"])[:-1]
    elif edit == "earlier-time":
        step["t"] = (parse_time(str(step["t"])) - timedelta(days=1)).isoformat()
    elif edit == "unknown-actor":
        step["actor"] = "nobody"
    else:
        step["t"] = "yesterday"
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/cdlog.db"
        with CaseLog(url) as log:
            replayer = Replayer(log, root_keeper())
            replayer.replay(A)
            before = snapshot(url)
            try:
                result = replayer.replay(scenario)
            except CdlogError:
                assert snapshot(url) == before
                return
            assert log.max_position() == len(before[0]) + result.recorded + result.keys
            assert verify_store(log).ok


# ---------------------------------------------------------------- API: nested batches
def test_commands_inside_a_batch_join_it(world: World, store_url: str) -> None:
    """``record``, ``open_case`` and ``certify_officer`` inside an open batch join it:
    nothing is visible to another reader until the batch ends, ``state`` inside sees the
    pending events, the certificates get distinct serials, and an error saves nothing."""
    before = snapshot(store_url)
    start = world.t(-60)
    officers = [Officer(id=f"CBP-80{n}", role="CBPO", agency="CBP", office="OFO")
                for n in range(2)]
    seen: list[int] = []

    def abandoned() -> None:
        with world.log.batch():
            case = world.open_case("OP-N-1")
            world.rec(case, "ExaminationReferred", {"reason": "targeting"}, by="cbpo", at=5)
            seen.append(world.log.state(case).version)
            certs = [world.log.certify_officer(
                world.roots["CBP"], o, Ed25519Signer.generate().public_key, not_before=start,
                not_after=start + timedelta(days=30), at=world.t(6)) for o in officers]
            seen.append(len({c.certificate.serial for c in certs}))
            with CaseLog(store_url) as reader:
                seen.append(reader.max_position())
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError):
        abandoned()
    assert seen == [2, 2, len(before[0])]
    assert snapshot(store_url) == before
    with world.log.batch():
        case = world.open_case("OP-N-1")
        world.rec(case, "ExaminationReferred", {"reason": "targeting"}, by="cbpo", at=5)
        certs = [world.log.certify_officer(world.roots["CBP"], o,
                                           Ed25519Signer.generate().public_key,
                                           not_before=start,
                                           not_after=start + timedelta(days=30), at=world.t(6))
                 for o in officers]
    assert [e.type for e in world.log.events(case)] == ["CaseOpened", "ExaminationReferred"]
    assert [c.certificate.serial for c in certs] == [len(before[0]) + 3, len(before[0]) + 4]
    assert verify_store(world.log).ok


def test_a_root_and_its_officers_in_one_batch(log: CaseLog, store_url: str) -> None:
    """``establish_root`` and ``certify_officer`` by that root join one batch: the second
    sees the first (the batch's context), and both are saved together."""
    root = Ed25519Signer.generate()
    start = parse_time("2006-03-13T06:00:00-05:00")
    with log.batch() as b:
        log.establish_root("CBP", root, at=start)
        log.certify_officer(root, Officer(id="CBP-7001", role="CBPO", agency="CBP",
                                          office="OFO"),
                            Ed25519Signer.generate().public_key, not_before=start,
                            not_after=start + timedelta(days=30), at=start)
        assert len(b.events) == 2
        assert log.max_position() == 0
    assert log.max_position() == 2
    assert verify_store(log).ok


def test_a_refused_command_inside_a_batch_may_be_handled(world: World, store_url: str) -> None:
    """A command refused inside a batch before any of its events was prepared leaves the
    batch whole: the caller may handle the refusal and go on."""
    with world.log.batch():
        case = world.open_case("OP-N-2")
        with pytest.raises(RuleViolationError):
            world.rec(case, "NotificationAcknowledged", {}, by="oi_duty", at=5)
        world.rec(case, "ExaminationReferred", {"reason": "targeting"}, by="cbpo", at=6)
    assert [e.type for e in world.log.events(case)] == ["CaseOpened", "ExaminationReferred"]


def test_a_batch_spoilt_part_way_saves_nothing(world: World, store_url: str) -> None:
    """An inner batch that fails after preparing some of its events spoils the outer one:
    even when the caller swallows the error, the outer batch saves nothing and says why."""
    before = snapshot(store_url)

    def swallowed() -> None:
        with world.log.batch():
            case = world.open_case("OP-N-3")
            try:
                with world.log.batch() as inner:
                    inner.record(case, "ExaminationReferred", {"reason": "x"},
                                 signer=world.signers["cbpo"], at=world.t(5),
                                 recorded=world.t(5))
                    inner.record(case, "NoSuchType", {}, signer=world.signers["cbpo"],
                                 at=world.t(6), recorded=world.t(6))
            except InputError:
                pass

    with pytest.raises(InputError, match="failed after part of it was prepared"):
        swallowed()
    assert snapshot(store_url) == before


def test_a_nested_batch_is_prepared_again_when_keys_change(world: World,
                                                          store_url: str) -> None:
    """Another writer certifies a key while a batch of nested commands is open: the batch is
    prepared again from every nested call and saved once, after it."""
    case = world.open_case()
    with capture_logs() as logs, CaseLog(store_url) as other, world.log.batch():
        world.rec(case, "ExaminationReferred", {"reason": "targeting"}, by="cbpo", at=5)
        start = world.t(-60)
        other.certify_officer(world.roots["CBP"],
                              Officer(id="CBP-8899", role="CBPO", agency="CBP", office="OFO"),
                              Ed25519Signer.generate().public_key, not_before=start,
                              not_after=start + timedelta(days=30), at=world.t(1))
        world.rec(case, "ExaminationConducted", {"method": "NII", "result": "alert"},
                  by="cbpo", at=6)
    assert [e["attempt"] for e in logs if e["event"].startswith("keys changed")] == [1]
    assert [e.type for e in world.log.events(case)] == [
        "CaseOpened", "ExaminationReferred", "ExaminationConducted"]
    assert verify_store(world.log).ok


# ---------------------------------------------------------------- CLI
@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A CLI runner with a passphrase set; structlog's configuration restored afterwards."""
    monkeypatch.setenv("CDLOG_PASSPHRASE", PASSPHRASE)
    for name in ("CDLOG_STORE", "CDLOG_CONFIG", "CDLOG_JSON_LOGS"):
        monkeypatch.delenv(name, raising=False)
    saved = structlog.get_config()
    yield CliRunner()
    structlog.configure(**saved)


def written(tmp_path: Path, name: str, data: dict[str, Any]) -> Path:
    """Scenario data saved as a YAML file."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def home_of(store_url: str) -> Path:
    """The folder beside the store (key files, trust file)."""
    return resolve_store(store_url).home


@pytest.mark.parametrize("bad", [misspelt, missing_field], ids=["misspelt-type", "no-items"])
def test_cli_bad_file_changes_nothing(runner: CliRunner, store_url: str, tmp_path: Path,
                                      bad: Any) -> None:
    """``cdlog replay`` of a bad file into a store holding scenario A: exit 2, one line naming
    the step, and the events, tree, key files and trust file unchanged; the corrected file
    then replays (exit 0)."""
    first = runner.invoke(cli, ["--store", store_url, "replay", str(A)])
    assert first.exit_code == 0, first.output
    home = home_of(store_url)
    before, files = snapshot(store_url), files_under(home)
    done = runner.invoke(cli, ["--store", store_url, "replay", str(written(tmp_path, "bad.yaml",
                                                                          bad()))])
    assert done.exit_code == 2, done.output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("cdlog: refused: step "), lines
    assert snapshot(store_url) == before
    assert files_under(home) == files
    fixed = runner.invoke(cli, ["--store", store_url, "replay", str(C)])
    assert fixed.exit_code == 0, fixed.output
    assert f"replayed C-SYS-DECLINED-ADMIN: {C_STEPS} events recorded" in fixed.stdout


def _events_not_a_list(data: dict[str, Any]) -> None:
    data["events"] = "ExaminationReferred"


def _a_step_not_a_mapping(data: dict[str, Any]) -> None:
    data["events"][3] = "NotificationAcknowledged"


def _window_without_end(data: dict[str, Any]) -> None:
    data["events"][1]["t"] = {"from": data["events"][1]["t"]}


def _actors_a_list(data: dict[str, Any]) -> None:
    data["actors"] = list(data["actors"])


def _refs_a_list(data: dict[str, Any]) -> None:
    data["refs"] = ["lane 14"]


def _owner_missing(data: dict[str, Any]) -> None:
    for step in data["events"]:
        if step["type"] == "ActionItemAssigned":
            del step["owner"]


def _time_not_a_time(data: dict[str, Any]) -> None:
    data["events"][5]["rec"] = "next tuesday"


def _window_start_not_a_time(data: dict[str, Any]) -> None:
    data["events"][1]["t"] = {"from": "dawn", "to": data["events"][1]["t"]}


def _no_steps(data: dict[str, Any]) -> None:
    data["events"] = []


def _origin_of_an_unknown_kind(data: dict[str, Any]) -> None:
    data["origin"] = {"kind": "rumour", "agency": "CBP"}


def _origin_opened_by_nobody(data: dict[str, Any]) -> None:
    data["origin"] = {"kind": "oi_investigation", "agency": "ICE", "opened_by": "nobody"}


MALFORMED = [_events_not_a_list, _a_step_not_a_mapping, _window_without_end, _actors_a_list,
             _refs_a_list, _owner_missing, _time_not_a_time, _window_start_not_a_time,
             _no_steps, _origin_of_an_unknown_kind, _origin_opened_by_nobody]


@pytest.mark.parametrize("edit", MALFORMED, ids=[f.__name__.strip("_") for f in MALFORMED])
def test_cli_malformed_file_is_one_line_and_changes_nothing(
        runner: CliRunner, tmp_path: Path, edit: Any) -> None:
    """A scenario file of the wrong shape: exit 2, one ``cdlog: refused:`` line naming where,
    no traceback, and the store (holding scenario A) unchanged."""
    url = f"sqlite:///{tmp_path / 's' / 'cdlog.db'}"
    assert runner.invoke(cli, ["--store", url, "replay", str(A)]).exit_code == 0
    before, files = snapshot(url), files_under(tmp_path / "s")
    data = copy.deepcopy(loaded(C))
    edit(data)
    done = runner.invoke(cli, ["--store", url, "replay", str(written(tmp_path, "bad.yaml",
                                                                    data))])
    assert done.exit_code == 2, (done.output, done.exception)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("cdlog: refused: "), lines
    assert snapshot(url) == before
    assert files_under(tmp_path / "s") == files


def test_cli_new_roots_leave_no_key_file_when_refused(runner: CliRunner, tmp_path: Path) -> None:
    """A refused replay into a new store leaves no store, root key file, keys folder or trust
    file; a successful one leaves each agency's root key file, holding the log's root."""
    store = tmp_path / "s" / "cdlog.db"
    url = f"sqlite:///{store}"
    done = runner.invoke(cli, ["--store", url, "replay", str(C), str(written(
        tmp_path, "bad.yaml", misspelt()))])
    assert done.exit_code == 2, done.output
    assert not store.parent.exists()  # no store, keys folder or trust file
    done = runner.invoke(cli, ["--store", url, "replay", str(C)])
    assert done.exit_code == 0, done.output
    with CaseLog(url) as log:
        for agency in ("CBP", "ICE", "DOJ"):
            root = read_key_file(root_key_path(store.parent, agency), PASSPHRASE.encode())
            held = log.context.registry.agency_root(agency)
            assert held is not None
            assert held.key_id == root.key_id
    assert sorted(p.name for p in (store.parent / "keys").iterdir()) == [
        "root-CBP.key", "root-DOJ.key", "root-ICE.key"]


def nothing_in(home: Path) -> bool:
    """Whether the folder beside a store is absent or empty (no key files, no trust file);
    the PostgreSQL fixture makes it beforehand."""
    return not home.exists() or not any(home.iterdir())


def holds_a_log(url: str) -> bool:
    """Whether the store exists with cdlog's tables (asked without creating anything)."""
    store = resolve_store(url)
    if store.path is not None:
        return store.path.exists()
    return probe(store, create=True)


def test_cli_dry_run_on_a_missing_store_creates_nothing(runner: CliRunner, store_url: str,
                                                        tmp_path: Path) -> None:
    """``replay --dry-run`` with no store (no SQLite file; a PostgreSQL schema without
    cdlog's tables): says what would be recorded, exit 0, and creates no store, table,
    folder, key file or trust file."""
    done = runner.invoke(cli, ["--store", store_url, "replay", "--dry-run", str(A), str(C)])
    assert done.exit_code == 0, done.output
    assert f"would replay A-MIA-CD-ACCEPTED: {recorded_events(A)} events" in done.stdout
    assert (f"would replay C-SYS-DECLINED-ADMIN: {C_STEPS} events, "
            f"{key_events(C, agencies(A))} key events, 1 derived checked") in done.stdout
    assert "nothing was written" in done.stdout
    assert not holds_a_log(store_url)
    assert nothing_in(home_of(store_url))


def test_cli_refused_replay_creates_no_store(runner: CliRunner, store_url: str,
                                            tmp_path: Path) -> None:
    """A refused replay where there is no store yet creates none (no file, no tables)."""
    done = runner.invoke(cli, ["--store", store_url, "replay", str(written(
        tmp_path, "bad.yaml", missing_field()))])
    assert done.exit_code == 2, done.output
    assert "step 3 (ContrabandDiscovered)" in done.stderr
    assert not holds_a_log(store_url)
    assert nothing_in(home_of(store_url))


def test_cli_dry_run_on_a_store_writes_nothing(runner: CliRunner, store_url: str,
                                               tmp_path: Path) -> None:
    """``replay --dry-run`` against a store holding scenario A checks C against it (its
    roots' key files are read) and changes nothing; a bad file is refused with exit 2."""
    first = runner.invoke(cli, ["--store", store_url, "replay", str(A)])
    assert first.exit_code == 0, first.output
    home = home_of(store_url)
    before, files = snapshot(store_url), files_under(home)
    done = runner.invoke(cli, ["--store", store_url, "replay", "--dry-run", str(C)])
    assert done.exit_code == 0, done.output
    assert (f"would replay C-SYS-DECLINED-ADMIN: {C_STEPS} events, "
            f"{key_events(C, agencies(A))} key events" in done.stdout)
    again = runner.invoke(cli, ["--store", store_url, "replay", "--dry-run", str(A)])
    assert again.exit_code == 2, again.output
    assert "case:OP-2006-0001 already holds" in again.stderr
    bad = runner.invoke(cli, ["--store", store_url, "replay", "--dry-run",
                              str(written(tmp_path, "bad.yaml", misspelt()))])
    assert bad.exit_code == 2, bad.output
    assert snapshot(store_url) == before
    assert files_under(home) == files


def long_scenario(steps: int) -> dict[str, Any]:
    """Scenario C's actors and first step, then ``steps`` conveyance arrivals, a minute
    apart: a replay long enough to interrupt."""
    data = loaded(C)
    first = data["events"][0]
    start = load_scenario(C).events[0]["t"]
    t0 = parse_time(start)
    data["events"] = [first] + [
        {"t": (t0 + timedelta(minutes=n + 1)).isoformat(), "type": "ConveyanceArrived",
         "actor": "cbpo_p", "refs": {"bol": f"BOL-{n}"}} for n in range(steps)]
    data["scenario"] = "LONG"
    data.pop("expected_answers", None)
    return data


def test_cli_long_replay_is_one_transaction_and_quiet_when_piped(
        runner: CliRunner, store_url: str, tmp_path: Path) -> None:
    """A long scenario (hundreds of events, one transaction) replays on both stores; with
    stderr not a terminal no progress bar is drawn (stderr holds only the new-store line)."""
    steps = 600
    long = written(tmp_path, "long.yaml", long_scenario(steps))
    done = runner.invoke(cli, ["--store", store_url, "replay", str(long)])
    assert done.exit_code == 0, done.output
    assert f"replayed LONG: {steps + 2} events recorded" in done.stdout
    assert [line.split(" at ")[0] for line in done.stderr.splitlines()] == [
        "cdlog: created a new store"]
    with CaseLog(store_url) as log:
        assert log.max_position() == steps + 2 + key_events(C, set())
        assert verify_store(log).ok


def _interrupt_replay(url: str, scenario: Path, env: dict[str, str]
                      ) -> tuple[int, bytes, bytes]:
    """Run ``cdlog replay`` with stderr on a pty, send SIGINT at the progress bar's first
    frame; return the exit status, what the terminal showed, and stdout."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(CDLOG), "--store", url, "replay", str(scenario)], env=env,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"preparing steps" not in seen and time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                seen += os.read(master, 4096)
        assert b"preparing steps" in seen, seen
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    return proc.returncode, seen, out


def test_cli_ctrl_c_during_a_replay_saves_nothing(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) while ``cdlog replay`` prepares a long scenario: exit 130, one line
    saying nothing partial was saved, and the store's events and tree unchanged. (stderr is
    a terminal here, so the progress bar shows: its first frame is the sign that the replay
    has started preparing steps.) On a loaded machine the first frame can come after the
    preparation, when the signal lands in the commit: then the replay must have saved all of
    it; the test grows the scenario until one signal lands in the preparation."""
    env = {**os.environ, "CDLOG_PASSPHRASE": PASSPHRASE, "TERM": "xterm", "COLUMNS": "100"}
    for name in ("CDLOG_STORE", "CDLOG_CONFIG", "CDLOG_JSON_LOGS"):
        env.pop(name, None)
    for n, steps in enumerate((40_000, 120_000, 300_000)):
        url = f"sqlite:///{tmp_path / f's{n}' / 'cdlog.db'}"
        subprocess.run([str(CDLOG), "--store", url, "replay", str(A)], env=env, check=True,
                       capture_output=True, timeout=120)
        before = snapshot(url)
        long = written(tmp_path, f"long{n}.yaml", long_scenario(steps))
        code, seen, out = _interrupt_replay(url, long, env)
        if code == 0:  # the signal came after the preparation: all of it was saved
            assert f"replayed LONG: {steps + 2} events recorded" in out.decode(), out
            with CaseLog(url, create=False) as log:
                assert log.max_position() >= len(before[0]) + steps + 2, (steps, seen)
            continue
        break
    assert code == 130, (code, seen)
    text = seen.decode(errors="replace")
    assert "cdlog: interrupted" in text, text
    assert "nothing partial was saved" in text, text
    assert "Traceback" not in text
    assert out == b""
    assert snapshot(url) == before
