"""The record path of restricted values: commit them, and vault them with their event.

:func:`split_restricted` takes the values of a class's fields out of a command's fields and
puts cdlog-computed commitments in their place (the class's legacy member, such as
``pnr_locator_commitment``, and the ``commitments`` member); :func:`vault_rows` encrypts the
values for the owner's key-encryption key once the event's case and version are known.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cdlog.domain import events as ev
from cdlog.errors import InputError
from cdlog.restricted.classes import COMMITMENTS_MEMBER, RestrictedClass, class_of_event
from cdlog.restricted.commitment import commit
from cdlog.restricted.kek import KeyWrapper
from cdlog.restricted.vault_record import VaultRow, seal_value


@dataclass(frozen=True)
class RestrictedValue:
    """One value to vault, with the salt and commitment computed for it."""

    cls: RestrictedClass
    field: str
    value: Any
    salt: bytes
    commitment: str

    def __repr__(self) -> str:  # never the value or the salt
        return f"RestrictedValue({self.cls.name}.{self.field}, {self.commitment})"


def split_restricted(event: str | type[ev.Payload] | ev.Payload,
                     fields: Mapping[str, Any] | None
                     ) -> tuple[Mapping[str, Any] | None, tuple[RestrictedValue, ...]]:
    """``fields`` with each restricted value replaced by its commitment, and the values."""
    named = type(event) is str  # the usual case, without pydantic's class check
    if (fields is None or (not named and isinstance(event, ev.Payload))
            or (type(fields) is not dict and not isinstance(fields, Mapping))):
        return fields, ()
    type_name = event if isinstance(event, str) else event.TYPE
    cls = class_of_event(type_name)
    if cls is None:
        return fields, ()
    if COMMITMENTS_MEMBER in fields:
        raise InputError(f"{type_name}.{COMMITMENTS_MEMBER}", "given by the caller",
                         f"the values of {', '.join(cls.fields)} themselves (cdlog computes "
                         "and signs their commitments)")
    given = [name for name in cls.fields if name in fields]
    if not given:
        return fields, ()
    out = dict(fields)
    values = []
    for name in given:
        value = out.pop(name)
        if value is None:
            raise InputError(f"{type_name}.{name}", "is null", "a value to restrict")
        commitment, salt = commit(name, value)
        values.append(RestrictedValue(cls, name, value, salt, commitment))
    for name, member in cls.events[type_name].items():
        if name in given:
            if member in out:
                raise InputError(f"{type_name}.{member}", f"given together with {name}",
                                 f"either {name} (cdlog commits to it) or {member}")
            out[member] = next(v.commitment for v in values if v.field == name)
    out[COMMITMENTS_MEMBER] = {v.field: v.commitment for v in values}
    return out, tuple(values)


def vault_rows(log_id: str, case: str, version: int, values: tuple[RestrictedValue, ...],
               kek: KeyWrapper) -> list[VaultRow]:
    """The encrypted rows of an event's restricted values."""
    return [seal_value(log_id, case, version, v.field, v.cls.name, v.commitment, v.value,
                       v.salt, kek) for v in values]
