"""What a catch-up reads of its own views: a stream that has no stored entries is not read.

Views whose handler reads its own earlier entries (duties, surveillance) ask the page's prior
for a stream's entries; the prior asks the view's store once per page which of the page's
streams have stored entries at all, and reads only those. A rebuild in one page reads none;
pages that split a case read only the streams that began before them; the rows stay those of
the per-event reference (tests/projections/test_catch_up_equivalence.py holds them equal for
every build).
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cdlog.projections import projector, store
from cdlog.projections.projector import Projections
from cdlog.projections.store import PagePrior

if TYPE_CHECKING:
    from conftest import World
    from test_catch_up_equivalence import reference
    from test_views import SPINE, record_case
else:
    from tests.projections.test_catch_up_equivalence import reference
    from tests.projections.test_views import SPINE, record_case

CASES = itertools.count(7000)


def _counting(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Record every stream read by a page's prior, and every ``present`` question."""
    seen: dict[str, list[Any]] = {"loads": [], "present": []}
    original = PagePrior.__init__

    def init(self: PagePrior, load: Any, present: Any = None, streams: Any = None) -> None:
        def counted_load(stream: str, kinds: list[str]) -> Any:
            seen["loads"].append(stream)
            return load(stream, kinds)

        def counted_present(streams: list[str]) -> Any:
            seen["present"].append(list(streams))
            return present(streams)
        original(self, counted_load, None if present is None else counted_present, streams)

    monkeypatch.setattr(PagePrior, "__init__", init)
    return seen


def _streams(world: World, cases: int) -> list[str]:
    steps = [(name, 5, k, False) for name, k in SPINE]
    return [record_case(world, next(CASES), steps).stream for _ in range(cases)]


@pytest.mark.parametrize("where", ["files", "beside the log"])
def test_a_rebuild_in_one_page_reads_no_stream(world: World, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               where: str) -> None:
    """Every stream begins within the page: one ``present`` question per reading view and
    no stream read, on both kinds of view store; the rows equal the reference."""
    _streams(world, 3)
    seen = _counting(monkeypatch)
    folder = tmp_path / "views" if where == "files" else None
    with Projections(world.log, folder=folder, catch_up=False) as views:
        views.rebuild()
        dumped = views.dump()
    assert seen["loads"] == []
    assert seen["present"], "the duties view asks its prior"
    assert all(streams == sorted(set(streams)) for streams in seen["present"])
    assert dumped == reference(world.log)[0]


def test_pages_read_only_streams_begun_before_them(world: World, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """With small pages a case spans several: its stream is read from the store only in
    pages after the one its first event was in (and then at most once per page and set of
    kinds); the rows equal the reference."""
    _streams(world, 2)
    seen = _counting(monkeypatch)
    monkeypatch.setattr(projector, "PAGE", 4)
    first_page: dict[str, int] = {}
    page_of: list[int] = []
    original = store.SQLiteViewStore.write

    def write(self: Any, batch: Any, upto: int, handler: Any) -> None:
        page_of.append(upto)
        for item in batch:
            first_page.setdefault(item.fact.stream, upto)
        before = len(seen["loads"])
        original(self, batch, upto, handler)
        for stream in seen["loads"][before:]:
            assert first_page[stream] < upto, f"{stream} read in the page it began in"

    monkeypatch.setattr(store.SQLiteViewStore, "write", write)
    with Projections(world.log, folder=tmp_path / "views", catch_up=False) as views:
        views.catch_up()
        dumped = views.dump()
    assert seen["loads"], "a case spans pages: its stream is read in a later page"
    assert dumped == reference(world.log)[0]
