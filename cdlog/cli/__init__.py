"""The ``cdlog`` command line: :data:`cli` (the click group, with every command registered)
and :func:`main` (the console entry point)."""

from __future__ import annotations

# Each module registers its commands on ``cli`` when imported.
from cdlog.cli import (
    browse_cmd,
    cases_cmd,
    checkproof_cmd,
    keys_cmd,
    log_cmd,
    query_cmd,
    record_cmd,
    report_cmd,
    restricted_cmd,
    verify_cmd,
)
from cdlog.cli.main import cli, main

__all__ = ["browse_cmd", "cases_cmd", "checkproof_cmd", "cli", "keys_cmd", "log_cmd", "main",
           "query_cmd", "record_cmd", "report_cmd", "restricted_cmd", "verify_cmd"]
