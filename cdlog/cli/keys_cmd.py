"""``cdlog keys``: agency roots and officer keys (create, list, rotate, revoke, export).

Every command that writes checks everything first (the passphrase, the root key file, the
``--out`` path, the key's state in the log) and writes all or nothing: a new key file is
written beside ``--out`` under a temporary name, the event is recorded, and only then does
the key file take its name; a refused or interrupted command leaves neither an event nor a
file.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from cdlog.cli.demo_keys import passphrase
from cdlog.cli.main import Env, cli, pass_env
from cdlog.domain.values import Officer
from cdlog.errors import InputError
from cdlog.keys.keyfile import check_new_key_path, new_key_file, read_key_file
from cdlog.keys.registry import KeyRecord, KeyRegistry, root_officer
from cdlog.keys.signer import Ed25519Signer
from cdlog.keys.trust import TrustFile, save_trust
from cdlog.log.facts import validation_to_input_error

KeyPath = click.Path(path_type=Path)  # folders and missing files: refused by cdlog, one line
_MAX_LABEL = 200


def _label(text: str) -> str:
    """A key file label (one line, at most 200 characters) for a description."""
    return text if len(text) <= _MAX_LABEL else text[:_MAX_LABEL - 1] + "…"


def _check_root(registry: KeyRegistry, root_path: Path, root: Ed25519Signer,
                agency: str) -> None:
    """Refuse a ``--root`` key file that is not the established root of ``agency``."""
    try:
        registry.check_issuer(root.key_id, agency)
    except InputError as exc:
        raise InputError("--root", f"{root_path}: {exc.problem}", exc.expected) from None


def _revocable(registry: KeyRegistry, key_id: str, root_path: Path, root: Ed25519Signer,
               action: str) -> KeyRecord:
    """The record of ``key_id`` if ``root`` may revoke (or rotate) it now."""
    record = registry.check_revocable(key_id, action=action)
    _check_root(registry, root_path, root, record.subject.agency)
    return record


def _check_agency(agency: str) -> None:
    if not agency or len(agency) > _MAX_LABEL or not agency.isprintable() or any(
            c.isspace() for c in agency):
        raise InputError("AGENCY", f"{agency[:60]!r} is not an agency name",
                         "a short name without spaces, e.g. CBP")


def _validity(days: int) -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(microsecond=0)
    return now, now + timedelta(days=days)


def _reason(value: str) -> str:
    text = value.strip()
    if not text:
        raise InputError("--reason", "is empty", "a short reason, e.g. 'device lost'")
    return text


@cli.group()
def keys() -> None:
    """Manage agency trust roots and officer signing keys."""


@keys.command("init-root")
@click.argument("agency")
@click.option("--out", type=KeyPath, required=True, help="Encrypted key file to write (new).")
@pass_env
def init_root(env: Env, agency: str, out: Path) -> None:
    """Create AGENCY's trust root key and record it in the log.

    Refused, writing nothing, when AGENCY already has a root or --out exists.
    """
    _check_agency(agency)
    secret = passphrase(demo_ok=False)
    check_new_key_path(out)
    signer = Ed25519Signer.generate()
    with env.open() as log:
        log.context.registry.check_new_root(agency, signer.key_id)
        with new_key_file(out, signer, secret, label=_label(f"trust root {agency}")):
            log.establish_root(agency, signer)
    click.echo(f"root {agency}: {signer.key_id} (key file {out})")


@keys.command("create-officer")
@click.option("--root", "root_path", type=KeyPath, required=True, help="Agency root key file.")
@click.option("--id", "officer_id", required=True, help="Badge or reference.")
@click.option("--role", required=True)
@click.option("--agency", required=True)
@click.option("--office", required=True)
@click.option("--unit")
@click.option("--aor")
@click.option("--cross-designation")
@click.option("--days", type=click.IntRange(1, 3660), default=365, show_default=True)
@click.option("--out", type=KeyPath, required=True, help="Encrypted key file to write (new).")
@pass_env
def create_officer(env: Env, root_path: Path, officer_id: str, role: str, agency: str,
                   office: str, unit: str | None, aor: str | None,
                   cross_designation: str | None, days: int, out: Path) -> None:
    """Generate an officer key, certify it with the agency root and record the certificate.

    Refused, writing nothing, when --out exists or --root is not AGENCY's root key.
    """
    secret = passphrase(demo_ok=False)
    root = read_key_file(root_path, secret)
    check_new_key_path(out)
    try:
        officer = Officer.model_validate(
            {"id": officer_id, "role": role, "agency": agency, "office": office, "unit": unit,
             "aor": aor, "cross_designation": cross_designation})
    except ValidationError as exc:
        raise validation_to_input_error(exc, "officer") from None
    not_before, not_after = _validity(days)
    with env.open(create=False) as log:
        _check_root(log.context.registry, root_path, root, officer.agency)
        signer = Ed25519Signer.generate()
        with new_key_file(out, signer, secret, label=_label(officer.label)):
            log.certify_officer(root, officer, signer.public_key, not_before=not_before,
                                not_after=not_after)
    click.echo(f"officer {officer.label}: {signer.key_id} (key file {out})")


def _state(record: KeyRecord, now: datetime) -> str:
    if record.revoked_at is not None:
        return "rotated" if record.replaced_by is not None else "revoked"
    cert = record.certificate.certificate
    if now < cert.not_before:
        return "not yet valid"
    if now > cert.not_after:
        return "expired"
    return "active"


def _officer_json(officer: Officer) -> dict[str, Any]:
    return {"id": officer.id, "role": officer.role, "agency": officer.agency,
            "office": officer.office, "unit": officer.unit, "aor": officer.aor,
            "cross_designation": officer.cross_designation}


def _key_rows(registry: KeyRegistry, now: datetime) -> list[dict[str, Any]]:
    """One JSON object per root and officer key, roots first, then in certification order."""
    rows: list[dict[str, Any]] = []
    for root in registry.roots():
        rows.append({"key_id": root.key_id, "kind": "root", "agency": root.agency,
                     "subject": _officer_json(root_officer(root.agency)),
                     "not_before": None, "not_after": None,
                     "certified_at": registry.established_at(root.agency),
                     "revoked_at": None, "revocation_reason": None, "replaced_by": None,
                     "state": "active"})
    for signed in registry.certificates():
        record = registry.record(signed.certificate.key_id)
        cert = record.certificate.certificate
        rows.append({"key_id": record.key_id, "kind": "officer",
                     "agency": record.subject.agency, "subject": _officer_json(record.subject),
                     "not_before": cert.not_before.isoformat(),
                     "not_after": cert.not_after.isoformat(),
                     "certified_at": record.certified_at, "revoked_at": record.revoked_at,
                     "revocation_reason": record.revocation_reason,
                     "replaced_by": record.replaced_by, "state": _state(record, now)})
    return rows


LIST_COLUMNS = ("key_id", "subject", "valid", "certified_at", "revoked_at", "state")


def _cell(value: object) -> str:
    """One tab-separated cell: tabs and line breaks become spaces."""
    text = "" if value is None else str(value)
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True,
              help="A JSON array, one object per key (key_id, kind, agency, subject, "
                   "not_before, not_after, certified_at, revoked_at, state...).")
@pass_env
def list_keys(env: Env, as_json: bool) -> None:
    """List roots and officer keys with their state.

    A table on a terminal; tab-separated lines with a header when piped; --json for a JSON
    array. certified_at / revoked_at are log positions; a rotated key is revoked at the
    position of its rotation and names the key that replaced it.
    """
    with env.open(readonly=True) as log:
        rows = _key_rows(log.context.registry, datetime.now(UTC))
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    lines: list[list[str]] = []
    for row in rows:
        subject = row["subject"]
        if row["kind"] == "root":
            label, valid = f"{row['agency']} trust root", ""
        else:
            label = (f"{subject['agency']}/{subject['office']} {subject['role']} "
                     f"{subject['id']}")
            valid = f"{row['not_before'][:10]}..{row['not_after'][:10]}"
        state = row["state"]
        if row["replaced_by"]:
            state += f" -> {row['replaced_by']}"
        lines.append([row["key_id"], label, valid, str(row["certified_at"]),
                      "-" if row["revoked_at"] is None else str(row["revoked_at"]), state])
    if not sys.stdout.isatty():
        click.echo("\t".join(LIST_COLUMNS))
        for line in lines:
            click.echo("\t".join(_cell(v) for v in line))
        return
    table = Table("key id", "subject", "valid", "certified at", "revoked at", "state")
    for line in lines:
        table.add_row(*line)
    Console().print(table)


@keys.command()
@click.option("--root", "root_path", type=KeyPath, required=True, help="Agency root key file.")
@click.argument("key_id")
@click.option("--reason", required=True)
@pass_env
def revoke(env: Env, root_path: Path, key_id: str, reason: str) -> None:
    """Revoke KEY_ID from the next log position on.

    Refused, writing nothing, for an unknown key, a key already revoked or rotated, or a
    --root that is not the key's agency's root.
    """
    why = _reason(reason)
    root = read_key_file(root_path, passphrase(demo_ok=False))
    with env.open(create=False) as log:
        record = _revocable(log.context.registry, key_id, root_path, root, "revoke")
        log.revoke_key(root, record.subject.agency, key_id, why)
    click.echo(f"revoked {key_id} of {record.subject.label}")


@keys.command()
@click.option("--root", "root_path", type=KeyPath, required=True, help="Agency root key file.")
@click.argument("key_id")
@click.option("--reason", required=True)
@click.option("--days", type=click.IntRange(1, 3660), default=365, show_default=True)
@click.option("--out", type=KeyPath, required=True, help="Key file for the new key (new).")
@pass_env
def rotate(env: Env, root_path: Path, key_id: str, reason: str, days: int, out: Path) -> None:
    """Replace KEY_ID by a new certified key for the same officer.

    Refused, writing nothing, when --out exists, the key is unknown, already revoked or
    rotated, or --root is not the key's agency's root.
    """
    why = _reason(reason)
    secret = passphrase(demo_ok=False)
    root = read_key_file(root_path, secret)
    check_new_key_path(out)
    not_before, not_after = _validity(days)
    with env.open(create=False) as log:
        record = _revocable(log.context.registry, key_id, root_path, root, "rotate")
        subject = record.subject
        signer = Ed25519Signer.generate()
        with new_key_file(out, signer, secret, label=_label(subject.label)):
            log.rotate_key(root, key_id, subject, signer.public_key, not_before=not_before,
                           not_after=not_after, reason=why)
    click.echo(f"rotated {key_id} -> {signer.key_id} (key file {out})")


@keys.command("export-trust")
@click.option("--out", type=KeyPath, required=True)
@click.option("--with-certificates", is_flag=True, help="Include every officer certificate.")
@pass_env
def export_trust(env: Env, out: Path, with_certificates: bool) -> None:
    """Write the public trust material (roots, the log's checkpoint key, optionally
    certificates) to a trust file.

    The log key (``log_vkey``) is what lets an auditor verify a bundle against this log
    rather than against whatever key the bundle names; a log with no key yet gets
    ``"log_vkey": null`` and a warning line (run ``cdlog log-key``, then export again).
    """
    from cdlog.verify.runner import stored_log_verifier  # noqa: PLC0415

    with env.open(readonly=True) as log:
        reg = log.context.registry
        if not reg.roots():
            raise InputError("trust", "the log establishes no agency root", "keys init-root")
        log_key = stored_log_verifier(log)
        trust = TrustFile(format="cdlog/trust/v1", roots=tuple(reg.roots()),
                          log_vkey=log_key.vkey if log_key is not None else None,
                          certificates=tuple(reg.certificates()) if with_certificates else ())
    save_trust(out, trust)
    click.echo(f"wrote {out}" + (f" (log key {log_key.vkey})" if log_key is not None else ""))
    if log_key is None:
        click.echo(f"warning: the log has no checkpoint key yet, so {out} names none; run "
                   "`cdlog log-key` and export again to verify bundles with it", err=True)

