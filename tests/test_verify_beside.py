"""Work beside the replay (cdlog.verify.beside): in a forked process given the store opened
anew where it can be, else in a thread; any failure of the process runs it again here, so the
caller sees its own exception."""

from __future__ import annotations

import gc
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cdlog.application import CaseLog
from cdlog.errors import StoreError
from cdlog.verify.beside import Beside, _read_all, reopener


@pytest.fixture
def log(tmp_path: Path) -> Iterator[CaseLog]:
    opened = CaseLog(f"sqlite:///{tmp_path / 'store' / 'cdlog.db'}")
    try:
        yield opened
    finally:
        opened.close()


def _pids(path: Path) -> list[int]:
    return [int(line) for line in path.read_text().split()] if path.exists() else []


def test_forked_process_gets_the_store_opened_anew(log: CaseLog, tmp_path: Path) -> None:
    runs = tmp_path / "runs"

    def work(opened: Any) -> tuple[str, str, bool]:
        with runs.open("a") as out:
            out.write(f"{os.getpid()}\n")
        return opened.store.url, opened.log_id, opened is log

    beside = Beside(log, work)
    beside.start()
    assert beside.started
    assert beside.result() == (log.store.url, log.log_id, False)
    assert beside.where == "process"
    [pid] = _pids(runs)
    assert pid != os.getpid()


def test_a_thread_when_this_process_has_other_threads(log: CaseLog) -> None:
    """A fork would not carry the other threads (nor what they hold): a thread runs it."""
    stop = threading.Event()
    waiting = threading.Thread(target=stop.wait)
    waiting.start()
    try:
        beside = Beside(log, lambda opened: (opened is log, threading.current_thread().name))
        beside.start()
        same, name = beside.result()
    finally:
        stop.set()
        waiting.join()
    assert beside.where == "thread"
    assert same
    assert name.startswith("cdlog-verify")


def test_a_thread_for_a_log_that_cannot_be_opened_again() -> None:
    class Other:
        pass

    other = Other()
    assert reopener(other) is None
    beside = Beside(other, lambda opened: opened is other)
    beside.start()
    assert beside.result() is True
    assert beside.where == "thread"


def test_never_started_runs_here(log: CaseLog) -> None:
    beside = Beside(log, lambda opened: opened is log)
    assert not beside.started
    assert beside.result() is True
    assert beside.where == "here"


def test_an_error_in_the_process_is_raised_here_as_itself(log: CaseLog, tmp_path: Path) -> None:
    """The work raised in the process: it runs again here, and its own error reaches the
    caller (not a wrapper, not a traceback text)."""
    runs = tmp_path / "runs"

    def work(opened: Any) -> None:
        with runs.open("a") as out:
            out.write(f"{os.getpid()}\n")
        raise StoreError("the store is damaged (test)")

    beside = Beside(log, work)
    beside.start()
    with pytest.raises(StoreError, match="damaged"):
        beside.result()
    assert beside.where == "here"
    pids = _pids(runs)
    assert len(pids) == 2
    assert pids[0] != os.getpid()
    assert pids[1] == os.getpid()


@pytest.mark.parametrize("how", ["unpicklable", "dies", "store gone"])
def test_a_failed_process_runs_the_work_here(log: CaseLog, tmp_path: Path, how: str) -> None:
    """A value that does not pickle, a process that dies, a store that will not open there:
    the work's value comes from this process instead."""
    me = os.getpid()

    def work(opened: Any) -> Any:
        if os.getpid() != me and how == "dies":
            os._exit(3)
        return threading.Lock() if how == "unpicklable" else opened is log

    if how == "store gone":
        (tmp_path / "store" / "cdlog.db").rename(tmp_path / "moved.db")
    beside = Beside(log, work)
    beside.start()
    value = beside.result()
    assert beside.where == "here"
    assert value is True if how != "unpicklable" else hasattr(value, "acquire")


def test_abandon_ends_the_process(log: CaseLog) -> None:
    def work(opened: Any) -> None:
        time.sleep(60)

    beside = Beside(log, work)
    beside.start()
    proc = beside._proc
    beside.abandon()
    assert not proc.is_alive()
    assert proc.exitcode == -signal.SIGKILL  # ended, not waited for to the end of its work
    assert not beside.started


def test_a_cut_message_is_a_failure() -> None:
    for data, expected in [(b"", b""), (b"\x00", b"\x00"), (b"\x05" + bytes(7) + b"abc", b"\x00"),
                           (b"\x03" + bytes(7) + b"abc", b"\x03" + bytes(7) + b"abc")]:
        read, write = os.pipe()
        os.write(write, data)
        os.close(write)
        try:
            assert _read_all(read) == expected
        finally:
            os.close(read)


def test_the_process_collects_garbage_quietly_and_this_one_as_before(log: CaseLog) -> None:
    """The side process freezes what the fork brought and collects its young garbage every
    20,000 allocations (the tree audit's head map made the default thresholds cost a quarter
    of its time); this process keeps its own settings."""
    before = gc.get_threshold()
    beside = Beside(log, lambda opened: (gc.get_threshold(), gc.get_freeze_count() > 0))
    beside.start()
    assert beside.result() == ((20_000, 20, 20), True)
    assert beside.where == "process"
    assert gc.get_threshold() == before
