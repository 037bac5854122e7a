"""Verification across processes, with the very report the serial replay gives.

The replay is split by case: the main process reads the store once, in log order, and sends
every row to the worker process that owns its case (by the case id the row names), so each
worker replays whole cases in log order. The few context events (trust-stream events and
``ThirdPartyDisclosureAuthorized``) change what the rules and key checks of every case see, so
they go to every worker: their owner checks and reports them, the others only take them in
(:meth:`cdlog.verify.replay.Verifier.feed_context`), which moves their key registry and disclosures
exactly as the serial replay would. Rows travel in batches over pipes whose buffers bound what
is in flight, and each worker keeps a bounded number of case states in memory, so memory does
not grow with the log.

The workers' failures are merged by log position. One check is global and is settled in the
merge: an event's ``log`` must be the log named by the first event that fully verifies. Each
worker reports its first fully verified event and every event whose ``log`` differs from the
log named by the first decodable row (the hint); when the merged first fully verified event
names another log than the hint (a store rewritten from its first rows on), or no row of the
first page decodes, :func:`verify_parallel` returns None and the caller replays serially.
"""

from __future__ import annotations

import contextlib
import fcntl
import heapq
import io
import multiprocessing
import os
import pickle
import struct
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, islice
from typing import Any, NamedTuple, Protocol, cast

from eventsourcing.persistence import Notification

from cdlog.domain.config import Config
from cdlog.errors import Failure, VerificationError
from cdlog.keys.trust import TrustRoot
from cdlog.log.context import CONTEXT_TOPICS
from cdlog.log.sealing import parse
from cdlog.verify.beside import Beside, can_fork, host_heap_frozen, quiet_gc
from cdlog.verify.replay import STREAMS_IN_MEMORY, Report, Verifier
from cdlog.verify.rows import PAGE, RowFields, _as_bytes, iter_rows

BATCH = 400
"""Rows per message to a worker."""
PIPE_BYTES = 1 << 20
"""Pipe buffer asked for per worker (Linux): about a thousand rows in flight each."""
_CONTEXT_TOPICS = frozenset(CONTEXT_TOPICS)


class _Row(NamedTuple):
    """A stored row as a worker sees it: the case id as the text failures name it."""

    id: int
    originator_id: str
    originator_version: Any
    topic: Any
    state: Any


_Item = tuple[int, bool, int, str, Any, Any, Any]
"""A row as sent to a worker: sequence number in the log, whether the worker owns its case,
then the fields of :class:`_Row` (plain tuples pickle and unpickle several times faster)."""


class _Entry(NamedTuple):
    """What a worker says about one of its events: where it failed, or what log it names.

    ``log`` is the event's ``log`` when it got as far as the event checks (else None);
    ``start``/``end`` delimit its failures in the worker's failure list.
    """

    seq: int
    case: str
    version: int | None
    log: str | None
    start: int
    end: int


@dataclass
class _Result:
    events: int = 0
    cases: int = 0
    failures: list[Failure] = field(default_factory=list)
    entries: list[_Entry] = field(default_factory=list)
    first_clean: tuple[int, str] | None = None
    heads: dict[str, tuple[int, int, int, str]] = field(default_factory=dict)


class _WorkerVerifier(Verifier):
    """A :class:`Verifier` for the cases one worker owns; the log check is left to the merge."""

    def __init__(self, config: Config, trusted_roots: Iterable[TrustRoot] | None, hint: str,
                 streams_in_memory: int) -> None:
        super().__init__(config, trusted_roots, streams_in_memory=streams_in_memory)
        self.hint = hint
        self.result = _Result(failures=self.report.failures)
        self._seq = 0

    def _record_head(self, stream: str, version: int, hash_hex: str) -> None:
        seen = self.result.heads.get(stream)
        self.result.heads[stream] = (seen[0] if seen else self._seq, self._seq, version,
                                     hash_hex)

    def feed_owned(self, seq: int, row: _Row) -> None:
        """Check one event of a case this worker owns (log_id stays None: see the merge)."""
        self._seq = seq
        failures = self.report.failures
        before = len(failures)
        sealed = self._replay(row.id, row.state, cast(Notification, row))
        log = None if sealed is None else str(sealed.envelope["log"])
        if len(failures) == before:
            if self.result.first_clean is None:
                self.result.first_clean = (seq, cast(str, log))
            if log == self.hint:
                return
        case, version = (row.originator_id, None) if sealed is None else (sealed.case,
                                                                        sealed.version)
        self.result.entries.append(_Entry(seq, case, version, log, before, len(failures)))

    def finish_result(self) -> _Result:
        self.result.events = self.report.events
        self.result.cases = self.report.cases
        return self.result


class _Channel:
    """One direction of a pipe carrying length-prefixed messages."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._raw = io.FileIO(fd, "r", closefd=False)

    def send_bytes(self, data: bytes) -> None:
        view = memoryview(struct.pack("<Q", len(data)) + data)
        while view:
            view = view[os.write(self.fd, view):]

    def recv_bytes(self) -> bytearray:
        size = struct.unpack("<Q", self._exactly(8))[0]
        return self._exactly(size)

    def _exactly(self, size: int) -> bytearray:
        """The next ``size`` bytes, read into one buffer (a message arrives in pieces of the
        pipe's size: reading each into a new object and joining them copied it twice)."""
        buffer = bytearray(size)
        view = memoryview(buffer)
        got = 0
        while got < size:
            n = self._raw.readinto(view[got:])
            if not n:
                raise EOFError
            got += n
        return buffer

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


def _worker(rows_in: int, result_out: int) -> None:
    """Worker process: take the setup, replay the rows sent, send back the :class:`_Result`."""
    source, sink = _Channel(rows_in), _Channel(result_out)
    try:
        config, roots, hint, limit = pickle.loads(source.recv_bytes())  # noqa: S301
        verifier = _WorkerVerifier(config, roots, hint, limit)
        quiet_gc()
        while True:
            batch: list[_Item] | None = pickle.loads(source.recv_bytes())  # noqa: S301
            if batch is None:
                break
            for seq, own, position, case, version, topic, state in batch:
                row = _Row(position, case, version, topic, state)
                if own:
                    verifier.feed_owned(seq, row)
                else:
                    verifier.feed_context(position, state, cast(Notification, row))
        payload: tuple[str, Any] = ("ok", verifier.finish_result())
    except BaseException:  # reported to the main process, which raises
        payload = ("error", traceback.format_exc())
    sink.send_bytes(pickle.dumps(payload, pickle.HIGHEST_PROTOCOL))
    source.close()
    sink.close()


def _worker_main() -> None:
    """Entry of a worker started as a fresh interpreter: ``_worker_main ROWS_FD RESULT_FD``."""
    _worker(int(sys.argv[1]), int(sys.argv[2]))


def _widen(fd: int) -> None:
    """Ask for a larger pipe buffer (Linux), so fewer rows wait on a busy worker."""
    setsize = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setsize is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, setsize, PIPE_BYTES)


def _log_hint(rows: Sequence[RowFields]) -> str | None:
    """The ``log`` named by the first row that decodes."""
    for row in rows:
        data = _as_bytes(row[4])
        if data is None:
            continue
        try:
            log = parse(data).envelope["log"]
        except (VerificationError, ValueError, TypeError):
            continue
        if isinstance(log, str):
            return log
    return None


class _Process(Protocol):
    def join(self, timeout: float) -> bool: ...

    def kill(self) -> None: ...


class _Forked:
    def __init__(self, rows_in: int, result_out: int) -> None:
        self.proc = multiprocessing.get_context("fork").Process(
            target=_worker, args=(rows_in, result_out), daemon=True)
        self.proc.start()

    def join(self, timeout: float) -> bool:
        self.proc.join(timeout)
        return not self.proc.is_alive()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.join()


class _Started:
    """A worker in a fresh interpreter (when forking is not safe: this process has threads)."""

    def __init__(self, rows_in: int, result_out: int) -> None:
        code = "from cdlog.verify.parallel import _worker_main; _worker_main()"
        self.proc = subprocess.Popen(  # noqa: S603 - this interpreter, fixed code
            [sys.executable, "-c", code, str(rows_in), str(result_out)],
            pass_fds=(rows_in, result_out), stdin=subprocess.DEVNULL)

    def join(self, timeout: float) -> bool:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


class _Pool:
    """The worker processes and their pipes.

    Workers are forked when this process has no other thread (quick, and nothing is held by
    a thread that does not exist in the child); otherwise each is a fresh interpreter.
    """

    def __init__(self, n: int, config: Config, roots: list[TrustRoot] | None, hint: str) -> None:
        fork = can_fork()
        setup = pickle.dumps((config, roots, hint, max(STREAMS_IN_MEMORY // n, 8)),
                             pickle.HIGHEST_PROTOCOL)
        self.senders: list[_Channel] = []
        self.receivers: list[_Channel] = []
        self.procs: list[_Process] = []
        for _ in range(n):
            rows_in, rows_out = os.pipe()
            result_in, result_out = os.pipe()
            _widen(rows_out)
            self.procs.append((_Forked if fork else _Started)(rows_in, result_out))
            os.close(rows_in)
            os.close(result_out)
            self.senders.append(_Channel(rows_out))
            self.receivers.append(_Channel(result_in))
        for worker in range(n):
            self._send(worker, setup)

    def send(self, worker: int, batch: list[_Item] | None) -> None:
        self._send(worker, pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))

    def _send(self, worker: int, data: bytes) -> None:
        try:
            self.senders[worker].send_bytes(data)
        except (BrokenPipeError, ConnectionResetError):
            self._receive(worker)  # raises the worker's error
            msg = f"verification worker {worker} stopped reading"
            raise RuntimeError(msg) from None

    def results(self) -> list[_Result]:
        return [self._receive(worker) for worker in range(len(self.procs))]

    def _receive(self, worker: int) -> _Result:
        try:
            kind, value = pickle.loads(self.receivers[worker].recv_bytes())  # noqa: S301
        except EOFError:
            msg = f"verification worker {worker} ended without a result"
            raise RuntimeError(msg) from None
        if kind != "ok":
            msg = f"verification worker {worker} failed:\n{value}"
            raise RuntimeError(msg)
        return cast(_Result, value)

    def close(self) -> None:
        for channel in (*self.senders, *self.receivers):
            channel.close()
        for proc in self.procs:
            if not proc.join(timeout=10):
                proc.kill()


def _dispatch(pool: _Pool, rows: Iterator[RowFields], n: int,
              progress: Callable[[int], None] | None) -> int:
    """Send every row to its case's worker (context events to all); return the row count."""
    buffers: list[list[_Item]] = [[] for _ in range(n)]
    seq = 0
    for seq, (position, case, version, topic, state) in enumerate(rows, start=1):
        owner = hash(case) % n
        if type(topic) is str and topic in _CONTEXT_TOPICS:
            for worker in range(n):
                buffers[worker].append((seq, worker == owner, position, case, version, topic,
                                        state))
                if len(buffers[worker]) >= BATCH:
                    pool.send(worker, buffers[worker])
                    buffers[worker] = []
        else:
            buf = buffers[owner]
            buf.append((seq, True, position, case, version, topic, state))
            if len(buf) >= BATCH:
                pool.send(owner, buf)
                buffers[owner] = []
        if progress is not None and seq % PAGE == 0:
            progress(seq)
    for worker in range(n):
        if buffers[worker]:
            pool.send(worker, buffers[worker])
        pool.send(worker, None)
    return seq


def _merge(results: list[_Result], hint: str) -> Report | None:
    """One report from the workers' results, or None when the hint was wrong."""
    firsts = [r.first_clean for r in results if r.first_clean is not None]
    first = min(firsts) if firsts else None
    if first is not None and first[1] != hint:
        return None
    report = Report(events=sum(r.events for r in results), cases=sum(r.cases for r in results))
    merged = heapq.merge(*[[(e.seq, i, e) for e in r.entries]
                           for i, r in enumerate(results)])
    for _, i, entry in merged:
        if (first is not None and entry.log is not None and entry.seq > first[0]
                and entry.log != first[1]):
            report.failures.append(Failure(entry.case, entry.version, "placement",
                                           f"event of log {entry.log!r} in log {first[1]!r}"))
        report.failures.extend(results[i].failures[entry.start:entry.end])
    heads: dict[str, tuple[int, int, int, str]] = {}
    for r in results:
        for stream, (first_seq, last_seq, version, hash_hex) in r.heads.items():
            seen = heads.get(stream)
            if seen is None:
                heads[stream] = (first_seq, last_seq, version, hash_hex)
            else:
                latest = (last_seq, version, hash_hex) if last_seq > seen[1] else seen[1:]
                heads[stream] = (min(first_seq, seen[0]), *latest)
        r.heads = {}
    for stream, (_, _, version, hash_hex) in sorted(heads.items(), key=lambda kv: kv[1][0]):
        report.heads[stream] = (version, hash_hex)
    return report


def verify_parallel(log: Any, *, workers: int, trusted_roots: Iterable[TrustRoot] | None = None,
                    progress: Callable[[int], None] | None = None,
                    beside: Beside[Any] | None = None) -> Report | None:
    """Replay a store's events on ``workers`` processes (see the module docstring).

    Returns the same report as the serial :func:`cdlog.verify.runner.verify_store`, or None when the
    store's first rows do not allow splitting it (the caller then replays serially).
    ``beside`` is started once the workers are (in a process of its own, or a thread of this
    one: :mod:`cdlog.verify.beside`), and is not started when None is returned before any
    worker started; the caller takes its result.
    """
    roots = list(trusted_roots) if trusted_roots is not None else None
    rows = iter_rows(log.app.recorder)
    head = list(islice(rows, PAGE))
    hint = _log_hint(head)
    if hint is None:
        return None
    with host_heap_frozen():
        pool = _Pool(workers, log.config, roots, hint)  # forked before any thread starts
        if beside is not None:
            beside.start()
        try:
            total = _dispatch(pool, chain(head, rows), workers, progress)
            results = pool.results()
        finally:
            pool.close()
    report = _merge(results, hint)
    if report is not None and progress is not None:
        progress(total)
    return report
