"""The vault: restricted values and their salts, encrypted, in the log's own store.

Each vaulted value is one row of ``restricted_vault`` (SQLite) or ``cdlog_restricted_vault``
(PostgreSQL, in the store's schema), keyed by (case id, version, field), written by the
recorder in the very transaction that inserts its event (:class:`VaultOps`, passed to the
insert as the ``vault`` keyword). A row holds:

* ``ciphertext`` = AES-256-GCM under a fresh 32-byte data key and 12-byte ``nonce`` of
  ``JCS({"salt": base64(salt), "value": value})``;
* ``wrapped_key`` = the data key wrapped by the class owner's key-encryption key (KEK,
  :class:`KeyWrapper`; ``kek_id`` names it);
* ``commitment``, ``class``: as signed in the event (the row is bound to its event by the
  associated data of both encryptions, :func:`associated_data`);
* ``erased_by``: NULL, or the version of the ``RestrictedValuesErased`` event that destroyed
  ``ciphertext``, ``nonce`` and ``wrapped_key`` (set to NULL).

The file KEK (:class:`X25519KeyWrapper`) is an X25519 key pair: anyone holding its public half
(the key file's header) wraps, so recording restricted values needs no passphrase; only the
private half (passphrase) unwraps. An HSM plugs in as another :class:`KeyWrapper`. No message
of this module carries a value, a salt, a key or a passphrase.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import os
import secrets
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cdlog.canonical import canonical_bytes, loads
from cdlog.errors import (
    ConfigurationError,
    Failure,
    InputError,
    KeyStoreError,
    VerificationError,
)
from cdlog.restricted.commitment import matches

VAULT_FORMAT = b"cdlog/vault/v1"
KEK_INFO = b"cdlog/kek/v1"
DATA_KEY_BYTES = 32
NONCE_BYTES = 12
FILE_MODE = 0o600
_MAGIC = "cdlog kek file v1"
_MAX_FILE_BYTES = 64 * 1024


# ---------------------------------------------------------------------------- key wrapping
@runtime_checkable
class KeyWrapper(Protocol):
    """A key-encryption key of one agency (a key file, or an HSM behind this protocol)."""

    @property
    def key_id(self) -> str:
        """Stable id of the KEK, stored with every row it wraps."""
        ...

    @property
    def agency(self) -> str:
        """The agency whose KEK this is."""
        ...

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        """Wrap a data key, bound to ``aad``."""
        ...

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """Unwrap a data key; :class:`~cdlog.errors.KeyStoreError` if this KEK cannot (no
        private key) and ``ValueError`` if ``wrapped`` or ``aad`` was changed."""
        ...


def kek_key_id(public_key: bytes) -> str:
    """``x25519:`` + the first 16 hex digits of SHA-256("cdlog/kek/v1" || 0x0A || pk)."""
    return "x25519:" + hashlib.sha256(KEK_INFO + b"\n" + public_key).hexdigest()[:16]


class X25519KeyWrapper:
    """The key-file KEK: ECIES over X25519 (HKDF-SHA256, AES-256-GCM).

    ``wrap`` = ``eph_pk(32) || nonce(12) || AES-256-GCM(K, data_key, aad)`` with
    ``K = HKDF-SHA256(X25519(eph_sk, pk), salt=none, info="cdlog/kek/v1" || eph_pk || pk)``.
    """

    def __init__(self, agency: str, public_key: bytes,
                 private_key: X25519PrivateKey | None = None) -> None:
        if len(public_key) != 32:
            raise InputError("public_key", f"is {len(public_key)} bytes", "32 bytes (X25519)")
        self._agency = agency
        self.public_key = bytes(public_key)
        self._private = private_key
        self._key_id = kek_key_id(self.public_key)

    @classmethod
    def from_private_bytes(cls, agency: str, private: bytes) -> X25519KeyWrapper:
        """The KEK with the raw 32-byte X25519 private key ``private`` (test vectors, HSM
        exports); keep real ones in a key file (:func:`write_kek_file`)."""
        key = X25519PrivateKey.from_private_bytes(private)
        public = key.public_key().public_bytes(serialization.Encoding.Raw,
                                               serialization.PublicFormat.Raw)
        return cls(agency, public, key)

    @classmethod
    def generate(cls, agency: str) -> X25519KeyWrapper:
        """A new random KEK for ``agency`` (keep it in a key file: :func:`write_kek_file`)."""
        private = X25519PrivateKey.generate()
        public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                                   serialization.PublicFormat.Raw)
        return cls(agency, public, private)

    @property
    def key_id(self) -> str:
        """The KEK's id."""
        return self._key_id

    @property
    def agency(self) -> str:
        """The owner agency."""
        return self._agency

    @property
    def can_unwrap(self) -> bool:
        """Whether the private half is here (unlocked)."""
        return self._private is not None

    def public_only(self) -> X25519KeyWrapper:
        """The same KEK without its private half (wraps, never unwraps)."""
        return X25519KeyWrapper(self._agency, self.public_key)

    def _kek(self, shared: bytes, eph: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                    info=KEK_INFO + eph + self.public_key).derive(shared)

    def wrap(self, data_key: bytes, aad: bytes) -> bytes:
        """Wrap ``data_key`` for this KEK (needs only the public half)."""
        return self.wrap_with(data_key, aad, secrets.token_bytes(32),
                              secrets.token_bytes(NONCE_BYTES))

    def wrap_with(self, data_key: bytes, aad: bytes, ephemeral: bytes, nonce: bytes) -> bytes:
        """:meth:`wrap` with a given ephemeral X25519 private key and nonce (test vectors
        only: both must be fresh random bytes for every real wrap)."""
        eph = X25519PrivateKey.from_private_bytes(ephemeral)
        eph_pub = eph.public_key().public_bytes(serialization.Encoding.Raw,
                                                serialization.PublicFormat.Raw)
        shared = eph.exchange(X25519PublicKey.from_public_bytes(self.public_key))
        return eph_pub + nonce + AESGCM(self._kek(shared, eph_pub)).encrypt(nonce, data_key, aad)

    def unwrap(self, wrapped: bytes, aad: bytes) -> bytes:
        """Unwrap a data key (needs the private half)."""
        if self._private is None:
            raise KeyStoreError(f"the key-encryption key {self._key_id} of {self._agency} is "
                                "locked (only its public half is loaded): unlock its key file")
        if len(wrapped) < 32 + NONCE_BYTES + 16:
            raise ValueError("the wrapped data key is too short")
        eph_pub, nonce = wrapped[:32], wrapped[32:32 + NONCE_BYTES]
        body = wrapped[32 + NONCE_BYTES:]
        shared = self._private.exchange(X25519PublicKey.from_public_bytes(eph_pub))
        try:
            return AESGCM(self._kek(shared, eph_pub)).decrypt(nonce, body, aad)
        except InvalidTag:
            raise ValueError("the wrapped data key does not open under this KEK") from None


# ---------------------------------------------------------------------------- key files
@dataclass(frozen=True)
class KekFileInfo:
    """The public header of a KEK file (readable without the passphrase)."""

    agency: str
    key_id: str
    public_key: bytes


def write_kek_file(path: Path, wrapper: X25519KeyWrapper, passphrase: bytes) -> None:
    """Write ``wrapper`` (with its private half) encrypted under ``passphrase`` to a new file
    of mode 0600 (an existing file is never overwritten: :class:`KeyStoreError`)."""
    if wrapper._private is None:
        raise InputError("kek", "has no private half", "a generated or unlocked KEK")
    if not passphrase:
        raise InputError("passphrase", "is empty", "a non-empty passphrase")
    pem = wrapper._private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(bytes(passphrase))).decode()
    text = (f"{_MAGIC}\nagency: {wrapper.agency}\nkey_id: {wrapper.key_id}\npublic_key: "
            f"{base64.b64encode(wrapper.public_key).decode()}\n\n{pem}")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        raise KeyStoreError(f"{path} exists; a key file is never overwritten") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot create {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(text)


def _read_text(path: Path) -> str:
    try:
        if path.stat().st_size > _MAX_FILE_BYTES:
            raise KeyStoreError(f"{path} is too large to be a KEK file")
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyStoreError(f"no KEK file {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyStoreError(f"cannot read KEK file {path}: {exc}") from None


def read_kek_info(path: Path) -> KekFileInfo:
    """The public header of a KEK file; :class:`KeyStoreError` if it is not one."""
    head = _read_text(path).split("\n\n", 1)[0].splitlines()
    if not head or head[0] != _MAGIC:
        raise KeyStoreError(f"{path} is not a cdlog KEK file (it does not begin with "
                            f"{_MAGIC!r})")
    facts = dict(line.split(": ", 1) for line in head[1:] if ": " in line)
    try:
        public = base64.b64decode(facts["public_key"], validate=True)
        info = KekFileInfo(facts["agency"], facts["key_id"], public)
    except (KeyError, binascii.Error):
        raise KeyStoreError(f"{path}: its header lacks agency, key_id or public_key") from None
    if len(public) != 32 or kek_key_id(public) != info.key_id:
        raise KeyStoreError(f"{path}: its key_id does not match its public key")
    return info


def read_kek_file(path: Path, passphrase: bytes) -> X25519KeyWrapper:
    """Unlock a KEK file; :class:`KeyStoreError` (never naming the passphrase) if it fails."""
    info = read_kek_info(path)
    pem = _read_text(path).split("\n\n", 1)[1].encode()
    try:
        private = serialization.load_pem_private_key(pem, password=bytes(passphrase))
    except (ValueError, TypeError):
        raise KeyStoreError(f"cannot unlock {path}: wrong passphrase or damaged file") from None
    if not isinstance(private, X25519PrivateKey):
        raise KeyStoreError(f"{path} holds no X25519 key")
    public = private.public_key().public_bytes(serialization.Encoding.Raw,
                                               serialization.PublicFormat.Raw)
    if public != info.public_key:
        raise KeyStoreError(f"{path}: its private key does not match its header")
    return X25519KeyWrapper(info.agency, public, private)


def _can_unwrap(wrapper: KeyWrapper) -> bool:
    return bool(getattr(wrapper, "can_unwrap", True))


class KeyRing:
    """The KEKs a :class:`~cdlog.application.CaseLog` uses (``log.vault_keys``).

    Wrappers added with :meth:`add` come first; otherwise the key file
    ``<store home>/keys/kek-<AGENCY>.key`` gives the public half for wrapping, and
    :meth:`unlock` its private half for reading.
    """

    def __init__(self, home: Path | None) -> None:
        self.home = home
        self._by_agency: dict[str, KeyWrapper] = {}
        self._by_id: dict[str, KeyWrapper] = {}

    def path(self, agency: str) -> Path:
        """Where ``agency``'s KEK file is kept."""
        if self.home is None:
            raise ConfigurationError("this store has no folder for key files")
        if not agency.replace("-", "").replace("_", "").isalnum():
            raise InputError("agency", f"{agency!r} is not an agency name", "letters and digits")
        return self.home / "keys" / f"kek-{agency}.key"

    def add(self, wrapper: KeyWrapper) -> None:
        """Use ``wrapper`` for its agency (replacing a locked one of the same key id)."""
        if not isinstance(wrapper, KeyWrapper):
            raise InputError("wrapper", f"{type(wrapper).__name__} is not a KeyWrapper",
                             "an object with key_id, agency, wrap() and unwrap()")
        self._by_agency[wrapper.agency] = wrapper
        self._by_id[wrapper.key_id] = wrapper

    def create(self, agency: str, passphrase: bytes) -> X25519KeyWrapper:
        """Generate ``agency``'s KEK, write its key file and use it."""
        wrapper = X25519KeyWrapper.generate(agency)
        write_kek_file(self.path(agency), wrapper, passphrase)
        self.add(wrapper)
        return wrapper

    def unlock(self, agency: str, passphrase: bytes) -> KeyWrapper:
        """Read ``agency``'s KEK file with its private half and use it."""
        wrapper = read_kek_file(self.path(agency), passphrase)
        if wrapper.agency != agency:
            raise KeyStoreError(f"{self.path(agency)} is the KEK of {wrapper.agency}, "
                                f"not {agency}")
        self.add(wrapper)
        return wrapper

    def wrapper_for(self, agency: str) -> KeyWrapper:
        """The KEK that wraps new data keys of ``agency`` (its public half is enough)."""
        found = self._by_agency.get(agency)
        if found is not None:
            return found
        path = self.path(agency) if self.home is not None else None
        if path is None or not path.exists():
            raise ConfigurationError(
                f"no key-encryption key for agency {agency}: restricted values of its classes "
                f"cannot be vaulted; create {path or 'one'} (`cdlog restricted kek-new "
                f"{agency}`) or add a KeyWrapper to log.vault_keys")
        info = read_kek_info(path)
        wrapper = X25519KeyWrapper(info.agency, info.public_key)
        self._by_agency[agency] = wrapper
        self._by_id.setdefault(wrapper.key_id, wrapper)
        return wrapper

    def by_id(self, key_id: str) -> KeyWrapper | None:
        """The loaded KEK with ``key_id``, if any."""
        return self._by_id.get(key_id)

    def unwrapper(self, key_id: str, agency: str) -> KeyWrapper:
        """The KEK ``key_id`` with the power to unwrap; :class:`KeyStoreError` if it is not
        loaded or locked."""
        found = self._by_id.get(key_id)
        if found is not None and _can_unwrap(found):
            return found
        raise KeyStoreError(f"the key-encryption key {key_id} of {agency} is not unlocked: "
                            "restricted values cannot be read (unlock its key file, "
                            "e.g. with CDLOG_PASSPHRASE, or add its KeyWrapper)")


# ---------------------------------------------------------------------------- rows and crypto
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
        try:
            return str(uuid.UUID(self.case_id))
        except ValueError:
            return self.case_id

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


# ---------------------------------------------------------------------------- SQL
_COLUMNS = ("case_id, version, field, class, commitment, kek_id, wrapped_key, nonce, "
            "ciphertext, erased_by")


@dataclass(frozen=True)
class VaultSQL:
    """The vault's statements in one dialect (``table`` already qualified)."""

    create: tuple[str, ...]
    insert: str
    erase: str
    select_one: str
    select_case: str
    select_all: str
    exists: str
    exists_params: tuple[str, ...]

    @classmethod
    def for_dialect(cls, table: str, mark: str, blob: str, integer: str,
                    exists: tuple[str, tuple[str, ...]]) -> VaultSQL:
        """Statements for ``table`` with parameter mark ``mark`` (``?`` or ``%s``); the
        table name is cdlog's own (quoted), never user input."""
        marks = ", ".join([mark] * 10)
        return cls(
            create=(f"CREATE TABLE IF NOT EXISTS {table} (case_id TEXT NOT NULL, "
                    f"version {integer} NOT NULL, field TEXT NOT NULL, class TEXT NOT NULL, "
                    f"commitment TEXT NOT NULL, kek_id TEXT NOT NULL, wrapped_key {blob}, "
                    f"nonce {blob}, ciphertext {blob}, erased_by {integer}, "
                    "PRIMARY KEY (case_id, version, field))",),
            insert=f"INSERT INTO {table} ({_COLUMNS}) VALUES ({marks})",  # noqa: S608
            erase=(f"UPDATE {table} SET wrapped_key = NULL, nonce = NULL, ciphertext = NULL, "  # noqa: S608
                   f"erased_by = {mark} WHERE case_id = {mark} AND version = {mark} AND "
                   f"field = {mark} AND erased_by IS NULL RETURNING field"),
            select_one=(f"SELECT {_COLUMNS} FROM {table} WHERE case_id = {mark} AND "  # noqa: S608
                        f"version = {mark} AND field = {mark}"),
            select_case=(f"SELECT {_COLUMNS} FROM {table} WHERE case_id = {mark} "  # noqa: S608
                         "ORDER BY version, field"),
            select_all=f"SELECT {_COLUMNS} FROM {table} ORDER BY case_id, version, field",  # noqa: S608
            exists=exists[0], exists_params=exists[1],
        )


SQLITE_VAULT_SQL = VaultSQL.for_dialect(
    "restricted_vault", "?", "BLOB", "INTEGER",
    ("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
     ("restricted_vault",)))


def postgres_vault_sql(schema: str, prefix: str = "cdlog_") -> VaultSQL:
    """The PostgreSQL statements, table ``<prefix>restricted_vault`` in ``schema``."""
    from cdlog.log.ledger_sql import quote_ident  # noqa: PLC0415 - ledger imports this module

    table = f"{quote_ident(schema)}.{quote_ident(prefix + 'restricted_vault')}"
    return VaultSQL.for_dialect(table, "%s", "BYTEA", "BIGINT",
                                ("SELECT COUNT(to_regclass(%s))", (table,)))


def _opt_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    return str(value).encode("utf-8")  # a rewritten row: fails to decrypt, reported


def _row(raw: Sequence[Any]) -> VaultRow:
    return VaultRow(str(raw[0]), int(raw[1]), str(raw[2]), str(raw[3]), str(raw[4]),
                    str(raw[5]), _opt_bytes(raw[6]), _opt_bytes(raw[7]), _opt_bytes(raw[8]),
                    None if raw[9] is None else int(raw[9]))


class VaultCursor:
    """The vault table through one database cursor (one transaction).

    ``fresh`` makes a new cursor of the same transaction for each statement whose rows are
    fetched (psycopg's pipeline mode: a fetch on a cursor that also queued other statements
    may meet another statement's result)."""

    def __init__(self, cursor: Any, sql: VaultSQL, fresh: Callable[[], Any] | None = None,
                 *, known: bool = False) -> None:
        self._c = cursor
        self.sql = sql
        self._fresh = fresh
        self._known = known

    def _query(self, statement: str, params: Sequence[Any] = ()) -> Any:
        cursor = self._fresh() if self._fresh is not None else self._c
        cursor.execute(statement, tuple(params))
        return cursor

    def exists(self) -> bool:
        """Whether the store has the vault table (a store older than the vault has none)."""
        if self._known:
            return True
        return bool(self._query(self.sql.exists, self.sql.exists_params).fetchone()[0])

    def create(self) -> None:
        """Create the vault table if it is missing."""
        for statement in self.sql.create:
            self._c.execute(statement)

    def insert(self, rows: Sequence[VaultRow]) -> None:
        """Insert new rows (a duplicate (case, version, field) fails the transaction)."""
        if rows:
            self._c.executemany(self.sql.insert, [
                (r.case_id, r.version, r.field, r.class_name, r.commitment, r.kek_id,
                 r.wrapped_key, r.nonce, r.ciphertext, r.erased_by) for r in rows])

    def get(self, case_id: str, version: int, field_name: str) -> VaultRow | None:
        """One row, or None."""
        if not self.exists():
            return None
        raw = self._query(self.sql.select_one, (case_id, version, field_name)).fetchone()
        return None if raw is None else _row(tuple(raw))

    def of_case(self, case_id: str) -> list[VaultRow]:
        """Every row of one case (stream), by version and field."""
        if not self.exists():
            return []
        return [_row(tuple(r)) for r in self._query(self.sql.select_case,
                                                     (case_id,)).fetchall()]

    def all(self) -> list[VaultRow]:
        """Every row."""
        if not self.exists():
            return []
        return [_row(tuple(r)) for r in self._query(self.sql.select_all).fetchall()]

    def erase(self, case_id: str, version: int, field_name: str, erased_by: int) -> None:
        """Destroy one held row's data key and ciphertext; a row that is missing or already
        erased fails the transaction (:class:`InputError`)."""
        if not self._query(self.sql.erase, (erased_by, case_id, version,
                                            field_name)).fetchall():
            raise InputError("fields", f"field {field_name!r} of version {version} has no "
                             "held value in the vault (erased meanwhile?)",
                             "a vaulted value not erased yet")


# ---------------------------------------------------------------------------- in the insert
@dataclass
class VaultOps:
    """What a command does to the vault, inside the transaction that inserts its events.

    ``writes``: new rows; ``erase``: ``(case_id hex, version, field, erased_by version)``;
    ``reads``: ``(case_id hex, version, field)`` whose rows ``on_read`` receives (in the
    transaction, after the events are inserted; raising rolls everything back).
    """

    writes: list[VaultRow] = field(default_factory=list)
    erase: list[tuple[str, int, str, int]] = field(default_factory=list)
    reads: list[tuple[str, int, str]] = field(default_factory=list)
    on_read: Callable[[list[VaultRow | None]], None] | None = None
    secure_delete: bool = True

    def __bool__(self) -> bool:
        return bool(self.writes or self.erase or self.reads)

    def apply(self, cursor: Any, sql: VaultSQL, *, sqlite: bool,
              fresh: Callable[[], Any] | None = None) -> None:
        """Run the operations through ``cursor`` (the insert transaction's)."""
        vault = VaultCursor(cursor, sql, fresh, known=True)
        vault.create()  # a store made before the vault existed (and opened create=False)
        vault.insert(self.writes)
        if self.erase and sqlite and self.secure_delete:
            with contextlib.suppress(Exception):  # overwrite freed bytes where SQLite can
                cursor.execute("PRAGMA secure_delete = ON")
        for case_id, version, field_name, erased_by in self.erase:
            vault.erase(case_id, version, field_name, erased_by)
        if self.reads:
            rows = [vault.get(*key) for key in self.reads]
            if self.on_read is not None:
                self.on_read(rows)


def apply_vault(kwargs: dict[str, Any], cursor: Any, sql: VaultSQL, *, sqlite: bool,
                fresh: Callable[[], Any] | None = None) -> None:
    """The recorders' hook: apply ``kwargs["vault"]`` (a :class:`VaultOps`) if given."""
    ops = kwargs.get("vault")
    if ops:
        assert isinstance(ops, VaultOps)
        ops.apply(cursor, sql, sqlite=sqlite, fresh=fresh)


@contextlib.contextmanager
def read_vault(log: Any) -> Iterator[VaultCursor]:
    """A read-only view of ``log``'s vault table."""
    from cdlog.log.ledger import recorder_of  # noqa: PLC0415 - ledger imports this module

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
