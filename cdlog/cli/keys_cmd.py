"""``cdlog keys``: agency roots and officer keys (create, list, rotate, revoke, export)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from cdlog.cli.demo_keys import passphrase
from cdlog.cli.main import Env, cli, pass_env
from cdlog.domain.values import Officer
from cdlog.errors import InputError
from cdlog.keys.keyfile import read_key_file, write_key_file
from cdlog.keys.signer import Ed25519Signer
from cdlog.keys.trust import TrustFile, save_trust

KeyPath = click.Path(path_type=Path, dir_okay=False)


@cli.group()
def keys() -> None:
    """Manage agency trust roots and officer signing keys."""


@keys.command("init-root")
@click.argument("agency")
@click.option("--out", type=KeyPath, required=True, help="Encrypted key file to write.")
@pass_env
def init_root(env: Env, agency: str, out: Path) -> None:
    """Create AGENCY's trust root key and record it in the log."""
    secret = passphrase(demo_ok=False)
    signer = Ed25519Signer.generate()
    write_key_file(out, signer, secret, label=f"trust root {agency}")
    with env.open() as log:
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
@click.option("--out", type=KeyPath, required=True, help="Encrypted key file to write.")
@pass_env
def create_officer(env: Env, root_path: Path, officer_id: str, role: str, agency: str,
                   office: str, unit: str | None, aor: str | None,
                   cross_designation: str | None, days: int, out: Path) -> None:
    """Generate an officer key, certify it with the agency root and record the certificate."""
    secret = passphrase(demo_ok=False)
    root = read_key_file(root_path, secret)
    officer = Officer(id=officer_id, role=role, agency=agency, office=office, unit=unit,
                      aor=aor, cross_designation=cross_designation)
    signer = Ed25519Signer.generate()
    now = datetime.now(UTC).replace(microsecond=0)
    with env.open() as log:
        log.certify_officer(root, officer, signer.public_key, not_before=now,
                            not_after=now + timedelta(days=days))
    write_key_file(out, signer, secret, label=officer.label)
    click.echo(f"officer {officer.label}: {signer.key_id} (key file {out})")


@keys.command("list")
@pass_env
def list_keys(env: Env) -> None:
    """List roots and officer keys with their state."""
    with env.open() as log:
        reg = log.context.registry
        table = Table("key id", "subject", "valid", "certified at", "revoked at")
        for root in reg.roots():
            table.add_row(root.key_id, f"{root.agency} trust root", "", "", "")
        for cert in reg.certificates():
            c = cert.certificate
            rec = reg.record(c.key_id)
            table.add_row(c.key_id, c.subject.label,
                          f"{c.not_before.date()}..{c.not_after.date()}",
                          str(rec.certified_at), str(rec.revoked_at or "-"))
        Console(width=160).print(table)


@keys.command()
@click.option("--root", "root_path", type=KeyPath, required=True)
@click.argument("key_id")
@click.option("--reason", required=True)
@pass_env
def revoke(env: Env, root_path: Path, key_id: str, reason: str) -> None:
    """Revoke KEY_ID from the next log position on."""
    root = read_key_file(root_path, passphrase(demo_ok=False))
    with env.open() as log:
        rec = log.context.registry.record(key_id)
        log.revoke_key(root, rec.subject.agency, key_id, reason)
    click.echo(f"revoked {key_id}")


@keys.command()
@click.option("--root", "root_path", type=KeyPath, required=True)
@click.argument("key_id")
@click.option("--reason", required=True)
@click.option("--days", type=click.IntRange(1, 3660), default=365, show_default=True)
@click.option("--out", type=KeyPath, required=True, help="Key file for the new key.")
@pass_env
def rotate(env: Env, root_path: Path, key_id: str, reason: str, days: int, out: Path) -> None:
    """Replace KEY_ID by a new certified key for the same officer."""
    secret = passphrase(demo_ok=False)
    root = read_key_file(root_path, secret)
    signer = Ed25519Signer.generate()
    now = datetime.now(UTC).replace(microsecond=0)
    with env.open() as log:
        subject = log.context.registry.record(key_id).subject
        log.rotate_key(root, key_id, subject, signer.public_key, not_before=now,
                       not_after=now + timedelta(days=days), reason=reason)
    write_key_file(out, signer, secret, label=subject.label)
    click.echo(f"rotated {key_id} -> {signer.key_id} (key file {out})")


@keys.command("export-trust")
@click.option("--out", type=KeyPath, required=True)
@click.option("--with-certificates", is_flag=True, help="Include every officer certificate.")
@pass_env
def export_trust(env: Env, out: Path, with_certificates: bool) -> None:
    """Write the public trust material (roots, optionally certificates) to a trust file."""
    with env.open() as log:
        reg = log.context.registry
        if not reg.roots():
            raise InputError("trust", "the log establishes no agency root", "keys init-root")
        trust = TrustFile(format="cdlog/trust/v1", roots=tuple(reg.roots()),
                          certificates=tuple(reg.certificates()) if with_certificates else ())
    save_trust(out, trust)
    click.echo(f"wrote {out}")
