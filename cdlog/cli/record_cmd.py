"""``cdlog record``: record one event from the command line, signed with officer key files.

Everything is checked before anything is written: the event type, the fields (as JSON, a JSON
file or ``--field`` pairs), the times, every key file and its passphrase; then
:meth:`cdlog.application.CaseLog.record` checks the rules and writes the event, or nothing.
"""

from __future__ import annotations

import difflib
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from cdlog.canonical import parse_time
from cdlog.cli.demo_keys import passphrase
from cdlog.cli.main import Env, cli, pass_env
from cdlog.domain import events as ev
from cdlog.errors import InputError
from cdlog.keys.keyfile import read_key_file
from cdlog.keys.registry import KeyRegistry
from cdlog.keys.signer import Ed25519Signer
from cdlog.log.context import TRUST_TYPES

MAX_FIELDS_BYTES = 1024 * 1024
"""The largest fields document ``--json-fields`` or ``--fields-file`` may hold."""
MAX_DEPTH = 32
"""How deeply fields may nest (no payload of the catalogue nests more than a few levels)."""

_KeyFile = click.Path(path_type=Path)  # a folder or missing file: refused by read_key_file


def event_type(name: str) -> type[ev.Payload]:
    """The payload model of event type ``name``; an unknown name is refused listing the
    closest type names, a trust-stream type is refused pointing to ``cdlog keys``."""
    model = ev.CATALOGUE.get(name)
    if model is None:
        by_lower = {t.lower(): t for t in ev.CATALOGUE}
        close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.75)
        problem = f"{name!r} is not an event type"
        if close:
            problem += "; did you mean " + " or ".join(by_lower[c] for c in close) + "?"
        raise InputError("TYPE", problem, f"one of the {len(ev.CATALOGUE)} event types of "
                         "the catalogue, listed in docs/SCENARIOS.md")
    if model.TYPE in TRUST_TYPES:
        raise InputError("TYPE", f"{name} events are recorded by the key commands",
                         "cdlog keys init-root / create-officer / revoke / rotate")
    return model


def parse_when(text: str, option: str) -> datetime:
    """A time option: ISO 8601 with a UTC offset (``Z`` accepted), or ``now``."""
    if text.strip().lower() == "now":
        return datetime.now(UTC).replace(microsecond=0)
    return parse_time(text, option)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_value(value: Any, where: str, depth: int = 0) -> None:
    """Refuse what JSON may carry but an event may not: deep nesting and text that is not
    valid Unicode (a lone surrogate written as an escape)."""
    if depth > MAX_DEPTH:
        raise InputError(where, f"nests more than {MAX_DEPTH} levels deep",
                         "the fields of one event")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(where, "holds text that is not valid Unicode "
                             "(a lone surrogate escape)", "valid UTF-8 text") from None
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_value(key, where, depth + 1)
            _check_value(item, f"{where}.{key}", depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _check_value(item, f"{where}[{i}]", depth + 1)


def _loads(text: str, source: str) -> Any:
    """A JSON value (floats as decimals; NaN and Infinity refused)."""
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_FIELDS_BYTES:
        raise InputError(source, f"is larger than {MAX_FIELDS_BYTES} bytes",
                         "the fields of one event")
    try:
        value = json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise InputError(source, f"is not JSON: {exc.msg} at line {exc.lineno} column "
                         f"{exc.colno}", "JSON") from None
    except (ValueError, RecursionError) as exc:
        problem = "nests too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise InputError(source, f"is not usable JSON: {problem}", "JSON") from None
    _check_value(value, source)
    return value


def parse_fields_json(text: str, source: str) -> dict[str, Any]:
    """The fields object of a JSON document (``source`` names it in messages)."""
    data = _loads(text, source)
    if not isinstance(data, dict):
        raise InputError(source, f"is a JSON {_json_kind(data)}, not an object",
                         'a JSON object of the event\'s fields, e.g. {"reason": "..."}')
    return data


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def parse_field_pairs(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--field`` pairs: ``name=text`` gives a string, ``name:=json`` a JSON value; a dotted
    name (``mode.courier=unwitting``) sets a field of a nested object."""
    fields: dict[str, Any] = {}
    for pair in pairs:
        where = f"--field {pair[:60]!r}"
        name, sep, text = pair.partition("=")
        if not sep:
            raise InputError(where, "has no '='", "name=text or name:=json")
        value: Any = text
        if name.endswith(":"):
            name = name[:-1]
            if not text.strip():
                raise InputError(where, "has no JSON value after ':='", "name:=json")
            value = _loads(text, where)
        _check_value(value, where)
        parts = name.split(".")
        if not all(p.strip() for p in parts):
            raise InputError(where, f"names no field ({name!r})", "name=text or name:=json")
        target = fields
        for part in parts[:-1]:
            inner = target.setdefault(part, {})
            if not isinstance(inner, dict):
                raise InputError(where, f"{part!r} was given a value already, not an object",
                                 "each field once")
            target = inner
        if parts[-1] in target:
            raise InputError(where, f"field {name!r} is given twice", "each field once")
        target[parts[-1]] = value
    return fields


def read_fields_file(path: str) -> dict[str, Any]:
    """The fields object in a JSON file (``-``: standard input)."""
    source = "--fields-file -" if path == "-" else f"--fields-file {path}"
    try:
        if path == "-":
            raw = sys.stdin.buffer.read(MAX_FIELDS_BYTES + 1)
        else:
            with Path(path).open("rb") as handle:
                raw = handle.read(MAX_FIELDS_BYTES + 1)
    except FileNotFoundError:
        raise InputError(source, "does not exist", "a JSON file of the event's fields") from None
    except IsADirectoryError:
        raise InputError(source, "is a folder", "a JSON file of the event's fields") from None
    except OSError as exc:
        raise InputError(source, f"cannot be read: {exc.strerror}",
                         "a readable JSON file") from None
    if len(raw) > MAX_FIELDS_BYTES:
        raise InputError(source, f"is larger than {MAX_FIELDS_BYTES} bytes",
                         "the fields of one event")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError(source, "is not UTF-8 text", "a JSON file") from None
    return parse_fields_json(text, source)


def _check_signer(registry: KeyRegistry, path: Path, signer: Ed25519Signer,
                  option: str) -> None:
    """Refuse a key file whose key is a root key or unknown to the log, naming the file."""
    if registry.is_root(signer.key_id):
        raise InputError(option, f"{path} holds a trust root key ({signer.key_id}); roots "
                         "sign only key events", "an officer key file (cdlog keys "
                         "create-officer)")
    try:
        registry.record(signer.key_id)
    except LookupError:
        raise InputError(option, f"{path} holds key {signer.key_id}, which no agency root "
                         "certified in this log", "an officer key file certified in this log "
                         "(cdlog keys list)") from None


@cli.command()
@click.argument("case")
@click.argument("type_name", metavar="TYPE")
@click.option("--key", "key_path", type=_KeyFile, required=True,
              help="The acting officer's encrypted key file.")
@click.option("--cosign", "cosign_paths", type=_KeyFile, multiple=True,
              help="A co-signing officer's key file (repeatable, in order).")
@click.option("--at", "at", required=True, metavar="TIME",
              help="When it happened: ISO 8601 with offset, or 'now'; with --to, the start "
                   "of a window.")
@click.option("--to", "to", metavar="TIME", help="End of the window it happened in.")
@click.option("--recorded", metavar="TIME",
              help="The recording time (default: now, the log's clock).")
@click.option("--json-fields", metavar="JSON", help="The event's fields as a JSON object.")
@click.option("--fields-file", metavar="FILE",
              help="A file holding the fields as a JSON object ('-': standard input).")
@click.option("--field", "field_pairs", multiple=True, metavar="NAME=VALUE",
              help="One field: name=text (a string) or name:=json (any JSON value); "
                   "a.b=x sets field b of object a. Repeatable.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the stored event (envelope, signatures, hash) as JSON.")
@pass_env
def record(env: Env, case: str, type_name: str, key_path: Path,
           cosign_paths: tuple[Path, ...], at: str, to: str | None, recorded: str | None,
           json_fields: str | None, fields_file: str | None, field_pairs: tuple[str, ...],
           as_json: bool) -> None:
    """Record one event of TYPE in CASE, signed with an officer key file.

    CASE is a stream name (case:OP-2006-0001), or a case reference, operation id or OI case
    number of an existing case; for CaseOpened, the reference of the new case (its
    reference field defaults to it). The fields come from exactly one of --json-fields,
    --fields-file or --field. The key files' passphrase is CDLOG_PASSPHRASE (or a prompt).
    Nothing is written unless the event is accepted: a refusal by the rules exits 2 naming
    the rule.
    """
    model = event_type(type_name)
    sources = [name for name, given in (("--json-fields", json_fields is not None),
                                        ("--fields-file", fields_file is not None),
                                        ("--field", bool(field_pairs))) if given]
    if len(sources) > 1:
        raise InputError(" and ".join(sources), "are given together",
                         "the fields from one of --json-fields, --fields-file or --field")
    if json_fields is not None:
        fields = parse_fields_json(json_fields, "--json-fields")
    elif fields_file is not None:
        fields = read_fields_file(fields_file)
    else:
        fields = parse_field_pairs(field_pairs)
    start = parse_when(at, "--at")
    when: datetime | dict[str, datetime] = start
    if to is not None:
        end = parse_when(to, "--to")
        if end < start:
            raise InputError("--to", f"{end.isoformat()} is before --at {start.isoformat()}",
                             "the end of the window, at or after --at")
        when = {"from": start, "to": end}
    recorded_at = parse_when(recorded, "--recorded") if recorded is not None else None
    secret = passphrase(demo_ok=False)
    signer = read_key_file(key_path, secret)
    cosigners = [read_key_file(p, secret) for p in cosign_paths]
    with env.open(create=False) as log:
        registry = log.context.registry
        _check_signer(registry, key_path, signer, "--key")
        for path, cosigner in zip(cosign_paths, cosigners, strict=True):
            _check_signer(registry, path, cosigner, "--cosign")
        if model is ev.CaseOpened:
            stream = log.resolve(case)
            fields.setdefault("reference", stream.partition(":")[2])
        elif ":" in case:
            stream = case
        else:
            stream = log.case_stream(case)
        sealed = log.record(stream, model, fields, signer=signer, cosigners=cosigners,
                            at=when, recorded=recorded_at)
        case_no = log.state(stream).case_no if sealed.stream.startswith("case:") else None
    if as_json:
        head, _, tail = sealed.sealed.partition(b"\n")
        doc = {"stream": sealed.stream, "case_no": case_no, "version": sealed.version,
               "type": sealed.type, "hash": sealed.hash_hex, "envelope": json.loads(head),
               "signatures": json.loads(tail)}
        click.echo(json.dumps(doc, indent=2, ensure_ascii=False))
        return
    number = f" (case number {case_no})" if case_no else ""
    click.echo(f"recorded {sealed.type}: {sealed.stream}{number} version {sealed.version} "
               f"hash {sealed.hash_hex}")
