"""Encrypted key files: round trip, file mode, no overwrite, refusals, no secret in messages."""

from __future__ import annotations

import base64
import os
import stat
import traceback
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cdlog.errors import CdlogError, ConfigurationError, InputError, KeyStoreError
from cdlog.keys.keyfile import (
    FILE_MODE,
    passphrase_from_env,
    read_key_file,
    read_key_file_info,
    write_key_file,
)
from cdlog.keys.signer import Ed25519Signer, signature_is_valid

PASSPHRASE = b"correct horse battery staple"
WRONG = b"incorrect donkey"


@pytest.fixture
def signer() -> Ed25519Signer:
    return Ed25519Signer(bytes(range(32)))


@pytest.fixture
def key_path(tmp_path: Path, signer: Ed25519Signer) -> Path:
    path = tmp_path / "officer.key"
    write_key_file(path, signer, PASSPHRASE, label="CBP-2290 field key")
    return path


def secrets_of(signer: Ed25519Signer) -> list[str]:
    """Every text form of the seed and passphrases a message must never contain."""
    seed = signer.seed()
    return [seed.hex(), base64.b64encode(seed).decode(), repr(seed)[2:-1],
            PASSPHRASE.decode(), WRONG.decode()]


def assert_no_secret(exc: BaseException, signer: Ed25519Signer) -> None:
    text = "".join(traceback.format_exception(exc)) + repr(exc) + str(exc)
    if isinstance(exc, CdlogError):
        text += exc.diagnostics()
    for secret in secrets_of(signer):
        assert secret not in text


def test_round_trip_gives_the_same_key(key_path: Path, signer: Ed25519Signer) -> None:
    loaded = read_key_file(key_path, PASSPHRASE)
    assert loaded.key_id == signer.key_id
    assert loaded.public_key == signer.public_key
    assert signature_is_valid(signer.public_key, b"msg", loaded.sign(b"msg"))


def test_file_mode_is_0600(key_path: Path) -> None:
    assert stat.S_IMODE(key_path.stat().st_mode) == FILE_MODE == 0o600


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o077])
def test_file_mode_is_0600_whatever_the_umask(tmp_path: Path, signer: Ed25519Signer,
                                              umask: int) -> None:
    old = os.umask(umask)
    try:
        write_key_file(tmp_path / "k", signer, PASSPHRASE, label="x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600


def test_header_is_public_and_readable_without_passphrase(key_path: Path,
                                                         signer: Ed25519Signer) -> None:
    info = read_key_file_info(key_path)
    assert info.label == "CBP-2290 field key"
    assert info.key_id == signer.key_id
    assert info.public_key == signer.public_key


def test_file_holds_no_plain_key_material(key_path: Path, signer: Ed25519Signer) -> None:
    """The file holds an encrypted OpenSSH key and none of the key's secret bytes."""
    text = key_path.read_text()
    assert "OPENSSH PRIVATE KEY" in text
    assert "bcrypt" in _openssh_kdf(text)
    for secret in secrets_of(signer):
        assert secret not in text


def _openssh_kdf(text: str) -> str:
    """Return the KDF name written inside an OpenSSH private key block."""
    import base64

    start = text.index("-----BEGIN OPENSSH PRIVATE KEY-----")
    block = text[start:].split("\n")[1:-2]
    raw = base64.b64decode("".join(line for line in block if not line.startswith("-----")))
    return raw[:64].decode("latin-1")


def test_file_is_readable_as_standard_encrypted_openssh(key_path: Path,
                                                        signer: Ed25519Signer) -> None:
    """Standard tools read the key file: cryptography's OpenSSH loader with the passphrase."""
    start = key_path.read_text().index("-----BEGIN OPENSSH PRIVATE KEY-----")
    pem = key_path.read_text()[start:].encode()
    key = serialization.load_ssh_private_key(pem, password=PASSPHRASE)
    assert isinstance(key, Ed25519PrivateKey)
    assert key.public_key().public_bytes_raw() == signer.public_key


def test_refuses_to_overwrite(key_path: Path) -> None:
    before = key_path.read_bytes()
    other = Ed25519Signer.generate()
    with pytest.raises(KeyStoreError, match="already exists"):
        write_key_file(key_path, other, PASSPHRASE, label="other")
    assert key_path.read_bytes() == before


def test_refuses_to_write_through_a_symlink(tmp_path: Path, signer: Ed25519Signer) -> None:
    target = tmp_path / "elsewhere"
    link = tmp_path / "link.key"
    link.symlink_to(target)
    with pytest.raises(KeyStoreError):
        write_key_file(link, signer, PASSPHRASE, label="x")
    assert not target.exists()


def test_refuses_an_empty_passphrase(tmp_path: Path, signer: Ed25519Signer) -> None:
    with pytest.raises(InputError) as info:
        write_key_file(tmp_path / "k", signer, b"", label="x")
    assert info.value.field == "passphrase"
    assert not (tmp_path / "k").exists()


@pytest.mark.parametrize("label", ["", "   ", "two\nlines", "tab\there", "x" * 201])
def test_refuses_a_bad_label(tmp_path: Path, signer: Ed25519Signer, label: str) -> None:
    with pytest.raises(InputError) as info:
        write_key_file(tmp_path / "k", signer, PASSPHRASE, label=label)
    assert info.value.field == "label"
    assert not (tmp_path / "k").exists()


def test_missing_directory_is_a_key_store_error(tmp_path: Path, signer: Ed25519Signer) -> None:
    with pytest.raises(KeyStoreError, match="cannot create"):
        write_key_file(tmp_path / "no" / "such" / "k", signer, PASSPHRASE, label="x")


def test_wrong_passphrase(key_path: Path, signer: Ed25519Signer) -> None:
    with pytest.raises(KeyStoreError, match="wrong passphrase") as info:
        read_key_file(key_path, WRONG)
    assert str(key_path) in str(info.value)
    assert_no_secret(info.value, signer)


def test_empty_passphrase_on_read(key_path: Path) -> None:
    with pytest.raises(InputError):
        read_key_file(key_path, b"")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="no key file"):
        read_key_file(tmp_path / "absent.key", PASSPHRASE)
    with pytest.raises(KeyStoreError, match="no key file"):
        read_key_file_info(tmp_path / "absent.key")


def test_directory_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError):
        read_key_file(tmp_path, PASSPHRASE)


def _rewrite(path: Path, transform: str) -> None:
    text = path.read_text()
    lines = text.splitlines(keepends=True)
    if transform == "truncate":
        path.write_text(text[: len(text) // 2])
    elif transform == "body":
        # change one base64 character in the middle of the PEM body
        i = next(n for n, line in enumerate(lines) if line.startswith("-----BEGIN")) + 2
        line = lines[i]
        lines[i] = line[:10] + ("A" if line[10] != "A" else "B") + line[11:]
        path.write_text("".join(lines))
    elif transform == "no-magic":
        path.write_text("".join(lines[1:]))
    elif transform == "binary":
        path.write_bytes(b"\xff\xfe" + path.read_bytes())
    elif transform == "empty":
        path.write_text("")
    elif transform == "bad-header-key":
        path.write_text(text.replace("public_key: ", "public_key: !"))


@pytest.mark.parametrize("transform",
                         ["truncate", "body", "no-magic", "binary", "empty", "bad-header-key"])
def test_corrupt_file(key_path: Path, signer: Ed25519Signer, transform: str) -> None:
    _rewrite(key_path, transform)
    with pytest.raises(KeyStoreError) as info:
        read_key_file(key_path, PASSPHRASE)
    assert_no_secret(info.value, signer)


def test_header_naming_another_key_is_refused(tmp_path: Path, key_path: Path,
                                              signer: Ed25519Signer) -> None:
    other_path = tmp_path / "other.key"
    write_key_file(other_path, Ed25519Signer.generate(), PASSPHRASE, label="other")
    # header of the other file, encrypted key of this one
    other_header = other_path.read_text().split("-----BEGIN")[0]
    pem = "-----BEGIN" + key_path.read_text().split("-----BEGIN")[1]
    key_path.chmod(0o600)
    key_path.write_text(other_header + pem)
    with pytest.raises(KeyStoreError, match="header names key"):
        read_key_file(key_path, PASSPHRASE)


def test_unencrypted_key_is_refused(tmp_path: Path, signer: Ed25519Signer) -> None:
    pem = Ed25519PrivateKey.from_private_bytes(signer.seed()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    path = tmp_path / "plain.key"
    path.write_text(f"cdlog key file v1\nlabel: x\nkey_id: {signer.key_id}\n"
                    f"public_key: {base64.b64encode(signer.public_key).decode()}\n\n{pem}")
    with pytest.raises(KeyStoreError, match="unencrypted") as info:
        read_key_file(path, PASSPHRASE)
    assert_no_secret(info.value, signer)


def test_repr_of_signer_shows_no_key(key_path: Path, signer: Ed25519Signer) -> None:
    loaded = read_key_file(key_path, PASSPHRASE)
    for secret in secrets_of(signer):
        assert secret not in repr(loaded)
        assert secret not in str(loaded)
    assert signer.key_id in repr(loaded)


def test_passphrase_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDLOG_PASSPHRASE", "s3cret-é")
    assert passphrase_from_env() == "s3cret-é".encode()
    monkeypatch.setenv("OTHER_VAR", "x")
    assert passphrase_from_env("OTHER_VAR") == b"x"


def test_passphrase_from_env_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDLOG_PASSPHRASE", raising=False)
    with pytest.raises(ConfigurationError, match="CDLOG_PASSPHRASE is not set"):
        passphrase_from_env()


def test_passphrase_from_env_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDLOG_PASSPHRASE", "")
    with pytest.raises(ConfigurationError, match="empty"):
        passphrase_from_env()
