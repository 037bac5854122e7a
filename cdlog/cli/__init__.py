"""The ``cdlog`` command line."""

from __future__ import annotations

from cdlog.cli.main import cli, main

__all__ = ["cli", "main"]
