"""Restricted classes as configuration: which fields, whose, who reads, how long.

A class names its fields, its owner agency (whose key-encryption key wraps the data keys),
the agencies that may read without an authorisation, where its values sit in signed payloads
and its retention. EU PNR is the first class (CBP is its primary receiver; ICE and every other
DHS component are third parties for it). Informant identities and grand-jury material are the
next users; they would be one more entry in :data:`CLASSES`.

The memo gives no retention for restricted data: :attr:`RestrictedClass.retention_months` is a
placeholder a deployment sets, and :attr:`RestrictedClass.retention_source` says so wherever
it is shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

from cdlog.domain.config import PLACEHOLDER
from cdlog.errors import NotFoundError
from cdlog.log.sealing import SealedEvent
from cdlog.restricted.commitment import is_commitment

COMMITMENTS_MEMBER = "commitments"
"""The payload member holding ``{field: commitment}`` of an event's restricted fields."""


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


def class_of_event(event_type: str) -> RestrictedClass | None:
    """The class whose values events of ``event_type`` carry, if any."""
    for cls in CLASSES.values():
        if event_type in cls.events:
            return cls
    return None


def restricted_members(event_type: str) -> dict[str, str]:
    """``{payload member: field}`` of an event type's restricted commitments: what queries,
    reports and exports mask (the ``commitments`` member maps to ``"*"``)."""
    cls = class_of_event(event_type)
    if cls is None:
        return {}
    out = {member: fld for fld, member in cls.events[event_type].items()}
    out[COMMITMENTS_MEMBER] = "*"
    return out


def commitments_in(event_type: str, payload: Mapping[str, Any]) -> dict[str, str]:
    """``{field: commitment}`` of the restricted fields a payload of ``event_type`` commits
    to. A legacy member holding a caller-typed text that is no commitment is left out."""
    cls = class_of_event(event_type)
    if cls is None:
        return {}
    out: dict[str, str] = {}
    for fld, member in cls.events[event_type].items():
        value = payload.get(member)
        if is_commitment(value):
            out[fld] = str(value)
    extra = payload.get(COMMITMENTS_MEMBER)
    if isinstance(extra, Mapping):
        out.update({str(k): str(v) for k, v in extra.items()})
    return out


def commitments_of(event: SealedEvent) -> dict[str, str]:
    """``{field: commitment}`` of a sealed event, as signed."""
    return commitments_in(event.type, event.payload)


def mask(cls: RestrictedClass) -> str:
    """The mask text of a class (``[restricted: EU PNR]``)."""
    return cls.mask
