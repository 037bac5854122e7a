"""Agency root keys for replays and the demo, kept as encrypted key files beside the store.

The passphrase comes from ``CDLOG_PASSPHRASE``, else from a prompt on a terminal. When it is
unset, replays and the demo use the fixed demo passphrase :data:`DEMO_PASSPHRASE` and say so,
because demo roots protect nothing real; to sign with the demo store's keys afterwards, set
``CDLOG_PASSPHRASE`` to that value (README, "The demo passphrase").
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import click

from cdlog.errors import ConfigurationError
from cdlog.keys.keyfile import read_key_file, write_key_file
from cdlog.keys.signer import Ed25519Signer, Signer

DEMO_PASSPHRASE = b"cdlog-demo-passphrase-not-for-real-keys"


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
    click.echo("note: CDLOG_PASSPHRASE is not set; demo keys use the demo passphrase "
               f"{DEMO_PASSPHRASE.decode()!r} (README, 'The demo passphrase')", err=True)
    return DEMO_PASSPHRASE


def root_key_path(home: Path, agency: str) -> Path:
    """Where an agency's root key file lives."""
    return home / "keys" / f"root-{agency}.key"


def root_source(home: Path, secret: bytes) -> Callable[[str], Signer]:
    """A function giving each agency's root signer, creating its key file the first time."""

    def get(agency: str) -> Signer:
        path = root_key_path(home, agency)
        if path.exists():
            return read_key_file(path, secret)
        signer = Ed25519Signer.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_key_file(path, signer, secret, label=f"trust root {agency}")
        return signer

    return get
