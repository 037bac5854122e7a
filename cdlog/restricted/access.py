"""Reads of restricted values, recorded as events (who may read: the rule in the domain).

A reader is entitled to a class's values when :func:`entitlement`
(:mod:`cdlog.domain.rules.restricted`, re-exported here with the rest of that rule) says so:
the owner, a listed reader, or a third party under a prior unexpired authorisation in the
record's stream.

:func:`read_restricted` serves values only inside the transaction that inserts the
``RestrictedValuesRead`` event: the vault rows are read, decrypted and checked against the
signed commitments there, and a failure rolls the event back. A refused read records a
``RestrictedReadRefused`` event and raises.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cdlog.domain import events as ev
from cdlog.domain.rules.restricted import Entitlement, check_event, entitlement, in_force, may_see
from cdlog.errors import AccessRefusedError, InputError, NotFoundError, VerificationError
from cdlog.log.sealing import SealedEvent, stream_id
from cdlog.restricted.classes import (
    COMMITMENTS_MEMBER,
    RestrictedClass,
    class_of_event,
    commitments_of,
)
from cdlog.restricted.vault import read_vault
from cdlog.restricted.vault_record import VaultRow, open_value

if TYPE_CHECKING:
    from cdlog.application import CaseLog
    from cdlog.keys.signer import Signer

__all__ = ["Entitlement", "RestrictedRead", "access_stream", "check_event", "entitlement",
           "holding_event", "in_force", "masked", "may_see", "read_restricted", "read_time",
           "rows_of"]

# ---------------------------------------------------------------------------- reading
@dataclass(frozen=True)
class RestrictedRead:
    """What an entitled read served, with the access event committed with it."""

    record: str
    version: int
    class_name: str
    values: dict[str, Any]
    salts: dict[str, bytes]
    commitments: dict[str, str]
    event: SealedEvent


def holding_event(log: CaseLog, record: str, version: int | None) -> SealedEvent:
    """The event of ``record`` whose restricted values are meant: ``version``, or the newest
    one that commits to restricted fields."""
    events = log.events(record)
    if not events:
        raise NotFoundError(f"no stream {record!r} in this log")
    if version is not None:
        found = [e for e in events if e.version == version]
        if not found:
            raise NotFoundError(f"{record} has no version {version} (it has "
                                f"{len(events)})")
        event = found[0]
        if not commitments_of(event):
            raise InputError("version", f"{record} version {version} ({event.type}) holds "
                             "no restricted field", "an event with restricted fields")
        return event
    holding = [e for e in events if COMMITMENTS_MEMBER in e.payload]
    if not holding:
        holding = [e for e in events if commitments_of(e)]
    if not holding:
        raise NotFoundError(f"{record} holds no restricted field")
    return holding[-1]


def rows_of(log: CaseLog, event: SealedEvent) -> dict[str, VaultRow]:
    """The vault rows of one event, by field."""
    with read_vault(log) as vault:
        return {r.field: r for r in vault.of_case(stream_id(event.stream).hex)
                if r.version == event.version}


def access_stream(cls: RestrictedClass, when: datetime) -> str:
    """The access-log stream a read at ``when`` goes to (``pnr-access:2026-12``, UTC)."""
    from datetime import UTC  # noqa: PLC0415

    return f"{cls.access_stream}:{when.astimezone(UTC):%Y-%m}"


def _reader_agency(log: CaseLog, reader: Signer, when: datetime, stream: str) -> str:
    ctx = log.context
    try:
        officer = ctx.registry.check_signer(reader.key_id, ctx.position + 1, when,
                                            case=str(stream_id(stream)), version=0)
    except VerificationError as exc:
        raise InputError("reader", f"key {reader.key_id} cannot sign a read: "
                         f"{exc.failures[0].detail}", "a certified, unrevoked key") from None
    return officer.agency


def _refuse_read(log: CaseLog, cls: RestrictedClass, record: str, version: int,
                 fields: Sequence[str], reader: Signer, purpose: str, case_no: str | None,
                 when: datetime, reason: str) -> SealedEvent:
    payload = ev.RestrictedReadRefused(restricted_class=cls.name, record=record,
                                       record_version=version, fields=list(fields),
                                       purpose=purpose, case_no=case_no, reason=reason[:4000])
    return log.record(access_stream(cls, when), payload, signer=reader, at=when,
                      recorded=when)


def read_time(log: CaseLog, stream: str) -> datetime:
    """When a read or an erasure happens: now, by the log's clock, never before what the log
    has already shown (the stream's last recorded time, the key clock). There is no way to
    give another time: a read dated back would be judged against an authorisation that has
    expired since, an erasure dated forward against a retention not yet ended."""
    when = log.clock()
    if when.tzinfo is None:
        raise InputError("clock", "the log's clock gave a time without UTC offset",
                         "a timezone-aware clock")
    floor = [t for t in (log.state(stream).last_recorded,
                         getattr(log.context.registry, "clock", None)) if t is not None]
    return max([when, *floor])


def read_restricted(log: CaseLog, record: str, *, reader: Signer, purpose: str,
                    case_no: str | None = None, fields: Sequence[str] | None = None,
                    version: int | None = None) -> RestrictedRead:
    """Serve restricted values of ``record`` to ``reader`` if entitled, now (the log's
    clock); see the module."""
    if log.in_batch:
        raise InputError("read_restricted", "called inside an open batch",
                         "a read on its own (it is served when its access event commits)")
    if not purpose or not purpose.strip():
        raise InputError("purpose", "is empty", "why the values are read")
    record = log.resolve(record)
    event = holding_event(log, record, version)
    cls = class_of_event(event.type)
    assert cls is not None  # holding_event found commitments
    when = read_time(log, access_stream(cls, log.clock()))
    signed = commitments_of(event)
    rows = rows_of(log, event)
    wanted = list(fields) if fields else [f for f in signed if f in rows and
                                          not rows[f].erased]
    if not wanted:
        wanted = list(signed)
    unknown = [f for f in wanted if f not in signed]
    if unknown:
        raise InputError("fields", f"{record} version {event.version} commits to no field "
                         f"{unknown[0]!r}", "one of " + ", ".join(signed))
    agency = _reader_agency(log, reader, when, access_stream(cls, when))
    ent = entitlement(cls, agency, record, case_no, when, log.context)

    def refuse(reason: str, expected: str = "the owner, or a prior unexpired "
               "ThirdPartyDisclosureAuthorized for the case") -> AccessRefusedError:
        _refuse_read(log, cls, record, event.version, wanted, reader, purpose, case_no, when,
                     reason)
        return AccessRefusedError("restricted", "RestrictedValuesRead",
                                  f"{agency} may not read {', '.join(wanted)} of {record}: "
                                  f"{reason}", expected)

    if not ent.allowed:
        raise refuse(ent.reason)
    erased = [f for f in wanted if f in rows and rows[f].erased]
    if erased:
        raise refuse(f"{', '.join(erased)} erased (version {rows[erased[0]].erased_by})",
                     "a field whose value was not erased")
    missing = [f for f in wanted if f not in rows]
    if missing:
        raise refuse(f"{', '.join(missing)} has no value in the vault (a commitment typed by "
                     "the caller, or its row is gone)", "a field cdlog vaulted")
    keys = {f: log.vault_keys.unwrapper(rows[f].kek_id, cls.owner) for f in wanted}
    served: dict[str, tuple[Any, bytes]] = {}

    def on_read(found: list[VaultRow | None]) -> None:
        served.clear()
        for name, row in zip(wanted, found, strict=True):
            if row is None:
                raise VerificationError.at(event.case, event.version, "vault",
                                           f"field {name!r}: its vault row is gone")
            served[name] = open_value(log.log_id, row, keys[name], signed[name])

    payload = ev.RestrictedValuesRead(restricted_class=cls.name, record=record,
                                      record_version=event.version, fields=wanted,
                                      purpose=purpose, case_no=case_no,
                                      authorisation_version=ent.authorisation_version)
    case_hex = stream_id(record).hex
    try:
        with log.batch() as b:
            b.record(access_stream(cls, when), payload, signer=reader, at=when, recorded=when)
            ops = b.vault
            ops.reads.extend((case_hex, event.version, f) for f in wanted)
            ops.on_read = on_read
    except VerificationError as exc:
        if exc.failures and exc.failures[0].check == "vault":
            _refuse_read(log, cls, record, event.version, wanted, reader, purpose, case_no,
                         when, f"the vault failed its check: {exc.failures[0].detail}")
        raise
    return RestrictedRead(record=record, version=event.version, class_name=cls.name,
                          values={f: served[f][0] for f in wanted},
                          salts={f: served[f][1] for f in wanted},
                          commitments={f: signed[f] for f in wanted}, event=b.last)


def masked(payload: Mapping[str, Any], event_type: str) -> dict[str, Any]:
    """A payload with its restricted commitments replaced by the class's mask text."""
    cls = class_of_event(event_type)
    if cls is None:
        return dict(payload)
    out = dict(payload)
    for member in (*cls.events[event_type].values(), COMMITMENTS_MEMBER):
        if member in out:
            out[member] = cls.mask
    return out
