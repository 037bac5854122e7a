"""structlog configuration: key=value on a terminal, JSON when asked.

Nothing cdlog logs carries a private key, a passphrase or a restricted payload: events are
logged by type and count only, keys by key id.
"""

from __future__ import annotations

import logging
import sys

import structlog


def configure(*, json: bool = False, verbose: int = 0) -> None:
    """Configure structlog for the CLI (library users configure it themselves)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    processors: list[structlog.types.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if json:
        processors.append(structlog.processors.JSONRenderer())
    else:
        processors.append(structlog.processors.KeyValueRenderer(
            key_order=["timestamp", "level", "event"]))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
