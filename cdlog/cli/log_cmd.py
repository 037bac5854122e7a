"""The Merkle-log commands: ``log-key``, ``checkpoint``, ``accept-cosignature``, ``prove``,
``witness``, ``witness-key`` and ``export``.

Key files are encrypted; their passphrase comes from ``CDLOG_PASSPHRASE`` or a prompt.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import click

from cdlog.application import CaseLog
from cdlog.bundle import export_bundle, verify_bundle
from cdlog.checkpoints import (
    accept_cosigned,
    create_log_key,
    latest_checkpoint,
    load_log_signer,
    log_key_path,
    log_verifier,
    sign_checkpoint,
)
from cdlog.cli.demo_keys import passphrase
from cdlog.cli.main import Env, cli, pass_env
from cdlog.errors import ConfigurationError
from cdlog.note import CosignatureVerifier, NoteVerifier
from cdlog.proofs import prove_consistency, prove_inclusion
from cdlog.witness import Witness, create_witness_key, load_witness_key

_FILE = click.Path(path_type=Path, dir_okay=False, exists=True)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from None


@cli.command("log-key")
@pass_env
def log_key(env: Env) -> None:
    """Print the log's checkpoint verifier key (C2SP vkey), creating the key the first time."""
    with env.open() as log:
        if not log_key_path(log).exists():
            create_log_key(log, passphrase(demo_ok=False))
            click.echo(f"created the log key {log_key_path(log)}", err=True)
        click.echo(log_verifier(log).vkey)


@cli.command()
@pass_env
def checkpoint(env: Env) -> None:
    """Sign a checkpoint of the log when it has grown, store it and print it.

    The whole tree is first rebuilt from the events and compared with the stored tree and the
    last signed checkpoint; nothing is signed if they disagree (exit 1).
    """
    with env.open() as log:
        signer = load_log_signer(log, passphrase(demo_ok=False), create=True)
        before = latest_checkpoint(log)
        cp = sign_checkpoint(log, signer)
        if before is not None and before.size == cp.size:
            click.echo(f"the log has not grown since the checkpoint of size {cp.size}",
                       err=True)
        else:
            click.echo(f"signed a checkpoint of size {cp.size}", err=True)
        click.echo(cp.text, nl=False)


@cli.command("accept-cosignature")
@click.argument("file", type=_FILE)
@click.option("--witness-key", "witness_keys", multiple=True, required=True, metavar="VKEY",
              help="Verifier key of a witness whose cosignatures to accept (repeatable).")
@pass_env
def accept_cosignature(env: Env, file: Path, witness_keys: tuple[str, ...]) -> None:
    """Store the witness cosignatures of a cosigned checkpoint FILE the log signed."""
    witnesses = [CosignatureVerifier.from_vkey(v) for v in witness_keys]
    with env.open() as log:
        cp = accept_cosigned(log, _read_text(file), witnesses)
    click.echo(f"stored cosignatures of the checkpoint of size {cp.size}: "
               + ", ".join(c.name for c in cp.cosignatures), err=True)
    click.echo(cp.text, nl=False)


@cli.group()
def prove() -> None:
    """Print inclusion and consistency proofs (JSON) from the stored tree."""


@prove.command("inclusion")
@click.argument("case")
@click.argument("version", type=click.IntRange(min=1))
@click.option("--size", type=click.IntRange(min=1), default=None,
              help="Prove against the signed checkpoint of this size (default: the latest).")
@pass_env
def prove_inclusion_cmd(env: Env, case: str, version: int, size: int | None) -> None:
    """Prove that event VERSION of CASE is in a signed checkpoint."""
    with env.open() as log:
        doc = prove_inclusion(log, log.case_stream(case), version, size)
    click.echo(json.dumps(doc, indent=2))


@prove.command("consistency")
@click.argument("old", type=click.IntRange(min=0))
@click.argument("new", type=click.IntRange(min=0))
@pass_env
def prove_consistency_cmd(env: Env, old: int, new: int) -> None:
    """Prove that the tree of size NEW extends the tree of size OLD."""
    with env.open() as log:
        doc = prove_consistency(log, old, new)
    click.echo(json.dumps(doc, indent=2))


@cli.command("witness-key")
@click.option("--name", required=True, help="The witness's key name (e.g. oig.example/witness).")
@click.option("--out", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="Key file to create (never overwritten).")
def witness_key(name: str, out: Path) -> None:
    """Create an encrypted witness key file and print its cosignature verifier key."""
    cosigner = create_witness_key(out, name, passphrase(demo_ok=False))
    click.echo(cosigner.vkey)


@cli.command()
@click.argument("checkpoint_file", metavar="CHECKPOINT", type=_FILE)
@click.option("--state", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="The witness state file (created on first use).")
@click.option("--log-key", "log_vkey", required=True, metavar="VKEY",
              help="The log's checkpoint verifier key.")
@click.option("--key", "key_file", required=True, type=_FILE,
              help="The witness key file (see `cdlog witness-key`).")
@click.option("--proof", type=_FILE, default=None,
              help="Consistency proof from the last accepted size (`cdlog prove consistency`).")
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Write the cosigned checkpoint here instead of printing it.")
def witness(checkpoint_file: Path, state: Path, log_vkey: str, key_file: Path,
            proof: Path | None, out: Path | None) -> None:
    """Cosign CHECKPOINT if it extends the last checkpoint this witness accepted.

    Refuses (exit 1) a checkpoint that rolls back or forks from what the witness saw.
    """
    verifier = NoteVerifier.from_vkey(log_vkey)
    doc = None
    if proof is not None:
        try:
            doc = json.loads(_read_text(proof))
        except ValueError as exc:
            raise ConfigurationError(f"{proof} is not JSON: {exc}") from None
    w = Witness(state, load_witness_key(key_file, passphrase(demo_ok=False)))
    cosigned = w.add_checkpoint(_read_text(checkpoint_file), verifier, doc)
    accepted = w.last(verifier.name)
    size = accepted.size if accepted is not None else 0
    click.echo(f"witness {w.cosigner.name}: cosigned {verifier.name} at size {size}", err=True)
    if out is not None:
        out.write_text(cosigned, encoding="utf-8")
    else:
        click.echo(cosigned, nl=False)


@cli.command()
@click.option("--out", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="Folder to create (must be new or empty).")
@click.option("--case", "cases", multiple=True, metavar="ID",
              help="A case to export (repeatable); none exports the whole log.")
@pass_env
def export(env: Env, out: Path, cases: tuple[str, ...]) -> None:
    """Write a self-contained audit bundle of the latest signed checkpoint."""
    with env.open() as log:
        manifest = export_bundle(log, out, list(cases))
    what = ", ".join(manifest["cases"]) if manifest["cases"] else "the whole log"
    click.echo(f"exported {len(manifest['events'])} events ({what}) at checkpoint size "
               f"{manifest['tree_size']} to {out}")


def demo_checkpoint_and_bundle(log: CaseLog, stream: str) -> bool:
    """End ``cdlog demo``: sign a checkpoint and export and verify a bundle of ``stream``.

    Returns whether the bundle verified. Uses the demo passphrase unless CDLOG_PASSPHRASE is
    set, like the demo's root keys.
    """
    signer = load_log_signer(log, passphrase(demo_ok=True), create=True)
    cp = sign_checkpoint(log, signer)
    click.echo(f"\ncheckpoint (size {cp.size}), log key {signer.verifier().vkey}:")
    click.echo(cp.text, nl=False)
    out = Path(log.store.home) / "bundles" / stream.replace(":", "-")
    if out.exists():
        shutil.rmtree(out)
    manifest = export_bundle(log, out, [stream])
    report = verify_bundle(out, log_vkey=signer.verifier().vkey)
    click.echo(f"bundle of {stream}: {len(manifest['events'])} events with inclusion proofs in "
               f"{out}: {'OK' if report.ok else 'FAILED'}")
    for failure in report.failures:
        click.echo(f"  {failure}", err=True)
    click.echo(f"check it offline: cdlog verify --bundle {out} --log-key "
               f"{signer.verifier().vkey}")
    return report.ok
