"""Restricted classes where the log meets them: the commitments an event's payload holds, masks.

The classes themselves (:class:`RestrictedClass`, :data:`EU_PNR`, :data:`CLASSES`) are domain
configuration in :mod:`cdlog.domain.restricted_classes`, re-exported here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cdlog.domain.restricted_classes import CLASSES, EU_PNR, RestrictedClass, restricted_class
from cdlog.log.sealing import SealedEvent
from cdlog.restricted.commitment import is_commitment

__all__ = ["CLASSES", "COMMITMENTS_MEMBER", "EU_PNR", "RestrictedClass", "class_of_event",
           "commitments_in", "commitments_of", "mask", "restricted_class",
           "restricted_members"]

COMMITMENTS_MEMBER = "commitments"
"""The payload member holding ``{field: commitment}`` of an event's restricted fields."""


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
