"""A CaseLog keeps a bounded number of case states in memory; the rest are read again."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from cdlog import application
from cdlog.application import CaseLog
from cdlog.verify.runner import verify_log

if TYPE_CHECKING:
    from conftest import World


def test_case_states_cached_are_bounded(world: World, store_url: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for three states, recording in eight cases keeps three; a case dropped from
    memory is read back from the store, equal to what a fresh log reads, and goes on."""
    monkeypatch.setattr(application, "STREAMS_CACHED", 3)
    log = world.log
    cases = [world.open_case(f"OP-C-{i}", at=i) for i in range(8)]
    for i, case in enumerate(cases):
        world.rec(case, "ExaminationReferred", {"reason": f"rule {i}"}, by="cbpo", at=10 + i)
    assert list(log._streams) == cases[-3:]  # least recently used first
    assert len(log._names) == 3
    with CaseLog(store_url) as fresh:
        for case in cases:
            assert log.state(case) == fresh.state(case)
    world.rec(cases[0], "ExaminationConducted", {"method": "K9", "result": "alert"},
              by="cbpo", at=30)
    assert list(log._streams)[-1] == cases[0]
    assert len(log._streams) == 3
    assert [e.version for e in log.events(cases[0])] == [1, 2, 3]
    assert verify_log(log).ok
