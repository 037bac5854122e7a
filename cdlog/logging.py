"""Logging: structlog loggers that write into the standard ``logging`` tree under ``cdlog``.

A library must be quiet by default and log through its host: cdlog's loggers are bound to
``logging.getLogger("cdlog...")``, which carries a :class:`logging.NullHandler`, so nothing is
printed unless the host configures logging (``logging.basicConfig(level=logging.INFO)`` shows
cdlog's lines; ``logging.getLogger("cdlog").setLevel(logging.ERROR)`` silences them). cdlog
never touches structlog's global configuration, so a host's own structlog set-up is its own.

Each record's message is ``event key=value ...``; the structured fields are on the record as
``record.cdlog`` (a dict), for hosts that render JSON. The command line attaches its own
handler (:func:`configure`).

Nothing cdlog logs carries a private key, a passphrase or a restricted payload: events are
logged by type and count only, keys by key id.
"""

from __future__ import annotations

import json as _json
import logging
import sys
import time
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

ROOT = "cdlog"
logging.getLogger(ROOT).addHandler(logging.NullHandler())

_render_kv = structlog.processors.KeyValueRenderer(sort_keys=False)


def _to_stdlib(_logger: Any, method: str, event_dict: MutableMapping[str, Any]
               ) -> tuple[tuple[str], dict[str, Any]]:
    """The last processor: a one-line message for plain handlers, the fields as ``cdlog``."""
    fields = dict(event_dict)
    event = str(fields.pop("event", ""))
    rest = _render_kv(_logger, method, dict(fields)) if fields else ""
    message = f"{event} {rest}".rstrip()
    return (message,), {"extra": {"cdlog": {"event": event, "log_level": method, **fields}}}


def get_logger(name: str = ROOT) -> Any:
    """A structlog logger writing to the standard logger ``name`` (under ``cdlog``).

    Events below the standard logger's effective level cost one level check.
    """
    return structlog.wrap_logger(
        logging.getLogger(name),
        processors=[structlog.stdlib.filter_by_level, _to_stdlib],
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class _CliFormatter(logging.Formatter):
    """key=value (or JSON) lines with a UTC timestamp and the level, for the command line."""

    def __init__(self, *, json: bool) -> None:
        super().__init__()
        self.json = json
        self.converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = dict(getattr(record, "cdlog", None) or
                                      {"event": record.getMessage()})
        fields.setdefault("log_level", record.levelname.lower())
        stamp = self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + "Z"
        if self.json:
            return _json.dumps({"timestamp": stamp, "level": fields.pop("log_level"),
                                "logger": record.name, **fields}, default=str)
        level = fields.pop("log_level")
        event = fields.pop("event", "")
        rest = " ".join(f"{k}={v!r}" for k, v in fields.items())
        return f"timestamp='{stamp}' level='{level}' event='{event}' {rest}".rstrip()


_CLI_HANDLER_FLAG = "_cdlog_cli_handler"


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (a test runner may
    swap it between commands)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def configure(*, json: bool = False, verbose: int = 0) -> None:
    """Attach the command line's handler (stderr) to the ``cdlog`` logger.

    Warnings by default, info with ``-v``, debug with ``-vv``. Library users configure
    ``logging`` themselves and never call this.
    """
    root = logging.getLogger(ROOT)
    for handler in list(root.handlers):
        if getattr(handler, _CLI_HANDLER_FLAG, False):
            root.removeHandler(handler)
    handler = _StderrHandler()
    handler.setFormatter(_CliFormatter(json=json))
    setattr(handler, _CLI_HANDLER_FLAG, True)
    root.addHandler(handler)
    root.setLevel(logging.WARNING - 10 * min(verbose, 2))


class _Capture(logging.Handler):
    def __init__(self, into: list[MutableMapping[str, Any]]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(dict(getattr(record, "cdlog", None) or
                              {"event": record.getMessage(),
                               "log_level": record.levelname.lower()}))


@contextmanager
def capture_logs(level: int = logging.DEBUG) -> Iterator[list[MutableMapping[str, Any]]]:
    """Collect what cdlog logs inside the block, as dicts (``event``, ``log_level`` and the
    fields), the way :func:`structlog.testing.capture_logs` does; for tests."""
    records: list[MutableMapping[str, Any]] = []
    root = logging.getLogger(ROOT)
    handler, saved = _Capture(records), root.level
    root.addHandler(handler)
    root.setLevel(level)
    try:
        yield records
    finally:
        root.removeHandler(handler)
        root.setLevel(saved)
