"""Erasure that keeps the proof.

:func:`erase_restricted` records ``RestrictedValuesErased`` in the record's own stream and, in
the same transaction, sets the vault rows' ``wrapped_key``, ``nonce`` and ``ciphertext`` to
NULL (SQLite with ``secure_delete`` on, so freed pages are overwritten, and the write-ahead
log checkpointed after the commit, best effort). The events, their
commitments and signatures, the Merkle tree and every checkpoint and bundle are untouched, so
``cdlog verify`` still passes; the values can no longer be read through cdlog by anyone.

What it does not do (docs/SPEC.md §12): a copy of the store taken before the erasure (a backup,
a replica, PostgreSQL's not yet vacuumed row versions, SQLite's WAL until checkpointed) still
holds the ciphertext *and* its wrapped data key; whoever also holds the owner's KEK can open it.
Old backups are safe only when the wrapped data keys are kept apart from them (a
:class:`~cdlog.restricted.vault.KeyWrapper` backed by an HSM that keeps the data keys and
implements ``destroy``), or when the KEK itself is destroyed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Literal

from eventsourcing.sqlite import SQLiteApplicationRecorder

from cdlog.canonical import parse_time
from cdlog.domain import events as ev
from cdlog.errors import InputError, RuleViolationError
from cdlog.log.sealing import SealedEvent, stream_id
from cdlog.logging import get_logger
from cdlog.restricted.access import holding_event, read_time, rows_of
from cdlog.restricted.classes import class_of_event, commitments_of

if TYPE_CHECKING:
    from cdlog.application import CaseLog
    from cdlog.keys.signer import Signer

Reason = Literal["retention_ended", "legal_order"]
log_warning = get_logger("cdlog.restricted").warning


def received_day(event: SealedEvent) -> date:
    """The day a record's values were received (``received_at``, else when it occurred)."""
    received = event.payload.get("received_at")
    if isinstance(received, str):
        return parse_time(received).date()
    occurred = event.envelope["occurred"]
    return parse_time(str(occurred.get("at") or occurred["to"])).date()


def erase_restricted(log: CaseLog, record: str, *, signer: Signer, reason: Reason,
                     order_ref: str | None = None, fields: Sequence[str] | None = None,
                     version: int | None = None) -> SealedEvent:
    """Destroy the vaulted values of ``fields`` (default: every held one) of ``record``'s
    event ``version`` (default: the one holding restricted fields); return the erasure event.

    It happens now, by the log's clock (:func:`~cdlog.restricted.access.read_time`).
    ``retention_ended`` is refused before the class's retention end (a placeholder period);
    ``legal_order`` needs ``order_ref``. Only the owner agency may erase (a rule, checked again
    by ``cdlog verify``). Inside an open batch it joins the batch.
    """
    record = log.resolve(record)
    when = read_time(log, record)
    event = holding_event(log, record, version)
    cls = class_of_event(event.type)
    assert cls is not None
    signed = commitments_of(event)
    rows = rows_of(log, event)
    held = [f for f in signed if f in rows and not rows[f].erased]
    wanted = list(fields) if fields else held
    for name in wanted:
        if name not in signed:
            raise InputError("fields", f"{record} version {event.version} commits to no field "
                             f"{name!r}", "one of " + ", ".join(signed))
        if name not in rows:
            raise InputError("fields", f"field {name!r} of {record} version {event.version} "
                             "has no value in the vault", "a vaulted field")
        if rows[name].erased:
            raise InputError("fields", f"field {name!r} of {record} version {event.version} "
                             f"was erased already (version {rows[name].erased_by})",
                             "a field not erased yet")
    if not wanted:
        raise InputError("fields", f"{record} version {event.version} has no held value left",
                         "a record with vaulted values")
    if reason == "legal_order" and not (order_ref and order_ref.strip()):
        raise InputError("order_ref", "is missing", "the legal order's reference")
    if reason == "retention_ended":
        due = cls.retention_end(received_day(event))
        if when.date() < due:
            raise RuleViolationError(
                "retention", "RestrictedValuesErased", f"the retention of {cls.label} "
                f"({cls.retention_months} months, {cls.retention_source}) ends on "
                f"{due.isoformat()}, not by {when.date().isoformat()}",
                "an erasure on or after that day, or reason legal_order")
    payload = ev.RestrictedValuesErased(restricted_class=cls.name,
                                        record_version=event.version, fields=wanted,
                                        reason=reason, order_ref=order_ref)
    case_hex = stream_id(record).hex
    with log.batch() as b:
        sealed = b.record(record, payload, signer=signer, at=when, recorded=when)
        b.vault.erase.extend((case_hex, event.version, f, sealed.version) for f in wanted)

        def destroy() -> None:  # an HSM that keeps the data keys destroys them too
            for name in wanted:
                row = rows[name]
                kek = log.vault_keys.by_id(row.kek_id)
                if kek is not None:
                    hook = getattr(kek, "destroy", None)
                    if callable(hook) and row.wrapped_key is not None:
                        hook(row.wrapped_key)

        def tidy() -> None:
            checkpoint_wal(log)

        b.on_commit(destroy)
        b.on_commit(tidy)
    return sealed


def checkpoint_wal(log: CaseLog) -> bool:
    """SQLite: move the write-ahead log into the file and truncate it, so the erased pages
    (overwritten there by ``secure_delete``) leave the WAL too; best effort (a reader of
    another process can hold the WAL). Return whether it completed."""
    recorder = log.app.recorder
    if not isinstance(recorder, SQLiteApplicationRecorder):
        return False
    try:
        with recorder.datastore.get_connection(commit=True) as conn:
            cursor = conn.cursor()
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            row = cursor.fetchone()
    except Exception as exc:  # the erasure is committed; this only tidies
        log_warning("the WAL checkpoint after an erasure failed", error=str(exc))
        return False
    return row is not None and int(row[0]) == 0
