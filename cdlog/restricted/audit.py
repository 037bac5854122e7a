"""Checking the vault against the signed log (``cdlog verify`` runs :func:`vault_integrity`).

Without keys (:func:`vault_integrity`, part of every store verification):

* every vault row belongs to a stored event of its class whose signed payload commits to that
  field with exactly the row's commitment;
* every field an event lists under ``commitments`` (cdlog computed and vaulted them) has its row;
* a row is held (data key, nonce, ciphertext all present) unless a ``RestrictedValuesErased``
  event of the same stream names its version and field, in which case its data is gone and its
  ``erased_by`` is that event's version.

With the owner's unlocked key-encryption key (:func:`verify_vault` with ``keys``), every held
value is also decrypted and checked against its signed commitment, so a changed ciphertext,
nonce, wrapped key, salt or value is found. Every failure has check ``vault`` and is located
at the event's case id and version, naming the field.
"""

from __future__ import annotations

import sqlite3
import uuid
from typing import Any

from eventsourcing.persistence import PersistenceError

from cdlog.errors import CdlogError, Failure, KeyStoreError, VerificationError
from cdlog.log.sealing import SealedEvent, parse
from cdlog.restricted.classes import CLASSES, COMMITMENTS_MEMBER, class_of_event, commitments_of
from cdlog.restricted.kek import KeyRing
from cdlog.restricted.vault import read_vault
from cdlog.restricted.vault_record import VaultRow, open_value


def _event(log: Any, case: str, version: int) -> SealedEvent | None:
    try:
        rows = log.app.recorder.select_events(uuid.UUID(case), gt=version - 1, lte=version,
                                              limit=1)
    except (ValueError, TypeError, CdlogError):
        return None
    if not rows:
        return None
    try:
        return parse(rows[0].state, case, version)
    except VerificationError:
        return None  # the event checks report it


def _holding_events(log: Any) -> list[SealedEvent]:
    """Every stored event of a type that carries restricted values."""
    out = []
    types = {t for cls in CLASSES.values() for t in cls.events}
    for type_ in sorted(types):
        start = 1
        while True:
            page = log.app.recorder.select_notifications(start=start, limit=1000,
                                                         topics=["cdlog:" + type_])
            for n in page:
                try:
                    out.append(parse(n.state, str(n.originator_id), n.originator_version))
                except VerificationError:
                    continue
            if len(page) < 1000:
                break
            start = page[-1].id + 1
    return out


def _erasures(log: Any, case: str) -> dict[tuple[int, str], int]:
    """``(record version, field) -> erasure event version`` of one stream."""
    out: dict[tuple[int, str], int] = {}
    try:
        rows = log.app.recorder.select_events(uuid.UUID(case))
    except (ValueError, TypeError, CdlogError):
        return out
    for row in rows:
        if row.topic != "cdlog:RestrictedValuesErased":
            continue
        try:
            e = parse(row.state, case, row.originator_version)
        except VerificationError:
            continue
        for name in e.payload.get("fields", []):
            out.setdefault((int(e.payload.get("record_version", 0)), str(name)), e.version)
    return out


def verify_vault(log: Any, keys: KeyRing | None = None) -> list[Failure]:
    """The vault's failures (check ``vault``), located; see the module."""
    failures: list[Failure] = []
    with read_vault(log) as vault:
        rows = vault.all()
    by_key: dict[tuple[str, int, str], VaultRow] = {(r.case, r.version, r.field): r
                                                     for r in rows}
    erasures: dict[str, dict[tuple[int, str], int]] = {}

    def fail(case: str, version: int, detail: str) -> None:
        failures.append(Failure(case, version, "vault", detail))

    for row in rows:
        event = _event(log, row.case, row.version)
        if event is None:
            fail(row.case, row.version, f"field {row.field!r}: a vault row for no stored event")
            continue
        cls = class_of_event(event.type)
        signed = commitments_of(event).get(row.field)
        if cls is None or signed is None:
            fail(row.case, row.version, f"field {row.field!r}: the vault holds a value the "
                 f"event ({event.type}) does not commit to")
            continue
        if row.class_name != cls.name:
            fail(row.case, row.version, f"field {row.field!r}: the row's class "
                 f"{row.class_name!r} is not the event's ({cls.name})")
        if row.commitment != signed:
            fail(row.case, row.version, f"field {row.field!r}: the row's commitment differs "
                 "from the one signed in the event (the row was changed)")
            continue
        erased_by = erasures.setdefault(row.case, _erasures(log, row.case)).get(
            (row.version, row.field))
        data = (row.wrapped_key, row.nonce, row.ciphertext)
        if erased_by is not None:
            if row.erased_by != erased_by or any(d is not None for d in data):
                fail(row.case, row.version, f"field {row.field!r}: erased by version "
                     f"{erased_by}, but the vault row still holds data or names version "
                     f"{row.erased_by}")
            continue
        if row.erased_by is not None or any(d is None for d in data):
            fail(row.case, row.version, f"field {row.field!r}: the vault row lost its value "
                 "(erased without an erasure event, or its columns were emptied)")
            continue
        if keys is not None:
            try:
                kek = keys.unwrapper(row.kek_id, cls.owner)
            except KeyStoreError:
                continue  # not this reader's key: only the structure is checked
            try:
                open_value(log.log_id, row, kek, signed)
            except VerificationError as exc:
                failures.extend(exc.failures)
    for event in _holding_events(log):
        listed = event.payload.get(COMMITMENTS_MEMBER)
        if not isinstance(listed, dict):
            continue
        for name in listed:
            if (event.case, event.version, str(name)) not in by_key:
                fail(event.case, event.version, f"field {name!r}: committed and vaulted by "
                     "cdlog, but its vault row is missing")
    return failures


def vault_integrity(log: Any) -> list[Failure]:
    """The structural vault checks of every store verification (no key needed)."""
    try:
        return verify_vault(log)
    except (CdlogError, ValueError, TypeError, KeyError, sqlite3.Error,
            PersistenceError) as exc:  # a damaged store: the event checks say where
        return [Failure("<store>", None, "vault", f"the vault cannot be read: {exc}")]
