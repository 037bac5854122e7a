"""Views kept in the store: a PostgreSQL log keeps its views in its own schema.

The projection tests in ``tests/projections`` build views in SQLite files (a folder per build);
here the views of each kind of log are built where they live by default: SQLite files beside an
SQLite store, tables in the schema of a PostgreSQL store. Both must hold the same rows as a
build in files, apply each page exactly once, and answer the same queries.
"""

from __future__ import annotations

import multiprocessing
import threading
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from eventsourcing.persistence import IntegrityError as ESIntegrityError

from cdlog.application import CaseLog
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.facts import fact_of
from cdlog.log.sealing import parse
from cdlog.projections.projector import Projections
from cdlog.projections.queries import Queries
from cdlog.projections.shards import ShardedViewStore
from cdlog.projections.store import Processed, SQLiteViewStore
from cdlog.scenario import Replayer

if TYPE_CHECKING:
    from conftest import RawStore, World

CASE_A = "case:OP-2006-0001"


@pytest.fixture
def replayed(world: World, scenarios_dir: Path) -> World:
    """The world's log with example scenario A replayed into it."""
    roots = world.roots
    Replayer(world.log, root_signer=lambda agency: roots.setdefault(
        agency, Ed25519Signer.generate())).replay(scenarios_dir / "A-MIA-CD-ACCEPTED.yaml")
    return world


def test_default_views_live_in_the_store_and_equal_a_build_in_files(
        replayed: World, raw: RawStore, store_kind: str, tmp_path: Path) -> None:
    """Default views: files beside SQLite, tables in the PostgreSQL schema; same rows."""
    log = replayed.log
    with Projections(log) as here, Projections(log, folder=tmp_path / "files") as files:
        assert set(here.positions().values()) == {log.max_position()}
        assert here.dump() == files.dump()
        for name, store in here.stores.items():
            if store_kind == "sqlite":
                assert isinstance(store, ShardedViewStore)
                assert {path.parent for path in store.paths} == {log.store.home / "views"}
            else:
                assert not isinstance(store, ShardedViewStore | SQLiteViewStore)
                [(count,)] = raw.rows(f'SELECT COUNT(*) FROM "{raw.schema}".'
                                      f'"cdlog_{name}_entries"')
                assert count == len(store.dump()) - 1  # all rows but the tracking line


def test_queries_answer_the_same_from_either_build(replayed: World, tmp_path: Path) -> None:
    """The query functions give the same answers from the default views and from files."""
    log = replayed.log
    with Queries(log) as q, Queries(log, Projections(log, folder=tmp_path / "f")) as f:
        assert q.responsibility(CASE_A) == f.responsibility(CASE_A)
        assert q.items(CASE_A) == f.items(CASE_A)
        assert q.approvals(CASE_A) == f.approvals(CASE_A)
        assert q.case(CASE_A) == f.case(CASE_A)


def test_a_page_is_applied_exactly_once(replayed: World) -> None:
    """Writing a page at a position the view already holds is refused; nothing changes."""
    log = replayed.log
    with Projections(log) as p:
        store = p.stores["custody"]
        before = store.dump()
        top = log.max_position()
        row = log.app.recorder.select_notifications(start=top, limit=1)[0]
        sealed = parse(row.state, str(row.originator_id), row.originator_version)
        with pytest.raises(ESIntegrityError):
            store.write([Processed(top, sealed, fact_of(sealed))], top,
                        p.views["custody"].handle)
        assert store.dump() == before


def test_two_readers_of_one_store_do_not_double_apply(replayed: World,
                                                      tmp_path: Path) -> None:
    """A second opener catches up; the first then finds nothing left to apply."""
    log = replayed.log
    first = Projections(log)
    replayed.open_case("OP-VIEWS-2", at=600)
    replayed.rec("case:OP-VIEWS-2", "ConveyanceArrived", {"refs": {"bol": "V2"}},
                 by="cbpo", at=601)
    second = Projections(log)
    try:
        assert set(second.positions().values()) == {log.max_position()}
        first.catch_up()
        with Projections(log, folder=tmp_path / "r") as rebuilt:
            assert first.dump() == rebuilt.dump() == second.dump()
    finally:
        first.close()
        second.close()


def test_rebuild_empties_and_refills(replayed: World) -> None:
    """A rebuild forgets the rows and the position and arrives at the same rows again."""
    with Projections(replayed.log) as p:
        before = p.dump()
        p.stores["duties"].reset()
        assert p.stores["duties"].position() == 0
        assert p.stores["duties"].select() == []
        p.rebuild(["duties"])
        assert p.dump() == before


@pytest.mark.parametrize("store_kind", ["postgresql"])
def test_processes_opening_the_views_at_once_all_succeed(store_url: str) -> None:
    """Several openers creating a fresh PostgreSQL store's views at the same moment all
    succeed (the tables are created one opener at a time, under an advisory lock)."""
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def opener() -> None:
        try:
            start.wait(timeout=30)
            with CaseLog(store_url) as log, Projections(log) as p:
                assert set(p.positions().values()) == {0}
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=opener) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == []


OPENERS = 6


def _open_views(url: str, start: Barrier) -> None:
    """In a spawned process: open the log's views once every opener is ready."""
    start.wait(timeout=60)
    with CaseLog(url) as log, Projections(log) as p:
        assert set(p.positions().values()) == {0}


@pytest.mark.parametrize("store_kind", ["sqlite"])
def test_processes_opening_fresh_sqlite_views_at_once_all_succeed(
        store_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Several processes creating a fresh SQLite store's view files at the same moment all
    succeed (a lost race for eventsourcing's ``__migration__`` tracking row is retried)."""
    # spawned children unpickle the target by module name: let them import this module
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    CaseLog(store_url).close()  # the log exists; its views do not yet
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(OPENERS)
    procs = [ctx.Process(target=_open_views, args=(store_url, start))
             for _ in range(OPENERS)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
    assert [proc.exitcode for proc in procs] == [0] * OPENERS
