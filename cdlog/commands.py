"""Domain-shaped commands: ``log.open_case(...)``, ``log.accept_case(...)``...

One typed method per stage a case records, each a thin wrapper over
:meth:`cdlog.application.CaseLog.record` (every event type of the catalogue can also be
recorded through ``record`` by its type name). The docstrings say which rule governs each
stage and who may record it; docs/RULES.md has the rules per origin. Common to all:

* ``case`` is a stream name (``case:OP-2006-0001``) or a case reference (``OP-2006-0001``);
  recording into a case that was never opened raises :class:`~cdlog.errors.NotFoundError`,
  and opening a case that exists raises :class:`~cdlog.errors.InputError` saying so.
* ``at`` is when it happened (a time, or a window ``{"from": ..., "to": ...}``);
  ``recorded`` sets the log clock for the event (default: the log's clock).
* ``signer`` is the acting officer's key; ``cosigners`` are the other parties who sign.
* A rule that refuses the step raises :class:`~cdlog.errors.RuleViolationError` naming the
  rule; nothing is written.
"""

from __future__ import annotations

from cdlog.app.after_stage import AfterCommands
from cdlog.app.operation_stage import OperationCommands
from cdlog.app.port_stage import PortCommands
from cdlog.app.typed import When

__all__ = ["CaseCommands", "When"]


class CaseCommands(PortCommands, OperationCommands, AfterCommands):
    """Mixin with one method per stage of a case, from its opening to its closure."""
