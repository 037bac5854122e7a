"""Helpers about a case's origin and its responsibility holders, for the layers above the
domain (scenario replay, projections, reports) so that none of them guesses.

* :func:`origin_of` - the :class:`~cdlog.domain.events.Origin` of an opening (an OFO
  interdiction when it names none).
* :func:`origin_from_mapping` - an ``origin:`` block of a scenario file (or of a command's
  JSON) to an :class:`~cdlog.domain.events.Origin`, refusing what does not fit with an
  :class:`~cdlog.errors.InputError` that names the field and the expected form.
* :func:`opening_holder` / :func:`released_holder` - who holds responsibility (R2) from a
  case's opening and after a :class:`~cdlog.domain.events.ResponsibilityReleased`, from
  structured fields only: never from the words of ``to``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from cdlog.domain import events as ev
from cdlog.errors import InputError

OFO_INTERDICTION = ev.Origin(kind="ofo_interdiction", agency="CBP", office="OFO")
"""The origin of a case whose opening names none."""

CONTROL_KEYS = frozenset({"opened_by"})
"""Keys of a scenario's ``origin:`` block that are not fields of the origin: ``opened_by``,
the handle of the actor who opens the case."""


def origin_of(opened: ev.CaseOpened) -> ev.Origin:
    """The origin of a case from its opening (an OFO interdiction when none is named)."""
    return opened.origin if opened.origin is not None else OFO_INTERDICTION


def origin_from_mapping(spec: Any, ids: Mapping[str, str] | None = None, *,
                        where: str = "origin") -> ev.Origin:
    """Validate an ``origin:`` block (keys of :data:`CONTROL_KEYS` ignored).

    ``ids`` maps actor handles to identifiers: a handle given as ``via`` stands for that
    actor's identifier. Raises :class:`~cdlog.errors.InputError` naming ``where.<field>``.
    """
    if not isinstance(spec, Mapping):
        raise InputError(where, f"is {type(spec).__name__}, not a mapping",
                         "{kind, agency, office?, authority?, state?, via?, request_ref?, "
                         "case_no?}")
    fields = {str(k): v for k, v in spec.items() if k not in CONTROL_KEYS}
    if ids and isinstance(fields.get("via"), str):
        fields["via"] = ids.get(fields["via"], fields["via"])
    try:
        return ev.Origin.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in (where, *first["loc"]))
        if first["type"] == "missing":
            raise InputError(field, "missing", "a value") from None
        if first["type"] == "extra_forbidden":
            raise InputError(field, "is not a field of an origin",
                             ", ".join(ev.Origin.model_fields)) from None
        raise InputError(field, f"{first['msg']} (given {first.get('input')!r})",
                         " or ".join(ev.ORIGINS) if first["loc"] == ("kind",)
                         else "a non-empty text") from None


def opening_holder(opened: ev.CaseOpened) -> str:
    """Who is responsible from a case's opening: CBP/OFO for an OFO interdiction (the goods
    are at the port); ICE/OI for a case OI leads from its opening (its investigation, a
    foreign request, a partner referral). R2 responsibility for the operation is OI's from
    ``ResponsibilityAssumed`` in either case."""
    return "CBP/OFO" if origin_of(opened).kind == "ofo_interdiction" else "ICE/OI"


def released_holder(released: ev.ResponsibilityReleased) -> str | None:
    """Who holds responsibility after OI released it: ``to_agency/to_office`` (or the agency
    alone) when the event names them, else ``None`` (nobody named; never read from ``to``)."""
    if released.to_agency is None:
        return None
    return f"{released.to_agency}/{released.to_office}" if released.to_office else \
        released.to_agency
