"""The views' page reader (cdlog/projections/pages.py) gives what eventsourcing's read gives.

For every row of a store, including case ids rewritten in other spellings a UUID allows
(upper case, hyphens, braces), the position, case id, version and state equal those of
``select_notifications``, on SQLite (the plain query) and PostgreSQL (the recorder's own read);
a case id that is no UUID is refused by both with the same error; pages start and end where
asked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from cdlog.projections.pages import PageRow, read_page

if TYPE_CHECKING:
    from conftest import RawStore, World


def _same(log: Any, start: int, limit: int) -> list[Any]:
    recorder = log.app.recorder
    ours = read_page(recorder, start, limit)
    theirs = recorder.select_notifications(start=start, limit=limit)
    assert [(r.id, r.originator_id, r.originator_version, bytes(r.state)) for r in ours] == [
        (n.id, n.originator_id, n.originator_version, bytes(n.state)) for n in theirs]
    return list(ours)


def test_pages_equal_eventsourcings_read(world: World, raw: RawStore) -> None:
    for i in range(3):
        world.open_case(f"OP-P-{i}")
    log = world.log
    last = log.max_position()
    if raw.kind == "sqlite":  # other spellings of the same UUIDs, as rows rewritten by hand
        rows = raw.rows("SELECT {nid}, originator_id FROM {events} ORDER BY {nid}")
        spell: list[Callable[[str], str]] = [
            str.upper, lambda t: f"{t[:8]}-{t[8:12]}-{t[12:16]}-{t[16:20]}-{t[20:]}",
            lambda t: "{" + t + "}"]
        for (nid, case), how in zip(rows[1:4], spell, strict=True):
            raw.execute(("UPDATE {events} SET originator_id=? WHERE {nid}=?",
                         (how(str(case)), nid)))
    whole = _same(log, 1, 10_000)
    assert len(whole) == last
    if raw.kind == "sqlite":
        assert all(isinstance(r, PageRow) for r in whole)
        kinds = {type(r.stored_id).__name__ for r in whole}
        assert kinds == {"str", "UUID"}  # plain ids kept as text, the others converted
    for start, limit in ((1, 1), (2, 3), (last, 5), (last + 1, 5)):
        page = _same(log, start, limit)
        assert [r.id for r in page] == list(range(start, min(start + limit, last + 1)))


def test_a_case_id_that_is_no_uuid_is_refused_alike(world: World, raw: RawStore) -> None:
    world.open_case("OP-P-9")
    if raw.kind != "sqlite":  # PostgreSQL's uuid column holds nothing else
        assert read_page(world.log.app.recorder, 1, 5)
        return
    [(nid,)] = raw.rows("SELECT max({nid}) FROM {events}")
    raw.execute(("UPDATE {events} SET originator_id=? WHERE {nid}=?", ("not-a-uuid", nid)))
    recorder = world.log.app.recorder
    with pytest.raises(ValueError) as theirs:
        recorder.select_notifications(start=1, limit=100)
    with pytest.raises(ValueError) as ours:
        read_page(recorder, 1, 100)
    assert type(ours.value) is type(theirs.value)
    assert str(ours.value) == str(theirs.value)
