"""Agency root keys for replays and the demo, kept as encrypted key files beside the store.

The passphrase comes from ``CDLOG_PASSPHRASE``; when it is unset, replays use a fixed demo
passphrase and say so, because demo roots protect nothing real.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import click

from cdlog.keys.keyfile import read_key_file, write_key_file
from cdlog.keys.signer import Ed25519Signer, Signer

DEMO_PASSPHRASE = b"cdlog-demo-passphrase-not-for-real-keys"


def passphrase(*, demo_ok: bool) -> bytes:
    """The key-file passphrase from ``CDLOG_PASSPHRASE`` (or the demo one when allowed)."""
    value = os.environ.get("CDLOG_PASSPHRASE")
    if value:
        return value.encode()
    if not demo_ok:
        value = click.prompt("Key file passphrase", hide_input=True, err=True)
        return str(value).encode()
    click.echo("note: CDLOG_PASSPHRASE is not set; demo root keys use the demo passphrase",
               err=True)
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
