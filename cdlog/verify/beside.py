"""Work on a store that runs beside the replay's worker processes (the tree audit, the store's
own checks): in a process of its own where it can be, else in a thread.

On two cores, a thread of the main process competes with the main thread's dispatch for the
GIL and for the caches: the tree audit that costs 6.6 us of CPU an event alone cost 11.4 beside
the dispatch at 1M events. Forked, it costs what it costs alone (docs/PERFORMANCE.md, round 7).

A forked process opens the store anew (no connection crosses the fork) and sends back what the
work returned, pickled. When it cannot (this process has other threads, which a fork would not
carry; the log cannot be opened again: it has no ``reopened`` method), the work
runs in a thread, as before. When the process fails in any way (the work raised, the store
would not open, the process died), the work is run again in this process after the replay, so
its error is raised here, as the caller's own exception, exactly as it would be without the
process.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import pickle
import struct
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")

_FAILED = b"\x00"
"""What the process sends when the work or its pickle failed (the caller then runs it)."""


def can_fork() -> bool:
    """Whether this process may fork a verification process: the platform forks and no
    other thread runs (a fork carries only the calling thread, and nothing another thread
    holds, such as a lock, would ever be released in the child)."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1


def reopener(log: Any) -> Callable[[], Any] | None:
    """How a forked process opens ``log``'s store anew (its ``reopened`` method, which
    :class:`~cdlog.application.CaseLog` has), or None when it cannot."""
    reopen = getattr(log, "reopened", None)
    return reopen if callable(reopen) else None


class Beside(Generic[T]):
    """``work(log)`` run once beside the replay: :meth:`start` it, then :meth:`result`.

    ``work`` is given the log to read: in a process, the store opened anew; in a thread or
    in this process, ``log`` itself.
    """

    def __init__(self, log: Any, work: Callable[[Any], T]) -> None:
        self.log = log
        self.work = work
        self.where = ""
        """Where the work ran: ``process``, ``thread`` or ``here`` (set by :meth:`result`)."""
        self._proc: Any = None
        self._fd = -1
        self._side: ThreadPoolExecutor | None = None
        self._future: Future[T] | None = None

    def start(self) -> None:
        """Start the work in a forked process (this process must have no other thread), else
        in a thread."""
        reopen = reopener(self.log)
        if reopen is not None and can_fork():
            read_fd, write_fd = os.pipe()
            self._proc = multiprocessing.get_context("fork").Process(
                target=_run, args=(write_fd, reopen, self.work), daemon=True)
            self._proc.start()
            os.close(write_fd)
            self._fd = read_fd
            return
        self._side = ThreadPoolExecutor(1, thread_name_prefix="cdlog-verify")
        self._future = self._side.submit(self.work, self.log)

    @property
    def started(self) -> bool:
        """Whether :meth:`start` ran."""
        return self._proc is not None or self._future is not None

    def result(self) -> T:
        """What the work returned; its exception, raised here; run here if never started."""
        if self._future is not None:
            assert self._side is not None
            try:
                return self._future.result()
            finally:
                self.where = "thread"
                self._side.shutdown()
        if self._proc is not None:
            try:
                data = _read_all(self._fd)
            finally:
                os.close(self._fd)
                self._proc.join()
            if data and data != _FAILED:
                with contextlib.suppress(Exception):
                    value: T = pickle.loads(data[8:])  # noqa: S301 - our own child's bytes
                    self.where = "process"
                    return value
        self.where = "here"
        return self.work(self.log)

    def abandon(self) -> None:
        """Stop waiting for the work (the replay failed): end its process, leave its thread."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.join()
            os.close(self._fd)
            self._proc = None
        if self._side is not None:
            self._side.shutdown(wait=False)
            self._future = self._side = None


def quiet_gc() -> None:
    """Collect garbage less often in a verification process (a worker, the side process):
    what it holds so far (modules, configuration, what the fork brought) is frozen out of
    every collection, and the young generation is collected every 20,000 container
    allocations, not 700. A replay allocates and frees a few dozen containers an event and
    keeps its case states; the tree audit keeps a list per stream in its head map. At 1M
    events the default thresholds ran about 900 young and 7 full collections in each worker
    (0.52 s), and 1,430 and 9 in the tree audit (1.5 s of its 6); these run under a dozen
    young ones (0.05-0.15 s). Cycles that become garbage (a failure's traceback) are still
    collected, in the middle generation."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


@contextlib.contextmanager
def host_heap_frozen() -> Iterator[None]:
    """While the main process forks the workers and sends them the rows, keep the objects it
    already holds (the host application's, however many) out of its collections, as
    :func:`gc.freeze` does, and put them back after (:func:`gc.unfreeze`). The dispatch makes
    and drops tuples and lists by the thousand a page, so the collector runs often, and each
    full collection walked the whole heap: at 1M events from a small process the collections
    took 0.8 s (0.35 s of it in 7 full ones) of the main process's 4.7 s of CPU, and 1.4 s with
    3 million objects held (docs/PERFORMANCE.md, round 8). Frozen before the fork, the
    workers also share those pages longer. Nothing
    changes when the process holds frozen objects of its own (a pre-fork server): unfreezing
    after would thaw them too."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _run(fd: int, reopen: Callable[[], Any], work: Callable[[Any], Any]) -> None:
    """The forked process: open the store, do the work, send back its pickled value."""
    data = _FAILED
    quiet_gc()
    try:
        log = reopen()
        try:
            value = work(log)
        finally:
            log.close()
        body = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        data = struct.pack("<Q", len(body)) + body
    except BaseException:  # noqa: S110 - the parent runs the work again and raises
        pass
    view = memoryview(data)
    with contextlib.suppress(OSError):
        while view:
            view = view[os.write(fd, view):]
    os.close(fd)


def _read_all(fd: int) -> bytes:
    """Everything the process wrote, up to its end (empty when it died before writing); a
    message whose length prefix does not match is taken as a failure."""
    parts = []
    while True:
        part = os.read(fd, 1 << 20)
        if not part:
            break
        parts.append(part)
    data = b"".join(parts)
    if len(data) >= 8 and struct.unpack("<Q", data[:8])[0] == len(data) - 8:
        return data
    return _FAILED if data else b""
