"""A case's opening (with where it began, its Origin) and its closing."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from cdlog.domain.events.base import Payload, RefValue, event
from cdlog.domain.values import Frozen, Ref, Text

# ---------------------------------------------------------------- case opening and closing
ORIGINS = ("ofo_interdiction", "oi_investigation", "foreign_request", "partner_referral")
"""Where an operation began (see docs/RULES.md): an interdiction by OFO at a port, OI's own
investigation, a foreign authority's request relayed by an ICE attaché, another agency's
referral."""


class Origin(Frozen):
    """Who originated a case, and how it reached the log.

    ``kind`` is one of :data:`ORIGINS`; ``agency``/``office`` name the originating agency
    (``CBP``/``OFO``, ``ICE``/``OI``, a foreign authority such as ``NL-FIOD``, a partner such
    as ``DEA``/``USCG``); ``authority`` and ``state`` name a foreign authority in full and its
    country; ``via`` is the officer id who relayed it (the ICE attaché for a foreign request);
    ``request_ref`` the originator's own reference (MLA request, referral number);
    ``case_no`` the OI case number when OI leads the case from its opening.
    """

    kind: Literal["ofo_interdiction", "oi_investigation", "foreign_request",
                  "partner_referral"]
    agency: Ref
    office: Ref | None = None
    authority: Text | None = None
    state: Ref | None = None
    via: Ref | None = None
    request_ref: Ref | None = None
    case_no: Ref | None = None


@event("CaseOpened")
class CaseOpened(Payload):
    """A case is opened: its reference, operation id, port of entry and shipment refs, and
    (optionally) its :class:`Origin`. Without ``origin`` the case is an OFO interdiction
    opened at the port, which is what every case recorded before origins existed is (the
    field is left out of the signed form when absent, so those events keep their bytes)."""

    reference: Ref
    operation_id: Ref | None = None
    port: Ref
    refs: dict[str, RefValue] = Field(default_factory=dict)
    origin: Origin | None = None


@event("CaseClosed")
class CaseClosed(Payload):
    """The case is closed."""

    reason: Text
