"""From a sealed event to the domain's view of it (:class:`~cdlog.domain.case.Fact`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from cdlog.canonical import parse_time
from cdlog.domain.case import Fact
from cdlog.domain.events import CATALOGUE, Payload, payload_model
from cdlog.domain.values import Occurred, Officer, instant
from cdlog.errors import Failure, InputError, VerificationError
from cdlog.log.sealing import SealedEvent

_KEPT = 4096  # parties remembered (the same few officers sign most events)
_PARTY_JSON: dict[tuple[Officer, str], dict[str, str]] = {}
_PARTIES: dict[tuple[tuple[str, str], ...], Officer] = {}


def officer_json(officer: Officer, key_id: str) -> dict[str, str]:
    """Return the envelope form of a signing party: identity fields plus ``key``."""
    known = _PARTY_JSON.get((officer, key_id))
    if known is None:
        known = officer.model_dump(mode="json", exclude_none=True)
        known["key"] = key_id
        if len(_PARTY_JSON) >= _KEPT:
            _PARTY_JSON.clear()
        _PARTY_JSON[officer, key_id] = known
    return dict(known)


def officer_of(party: dict[str, Any]) -> Officer:
    """Return the identity named by an envelope party (``key`` dropped).

    Parties whose fields are all strings are remembered: the same fields always give the same
    (immutable) officer, so it is validated once.
    """
    key = tuple(party.items())
    try:
        known = _PARTIES.get(key)
    except TypeError:  # a value that is no string (and not hashable)
        known = None
    if known is None:
        known = Officer.model_validate({k: v for k, v in party.items() if k != "key"})
        if all(type(v) is str for v in party.values()):  # only all-string parties are kept
            if len(_PARTIES) >= _KEPT:
                _PARTIES.clear()
            _PARTIES[key] = known
    return known


def payload_json(payload: Payload) -> dict[str, Any]:
    """Return the one JSON form of a payload that is sealed.

    ``payload.model_dump(mode="json", by_alias=True, exclude_none=True)``: the model's
    serializer called directly (what ``model_dump`` calls, with the same arguments), without
    the wrapper's cost, which is most of the call for a small payload.
    """
    data: dict[str, Any] = type(payload).__pydantic_serializer__.to_python(
        payload, mode="json", by_alias=True, exclude_none=True)
    return data


def _validator(model: type[BaseModel]) -> Callable[[Any], Any]:
    """``model.model_validate`` without its keyword arguments: the schema validator's
    ``validate_python``, which ``model_validate`` calls with them all unset."""
    validate: Callable[[Any], Any] = model.__pydantic_validator__.validate_python
    return validate


_OCCURRED = _validator(Occurred)


def _at_recorded(occurred: Any, recorded: Any) -> bool:
    """Whether an envelope's ``occurred`` is ``{"at": <its recorded time text>}``."""
    return (type(occurred) is dict and len(occurred) == 1 and type(recorded) is str
            and occurred.get("at") == recorded)


def validation_to_input_error(exc: ValidationError, prefix: str) -> InputError:
    """Turn a pydantic error into an :class:`InputError` naming field, problem, expectation."""
    first = exc.errors()[0]
    where = ".".join(str(p) for p in (prefix, *first["loc"]))
    given = first.get("input")
    problem = f"{first['msg']} (given {given!r})" if first["type"] != "missing" else "missing"
    expected = {"missing": "a value", "extra_forbidden": "no such field"}.get(
        first["type"], first["msg"].lower())
    if len(exc.errors()) > 1:
        problem += f"; and {len(exc.errors()) - 1} more problem(s)"
    return InputError(where, problem, expected)


_FACT_FIELDS = ("type", "payload", "occurred", "recorded", "actor", "cosigners", "version",
                "stream", "late")
_PLAIN_FACT = (tuple(f.name for f in dataclasses.fields(Fact)) == _FACT_FIELDS
               and not hasattr(Fact, "__slots__") and not hasattr(Fact, "__post_init__"))


def new_fact(**fields: Any) -> Fact:
    """``Fact(**fields)`` with every field given: the instance dictionary is filled directly,
    skipping the frozen dataclass's ``object.__setattr__`` per field (the same object)."""
    if not _PLAIN_FACT:  # the class changed shape: build it the ordinary way
        return Fact(**fields)
    fact: Fact = object.__new__(Fact)
    fact.__dict__.update(fields)
    return fact


def fact_of(sealed: SealedEvent, recorded: datetime | None = None,
            actor: Officer | None = None) -> Fact:
    """Decode a sealed event's envelope into a :class:`Fact`.

    Raises :class:`~cdlog.errors.VerificationError` (check ``payload``) when the stored
    payload no longer validates or is not in its canonical JSON form. ``recorded`` and
    ``actor``, when given, are what ``parse_time(envelope["recorded"])`` and
    ``officer_of(envelope["actor"])`` returned for this event (the verifier has them already,
    after the form check found the recorded time canonical). An event that occurred at the
    very time it was recorded (``{"at": recorded}``, as live entries are) then takes that time
    as its occurrence: for a canonical time text, pydantic's parse of it is that same time
    (``tests/test_verify_fast_paths.py``), and the validation it skips costs about 1 us an event.
    """
    env = sealed.envelope
    try:
        type_ = sealed.type
        model = CATALOGUE.get(type_) or payload_model(type_)  # payload_model raises for others
        payload = model.__pydantic_validator__.validate_python(env["payload"])  # model_validate
        if payload_json(payload) != env["payload"]:
            msg = "payload is not in its canonical form"
            raise ValueError(msg)
        cosigners = env["cosigners"]
        return new_fact(
            type=type_,
            payload=payload,
            occurred=(instant(recorded) if recorded is not None
                      and _at_recorded(env["occurred"], env["recorded"])
                      else _OCCURRED(env["occurred"])),
            recorded=parse_time(env["recorded"], "recorded") if recorded is None else recorded,
            actor=officer_of(env["actor"]) if actor is None else actor,
            cosigners=() if cosigners == [] else tuple(officer_of(c) for c in cosigners),
            version=sealed.version,
            stream=sealed.stream,
            late=bool(env["late"]),
        )
    except (ValidationError, InputError, ValueError, TypeError, KeyError) as exc:
        raise VerificationError(Failure(sealed.case, sealed.version, "payload",
                                        f"{sealed.type}: {exc}".splitlines()[0])) from exc
