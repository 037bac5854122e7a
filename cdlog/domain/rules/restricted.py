"""The rule of restricted-data events: who is entitled to read a class's values, who erases.

A reader is entitled to a class's values when its agency is the owner or one of the class's
readers, or, for a third party, when a ``ThirdPartyDisclosureAuthorized`` in the *same* record
stream names the reader's agency and the case, was recorded before the read (it is in the
context the read is checked against) and has not expired on the read's day (UTC). Pure: the
vault and the reads themselves are :mod:`cdlog.restricted.access`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cdlog.domain import events as ev
from cdlog.domain.restricted_classes import RestrictedClass, restricted_class
from cdlog.domain.rules.common import _refuse
from cdlog.errors import NotFoundError

if TYPE_CHECKING:
    from cdlog.domain.case import Context, Disclosure, Fact


@dataclass(frozen=True)
class Entitlement:
    """Whether a reader may see a class's values of a record, and on which ground."""

    allowed: bool
    reason: str
    authorisation_version: int | None = None
    """The version (in the record's stream) of the authorisation a third party reads under."""


def entitlement(cls: RestrictedClass, reader_agency: str, record_stream: str,
                case_no: str | None, at: datetime, ctx: Context) -> Entitlement:
    """Decide a read of ``cls`` values of ``record_stream`` by ``reader_agency`` at ``at``,
    given the authorisations in ``ctx`` (those recorded before the read)."""
    if cls.may_read_unauthorised(reader_agency):
        return Entitlement(True, f"{reader_agency} reads {cls.label} without authorisation "
                                 "(owner or listed reader)")
    if not case_no:
        return Entitlement(False, f"{reader_agency} is a third party for {cls.label} and "
                                  "named no case to read for")
    mine = [d for d in ctx.disclosures(case_no)
            if d.stream == record_stream and d.requesting_agency == reader_agency]
    current = in_force(mine, at, ctx)
    if current:
        return Entitlement(True, f"authorised for {reader_agency} on case {case_no}",
                           current[-1].version)
    if mine:
        return Entitlement(False, f"the authorisation of {reader_agency} on case {case_no} "
                                  f"for {record_stream} expired on {mine[-1].expires} or was "
                                  f"given after {at.isoformat()}")
    return Entitlement(False, f"no ThirdPartyDisclosureAuthorized for {reader_agency} on case "
                              f"{case_no} in {record_stream}")


def in_force(authorisations: Sequence[Disclosure], at: datetime,
             ctx: Context) -> list[Disclosure]:
    """The authorisations given by ``at`` that have not expired on its day (UTC, or the
    configured default zone)."""
    day = at.astimezone(ctx.config.zone(None)).date()
    return [d for d in authorisations if d.authorised_at <= at and day <= d.expires]


def may_see(cls: RestrictedClass, reader_agency: str | None, record_stream: str,
            case_no: str | None, at: datetime, ctx: Context) -> bool:
    """Whether values may be shown unmasked (queries, reports); None: nobody, masked."""
    if reader_agency is None:
        return False
    return entitlement(cls, reader_agency, record_stream, case_no, at, ctx).allowed


def check_event(fact: Fact, ctx: Context) -> None:
    """The rule for restricted-data events (issue 11; called by :func:`cdlog.domain.case.check`):
    a read's actor must be entitled at the read; only the owner agency erases."""
    p = fact.payload
    if isinstance(p, ev.RestrictedValuesRead | ev.RestrictedValuesErased):
        try:
            cls = restricted_class(p.restricted_class)
        except NotFoundError as exc:
            raise _refuse("restricted", fact, str(exc), "a known restricted class") from None
        if isinstance(p, ev.RestrictedValuesErased):
            if fact.actor.agency != cls.owner:
                raise _refuse("restricted", fact, f"{fact.actor.agency} erases {cls.label}, "
                              f"which {cls.owner} owns", f"an officer of {cls.owner}")
            return
        ent = entitlement(cls, fact.actor.agency, p.record, p.case_no, fact.occurred.start,
                          ctx)
        if not ent.allowed:
            raise _refuse("restricted", fact, ent.reason,
                          "the owner, or a prior unexpired ThirdPartyDisclosureAuthorized")
        if p.authorisation_version is None or cls.may_read_unauthorised(fact.actor.agency):
            return
        valid = {d.version for d in in_force(
            [d for d in ctx.disclosures(p.case_no or "") if d.stream == p.record
             and d.requesting_agency == fact.actor.agency], fact.occurred.start, ctx)}
        if p.authorisation_version not in valid:
            raise _refuse("restricted", fact, f"names authorisation version "
                          f"{p.authorisation_version} of {p.record}, which is not one in force "
                          f"for {fact.actor.agency}", "the authorisation the read was made under")
