"""Agency root keys for replays and the demo, kept as encrypted key files beside the store.

The passphrase comes from ``CDLOG_PASSPHRASE``, else from a prompt on a terminal. When it is
unset, replays and the demo use the fixed demo passphrase :data:`DEMO_PASSPHRASE` and say so,
because demo roots protect nothing real; to sign with the demo store's keys afterwards, set
``CDLOG_PASSPHRASE`` to that value (README, "The demo passphrase").
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sys
from pathlib import Path

import click

from cdlog.errors import ConfigurationError, KeyStoreError
from cdlog.keys.keyfile import read_key_file, write_key_file
from cdlog.keys.signer import Ed25519Signer, Signer

DEMO_PASSPHRASE = b"cdlog-demo-passphrase-not-for-real-keys"


_noted: list[bool] = []


def passphrase(*, demo_ok: bool) -> bytes:
    """The key-file passphrase from ``CDLOG_PASSPHRASE`` (or the demo one when allowed)."""
    value = os.environ.get("CDLOG_PASSPHRASE")
    if value:
        return value.encode()
    if not demo_ok:
        if not (sys.stdin.isatty() and sys.stderr.isatty()):
            raise ConfigurationError(
                "a key file passphrase is needed and there is no terminal to ask on: set "
                "CDLOG_PASSPHRASE (for the demo store: the demo passphrase, see the README)")
        value = click.prompt("Key file passphrase", hide_input=True, err=True)
        return str(value).encode()
    if not _noted:  # once per process: a demo run asks for it more than once
        _noted.append(True)
        click.echo("note: CDLOG_PASSPHRASE is not set; demo keys use the demo passphrase "
                   f"{DEMO_PASSPHRASE.decode()!r} (README, 'The demo passphrase')", err=True)
    return DEMO_PASSPHRASE


def root_key_path(home: Path, agency: str) -> Path:
    """Where an agency's root key file lives."""
    return home / "keys" / f"root-{agency}.key"


class RootKeys:
    """Each agency's root signer for a replay, from its key file beside the store.

    An agency without a key file gets a new root whose key file is written at once, under a
    temporary name in the same folder, and moved into place by :meth:`keep` once the log has
    saved that root (a saved root always has its key file: at worst under the temporary
    name, never lost); :meth:`discard` removes it when the log did not save the root, so no
    key file is left for a root the log does not hold. With ``write=False`` (a dry run) new
    roots live in memory only.
    """

    def __init__(self, home: Path, secret: bytes, *, write: bool = True) -> None:
        self.home = home
        self._secret = secret
        self._write = write
        self._staged: list[tuple[Path, Path]] = []
        self._made: list[Path] = []

    def __call__(self, agency: str) -> Signer:
        """The root signer of ``agency``: read from its key file, else a new staged one."""
        path = root_key_path(self.home, agency)
        if path.exists():
            return read_key_file(path, self._secret)
        signer = Ed25519Signer.generate()
        if self._write:
            missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.extend(missing)  # innermost first
            temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
            write_key_file(temp, signer, self._secret, label=f"trust root {agency}")
            self._staged.append((temp, path))
        return signer

    def keep(self) -> None:
        """Move the new roots' key files into place (the log holds their roots now)."""
        staged, self._staged, self._made = self._staged, [], []
        for temp, path in staged:
            try:
                os.link(temp, path)  # never over an existing file
            except FileExistsError:
                raise KeyStoreError(f"key file {path} appeared meanwhile; the new root's key "
                                    f"stays in {temp}") from None
            except OSError as exc:
                raise KeyStoreError(f"cannot move the new root key {temp} to {path}: "
                                    f"{exc.strerror}; the key stays in {temp}") from None
            temp.unlink()

    def discard(self) -> None:
        """Remove the new roots' key files (and folders made for them, when empty)."""
        staged, self._staged = self._staged, []
        made, self._made = self._made, []
        for temp, _ in staged:
            temp.unlink(missing_ok=True)
        for folder in made:
            with contextlib.suppress(OSError):
                folder.rmdir()


def root_source(home: Path, secret: bytes, *, write: bool = True) -> RootKeys:
    """Each agency's root signer for a replay (see :class:`RootKeys`): existing key files
    are read; new roots' key files are staged and kept only when the log saves the roots."""
    return RootKeys(home, secret, write=write)
