"""A view in two SQLite files (``cdlog.projections.shards``): what the rest of cdlog sees of
the pair, the handlers' promise to read only their own stream, and the events the views
skip because they are not stored under their stream's case id."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from eventsourcing.persistence import IntegrityError as ESIntegrityError

from cdlog.domain.case import Fact
from cdlog.errors import ConfigurationError
from cdlog.logging import capture_logs
from cdlog.projections.projector import Projections
from cdlog.projections.shards import ShardedViewStore, combined
from cdlog.projections.store import NewEntry, Prior
from cdlog.projections.views import View
from cdlog.projections.viewstate import ViewState

if TYPE_CHECKING:
    from conftest import World, build_world
    from test_views import SPINE, record_case
else:
    from tests.conftest import build_world
    from tests.projections.test_views import SPINE, record_case

CASES = itertools.count(8000)


@pytest.fixture
def sqlite_world(tmp_path: Path) -> Iterator[World]:
    world = build_world(f"sqlite:///{tmp_path / 'log.db'}")
    for _ in range(3):
        record_case(world, next(CASES), [(name, 5, k, False) for name, k in SPINE])
    yield world
    world.log.close()


def test_the_pair_is_at_its_lower_position_with_the_metadata_both_hold() -> None:
    states = [ViewState(7, {"fingerprint": "a", "head": "7:x", "only": "0"}, 1),
              ViewState(5, {"fingerprint": "a", "head": "5:y"}, 1)]
    both = combined(states)
    assert both.position == 5
    assert both.meta == {"fingerprint": "a", "head": "5:y"}  # a value of one file is missing
    states[1].meta.pop("head")
    assert combined(states).meta == {"fingerprint": "a"}


def test_a_fingerprint_in_one_file_only_rebuilds_the_view(sqlite_world: World,
                                                          tmp_path: Path) -> None:
    folder = tmp_path / "views"
    with Projections(sqlite_world.log, folder=folder) as p:
        want = p.dump()
        store = p.stores["custody"]
        assert isinstance(store, ShardedViewStore)
        store.parts[1].set_meta("fingerprint", "0" * 16)  # as if written before a crash
        assert store.meta("fingerprint") is None
    with capture_logs() as logs, Projections(sqlite_world.log, folder=folder) as p:
        assert p.dump() == want
        assert p.stores["custody"].meta("fingerprint") == p.fingerprint("custody")
    assert [e["view"] for e in logs if e["event"] == "view rebuilt"] == ["custody"]


def test_views_of_the_single_file_layout_are_rebuilt(sqlite_world: World,
                                                     tmp_path: Path) -> None:
    """A view file of the layout before the split (every case in one file, the view's own
    fingerprint) is not taken as the first half: it is rebuilt."""
    folder = tmp_path / "views"
    with Projections(sqlite_world.log, folder=folder) as p:
        want = p.dump()
        store = p.stores["duties"]
        assert isinstance(store, ShardedViewStore)
        store.set_meta("fingerprint", p.views["duties"].fingerprint())
    with capture_logs() as logs, Projections(sqlite_world.log, folder=folder) as p:
        assert p.dump() == want
    assert [e["view"] for e in logs if e["event"] == "view rebuilt"] == ["duties"]


def test_a_page_both_files_hold_is_refused(sqlite_world: World, tmp_path: Path) -> None:
    with Projections(sqlite_world.log, folder=tmp_path / "views") as p:
        store = p.stores["cases"]
        top = sqlite_world.log.max_position()
        before = store.dump()
        with pytest.raises(ESIntegrityError):
            store.write([], top, p.views["cases"].handle)
        assert store.dump() == before


class _Nosy(View):
    """A view that reads another stream's entries (which the halves cannot give)."""

    name = "nosy"

    def wants(self, fact: Fact) -> bool:
        return fact.stream.startswith("case:")

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        prior.entries("case:somewhere-else", ["seen"])
        return [NewEntry("seen", fact.stream, {})]


def test_a_handler_reading_another_stream_is_refused(sqlite_world: World,
                                                     tmp_path: Path) -> None:
    views = [_Nosy(sqlite_world.log.config)]
    with pytest.raises(ConfigurationError, match="reads only the entries of the stream"):
        Projections(sqlite_world.log, folder=tmp_path / "nosy", views=views)


def _spelled(world: World, position: int, spelling: str) -> str:
    path = world.log.store.path
    assert path is not None
    with sqlite3.connect(path) as db:
        [(stored,)] = db.execute("SELECT originator_id FROM stored_events WHERE rowid=?",
                                 [position]).fetchall()
        db.execute(f"UPDATE stored_events SET originator_id={spelling} WHERE rowid=?",
                   [position])
    db.close()
    return str(stored)


@pytest.mark.parametrize("spelling", ["upper(originator_id)",
                                      "'{' || originator_id || '}'"])
def test_an_event_stored_under_another_spelling_of_its_case_id_is_skipped(
        sqlite_world: World, tmp_path: Path, spelling: str) -> None:
    """The views take an event only under its stream's case id as cdlog stores it (32
    lowercase hex digits), so that all of a stream's entries are in one file."""
    log = sqlite_world.log
    position = log.max_position() - 1
    stored = _spelled(sqlite_world, position, spelling)
    with capture_logs() as logs, Projections(log, folder=tmp_path / "views") as p:
        rows: list[Any] = [r for rows in p.dump().values() for r in rows[:-1]]
    assert position not in {r[0] for r in rows}
    [warning] = [e for e in logs if e.get("log_level") == "warning"]
    assert warning["position"] == position
    assert "stored under case id" in warning["failure"]
    assert stored in warning["failure"].replace("-", "")
