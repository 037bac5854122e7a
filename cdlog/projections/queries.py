"""The oversight questions (docs/REPORTS.md lists them), answered from the views.

Every query takes ``recorded_by`` (the record-time axis: answer from what the log had
recorded by then; within a case that is always a prefix of its events) and the time-of-event
arguments of its question (``at``, ``as_of``). Answers are pydantic models
(:mod:`cdlog.projections.models`) citing the events they rest on.

A case can be named by its stream name, reference, operation id, OI case number or internal
id (the stream's UUID)::

    with Queries.open(log) as q:
        q.responsibility_at("MI-06-CD-0001", t).holder     # "ICE/OI"

Each family of questions is a mixin in :mod:`cdlog.projections.questions`; :class:`Queries`
joins them.
"""

from __future__ import annotations

from cdlog.projections.questions.approvals import FEEDBACK_REPORTS, ApprovalQueries
from cdlog.projections.questions.common import cite, cites, delta_s, parse_at
from cdlog.projections.questions.incidents import IncidentQueries
from cdlog.projections.questions.pnr import REGIMES, RETENTION_SOURCE, PnrQueries

__all__ = ["FEEDBACK_REPORTS", "REGIMES", "RETENTION_SOURCE", "Queries", "cite", "cites",
           "delta_s", "parse_at"]


class Queries(IncidentQueries, ApprovalQueries, PnrQueries):
    """Query functions over the views of one log (caught up when opened)."""
