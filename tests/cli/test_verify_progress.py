"""`cdlog verify` with its progress bar (a terminal) keeps this process free of other threads, so
the replay's workers and the tree audit are forked (cdlog.verify.beside), as without the bar."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from cdlog.cli import verify_cmd
from cdlog.verify import beside, parallel, runner

if TYPE_CHECKING:
    from conftest import World, world_with_scenarios
else:
    from tests.conftest import World, world_with_scenarios


@pytest.fixture
def scenario_world(tmp_path: Path) -> World:
    return world_with_scenarios(tmp_path / "store" / "cdlog.db")


def test_the_progress_bar_starts_no_thread(scenario_world: World,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    log = scenario_world.log
    monkeypatch.setattr(runner, "PARALLEL_MIN_EVENTS", 1)
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    seen: dict[str, Any] = {"threads": [], "where": [], "forked": []}
    start, result, pool = beside.Beside.start, beside.Beside.result, parallel._Pool.__init__

    def watched_start(self: beside.Beside[Any]) -> None:
        seen["threads"].append(threading.active_count())
        start(self)

    def watched_result(self: beside.Beside[Any]) -> Any:
        try:
            return result(self)
        finally:
            seen["where"].append(self.where)

    def watched_pool(self: parallel._Pool, *args: Any) -> None:
        pool(self, *args)
        seen["forked"].append(all(isinstance(p, parallel._Forked) for p in self.procs))

    monkeypatch.setattr(beside.Beside, "start", watched_start)
    monkeypatch.setattr(beside.Beside, "result", watched_result)
    monkeypatch.setattr(parallel._Pool, "__init__", watched_pool)
    report = verify_cmd._run(log, None, log.max_position(), show=True)
    assert report.ok, report.failures
    assert report.events == log.max_position()
    assert seen == {"threads": [1], "where": ["process"], "forked": [True]}
