"""Encrypted key files at rest.

A key file is an encrypted OpenSSH private key (bcrypt KDF with :data:`KDF_ROUNDS` rounds,
AES-256-CTR; ``ssh-keygen -y -f`` reads it) preceded by a few lines of explanatory text::

    cdlog key file v1
    label: CBP-2290 field key
    key_id: ed25519:0123456789abcdef
    public_key: <standard base64 of the raw 32-byte public key>

    -----BEGIN OPENSSH PRIVATE KEY-----
    ...
    -----END OPENSSH PRIVATE KEY-----

The header carries only public facts (a label, the key id and the public key) so that a file can
be identified without its passphrase (:func:`read_key_file_info`); it never carries a secret.
Files are created with mode ``0o600`` and never overwritten; :func:`new_key_file` writes one
that appears only when the command recording its key succeeds. No message this module produces
contains key bytes or the passphrase.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cdlog.errors import ConfigurationError, InputError, KeyStoreError
from cdlog.keys.signer import Ed25519Signer, key_id_for

PASSPHRASE_ENV = "CDLOG_PASSPHRASE"  # noqa: S105 - the variable's name, not a secret
"""The environment variable :func:`passphrase_from_env` reads by default."""

FILE_MODE = 0o600
"""Permissions every key file is created with."""

_MAGIC = "cdlog key file v1"
_PEM_BEGIN = "-----BEGIN OPENSSH PRIVATE KEY-----"
_PEM_END = "-----END OPENSSH PRIVATE KEY-----"
KDF_ROUNDS = 16
"""bcrypt KDF rounds (as ssh-keygen); each unlock costs ~0.15 s, the point of a KDF."""
_PLAIN_BEGIN = "-----BEGIN PRIVATE KEY-----"
_MAX_FILE_BYTES = 64 * 1024
_MAX_LABEL = 200


@dataclass(frozen=True)
class KeyFileInfo:
    """The public header of a key file: readable without the passphrase."""

    label: str
    key_id: str
    public_key: bytes


def _check_passphrase(passphrase: bytes) -> None:
    if not isinstance(passphrase, bytes | bytearray):
        raise InputError("passphrase", f"is a {type(passphrase).__name__}", "bytes")
    if not passphrase:
        raise InputError("passphrase", "is empty", "a non-empty passphrase")


def _check_label(label: str) -> None:
    if not label.strip():
        raise InputError("label", "is empty", "a short one-line description of the key")
    if len(label) > _MAX_LABEL:
        raise InputError("label", f"is {len(label)} characters long",
                         f"at most {_MAX_LABEL} characters")
    if not label.isprintable():
        raise InputError("label", "contains line breaks or control characters",
                         "one line of printable text")


def _encode(signer: Ed25519Signer, passphrase: bytes, label: str) -> bytes:
    """The bytes of a key file holding ``signer``'s key encrypted under ``passphrase``."""
    _check_passphrase(passphrase)
    _check_label(label)
    private = Ed25519PrivateKey.from_private_bytes(signer.seed())
    pem = private.private_bytes(
        encoding=serialization.Encoding.PEM,
        format=serialization.PrivateFormat.OpenSSH,
        encryption_algorithm=serialization.PrivateFormat.OpenSSH.encryption_builder()
        .kdf_rounds(KDF_ROUNDS).build(bytes(passphrase)),
    )
    header = (
        f"{_MAGIC}\n"
        f"label: {label}\n"
        f"key_id: {signer.key_id}\n"
        f"public_key: {base64.b64encode(signer.public_key).decode('ascii')}\n"
        "\n"
    )
    return header.encode("utf-8") + pem


def _write_new(target: Path, data: bytes, *, shown: Path | None = None) -> None:
    """Create ``target`` (never overwriting, never through a symlink) with mode 0600 and
    ``data``, flushed to disk; on failure nothing is left. ``shown`` is the path messages
    name (the key file a temporary file stands for)."""
    name = shown or target
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(target, flags, FILE_MODE)
    except FileExistsError:
        raise KeyStoreError(f"key file {name} already exists; "
                            "refusing to overwrite it") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot create key file {name}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), FILE_MODE)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException as exc:
        with contextlib.suppress(OSError):
            target.unlink()
        if isinstance(exc, OSError):
            raise KeyStoreError(f"cannot write key file {name}: {exc.strerror}") from None
        raise


def write_key_file(path: str | os.PathLike[str], signer: Ed25519Signer, passphrase: bytes, *,
                   label: str) -> None:
    """Write ``signer``'s key to a new file at ``path``, encrypted under ``passphrase``.

    The file is created with mode ``0o600``; an existing file is never overwritten
    (:class:`~cdlog.errors.KeyStoreError`). An empty passphrase or a label that is not one line
    of printable text is refused with :class:`~cdlog.errors.InputError`.
    """
    data = _encode(signer, passphrase, label)
    _write_new(Path(path), data)


def check_new_key_path(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` if a new key file can be created there: nothing (not even a dangling
    symlink) is at ``path`` and its folder exists. Raises
    :class:`~cdlog.errors.KeyStoreError` naming the path otherwise. Writes nothing."""
    target = Path(path)
    if os.path.lexists(target):
        what = "a folder" if target.is_dir() else "a file"
        raise KeyStoreError(f"{target} already exists ({what}); refusing to overwrite it "
                            "with a new key file (choose a new path)")
    folder = target.parent
    if not folder.is_dir():
        raise KeyStoreError(f"cannot create key file {target}: folder {folder} does not "
                            "exist")
    return target


@contextlib.contextmanager
def new_key_file(path: str | os.PathLike[str], signer: Ed25519Signer, passphrase: bytes, *,
                 label: str) -> Iterator[Path]:
    """Write ``signer``'s key for ``path`` first to a hidden temporary file beside it and put
    it in place only when the ``with`` block succeeds; when the block raises (or is
    interrupted), the temporary file is removed and nothing is left at ``path``.

    For a command that records a key in the log and must hand over its key file: every
    precondition of the file (``path`` free, folder writable, passphrase and label valid) is
    checked before the block runs, so the block (the write to the log) runs only when the key
    file can be written, and the key file exists only when the block succeeded. Should
    ``path`` appear meanwhile, the key is kept in the temporary file and the
    :class:`~cdlog.errors.KeyStoreError` names it. Yields the temporary file's path.
    """
    target = check_new_key_path(path)
    data = _encode(signer, passphrase, label)
    temp = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp")
    _write_new(temp, data, shown=target)
    try:
        yield temp
    except BaseException:
        with contextlib.suppress(OSError):
            temp.unlink()
        raise
    _publish(temp, target)


def _publish(temp: Path, target: Path) -> None:
    """Give ``temp`` the name ``target`` without ever replacing a file at ``target``."""
    try:
        os.link(temp, target)  # fails if target exists: no overwrite, even in a race
    except FileExistsError:
        raise KeyStoreError(f"key file {target} appeared while the key was recorded; the new "
                            f"key is kept in {temp}: rename it") from None
    except OSError:  # a file system without hard links: rename, after one more look
        if os.path.lexists(target):
            raise KeyStoreError(f"key file {target} appeared while the key was recorded; "
                                f"the new key is kept in {temp}: rename it") from None
        try:
            temp.rename(target)
        except OSError as exc:
            raise KeyStoreError(f"cannot move the new key file {temp} to {target}: "
                                f"{exc.strerror}; rename it") from None
    else:
        with contextlib.suppress(OSError):
            temp.unlink()
    with contextlib.suppress(OSError):  # make the new name durable
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read_text(target: Path) -> str:
    try:
        with target.open("rb") as handle:
            raw = handle.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise KeyStoreError(f"no key file at {target}") from None
    except IsADirectoryError:
        raise KeyStoreError(f"{target} is a directory, not a key file") from None
    except OSError as exc:
        raise KeyStoreError(f"cannot read key file {target}: {exc.strerror}") from None
    if len(raw) > _MAX_FILE_BYTES:
        raise KeyStoreError(f"{target} is too large to be a cdlog key file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise KeyStoreError(f"{target} is corrupt: not text") from None


def _split(target: Path, text: str) -> tuple[KeyFileInfo, bytes]:
    """Return the header and the PEM block of a key file's text."""
    if _PLAIN_BEGIN in text:
        raise KeyStoreError(f"{target} holds an unencrypted private key; "
                            "cdlog only reads encrypted key files")
    start = text.find(_PEM_BEGIN)
    end = text.find(_PEM_END, start + 1)
    lines = text[:start if start >= 0 else len(text)].splitlines()
    if not lines or lines[0].strip() != _MAGIC:
        raise KeyStoreError(f"{target} is not a cdlog key file (no '{_MAGIC}' header)")
    if start < 0 or end < 0:
        raise KeyStoreError(f"{target} is corrupt: no encrypted private key block")
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(": ")
        if sep:
            fields[name.strip()] = value.strip()
    missing = sorted({"label", "key_id", "public_key"} - set(fields))
    if missing:
        raise KeyStoreError(f"{target} is corrupt: header lacks {', '.join(missing)}")
    try:
        public = base64.b64decode(fields["public_key"], validate=True)
    except binascii.Error:
        raise KeyStoreError(f"{target} is corrupt: header public_key is not base64") from None
    if len(public) != 32 or key_id_for(public) != fields["key_id"]:
        raise KeyStoreError(f"{target} is corrupt: header key_id and public_key disagree")
    info = KeyFileInfo(label=fields["label"], key_id=fields["key_id"], public_key=public)
    pem = text[start:end + len(_PEM_END)] + "\n"
    return info, pem.encode("ascii", errors="replace")


def read_key_file_info(path: str | os.PathLike[str]) -> KeyFileInfo:
    """Return the public header (label, key id, public key) of a key file, without decrypting.

    The header is not authenticated by itself; :func:`read_key_file` checks it against the key.
    Raises :class:`~cdlog.errors.KeyStoreError` when the file is missing or not a key file.
    """
    target = Path(path)
    info, _ = _split(target, _read_text(target))
    return info


def read_key_file(path: str | os.PathLike[str], passphrase: bytes) -> Ed25519Signer:
    """Decrypt the key file at ``path`` and return its signer.

    Raises :class:`~cdlog.errors.KeyStoreError` when the file is missing, corrupt, not
    encrypted, not an Ed25519 key, its header names another key, or the passphrase is wrong.
    """
    _check_passphrase(passphrase)
    target = Path(path)
    info, pem = _split(target, _read_text(target))
    try:
        private = serialization.load_ssh_private_key(pem, password=bytes(passphrase))
    except ValueError:
        raise KeyStoreError(f"cannot decrypt key file {target}: wrong passphrase, "
                            "or the file is corrupt") from None
    except TypeError:
        raise KeyStoreError(f"{target} holds an unencrypted private key; "
                            "cdlog only reads encrypted key files") from None
    except UnsupportedAlgorithm:
        raise KeyStoreError(f"cannot read key file {target}: "
                            "its key or encryption algorithm is not supported") from None
    if not isinstance(private, Ed25519PrivateKey):
        raise KeyStoreError(f"{target} holds a {type(private).__name__}, not an Ed25519 key")
    signer = Ed25519Signer(private.private_bytes(
        encoding=serialization.Encoding.Raw,
        format=serialization.PrivateFormat.Raw,
        encryption_algorithm=serialization.NoEncryption(),
    ))
    if signer.key_id != info.key_id:
        raise KeyStoreError(f"{target} is corrupt: its header names key {info.key_id} "
                            f"but it holds key {signer.key_id}")
    return signer


def passphrase_from_env(var: str = PASSPHRASE_ENV) -> bytes:
    """Return the passphrase held in environment variable ``var`` (UTF-8 encoded).

    Raises :class:`~cdlog.errors.ConfigurationError` when ``var`` is unset or empty. The value
    is never echoed in the message.
    """
    value = os.environ.get(var)
    if value is None:
        raise ConfigurationError(f"environment variable {var} is not set; "
                                 "it must hold the key file passphrase")
    if not value:
        raise ConfigurationError(f"environment variable {var} is empty; "
                                 "it must hold the key file passphrase")
    return value.encode("utf-8")
