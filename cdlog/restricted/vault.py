"""The vault: restricted values and their salts, encrypted, in the log's own store.

Each vaulted value is one row of ``restricted_vault`` (SQLite) or ``cdlog_restricted_vault``
(PostgreSQL, in the store's schema), keyed by (case id, version, field), written by the
recorder in the very transaction that inserts its event. A row holds:

* ``ciphertext`` = AES-256-GCM under a fresh 32-byte data key and 12-byte ``nonce`` of
  ``JCS({"salt": base64(salt), "value": value})``;
* ``wrapped_key`` = the data key wrapped by the class owner's key-encryption key (KEK,
  :class:`KeyWrapper`; ``kek_id`` names it);
* ``commitment``, ``class``: as signed in the event (the row is bound to its event by the
  associated data of both encryptions, :func:`associated_data`);
* ``erased_by``: NULL, or the version of the ``RestrictedValuesErased`` event that destroyed
  ``ciphertext``, ``nonce`` and ``wrapped_key`` (set to NULL).

The parts: :mod:`cdlog.restricted.kek` (key-encryption keys and their files),
:mod:`cdlog.restricted.vault_record` (the record's encryption format) and
:mod:`cdlog.restricted.vault_store` (the table's SQL, cursor and in-transaction operations);
this module reads a log's vault and re-exports the parts' names. No message of these modules
carries a value, a salt, a key or a passphrase.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from cdlog.errors import VerificationError
from cdlog.log.ledger import recorder_of
from cdlog.restricted.kek import (
    FILE_MODE,
    KEK_INFO,
    NONCE_BYTES,
    KekFileInfo,
    KeyRing,
    KeyWrapper,
    X25519KeyWrapper,
    kek_key_id,
    read_kek_file,
    read_kek_info,
    write_kek_file,
)
from cdlog.restricted.vault_record import (
    DATA_KEY_BYTES,
    VAULT_FORMAT,
    VaultRow,
    associated_data,
    open_value,
    seal_value,
    vault_failure,
    vault_plaintext,
)
from cdlog.restricted.vault_store import (
    SQLITE_VAULT_SQL,
    VaultCursor,
    VaultOps,
    VaultSQL,
    apply_vault,
    postgres_vault_sql,
)

__all__ = [
    "DATA_KEY_BYTES", "FILE_MODE", "KEK_INFO", "NONCE_BYTES", "SQLITE_VAULT_SQL",
    "VAULT_FORMAT", "KekFileInfo", "KeyRing", "KeyWrapper", "VaultCursor", "VaultEntry",
    "VaultOps", "VaultRow", "VaultSQL", "X25519KeyWrapper", "apply_vault", "associated_data",
    "kek_key_id", "open_value", "postgres_vault_sql", "read_kek_file", "read_kek_info",
    "read_vault", "seal_value", "vault_entries", "vault_failure", "vault_plaintext",
    "write_kek_file",
]


@contextlib.contextmanager
def read_vault(log: Any) -> Iterator[VaultCursor]:
    """A read-only view of ``log``'s vault table."""
    recorder: Any = recorder_of(log)
    with recorder.read() as ledger:
        yield VaultCursor(ledger._c, recorder.vault_sql)


@dataclass(frozen=True)
class VaultEntry:
    """What the vault holds for one field of one event (no secret)."""

    stream: str | None
    """The stream name (None when its event cannot be read)."""
    case: str
    version: int
    field: str
    class_name: str
    commitment: str
    kek_id: str
    erased: bool
    erased_by: int | None
    """The version of the ``RestrictedValuesErased`` event in the same stream."""


def vault_entries(log: Any, stream: str | None = None) -> list[VaultEntry]:
    """The vault's rows of ``stream`` (or every row) as :class:`VaultEntry`."""
    from cdlog.log.sealing import stream_id  # noqa: PLC0415

    with read_vault(log) as vault:
        rows = vault.all() if stream is None else vault.of_case(stream_id(stream).hex)
    names: dict[str, str | None] = {}
    for r in rows:
        if stream is None and r.case not in names:
            names[r.case] = _stream_of(log, r.case, r.version)
    return [VaultEntry(stream or names.get(r.case), r.case, r.version, r.field, r.class_name,
                       r.commitment, r.kek_id, r.erased, r.erased_by) for r in rows]


def _stream_of(log: Any, case: str, version: int) -> str | None:
    """The stream name of a stored event (None when it cannot be read)."""
    from cdlog.log.sealing import parse  # noqa: PLC0415

    try:
        found = log.app.recorder.select_events(uuid.UUID(case), gt=version - 1, lte=version,
                                               limit=1)
        return parse(found[0].state).stream if found else None
    except (ValueError, TypeError, VerificationError):
        return None
