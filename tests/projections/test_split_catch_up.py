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

from cdlog.domain.config import Config
from cdlog.logging import capture_logs
from cdlog.projections import projector
from cdlog.projections.pages import read_page
from cdlog.projections.projector import Projections, split_by_cost
from cdlog.projections.views import default_views

if TYPE_CHECKING:
    from conftest import World, build_world
    from test_views import SPINE, record_case
else:
    from tests.conftest import build_world
    from tests.projections.test_views import SPINE, record_case

CASES = itertools.count(7000)


# ---------------------------------------------------------------- the split
@given(st.dictionaries(st.text(min_size=1, max_size=5), st.floats(0, 100), min_size=2,
                       max_size=12))
def test_the_views_are_split_in_two_groups_of_about_equal_cost(costs: dict[str, float]
                                                               ) -> None:
    mine, theirs = split_by_cost(costs)
    assert mine
    assert theirs
    assert sorted(mine + theirs) == sorted(costs)
    a = sum(costs[n] for n in mine)
    b = sum(costs[n] for n in theirs)
    assert abs(a - b) <= max(costs.values()) + 1e-9
    assert split_by_cost(dict(reversed(list(costs.items())))) == (mine, theirs)


def test_the_default_views_split_evenly() -> None:
    costs = {v.name: v.cost for v in default_views(Config())}
    mine, theirs = split_by_cost(costs)
    assert abs(sum(costs[n] for n in mine) - sum(costs[n] for n in theirs)) < 1.0


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


def test_no_split_when_one_view_is_behind(sqlite_world: World, tmp_path: Path) -> None:
    folder = tmp_path / "one"
    expected = _serial(sqlite_world, folder)
    with Projections(sqlite_world.log, folder=folder, catch_up=False) as p:
        p.rebuild(["duties"], processes=2)
        assert p.split_ran == ""
        assert p.dump() == expected


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


@pytest.mark.parametrize("fails", [False, True])
def test_skipped_events_are_warned_of_once(sqlite_world: World, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch,
                                          fails: bool) -> None:
    """Views behind from different positions: the forked share warns only of events this
    process does not read. When it fails (raises in the forked process), its views are
    caught up here: the rows are the serial build's and every skipped event is warned of
    exactly once, here."""
    log = sqlite_world.log
    middle = log.max_position()
    record_case(sqlite_world, next(CASES), [(name, 5, k, False) for name, k in SPINE])
    top = log.max_position()
    broken = [middle - 3, middle + 2, top - 1]
    _break(sqlite_world, broken)
    folder = tmp_path / "views"
    serial_folder = tmp_path / "serial"
    with capture_logs() as logs:
        expected = _serial(sqlite_world, serial_folder)
    assert _warned(logs) == broken
    # views at the middle, but two of the forked share's from empty
    costs = {v.name: v.cost for v in default_views(log.config)}
    theirs = split_by_cost(costs)[1]
    parent = os.getpid()
    real = projector._catch_up_beside

    def failing(*args: Any, **kwargs: Any) -> int:
        if fails and os.getpid() != parent:
            msg = "the forked share failed"
            raise RuntimeError(msg)
        return real(*args, **kwargs)

    monkeypatch.setattr(projector, "_catch_up_beside", failing)
    with Projections(log, folder=folder, catch_up=False) as p:
        _catch_up_to(p, middle, monkeypatch)
        for name in theirs[:2]:
            p.stores[name].reset()
        positions = p.positions()
        assert {positions[name] for name in theirs[:2]} == {0}
        assert {positions[name] for name in costs if name not in theirs[:2]} == {middle}
        with capture_logs() as logs:
            p.catch_up(processes=2)
        assert p.split_ran == ("here" if fails else "process")
        assert p.dump() == expected
    if fails:  # the share ran here: all its warnings are seen
        assert _warned(logs) == broken
    else:  # the forked process warned of what only it read (not seen here)
        assert _warned(logs) == [b for b in broken if b > middle]


def _catch_up_to(p: Projections, position: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every view caught up to ``position`` exactly (pages of one event)."""
    with monkeypatch.context() as m:
        m.setattr(projector, "PAGE", 1)
        m.setattr(projector, "read_page", _upto(read_page, position))
        p.catch_up(processes=1)
    assert set(p.positions().values()) == {position}


def _upto(read: Any, position: int) -> Any:
    def page(recorder: Any, start: int, limit: int) -> Any:
        return [] if start > position else read(recorder, start, min(limit, position - start + 1))
    return page
