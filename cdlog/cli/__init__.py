"""The ``cdlog`` command line: :data:`cli` (the click group) and :func:`main` (the console
entry point).

Each module below registers its commands on ``cli`` when imported; the group imports the one
a run asks for (:data:`cdlog.cli.main.COMMAND_MODULES`), so ``cdlog query ...`` does not load
the reports, the browser or the key commands. ``cdlog.cli.<module>`` still imports any of
them."""

from __future__ import annotations

import importlib
from types import ModuleType

from cdlog.cli.main import cli, main

_MODULES = ("browse_cmd", "cases_cmd", "checkproof_cmd", "keys_cmd", "log_cmd", "query_cmd",
            "record_cmd", "report_cmd", "restricted_cmd", "verify_cmd")

__all__ = ["browse_cmd", "cases_cmd", "checkproof_cmd", "cli", "keys_cmd", "log_cmd", "main",
           "query_cmd", "record_cmd", "report_cmd", "restricted_cmd", "verify_cmd"]


def __getattr__(name: str) -> ModuleType:
    """A command module, imported when first named (``cdlog.cli.query_cmd``)."""
    if name in _MODULES:
        return importlib.import_module(f"cdlog.cli.{name}")
    raise AttributeError(f"module 'cdlog.cli' has no attribute {name!r}")
