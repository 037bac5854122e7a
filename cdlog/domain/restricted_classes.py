"""Restricted classes as configuration: which fields, whose, who reads, how long.

A class names its fields, its owner agency (whose key-encryption key wraps the data keys),
the agencies that may read without an authorisation, where its values sit in signed payloads
and its retention. EU PNR is the first class (CBP is its primary receiver; ICE and every other
DHS component are third parties for it). Informant identities and grand-jury material are the
next users; they would be one more entry in :data:`CLASSES`. Pure configuration: the rules
(:mod:`cdlog.domain.rules.restricted`) decide with it, :mod:`cdlog.restricted` stores with it.

The memo gives no retention for restricted data: :attr:`RestrictedClass.retention_months` is a
placeholder a deployment sets, and :attr:`RestrictedClass.retention_source` says so wherever
it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType

from cdlog.domain.config import PLACEHOLDER
from cdlog.errors import NotFoundError


@dataclass(frozen=True)
class RestrictedClass:
    """One class of restricted data."""

    name: str
    """Stable name stored in events and vault rows (``EU_PNR``)."""
    label: str
    """Human name, shown in masks: ``[restricted: <label>]``."""
    owner: str
    """The owner agency: its key-encryption key wraps the data keys; it may erase."""
    readers: frozenset[str]
    """Agencies that read without an authorisation (the owner is always one)."""
    fields: tuple[str, ...]
    """The restricted fields of the class."""
    events: Mapping[str, Mapping[str, str]]
    """Event type -> {field: payload member holding its commitment}; a field not named for an
    event sits in the event's ``commitments`` member."""
    access_stream: str
    """Stream kind of the access log: reads go to ``<access_stream>:<YYYY-MM>`` (UTC)."""
    retention_months: int
    """How long values are kept after they were received (a placeholder, see below)."""
    retention_source: str = PLACEHOLDER
    """Where :attr:`retention_months` comes from."""
    record_streams: frozenset[str] = field(default_factory=lambda: frozenset({"pnr"}))
    """Stream kinds whose events may carry values of the class."""

    @property
    def mask(self) -> str:
        """What a reader who is not entitled sees instead of a value."""
        return f"[restricted: {self.label}]"

    def may_read_unauthorised(self, agency: str) -> bool:
        """Whether ``agency`` reads the class without a third-party authorisation."""
        return agency == self.owner or agency in self.readers

    def retention_end(self, received: date) -> date:
        """The first day the values received on ``received`` are due for erasure."""
        month = received.month - 1 + self.retention_months
        year, month = received.year + month // 12, month % 12 + 1
        for day in range(received.day, 0, -1):
            try:
                return date(year, month, day)
            except ValueError:
                continue
        raise AssertionError("unreachable")  # pragma: no cover


EU_PNR = RestrictedClass(
    name="EU_PNR",
    label="EU PNR",
    owner="CBP",
    readers=frozenset({"CBP"}),
    fields=("locator", "passenger", "contact", "itinerary", "payment", "travel_history",
            "remarks"),
    events=MappingProxyType({"PNRRecordIngested": MappingProxyType(
        {"locator": "pnr_locator_commitment"})}),
    access_stream="pnr-access",
    retention_months=42,
)
"""EU PNR: CBP owns and reads it; everyone else is a third party. Retention 42 months is a
placeholder (the memo gives none; it is the 3.5 years of the EU-US 2007 regime)."""

CLASSES: dict[str, RestrictedClass] = {EU_PNR.name: EU_PNR}
"""Every restricted class, by name."""


def restricted_class(name: str) -> RestrictedClass:
    """The class named ``name``; :class:`~cdlog.errors.NotFoundError` if there is none."""
    try:
        return CLASSES[name]
    except KeyError:
        raise NotFoundError(f"no restricted class {name!r} (known: "
                            f"{', '.join(sorted(CLASSES))})") from None
