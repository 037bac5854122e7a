"""Signers: anything that holds an Ed25519 private key and signs for one key id.

An integrator may plug in any object that satisfies :class:`Signer` (an HSM, a remote signing
service). :class:`Ed25519Signer` keeps the key in memory (PyNaCl / libsodium).
"""

from __future__ import annotations

import hashlib
from typing import Any, Protocol, runtime_checkable

import nacl.bindings
import nacl.exceptions
import nacl.signing

from cdlog.errors import InputError

KEY_ID_PREFIX = b"cdlog/key/v1\n"

_sodium: Any
try:  # libsodium as PyNaCl binds it (cffi): one signature without PyNaCl's wrapper objects
    from nacl import _sodium  # type: ignore[attr-defined,no-redef,unused-ignore]
except ImportError:  # pragma: no cover - PyNaCl always ships it; sign through its API then
    _sodium = None


def key_id_for(public_key: bytes) -> str:
    """Return the key id of a raw 32-byte Ed25519 public key.

    ``ed25519:`` + the first 16 hex digits of SHA-256("cdlog/key/v1\\n" || public key).
    """
    if len(public_key) != 32:
        raise InputError("public_key", f"is {len(public_key)} bytes", "32 bytes (Ed25519)")
    return "ed25519:" + hashlib.sha256(KEY_ID_PREFIX + public_key).hexdigest()[:16]


@runtime_checkable
class Signer(Protocol):
    """Something that signs messages with one Ed25519 key."""

    @property
    def key_id(self) -> str:
        """The key id (see :func:`key_id_for`)."""
        ...

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        ...

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        ...


class Ed25519Signer:
    """An in-memory Ed25519 signer. ``repr`` never shows the private key."""

    __slots__ = ("_key", "_key_id", "_public", "_secret")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != 32:
            raise InputError("seed", f"is {len(seed)} bytes", "a 32-byte Ed25519 seed")
        self._key = nacl.signing.SigningKey(seed)
        self._public = bytes(self._key.verify_key)
        self._key_id = key_id_for(self._public)
        self._secret = nacl.bindings.crypto_sign_seed_keypair(seed)[1]

    @classmethod
    def generate(cls) -> Ed25519Signer:
        """Return a signer with a fresh random key."""
        return cls(bytes(nacl.signing.SigningKey.generate()))

    @property
    def key_id(self) -> str:
        """The key id."""
        return self._key_id

    @property
    def public_key(self) -> bytes:
        """The raw public key."""
        return self._public

    def seed(self) -> bytes:
        """Return the private seed (for writing an encrypted key file only)."""
        return bytes(self._key)

    def sign(self, message: bytes) -> bytes:
        """Sign ``message`` (libsodium's ``crypto_sign``, as PyNaCl's ``SigningKey.sign``
        calls it, keeping only the 64-byte signature: the same bytes, fewer objects; natively
        its ``crypto_sign_detached``, which makes that signature without the copy)."""
        if _NATIVE_SIGN is not None:
            signature: bytes | None = _NATIVE_SIGN(self._secret, message)
            if signature is not None:
                return signature
        if _sodium is None or type(message) is not bytes:
            return bytes(self._key.sign(message).signature)
        ffi = _sodium.ffi
        signed = ffi.new("unsigned char[]", len(message) + 64)
        if _sodium.lib.crypto_sign(signed, ffi.NULL, message, len(message), self._secret):
            raise RuntimeError("libsodium could not sign")  # pragma: no cover
        return bytes(ffi.buffer(signed, 64))

    def __repr__(self) -> str:
        return f"Ed25519Signer(key_id={self._key_id!r})"


_VERIFY_KEYS: dict[bytes, nacl.signing.VerifyKey] = {}  # the few keys of a log, ready


def _native_verify() -> Any:
    """The native ``ed25519_verify`` bound to the libsodium PyNaCl loaded, or None (pure
    build, a build without it, or a PyNaCl whose library does not export the function)."""
    from cdlog._native import speedups  # noqa: PLC0415 - light; after PyNaCl is loaded

    verify = getattr(speedups, "ed25519_verify", None)
    bind = getattr(speedups, "ed25519_bind", None)
    path = getattr(_sodium, "__file__", None)
    if verify is None or bind is None or not isinstance(path, str) or not bind(path):
        return None
    return verify


_NATIVE_VERIFY = _native_verify()


def _native_sign() -> Any:
    """The native ``ed25519_sign``, bound with ``ed25519_verify`` to the same libsodium, or
    None (then :meth:`Ed25519Signer.sign` signs through PyNaCl's binding)."""
    from cdlog._native import speedups  # noqa: PLC0415 - light; after PyNaCl is loaded

    return None if _NATIVE_VERIFY is None else getattr(speedups, "ed25519_sign", None)


_NATIVE_SIGN = _native_sign()


def signature_is_valid(public_key: bytes, message: bytes, signature: bytes,
                       prefix: bytes = b"") -> bool:
    """Check one Ed25519 signature of ``prefix + message`` (internal helper; public APIs
    raise instead).

    Natively, libsodium's ``crypto_sign_verify_detached`` (the library PyNaCl binds) is
    called on the bytes directly; :func:`signature_is_valid_pure` is the reference, and runs
    for anything the native function hands back (values that are not exactly bytes).
    """
    if _NATIVE_VERIFY is not None:
        valid: bool | None = _NATIVE_VERIFY(public_key, message, signature, prefix)
        if valid is not None:
            return valid
    return signature_is_valid_pure(public_key, prefix + message if prefix else message,
                                   signature)


def signature_is_valid_pure(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """The reference of :func:`signature_is_valid`: PyNaCl's ``VerifyKey.verify``."""
    try:
        key = _VERIFY_KEYS.get(public_key) if type(public_key) is bytes else None
        if key is None:
            key = nacl.signing.VerifyKey(public_key)
            if type(public_key) is bytes:
                if len(_VERIFY_KEYS) >= 4096:
                    _VERIFY_KEYS.clear()
                _VERIFY_KEYS[public_key] = key
        key.verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, ValueError):
        return False
    return True
