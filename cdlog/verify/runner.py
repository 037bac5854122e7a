"""Verifying a whole store: the replay (in this process or in worker processes), SQLite's own
check, and with the Merkle log the tree audit, in one report.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from eventsourcing.sqlite import SQLiteApplicationRecorder

from cdlog.errors import CdlogError, Failure
from cdlog.keys.keyfile import read_key_file_info
from cdlog.keys.trust import TrustRoot
from cdlog.log.ledger import read_ledger
from cdlog.log.merkle import b64
from cdlog.log.note import NoteVerifier
from cdlog.log.sealing import parse
from cdlog.log.tree_audit import LOG, TreeAudit, audit_tree
from cdlog.verify.beside import Beside
from cdlog.verify.replay import Report, Verifier
from cdlog.verify.rows import PAGE, iter_notifications

T = TypeVar("T")

PARALLEL_MIN_EVENTS = 20_000
"""Stores with fewer events are replayed in this process (starting workers costs more)."""


def default_workers(events: int) -> int:
    """How many processes verify a store of ``events`` events by default: one per core for
    large stores (on POSIX systems), else 1 (serial)."""
    cores = os.cpu_count() or 1
    parallel = events >= PARALLEL_MIN_EVENTS and cores > 1 and os.name == "posix"
    return cores if parallel else 1


def verify_store(log: Any, *, trusted_roots: Iterable[TrustRoot] | None = None,
                 progress: Callable[[int], None] | None = None,
                 workers: int | None = None) -> Report:
    """Replay every event of a :class:`~cdlog.application.CaseLog` and check it.

    ``progress`` is called with the number of events checked so far, every page.
    ``workers`` processes share the replay by case (:mod:`cdlog.verify.parallel`); the
    default is one per core for stores of :data:`PARALLEL_MIN_EVENTS` events or more, else
    the replay runs in this process. Either way the report is the same.
    """
    return replay_store(log, trusted_roots=trusted_roots, progress=progress,
                        workers=workers)[0]


def replay_store(log: Any, *, trusted_roots: Iterable[TrustRoot] | None = None,
                 progress: Callable[[int], None] | None = None, workers: int | None = None,
                 alongside: Callable[[Any], T] | None = None) -> tuple[Report, T | None]:
    """:func:`verify_store`, and ``alongside(log)`` (other work on the store, such as
    rebuilding its Merkle tree) run once, with what it returned (None without it).

    Beside worker processes, the other work, the store's own checks (SQLite's, the vault's)
    and the case numbers run together in a process of their own (or a thread:
    :mod:`cdlog.verify.beside`), given the store opened anew; what they return must pickle.
    Without workers they run in this process after the replay, given ``log``.
    """
    if workers is None:
        workers = default_workers(log.max_position())

    def other_work(opened: Any) -> dict[str, Any]:
        found: dict[str, Any] = {"alongside": alongside(opened) if alongside else None}
        if workers > 1:
            found["case_nos"] = store_case_numbers(opened)
        found["store"] = _store_checks(opened)
        return found

    beside = Beside(log, other_work)
    if workers > 1:
        from cdlog.verify.parallel import verify_parallel  # noqa: PLC0415 - only parallel runs load it

        try:
            report = verify_parallel(log, workers=workers, trusted_roots=trusted_roots,
                                     progress=progress, beside=beside)
        except BaseException:
            beside.abandon()
            raise
        found = beside.result() if beside.started else None
        if report is not None and found is not None:
            report.case_nos = found["case_nos"]
            report.failures.extend(found["store"])
            return report, found["alongside"]
    else:
        found = None
    report = _verify_serial(log, trusted_roots, progress)
    if found is None:  # not run beside workers (none, or the split was declined early)
        found = beside.result()
    report.failures.extend(found["store"])
    return report, found["alongside"]


def _store_checks(log: Any) -> list[Failure]:
    """What the store itself holds wrong: SQLite's check of its file, then the vault's rows."""
    from cdlog.restricted.audit import vault_integrity  # noqa: PLC0415 - vault rows (issue 11)

    return [*store_integrity(log), *vault_integrity(log)]


def store_integrity(log: Any) -> list[Failure]:
    """SQLite's own check of a store file (``PRAGMA quick_check``): damage to an index or a
    free page leaves every event readable, so the replay alone would pass over it. One
    ``store`` failure (place ``<store>``) names the file and SQLite's first findings; a
    PostgreSQL server checks its own pages."""
    recorder = log.app.recorder
    if not isinstance(recorder, SQLiteApplicationRecorder):
        return []
    try:
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute("PRAGMA quick_check(5)")
            found = [str(row[0]) for row in cursor.fetchall()]
    except (CdlogError, sqlite3.Error) as exc:
        found = [str(exc)]
    if found == ["ok"]:
        return []
    lines = [line.strip() for text in found for line in text.splitlines()]
    detail = "; ".join(line for line in lines if line and not line.startswith("*** in database"))
    return [Failure("<store>", None, "store",
                    f"{recorder.datastore.pool.db_name}: SQLite finds the file damaged "
                    f"(PRAGMA quick_check: {detail}); restore it from a copy")]


def store_case_numbers(log: Any) -> dict[str, str]:
    """The OI case number of every accepted case in a store, by stream name (read from its
    ``CaseAccepted`` events only; undecodable ones are skipped, verification reports them)."""
    numbers: dict[str, str] = {}
    start = 1
    while True:
        page = log.app.recorder.select_notifications(start=start, limit=PAGE,
                                                     topics=["cdlog:CaseAccepted"])
        for n in page:
            try:
                sealed = parse(n.state)
                numbers[sealed.stream] = str(sealed.payload["case_no"])
            except (CdlogError, KeyError, TypeError, ValueError):
                continue
        if len(page) < PAGE:
            return numbers
        start = page[-1].id + 1


def _verify_serial(log: Any, trusted_roots: Iterable[TrustRoot] | None,
                   progress: Callable[[int], None] | None) -> Report:
    verifier = Verifier(log.config, trusted_roots)
    for i, row in enumerate(iter_notifications(log.app.recorder), start=1):
        verifier.feed(row.id, row.state, row)
        if progress is not None and i % PAGE == 0:
            progress(i)
    report = verifier.finish()
    if progress is not None:
        progress(report.events)
    return report


@dataclass
class LogReport(Report):
    """A store verification report with the Merkle-log results."""

    tree_size: int = 0
    tree_root: str = ""
    checkpoints: int = 0
    latest_checkpoint: int | None = None
    checkpoint_key: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The ``cdlog verify --json`` document, with a ``tree`` section."""
        doc = super().as_json()
        doc["tree"] = {"size": self.tree_size, "root": self.tree_root,
                       "checkpoints": self.checkpoints,
                       "latest_checkpoint": self.latest_checkpoint,
                       "checkpoint_key": self.checkpoint_key}
        return doc


def stored_log_verifier(log: Any) -> NoteVerifier | None:
    """The log's checkpoint verifier from the public header of its key file, if there is one."""
    path = Path(log.store.home) / "keys" / "log.key"
    if not path.exists():
        return None
    return NoteVerifier(log.log_id, read_key_file_info(path).public_key)


def verify_log(log: Any, *, trusted_roots: Iterable[TrustRoot] | None = None,
               log_vkey: str | None = None, known: Sequence[str] = (),
               progress: Callable[[int], None] | None = None) -> LogReport:
    """Verify a store: every event (see :mod:`cdlog.verify`) and the Merkle log.

    ``log_vkey`` is the log's C2SP verifier key; without it the public key in the log's key
    file header is used, and without that checkpoints are checked for everything but their
    signature. ``known`` are signed checkpoints saved elsewhere: the log must extend each.
    """
    verifier = NoteVerifier.from_vkey(log_vkey) if log_vkey else stored_log_verifier(log)

    def rebuild_tree(opened: Any) -> TreeAudit:  # beside the replay's workers if there are any
        with read_ledger(opened) as led:
            return audit_tree(led, log.log_id, verifier, known)

    base, audit = replay_store(log, trusted_roots=trusted_roots, progress=progress,
                               alongside=rebuild_tree)
    assert audit is not None
    report = LogReport(events=base.events, cases=base.cases, failures=list(base.failures),
                       heads=dict(base.heads), case_nos=dict(base.case_nos))
    if verifier is not None and verifier.name != log.log_id:
        report.failures.append(Failure(LOG, None, "checkpoint", f"the log key is named "
                                       f"{verifier.name!r}, not the log's origin "
                                       f"{log.log_id!r}"))
    report.failures.extend(audit.failures)
    report.tree_size = audit.size
    report.tree_root = b64(audit.root)
    report.checkpoints = audit.checkpoints
    report.latest_checkpoint = audit.latest_checkpoint
    report.checkpoint_key = verifier.vkey if verifier is not None else None
    return report
