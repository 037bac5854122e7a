"""Disclosure packages: restricted values and their salts, checkable against the signed log.

An entitled reader (:meth:`cdlog.application.CaseLog.read_restricted`) exports the values and
salts of named fields of one event (docs/SPEC.md §14). Anyone holding the package can check,
offline and with nothing but SHA-256, that each value is the one the event's signed commitment
binds; inside an audit bundle (``disclosures/<leaf>.json``), ``cdlog verify --bundle`` also
checks that the event is the bundle's, whose signatures and inclusion proof it verifies.

Package (RFC 8785 JSON followed by a newline)::

    {"format": "cdlog/disclosure/v1", "log": <log id>, "record": <stream>, "version": <int>,
     "type": <event type>, "class": <restricted class>, "event": base64(sealed bytes),
     "event_hash": hex(SHA-256(0x00 || sealed)),
     "fields": [{"field", "value", "salt": base64(32 bytes), "commitment"}, ...]  (by field),
     "read": {"stream", "version", "event_hash"}   (the access event that recorded the read)}
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from cdlog.canonical import canonical_bytes
from cdlog.errors import Failure, InputError, VerificationError
from cdlog.log.sealing import SealedEvent, leaf_hash, parse, stream_id
from cdlog.restricted.classes import CLASSES, class_of_event, commitments_in
from cdlog.restricted.commitment import SALT_BYTES, commitment

DISCLOSURE_FORMAT = "cdlog/disclosure/v1"
DISCLOSURES = "disclosures"
"""The folder of a bundle that holds disclosure packages."""
KEYS = frozenset({"format", "log", "record", "version", "type", "class", "event",
                  "event_hash", "fields", "read"})
FIELD_KEYS = frozenset({"field", "value", "salt", "commitment"})


def disclosure_file(leaf_index: int) -> str:
    """The bundle path of the disclosure package of the event at a leaf index."""
    return f"{DISCLOSURES}/{leaf_index:012d}.json"


def build_disclosure(event: SealedEvent, values: Mapping[str, Any],
                     salts: Mapping[str, bytes], read: SealedEvent | None = None
                     ) -> dict[str, Any]:
    """The package disclosing ``values`` (with their ``salts``) of ``event``'s restricted
    fields; ``read`` is the access event that recorded the read. Every value is checked
    against the signed commitment first: a package that would not verify is never made."""
    cls = class_of_event(event.type)
    if cls is None:
        raise InputError("event", f"{event.type} carries no restricted values",
                         "an event of a restricted class")
    if not values:
        raise InputError("fields", "no field to disclose", "at least one restricted field")
    signed = commitments_in(event.type, event.payload)
    fields = []
    for name in sorted(values):
        if name not in signed:
            raise InputError(name, f"is not committed in {event.stream} v{event.version}",
                             "one of " + ", ".join(sorted(signed)))
        salt = salts.get(name)
        if salt is None or commitment(name, values[name], salt) != signed[name]:
            raise VerificationError.at(event.case, event.version, "vault",
                                       f"{event.stream} field {name}: the value and salt do "
                                       "not open the signed commitment")
        fields.append({"field": name, "value": values[name],
                       "salt": base64.b64encode(salt).decode(), "commitment": signed[name]})
    doc: dict[str, Any] = {
        "format": DISCLOSURE_FORMAT, "log": event.envelope["log"], "record": event.stream,
        "version": event.version, "type": event.type, "class": cls.name,
        "event": base64.b64encode(event.sealed).decode(), "event_hash": event.hash.hex(),
        "fields": fields, "read": None}
    if read is not None:
        doc["read"] = {"stream": read.stream, "version": read.version,
                       "event_hash": read.hash.hex()}
    return doc


def disclosure_bytes(doc: Mapping[str, Any]) -> bytes:
    """The stored form of a package: RFC 8785 JSON and a newline."""
    return canonical_bytes(dict(doc)) + b"\n"


def write_disclosure(path: str | os.PathLike[str], doc: Mapping[str, Any]) -> Path:
    """Write a package to ``path`` (its folder is created); return the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(disclosure_bytes(doc))
    return out


def check_disclosure(doc: Any, where: str = "<disclosure>") -> list[Failure]:
    """Every reason ``doc`` is not a valid package: its form, its event's bytes and hash, and
    each value and salt against the commitment the event signs. Failures are located at the
    event (case id and version) when it is known, else at ``where``. Signatures and inclusion
    are not checked here: the event must also be proven (an audit bundle, §10)."""
    out: list[Failure] = []

    def fail(case: str, version: int | None, detail: str) -> list[Failure]:
        out.append(Failure(case, version, "disclosure", f"{where}: {detail}"))
        return out

    if not isinstance(doc, dict) or doc.get("format") != DISCLOSURE_FORMAT:
        return fail(where, None, f"not a {DISCLOSURE_FORMAT} package")
    if set(doc) != KEYS:
        return fail(where, None, "members are not exactly " + ", ".join(sorted(KEYS)))
    record, version = doc["record"], doc["version"]
    if not isinstance(record, str) or type(version) is not int or version < 1:
        return fail(where, None, "record must be a stream name and version a positive integer")
    case = str(stream_id(record))
    try:
        sealed_bytes = base64.b64decode(str(doc["event"]), validate=True)
    except (binascii.Error, ValueError):
        return fail(case, version, "event is not base64")
    if leaf_hash(sealed_bytes).hex() != doc["event_hash"]:
        return fail(case, version, "the event bytes do not hash to event_hash")
    try:
        event = parse(sealed_bytes, case, version)
    except VerificationError as exc:
        return fail(case, version, f"the event does not decode: {exc.failures[0].detail}")
    said = (doc["log"], record, version, doc["type"])
    held = (event.envelope["log"], event.stream, event.version, event.type)
    if said != held:
        return fail(case, version, f"the package names {said}, its event is {held}")
    cls = CLASSES.get(str(doc["class"]))
    if cls is None or class_of_event(event.type) is not cls:
        return fail(case, version, f"class {doc['class']!r} is not the class of {event.type}")
    signed = commitments_in(event.type, event.payload)
    fields = doc["fields"]
    if not isinstance(fields, list) or not fields:
        return fail(case, version, "fields must be a non-empty list")
    names: list[str] = []
    for item in fields:
        if not isinstance(item, dict) or set(item) != FIELD_KEYS:
            fail(case, version, "each field must have exactly field, value, salt, commitment")
            continue
        name = str(item["field"])
        names.append(name)
        if name not in signed:
            fail(case, version, f"field {name}: the event commits to no such field")
            continue
        if item["commitment"] != signed[name]:
            fail(case, version, f"field {name}: the package's commitment is not the signed "
                 "one")
        try:
            salt = base64.b64decode(str(item["salt"]), validate=True)
        except (binascii.Error, ValueError):
            fail(case, version, f"field {name}: the salt is not base64")
            continue
        if len(salt) != SALT_BYTES:
            fail(case, version, f"field {name}: the salt is {len(salt)} bytes, not "
                 f"{SALT_BYTES}")
            continue
        try:
            opened = commitment(name, item["value"], salt)
        except InputError as exc:
            fail(case, version, f"field {name}: {exc}")
            continue
        if opened != signed[name]:
            fail(case, version, f"field {name}: the value and salt do not open the signed "
                 "commitment")
    if names != sorted(set(names)):
        fail(case, version, "fields must be sorted by name, each once")
    read = doc["read"]
    if read is not None and (not isinstance(read, dict)
                             or set(read) != {"stream", "version", "event_hash"}):
        fail(case, version, "read must be null or {stream, version, event_hash}")
    return out


def load_disclosure(path: str | os.PathLike[str]) -> Any:
    """A package file as JSON (:class:`InputError` if it is no JSON)."""
    try:
        return orjson.loads(Path(path).read_bytes())
    except orjson.JSONDecodeError as exc:
        raise InputError(str(path), f"is not JSON ({exc})", "a disclosure package") from None


def check_bundle_disclosures(folder: Path, entries: Iterable[Mapping[str, Any]]
                             ) -> tuple[list[Failure], list[str]]:
    """Check every package under ``folder/disclosures``: each must be valid on its own and
    disclose an event the bundle holds at that leaf (so the bundle's signature, key and
    inclusion checks cover it). Returns the failures and the fields verified
    (``<stream> v<version> <field>``)."""
    sub = folder / DISCLOSURES
    if not sub.is_dir():
        return [], []
    by_leaf = {int(e["leaf_index"]): e for e in entries}
    failures: list[Failure] = []
    shown: list[str] = []
    for path in sorted(sub.iterdir()):
        name = f"{DISCLOSURES}/{path.name}"
        stem = path.name.removesuffix(".json")
        entry = by_leaf.get(int(stem)) if stem.isdigit() and path.suffix == ".json" else None
        if entry is None:
            failures.append(Failure("<bundle>", None, "disclosure",
                                    f"{name} names no event of the bundle"))
            continue
        case, version = str(stream_id(str(entry["stream"]))), int(entry["version"])
        try:
            doc = orjson.loads(path.read_bytes())
        except (orjson.JSONDecodeError, OSError) as exc:
            failures.append(Failure(case, version, "disclosure", f"{name}: unreadable: {exc}"))
            continue
        found = check_disclosure(doc, name)
        if not found:
            want = base64.b64decode(str(entry["leaf_hash"]))
            if bytes.fromhex(str(doc["event_hash"])) != want:
                found.append(Failure(case, version, "disclosure", f"{name}: its event is not "
                                     f"the bundle's event at leaf {stem}"))
        failures.extend(found)
        if not found:
            shown += [f"{doc['record']} v{doc['version']} {f['field']}" for f in doc["fields"]]
    return failures, shown
