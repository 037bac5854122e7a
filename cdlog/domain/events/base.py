"""The catalogue's frame: the payload base, ``@event`` registration, value parts, lookups."""

from __future__ import annotations

from collections.abc import Mapping
from types import UnionType
from typing import Any, ClassVar, Union, get_args, get_origin

from pydantic import BaseModel

from cdlog.domain.values import Count, Frozen, Ref, Text, Weight

RefValue = str | int | list[str] | dict[str, str | int]


class Payload(Frozen):
    """Base of every payload model."""

    TYPE: ClassVar[str] = ""
    STREAMS: ClassVar[frozenset[str]] = frozenset({"case"})
    COSIGN: ClassVar[tuple[str, ...]] = ()
    DERIVED_ONLY: ClassVar[bool] = False


CATALOGUE: dict[str, type[Payload]] = {}


def _register(cls: type[Payload]) -> type[Payload]:
    CATALOGUE[cls.TYPE] = cls
    return cls


def event(name: str, *, streams: tuple[str, ...] = ("case",), cosign: tuple[str, ...] = (),
          derived_only: bool = False) -> Any:
    """Class decorator: give a payload model its stable type name and register it."""

    def wrap(cls: type[Payload]) -> type[Payload]:
        cls.TYPE = name
        cls.STREAMS = frozenset(streams)
        cls.COSIGN = cosign
        cls.DERIVED_ONLY = derived_only
        return _register(cls)

    return wrap


# ---------------------------------------------------------------- value parts the stages share
class ItemRef(Frozen):
    """A quantity of a known item at a hand-off, recovery or seizure."""

    item: Ref
    count: Count | None = None
    gross_weight_kg: Weight | None = None
    description: Text | None = None


def _list_item(annotation: Any) -> tuple[bool, Any]:
    """(is a list, its item type) of a field annotation, looking through ``X | None``."""
    if get_origin(annotation) in (Union, UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        annotation = inner[0] if len(inner) == 1 else annotation
    if get_origin(annotation) is list:
        args = get_args(annotation)
        return True, args[0] if args else Any
    return False, annotation


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if get_origin(annotation) in (Union, UnionType):
        inner = [a for a in get_args(annotation) if a is not type(None)]
        annotation = inner[0] if len(inner) == 1 else None
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def as_lists(model: type[BaseModel], fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with a single value given for a list-valued field taken as a list of one
    (``witnesses: ICE-1`` as ``witnesses: [ICE-1]``), in nested models too. Nothing else is
    changed: whatever still does not fit is refused when the payload is validated."""
    out = dict(fields)
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key not in out:
            continue
        value = out[key]
        is_list, item = _list_item(info.annotation)
        nested = _model_of(item)
        if is_list:
            if value is not None and not isinstance(value, list | tuple):
                value = [value]
            if nested is not None and isinstance(value, list | tuple):
                value = [as_lists(nested, v) if isinstance(v, Mapping) else v for v in value]
        elif nested is not None and isinstance(value, Mapping):
            value = as_lists(nested, value)
        out[key] = value
    return out


def payload_model(type_name: str) -> type[Payload]:
    """Return the payload model of an event type (KeyError-free: None is not returned)."""
    model = CATALOGUE.get(type_name)
    if model is not None:
        return model
    from cdlog.errors import InputError  # noqa: PLC0415 - keep the module import-light

    raise InputError("type", f"{type_name!r} is not an event type of the catalogue",
                     "one of " + ", ".join(sorted(CATALOGUE)))


STREAM_KINDS = ("case", "pnr", "pnr-access", "trust", "programme")
"""Kinds of stream: a case, a PNR record, the PNR access log, an agency's keys, and a
programme (``programme:<name>``: action items outside any case, such as the memo's own, R9)."""


def stream_kind(stream: str) -> str:
    """Return the kind of a stream from its name (one of :data:`STREAM_KINDS`)."""
    kind, sep, rest = stream.partition(":")
    if not sep or not rest or kind not in STREAM_KINDS:
        from cdlog.errors import InputError  # noqa: PLC0415

        raise InputError("stream", f"{stream!r} is not a stream name",
                         "case:<ref>, pnr:<key>, pnr-access:<partition>, trust:<agency> or "
                         "programme:<name>")
    return kind
