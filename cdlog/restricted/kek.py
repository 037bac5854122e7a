"""Key-encryption keys of the vault: the KEK protocol, the X25519 key-file KEK, its files, the ring.

The file KEK (:class:`X25519KeyWrapper`) is an X25519 key pair: anyone holding its public half
(the key file's header) wraps, so recording restricted values needs no passphrase; only the
private half (passphrase) unwraps. An HSM plugs in as another :class:`KeyWrapper`. No message
of this module carries a key or a passphrase.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from cdlog.errors import ConfigurationError, InputError, KeyStoreError

KEK_INFO = b"cdlog/kek/v1"
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


def _raw_public(private: X25519PrivateKey) -> bytes:
    """The raw 32-byte public half of an X25519 private key."""
    return private.public_key().public_bytes(serialization.Encoding.Raw,
                                             serialization.PublicFormat.Raw)


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
        public = _raw_public(key)
        return cls(agency, public, key)

    @classmethod
    def generate(cls, agency: str) -> X25519KeyWrapper:
        """A new random KEK for ``agency`` (keep it in a key file: :func:`write_kek_file`)."""
        private = X25519PrivateKey.generate()
        public = _raw_public(private)
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
        eph_pub = _raw_public(eph)
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
    public = _raw_public(private)
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
