"""A catch-up split between this process and a forked one (``Projections.catch_up``).

The rows of a split build equal the serial build's (held for every build, on both stores, by
``test_catch_up_equivalence.py``). Here: how the views are split, when a split happens at all,
that a forked share which fails is caught up here with the same rows and warnings, and that a
skipped event is warned of once, by whichever process reads it first.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdlog.log.sealing import stream_id
from cdlog.logging import capture_logs
from cdlog.projections import projector
from cdlog.projections.pages import SHARD_SQL, case_hex, case_shard, read_page
from cdlog.projections.projector import Projections
from cdlog.projections.shards import ShardedViewStore

if TYPE_CHECKING:
    from conftest import World, build_world
    from test_views import SPINE, record_case
else:
    from tests.conftest import build_world
    from tests.projections.test_views import SPINE, record_case

CASES = itertools.count(7000)


# ---------------------------------------------------------------- the shards
@given(st.text(min_size=1, max_size=40))
def test_a_streams_shard_is_the_one_the_log_read_takes(stream: str) -> None:
    """The shard a stream's entries are kept in is the shard the log's read by shard gives
    its events (:data:`SHARD_SQL` over the case id as stored)."""
    with sqlite3.connect(":memory:") as db:
        [(shard,)] = db.execute(f"SELECT {SHARD_SQL} FROM (SELECT ? AS originator_id)",
                                [case_hex(stream)]).fetchall()
    db.close()
    assert case_shard(stream) == shard
    assert shard == int(str(stream_id(stream))[-1], 16) % 2


def test_each_file_holds_its_shards_streams(sqlite_world: World, tmp_path: Path) -> None:
    """Every entry is in the file of its stream's shard, and both files together hold the
    view."""
    folder = tmp_path / "views"
    expected = _serial(sqlite_world, tmp_path / "serial")
    with Projections(sqlite_world.log, folder=folder, catch_up=False) as p:
        p.catch_up(processes=2)
        assert p.split_ran == "process"
        assert p.dump() == expected
        used = set()
        for store in p.stores.values():
            assert isinstance(store, ShardedViewStore)
            for shard, part in enumerate(store.parts):
                entries = part.select()
                assert {case_shard(e.stream) for e in entries} <= {shard}
                used |= {shard} if entries else set()
            for stream in {e.stream for e in store.select()}:  # a stream's query: its file
                assert p.select(store.name, stream=stream) == [
                    e for e in store.select() if e.stream == stream]
        assert used == {0, 1}  # the world's cases fall in both


# ---------------------------------------------------------------- when it happens
@pytest.fixture
def sqlite_world(tmp_path: Path) -> Any:
    """A world in an SQLite store (a PostgreSQL log's pool runs threads: it never forks)."""
    world = build_world(f"sqlite:///{tmp_path / 'log.db'}")
    steps = [(name, 5, k, False) for name, k in SPINE]
    for _ in range(4):
        record_case(world, next(CASES), steps)
    yield world
    world.log.close()


def _serial(world: World, folder: Path) -> dict[str, Any]:
    with Projections(world.log, folder=folder, catch_up=False) as p:
        p.catch_up(processes=1)
        assert p.split_ran == ""
        return p.dump()


def test_auto_splits_only_far_behind_on_two_cores(sqlite_world: World, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _serial(sqlite_world, tmp_path / "serial")
    behind = sqlite_world.log.max_position()
    for cores, far, split in ((2, behind + 1, ""), (1, behind, ""), (2, behind, "process")):
        monkeypatch.setattr(projector, "_cores", lambda c=cores: c)
        monkeypatch.setattr(projector, "PARALLEL_FROM", far)
        with Projections(sqlite_world.log, folder=tmp_path / f"auto-{cores}-{far}",
                         catch_up=False) as p:
            p.catch_up()
            assert p.split_ran == split
            assert p.dump() == expected


def test_opening_far_behind_splits_too(sqlite_world: World, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    expected = _serial(sqlite_world, tmp_path / "serial")
    monkeypatch.setattr(projector, "_cores", lambda: 2)
    monkeypatch.setattr(projector, "PARALLEL_FROM", 1)
    with Projections(sqlite_world.log, folder=tmp_path / "opened") as p:
        assert p.split_ran == "process"
        assert p.dump() == expected
        assert p.catch_up() == 0  # nothing behind: nothing split
        assert p.split_ran == ""


def test_no_split_while_another_thread_runs(sqlite_world: World, tmp_path: Path) -> None:
    expected = _serial(sqlite_world, tmp_path / "serial")
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        with Projections(sqlite_world.log, folder=tmp_path / "threads", catch_up=False) as p:
            p.catch_up(processes=2)
            assert p.split_ran == ""
            assert p.dump() == expected
    finally:
        stop.set()
        other.join()


def test_one_view_behind_is_split_too(sqlite_world: World, tmp_path: Path) -> None:
    """A view rebuilt alone is split in its two halves."""
    folder = tmp_path / "one"
    expected = _serial(sqlite_world, folder)
    with Projections(sqlite_world.log, folder=folder, catch_up=False) as p:
        p.rebuild(["duties"], processes=2)
        assert p.split_ran == "process"
        assert p.dump() == expected


def test_no_split_when_no_view_is_behind(sqlite_world: World, tmp_path: Path) -> None:
    """Nothing behind: nothing read, nothing split (a PostgreSQL log's views are never split:
    the equivalence tests see that)."""
    folder = tmp_path / "top"
    _serial(sqlite_world, folder)
    with Projections(sqlite_world.log, folder=folder, catch_up=False) as p:
        assert p.catch_up(processes=2) == 0
        assert p.split_ran == ""


# ---------------------------------------------------------------- failure and warnings
def _break(world: World, positions: list[int]) -> None:
    """Stored events that no longer decode (the views skip them with a warning)."""
    path = world.log.store.path
    assert path is not None
    with sqlite3.connect(path) as db:
        for position in positions:
            db.execute("UPDATE stored_events SET state=? WHERE rowid=?", (b"{}", position))


def _warned(logs: list[Any]) -> list[int]:
    return sorted(int(e["position"]) for e in logs if e.get("log_level") == "warning")


@pytest.mark.parametrize("fails", ["no", "at once", "part way"])
def test_skipped_events_are_warned_of_once(sqlite_world: World, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          fails: str) -> None:
    """Views behind from different positions, some events skipped: each is warned of once,
    here, in log order, whether the forked share succeeds or fails (raises in the forked
    process, at once or after writing some pages: its half is then caught up here, and
    what it read before failing is warned of here too). The rows are the serial build's."""
    log = sqlite_world.log
    middle = log.max_position()
    record_case(sqlite_world, next(CASES), [(name, 5, k, False) for name, k in SPINE])
    top = log.max_position()
    halves: list[list[int]] = [[], []]
    for n in read_page(log.app.recorder, 1, top):
        halves[n.shard].append(int(n.id))
    broken = sorted({*halves[0][:2], *halves[1][:2],  # early in both halves, around the
                     *[b for b in halves[0] if b <= middle][-1:],  # middle, and at the top
                     *[b for b in halves[1] if b > middle][:1], top - 1})
    _break(sqlite_world, broken)
    folder = tmp_path / "views"
    serial_folder = tmp_path / "serial"
    with capture_logs() as logs:
        expected = _serial(sqlite_world, serial_folder)
    assert _warned(logs) == broken
    parent = os.getpid()
    real = projector._catch_up_beside

    def failing(*args: Any, **kwargs: Any) -> Any:
        if fails != "no" and os.getpid() != parent:
            if fails == "at once":
                msg = "the forked share failed"
                raise RuntimeError(msg)
            pages = itertools.count()  # part way: after two pages of four events
            monkeypatch.setattr(projector, "PAGE", 4)  # in the forked process only

            def read_then_fail(*a: Any) -> Any:
                if next(pages) == 2:
                    msg = "the forked share failed part way"
                    raise RuntimeError(msg)
                return read_page(*a)
            monkeypatch.setattr(projector, "read_page", read_then_fail)
        return real(*args, **kwargs)

    rescanned: list[tuple[int, int]] = []
    scan = Projections._skipped_before

    def spy(self: Projections, since: int, upto: int, shard: int) -> Any:
        rescanned.append((since, upto))
        return scan(self, since, upto, shard)

    monkeypatch.setattr(projector, "_catch_up_beside", failing)
    monkeypatch.setattr(Projections, "_skipped_before", spy)
    with Projections(log, folder=folder, catch_up=False) as p:
        _catch_up_to(p, middle, monkeypatch)
        theirs = ["duties", "cases"]  # two views from empty, the others at the middle
        for name in theirs:
            p.stores[name].reset()
        positions = p.positions()
        assert {positions[name] for name in theirs} == {0}
        assert {positions[name] for name in p.views if name not in theirs} == {middle}
        with capture_logs() as logs:
            p.catch_up(processes=2)
        assert p.split_ran == ("process" if fails == "no" else "here")
        assert p.dump() == expected
    assert [int(e["position"]) for e in logs if e.get("log_level") == "warning"] == broken
    if fails == "part way":  # what the failed share read is looked through again here
        assert len(rescanned) == 1
        assert rescanned[0][0] == 0 < rescanned[0][1] < middle
    else:
        assert rescanned == []


def _catch_up_to(p: Projections, position: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every view caught up to ``position`` exactly (pages of one event)."""
    with monkeypatch.context() as m:
        m.setattr(projector, "PAGE", 1)
        m.setattr(projector, "read_page", _upto(read_page, position))
        p.catch_up(processes=1)
    assert set(p.positions().values()) == {position}


def _upto(read: Any, position: int) -> Any:
    def page(recorder: Any, start: int, limit: int, shard: int | None = None) -> Any:
        return [] if start > position else read(recorder, start,
                                                min(limit, position - start + 1), shard)
    return page
