"""Value types shared by the domain: officers, agencies, times, items.

All are frozen pydantic models that forbid unknown fields. Times are timezone-aware and are
written in the one canonical form of :func:`cdlog.canonical.format_time`.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)
from pydantic_core import TzInfo

from cdlog.canonical import format_time


def _whole_minute_offset(value: datetime) -> datetime:
    """Refuse offsets with seconds; a time pydantic parsed from text gets the standard
    library's fixed offset in place of pydantic's own ``TzInfo`` (the same instant, offset and
    canonical text): comparing two aware times of different tzinfo classes asks each for its
    offset, and ``TzInfo`` answers through pydantic-core, about 0.5 us a comparison against
    0.06 (a certificate's validity window is compared on every signature)."""
    offset = value.utcoffset()
    if offset is not None and offset.total_seconds() % 60:
        msg = "the UTC offset must be whole minutes (historic zones with seconds are refused)"
        raise ValueError(msg)
    if offset is not None and type(value.tzinfo) is TzInfo:
        zone = _ZONES.get(offset)
        if zone is None:
            zone = _ZONES[offset] = timezone(offset)
        if type(value) is datetime and not value.fold:
            try:  # the same fields under the same offset: replace's result, in half its time
                return value.astimezone(zone)
            except OverflowError:  # its UTC time falls outside the years 1-9999
                pass
        return value.replace(tzinfo=zone)
    return value


_ZONES: dict[timedelta, timezone] = {}
"""The standard library's fixed offset for each offset met (a few)."""


Time = Annotated[AwareDatetime, AfterValidator(_whole_minute_offset),
                 PlainSerializer(format_time, return_type=str, when_used="json")]
"""A timezone-aware time, serialised canonically."""

Day = Annotated[date, PlainSerializer(date.isoformat, return_type=str, when_used="json")]

Weight = Annotated[
    Decimal,
    Field(ge=0, max_digits=12, decimal_places=3),
    PlainSerializer(lambda d: format(d.normalize(), "f"), return_type=str, when_used="json"),
]
"""A weight in kilograms, carried as a decimal string (no floats are ever hashed)."""

Count = Annotated[int, Field(ge=0, le=2**53 - 1)]
Text = Annotated[str, Field(min_length=1, max_length=4000)]
Ref = Annotated[str, Field(min_length=1, max_length=200)]


class Frozen(BaseModel):
    """Base of every value and payload model: frozen, unknown fields forbidden."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)


class Officer(Frozen):
    """Who someone is, as their key certificate says: id (badge or ref), role, agency, office."""

    id: Ref
    role: Ref
    agency: Ref
    office: Ref
    unit: Ref | None = None
    aor: Ref | None = None
    cross_designation: Ref | None = None

    @property
    def label(self) -> str:
        """Short label: ``CBP/OFO SCBPO CBP-2290``."""
        return f"{self.agency}/{self.office} {self.role} {self.id}"


class Occurred(Frozen):
    """When something happened: one instant ``at``, or a window ``from_``..``to``."""

    at: Time | None = None
    from_: Time | None = Field(default=None, alias="from")
    to: Time | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Occurred:
        if self.at is not None:
            if self.from_ is not None or self.to is not None:
                msg = "give either 'at' or a window 'from'/'to', not both"
                raise ValueError(msg)
        elif self.from_ is None or self.to is None:
            msg = "a window needs both 'from' and 'to'"
            raise ValueError(msg)
        elif self.to < self.from_:
            msg = "window 'to' is before 'from'"
            raise ValueError(msg)
        return self

    @property
    def start(self) -> datetime:
        """Earliest instant it may have happened."""
        return self.at if self.at is not None else self.from_  # type: ignore[return-value]

    @property
    def end(self) -> datetime:
        """Latest instant it may have happened."""
        return self.at if self.at is not None else self.to  # type: ignore[return-value]

    def as_json(self) -> dict[str, Any]:
        """Return the canonical JSON form (an instant directly: ``{"at": format_time(at)}``,
        what pydantic's dump gives; a window through pydantic)."""
        if self.at is not None and self.from_ is None and self.to is None:
            return {"at": format_time(self.at)}
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


_PLAIN_OCCURRED = (tuple(Occurred.model_fields) == ("at", "from_", "to")
                   and not Occurred.__private_attributes__
                   and Occurred.__slots__ == ("__dict__", "__pydantic_fields_set__",
                                              "__pydantic_extra__", "__pydantic_private__"))


def instant(at: datetime) -> Occurred:
    """``Occurred(at=at)``, made without pydantic's validation where it has nothing to do.

    For a plain :class:`datetime` (not a subclass) whose UTC offset is known and in whole
    minutes, and not pydantic's own ``TzInfo``, pydantic's validation keeps the very object
    and the instance is filled as here (``tests/test_append_path.py`` holds the two equal);
    anything else is validated.
    """
    off = at.utcoffset() if type(at) is datetime else None
    if (off is None or off.seconds % 60 or off.microseconds or type(at.tzinfo) is TzInfo
            or not _PLAIN_OCCURRED):
        return Occurred(at=at)
    made: Occurred = object.__new__(Occurred)
    _set = object.__setattr__
    _set(made, "__dict__", {"at": at, "from_": None, "to": None})
    _set(made, "__pydantic_fields_set__", {"at"})
    _set(made, "__pydantic_extra__", None)
    _set(made, "__pydantic_private__", None)
    return made
