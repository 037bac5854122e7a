"""The vault's record format: a restricted value and its salt sealed under a wrapped data key.

``ciphertext`` = AES-256-GCM under a fresh 32-byte data key and 12-byte ``nonce`` of
``JCS({"salt": base64(salt), "value": value})``; ``wrapped_key`` = the data key wrapped by the
class owner's KEK; both encryptions are bound to the row's event by :func:`associated_data`.
No message of this module carries a value, a salt or a key.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from cdlog.canonical import canonical_bytes, loads
from cdlog.errors import Failure, KeyStoreError, VerificationError
from cdlog.log.ledger_rows import case_of
from cdlog.restricted.commitment import matches
from cdlog.restricted.kek import NONCE_BYTES, KeyWrapper

VAULT_FORMAT = b"cdlog/vault/v1"
DATA_KEY_BYTES = 32


def associated_data(log_id: str, case: str, version: int, field_name: str, class_name: str,
                    commitment: str) -> bytes:
    """What both encryptions of a row are bound to: ``"cdlog/vault/v1" || 0x0A ||
    JCS({"case", "class", "commitment", "field", "log", "version"})``."""
    return VAULT_FORMAT + b"\n" + canonical_bytes({
        "case": case, "class": class_name, "commitment": commitment, "field": field_name,
        "log": log_id, "version": version})


@dataclass(frozen=True)
class VaultRow:
    """One stored vault row (the data columns are None once erased)."""

    case_id: str
    """The case (stream) id as 32 hex digits, as the events table stores it."""
    version: int
    field: str
    class_name: str
    commitment: str
    kek_id: str
    wrapped_key: bytes | None
    nonce: bytes | None
    ciphertext: bytes | None
    erased_by: int | None = None

    @property
    def case(self) -> str:
        """The case id as a hyphenated UUID string."""
        return case_of(self.case_id)

    @property
    def erased(self) -> bool:
        """Whether an erasure event destroyed the value."""
        return self.erased_by is not None


def vault_plaintext(value: Any, salt: bytes) -> bytes:
    """What a row encrypts: ``JCS({"salt": base64(salt), "value": value})``."""
    return canonical_bytes({"salt": base64.b64encode(salt).decode(), "value": value})


def seal_value(log_id: str, case: str, version: int, field_name: str, class_name: str,
               commitment: str, value: Any, salt: bytes, kek: KeyWrapper, *,
               data_key: bytes | None = None, nonce: bytes | None = None,
               wrapped_key: bytes | None = None) -> VaultRow:
    """Encrypt ``value`` and ``salt`` under a fresh data key wrapped by ``kek`` (the keyword
    arguments fix the random parts, for test vectors only)."""
    aad = associated_data(log_id, case, version, field_name, class_name, commitment)
    data_key = data_key or secrets.token_bytes(DATA_KEY_BYTES)
    nonce = nonce or secrets.token_bytes(NONCE_BYTES)
    return VaultRow(uuid.UUID(case).hex, version, field_name, class_name, commitment,
                    kek.key_id, wrapped_key or kek.wrap(data_key, aad), nonce,
                    AESGCM(data_key).encrypt(nonce, vault_plaintext(value, salt), aad))


def vault_failure(row: VaultRow, detail: str) -> VerificationError:
    """A vault failure located at the row's case and version (check ``vault``)."""
    return VerificationError(Failure(row.case, row.version, "vault",
                                     f"field {row.field!r}: {detail}"))


def open_value(log_id: str, row: VaultRow, kek: KeyWrapper,
               signed_commitment: str | None = None) -> tuple[Any, bytes]:
    """Decrypt a row and check it against the commitment signed in its event (default: the
    row's own); return ``(value, salt)``. Anything changed (ciphertext, nonce, wrapped key,
    the row's coordinates or commitment, the value or salt inside) is a located
    :class:`VerificationError`; nothing of the value is in its message."""
    if row.erased or row.ciphertext is None or row.nonce is None or row.wrapped_key is None:
        raise vault_failure(row, "the value was erased" if row.erased else
                            "the row holds no encrypted value (its data columns are empty)")
    commitment = row.commitment if signed_commitment is None else signed_commitment
    if commitment != row.commitment:
        raise vault_failure(row, "the row's commitment differs from the one signed in the "
                            "event")
    aad = associated_data(log_id, row.case, row.version, row.field, row.class_name, commitment)
    try:
        data_key = kek.unwrap(row.wrapped_key, aad)
        plain = AESGCM(data_key).decrypt(row.nonce, row.ciphertext, aad)
    except KeyStoreError:
        raise
    except (ValueError, InvalidTag):
        raise vault_failure(row, "the encrypted value does not open (ciphertext, nonce, "
                            "wrapped data key or the row's binding to its event was "
                            "changed)") from None
    try:
        doc = loads(plain)
        salt = base64.b64decode(doc["salt"], validate=True)
        value = doc["value"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise vault_failure(row, "the decrypted record is not {salt, value}") from None
    if not matches(row.field, value, salt, commitment):
        raise vault_failure(row, "the vaulted value and salt do not match the commitment "
                            "signed in the event")
    return value, salt
