"""The base of the views and their tables: one description per event type of how its rows are made.

A view reads the events of its types; for most, one :class:`Rows` per type says everything
about an event's entries: their kind, their key and their document, made once per event or
once per element of a list in the payload. :class:`View` looks the description up by the
event's type (one dictionary lookup, no chain of type tests) and views with logic beyond a
table (reading their own earlier entries, adding entries to every event) add it around the
lookup.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from cdlog.domain import events as ev
from cdlog.domain.case import Fact
from cdlog.domain.config import Config
from cdlog.projections.store import NewEntry, Prior, fingerprint


def json_of(model: Any) -> Any:
    """A model's JSON form as entries store it."""
    return model.model_dump(mode="json", by_alias=True, exclude_none=True)


def unwrap(fact: Fact) -> Fact | None:
    """The event a ``LateEntryRecorded`` wraps, as a fact of its own type (else ``None``)."""
    p = fact.payload
    if not isinstance(p, ev.LateEntryRecorded):
        return None
    try:
        inner = p.wrapped()
    except ValueError:
        return None
    return dataclasses.replace(fact, type=p.wraps, payload=inner, late=True)


Part = Callable[[Fact, Any, Any], Any]
"""A function of the event, its payload and the element a row is made for (the payload
itself for a row per event)."""


def stream(fact: Fact, p: Any, x: Any) -> str:
    """Key: the event's stream."""
    return fact.stream


def payload(fact: Fact, p: Any, x: Any) -> Any:
    """Document: the element's JSON form (the payload's, for a row per event)."""
    return json_of(x)


def field(name: str) -> Part:
    """Key: a field of the element (of the payload, for a row per event)."""

    def get(fact: Fact, p: Any, x: Any) -> Any:
        return getattr(x, name)
    return get


def itself(fact: Fact, p: Any, x: Any) -> Any:
    """Key: the element itself (a list of names)."""
    return x


def constant(value: str) -> Part:
    """Key: the same text for every row."""

    def get(fact: Fact, p: Any, x: Any) -> str:
        return value
    return get


def fields(*names: str, **renamed: str) -> Part:
    """Document: fields of the payload by name (``out="field"`` stores one under another)."""
    pairs = [(n, n) for n in names] + list(renamed.items())

    def get(fact: Fact, p: Any, x: Any) -> dict[str, Any]:
        return {out: getattr(p, name) for out, name in pairs}
    return get


def element_with(*names: str, **renamed: str) -> Part:
    """Document: the element's JSON form with fields of the payload added (as :func:`fields`)."""
    more = fields(*names, **renamed)

    def get(fact: Fact, p: Any, x: Any) -> dict[str, Any]:
        return {**json_of(x), **more(fact, p, x)}
    return get


@dataclass(frozen=True)
class Rows:
    """How one event type's entries are made: one of ``kind`` per event (or, with ``each``,
    per element of the payload list it names), keyed and documented by ``key`` and ``data``;
    none when ``when`` says the payload does not qualify."""

    kind: str
    key: Part
    data: Part
    each: str | None = None
    when: Callable[[Any], bool] | None = None

    def __call__(self, fact: Fact) -> list[NewEntry]:
        """The entries of ``fact``."""
        p: Any = fact.payload
        if self.when is not None and not self.when(p):
            return []
        if self.each is None:
            return [NewEntry(self.kind, self.key(fact, p, p), self.data(fact, p, p))]
        return [NewEntry(self.kind, self.key(fact, p, x), self.data(fact, p, x))
                for x in getattr(p, self.each)]


class View:
    """Base of the views: a name, a schema version, the event types it reads and, for a
    table-driven view, its :class:`Rows` by event type (its types, unless given)."""

    name: ClassVar[str] = ""
    schema: ClassVar[int] = 1
    types: ClassVar[frozenset[str]] = frozenset()
    unwrap_late: ClassVar[bool] = False
    table: ClassVar[Mapping[str, Rows]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "table" in cls.__dict__ and "types" not in cls.__dict__:
            cls.types = frozenset(cls.table)

    def __init__(self, config: Config) -> None:
        self.config = config

    def fingerprint(self) -> str:
        """What the view's content depends on: its name and schema version."""
        return fingerprint(self.name, str(self.schema))

    def wants(self, fact: Fact) -> bool:
        """True when the view reads this event.

        A subclass that keeps this method reads exactly the case events whose type is in
        :meth:`wanted_types`; the projector relies on that to filter a page by type.
        """
        if fact.stream.startswith("trust:"):
            return False
        if not self.types or fact.type in self.types:
            return True
        return self.unwrap_late and fact.type == "LateEntryRecorded"

    def wanted_types(self) -> frozenset[str] | None:
        """The event types :meth:`wants` takes outside the trust streams (None: every one)."""
        if not self.types:
            return None
        return (self.types | {"LateEntryRecorded"}) if self.unwrap_late else self.types

    def handle(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """The entries ``fact`` adds."""
        if fact.type == "LateEntryRecorded" and self.unwrap_late:
            inner = unwrap(fact)
            if inner is None or (self.types and inner.type not in self.types):
                return []
            fact = inner
        return self.entries(fact, prior)

    def entries(self, fact: Fact, prior: Prior) -> list[NewEntry]:
        """The entries of one (unwrapped) event: its type's :class:`Rows` (none without)."""
        rows = self.table.get(fact.type)
        return [] if rows is None else rows(fact)


def joined(*groups: Iterable[tuple[str, Rows]]) -> dict[str, Rows]:
    """One table from groups of (event type, rows); a type given twice is a mistake."""
    out: dict[str, Rows] = {}
    for group in groups:
        for type_, rows in group:
            if type_ in out:
                msg = f"event type {type_} described twice"
                raise ValueError(msg)
            out[type_] = rows
    return out
