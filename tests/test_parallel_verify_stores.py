"""Parallel verification on both kinds of store: the report equals the serial replay's.

``tests/test_parallel_verify.py`` tampers with an SQLite file through ``sqlite3`` rowids under
hypothesis; here the same equality is checked on each kind of store (SQLite file, PostgreSQL
schema) on an untouched log and after rows are changed or deleted through :class:`RawStore`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cdlog.keys.signer import Ed25519Signer
from cdlog.scenario import Replayer
from cdlog.verify.parallel import verify_parallel
from cdlog.verify.replay import Report
from cdlog.verify.runner import verify_store

if TYPE_CHECKING:
    from conftest import RawStore, World


def _key(report: Report) -> tuple[object, ...]:
    return report.events, report.cases, report.failures, report.heads


@pytest.fixture
def replayed(world: World, scenarios_dir: Path) -> World:
    """The world's log with both example scenarios replayed into it."""
    roots = world.roots
    replayer = Replayer(world.log, root_signer=lambda agency: roots.setdefault(
        agency, Ed25519Signer.generate()))
    for name in ("A-MIA-CD-ACCEPTED.yaml", "C-SYS-DECLINED-ADMIN.yaml"):
        replayer.replay(scenarios_dir / name)
    return world


def _same(world: World, *, split: bool = False) -> Report:
    """Serial and parallel (2 and 3 workers) reports agree; with ``split`` the parallel
    replay must have run rather than declined."""
    serial = verify_store(world.log, workers=1)
    direct = verify_parallel(world.log, workers=2)
    assert direct is not None or not split, "the parallel replay declined"
    if direct is not None:
        assert _key(direct) == _key(serial)
    for workers in (2, 3):
        assert _key(verify_store(world.log, workers=workers)) == _key(serial)
    return serial


def test_untouched_store_same_report(replayed: World) -> None:
    report = _same(replayed, split=True)
    assert report.ok, report.failures
    assert report.events == replayed.log.max_position()


def test_tampered_store_same_report(replayed: World, raw: RawStore) -> None:
    """A row deleted and another's state rewritten: both replays fail alike."""
    rows = raw.rows("SELECT {nid}, state FROM {events} ORDER BY {nid}")
    deleted, rewritten = rows[len(rows) // 3], rows[2 * len(rows) // 3]
    raw.execute(("DELETE FROM {events} WHERE {nid}=?", (deleted[0],)),
                ("UPDATE {events} SET state=? WHERE {nid}=?",
                 (bytes(rewritten[1]).replace(b'"', b"'", 1), rewritten[0])))
    report = _same(replayed)
    assert not report.ok
